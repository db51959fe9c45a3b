// Gati's module helper for Node: write a module as a table of async functions, and this
// speaks the module protocol for it (docs/module-protocol.md): JSON-RPC 2.0 in 4-byte
// big-endian length-prefixed frames on stdin/stdout, the handshake, deadlines and
// cancellation (an AbortSignal per call), and the worker's broker (ctx.fetch,
// ctx.secret). The worker sets NODE_PATH so `require("gati-module")` finds this file.
//
//   const { serve } = require("gati-module");
//   serve({ name: "avatar", version: "1.0.0", methods: {
//     initials: { params: [{ name: "name", schema: { type: "string" } }],
//                 returns: { type: "string" },
//                 fn: async ({ name }, ctx) => name.slice(0, 1) } } });
"use strict";

const PROTOCOL = 1;

class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

// One buffer per frame, header and body written into it in place: no copy of the body,
// no concatenation.
function send(message) {
  message.jsonrpc = "2.0";
  const json = JSON.stringify(message);
  const size = Buffer.byteLength(json, "utf8");
  const frame = Buffer.allocUnsafe(4 + size);
  frame.writeUInt32BE(size, 0);
  frame.write(json, 4, "utf8");
  process.stdout.write(frame);
}

// A call's `ctx`: the broker, and an AbortSignal made only if the method asks for it
// (an AbortController per call was a measurable part of a small call's cost).
class CallContext {
  constructor(broker) {
    this.fetch = broker.fetch;
    this.secret = broker.secret;
    this.reason = null;
    this._controller = null;
  }

  get signal() {
    if (this._controller === null) {
      this._controller = new AbortController();
      if (this.reason !== null) this._controller.abort(this.reason);
    }
    return this._controller.signal;
  }

  abort(reason) {
    if (this.reason !== null) return;
    this.reason = reason;
    if (this._controller !== null) this._controller.abort(reason);
  }
}

function serve(module) {
  const calls = new Map(); // id -> CallContext
  const asked = new Map(); // our id -> {resolve, reject}, requests to the worker
  let nextId = 1;

  function ask(method, params) {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      asked.set(id, { resolve, reject });
      send({ id, method, params });
    });
  }

  const ctx = {
    fetch: (url, options = {}) => ask("http.fetch", { url, ...options }),
    secret: (name) => ask("secrets.get", { name }),
  };

  function handshake() {
    const methods = {};
    for (const [name, m] of Object.entries(module.methods)) {
      methods[name] = { params: m.params || [], returns: m.returns || {} };
    }
    return { name: module.name, version: module.version, protocol: PROTOCOL, methods };
  }

  async function run(msg) {
    const method = module.methods[msg.method];
    if (!method) {
      send({ id: msg.id, error: { code: -32601, message: `no method ${msg.method}` } });
      return;
    }
    const call = new CallContext(ctx);
    calls.set(msg.id, call);
    const deadline = msg.gati && msg.gati.deadline_ms;
    const timer = deadline ? setTimeout(() => call.abort("deadline"), deadline) : null;
    try {
      const result = await method.fn(msg.params || {}, call);
      send({ id: msg.id, result: result === undefined ? null : result });
    } catch (err) {
      const code = call.reason !== null
        ? (call.reason === "deadline" ? -32001 : -32800)
        : (err instanceof RpcError ? err.code : -32000);
      send({ id: msg.id, error: { code, message: String(err && err.message || err) } });
    } finally {
      if (timer) clearTimeout(timer);
      calls.delete(msg.id);
    }
  }

  function dispatch(msg) {
    if (msg.method === undefined) { // an answer from the worker's broker
      const waiting = asked.get(msg.id);
      if (!waiting) return;
      asked.delete(msg.id);
      if (msg.error) waiting.reject(new RpcError(msg.error.code, msg.error.message));
      else waiting.resolve(msg.result);
    } else if (msg.method === "gati.handshake") {
      send({ id: msg.id, result: handshake() });
    } else if (msg.method === "gati.ping") {
      send({ id: msg.id, result: "pong" });
    } else if (msg.method === "gati.cancel") {
      const c = calls.get(msg.params && msg.params.id);
      if (c) c.abort("cancelled");
    } else {
      run(msg);
    }
  }

  let buffered = Buffer.alloc(0);
  process.stdin.on("data", (chunk) => {
    // Usually a read is one whole frame and nothing is left over: no copy then.
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    while (buffered.length >= 4) {
      const size = buffered.readUInt32BE(0);
      if (buffered.length < 4 + size) break;
      const body = buffered.subarray(4, 4 + size);
      buffered = buffered.subarray(4 + size);
      dispatch(JSON.parse(body.toString("utf8")));
    }
  });
  process.stdin.on("end", () => process.exit(0));
}

module.exports = { serve, RpcError };
