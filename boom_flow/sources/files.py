"""Packets from files: single Avro files, folders of them, nightly ``.tar.gz`` archives.

ZTF publishes archived nights as tarballs of one Avro file per alert; Rubin's packets
are kept one per file in the wire format (or several in an Avro container). Each
file becomes one ``RawPacket``; the survey decoder knows what is inside. A member a
tarball cannot deliver (truncated, corrupt) becomes a ``Rejection`` and the walk
goes on with the next source.

A member whose header is corrupt does not end the archive: it is read with
``ignore_zeros``, which skips block by block to the next valid header, and every
region skipped that way (not the zero blocks that end an archive) becomes a
``Rejection`` with its byte range. (Without it, ``tarfile`` stops at the bad header
as if the archive ended there, and the rest is lost without a word.) A packet over
the maximum size is rejected without being read whole (``sources.limits``).
"""

from __future__ import annotations

import tarfile
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from boom_flow.core import RawBatch, RawPacket, Rejection
from boom_flow.sources.limits import DEFAULT_MAX_PACKET_BYTES, KEPT_BYTES, read_file, screen

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


def read_packets(paths: Iterable[Path], max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES
                 ) -> Iterator[RawPacket | Rejection]:
    """Every packet of every file, archives opened member by member."""
    for path in paths:
        if is_archive(path):
            yield from _archive_packets(path, max_packet_bytes)
        else:
            yield read_file(path, max_packet_bytes)


_BLOCK = tarfile.BLOCKSIZE


def _archive_packets(path: Path, max_packet_bytes: int) -> Iterator[RawPacket | Rejection]:
    position = 0
    try:
        with tarfile.open(path, mode="r:*", ignore_zeros=True) as archive:
            expected = 0  # where the next header should start
            for member in archive:
                if member.offset > expected:
                    yield from _skipped(archive, path, expected, member.offset)
                expected = member.offset_data + -(-member.size // _BLOCK) * _BLOCK
                if not member.isfile() or not member.name.endswith(PACKET_SUFFIXES):
                    continue
                packet, broken = _member_packet(archive, member, f"{path}!{member.name}",
                                                position, max_packet_bytes)
                yield packet
                if broken:
                    return
                position += 1
            yield from _skipped(archive, path, expected, archive.offset)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        # Raised while looking for the next member: the rest of the archive is lost,
        # what came before it was delivered.
        yield _unreadable(str(path), str(position), f"unreadable archive: {error}")


def _member_packet(archive: tarfile.TarFile, member: tarfile.TarInfo, source: str,
                   position: int, max_packet_bytes: int
                   ) -> tuple[RawPacket | Rejection, bool]:
    """The member's packet or its rejection, and whether the archive is broken there (a
    truncated or unreadable member: nothing after it can be trusted)."""
    try:
        handle = archive.extractfile(member)
        if handle is not None and member.size > max_packet_bytes:
            packet = RawPacket(data=handle.read(), source=source, position=str(position))
            _, rejected = screen([packet], max_packet_bytes)
            return rejected[0], False
        data = handle.read() if handle is not None else b""
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        return _unreadable(source, str(position), f"unreadable archive member: {error}"), True
    if len(data) != member.size:
        return _unreadable(source, str(position), f"truncated archive member: {len(data)} "
                           f"of {member.size} bytes", data), True
    return RawPacket(data=data, source=source, position=str(position)), False


def _skipped(archive: tarfile.TarFile, path: Path, start: int, end: int
             ) -> Iterator[Rejection]:
    """A rejection for the bytes between two members that ``ignore_zeros`` skipped,
    unless they are only the zero blocks (or padding) that end an archive."""
    if end <= start or archive.fileobj is None:
        return
    archive.fileobj.seek(start)
    head = archive.fileobj.read(min(end - start, KEPT_BYTES))
    if not head.strip(b"\0"):
        return
    name = head[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    yield Rejection(reason=f"corrupt archive member header at byte {start} (name field "
                           f"{name!r}): {end - start} bytes skipped to the next valid member",
                    source=f"{path}!@{start}", position=str(start), data=head,
                    length=end - start)


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
    path: Path, max_packets: int, rate: float | None = None,
    max_packet_bytes: int = DEFAULT_MAX_PACKET_BYTES,
) -> Iterator[RawBatch]:
    """Batches of the packets found under ``path`` (file, folder or archive)."""
    return batches(read_packets(discover(path), max_packet_bytes), max_packets, rate)
