"""Crossmatch throughput against a 2-million-row galaxy catalog (NED-like settings).

Usage: ``python benchmarks/crossmatch.py [--rows 2000000] [--batch 500] [--batches 20]
[--radius 300] [--dir /tmp/xm-bench]``

Generates a catalog of random positions (uniform on the sphere) with redshifts, ingests
it into the HATS-layout store (timed), then runs the crossmatch stage on batches of
``--batch`` new alerts at random positions north of -30 (ZTF's sky) with BOOM's
distance rule (radius 300", distance_max 30 kpc, distance_max_near 300"), and a 2"
star-catalog setting on the same table for comparison. Reported: the first batch (cold:
the partitions it touches are read and their KD-trees built), then the mean and worst
of the following batches (warm: partitions cached, as on a long-running worker), as
milliseconds per batch and alerts per second. One thread, as on a Dask worker.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from boom_flow.core import AlertBatch
from boom_flow.core.batch import table_from_records
from boom_flow.crossmatch.matching import CatalogSpec
from boom_flow.crossmatch.store import stage_catalog
from boom_flow.crossmatch.tables import sort_rows
from boom_flow.stages.crossmatch import Crossmatcher, open_readers


def make_catalog(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "objid": np.arange(rows, dtype=np.int64),
        "ra": rng.uniform(0.0, 360.0, rows),
        "dec": np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, rows))),
        # Most galaxies at z 0.01-0.2; some very near ones for the near-field rule.
        "z": np.exp(rng.uniform(np.log(0.002), np.log(0.3), rows)),
        "mag": rng.uniform(12.0, 22.0, rows),
    })


def make_batch(count: int, rng: np.random.Generator, first_id: int) -> AlertBatch:
    ra = rng.uniform(0.0, 360.0, count)
    dec = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(-30.0)), 1.0, count)))
    alerts = pd.DataFrame({"_id": np.arange(first_id, first_id + count),
                           "objectId": [f"ZTF{first_id + i:09d}" for i in range(count)]})
    candidates = pd.DataFrame({"ra": ra, "dec": dec, "jd": 2460000.5})
    empty = table_from_records([], ["objectId", "jd"])
    return AlertBatch(survey="ZTF", alerts=alerts, candidates=candidates, prv_candidates=empty,
                      prv_nondetections=empty, fp_hists=empty, cutouts=empty)


def run_batches(stage: Crossmatcher, batches: list[AlertBatch]) -> tuple[float, list[float], int]:
    times, matched = [], 0
    for batch in batches:
        started = time.perf_counter()
        out = stage(batch)
        times.append(time.perf_counter() - started)
        matched += sum(1 for v in out.enrichments["cross_matches"] for m in v.values() if m)
    return times[0], times[1:], matched


def report(label: str, batch: int, cold: float, warm: list[float], matched: int,
           total: int, reads: int, partitions: int) -> None:
    mean, median = statistics.mean(warm), statistics.median(warm)
    print(f"{label}: first batch (cold) {cold * 1e3:,.0f} ms; next batches "
          f"{median * 1e3:,.1f} ms median, {mean * 1e3:,.1f} ms mean, {max(warm) * 1e3:,.1f} ms "
          f"worst (a batch reaching a partition not read yet) -> {batch / mean:,.0f} alerts/s; "
          f"{reads} of {partitions} partitions read; {matched:,} of {total:,} alerts matched")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--radius", type=float, default=300.0)
    parser.add_argument("--partition-rows", type=int, default=50_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="xm-bench-"))
    try:
        started = time.perf_counter()
        table = make_catalog(args.rows, 1)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        staged = stage_catalog(root, "GALAXIES", sort_rows(table), max_rows=args.partition_rows)
        staged.commit()
        ingest = time.perf_counter() - started
        print(f"catalog: {args.rows:,} rows generated in {generated:.2f} s, stored in "
              f"{staged.partitions} partitions in {ingest:.1f} s "
              f"({args.rows / ingest:,.0f} rows/s)")
        rng = np.random.default_rng(2)
        batches = [make_batch(args.batch, rng, i * args.batch) for i in range(args.batches)]
        total = args.batch * args.batches
        settings = [
            (f"distance rule, radius {args.radius:g}\"",
             CatalogSpec("GALAXIES", args.radius, use_distance=True, distance_key="z",
                         distance_max=30.0, distance_max_near=300.0,
                         projection={"objid": 1, "z": 1})),
            ("plain 2\" cone", CatalogSpec("GALAXIES", 2.0, projection={"objid": 1})),
        ]
        for label, spec in settings:
            readers = open_readers([spec], root)
            cold, warm, matched = run_batches(Crossmatcher(readers), batches)
            reader = readers[0][1]
            report(label, args.batch, cold, warm, matched, total, reader.reads,
                   len(reader.partitions))
            cached = [reader.partition(i) for i in range(len(reader.partitions))]
            size = sum(p.table.nbytes + 2 * p.tree.data.nbytes for p in cached)
            print(f"  all partitions cached: ~{size / 2**20:,.0f} MiB "
                  f"(columns {', '.join(reader.columns)}, KD-trees)")
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
