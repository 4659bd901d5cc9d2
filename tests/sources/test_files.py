"""File sources: single packets, folders, nightly archives, truncated members, pacing."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path

import pytest

from boom_flow.core import RawPacket, Rejection
from boom_flow.sources.files import batches, discover, file_batches, read_packets


def _archive(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_folder_gives_every_packet_file_and_archive_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "night" / "sub").mkdir(parents=True)
    (tmp_path / "night" / "b.avro").write_bytes(b"B")
    (tmp_path / "night" / "sub" / "a.avro").write_bytes(b"A")
    (tmp_path / "night" / "notes.txt").write_text("not a packet")
    _archive(tmp_path / "night" / "c.tar.gz", {"c1.avro": b"C1", "readme": b"x", "c2.avro": b"C2"})
    items = list(read_packets(discover(tmp_path / "night")))
    assert [i.data for i in items if isinstance(i, RawPacket)] == [b"B", b"C1", b"C2", b"A"]
    assert items[1].source.endswith("c.tar.gz!c1.avro")
    assert items[2].position == "1"


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        discover(tmp_path / "nope")


def test_a_truncated_archive_keeps_what_came_before_and_rejects_the_rest(tmp_path: Path) -> None:
    full = _archive(tmp_path / "full.tar.gz",
                    {"a.avro": b"A" * 5000, "b.avro": bytes(range(256)) * 400})
    truncated = tmp_path / "truncated.tar.gz"
    data = full.read_bytes()
    truncated.write_bytes(data[: len(data) - 600])
    items = list(read_packets([truncated]))
    packets = [i for i in items if isinstance(i, RawPacket)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [p.data for p in packets] == [b"A" * 5000]
    assert len(rejections) == 1
    assert "truncated" in rejections[0].reason or "unreadable" in rejections[0].reason
    assert "truncated.tar.gz" in rejections[0].source


def test_batches_hold_at_most_n_packets_and_carry_rejections() -> None:
    items = [RawPacket(bytes([i]), "s") for i in range(5)]
    items.insert(2, Rejection("bad", "s", "2", b""))
    out = list(batches(items, max_packets=2))
    assert [len(b.packets) for b in out] == [2, 2, 1]
    assert [len(b.rejected) for b in out] == [0, 1, 0]


def test_a_rate_paces_the_replay() -> None:
    items = [RawPacket(b"x", "s") for _ in range(10)]
    started = time.monotonic()
    assert sum(len(b.packets) for b in batches(items, max_packets=2, rate=50)) == 10
    assert time.monotonic() - started >= 10 / 50 * 0.9


def test_shared_ztf_folder_and_tarballs_are_all_read(shared_data: Path) -> None:
    alerts = sum(len(b.packets) for b in file_batches(shared_data / "ztf" / "alerts", 50))
    tarballs = list(file_batches(shared_data / "ztf" / "tarballs", 50))
    assert alerts == len(list((shared_data / "ztf" / "alerts").rglob("*.avro")))
    assert sum(len(b.packets) for b in tarballs) == 52
    assert not any(b.rejected for b in tarballs)


def _corrupt_second_header(path: Path) -> bytes:
    """A tarball whose 2nd member header has a wrong checksum (as in issue 16)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for i in range(5):
            data = bytes([65 + i]) * (700 + i)
            info = tarfile.TarInfo(f"{i}.avro")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    raw = bytearray(buffer.getvalue())
    second = 512 + 1024  # header, then 700 bytes padded to two blocks
    assert raw[second:second + 5] == b"1.avr"
    raw[second + 148:second + 156] = b"0000000\0"  # the checksum field
    return bytes(raw)


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz"])
def test_a_corrupt_member_header_is_rejected_and_the_rest_is_read(tmp_path: Path,
                                                                  suffix: str) -> None:
    raw = _corrupt_second_header(tmp_path)
    path = tmp_path / f"night{suffix}"
    if suffix == ".tar.gz":
        import gzip
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    items = list(read_packets([path]))
    packets = [i for i in items if isinstance(i, RawPacket)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [p.data[:1] for p in packets] == [b"A", b"C", b"D", b"E"]
    assert len(rejections) == 1
    assert "corrupt archive member header at byte 1536" in rejections[0].reason
    assert "'1.avro'" in rejections[0].reason
    assert rejections[0].length == 512 + 1024  # the header and the member's two blocks
    assert rejections[0].data.startswith(b"1.avro")


def test_an_oversized_packet_file_is_rejected_cut_with_its_hash(tmp_path: Path) -> None:
    import hashlib

    from boom_flow.sources.limits import KEPT_BYTES
    junk = tmp_path / "junk.avro"
    junk.write_bytes(bytes(range(256)) * (3 * KEPT_BYTES // 256))
    (tmp_path / "ok.avro").write_bytes(b"fine")
    items = list(read_packets(discover(tmp_path), max_packet_bytes=2 * KEPT_BYTES))
    rejection, packet = items
    assert isinstance(packet, RawPacket) and packet.data == b"fine"
    assert isinstance(rejection, Rejection)
    assert "exceeds the maximum" in rejection.reason
    assert len(rejection.data) == KEPT_BYTES
    assert rejection.length == 3 * KEPT_BYTES
    assert rejection.sha256 == hashlib.sha256(junk.read_bytes()).hexdigest()
    assert "data" not in repr(rejection)


def test_an_oversized_archive_member_is_rejected_cut(tmp_path: Path) -> None:
    from boom_flow.sources.limits import KEPT_BYTES
    path = _archive(tmp_path / "big.tar.gz", {"a.avro": b"A", "b.avro": b"B" * (KEPT_BYTES + 9),
                                              "c.avro": b"C"})
    items = list(read_packets([path], max_packet_bytes=KEPT_BYTES))
    assert [i.data for i in items if isinstance(i, RawPacket)] == [b"A", b"C"]
    (rejection,) = [i for i in items if isinstance(i, Rejection)]
    assert rejection.length == KEPT_BYTES + 9 and len(rejection.data) == KEPT_BYTES
