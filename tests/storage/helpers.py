"""Hand-made ZTF-like batches: objects observed at numbered epochs.

Object ``k`` sits at a fixed position; its alert at epoch ``j`` carries the history
a ZTF packet would: the earlier detections (as history entries, with fewer fields
and rounded values than the candidate they came from), a non-detection half a day
before every epoch up to this one, and forced photometry at the earlier epochs.
Ingesting every epoch of an object, in any order and any batching, must therefore
give one light curve: the candidates' versions of every detection, all the
non-detections, and the forced points of all but the last epoch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from boom_flow.core.batch import AlertBatch, Rejection, table_from_records

SCHEMA = "4.02"
OLD_SCHEMA = "3.3"
CANDIDATE_FIELDS = ("candid", "jd", "ra", "dec", "magpsf", "sigmapsf", "fid", "programid",
                    "isdiffpos", "ssnamenr", "ndethist", "drb", "band", "psfFlux")
#: The older schema has no ``drb``: its documents must not have the field at all.
OLD_FIELDS = tuple(f for f in CANDIDATE_FIELDS if f != "drb")
HISTORY_FIELDS = ("jd", "candid", "ra", "dec", "magpsf", "sigmapsf", "fid", "programid",
                  "isdiffpos", "band", "psfFlux")
SCHEMA_FIELDS = {SCHEMA: CANDIDATE_FIELDS, OLD_SCHEMA: OLD_FIELDS}
BIG = 2**62  # candids beyond float64's exact range


def object_id(k: int) -> str:
    return f"ZTF24aaa{k:05d}"


def position(k: int) -> tuple[float, float]:
    return (15.0 + 37.0 * k) % 360.0, -25.0 + 11.0 * k


def epoch_jd(k: int, j: int) -> float:
    return 2460000.5 + j + k / 100.0


def candid(k: int, j: int) -> int:
    return BIG + 1000 * k + j


def candidate(k: int, j: int, schema: str = SCHEMA) -> dict[str, Any]:
    ra, dec = position(k)
    row = {
        "candid": candid(k, j), "jd": epoch_jd(k, j), "ra": ra, "dec": dec,
        "magpsf": 18.0 + 0.123456 * j, "sigmapsf": 0.0512345, "fid": 1 + j % 2,
        "programid": 1 + (j % 3 == 2), "isdiffpos": True, "ssnamenr": None,
        "ndethist": j + 1, "drb": 0.99, "band": "gr"[j % 2], "psfFlux": 1000.0 + j,
    }
    if schema == OLD_SCHEMA:
        del row["drb"]
    return row


def history_detection(k: int, j: int) -> dict[str, Any]:
    row = {f: candidate(k, j)[f] for f in HISTORY_FIELDS}
    row["magpsf"] = round(row["magpsf"], 2)  # history entries carry rounded values
    return {"objectId": object_id(k), **row}


def nondetection(k: int, j: int) -> dict[str, Any]:
    return {"objectId": object_id(k), "jd": epoch_jd(k, j) - 0.5, "fid": 1, "programid": 1,
            "magpsf": None, "diffmaglim": 20.5 + j / 10}


def forced(k: int, j: int) -> dict[str, Any]:
    return {"objectId": object_id(k), "jd": epoch_jd(k, j) - 0.25, "fid": 2,
            "psfFlux": 50.0 * j, "psfFluxErr": 10.0}


def ztf_batch(epochs: Iterable[tuple[int, int]], *, schemas: Sequence[str] | None = None,
              rejected: Sequence[Rejection] = (),
              enrichments: Mapping[str, Sequence[Any]] | None = None,
              cutouts: bool = True, survey: str = "ZTF", window: int | None = None,
              ) -> AlertBatch:
    """The batch of the alerts of ``epochs`` (``(object, epoch)`` pairs), in that order.

    ``window``: the packets carry the history of the last ``window`` epochs only (ZTF
    sends 30 days), so that an archive can meet points older than what it holds.
    """
    epochs = list(epochs)
    schemas = list(schemas) if schemas is not None else [SCHEMA] * len(epochs)
    alerts, candidates, detections, nondetections, forced_points, stamps = [], [], [], [], [], []
    for (k, j), schema in zip(epochs, schemas, strict=True):
        alerts.append({"_id": candid(k, j), "objectId": object_id(k), "schema": schema,
                       "source": "test", "position": f"0:{candid(k, j) - BIG}",
                       "timestamp_ms": None})
        candidates.append(candidate(k, j, schema))
        first = 0 if window is None else max(0, j - window)
        detections += [history_detection(k, i) for i in range(first, j)]
        nondetections += [nondetection(k, i) for i in range(first, j + 1)]
        forced_points += [forced(k, i) for i in range(first, j)]
        stamps.append({"_id": candid(k, j), "cutoutScience": b"sci%d" % j,
                       "cutoutTemplate": b"tmpl", "cutoutDifference": b"diff"})
    batch = AlertBatch(
        survey=survey,
        alerts=table_from_records(alerts, ["_id", "objectId", "schema", "source", "position",
                                           "timestamp_ms"]),
        candidates=table_from_records(candidates),
        prv_candidates=table_from_records(detections, ["objectId", *HISTORY_FIELDS]),
        prv_nondetections=table_from_records(nondetections),
        fp_hists=table_from_records(forced_points),
        cutouts=table_from_records(stamps if cutouts else [],
                                   ["_id", "cutoutScience", "cutoutTemplate",
                                    "cutoutDifference"]),
        schema_fields=SCHEMA_FIELDS,
        rejected=tuple(rejected),
    )
    for name, values in (enrichments or {}).items():
        batch = batch.with_enrichment(name, pd.Series(list(values), dtype=object))
    return batch


def expected_light_curve(k: int, epochs: int) -> dict[str, list[dict[str, Any]]]:
    """The aux arrays of object ``k`` once its epochs ``0 .. epochs - 1`` are stored."""
    strip = lambda row: {f: v for f, v in row.items() if f != "objectId"}  # noqa: E731
    return {
        "prv_candidates": [candidate(k, j) for j in range(epochs)],
        "prv_nondetections": [strip(nondetection(k, j)) for j in range(epochs)],
        "fp_hists": [strip(forced(k, j)) for j in range(epochs - 1)],
    }
