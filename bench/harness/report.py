"""From the runs of ``run_peers.py`` to medians, ratios, targets, a table and a plot."""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.harness.results import median_spread, table

INFRA = ("kafka", "postgres")
TARGETS = {
    "gati_vs_raw_kafka_throughput": ("Gati full >= 70% of raw aiokafka throughput", 0.70),
    "lifecycle_on_vs_off_throughput": ("recording on >= 85% of off", 0.85),
    "gati_vs_dbos_throughput": ("Gati >= 2x DBOS throughput", 2.0),
    "gati_vs_dbos_p99_at_50pct": ("Gati p99 <= DBOS p99 at 50% load (ratio <= 1)", 1.0),
    "recorder_drain_rows_per_s": ("recorder drain >= 50k rows/s", 50_000),
}


def _med(values: list[float]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarise(
    runs: list[dict[str, Any]], rates: list[float], fractions: tuple[float, ...]
) -> dict[str, Any]:
    by_system: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_system[run["system"]].append(run)
    systems: dict[str, Any] = {}
    for name, rs in by_system.items():
        cpu: dict[str, list[float]] = defaultdict(list)
        rss: dict[str, list[float]] = defaultdict(list)
        for r in rs:
            for k, v in r["closed_processes"]["cpu_pct_of_one_core"].items():
                cpu[k].append(v)
            for k, v in r["closed_processes"]["rss_mb_peak"].items():
                rss[k].append(v)
        open_by_fraction: dict[str, Any] = {}
        for fraction in fractions:
            points = [o for r in rs for o in r.get("open", []) if o["fraction"] == fraction]
            measured = [o for o in points if "skipped" not in o]
            key = f"{int(fraction * 100)}%"
            if not measured:
                open_by_fraction[key] = {
                    "rate": points[0]["rate"] if points else None,
                    "skipped": points[0]["skipped"] if points else "not run",
                }
                continue
            open_by_fraction[key] = {
                "rate": measured[0]["rate"],
                "p50_ms": median_spread([o["latency_ms"]["p50"] for o in measured]),
                "p95_ms": median_spread([o["latency_ms"]["p95"] for o in measured]),
                "p99_ms": median_spread([o["latency_ms"]["p99"] for o in measured]),
                "errors": sum(
                    sum(o["errors"].values()) + (o["requests"] - o["ok"]) for o in measured
                ),
                "requests": sum(o["requests"] for o in measured),
                "client_cpu_pct": _med([o["client_cpu_pct"] for o in measured]),
            }
        systems[name] = {
            "closed_rps": median_spread([r["closed"]["rps"] for r in rs]),
            "closed_p50_ms": median_spread([r["closed"]["latency_ms"]["p50"] for r in rs]),
            "closed_p99_ms": median_spread([r["closed"]["latency_ms"]["p99"] for r in rs]),
            "closed_errors": sum(
                sum(r["closed"]["errors"].values()) + r["closed"]["requests"] - r["closed"]["ok"]
                for r in rs
            ),
            "client_cpu_pct": _med([r["closed"]["client_cpu_pct"] for r in rs]),
            "cpu_pct_median": {k: _med(v) for k, v in cpu.items()},
            "rss_mb_median": {k: _med(v) for k, v in rss.items()},
            "machine_cpu_pct": _med([r["closed_processes"]["machine_cpu_pct"] for r in rs]),
            "other_cpu_pct": _med([r["closed_processes"].get("other_cpu_pct") for r in rs]),
            "kafka_restarted_in_repeats": [
                r["repeat"] for r in rs if r["closed_processes"].get("kafka_restarted")
            ],
            "recorder_lag_s": median_spread(
                [r["recorder_lag_s"] for r in rs if r.get("recorder_lag_s") is not None]
            ),
            "open": open_by_fraction,
        }
    gati = systems.get("gati")
    ratios: dict[str, Any] = {}
    if gati:
        for name, s in systems.items():
            if name == "gati":
                continue
            g50, p50 = gati["open"].get("50%", {}), s["open"].get("50%", {})
            gp99 = (g50.get("p99_ms") or {}).get("median")
            pp99 = (p50.get("p99_ms") or {}).get("median")
            ratios[name] = {
                "throughput": _ratio(gati["closed_rps"]["median"], s["closed_rps"]["median"]),
                "p99_at_50pct": _ratio(gp99, pp99),
            }
    drains = [r["drain"] for r in runs if r.get("drain")]
    dbos_50 = systems.get("dbos", {}).get("open", {}).get("50%")
    targets = _targets(ratios, drains, dbos_50)
    return {
        "systems": systems,
        "ratios_gati_over_peer": ratios,
        "targets": targets,
        "drain": drains[0] if drains else None,
        "profile": next((r["profile"] for r in runs if r.get("profile")), None),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _targets(
    ratios: dict[str, Any], drains: list[dict[str, Any]], dbos_50: dict[str, Any] | None
) -> dict[str, Any]:
    measured = {
        "gati_vs_raw_kafka_throughput": ratios.get("raw-kafka", {}).get("throughput"),
        "lifecycle_on_vs_off_throughput": ratios.get("gati-lifecycle-off", {}).get("throughput"),
        "gati_vs_dbos_throughput": ratios.get("dbos", {}).get("throughput"),
        "gati_vs_dbos_p99_at_50pct": ratios.get("dbos", {}).get("p99_at_50pct"),
        "recorder_drain_rows_per_s": drains[0]["rows_per_s"] if drains else None,
    }
    if measured["gati_vs_dbos_p99_at_50pct"] is None and dbos_50 and "skipped" in dbos_50:
        measured["gati_vs_dbos_p99_at_50pct"] = f"DBOS overloaded ({dbos_50['skipped']})"
    out = {}
    for key, (text, goal) in TARGETS.items():
        value = measured[key]
        if value is None:
            met = None
        elif key == "gati_vs_dbos_p99_at_50pct" and isinstance(value, str):
            met = True  # DBOS cannot take that rate at all: its queue only grows
        elif key == "gati_vs_dbos_p99_at_50pct":
            met = value <= goal
        else:
            met = value >= goal
        out[key] = {"target": text, "goal": goal, "measured": value, "met": met}
    return out


def _cpu_per_request(cpu: dict[str, float | None], rps: float | None) -> str:
    """CPU of the system and of Kafka + Postgres per request: a figure less sensitive to
    how busy the machine was than req/s."""
    if not rps:
        return ""
    used = sum(v for v in cpu.values() if v is not None) / 100
    return f"{1000 * used / rps:.2f}"


def _fmt_ms(ms: dict[str, Any] | None) -> str:
    if not ms or ms.get("median") is None:
        return ""
    if ms["n"] > 1:
        return f"{ms['median']:.1f} ({ms['min']:.1f}-{ms['max']:.1f})"
    return f"{ms['median']:.1f}"


def render_markdown(data: dict[str, Any]) -> str:
    summary = data["summary"]
    systems = summary["systems"]
    out = [
        f"Run {data['machine']['when']} on {data['machine']['cpus']} cores, "
        f"commit {data['machine']['git_commit']}; "
        f"{data['settings']['repeats']} repeat(s), median (min-max); "
        f"closed loop c={data['settings']['concurrency']} for "
        f"{data['settings']['closed_seconds']} s; open loop "
        f"{data['settings']['open_seconds']} s per rate.",
        "",
    ]
    rows = []
    for name, s in systems.items():
        rps = s["closed_rps"]
        cpu = s["cpu_pct_median"]
        own = ", ".join(f"{k} {v:.0f}" for k, v in cpu.items() if k not in INFRA and v is not None)
        infra = ", ".join(f"{k} {cpu[k]:.0f}" for k in INFRA if cpu.get(k) is not None)
        rss = ", ".join(
            f"{k} {v:.0f}" for k, v in s["rss_mb_median"].items() if k not in INFRA and v
        )
        rows.append(
            [
                name,
                f"{rps['median']:,.0f}",
                f"{rps['min']:,.0f}-{rps['max']:,.0f} ({rps['spread_pct']}%)",
                _fmt_ms(s["closed_p50_ms"]),
                _fmt_ms(s["closed_p99_ms"]),
                s["closed_errors"],
                f"{s['client_cpu_pct']:.0f}%",
                _cpu_per_request(cpu, rps["median"]),
                own,
                infra,
                f"{s['other_cpu_pct']:.0f}" if s.get("other_cpu_pct") is not None else "",
                rss,
            ]
        )
    out += [
        "Closed loop (saturation):",
        "",
        table(
            [
                "system",
                "req/s",
                "range (spread)",
                "p50 ms",
                "p99 ms",
                "errors",
                "wrk CPU",
                "CPU ms/req",
                "system CPU % of a core",
                "kafka/postgres CPU %",
                "other CPU %",
                "RSS MB",
            ],
            rows,
        ),
        "",
    ]
    rows = []
    for name, s in systems.items():
        for key, o in s["open"].items():
            if "skipped" in o:
                rows.append([name, key, o["rate"], "", "", "", "", f"not run: {o['skipped']}"])
                continue
            rows.append(
                [
                    name,
                    key,
                    o["rate"],
                    _fmt_ms(o["p50_ms"]),
                    _fmt_ms(o["p95_ms"]),
                    _fmt_ms(o["p99_ms"]),
                    f"{o['errors']}/{o['requests']}",
                    f"client CPU {o['client_cpu_pct']:.0f}%",
                ]
            )
    out += [
        "Open loop (offered load as a share of Gati's saturation):",
        "",
        table(
            ["system", "load", "req/s offered", "p50 ms", "p95 ms", "p99 ms", "errors", "note"],
            rows,
        ),
        "",
    ]
    rows = [
        [name, r["throughput"], r["p99_at_50pct"]]
        for name, r in summary["ratios_gati_over_peer"].items()
    ]
    out += [
        "Ratios, Gati (full path) / peer (throughput: higher is better for Gati; "
        "p99 at 50%: lower is better for Gati):",
        "",
        table(["peer", "throughput ratio", "p99 ratio at 50% load"], rows),
        "",
    ]
    rows = []
    for t in summary["targets"].values():
        met = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        value = t["measured"]
        rows.append(
            [
                t["target"],
                f"{value:,.3f}" if isinstance(value, float) and value < 100 else value,
                met,
            ]
        )
    out += ["Targets:", "", table(["target", "measured", ""], rows)]
    drain = summary.get("drain")
    if drain:
        out += [
            "",
            f"Recorder drain: {drain['backlog_rows']:,} rows "
            f"({drain['backlog_lifecycle_rows']:,} lifecycle) in {drain['drain_s']} s = "
            f"{drain['rows_per_s']:,.0f} rows/s (consumer join before the first rows: "
            f"{drain['start_to_first_rows_s']} s).",
        ]
    if data.get("unavailable"):
        out += [
            "",
            "Not measured (details in the JSON): "
            + "; ".join(f"{k}: {_first_line(v)}" for k, v in data["unavailable"].items()),
        ]
    return "\n".join(out)


def _first_line(text: str, limit: int = 160) -> str:
    line = re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def render_plot(data: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    systems = data["summary"]["systems"]
    for i, (name, s) in enumerate(systems.items()):
        color = f"C{i}"
        pts = [
            (o["rate"], o["p50_ms"]["median"], o["p99_ms"]["median"])
            for o in s["open"].values()
            if "skipped" not in o
        ]
        if not pts:
            continue
        xs, p50, p99 = zip(*sorted(pts), strict=True)
        ax.plot(xs, p99, "-o", color=color, markersize=6, label=f"{name} p99")
        ax.plot(xs, p50, "--^", color=color, alpha=0.6, markersize=4, label=f"{name} p50")
        sat = s["closed_rps"]["median"]
        if sat and sat < 1.6 * max(xs):
            ax.axvline(sat, color=color, linestyle=":", alpha=0.5)
    missing = [n for n, s in systems.items() if all("skipped" in o for o in s["open"].values())]
    if missing:
        ax.text(
            0.99,
            0.02,
            "overloaded at every rate, not plotted: " + ", ".join(missing),
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=8,
        )
    ax.set_yscale("log")
    ax.set_xlabel("offered load (requests/s, open loop)")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Latency against offered load (dotted: the system's closed-loop saturation)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
