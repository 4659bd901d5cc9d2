"""ZTF nights: one Avro container (schema 4.02) per alert, as ZTF distributes them.

The plan and every field are drawn columnar up front; history entries
(``prv_candidates``, ``fp_hists``) are encoded once per observation, a column at a
time (``columnar_avro``), and the same bytes go into every later alert of the object,
so the histories of an object's alerts agree entry for entry. Alerts are then
assembled in chunks: stamps for a chunk from one generator seeded by (seed, chunk),
each record's Avro bytes joined field by field in schema order, each packet a
container whose header (schema and codec) is built once.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from boom_flow.simulate import avro, stamps
from boom_flow.simulate import ztf_columns as zc
from boom_flow.simulate.columnar_avro import encode_rows
from boom_flow.simulate.plan import HISTORY_DAYS, VARIABLE, Plan, make_plan
from boom_flow.simulate.schemas import ztf as schema
from boom_flow.simulate.spec import KINDS, NightSpec, SimulatedAlert

BAND_WEIGHTS = np.array([0.45, 0.5, 0.05])
DEC_RANGE = (-30.0, 90.0)
CHUNK = 256
ARCSEC_PER_PIXEL = 1.01
#: Fields a history entry without a detection still has (the image's facts).
NONDETECTION_FIELDS = ("jd", "fid", "pid", "diffmaglim", "pdiffimfilename", "programpi",
                       "programid", "nid", "rcid", "field", "magzpsci", "magzpsciunc",
                       "magzpscirms", "clrcoeff", "clrcounc", "rbversion")
#: History entries carry no solar-system match (as in real 4.02 packets).
NULL_IN_HISTORY = ("ssdistnr", "ssmagnr", "ssnamenr")
FORCED_SENTINEL = -99999.0
FORCED_FAILURE_RATE = 0.05


class ZtfNight:
    """Everything drawn for one night, ready to be cut into packets."""

    def __init__(self, spec: NightSpec) -> None:
        self.spec = spec
        rng = np.random.default_rng([spec.seed, 0])
        self.plan = plan = make_plan(spec, rng, 3, BAND_WEIGHTS, DEC_RANGE)
        # Objects come from a stream of their own: the same seed and size give the same
        # objects (names, positions, kinds, hosts) whatever the night and its history,
        # so earlier nights simulated separately revisit them.
        objects_rng = np.random.default_rng([spec.seed, 2])
        self.object_ids = zc.object_ids(plan, objects_rng, spec.night_jd)
        self.objects = zc.object_columns(plan, objects_rng)
        self.exposures = exposures = zc.exposure_columns(plan, rng)
        self.columns = cols = zc.observation_columns(plan, rng, self.objects, exposures,
                                                            seed=spec.seed)
        cols["rbversion"] = np.full(len(plan.obj), zc.RB_VERSION)
        cols["drbversion"] = np.full(len(plan.obj), zc.DRB_VERSION)
        self.history = history_records(plan, cols)
        self.forced = forced_records(plan, cols, exposures, rng)
        self.history_start = history_starts(plan)
        self.header = avro.container_header(schema.schema_json())
        self.head = avro.string(schema.VERSION) + avro.string(zc.PUBLISHER)

    def alerts(self) -> Iterator[SimulatedAlert]:
        rows = self.plan.alert_rows
        for index, start in enumerate(range(0, len(rows), CHUNK)):
            yield from self._chunk(index, rows[start:start + CHUNK])

    def _chunk(self, index: int, rows: np.ndarray) -> Iterator[SimulatedAlert]:
        plan, cols = self.plan, self.columns
        rng = np.random.default_rng([self.spec.seed, 1, index])
        images = stamps.make_images(rng, self._stamp_inputs(rows))
        science, template, difference = (stamps.gzipped_fits(stack) for stack in images)
        syncs = rng.bytes(16 * len(rows))
        candidates = encode_rows(schema.CANDIDATE, {name: cols[name][rows] for name in
                                                    schema.field_names(schema.CANDIDATE)})
        kinds = plan.kind_names(rows).tolist()
        starts = self.history_start[rows].tolist()
        facts = zip(rows.tolist(), starts, cols["candid"][rows].tolist(),
                    cols["pid"][rows].tolist(), cols["isdiffpos"][rows].tolist(),
                    cols["jd"][rows].tolist(), strict=True)
        for i, (row, start, candid, pid, isdiffpos, jd) in enumerate(facts):
            object_id = self.object_ids[plan.obj[row]]
            # Field by field in schema order; history entries were encoded once.
            payload = b"".join((
                self.head, avro.string(object_id), avro.encode_long(candid), candidates[i],
                avro.optional_array(self.history[start:row]),
                avro.optional_array(self.forced[start:row]),
                cutouts(candid, pid, isdiffpos, science[i], template[i], difference[i]),
            ))
            packet = avro.container(self.header, syncs[16 * i:16 * i + 16], payload)
            yield SimulatedAlert(packet=packet, alert_id=candid, object_id=object_id,
                                 jd=jd, kind=kinds[i])

    def _stamp_inputs(self, rows: np.ndarray) -> stamps.StampInputs:
        plan, cols = self.plan, self.columns
        zp = cols["magzpsci"][rows]
        sign = np.where(plan.positive[rows], 1.0, -1.0)
        psf_sigma = cols["fwhm"][rows] / 2.355
        offset = cols["distnr"][rows] / ARCSEC_PER_PIXEL
        angle = np.arctan2(cols["decnr"][rows] - cols["dec"][rows],
                           cols["ranr"][rows] - cols["ra"][rows])
        star = plan.obj_kind[plan.obj[rows]] == VARIABLE
        extent = np.where(star, psf_sigma * 0.95, 1.5 + (plan.obj[rows] % 7) * 0.4)
        return stamps.StampInputs(
            flux=sign * 10 ** (-0.4 * (cols["magpsf"][rows] - zp)),
            ref_flux=10 ** (-0.4 * (cols["magnr"][rows] - zp)), ref_sigma=extent,
            ref_dx=offset * np.cos(angle), ref_dy=offset * np.sin(angle), psf_sigma=psf_sigma,
            sky=self.exposures["scibckgnd"][rows], noise=self.exposures["scisigpix"][rows],
        )


def cutouts(candid: int, pid: int, isdiffpos: str, science: bytes, template: bytes,
            difference: bytes) -> bytes:
    """The three cutout records (each a non-null union branch), with the file names
    ZTF gives its stamps."""
    sense = "scimref" if isdiffpos == "t" else "refmsci"
    names = (f"candid{candid}_pid{pid}_targ_sci.fits.gz", f"candid{candid}_ref.fits.gz",
             f"candid{candid}_pid{pid}_targ_{sense}.fits.gz")
    return b"".join(b"\x02" + avro.string(name) + avro.encode_bytes(data)
                    for name, data in zip(names, (science, template, difference), strict=True))


def history_records(plan: Plan, cols: dict[str, np.ndarray]) -> list[bytes]:
    """One encoded ``prv_candidate`` per observation: detections in full,
    non-detections with the image's facts only."""
    # History entries name the archived, compressed image.
    archived = np.array([f"/ztf/archive/sci/{n[4:8]}/{n[8:12]}/{n[12:18]}/{n}.fz"
                         for n in cols["pdiffimfilename"].tolist()])
    keep = set(NONDETECTION_FIELDS)
    missing = ~plan.detected
    always = np.ones(len(plan.obj), dtype=bool)
    nulls = {name: missing for name in schema.field_names(schema.PRV_CANDIDATE)
             if name not in keep}
    nulls.update({name: always for name in NULL_IN_HISTORY})
    return encode_rows(schema.PRV_CANDIDATE, {**cols, "pdiffimfilename": archived}, nulls,
                       n=len(plan.obj))


