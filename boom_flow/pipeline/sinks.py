"""Sinks: what runs on a worker after a batch is written and before it is committed.

A sink publishes what the stages computed (the filter results) to the outside world;
running it before the commit makes delivery at least once. Like stages, sinks are
named in the plan with hashable params and built once per worker process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from boom_flow.config import Settings
from boom_flow.core import AlertBatch
from boom_flow.pipeline.graph import GraphSpec

Sink = Callable[[AlertBatch], Any]
SinkSpec = tuple[str, tuple[tuple[str, Any], ...]]


def _filter_results(params: dict[str, Any]) -> Sink:
    from boom_flow.filters.publish import build_results_sink

    return build_results_sink(params)


#: name -> builder taking the sink's params.
SINK_BUILDERS: dict[str, Callable[[dict[str, Any]], Sink]] = {
    "filter_results": _filter_results,
}


def plan_sinks(settings: Settings, graph: GraphSpec) -> tuple[SinkSpec, ...]:
    """The sinks a graph needs: the results publisher when it runs the filter stage."""
    sinks: list[SinkSpec] = []
    for stage in graph.stages:
        if stage.name == "filter":
            mongo = settings.services.mongodb
            params = {
                "survey": graph.survey.upper(),
                "kafka": json.dumps(settings.services.kafka.producer_config(), sort_keys=True),
                "valkey_url": settings.services.valkey.connection_url,
                # The publication ledger lives beside the archive (filters.ledger).
                "mongo_uri": mongo.connection_uri,
                "mongo_database": mongo.database,
                "mongo_options": json.dumps(mongo.client_options(), sort_keys=True),
                "outage_s": settings.services.outage_wait_s,
                **{k: v for k, v in stage.params.items()
                   if k in ("stream_maxlen", "dedup_ttl_s")},
            }
            sinks.append(("filter_results", tuple(sorted(params.items()))))
    return tuple(sinks)


@cache
def built_sinks(sinks: tuple[SinkSpec, ...]) -> list[Sink]:
    """The sinks of a plan, built once per worker process."""
    return [SINK_BUILDERS[name](dict(params)) for name, params in sinks]
