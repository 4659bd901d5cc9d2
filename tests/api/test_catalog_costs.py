"""What ``/catalogs?get_details=true`` and ``estimated_count`` cost (issue 16: 15.5 s
and 11 s): counted from the view's condition, never by running the view's joins, and
no ``collStats`` where the size is not shown. Checked on the commands the server gets,
not on timings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymongo
import pytest
from pymongo import monitoring

from boom_flow.api import archive
from boom_flow.api.rights import Rights
from boom_flow.api.routes import catalogs
from boom_flow.api.routes.catalogs import SizeCache, _details
from boom_flow.config import Settings

pytestmark = pytest.mark.services


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def watched(stack_settings: Settings) -> Iterator[tuple[Any, Commands]]:
    commands = Commands()
    client = pymongo.MongoClient(stack_settings.services.mongodb.connection_uri,
                                 event_listeners=[commands])
    db = client[f"costs_{uuid.uuid4().hex[:8]}"]
    db.ZTF_alerts.insert_many([{"_id": i, "objectId": f"Z{i % 5}",
                                "candidate": {"programid": 1 + i % 3}} for i in range(30)])
    db.ZTF_alerts_cutouts.insert_many([{"_id": i, "cutoutScience": b"x"} for i in range(30)])
    db.ZTF_alerts_aux.insert_many([{"_id": f"Z{k}", "prv_candidates": [
        {"jd": 1.0, "programid": 2 if k == 4 else 1}]} for k in range(5)])
    commands.seen.clear()
    yield db, commands
    client.drop_database(db.name)
    client.close()


def test_a_restricted_estimated_count_runs_no_join(watched: tuple[Any, Commands]) -> None:
    db, commands = watched
    public = Rights(frozenset({1}))
    assert archive.estimated_count(db, "ZTF_alerts_cutouts", public) == 10
    assert archive.estimated_count(db, "ZTF_alerts_aux", public) == 4
    assert archive.estimated_count(db, "ZTF_alerts", public) == 10
    text = repr(commands.seen)
    assert "$lookup" not in text and "$filter" not in text


def test_details_read_no_size_they_do_not_show_and_reuse_sizes(
        watched: tuple[Any, Commands], monkeypatch: pytest.MonkeyPatch) -> None:
    db, commands = watched
    public, admin = Rights(frozenset({1})), Rights(None)
    monkeypatch.setattr(catalogs, "_SIZES", SizeCache())
    shown = _details(db, "ZTF_alerts_cutouts", public)
    assert shown["size"] is None and shown["count"] == 10
    assert not [c for c in commands.seen if "collStats" in c]
    first = _details(db, "ZTF_alerts", admin)
    again = _details(db, "ZTF_alerts", admin)
    assert first == again and first["size"] > 0 and first["count"] == 30
    assert len([c for c in commands.seen if "collStats" in c]) == 1
