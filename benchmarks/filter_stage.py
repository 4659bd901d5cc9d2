"""Cost per alert of the filter stage with 1, 25 and 250 active filters (single thread).

Usage: ``python benchmarks/filter_stage.py [--batch 500] [--repeat 3] [--shared ../shared/data]``

The real ZTF packets under ``../shared/data/ztf/alerts`` are decoded once and repeated
up to the batch size, each copy with an alert id of its own (so every alert is
evaluated; copies share their object's light curve). Filters are copies of the real
``cats150`` filter (``copies``: the stage evaluates identical pipelines once), or
(``distinct``) ``cats150`` each with its own ``drb`` threshold, so every filter is
evaluated; or (``mixed``) copies of ``cats150`` and ``fast`` with three permission sets.
Reported: the best of ``--repeat`` runs of ``filter_batch`` (documents, evaluation,
result light curves) and of the evaluation alone, divided by the batch size.
"""

from __future__ import annotations

import argparse
import copy
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
from timing import best_of

from boom_flow.config import shared_data_dir
from boom_flow.core import AlertBatch, RawPacket
from boom_flow.filters.active import ActiveFilter, build_active_filter
from boom_flow.filters.documents import FilterDocuments
from boom_flow.filters.evaluate import RESULTS, evaluate
from boom_flow.stages.filter import filter_batch
from boom_flow.surveys import build_survey

RIGHTS = ([1], [1, 2], [1, 2, 3])


def distinct_batch(shared: Path, size: int) -> AlertBatch:
    paths = sorted((shared / "ztf" / "alerts").rglob("*.avro"))
    packets = [RawPacket(p.read_bytes(), str(p)) for p in paths]
    packets = (packets * (size // len(packets) + 1))[:size]
    batch = build_survey("ztf").decode(packets)
    ids = [int(i) + (n // len(paths)) * 10**15 for n, i in enumerate(batch.alerts["_id"])]
    alerts = batch.alerts.assign(_id=pd.array(ids, dtype="int64[pyarrow]"))
    cutouts = batch.cutouts.assign(_id=pd.array(ids, dtype="int64[pyarrow]"))
    return replace(batch, alerts=alerts, cutouts=cutouts)


def make_filters(shared: Path, count: int, kind: str) -> list[ActiveFilter]:
    pipelines = [json.loads((shared / "filters" / name).read_text())
                 for name in ("cats150.pipeline.json", "fast.json")]
    filters = []
    for i in range(count):
        mixed = kind == "mixed"
        pipeline = copy.deepcopy(pipelines[i % 2] if mixed else pipelines[0])
        if kind == "distinct":
            pipeline[0]["$match"]["candidate.drb"] = {"$gt": 0.5 + i * 1e-6}
        rights = RIGHTS[i % 3] if mixed else [1, 2, 3]
        filters.append(build_active_filter({
            "_id": f"f{i}", "name": f"f{i}", "survey": "ZTF", "permissions": {"ZTF": rights},
            "active_fid": "v", "fv": [{"fid": "v", "pipeline": pipeline}]}))
    return filters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared", type=Path,
                        default=shared_data_dir())
    args = parser.parse_args()
    batch = distinct_batch(args.shared, args.batch)
    n = len(batch)
    documents_s = best_of(args.repeat, lambda: FilterDocuments.from_batch(batch).documents(
        (1, 2, 3)))
    print(f"batch of {n} real ZTF alerts; documents (one permission set): "
          f"{documents_s / n * 1e3:.3f} ms/alert")
    print(f"{'filters':>8} {'kind':>8} {'evaluate ms/alert':>18} {'stage ms/alert':>15} "
          f"{'alerts/s':>9} {'passed':>7}")
    cases = [(1, "copies"), (25, "copies"), (250, "copies"), (25, "distinct"),
             (250, "distinct"), (25, "mixed"), (250, "mixed")]
    for count, kind in cases:
        filters = make_filters(args.shared, count, kind)

        def evaluation(filters: list[ActiveFilter] = filters) -> object:
            documents = FilterDocuments.from_batch(batch)
            for rights in {f.programids for f in filters}:
                documents.documents(rights)  # built before the clock matters below
            return documents

        prepared = evaluation()
        evaluate_s = best_of(args.repeat, lambda f=filters, d=prepared: evaluate(d, f, 0))
        stage_s = best_of(args.repeat, lambda f=filters: filter_batch(batch, f, 0))
        out = filter_batch(batch, filters, 0)
        passed = sum(1 for r in out.enrichments[RESULTS].tolist() if r)
        print(f"{count:>8} {kind:>8} {evaluate_s / n * 1e3:>18.3f} "
              f"{stage_s / n * 1e3:>15.3f} {n / stage_s:>9.0f} {passed:>7}")


if __name__ == "__main__":
    main()
