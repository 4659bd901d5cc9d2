"""Splitting a raw batch by the workers that own its objects."""

from __future__ import annotations

from boom_flow.core import RawBatch, RawPacket, Rejection
from boom_flow.pipeline.routing import owner, split_by_owner

WORKERS = ["tcp://10.0.0.2:4000", "tcp://10.0.0.1:4000", "tcp://10.0.0.3:4000"]


def _packet(object_id: str | None, n: int) -> RawPacket:
    return RawPacket(f"{object_id}|{n}".encode(), "test", position=str(n))


def _key(packet: RawPacket) -> str | None:
    text = packet.data.decode().split("|")[0]
    return None if text == "None" else text


def test_every_object_goes_to_its_owner_in_every_batch() -> None:
    objects = [f"ZTF24obj{i:03d}" for i in range(60)]
    first = RawBatch(tuple(_packet(o, i) for i, o in enumerate(objects)))
    second = RawBatch(tuple(_packet(o, i) for i, o in enumerate(reversed(objects))))
    places: dict[str, set[str]] = {}
    for raw in (first, second):
        for worker, part in split_by_owner(raw, WORKERS, _key):
            for packet in part.packets:
                places.setdefault(_key(packet) or "", set()).add(worker)
    assert all(len(workers) == 1 for workers in places.values())
    # Whatever order the workers were listed in, and whoever asks.
    for o in objects:
        (worker,) = places[o]
        assert worker == sorted(WORKERS)[owner(o, 3)]
    assert len({w for ws in places.values() for w in ws}) == 3


def test_parts_keep_the_batch_order_and_lose_nothing() -> None:
    raw = RawBatch(tuple(_packet(o, i) for i, o in enumerate("ABCABCAAB")),
                   rejected=(Rejection("cut", "test", "9", b""),), commit=7)
    parts = split_by_owner(raw, WORKERS[:2], _key)
    packets = [p for _, part in parts for p in part.packets]
    assert sorted(packets, key=lambda p: int(p.position)) == list(raw.packets)
    for _, part in parts:
        assert [int(p.position) for p in part.packets] == sorted(
            int(p.position) for p in part.packets)
    # The source's own rejections travel once, with the first part.
    assert parts[0][1].rejected == raw.rejected
    assert all(not part.rejected for _, part in parts[1:])


def test_packets_without_a_key_fill_the_smallest_parts() -> None:
    keyed = [_packet("A", i) for i in range(4)]
    unkeyed = [_packet(None, 10 + i) for i in range(6)]
    parts = split_by_owner(RawBatch(tuple(keyed + unkeyed)), WORKERS[:2], _key)
    assert sorted(len(part.packets) for _, part in parts) == [5, 5]


def test_one_worker_or_none() -> None:
    raw = RawBatch((_packet("A", 0),))
    assert split_by_owner(raw, WORKERS[:1], _key) == [(WORKERS[0], raw)]
    assert split_by_owner(raw, [], _key) == []
    only_rejections = RawBatch((), rejected=(Rejection("cut", "test", "0", b""),))
    assert split_by_owner(only_rejections, WORKERS, _key) == [(sorted(WORKERS)[0],
                                                               only_rejections)]
