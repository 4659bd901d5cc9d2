"""No result depends on how the batch path is run: the real ZTF alerts through the
whole graph (decode, history, aliases, crossmatch, features, ACAI and BTSbot, a real
filter, write, publish) on Dask with the default batches and through the stage
functions called by hand in one process (same batches) store the same documents and
publish the same results; so does Dask with tiny batches on two workers, except for
which fields of a history point are stored as null (a batch's history table has the
union of its packets' fields: that always depended on the batch cut)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pyarrow.parquet as pq
import pymongo
import pytest
import redis

from boom_flow.config import Settings, load_settings
from boom_flow.crossmatch.matching import CatalogSpec
from boom_flow.filters.ledger import PublicationLedger
from boom_flow.filters.live import LiveFilters
from boom_flow.filters.publish import ResultsPublisher, connection_config, ensure_topic
from boom_flow.filters.results import results_topic
from boom_flow.filters.store import FilterStore
from boom_flow.ml.registry import load_all
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import run_pipeline
from boom_flow.sources.files import file_batches
from boom_flow.stages.classify import Classifier
from boom_flow.stages.crossmatch import Crossmatcher, open_readers
from boom_flow.stages.features import features_stage
from boom_flow.stages.filter import filter_batch
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.aliases import AliasSearch, find_aliases, write_aliases
from boom_flow.storage.known import load_known
from boom_flow.surveys import build_survey, get_survey
from tests.crossmatch.helpers import ingest
from tests.filters.helpers import real_pipeline
from tests.pipeline.equivalence import (
    canonical_archive,
    canonical_results,
    without_null_point_fields,
)

STAGES = ("crossmatch", "features", "classify", "filter")
CATALOGS = (("GCVS", "gcvs.parquet"), ("SPICY", "spicy.parquet"))


@pytest.fixture
def night(environment: dict[str, str], shared_data: Path, tmp_path: Path
          ) -> dict[str, str]:
    """The configuration every run shares: models, two real catalogs, the stack."""
    for name, file in CATALOGS:
        table = pq.read_table(shared_data / "catalogs" / "fink" / file)
        ingest(tmp_path, name, {c: table[c] for c in table.column_names})
    return {
        **environment,
        "BOOM_FLOW_MODELS__MODELS_DIR": str(shared_data / "models" / "onnx"),
        "BOOM_FLOW_CROSSMATCH__CATALOGS_DIR": str(tmp_path),
        "BOOM_FLOW_CROSSMATCH__ZTF": "[{catalog: GCVS, radius: 2.0},"
                                     " {catalog: SPICY, radius: 2.0}]",
    }


@pytest.fixture
def databases(night: dict[str, str]) -> Iterator[list[str]]:
    settings = load_settings(environ=night)
    names: list[str] = []
    yield names
    with pymongo.MongoClient(settings.services.mongodb.connection_uri) as client:
        for name in names:
            client.drop_database(name)


def _run_settings(night: dict[str, str], databases: list[str], label: str,
                  **overrides: str) -> Settings:
    database = f"{night['BOOM_FLOW_SERVICES__MONGODB__DATABASE']}_{label}"
    databases.append(database)
    return load_settings(environ={**night, "BOOM_FLOW_SERVICES__MONGODB__DATABASE": database,
                                  **overrides})


def _filters(settings: Settings, db: Any, valkey: redis.Redis, shared: Path) -> dict[str, str]:
    ensure_indexes(db, "ZTF")
    created = FilterStore(db, valkey).create(
        name="cats150", survey="ZTF", user_id="u", permissions={"ZTF": [1, 2, 3]},
        pipeline=real_pipeline(shared, "cats150.pipeline.json"))
    return {"cats150": created["_id"]}


def _on_dask(settings: Settings, client: Any, valkey: redis.Redis, shared: Path
             ) -> dict[str, Any]:
    with pymongo.MongoClient(settings.services.mongodb.connection_uri) as mongo:
        db = mongo[settings.services.mongodb.database]
        filters = _filters(settings, db, valkey, shared)
        source = SourceSpec(kind="files", path=shared / "ztf" / "alerts")
        graph = GraphSpec(survey="ztf", source=source,
                          stages=[StageSpec(name=name) for name in STAGES])
        summary = run_pipeline(settings, graph, client=client)
        assert summary.alerts > 100
        return {"archive": canonical_archive(db, "ztf"),
                "results": canonical_results(valkey, filters), "batches": summary.batches}


def _by_hand(settings: Settings, valkey: redis.Redis, shared: Path, batch_alerts: int
             ) -> dict[str, Any]:
    """The stage functions called in order in this process, without Stage classes,
    plugin, streamz or Dask."""
    config = settings.crossmatch
    specs = [CatalogSpec(**entry.model_dump()) for entry in config.ztf]
    matcher = Crossmatcher(open_readers(specs, config.catalogs_dir))
    models = [s.model_dump(mode="json") for s in settings.models.ztf]
    classifier = Classifier(tuple(load_all(models, settings.models.models_dir)[0]))
    search = AliasSearch.between(get_survey("ztf"), get_survey("lsst"))
    survey = build_survey("ztf")
    kafka = settings.services.kafka.producer_config()
    ensure_topic(kafka, results_topic("ZTF"))
    producer = confluent_kafka.Producer(kafka)
    with pymongo.MongoClient(settings.services.mongodb.connection_uri) as mongo:
        db = mongo[settings.services.mongodb.database]
        publisher = ResultsPublisher(producer, valkey, PublicationLedger(db, "ZTF"), "ZTF",
                                     consumer_config=connection_config(kafka))
        filters = _filters(settings, db, valkey, shared)
        live = LiveFilters(db.filters, valkey, "ZTF")
        for raw in file_batches(shared / "ztf" / "alerts", batch_alerts):
            batch = survey.decode(raw.packets).with_rejections(raw.rejected)
            batch = find_aliases(db, load_known(db, batch), search)
            batch = classifier(features_stage(matcher(batch)))
            batch = filter_batch(batch, live(), int(time.time() * 1000))
            write_batch(db, batch)
            write_aliases(db, batch, search)
            publisher(batch)
        producer.flush(10)
        return {"archive": canonical_archive(db, "ztf"),
                "results": canonical_results(valkey, filters)}


# Three runs of the whole graph with every model: about a minute on 2 idle cores, far
# more on a shared, loaded machine.
@pytest.mark.timeout(900)
def test_documents_and_results_do_not_depend_on_how_the_batch_path_runs(
        night: dict[str, str], databases: list[str], dask_client: Any,
        valkey: redis.Redis, shared_data: Path) -> None:
    default = _on_dask(_run_settings(night, databases, "default"), dask_client, valkey,
                       shared_data)
    tiny = _on_dask(_run_settings(night, databases, "tiny", BOOM_FLOW_BATCH__MAX_ALERTS="25",
                                  BOOM_FLOW_BATCH__MAX_IN_FLIGHT="1"),
                    dask_client, valkey, shared_data)
    assert tiny["batches"] > default["batches"] >= 1
    reference = _by_hand(_run_settings(night, databases, "by_hand"), valkey, shared_data,
                         batch_alerts=500)
    archive = reference["archive"]
    assert len(archive["alerts"]) > 100 and archive["alerts_aux"] and archive["alerts_cutouts"]
    scored = [d for d in archive["alerts"] if d.get("classifications")]
    assert len(scored) > 80
    assert any(d["cross_matches"] for d in archive["alerts_aux"] if d.get("cross_matches"))
    assert reference["results"]["cats150"], "the filter passes some alerts"
    for kind, documents in archive.items():
        assert default["archive"][kind] == documents, kind
    assert default["results"] == reference["results"]
    loose = without_null_point_fields(archive)
    for kind, documents in without_null_point_fields(tiny["archive"]).items():
        assert documents == loose[kind], kind
    assert tiny["results"] == reference["results"]
