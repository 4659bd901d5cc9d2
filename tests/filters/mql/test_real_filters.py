"""The three real filters on every real alert of ``../shared/data``: our evaluator and the
server over the same documents give the same passing alerts and the same output.

The server builds each alert's input document (``archive.input_prefix``); we run the
user's stages on exactly those documents, the server runs them after its prefix.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pymongo
import pytest
from pymongo.database import Database

from boom_flow.config import Settings
from boom_flow.filters.mql import EvaluationError, compile_pipeline, compile_stages
from tests.filters.mql.archive import input_prefix, store_real_alerts
from tests.filters.mql.conftest import canonical


@pytest.fixture(scope="module")
def archive(stack_settings: Settings, shared_data: Path) -> Iterator[Database]:
    mongo = stack_settings.services.mongodb
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.connection_uri)
    name = f"test_mql_real_{uuid.uuid4().hex[:10]}"
    client.drop_database(name)
    try:
        counts = store_real_alerts(client[name], shared_data)
        assert counts["ZTF"] > 100 and counts["LSST"] > 50, counts
        yield client[name]
    finally:
        client.drop_database(name)
        client.close()


def candidate_columns(documents: list[dict[str, Any]]) -> dict[str, pd.Series]:
    fields = {field for doc in documents for field in doc["candidate"]}
    return {f"candidate.{field}": pd.Series([doc["candidate"].get(field) for doc in documents])
            for field in fields}


def dotted(pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same pipeline with nested inclusion projections (``candidate: {jd: 1}``)
    spelled with dotted paths (``candidate.jd: 1``), which MongoDB treats identically;
    SecantusDB takes the nested spelling for an object literal (test_documented.py)."""
    rewritten = copy.deepcopy(pipeline)
    for stage in rewritten:
        spec = stage.get("$project")
        if spec is None:
            continue
        for key in list(spec):
            value = spec[key]
            if isinstance(value, dict) and value and all(
                    isinstance(v, (bool, int)) for v in value.values()):
                del spec[key]
                spec.update({f"{key}.{sub}": flag for sub, flag in value.items()})
    return rewritten


#: (survey, filter file, extra server-side stage making the documents, fewest passing)
CASES = [
    ("ZTF", "fast.json", None, 1),
    ("ZTF", "cats150.pipeline.json", None, 10),
    # No real LSST alert passes: the bright ones (magpsf <= 18.5) carry no reliability
    # score. The second case gives those a score (server side) so the passing path runs.
    ("LSST", "lsst.json", None, 0),
    ("LSST", "lsst.json", {"$set": {"candidate.reliability": {
        "$ifNull": ["$candidate.reliability", 0.9]}}}, 1),
]


@pytest.mark.parametrize(("survey", "name", "variant", "fewest"), CASES,
                         ids=[f"{c[1]}{'+reliability' if c[2] else ''}" for c in CASES])
def test_real_filter_parity(archive: Database, shared_data: Path, survey: str, name: str,
                            variant: dict[str, Any] | None, fewest: int) -> None:
    pipeline = json.loads((shared_data / "filters" / name).read_text())
    alerts = archive[f"{survey}_alerts"]
    prefix = input_prefix(survey, alerts.distinct("_id")) + ([variant] if variant else [])
    documents = list(alerts.aggregate(prefix))
    assert len(documents) == alerts.count_documents({})

    compiled = compile_pipeline(pipeline)
    outcomes = compiled.run_each(documents)
    assert not [o for o in outcomes if isinstance(o, EvaluationError)]
    # the vectorised first $match, on columns as pandas builds them, drops no passing alert
    mask = compiled.prefilter(candidate_columns(documents), len(documents))
    assert compiled.run_each(documents, mask) == outcomes
    if name != "lsst.json":
        assert not mask.all()
    ours = [o for o in outcomes if o is not None]
    theirs = list(alerts.aggregate(prefix + dotted(pipeline)))

    assert canonical(ours) == canonical(theirs)
    assert fewest <= len(ours) < len(documents), (name, len(ours), len(documents))
    # the rewritten spelling means the same to us
    assert canonical(compile_stages(dotted(pipeline)).run(documents)) == canonical(ours)
    for out in ours:
        assert set(out) <= {"_id", "objectId", "annotations"}
        assert out["objectId"] is not None
    print(f"{name}{' (variant)' if variant else ''}: {len(ours)} of {len(documents)} pass")
