"""What the fault cases share: a night on a topic, a filter, runs of the pipeline as a
real process or in this one, and the counts that say what was lost or doubled."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
import pymongo
from confluent_kafka.admin import AdminClient, NewTopic

from boom_flow.config import Settings, load_settings
from boom_flow.filters.publish import ensure_topic
from boom_flow.filters.results import decode, results_topic
from boom_flow.filters.store import FilterStore
from boom_flow.pipeline.graph import load_graph
from boom_flow.pipeline.run import run_pipeline
from boom_flow.pipeline.summary import RunSummary
from boom_flow.simulate import NightSpec, simulate_night
from tests.conftest import child_environ

#: Passes every alert with a measured magnitude (all of them): results = alerts stored.
EVERY_ALERT = [{"$match": {"candidate.magpsf": {"$gt": 0}}}, {"$project": {"objectId": 1}}]
GRAPH = """survey: ztf
source:
  kind: kafka
stages:
  - name: filter
    params: {reload_s: 1}
"""


@dataclass
class Night:
    """One case's night: its database, topic, filter and packets."""

    settings: Settings
    environment: dict[str, str]
    topic: str
    packets: list[bytes]
    ids: set[int]
    filter_ids: list[str] = field(default_factory=list)

    @property
    def db(self) -> pymongo.database.Database:
        mongo = self.settings.services.mongodb
        return pymongo.MongoClient(mongo.connection_uri)[mongo.database]


def simulated(n_alerts: int, seed: int) -> tuple[list[bytes], set[int]]:
    alerts = list(simulate_night(NightSpec(survey="ztf", n_alerts=n_alerts, seed=seed)))
    return [a.packet for a in alerts], {a.alert_id for a in alerts}


def new_night(settings: Settings, environment: dict[str, str], n_alerts: int, seed: int,
              filters: dict[str, list[dict[str, Any]]] | None = None) -> Night:
    """A topic holding a simulated night, the case's active filters, and a consumer
    group of the case's own: a member a failed case left behind (a process still
    running, a group still rebalancing) cannot hold up the next case's join."""
    packets, ids = simulated(n_alerts, seed) if n_alerts else ([], set())
    topic = f"faults_{uuid.uuid4().hex[:8]}"
    environment = {**environment,
                   "BOOM_FLOW_SERVICES__MONGODB__DATABASE": settings.services.mongodb.database,
                   "BOOM_FLOW_SERVICES__KAFKA__GROUP_ID": f"boom-flow-{topic}"}
    settings = load_settings(environ=environment)
    admin = AdminClient({"bootstrap.servers": settings.services.kafka.bootstrap})
    for future in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        future.result(10)
    produce(settings, topic, packets)
    night = Night(settings, environment, topic, packets, ids)
    store = FilterStore(night.db)
    for name, pipeline in (filters or {"every_alert": EVERY_ALERT}).items():
        night.filter_ids.append(store.create(name=name, survey="ZTF", user_id="faults",
                                             permissions={"ZTF": [1, 2, 3]},
                                             pipeline=pipeline)["_id"])
    ensure_topic(settings.services.kafka.producer_config(), results_topic("ztf"))
    return night


def produce(settings: Settings, topic: str, packets: list[bytes]) -> None:
    producer = confluent_kafka.Producer({**settings.services.kafka.producer_config(),
                                         "message.max.bytes": 40_000_000})
    for i, data in enumerate(packets):
        producer.produce(topic, data, partition=i % 2)
    assert producer.flush(60) == 0


def graph_file(directory: Path) -> Path:
    path = directory / "faults.yaml"
    path.write_text(GRAPH)
    return path


def child_environment(night: Night, **overrides: str) -> dict[str, str]:
    return {**child_environ(), **night.environment, **overrides}


class Runs:
    """``boom-flow run`` as real processes (each in its own process group, with its
    workers); whatever is still running when the case ends, passed or failed, is
    killed and reaped (a leaked ``Popen`` fails a later test with a ResourceWarning)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(self, night: Night, graph: Path, idle_s: float, **overrides: str
              ) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "boom_flow", "run", str(graph), "--topic", night.topic,
             "--until-idle", str(idle_s)],
            env=child_environment(night, **overrides), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.started.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                kill_group(process)
            process.communicate(timeout=60)  # reaped, its pipe closed


def kill_group(process: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    """``sig`` to the run's process group: the run and its Dask workers at once."""
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.killpg(process.pid, sig)


