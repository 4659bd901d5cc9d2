"""The boom_flow page of the Dask dashboard: ``/boom_flow`` on the scheduler.

A module exporting ``routes``, like distributed's own pages (``distributed.http.*``):
the scheduler serves it when ``boom_flow.dashboard.page`` is listed in the dask config
``distributed.scheduler.http.routes`` (``boom_flow.dashboard.enable_page`` adds it).

- ``boom_flow``: the page, Bokeh figures (no Bokeh server session: plain HTML the
  scheduler renders) whose sources a small script refills from ``all.json`` once a
  second, the next request leaving only when the last answer arrived, so a busy
  scheduler is never asked faster than it answers;
- ``boom_flow/data/<source>.json``: one data source's columns (``window.SOURCES``,
  ``memory``), ``summary``, or ``all`` of them from one window, computed from the
  scheduler's ``boom_flow`` events;
- ``boom_flow/static/...``: BokehJS, from the installed bokeh package.

URLs inside the page are relative, so it works under the scheduler's ``http_prefix``.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import bokeh
from tornado import web

from boom_flow.dashboard.window import SOURCES, Window, summary, worker_memory
from boom_flow.pipeline.events import TOPIC

POLL_MS = 1000
_BOKEH_STATIC = Path(bokeh.__file__).parent / "server" / "static"


def window_of(scheduler: Any, now_s: float | None = None) -> Window:
    events = scheduler.get_events(TOPIC)
    return Window.of((msg for _, msg in events if isinstance(msg, dict)),
                     time.time() if now_s is None else now_s)


def memory_of(scheduler: Any) -> dict[str, list[Any]]:
    return worker_memory([(str(ws.name), int(ws.memory.process), ws.memory_limit)
                          for ws in scheduler.workers.values()])


class _SchedulerHandler(web.RequestHandler):
    def initialize(self, dask_server: Any = None, extra: Any = None) -> None:
        self.server = dask_server

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")


def snapshot(scheduler: Any) -> dict[str, Any]:
    """Every source and the summary, from one window."""
    window = window_of(scheduler)
    return {"sources": {**{name: columns(window) for name, columns in SOURCES.items()},
                        "memory": memory_of(scheduler)},
            "summary": {**summary(window), "workers": len(scheduler.workers)}}


class DataHandler(_SchedulerHandler):
    """One data source as JSON columns (or ``all``); unknown names are 404."""

    def get(self, name: str) -> None:
        if name == "all":
            data: Any = snapshot(self.server)
        elif name == "memory":
            data = memory_of(self.server)
        elif name == "summary":
            data = snapshot(self.server)["summary"]
        elif name in SOURCES:
            data = SOURCES[name](window_of(self.server))
        else:
            raise web.HTTPError(404, f"no data source {name!r}")
        self.set_header("Content-Type", "application/json")
        self.write(json.dumps(data))


class PageHandler(_SchedulerHandler):
    def get(self) -> None:
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.write(page_html())


@cache
def page_html() -> str:
    """The page: built once per process (its data comes by polling)."""
    from bokeh.embed import components

    from boom_flow.dashboard.figures import SOURCE_PREFIX, layout

    script, body = components(layout())
    js = "".join(f'<script src="boom_flow/static/js/{name}.min.js?v={bokeh.__version__}">'
                 "</script>" for name in ("bokeh", "bokeh-widgets"))
    return _TEMPLATE.format(js=js, script=script, body=body, poll=POLL_MS, prefix=SOURCE_PREFIX)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>boom_flow pipeline</title>
{js}
<style>
 body {{ font-family: sans-serif; margin: 12px 20px; color: #222; }}
 h1 {{ font-size: 20px; margin: 0 0 6px 0; }}
 #summary {{ font-size: 14px; margin-bottom: 10px; }}
 #summary span {{ margin-right: 18px; }}
 a {{ color: #1f77b4; }}
</style></head>
<body>
<h1>boom_flow pipeline <small><a href="status">Dask dashboard</a></small></h1>
<div id="summary">waiting for the pipeline's first batch...</div>
{body}
{script}
<script>
const labels = {{alerts: "alerts", stored: "stored", rejected: "rejected",
  alerts_per_s: "alerts/s", latency_p50_ms: "latency p50 ms", latency_p95_ms: "p95",
  latency_p99_ms: "p99", batches: "batches", failed_batches: "failed", workers: "workers",
  window_s: "window s"}};
async function refresh() {{
  try {{
    const data = await (await fetch("boom_flow/data/all.json")).json();
    const doc = Bokeh.documents[0];
    for (const [name, columns] of Object.entries(doc ? data.sources : {{}})) {{
      const source = doc.get_model_by_name("{prefix}" + name);
      if (source) source.data = columns;
    }}
    const s = data.summary;
    if (s.batches > 0) {{
      document.getElementById("summary").innerHTML = Object.entries(labels)
        .map(([k, v]) => `<span><b>${{v}}</b> ${{s[k] ?? "-"}}</span>`).join("");
    }}
  }} catch (e) {{}}
  setTimeout(refresh, {poll});  // after the answer: requests never pile up
}}
setTimeout(refresh, 100);
</script>
</body></html>
"""

routes: list[tuple[str, type, dict[str, Any]]] = [
    ("boom_flow", PageHandler, {}),
    (r"boom_flow/data/(\w+)\.json", DataHandler, {}),
    (r"boom_flow/static/(.*)", web.StaticFileHandler, {"path": str(_BOKEH_STATIC)}),
]
