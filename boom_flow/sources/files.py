"""Packets from files: single Avro files, folders of them, nightly ``.tar.gz`` archives.

ZTF publishes archived nights as tarballs of one Avro file per alert; Rubin's packets
are kept one per file in the wire format (or several in an Avro container). Each
file becomes one ``RawPacket``; the survey decoder knows what is inside. A member a
tarball cannot deliver (truncated, corrupt) becomes a ``Rejection`` and the walk
goes on with the next source.
"""

from __future__ import annotations

import tarfile
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from boom_flow.core import RawBatch, RawPacket, Rejection

PACKET_SUFFIXES = (".avro",)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def is_archive(path: Path) -> bool:
    return path.name.endswith(ARCHIVE_SUFFIXES)


def discover(path: Path) -> list[Path]:
    """The packet files and archives under ``path``, in a stable (sorted) order."""
    if not path.exists():
        raise FileNotFoundError(f"no such file or folder: {path}")
    if path.is_file():
        return [path]
    found = [p for p in path.rglob("*") if p.is_file()
             and (p.name.endswith(PACKET_SUFFIXES) or is_archive(p))]
    return sorted(found)


def read_packets(paths: Iterable[Path]) -> Iterator[RawPacket | Rejection]:
    """Every packet of every file, archives opened member by member."""
    for path in paths:
        if is_archive(path):
            yield from _archive_packets(path)
        else:
            yield RawPacket(data=path.read_bytes(), source=str(path))


def _archive_packets(path: Path) -> Iterator[RawPacket | Rejection]:
    position = 0
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(PACKET_SUFFIXES):
                    continue
                source = f"{path}!{member.name}"
                try:
                    handle = archive.extractfile(member)
                    data = handle.read() if handle is not None else b""
                except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
                    yield _unreadable(source, str(position), f"unreadable archive member: {error}")
                    return
                if len(data) != member.size:
                    yield _unreadable(source, str(position),
                                      f"truncated archive member: {len(data)} of "
                                      f"{member.size} bytes", data)
                    return
                yield RawPacket(data=data, source=source, position=str(position))
                position += 1
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        # Raised while looking for the next member: the rest of the archive is lost,
        # what came before it was delivered.
        yield _unreadable(str(path), str(position), f"unreadable archive: {error}")


def _unreadable(source: str, position: str, reason: str, data: bytes = b"") -> Rejection:
    return Rejection(reason=reason, source=source, position=position, data=data)


def batches(
    items: Iterable[RawPacket | Rejection], max_packets: int, rate: float | None = None
) -> Iterator[RawBatch]:
    """Group packets into batches of at most ``max_packets``.

    With ``rate`` (packets per second) the replay is paced like a live stream;
    without it, it runs as fast as the pipeline takes batches.
    """
    packets: list[RawPacket] = []
    rejected: list[Rejection] = []
    started = time.monotonic()
    emitted = 0
    for item in items:
        if isinstance(item, Rejection):
            rejected.append(item)
            continue
        packets.append(item)
        if len(packets) >= max_packets:
            emitted += len(packets)
            _pace(started, emitted, rate)
            yield RawBatch(tuple(packets), tuple(rejected))
            packets, rejected = [], []
    if packets or rejected:
        _pace(started, emitted + len(packets), rate)
        yield RawBatch(tuple(packets), tuple(rejected))


def _pace(started: float, emitted: int, rate: float | None) -> None:
    if rate:
        delay = started + emitted / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def file_batches(
    path: Path, max_packets: int, rate: float | None = None
) -> Iterator[RawBatch]:
    """Batches of the packets found under ``path`` (file, folder or archive)."""
    return batches(read_packets(discover(path)), max_packets, rate)
