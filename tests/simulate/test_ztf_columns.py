"""Field distributions of simulated ZTF packets against the real ones in ../shared/data.

The real set is small (121 packets, picked by brokers for various reasons), so the
checks are about ranges, not shapes: the bulk (5th-95th percentile) of each simulated
field must lie within the real range (widened by 15% of it), and its median inside
the real bulk. Null rates are compared with the real 4.02 packets field by field.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from boom_flow.simulate.schemas import ztf as ztf_schema
from tests.simulate.conftest import ZTF_SPEC

KEY_FIELDS = (
    "magpsf", "sigmapsf", "diffmaglim", "fwhm", "rb", "drb", "sgscore1", "distpsnr1",
    "magnr", "distnr", "magap", "sigmagap", "scorr", "elong", "classtar", "sky", "magzpsci",
    "ncovhist", "ndethist", "seeratio", "sumrat", "mindtoedge", "neargaia", "maggaia",
    "exptime", "nneg", "nframesref", "sgscore2", "clrcoeff", "magzpscirms",
)


def values(candidates: list[dict[str, Any]], name: str) -> np.ndarray:
    return np.array([c[name] for c in candidates if c.get(name) is not None], dtype=float)


@pytest.fixture(scope="module")
def real_candidates(real_ztf: list[tuple[Path, bytes, dict]]) -> list[dict[str, Any]]:
    return [record["candidate"] for _, _, record in real_ztf]


@pytest.fixture(scope="module")
def candidates(ztf_records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record["candidate"] for record in ztf_records]


@pytest.mark.parametrize("name", KEY_FIELDS)
def test_key_fields_lie_in_the_real_range(name: str, candidates: list[dict[str, Any]],
                                          real_candidates: list[dict[str, Any]]) -> None:
    real, ours = values(real_candidates, name), values(candidates, name)
    low, high = real.min(), real.max()
    slack = 0.15 * (high - low)
    p5, p50, p95 = np.percentile(ours, [5, 50, 95])
    r5, r95 = np.percentile(real, [5, 95])
    assert low - slack <= p5 and p95 <= high + slack, (name, (low, high), (p5, p95))
    assert r5 - slack <= p50 <= r95 + slack, (name, (r5, r95), p50)


def test_null_rates_match_the_real_402_packets(candidates: list[dict[str, Any]],
                                               real_402: list[tuple[Path, bytes, dict]]
                                               ) -> None:
    real = [record["candidate"] for _, _, record in real_402]
    for name in ztf_schema.field_names(ztf_schema.CANDIDATE):
        real_rate = np.mean([c.get(name) is None for c in real])
        our_rate = np.mean([c.get(name) is None for c in candidates])
        assert abs(real_rate - our_rate) <= 0.1, (name, real_rate, our_rate)


def test_placeholders_are_written_like_ztf(candidates: list[dict[str, Any]],
                                           real_candidates: list[dict[str, Any]]) -> None:
    """ZTF writes -999 and the string "null" where no solar-system object was found."""
    real_names = Counter(c.get("ssnamenr") for c in real_candidates)
    assert real_names.most_common(1)[0][0] == "null"
    ours = Counter(c["ssnamenr"] for c in candidates)
    assert ours["null"] > 0.8 * len(candidates)
    nothing = [c for c in candidates if c["ssnamenr"] == "null"]
    assert {c["ssdistnr"] for c in nothing} == {-999.0}
    assert {c["isdiffpos"] for c in candidates} == {"t", "f"}
    assert {c["fid"] for c in candidates} <= {1, 2, 3}


def test_the_programid_mix_follows_the_weights(candidates: list[dict[str, Any]]) -> None:
    counts = Counter(c["programid"] for c in candidates)
    assert set(counts) == {1, 2, 3}
    total = sum(counts.values())
    for programid, weight in zip((1, 2, 3), ZTF_SPEC.programid_weights, strict=True):
        assert abs(counts[programid] / total - weight) < 0.06, counts


def test_histories_look_like_real_ones(ztf_records: list[dict[str, Any]],
                                       real_402: list[tuple[Path, bytes, dict]]) -> None:
    """Entries carry the same fields; non-detections only the image's facts."""
    real_entry = next(e for _, _, r in real_402 for e in r["prv_candidates"]
                      if e["magpsf"] is None)
    ours = [e for r in ztf_records for e in (r["prv_candidates"] or [])]
    ours_nondetection = next(e for e in ours if e["magpsf"] is None)
    assert set(ours_nondetection) == set(real_entry)
    real_present = {k for k, v in real_entry.items() if v is not None}
    our_present = {k for k, v in ours_nondetection.items() if v is not None}
    assert our_present == real_present
    forced = [e for r in ztf_records for e in (r["fp_hists"] or [])]
    assert forced
    sentinel = [e for e in forced if e["forcediffimflux"] == -99999.0]
    assert 0 < len(sentinel) < 0.15 * len(forced)
    assert {e["procstatus"] for e in sentinel} == {"61"}
