"""Simulated ZTF packets against the real schema 4.02 and the project's decoder."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
from astropy.io import fits

from boom_flow.core.batch import RawPacket
from boom_flow.simulate import NightSpec, SimulatedAlert, simulate_night
from boom_flow.simulate.schemas import ztf as ztf_schema
from boom_flow.surveys import build_survey

CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


def payload(packet: bytes) -> io.BytesIO:
    """The record bytes of a one-record container (its only block)."""
    blocks = list(fastavro.block_reader(io.BytesIO(packet)))
    assert len(blocks) == 1 and blocks[0].num_records == 1
    return blocks[0].bytes_


def without_docs(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: without_docs(v) for k, v in schema.items()
                if k not in ("doc", "default", "__named_schemas")}
    if isinstance(schema, list):
        return [without_docs(item) for item in schema]
    return schema


def test_the_schema_has_the_real_fields_types_and_order(real_writer_schema: Any) -> None:
    ours = fastavro.parse_schema(ztf_schema.alert_schema())
    assert without_docs(ours) == without_docs(fastavro.parse_schema(real_writer_schema))


def test_packets_decode_with_the_real_writer_schema(ztf_night: list[SimulatedAlert],
                                                    ztf_records: list[dict[str, Any]],
                                                    real_writer_schema: Any) -> None:
    real = fastavro.parse_schema(real_writer_schema)
    for alert, ours in zip(ztf_night, ztf_records, strict=True):
        stream = payload(alert.packet)
        record = fastavro.schemaless_reader(stream, real)
        assert stream.read() == b""  # every byte used: binary-identical layout
        assert record == ours
        assert record["candid"] == alert.alert_id == record["candidate"]["candid"]
        assert record["objectId"] == alert.object_id


def test_packets_pass_the_project_decoder(ztf_night: list[SimulatedAlert]) -> None:
    packets = [RawPacket(alert.packet, f"sim:{alert.alert_id}") for alert in ztf_night]
    batch = build_survey("ztf").decode(packets)
    assert not batch.rejected
    assert len(batch) == len(ztf_night)
    assert set(batch.alerts["schema"]) == {"4.02"}
    assert batch.alerts["_id"].tolist() == [alert.alert_id for alert in ztf_night]
    assert len(batch.prv_candidates) and len(batch.prv_nondetections) and len(batch.fp_hists)
    assert batch.candidates["psfFlux"].notna().all()
    assert set(batch.candidates["band"]) <= {"g", "r", "i"}
    assert batch.fp_hists["psfFlux"].notna().all()  # sentinels dropped, the rest converted


def test_alerts_arrive_in_time_order_with_unique_ids(ztf_night: list[SimulatedAlert]) -> None:
    jds = [alert.jd for alert in ztf_night]
    assert jds == sorted(jds)
    assert len({alert.alert_id for alert in ztf_night}) == len(ztf_night)
    night = ztf_night[0].jd
    assert all(night - 0.01 < jd < night + 0.5 for jd in jds)


def test_stamps_are_gzipped_fits_with_a_point_source(ztf_records: list[dict[str, Any]]
                                                     ) -> None:
    peaks_at_centre = 0
    for record in ztf_records[:60]:
        for name in CUTOUTS:
            cutout = record[name]
            assert cutout["fileName"].startswith(f"candid{record['candid']}")
            assert cutout["fileName"].endswith(".fits.gz")
            with fits.open(io.BytesIO(gzip.decompress(cutout["stampData"]))) as hdus:
                assert len(hdus) == 1
                assert hdus[0].header["BUNIT"] == "DN"
                image = hdus[0].data
                assert image.shape == (63, 63) and image.dtype == np.dtype(">f4")
        with fits.open(io.BytesIO(gzip.decompress(record["cutoutDifference"]["stampData"]))) as h:
            difference = h[0].data.astype(float)
        sign = 1.0 if record["candidate"]["isdiffpos"] == "t" else -1.0
        y, x = np.unravel_index(np.argmax(sign * difference), difference.shape)
        peaks_at_centre += abs(y - 31) <= 2 and abs(x - 31) <= 2
    # Faint detections can lose their peak to noise; nearly all must be centred.
    assert peaks_at_centre >= 50


def test_stamp_and_packet_sizes_are_real_sized(ztf_records: list[dict[str, Any]],
                                               ztf_night: list[SimulatedAlert],
                                               real_ztf: list[tuple[Path, bytes, dict]]
                                               ) -> None:
    real_stamps = [len(r[name]["stampData"]) for _, _, r in real_ztf for name in CUTOUTS]
    ours = [len(r[name]["stampData"]) for r in ztf_records for name in CUTOUTS]
    assert np.min(real_stamps) * 0.8 < np.median(ours) < np.max(real_stamps)
    assert np.percentile(ours, 5) > 0.6 * np.percentile(real_stamps, 5)
    assert np.percentile(ours, 95) < 1.3 * np.percentile(real_stamps, 95)
    real_sizes = [len(data) for _, data, _ in real_ztf]
    sizes = [len(alert.packet) for alert in ztf_night]
    assert np.percentile(real_sizes, 10) * 0.85 < np.median(sizes) < max(real_sizes)
    assert 55_000 < np.median(sizes) < 85_000


def test_the_same_seed_gives_the_same_bytes() -> None:
    spec = NightSpec(n_alerts=80, seed=5, prior_nights=2)
    first = [alert.packet for alert in simulate_night(spec)]
    assert first == [alert.packet for alert in simulate_night(spec)]
    other = [alert.packet for alert in simulate_night(NightSpec(n_alerts=80, seed=6,
                                                                prior_nights=2))]
    assert other != first
    assert len(set(first) & set(other)) == 0


def test_the_header_holds_our_schema_file() -> None:
    """The container header carries the project's schema text, parsed once."""
    packet = next(iter(simulate_night(NightSpec(n_alerts=3))))
    header_schema = fastavro.reader(io.BytesIO(packet.packet)).writer_schema
    assert header_schema["version"] == "4.02"
    assert json.loads(ztf_schema.schema_json())["fields"][4]["name"] == "candidate"
    assert ztf_schema.parsed_schema() is ztf_schema.parsed_schema()


@pytest.mark.parametrize("bad", [
    {"survey": "decam"}, {"n_alerts": -1}, {"n_objects": 0}, {"prior_nights": -2},
    {"programid_weights": (0.0, 0.0, 0.0)}, {"lsst_schema_version": "7"},
])
def test_a_bad_spec_is_refused_with_the_reason(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
        NightSpec(**bad)


def test_an_empty_night_is_empty() -> None:
    assert list(simulate_night(NightSpec(n_alerts=0))) == []


def test_two_seeds_of_one_night_share_no_candid() -> None:
    """Issue 16: ZTF candids collided across seeds for the same night."""
    ids = [{a.alert_id for a in simulate_night(NightSpec(survey="ztf", n_alerts=300, seed=seed))}
           for seed in (0, 1, 7)]
    assert all(len(found) == 300 for found in ids)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert all(0 < i < 2**63 for found in ids for i in found)
