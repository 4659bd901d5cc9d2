"""Which (candid, filter) results went to Kafka, kept in MongoDB beside the archive.

Exactly-once publication needs a record of what was published that lives as long as
the archive does: Valkey is a cache (it may restart empty, or lose its last seconds),
and a batch re-read after such a loss would publish every pass again. So the record
is one document per alert that passed a filter, in ``{S}_results_published``:

    {_id: candid, filters: {<filter_id>: "pending:<ms>" | "delivered"}}

- ``pending:<ms>``: written before producing; a crash leaves it, and the next delivery
  reads the topic back from that time to learn whether Kafka got the record;
- ``delivered``: written once Kafka confirmed delivery (``flush`` and every delivery
  report without error), never before.

Costs per batch: one ``find`` by ``_id``, and one unordered bulk per state change,
only for alerts that passed a filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

PENDING = "pending:"
DELIVERED = "delivered"

Pair = tuple[int, str]


def ledger_name(survey: str) -> str:
    return f"{survey.upper()}_results_published"


def _field(filter_id: str) -> str:
    """A filter id as a field name (ids are UUIDs; escape what MongoDB reserves)."""
    return filter_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def _filter_id(field: str) -> str:
    return field.replace("%24", "$").replace("%2E", ".").replace("%25", "%")


class PublicationLedger:
    """The publication states of (candid, filter_id) pairs for one survey."""

    def __init__(self, db: Database, survey: str) -> None:
        self.collection: Collection = db[ledger_name(survey)]

    def states(self, candids: Iterable[int]) -> dict[Pair, str]:
        """The recorded state of every pair of these alerts (absent: never published)."""
        found: dict[Pair, str] = {}
        for document in self.collection.find({"_id": {"$in": sorted(set(candids))}}):
            for field, state in document.get("filters", {}).items():
                found[(int(document["_id"]), _filter_id(field))] = state
        return found

    def mark(self, pairs: Mapping[int, Iterable[str]], state: str) -> None:
        """Record ``state`` for these pairs (candid -> filter ids), one bulk write."""
        ops = [UpdateOne({"_id": candid},
                         {"$set": {f"filters.{_field(f)}": state for f in filter_ids}},
                         upsert=True)
               for candid, filter_ids in pairs.items() if filter_ids]
        if ops:
            self.collection.bulk_write(ops, ordered=False)

    def pending_since(self, state: Any) -> int | None:
        """The time (ms) of a pending state, None for any other."""
        if isinstance(state, str) and state.startswith(PENDING):
            return int(state[len(PENDING):])
        return None
