"""The night as a plan of objects and observations, survey-agnostic and columnar.

Everything here is NumPy arrays over objects or over observations, drawn once from
one seeded generator: the survey modules turn the plan into packets. An observation
is an epoch at which a survey looked at an object: tonight's detections are the
alerts; earlier epochs (tonight's and ``prior_nights``') are the history the packets
carry. Light curves are in *difference* magnitudes (the brightness in the
difference image) with a sign, which is what ZTF's ``magpsf``/``isdiffpos`` and
Rubin's signed ``psfFlux`` report.

Kinds and how they behave:
- transient: a host galaxy nearby; rising (peak ahead) or fading (peak behind),
  linear in magnitude; earlier epochs fainter than the limit are non-detections.
- variable: on a star (sgscore ~ 1); the difference flux is the star's flux times
  a sinusoidal variation, so it changes sign; long detection history.
- bogus: subtraction artefacts: random brightness and sign, rarely seen twice.
- moving: asteroids: one alert each, never again at the same position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boom_flow.simulate.spec import KINDS, NightSpec

TRANSIENT, VARIABLE, BOGUS, MOVING = range(4)
#: Share of tonight's alerts from moving objects, and kinds of the other objects.
MOVING_SHARE = 0.08
STATIC_KIND_SHARES = {TRANSIENT: 0.35, VARIABLE: 0.40, BOGUS: 0.25}
#: The observing window of a night, in days after ``night_jd``.
WINDOW = (0.15, 0.48)
EXPOSURE_DAYS = 40.0 / 86400.0
#: How far back a packet's history reaches (ZTF: 30 days).
HISTORY_DAYS = 30.0
#: Astrometric scatter of one detection (arcsec, per axis).
ASTROMETRIC_SIGMA = 0.12
#: Fraction of history epochs at which the object fell on the detector twice (g and r).
PAIRED_EPOCHS = 0.6
#: Share of objects also covered tonight by a shallow exposure that missed them.
SHALLOW_SHARE = 0.5
#: What an epoch is: one of tonight's alerts, an earlier night's, a shallow one tonight.
ALERT, EARLIER, SHALLOW = 0, 1, 2


@dataclass(frozen=True)
class Plan:
    """Objects (``obj_*``, one entry per object) and observations (one row per epoch,
    sorted by object then ``jd``); ``alert`` marks tonight's detections."""

    obj_kind: np.ndarray
    obj_ra: np.ndarray
    obj_dec: np.ndarray
    #: Reference magnitude of what sits under the object (host galaxy or star).
    obj_ref_mag: np.ndarray
    #: Variables: JD of the first detection ever (years ago); others: NaN.
    obj_first_jd: np.ndarray
    #: Variables: detections before the plan's earliest epoch.
    obj_old_detections: np.ndarray
    obj: np.ndarray
    jd: np.ndarray
    band: np.ndarray
    programid: np.ndarray
    limit: np.ndarray
    #: The model's difference magnitude (also where nothing was detected).
    true_mag: np.ndarray
    #: Measured ``magpsf`` (NaN where nothing was detected) and its error.
    mag: np.ndarray
    sigma: np.ndarray
    positive: np.ndarray
    detected: np.ndarray
    alert: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    #: Index of the exposure an epoch belongs to (same value, same image).
    exposure: np.ndarray
    seeing: np.ndarray
    #: Row index of each alert, in arrival order (jd, then row).
    alert_rows: np.ndarray

    @property
    def n_objects(self) -> int:
        return len(self.obj_kind)

    def kind_names(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(KINDS)[self.obj_kind[self.obj[rows]]]


def make_plan(spec: NightSpec, rng: np.random.Generator, n_bands: int,
              band_weights: np.ndarray, dec_range: tuple[float, float]) -> Plan:
    """The whole night, drawn from ``rng``."""
    visits, kind = _objects_and_visits(spec, rng)
    n_obj = len(kind)
    ra, dec = _positions(rng, n_obj, dec_range)
    # Asteroids move on: each night's are somewhere else (the other objects stay put).
    moving = kind == MOVING
    night_rng = np.random.default_rng([spec.seed, 3, round(spec.night_jd * 1e5)])
    ra[moving], dec[moving] = _positions(night_rng, int(moving.sum()), dec_range)
    lc = _light_curves(rng, kind, spec.night_jd + np.mean(WINDOW))
    tonight = _tonight_times(rng, spec.night_jd, visits)
    history_obj, history_jd = _history_epochs(rng, spec, n_obj)
    shallow_obj, shallow_jd = _shallow_epochs(rng, spec.night_jd, n_obj)
    obj = np.concatenate([np.repeat(np.arange(n_obj), visits), history_obj, shallow_obj])
    jd = np.concatenate([tonight, history_jd, shallow_jd])
    kinds_of_row = np.concatenate([np.full(len(tonight), ALERT),
                                   np.full(len(history_jd), EARLIER),
                                   np.full(len(shallow_jd), SHALLOW)])
    # By object and time; one epoch per object and exposure (an alert wins a tie).
    order = np.lexsort((kinds_of_row, jd, obj))
    obj, jd, kinds_of_row = obj[order], jd[order], kinds_of_row[order]
    first = np.r_[True, (obj[1:] != obj[:-1]) | (jd[1:] != jd[:-1])] if len(obj) else \
        np.zeros(0, bool)
    obj, jd, kinds_of_row = obj[first], jd[first], kinds_of_row[first]
    alert = kinds_of_row == ALERT
    n = len(obj)
    band = rng.choice(n_bands, size=n, p=band_weights)
    weights = np.asarray(spec.programid_weights, dtype=float)
    programid = rng.choice(3, size=n, p=weights / weights.sum()) + 1
    limit = np.clip(rng.normal(20.3, 0.45, n), 17.5, 21.3)
    true_mag, positive = _difference_mags(rng, lc, kind, obj, jd)
    # Shallow exposures (clouds, twilight) did not reach the object.
    shallow = kinds_of_row == SHALLOW
    limit = np.where(shallow, np.minimum(limit, true_mag - rng.uniform(0.3, 1.2, n)), limit)
    true_mag, detected, mag, sigma = _photometry(rng, kind[obj], alert, limit, true_mag)
    scatter = rng.normal(0, ASTROMETRIC_SIGMA / 3600.0, (2, n))
    cos_dec = np.cos(np.radians(dec[obj]))
    row_ra = (ra[obj] + scatter[0] / np.maximum(cos_dec, 1e-3)) % 360.0
    row_dec = np.clip(dec[obj] + scatter[1], -90.0, 90.0)
    exposure = np.round((jd - spec.night_jd) / EXPOSURE_DAYS).astype(np.int64)
    seeing = _per_exposure(rng, exposure, lambda m: np.clip(rng.lognormal(np.log(2.3), 0.3, m),
                                                            1.1, 6.5))
    alert_rows = np.flatnonzero(alert)
    alert_rows = alert_rows[np.argsort(jd[alert_rows], kind="stable")]
    return Plan(
        obj_kind=kind, obj_ra=ra, obj_dec=dec, obj_ref_mag=lc["ref_mag"],
        obj_first_jd=lc["first_jd"], obj_old_detections=lc["old_detections"],
        obj=obj, jd=jd, band=band, programid=programid, limit=limit, true_mag=true_mag,
        mag=mag, sigma=sigma, positive=positive, detected=detected, alert=alert, ra=row_ra,
        dec=row_dec, exposure=exposure, seeing=seeing, alert_rows=alert_rows,
    )


def _photometry(rng: np.random.Generator, kind: np.ndarray, alert: np.ndarray,
                limit: np.ndarray, true_mag: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What the survey measured: detected above 5 sigma (artefacts rarely twice,
    asteroids never at the same place), magnitudes with their errors."""
    n = len(kind)
    detected = 5.0 * 10.0 ** (0.4 * (limit - true_mag)) >= 5.0
    bogus_seen_again = (kind == BOGUS) & (rng.random(n) < 0.1)
    detected = np.where(kind == BOGUS, bogus_seen_again, detected)
    detected = np.where(kind == MOVING, False, detected) | alert
    # Tonight's alerts passed the survey's 5-sigma cut: keep them above it.
    faint = alert & (true_mag > limit - 0.25)
    true_mag = np.where(faint, limit - rng.uniform(0.25, 1.5, n), true_mag)
    snr = 5.0 * 10.0 ** (0.4 * (limit - true_mag))
    sigma = np.maximum(1.0857 / snr, 0.014)
    mag = np.where(detected, true_mag + rng.normal(0, 1, n) * sigma, np.nan)
    return true_mag, detected, mag, sigma


def _objects_and_visits(spec: NightSpec, rng: np.random.Generator
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Alerts per object tonight (>= 1 each, summing to ``n_alerts``) and each
    object's kind; moving objects come last, one alert each."""
    n_alerts = spec.n_alerts
    n_moving = round(MOVING_SHARE * n_alerts)
    n_static_alerts = n_alerts - n_moving
    wanted = spec.n_objects if spec.n_objects is not None else max(1, n_alerts // 3)
    n_static = min(max(1, wanted - n_moving), n_static_alerts) if n_static_alerts else 0
    if n_static:
        weights = rng.gamma(2.0, 1.0, n_static)
        extra = rng.multinomial(n_static_alerts - n_static, weights / weights.sum())
        visits = np.concatenate([1 + extra, np.ones(n_moving, np.int64)])
    else:
        visits = np.ones(n_moving, np.int64)
    shares = np.array(list(STATIC_KIND_SHARES.values()))
    static_kind = rng.choice(list(STATIC_KIND_SHARES), size=n_static, p=shares / shares.sum())
    kind = np.concatenate([static_kind, np.full(n_moving, MOVING)]).astype(np.int64)
    return visits.astype(np.int64), kind


def _positions(rng: np.random.Generator, n: int, dec_range: tuple[float, float]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Uniform on the sphere within the survey's declination range."""
    low, high = np.sin(np.radians(dec_range))
    dec = np.degrees(np.arcsin(rng.uniform(low, high, n)))
    return rng.uniform(0.0, 360.0, n), dec


def _light_curves(rng: np.random.Generator, kind: np.ndarray, mid_jd: float
                  ) -> dict[str, np.ndarray]:
    """Per-object light-curve parameters (all kinds drawn, each uses its own)."""
    n = len(kind)
    rising = rng.random(n) < 0.4
    tonight_mag = rng.uniform(16.8, 20.0, n)
    rate = np.where(rising, rng.uniform(0.1, 0.5, n), rng.uniform(0.02, 0.1, n))
    offset = np.where(rising, rng.uniform(1.0, 15.0, n), -rng.uniform(1.0, 40.0, n))
    # Never brighter than ~14.5 at peak (saturation).
    offset = np.sign(offset) * np.minimum(np.abs(offset), (tonight_mag - 14.5) / rate)
    peak_jd = mid_jd + offset
    variable = kind == VARIABLE
    star_mag = rng.uniform(13.5, 19.0, n)
    host_mag = rng.uniform(17.5, 22.0, n)
    years = rng.uniform(0.5, 6.0, n)
    return {
        "peak_jd": peak_jd, "peak_mag": tonight_mag - rate * np.abs(offset),
        "rise": np.where(rising, rate, rng.uniform(0.1, 0.5, n)),
        "fade": np.where(rising, rng.uniform(0.02, 0.1, n), rate),
        "star_mag": star_mag, "amplitude": rng.uniform(0.05, 0.8, n),
        "period": 10 ** rng.uniform(-1.0, 1.5, n), "phase": rng.uniform(0, 2 * np.pi, n),
        "ref_mag": np.where(variable, star_mag, host_mag),
        "first_jd": np.where(variable, mid_jd - years * 365.25, np.nan),
        "old_detections": np.where(variable, (years * rng.uniform(20, 150, n)).astype(int), 0),
        "bogus_mag": rng.uniform(17.5, 20.3, n),
    }


def _difference_mags(rng: np.random.Generator, lc: dict[str, np.ndarray], kind: np.ndarray,
                     obj: np.ndarray, jd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True difference magnitude and sign of every observation."""
    n = len(obj)
    dt = jd - lc["peak_jd"][obj]
    transient = lc["peak_mag"][obj] + np.where(dt < 0, -dt * lc["rise"][obj],
                                               dt * lc["fade"][obj])
    swing = lc["amplitude"][obj] * np.sin(2 * np.pi * jd / lc["period"][obj] + lc["phase"][obj])
    ratio = 10.0 ** (-0.4 * swing) - 1.0  # flux change relative to the star's
    with np.errstate(divide="ignore"):
        variable = lc["star_mag"][obj] - 2.5 * np.log10(np.maximum(np.abs(ratio), 1e-6))
    random_mag = lc["bogus_mag"][obj] + rng.normal(0, 0.3, n)
    k = kind[obj]
    mag = np.select([k == TRANSIENT, k == VARIABLE], [transient, variable], random_mag)
    positive = np.select([k == TRANSIENT, k == VARIABLE], [True, ratio > 0],
                         rng.random(n) < 0.75)
    return mag, positive.astype(bool)


def _tonight_times(rng: np.random.Generator, night_jd: float, visits: np.ndarray) -> np.ndarray:
    """Visit times of each object tonight: spaced by >= ~20 minutes, inside the window,
    snapped to exposure starts."""
    start, end = night_jd + WINDOW[0], night_jd + WINDOW[1]
    width = end - start
    n = int(visits.sum())
    if not n:
        return np.zeros(0)
    owner = np.repeat(np.arange(len(visits)), visits)
    gaps = 0.014 + rng.exponential(0.03, n)
    first = np.r_[0, np.cumsum(visits)[:-1]]
    gaps[first] = 0.0
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[first], visits)
    span = np.repeat(elapsed[np.cumsum(visits) - 1], visits)
    squeeze = np.where(span > width, width / np.maximum(span, 1e-12), 1.0)
    elapsed *= squeeze
    offset = rng.uniform(0, 1, len(visits))[owner] * np.maximum(width - span * squeeze, 0)
    times = start + offset + elapsed
    return night_jd + np.floor((times - night_jd) / EXPOSURE_DAYS) * EXPOSURE_DAYS


def _history_epochs(rng: np.random.Generator, spec: NightSpec, n_obj: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Epochs of earlier nights (within the history window): each night an object was
    looked at once, or twice when two filters were taken."""
    nights = min(spec.prior_nights, int(HISTORY_DAYS) - 1)
    if not nights or not n_obj:
        return np.zeros(0, np.int64), np.zeros(0)
    seen = rng.random((n_obj, nights)) < 0.7
    obj, night = np.nonzero(seen)
    repeat = 1 + (rng.random(len(obj)) < PAIRED_EPOCHS)
    obj, night = np.repeat(obj, repeat), np.repeat(night, repeat)
    jd = spec.night_jd - (night + 1) + rng.uniform(*WINDOW, len(obj))
    jd = spec.night_jd + np.floor((jd - spec.night_jd) / EXPOSURE_DAYS) * EXPOSURE_DAYS
    return obj.astype(np.int64), jd


def _shallow_epochs(rng: np.random.Generator, night_jd: float, n_obj: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Tonight's exposures that covered an object without detecting it (shallow ones):
    the non-detections a night's packets carry even without earlier nights."""
    obj = np.flatnonzero(rng.random(n_obj) < SHALLOW_SHARE)
    jd = night_jd + rng.uniform(*WINDOW, len(obj))
    return obj.astype(np.int64), night_jd + np.floor((jd - night_jd) / EXPOSURE_DAYS) \
        * EXPOSURE_DAYS


def _per_exposure(rng: np.random.Generator, exposure: np.ndarray, draw) -> np.ndarray:
    """A value drawn once per exposure and shared by its observations."""
    keys, index = np.unique(exposure, return_inverse=True)
    return draw(len(keys))[index]
