"""Writing a benchmark's results: ``bench.json`` for machines, ``bench.md`` for people.

Both carry the machine, the versions and the workload parameters next to the numbers,
so a result read months later on another machine still says what it measured.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_reports(results: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "bench.json"
    markdown_path = out_dir / "bench.md"
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    markdown_path.write_text(markdown(results))
    return json_path, markdown_path


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.0%}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return lines


def markdown(results: dict[str, Any]) -> str:
    machine, params = results["machine"], results["parameters"]
    throughput, latency = results["throughput"], results.get("latency") or {}
    lines = [
        f"# boom-flow bench ({results['mode']}) — {results['started_at']}",
        "",
        f"Machine: {machine['cores']} cores ({machine['cpu_model']}), {machine['ram_gb']} GB RAM, "
        f"load average at start {machine['load_average']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
        "",
        f"Workload: {params['n_alerts']:,} {results.get('survey', 'ztf').upper()} alerts "
        f"({params['alert_source']}, seed {params['seed']}), "
        f"{params['prior_nights']} earlier night(s) of the same objects stored first"
        + (f" (and measured again after {', '.join(map(str, params['later_depths']))})"
           if params.get("later_depths") else "") + "; stages "
        f"{' → '.join(params['stages'])}"
        + (f" (NOT run: {', '.join(params['stages_missing'])} — not installed or failed "
           "to start, see stages_broken in bench.json)"
           if params["stages_missing"] else "") + "; "
        f"{params['dask_workers']} Dask workers x {params['threads_per_worker']} thread, batches "
        f"of {params['batch_alerts']}, {params['max_in_flight']} in flight.",
    ]
    extras = [f"{key}: {_fmt(params[key])}" for key in
              ("models", "catalog", "catalog_rows_ingested", "filters_active") if key in params]
    if extras:
        lines.append("; ".join(extras) + ".")
    lines += ["", "## Throughput", ""]
    lines += _table(
        ["alerts", "wall s", "alerts/s (end to end)", "alerts/s (steady)", "per core"],
        [[throughput["alerts"], throughput.get("wall_s"), throughput["alerts_per_s"],
          throughput.get("steady_alerts_per_s"),
          throughput["alerts_per_s"] / max(params["dask_workers"], 1)]])
    lines += ["", "## Time per stage (worker seconds)", ""]
    lines += _table(["stage", "seconds", "share", "ms/alert", "alerts/s per core"],
                    [[r["stage"], r["seconds"], f"{r['share']:.0%}", r["ms_per_alert"],
                      r["alerts_per_core_s"]] for r in results["stages"]])
    lines += ["", "history = reading the batch's objects from the archive once; aliases = "
                  "ZTF/LSST alias lookup; filter_results = publishing the results to Kafka "
                  "and Valkey (after the write, before the commit). Shares are of the "
                  "workers' busy time.", ""]
    lines += cpu_section(results.get("cpu") or {})
    lines += depth_section(results.get("depths") or [])
    lines += ["## Ceilings (same cluster, same run, each step alone)", ""]
    ceilings, fractions = results.get("ceilings", {}), results.get("fractions", {})
    rows = []
    for step in ("decode", "inference", "write"):
        if step in ceilings:
            c, f = ceilings[step], fractions.get(step, {})
            rows.append([step, c["alerts_per_s"], c["ms_per_alert"],
                         _percent(f.get("pipeline_alerts_per_s_vs_ceiling")),
                         _percent(f.get("stage_cost_ceiling_over_pipeline"))])
    lines += _table(["step alone", "alerts/s (cluster)", "ms/alert (one core)",
                     "pipeline's steady rate / this", "its cost alone / in the pipeline"],
                    rows)
    if latency:
        lines += ["", f"## Latency (Kafka timestamp → result), {latency['alerts']:,} alerts "
                      f"streamed at {latency['rate_alerts_per_s']}/s", ""]
        rows = []
        for key, label in (("to_filter_result", "to filter result (alerts that passed)"),
                           ("to_batch_completion", "to batch stored + committed (all)")):
            p = latency.get(key) or {}
            if p.get("count"):
                rows.append([label, p["count"], p["p50_ms"], p["p95_ms"], p["p99_ms"]])
        lines += _table(["measured", "alerts", "p50 ms", "p95 ms", "p99 ms"], rows)
    memory = results.get("memory", {})
    lines += ["", "## Worker memory (RSS)", ""]
    lines += _table(["worker", "start MB", "peak MB", "end MB", "growth MB",
                     "growth over 2nd half MB"],
                    [[name, w["start_mb"], w["peak_mb"], w["end_mb"], w["growth_mb"],
                      w["second_half_growth_mb"]] for name, w in memory.get("workers", {}).items()])
    servers = memory.get("servers") or {}
    if servers:
        lines += ["", "Embedded servers over the same run (peak RSS): " + ", ".join(
            f"{name} {w['peak_mb']:,.0f} MB" for name, w in servers.items()) + "."]
    lines += ["", "## Per core, beside the published figures (BOOM paper, 32-core EPYC)", ""]
    lines += _table(["system", "layout", "cores", "alerts/s", "alerts/s per core",
                     "this run per core / theirs"],
                    [[r["system"], r["layout"], r["cores"], r["alerts_per_s"], r["per_core"],
                      r["this_run_per_core_ratio"]] for r in results["comparison"]])
    lines += ["", "Per core = alerts/s divided by the worker processes (BOOM, Kowalski) or "
                  "Dask workers (here); the database and broker share the same cores in all.",
              ""]
    return "\n".join(lines)


def cpu_section(cpu: dict[str, Any]) -> list[str]:
    """Where the CPU went over the throughput phase, and the ceiling it sets."""
    if not cpu:
        return []
    lines = ["## CPU per alert (throughput phase, psutil, each process with its children)",
             ""]
    lines += _table(["process", "CPU s", "ms/alert"],
                    [[row["process"], row["cpu_s"], row["ms_per_alert"]]
                     for row in cpu["processes"]])
    lines += [""]
    lines += _table(
        ["pipeline (workers + driver + scheduler) ms/alert", "servers ms/alert",
         "all ms/alert", "CPU ceiling alerts/s", "pipeline-only ceiling alerts/s",
         "machine busy (steady)", "machine busy (run)"],
        [[cpu.get("pipeline_ms_per_alert"), cpu.get("servers_ms_per_alert"),
          cpu.get("total_ms_per_alert"), cpu.get("cpu_ceiling_alerts_per_s"),
          cpu.get("pipeline_ceiling_alerts_per_s"), _percent(cpu.get("busy_share_steady")),
          _percent(cpu.get("busy_share_run"))]])
    lines += ["", f"CPU ceiling = {cpu['cores']} cores / (all processes' CPU per alert): the "
                  "rate if the CPU were the only limit and every core did this work. Machine "
                  "busy = the system-wide share of non-idle CPU time (other users' jobs "
                  "included).", ""]
    return lines


def depth_section(rows: list[dict[str, Any]]) -> list[str]:
    """Per-alert cost against the archive's depth (earlier nights of the same objects)."""
    if not rows:
        return []
    servers = sorted({name for row in rows for name in row.get("server_ms_per_alert", {})})
    lines = ["## Per-alert cost against archive depth", ""]
    lines += _table(
        ["earlier nights", "alerts/s", "pipeline ms/alert", *[f"{s} ms/alert" for s in servers],
         "all ms/alert", "pipeline vs first", "servers vs first", "aux re-reads"],
        [[row["prior_nights"], row["alerts_per_s"], row["pipeline_ms_per_alert"],
          *[row.get("server_ms_per_alert", {}).get(s) for s in servers],
          row["total_ms_per_alert"], _ratio(row.get("pipeline_vs_first")),
          _ratio(row.get("servers_vs_first")), row.get("aux_rereads", "-")] for row in rows])
    return [*lines, "aux re-reads = aux merges planned again from a fresh read at write "
            "time, because another worker changed the batch's objects meanwhile.", ""]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
