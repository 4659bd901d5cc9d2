"""Parity harness: the same pipeline through the real MongoDB-compatible server and ours.

``parity`` holds a collection on the session's SecantusDB (a database of this module's
own, dropped at the end). ``parity.check(docs, pipeline)`` stores the documents, runs the
pipeline in the server and in ``boom_flow.filters.mql`` over the documents as the server
returns them, and asserts the same outputs. Where the server fails the aggregate (a
run-time error), each document is run alone so that the documents that fail are
compared one by one with our per-document ``EvaluationError``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import pymongo
import pytest
from bson import Decimal128
from pymongo.errors import OperationFailure

from boom_flow.config import Settings
from boom_flow.filters.mql import EvaluationError, PipelineError, compile_stages


def canonical(value: Any) -> Any:
    """A comparable form that keeps BSON types apart (``1`` vs ``1.0`` vs ``true``)."""
    if isinstance(value, dict):
        return {key: canonical(item) for key, item in value.items()}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float):
        return ("double", "nan" if value != value else value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, Decimal128):  # by value: 1.5625 == 1.5625000
        return ("decimal", value.to_decimal())
    return (type(value).__name__, value)


class Parity:
    def __init__(self, collection: pymongo.collection.Collection) -> None:
        self.collection = collection
        self._stored: list[dict[str, Any]] | None = None
        self._key: list[int] | None = None

    def store(self, docs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Put ``docs`` in the collection (if not already) and read them back, by _id."""
        key = [id(doc) for doc in docs]
        if self._key != key:
            self.collection.delete_many({})
            if docs:
                self.collection.insert_many([dict(doc) for doc in docs])
            self._stored = list(self.collection.find().sort("_id", 1))
            self._key = key
        assert self._stored is not None
        return self._stored

    def server(self, pipeline: list[dict[str, Any]], ids: Sequence[Any] | None = None,
               ) -> list[dict[str, Any]]:
        prefix: list[dict[str, Any]] = [{"$sort": {"_id": 1}}]
        if ids is not None:
            prefix.insert(0, {"$match": {"_id": {"$in": list(ids)}}})
        return list(self.collection.aggregate(prefix + pipeline))

    def check(self, docs: Sequence[dict[str, Any]], pipeline: list[dict[str, Any]],
              ) -> list[dict[str, Any]]:
        """Assert equal outputs (types included); returns them."""
        stored = self.store(docs)
        ours = compile_stages(pipeline).run_each(stored)
        try:
            theirs = self.server(pipeline)
        except OperationFailure:
            self._check_one_by_one(stored, pipeline, ours)
            return []
        failed = [o for o in ours if isinstance(o, EvaluationError)]
        assert not failed, f"we failed where the server did not: {failed[0]}"
        ours_out = [o for o in ours if o is not None]
        assert canonical(ours_out) == canonical(theirs), pipeline
        return theirs

    def check_refused(self, docs: Sequence[dict[str, Any]], pipeline: list[dict[str, Any]],
                      ) -> PipelineError:
        """Assert the server refuses the pipeline and so do we, before any document."""
        self.store(docs)
        with pytest.raises(OperationFailure):
            self.server(pipeline)
        with pytest.raises(PipelineError) as refused:
            compile_stages(pipeline)
        return refused.value

    def _check_one_by_one(self, stored: list[dict[str, Any]], pipeline: list[dict[str, Any]],
                          ours: list[Any]) -> None:
        server_failed = 0
        for doc, outcome in zip(stored, ours, strict=True):
            try:
                theirs = self.server(pipeline, ids=[doc["_id"]])
            except OperationFailure as error:
                server_failed += 1
                assert isinstance(outcome, EvaluationError), (
                    f"server failed on {doc['_id']!r} ({error}) but we gave {outcome!r}")
                continue
            assert not isinstance(outcome, EvaluationError), (
                f"we failed on {doc['_id']!r} ({outcome}) but the server gave {theirs}")
            assert canonical([outcome] if outcome is not None else []) == canonical(theirs)
        assert server_failed, "the server failed the whole aggregate but no single document"


@pytest.fixture(scope="module")
def parity(stack_settings: Settings) -> Iterator[Parity]:
    mongo = stack_settings.services.mongodb
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.connection_uri)
    name = f"test_mql_{uuid.uuid4().hex[:10]}"
    try:
        yield Parity(client[name]["docs"])
    finally:
        client.drop_database(name)
        client.close()