def forced_records(plan: Plan, cols: dict[str, np.ndarray], exposures: dict[str, np.ndarray],
                   rng: np.random.Generator) -> list[bytes]:
    """One encoded ``fp_hist`` per observation: the forced PSF flux at the object's
    position (DN at the image's zero point), detected or not; a few failed
    measurements carry ZTF's -99999 sentinel."""
    n = len(plan.obj)
    zp = cols["magzpsci"]
    error = 10 ** (-0.4 * (plan.limit - zp)) / 5.0
    sign = np.where(plan.positive, 1.0, -1.0)
    flux = sign * 10 ** (-0.4 * (np.minimum(plan.true_mag, 40.0) - zp)) \
        + rng.normal(0, 1, n) * error
    failed = rng.random(n) < FORCED_FAILURE_RATE
    sentinel = lambda values: np.where(failed, FORCED_SENTINEL, values)  # noqa: E731
    view = {
        **cols, **exposures, "sciinpseeing": plan.seeing,
        "forcediffimflux": sentinel(flux), "forcediffimfluxunc": sentinel(error),
        "procstatus": np.where(failed, "61", "0"),
        **{name: sentinel(cols[name]) for name in ("distnr", "ranr", "decnr", "magnr",
                                                   "sigmagnr", "chinr", "sharpnr")},
    }
    return encode_rows(schema.FP_HIST, view, n=n)


def history_starts(plan: Plan) -> np.ndarray:
    """For each row, the first row of the same object within the history window
    (rows are sorted by object, then jd): its history is ``rows[start:row]``."""
    if not len(plan.obj):
        return np.zeros(0, np.int64)
    key = plan.obj * 1e5 + (plan.jd - plan.jd.min())
    return np.searchsorted(key, key - HISTORY_DAYS, side="right")


def ztf_alerts(spec: NightSpec) -> Iterator[SimulatedAlert]:
    """The night's alerts in arrival order."""
    return ZtfNight(spec).alerts()


__all__ = ["KINDS", "ZtfNight", "ztf_alerts"]
