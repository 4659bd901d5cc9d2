"""Cost per alert of the classify path: triplets, each model, features (single thread).

Usage: ``python benchmarks/classify.py [--batch 500] [--repeat 5] [--shared ../shared/data]
[--runs 1,8,16,32,500]``

The real ZTF packets under ``../shared/data/ztf/alerts`` are decoded once and repeated
up to the batch size (their stamps, candidates and light curves are real); each step
runs ``--repeat`` times on the whole batch and the best time is reported, divided by
the batch size. onnxruntime and XGBoost run with one thread, as on a Dask worker.

``--runs`` also times each ONNX model at those run sizes (``OnnxModel.sub_batch``: how
many alerts go into one onnxruntime call) and checks that every size gives the same
scores bit for bit; ``SUB_BATCH`` was chosen from this table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from timing import best_of

from boom_flow.config import load_settings, shared_data_dir
from boom_flow.core import CUTOUTS, RawPacket
from boom_flow.ml.models import OnnxModel
from boom_flow.ml.registry import load_all
from boom_flow.ml.triplets import prepare_triplets
from boom_flow.stages.classify import feature_table
from boom_flow.stages.features import features_stage
from boom_flow.surveys import build_survey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shared", type=Path,
                        default=shared_data_dir())
    parser.add_argument("--runs", default="1,8,16,32,128,500",
                        help="run sizes to time each ONNX model at (comma separated)")
    args = parser.parse_args()
    paths = sorted((args.shared / "ztf" / "alerts").rglob("*.avro"))
    packets = [RawPacket(p.read_bytes(), str(p)) for p in paths]
    packets = (packets * (args.batch // len(packets) + 1))[: args.batch]
    batch = build_survey("ztf").decode(packets)
    n = len(batch)
    stamps = list(zip(*(batch.cutouts[c].tolist() for c in CUTOUTS), strict=True))
    specs = [s.model_dump(mode="json") for s in load_settings(environ={}).models.ztf]
    models, problems = load_all(specs, args.shared / "models" / "onnx", threads=1)
    if problems:
        raise SystemExit("; ".join(problems))
    print(f"batch of {n} ZTF alerts ({len(paths)} distinct packets), best of {args.repeat}, "
          "1 thread")
    rows = [("decode (for reference)", best_of(args.repeat,
                                               lambda: build_survey("ztf").decode(packets)))]
    rows.append(("triplets (3 stamps)", best_of(args.repeat, lambda: prepare_triplets(stamps))))
    rows.append(("features stage", best_of(args.repeat, lambda: features_stage(batch))))
    triplets, _, _ = prepare_triplets(stamps)
    enriched = features_stage(batch)
    columns = sorted({c for m in models for c in m.columns})
    table = feature_table(enriched, columns)
    for model in models:
        scores = model.predict(table, triplets)
        assert np.isfinite(scores).any()
        rows.append((f"model {model.name}", best_of(args.repeat,
                                                    lambda m=model: m.predict(table, triplets))))
    total = sum(seconds for name, seconds in rows[1:])
    for name, seconds in [*rows, ("total (triplets + features + models)", total)]:
        print(f"  {name:38} {seconds / n * 1e3:8.3f} ms/alert  ({seconds:.3f} s/batch)")
    runs = [int(size) for size in args.runs.split(",") if size]
    print(f"ms/alert by run size (alerts per onnxruntime call): {runs}")
    for model in models:
        if not isinstance(model, OnnxModel):
            continue
        default, reference, cells = model.sub_batch, None, []
        for size in runs:
            model.sub_batch = size
            scores = model.predict(table, triplets)
            reference = scores if reference is None else reference
            same = np.array_equal(scores, reference, equal_nan=True)
            seconds = best_of(args.repeat, lambda m=model: m.predict(table, triplets))
            cells.append(f"{seconds / n * 1e3:7.3f}{'' if same else ' (scores differ!)'}")
        model.sub_batch = default
        print(f"  {model.name:10} " + " ".join(cells))


if __name__ == "__main__":
    main()
