-- wrk script for Gati's benchmarks: a unique JSON body per request, a count of responses
-- by status, an optional stop after N responses per thread, and a JSON summary line.
--
-- Environment:
--   BENCH_KIND        "users" (POST /users {name, email}) or "work" (~1 KB order document)
--   BENCH_PATH        request path (default /users or /work)
--   BENCH_TAG         makes bodies unique across runs and phases
--   BENCH_STOP_AFTER  responses per thread after which the thread stops (0: run for -d)
--   BENCH_AUTH        optional Authorization header value (bench/policies.py)
--   BENCH_IDEMPOTENCY "1": a unique Idempotency-Key per request (bench/policies.py)
--
-- wrk itself always runs for -d: a thread that reaches BENCH_STOP_AFTER prints
-- "BENCH_STOPPED" and the harness interrupts wrk (SIGINT), which then reports as usual.
-- The measured window (first request to last counted response) comes from the monotonic
-- clock through LuaJIT's ffi, so the interrupt's delay is not counted.

local kind = os.getenv("BENCH_KIND") or "users"
local path = os.getenv("BENCH_PATH") or (kind == "users" and "/users" or "/work")
local tag = os.getenv("BENCH_TAG") or "bench"
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0")
local auth = os.getenv("BENCH_AUTH")
local idempotency = os.getenv("BENCH_IDEMPOTENCY") == "1"

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local threads = {}
local counter = 0
local responses = 0
statuses = {}
first_us = 0
last_us = 0
local stopped = false

-- The "work" document: an order of 12 lines, about 1 KB of JSON.
local items = {}
for i = 1, 12 do
  items[#items + 1] = string.format(
    '{"sku":"SKU-%05d","name":"Item number %d of the order","qty":%d,"price_cents":%d}',
    i * 7919 % 100000, i, (i % 5) + 1, 199 + i * 137)
end
local work_head = '{"order_id":"'
local work_tail = '","customer":{"name":"Ada Lovelace","email":"ada@example.com",'
  .. '"country":"GB"},"currency":"EUR","items":[' .. table.concat(items, ",") .. ']}'

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  if first_us == 0 then
    first_us = now_us()
  end
  local body
  if kind == "users" then
    body = string.format('{"name":"Bench User","email":"%s-%d-%d@example.com"}',
      tag, tid, counter)
  else
    body = work_head .. tag .. "-" .. tid .. "-" .. counter .. work_tail
  end
  local headers = nil
  if auth or idempotency then
    headers = {["Content-Type"] = "application/json"}
    if auth then headers["Authorization"] = auth end
    if idempotency then
      headers["Idempotency-Key"] = tag .. "-" .. tid .. "-" .. counter
    end
  end
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  responses = responses + 1
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if stop_after > 0 and responses >= stop_after then
    if not stopped then
      stopped = true
      last_us = now_us()
      io.write("BENCH_STOPPED\n")
      io.flush()
    end
    wrk.thread:stop()
  else
    last_us = now_us()
  end
end

function done(summary, latency, requests)
  local merged = {}
  local t0, t1 = 0, 0
  for _, thread in ipairs(threads) do
    local f, l = thread:get("first_us"), thread:get("last_us")
    if f and f > 0 and (t0 == 0 or f < t0) then t0 = f end
    if l and l > t1 then t1 = l end
    local st = thread:get("statuses") or {}
    for code, n in pairs(st) do
      merged[code] = (merged[code] or 0) + n
    end
  end
  local parts = {}
  for code, n in pairs(merged) do
    parts[#parts + 1] = string.format('"%s":%d', code, n)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"window_us":%d,"bytes":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
    .. '"statuses":{%s},"latency_us":{"min":%d,"mean":%.1f,"max":%d,'
    .. '"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, t1 - t0, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ","),
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency:percentile(99.9)))
end
