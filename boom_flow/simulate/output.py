"""Where a simulated night goes: a folder of ``.avro`` files, a nightly ``.tar.gz``
(the form ZTF archives nights in), or a Kafka topic at a chosen rate.

Files are named ``<alert id>.avro`` like ZTF's. Tarballs are deterministic too:
members carry the alert's time as mtime, no owner, and the gzip header no time stamp.
Kafka is the I/O edge: ``confluent_kafka`` is imported here only.
"""

from __future__ import annotations

import gzip
import io
import queue
import tarfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from boom_flow.simulate.spec import SimulatedAlert

UNIX_EPOCH_JD = 2440587.5
#: Tarball compression: the packets are mostly gzipped stamps, level 1 loses little.
TAR_GZIP_LEVEL = 1


def write_files(alerts: Iterable[SimulatedAlert], out: Path,
                form: Literal["folder", "tarball"]) -> int:
    """Write the packets; returns how many were written."""
    out = Path(out)
    if form == "folder":
        out.mkdir(parents=True, exist_ok=True)
        count = 0
        for alert in alerts:
            (out / f"{alert.alert_id}.avro").write_bytes(alert.packet)
            count += 1
        return count
    if form == "tarball":
        return write_tarball(alerts, out)
    raise ValueError(f"unknown output form {form!r}: 'folder' or 'tarball'")


def write_tarball(alerts: Iterable[SimulatedAlert], out: Path) -> int:
    """Write a nightly ``.tar.gz``. The tar and gzip work runs on a thread of its own
    (zlib releases the GIL), beside the simulation feeding it; a reader never sees a
    half-written night (the file is renamed into place at the end)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    writer = _TarWriter(partial)
    writer.start()
    count = 0
    try:
        for alert in alerts:
            if writer.error is not None:
                break
            writer.queue.put(alert)
            count += 1
    finally:
        writer.queue.put(None)
        writer.join()
    if writer.error is not None:
        partial.unlink(missing_ok=True)
        raise writer.error
    partial.replace(out)
    return count


class _TarWriter(threading.Thread):
    """Adds the packets it is handed to a deterministic tar.gz until it gets None."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="boom-flow-tarball", daemon=True)
        self.path = path
        self.queue: queue.Queue[SimulatedAlert | None] = queue.Queue(maxsize=256)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with open(self.path, "wb") as raw, \
                    gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                  compresslevel=TAR_GZIP_LEVEL) as zipped, \
                    tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
                while (alert := self.queue.get()) is not None:
                    member = tarfile.TarInfo(f"{alert.alert_id}.avro")
                    member.size = len(alert.packet)
                    member.mtime = int((alert.jd - UNIX_EPOCH_JD) * 86400)
                    member.mode = 0o644
                    tar.addfile(member, io.BytesIO(alert.packet))
        except BaseException as error:  # handed to the caller, which raises it
            self.error = error
            while self.queue.get() is not None:  # keep the producer from blocking
                pass


class DeliveryError(RuntimeError):
    """Kafka did not accept some packets."""


def publish(alerts: Iterable[SimulatedAlert], bootstrap_servers: str, topic: str,
            rate: float | None = None, producer_config: dict[str, Any] | None = None,
            clock: Callable[[], float] = time.monotonic,
            sleep: Callable[[float], None] = time.sleep) -> int:
    """Produce every packet to ``topic`` (no key, like the surveys), at most ``rate``
    per second when given; returns how many the broker acknowledged."""
    from confluent_kafka import Producer

    config = {"bootstrap.servers": bootstrap_servers, "linger.ms": 20,
              "message.max.bytes": 10_000_000, "queue.buffering.max.messages": 100_000,
              **(producer_config or {})}
    producer = Producer(config)
    state = {"delivered": 0, "failed": 0, "first_error": None}

    def delivered(error: Any, _message: Any) -> None:
        if error is None:
            state["delivered"] += 1
        else:
            state["failed"] += 1
            state["first_error"] = state["first_error"] or str(error)

    for sent, alert in enumerate(_paced(alerts, rate, clock, sleep)):
        while True:
            try:
                producer.produce(topic, value=alert.packet, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let the broker catch up
                producer.poll(0.1)
        if sent % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if state["failed"] or remaining:
        raise DeliveryError(f"{state['failed']} packets refused and {remaining} undelivered "
                            f"on {topic} at {bootstrap_servers}: {state['first_error']}")
    return state["delivered"]


def _paced(alerts: Iterable[SimulatedAlert], rate: float | None, clock: Callable[[], float],
           sleep: Callable[[float], None]) -> Iterator[SimulatedAlert]:
    """The alerts, the n-th not before ``n / rate`` seconds after the first."""
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    start = clock()
    for count, alert in enumerate(alerts):
        if rate:
            wait = start + count / rate - clock()
            if wait > 0:
                sleep(wait)
        yield alert
