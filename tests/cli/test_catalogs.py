"""``boom-flow catalogs ingest|list|backfill`` against the real servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pymongo
import pytest
from click.testing import CliRunner, Result
from pymongo.database import Database

from boom_flow.cli.main import cli
from boom_flow.config import load_settings
from boom_flow.crossmatch.matching import CatalogSpec
from boom_flow.crossmatch.reader import CatalogReader
from boom_flow.crossmatch.sky import separation_arcsec
from boom_flow.pipeline.graph import GraphSpec, SourceSpec, StageSpec
from boom_flow.pipeline.run import run_pipeline
from boom_flow.storage import ensure_indexes, write_batch
from boom_flow.storage.backfill import backfill_catalog
from tests.storage.test_aliases import batch_of

pytestmark = pytest.mark.services


def run(environment: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, ["catalogs", *args], env=environment)


@pytest.fixture
def catalog_env(environment: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {**environment, "BOOM_FLOW_CROSSMATCH__CATALOGS_DIR": str(tmp_path / "catalogs")}


def brute(positions: np.ndarray, cat_ra: np.ndarray, cat_dec: np.ndarray, radius: float
          ) -> list[list[float]]:
    separation = separation_arcsec(positions[:, :1], positions[:, 1:], cat_ra[None], cat_dec[None])
    return [sorted(np.round(row[row <= radius], 6).tolist()) for row in separation]


def aux_positions(documents: list[dict[str, Any]]) -> np.ndarray:
    lon_lat = np.array([d["coordinates"]["radec_geojson"]["coordinates"] for d in documents])
    return np.column_stack([lon_lat[:, 0] + 180.0, lon_lat[:, 1]])


def test_ingested_catalogs_then_a_replay_give_the_brute_force_matches(
        catalog_env: dict[str, str], mongo_db: Database, dask_client: Any,
        shared_data: Path) -> None:
    fink = shared_data / "catalogs" / "fink"
    for name, file in (("GCVS", "gcvs.parquet"), ("SPICY", "spicy.parquet")):
        result = run(catalog_env, "ingest", str(fink / file), "--name", name, "--no-mongo")
        assert result.exit_code == 0, result.output
        assert "rows/s" in result.output and "refused" not in result.output
    listing = run(catalog_env, "list")
    assert "GCVS" in listing.output and "59,099" in listing.output
    assert "SPICY" in listing.output and "117,446" in listing.output
    environ = {**catalog_env, "BOOM_FLOW_BATCH__MAX_ALERTS": "40",
               "BOOM_FLOW_CROSSMATCH__ZTF":
                   "[{catalog: GCVS, radius: 2.0, projection: {VarType: 1}},"
                   " {catalog: SPICY, radius: 2.0, projection: {class: 1}}]"}
    settings = load_settings(environ=environ)
    for folder in ("alerts", "tarballs"):
        graph = GraphSpec(survey="ztf", source=SourceSpec(kind="files",
                                                          path=shared_data / "ztf" / folder),
                          stages=[StageSpec(name="crossmatch")])
        summary = run_pipeline(settings, graph, client=dask_client)
        assert summary.rejected == 0
    assert mongo_db.ZTF_alerts.count_documents({}) == 173
    documents = list(mongo_db.ZTF_alerts_aux.find({}, {"coordinates": 1, "cross_matches": 1}))
    positions = aux_positions(documents)
    for name, file, ra, dec in (("GCVS", "gcvs.parquet", "ra", "dec"),
                                ("SPICY", "spicy.parquet", "RAdeg", "DEdeg")):
        table = pq.read_table(fink / file)
        expected = brute(positions, table[ra].to_numpy(), table[dec].to_numpy(), 2.0)
        got = [sorted(round(m["distance_arcsec"], 6) for m in d["cross_matches"][name])
               for d in documents]
        assert got == expected
    gcvs = [d for d in documents if d["cross_matches"]["GCVS"]]
    assert gcvs and all(set(m) == {"VarType", "distance_arcsec"}
                        for d in gcvs for m in d["cross_matches"]["GCVS"])


def test_ingest_loads_a_geo_indexed_collection_and_counts_refused_rows(
        catalog_env: dict[str, str], mongo_db: Database, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    ra, dec = rng.uniform(0, 360, 300), rng.uniform(-90, 90, 300)
    lines = ["RA,DEC,name"] + [f"{r},{d},s{i}" for i, (r, d) in
                               enumerate(zip(ra, dec, strict=True))]
    lines += ["370.0,1.0,bad1", ",2.0,bad2", "nan,3.0,bad3", "4.0,-91.0,bad4"]
    (tmp_path / "stars.csv").write_text("\n".join(lines) + "\n")
    result = run(catalog_env, "ingest", str(tmp_path / "stars.csv"), "--name", "STARS")
    assert result.exit_code == 0, result.output
    assert "refused 4 rows" in result.output
    # The CSV reader reads an empty field and "nan" alike: as missing values.
    for count, reason in ((1, "RA outside [0, 360]"), (2, "RA is missing"),
                          (1, "DEC outside [-90, 90]")):
        assert f"{count}  {reason}" in result.output
    assert "collection" in result.output and "2dsphere" in result.output
    assert mongo_db.STARS.count_documents({}) == 300
    keys = [tuple(i["key"].items()) for i in mongo_db.STARS.list_indexes()]
    assert (("coordinates.radec_geojson", "2dsphere"),) in keys
    near = mongo_db.STARS.count_documents({"coordinates.radec_geojson": {"$geoWithin": {
        "$centerSphere": [[ra[0] - 180.0, dec[0]], np.radians(10.0)]}}})
    assert near == int((separation_arcsec(ra[0], dec[0], ra, dec) <= 36000.0).sum())
    listing = run(catalog_env, "list")
    assert "STARS" in listing.output and "300" in listing.output


@pytest.mark.parametrize(("content", "args", "message"), [
    ("x,y\n1,2\n", [], "cannot tell which column holds ra"),
    ("ra,dec\n1,2\n", ["--ra", "RA"], "no column 'RA' for ra"),
    ("ra,dec\n00 01 16,+29 35 34\n", [], "column 'ra' holds string, not numbers"),
    ("ra,dec\nnan,1\n500,2\n", [], "no row has a usable position"),
])
def test_bad_input_is_a_clear_error_and_loads_nothing(
        catalog_env: dict[str, str], mongo_db: Database, tmp_path: Path, content: str,
        args: list[str], message: str) -> None:
    (tmp_path / "bad.csv").write_text(content)
    result = run(catalog_env, "ingest", str(tmp_path / "bad.csv"), "--name", "BAD", *args)
    assert result.exit_code == 1
    assert message in result.output
    catalogs = Path(catalog_env["BOOM_FLOW_CROSSMATCH__CATALOGS_DIR"])
    assert not catalogs.exists() or list(catalogs.iterdir()) == []
    assert mongo_db.list_collection_names() == []


def test_a_failed_mongo_load_replaces_nothing(catalog_env: dict[str, str], mongo_db: Database,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from boom_flow.storage import catalogs as catalog_collections

    pq.write_table(pa.table({"ra": [1.0, 2.0], "dec": [3.0, 4.0]}), tmp_path / "v1.parquet")
    pq.write_table(pa.table({"ra": np.arange(30.0), "dec": np.zeros(30)}),
                   tmp_path / "v2.parquet")
    assert run(catalog_env, "ingest", str(tmp_path / "v1.parquet"), "--name", "CAT").exit_code == 0
    real_insert = pymongo.collection.Collection.insert_many
    calls = []

    def failing(self: Any, documents: Any, **kwargs: Any) -> Any:
        calls.append(len(documents))
        if len(calls) > 1:
            raise pymongo.errors.OperationFailure("disk full")
        return real_insert(self, documents, **kwargs)

    monkeypatch.setattr(catalog_collections, "DEFAULT_CHUNK_ROWS", 10)
    monkeypatch.setattr(pymongo.collection.Collection, "insert_many", failing)
    result = run(catalog_env, "ingest", str(tmp_path / "v2.parquet"), "--name", "CAT")
    assert result.exit_code == 1 and "nothing replaced" in result.output
    assert calls == [10, 10]  # it did fail half-way
    assert mongo_db.list_collection_names() == ["CAT"]  # the loading copy is gone
    assert mongo_db.CAT.count_documents({}) == 2
    root = Path(catalog_env["BOOM_FLOW_CROSSMATCH__CATALOGS_DIR"])
    assert [p.name for p in root.iterdir()] == ["CAT"]
    assert CatalogReader.open(root, "CAT").info.rows == 2


def test_backfill_adds_a_new_catalog_to_archived_objects_and_resumes(
        catalog_env: dict[str, str], mongo_db: Database, tmp_path: Path) -> None:
    ensure_indexes(mongo_db, "ZTF")
    rng = np.random.default_rng(8)
    stars_ra, stars_dec = rng.uniform(0, 360, 400), rng.uniform(-30, 90, 400)
    objects = [(f"ZTF{i:05d}", r + rng.uniform(-1, 1) / 3600, d + rng.uniform(-1, 1) / 3600)
               for i, (r, d) in enumerate(zip(stars_ra[:120], stars_dec[:120], strict=True))]
    objects += [(f"ZTF9{i:04d}", *rng.uniform([0, -30], [360, 90])) for i in range(60)]
    write_batch(mongo_db, batch_of("ZTF", objects, 1))
    pq.write_table(pa.table({"ra": stars_ra, "dec": stars_dec, "n": np.arange(400)}),
                   tmp_path / "stars.parquet")
    result = run(catalog_env, "ingest", str(tmp_path / "stars.parquet"), "--name", "NEW",
                 "--no-mongo")
    assert result.exit_code == 0, result.output
    environ = {**catalog_env, "BOOM_FLOW_CROSSMATCH__ZTF":
               "[{catalog: NEW, radius: 3.0, projection: {n: 1}}]"}
    unconfigured = run(catalog_env, "backfill", "NEW")
    assert unconfigured.exit_code == 1 and "not configured for ztf" in unconfigured.output

    # Interrupted after the first page of 50 ...
    root = Path(catalog_env["BOOM_FLOW_CROSSMATCH__CATALOGS_DIR"])
    spec = CatalogSpec("NEW", 3.0, projection={"n": 1})

    def stop(count: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_catalog(mongo_db, "ztf", spec, CatalogReader.open(root, "NEW"), page=50,
                         progress=stop)
    assert mongo_db.ZTF_alerts_aux.count_documents({"cross_matches.NEW": {"$exists": True}}) == 50
    # ... then the command finishes the rest, and a second run has nothing left to do.
    result = CliRunner().invoke(cli, ["catalogs", "backfill", "NEW", "--page", "50"],
                                env=environ)
    assert result.exit_code == 0, result.output
    assert "180 objects scanned" in result.output and "130 back-filled" in result.output
    assert "50 already had NEW" in result.output
    again = CliRunner().invoke(cli, ["catalogs", "backfill", "NEW"], env=environ)
    assert "0 back-filled" in again.output and "180 already had NEW" in again.output
    documents = list(mongo_db.ZTF_alerts_aux.find({}, {"coordinates": 1, "cross_matches": 1}))
    expected = brute(aux_positions(documents), stars_ra, stars_dec, 3.0)
    got = [sorted(round(m["distance_arcsec"], 6) for m in d["cross_matches"]["NEW"])
           for d in documents]
    assert got == expected
    assert sum(1 for e in expected if e) >= 120


def test_values_mongodb_cannot_store_fail_cleanly(catalog_env: dict[str, str],
                                                  mongo_db: Database, tmp_path: Path) -> None:
    import datetime

    pq.write_table(pa.table({"ra": [1.0], "dec": [2.0],
                             "day": pa.array([datetime.date(2020, 1, 2)], pa.date32())}),
                   tmp_path / "dates.parquet")
    result = run(catalog_env, "ingest", str(tmp_path / "dates.parquet"), "--name", "DATES")
    assert result.exit_code == 1
    assert "MongoDB load of DATES failed, nothing replaced" in result.output
    assert mongo_db.list_collection_names() == []
    assert list(Path(catalog_env["BOOM_FLOW_CROSSMATCH__CATALOGS_DIR"]).iterdir()) == []
    # The partitioned store alone can hold them.
    assert run(catalog_env, "ingest", str(tmp_path / "dates.parquet"), "--name", "DATES",
               "--no-mongo").exit_code == 0
