"""Cost per alert of evaluating real filter pipelines with 1, 25 and 250 active copies.

Usage: ``python benchmarks/filters.py [--batch 1000] [--copies 1 25 250] [--repeat 3]
[--shared ../shared/data]``

The real ZTF packets under ``../shared/data/ztf`` are decoded and repeated up to the
batch size; each alert's filter document (alert + the history the batch carries, as
the filter stage builds it, ``FilterDocuments``) is built once. Each filter is compiled
once per copy (as the live stage holds one compiled pipeline per active filter) and
run over the batch, per document, or after the vectorised mask of its first ``$match``
over the ``candidate.*`` columns (columns built once per batch, not timed); the best
of ``--repeat`` runs, in process CPU time (the machine is shared), divided by the
number of alerts. One thread, no database.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from boom_flow.config import shared_data_dir
from boom_flow.core import RawPacket
from boom_flow.filters.documents import FilterDocuments
from boom_flow.filters.mql import compile_pipeline
from boom_flow.sources.files import discover, read_packets
from boom_flow.surveys import build_survey

FILTERS = ("cats150.pipeline.json", "fast.json")


def documents(shared: Path, size: int) -> list[dict]:
    packets = [p for p in read_packets(discover(shared / "ztf" / "alerts"))
               if isinstance(p, RawPacket)]
    batch = build_survey("ztf").decode(packets)
    _, docs = FilterDocuments.from_batch(batch).documents((1, 2, 3))
    return (docs * (size // len(docs) + 1))[:size]


def candidate_columns(docs: list[dict]) -> dict[str, pd.Series]:
    """``candidate.*`` as columns, as a stage would take them from the batch's table."""
    fields = {field for doc in docs for field in doc["candidate"]}
    return {f"candidate.{field}": pd.Series([doc["candidate"].get(field) for doc in docs])
            for field in fields}


def best_cpu(repeat: int, work: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        work()  # type: ignore[operator]
        times.append(time.process_time() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 25, 250])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shared", type=Path,
                        default=shared_data_dir())
    args = parser.parse_args()
    docs = documents(args.shared, args.batch)
    columns = candidate_columns(docs)
    print(f"{len(docs)} ZTF filter documents (real alerts, repeated), best of {args.repeat}, "
          "CPU time, 1 thread")
    for name in FILTERS:
        text = (args.shared / "filters" / name).read_text()
        started = time.perf_counter()
        compile_pipeline(text)
        compile_ms = (time.perf_counter() - started) * 1e3
        passed = len(compile_pipeline(text).run(docs))
        print(f"{name}: compile {compile_ms:.2f} ms, {passed} of {len(docs)} pass")
        for copies in args.copies:
            pipelines = [compile_pipeline(json.loads(text)) for _ in range(copies)]

            def per_document(pipelines: list = pipelines) -> None:
                for pipeline in pipelines:
                    pipeline.run_each(docs)

            def masked(pipelines: list = pipelines) -> None:
                for pipeline in pipelines:
                    pipeline.run_each(docs, pipeline.prefilter(columns, len(docs)))
            for label, work in (("per document", per_document), ("column mask first", masked)):
                seconds = best_cpu(args.repeat if copies < 100 else 1, work)
                per_alert = seconds / len(docs)
                print(f"  {copies:4d} cop{'y' if copies == 1 else 'ies'}, {label:17}: "
                      f"{per_alert * 1e6:9.1f} us/alert  ({per_alert / copies * 1e6:5.1f} us "
                      f"per alert per filter; {seconds:6.2f} s for the batch)")


if __name__ == "__main__":
    main()