#: How long a fresh ``boom-flow run`` may take to store its first alerts: it starts
#: a Dask cluster, sets the stages up on the worker and joins its consumer group.
#: Measured: 8 s (2 cores shared with a benchmark); the bound is there only so that a
#: run that never stores fails the case instead of hanging it.
FIRST_STORED_S = 120.0


def kill_when_stored(process: subprocess.Popen[str], night: Night, at_least: int,
                     sig: int = signal.SIGKILL, timeout_s: float = FIRST_STORED_S) -> int:
    """Send ``sig`` to the run's process group once the archive holds ``at_least``
    alerts; the number stored at that moment."""
    deadline = time.monotonic() + timeout_s
    db = night.db
    while (stored := db.ZTF_alerts.estimated_document_count()) < at_least:
        assert process.poll() is None, process.communicate()[0][-3000:]
        if time.monotonic() > deadline:
            kill_group(process)
            output = process.communicate(timeout=60)[0]
            raise AssertionError(f"the run stored {stored} of {at_least} alerts in "
                                 f"{timeout_s:.0f} s; its output:\n{output[-3000:]}")
        time.sleep(0.05)
    if sig == signal.SIGTERM:
        os.kill(process.pid, sig)  # what an operator sends: the run stops its workers
    else:
        kill_group(process, sig)
    return stored


def in_process_run(night: Night, client: Any, graph: Path, idle_s: float = 3.0,
                   on_outcome: Callable[[Any], None] | None = None,
                   stop: threading.Event | None = None) -> RunSummary:
    spec = load_graph(graph)
    spec = spec.model_copy(update={"source": spec.source.model_copy(
        update={"topics": [night.topic], "idle_timeout_s": idle_s})})
    return run_pipeline(night.settings, spec, client=client, on_outcome=on_outcome,
                        stop=stop)


class Background:
    """Calls run in threads; when the case ends (passed or failed) ``stop`` is set and
    they are waited for, so a run never reads on into the next case."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, call: Callable[[threading.Event], Any]
              ) -> tuple[threading.Thread, list[Any]]:
        """Run ``call(stop)`` in a thread; the list gets its result or its exception."""
        outcome: list[Any] = []

        def target() -> None:
            try:
                outcome.append(call(self.stop))
            except BaseException as error:  # reported by the test
                outcome.append(error)

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread, outcome

    def finish(self, timeout_s: float = 120) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout_s)


def alerts_in(output: str) -> int:
    match = re.search(r"alerts in:\s+(\d+)", output)
    assert match, output[-3000:]
    return int(match.group(1))


def published(settings: Settings, filter_ids: list[str], idle_s: float = 2.0
              ) -> list[tuple[int, str]]:
    """Every (candid, filter_id) pair the results topic holds for these filters, with
    repeats: read from the start of the topic until it stays quiet."""
    consumer = confluent_kafka.Consumer({
        **settings.services.kafka.consumer_config(f"read-{uuid.uuid4().hex}"),
        "auto.offset.reset": "earliest"})
    topic = results_topic("ztf")
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                     for p in partitions])
    pairs: list[tuple[int, str]] = []
    quiet_since = time.monotonic()
    wanted = set(filter_ids)
    try:
        while time.monotonic() - quiet_since < idle_s:
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            quiet_since = time.monotonic()
            for record in decode(message.value()):
                pairs += [(record["candid"], f["filter_id"]) for f in record["filters"]
                          if f["filter_id"] in wanted]
    finally:
        consumer.close()
    return pairs


def archive_figures(night: Night, expected_ids: set[int] | None = None,
                    results_per_alert: int = 1) -> dict[str, Any]:
    """Produced, stored, lost, duplicated (alerts and history points), results
    published and duplicated, for ``night``."""
    db = night.db
    expected = night.ids if expected_ids is None else expected_ids
    stored = {d["_id"] for d in db.ZTF_alerts.find({}, {"_id": 1})}
    doubled_points = 0
    for aux in db.ZTF_alerts_aux.find({}, {"prv_candidates.jd": 1, "fp_hists.jd": 1}):
        for kind in ("prv_candidates", "fp_hists"):
            jds = [p["jd"] for p in aux.get(kind) or []]
            doubled_points += len(jds) - len(set(jds))
    pairs = published(night.settings, night.filter_ids)
    return {
        "alerts_produced": len(night.packets), "alerts_stored": len(stored),
        "alerts_lost": len(expected - stored), "alerts_duplicated": doubled_points,
        "results_expected": len(stored & expected) * results_per_alert,
        "results_published": len(pairs), "results_duplicated": len(pairs) - len(set(pairs)),
        "results_lost": len(stored & expected) * results_per_alert - len(set(pairs)),
    }
