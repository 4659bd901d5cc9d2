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
