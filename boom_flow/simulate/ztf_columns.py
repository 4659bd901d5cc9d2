"""ZTF packet fields for every observation of a plan, column by column.

Distributions follow what real ZTF 4.02/3.x packets show (ranges, typical values,
the ``-999`` and ``"null"`` placeholders ZTF writes where nothing was found). Each
function returns NumPy arrays over the plan's rows (or objects); the packet module
turns the columns into records.
"""

from __future__ import annotations

import numpy as np

from boom_flow.simulate.plan import BOGUS, MOVING, TRANSIENT, VARIABLE, Plan

#: Night id 0 (ZTF's ``nid`` counts nights from here).
NID_ZERO_JD = 2457754.5
UNIX_EPOCH_JD = 2440587.5
CCD_WIDTH, CCD_HEIGHT = 3072, 3080
MISSING = -999.0
BANDS = "gri"
#: Known ZTF placeholder strings and versions.
RB_VERSION, DRB_VERSION, PUBLISHER = "t17_f5_c3", "d6_m7", "ZTF (www.ztf.caltech.edu)"
PROGRAM_PI = {1: "Kulkarni", 2: "Kulkarni", 3: "Kulkarni"}
#: Alerts rows with a letter id are shared with LSST naming: 7 lowercase letters.
ID_LETTERS = 7
ID_STRIDE = 1_000_003  # odd, not a multiple of 13: a bijection modulo 26**7


def object_ids(plan: Plan, rng: np.random.Generator, night_jd: float) -> list[str]:
    """``ZTFyyaaaaaaa`` names, unique within a night: the year of first detection
    (variables: years ago; the others: this night's) and seven letters from a
    bijection of the object index."""
    n = plan.n_objects
    years_ago = np.nan_to_num((night_jd - plan.obj_first_jd) / 365.25, nan=0.0)
    year = (int(2000 + (night_jd - 2451544.5) / 365.25) - years_ago.astype(int)) % 100
    # Asteroids get new names every night: their index runs on with the night id.
    index = np.arange(n, dtype=np.int64)
    night = int(np.floor(night_jd - NID_ZERO_JD))
    index = np.where(plan.obj_kind == MOVING, index + n * (1 + night), index)
    code = (index * ID_STRIDE + int(rng.integers(26 ** ID_LETTERS))) % 26 ** ID_LETTERS
    letters = np.zeros((n, ID_LETTERS), dtype=np.int64)
    for position in range(ID_LETTERS - 1, -1, -1):
        code, letters[:, position] = np.divmod(code, 26)
    chars = (letters + ord("a")).astype(np.uint8).view("S1").reshape(n, ID_LETTERS)
    words = chars.view(f"S{ID_LETTERS}").ravel().astype(str)
    return [f"ZTF{y:02d}{w}" for y, w in zip(year.tolist(), words.tolist(), strict=True)]


def _grouped_rank(keys: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of equal ``keys`` (in row order)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    index = np.arange(len(keys))
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if len(keys) else np.zeros(0, bool)
    rank = index - np.maximum.accumulate(np.where(starts, index, 0))
    out = np.empty_like(rank)
    out[order] = rank
    return out


def _cumulative_per_object(plan: Plan, values: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` within each object (rows are sorted by object)."""
    n = len(values)
    if not n:
        return np.zeros(0)
    total = np.cumsum(values)
    starts = np.r_[0, np.flatnonzero(np.diff(plan.obj)) + 1]
    group = starts[np.searchsorted(starts, np.arange(n), side="right") - 1]
    return total - (total[group] - values[group])


def object_columns(plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """What does not change between visits: where the object lies on the detector,
    what the reference image and the PS1/Gaia catalogs hold around it."""
    n = plan.n_objects
    kind = plan.obj_kind
    u = lambda low, high: rng.uniform(low, high, n)  # noqa: E731
    distnr = np.select([kind == TRANSIENT, kind == VARIABLE, kind == MOVING],
                       [u(0.2, 3.0), u(0.02, 0.4), u(2.0, 15.0)], u(0.1, 6.0))
    sgscore1 = np.select([kind == VARIABLE, kind == TRANSIENT],
                         [u(0.95, 1.0), np.where(rng.random(n) < 0.3, 0.5, u(0.0, 0.3))],
                         u(0.0, 1.0))
    distpsnr1 = np.where(kind == VARIABLE, distnr * u(0.9, 1.1) + 0.02, distnr * u(0.8, 1.3))
    ref_mag = np.where(kind == MOVING, u(17.0, 22.0), plan.obj_ref_mag)
    angle = u(0, 2 * np.pi)
    cos_dec = np.maximum(np.cos(np.radians(plan.obj_dec)), 1e-3)
    ranr = (plan.obj_ra + distnr * np.cos(angle) / 3600.0 / cos_dec) % 360.0
    decnr = np.clip(plan.obj_dec + distnr * np.sin(angle) / 3600.0, -90, 90)
    xpos, ypos = u(10, CCD_WIDTH - 10), u(10, CCD_HEIGHT - 10)
    start_ref = u(2458200.0, 2458320.0)
    columns = {
        "field": rng.integers(245, 880, n), "rcid": rng.integers(0, 64, n),
        "xpos": xpos, "ypos": ypos,
        "mindtoedge": np.minimum.reduce([xpos, ypos, CCD_WIDTH - xpos, CCD_HEIGHT - ypos]),
        "distnr": distnr, "magnr": ref_mag, "sigmagnr": u(0.005, 0.06),
        "chinr": rng.lognormal(np.log(0.6), 0.6, n), "sharpnr": rng.normal(0.0, 0.03, n),
        "ranr": ranr, "decnr": decnr, "sgscore1": sgscore1, "distpsnr1": distpsnr1,
        "ncov_offset": rng.integers(30, 1500, n),
        "jdstartref": start_ref, "jdendref": start_ref + u(100, 500),
        "nframesref": np.where(rng.random(n) < 0.7, 15, rng.integers(16, 41, n)),
        "nmtchps": rng.poisson(15, n) + 2,
        "neargaia": np.where(kind == VARIABLE, distpsnr1 + u(0, 0.05), u(0.5, 40.0)),
        "maggaia": np.where(kind == VARIABLE, ref_mag - u(0.1, 0.5), u(15.0, 21.0)),
        "neargaiabright": np.where(rng.random(n) < 0.8, MISSING, u(20, 90)),
        "objectidps1": _ps1_ids(plan.obj_ra, plan.obj_dec, rng),
        "objectidps2": _ps1_ids(ranr + u(-0.003, 0.003), decnr + u(-0.003, 0.003), rng),
        "objectidps3": _ps1_ids(ranr + u(-0.006, 0.006), decnr + u(-0.006, 0.006), rng),
        "distpsnr2": u(1.0, 20.0), "sgscore2": u(0.0, 1.0), "sgscore3": u(0.0, 1.0),
    }
    columns["maggaiabright"] = np.where(columns["neargaiabright"] == MISSING, MISSING,
                                        u(9.0, 14.0))
    columns["distpsnr3"] = columns["distpsnr2"] + u(0.5, 10.0)
    for index, base in ((1, ref_mag), (2, u(17.0, 22.0)), (3, u(16.0, 22.0))):
        r = base + rng.normal(0, 0.1, n)
        g = r + u(0.2, 1.0)
        i = r - u(0.1, 0.45)
        z = i - u(0.0, 0.25)
        for band, mags in zip("griz", (g, r, i, z), strict=True):
            columns[f"s{band}mag{index}"] = np.where(rng.random(n) < 0.05, MISSING, mags)
    return columns


def _ps1_ids(ra: np.ndarray, dec: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """PS1 ``objID``-like integers: declination zone, RA in micro-degrees, a suffix."""
    zone = np.floor((dec + 90.0) * 120.0).astype(np.int64)
    return (zone * 10 ** 13 + np.floor((ra % 360.0) * 1e6).astype(np.int64) * 10 ** 4
            + rng.integers(0, 10 ** 4, len(ra)))


def exposure_columns(plan: Plan, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-image calibration, shared by all observations of one exposure and band."""
    keys, index = np.unique(plan.exposure * 4 + plan.band, return_inverse=True)
    m = len(keys)
    band = keys % 4
    zp = np.clip(rng.normal(26.2, 0.12, m), 25.3, 26.5)
    columns = {
        "magzpsci": zp, "magzpsciunc": 10 ** rng.uniform(-5.5, -4.2, m),
        "magzpscirms": rng.uniform(0.015, 0.065, m), "nmatches": rng.integers(300, 2500, m),
        "clrcoeff": np.choose(band, [-0.045, 0.085, 0.02, 0.0]) + rng.normal(0, 0.015, m),
        "clrcounc": 10 ** rng.uniform(-5.3, -4.0, m),
        "zpclrcov": -(10 ** rng.uniform(-5.5, -4.0, m)),
        "zpmed": zp + rng.normal(-0.03, 0.02, m), "clrmed": rng.uniform(0.45, 0.8, m),
        "clrrms": rng.uniform(0.12, 0.2, m), "scibckgnd": rng.uniform(60, 300, m),
        "scisigpix": rng.uniform(7.0, 14.0, m), "adpctdif1": rng.uniform(0.05, 0.09, m),
        "adpctdif2": rng.uniform(0.05, 0.09, m),
    }
    return {name: values[index] for name, values in columns.items()}


def observation_columns(plan: Plan, rng: np.random.Generator, objects: dict[str, np.ndarray],
                        exposures: dict[str, np.ndarray], seed: int = 0
                        ) -> dict[str, np.ndarray]:
    """Every candidate field for every row (history rows use a subset).

    ``candid`` is the processing id ``pid`` (night, exposure, quadrant) times 10**6
    plus a rank below 10,000 inside the exposure, offset by ``seed``: two seeds of the
    same night observe in the same exposures, and must still not share a candid."""
    n = len(plan.obj)
    obj, kind = plan.obj, plan.obj_kind[plan.obj]
    bogus, moving = kind == BOGUS, kind == MOVING
    u = lambda low, high: rng.uniform(low, high, n)  # noqa: E731
    field, rcid = objects["field"][obj], objects["rcid"][obj]
    fid = plan.band + 1
    nid = np.floor(plan.jd - NID_ZERO_JD).astype(np.int64)
    day_fraction = (plan.jd - 0.5) % 1.0
    pid = (nid * 10 ** 9 + np.floor(day_fraction * 1e5).astype(np.int64) * 10 ** 4
           + rcid * 100 + 15)
    seq = _grouped_rank(np.where(plan.detected, pid, -1 - np.arange(n)))
    magpsf, sigmapsf = plan.mag, plan.sigma
    snr = 1.0857 / sigmapsf
    magap = magpsf + rng.normal(0.01, 1.0, n) * sigmapsf * 1.2
    sigmagap = sigmapsf * u(0.8, 1.6)
    fwhm = np.clip(plan.seeing * np.where(bogus, u(0.3, 1.5), u(0.9, 1.1)), 0.6, 9.0)
    elong = 1.0 + np.where(bogus, rng.exponential(0.15, n), np.abs(rng.normal(0, 0.06, n)))
    aimage = fwhm * u(0.3, 0.45)
    dsnrms = snr * u(0.3, 1.2)
    ssnrms = dsnrms * u(1.5, 3.0)
    detections = _cumulative_per_object(plan, plan.detected.astype(float)).astype(np.int64)
    covered = _cumulative_per_object(plan, np.ones(n)).astype(np.int64)
    first_detection = _first_detection_jd(plan)
    variable = kind == VARIABLE
    ndethist = detections + np.where(variable, plan.obj_old_detections[obj], 0)
    real = ~bogus
    moving_mag = magpsf + rng.normal(0.2, 0.3, n)
    return {
        "jd": plan.jd, "fid": fid, "pid": pid, "diffmaglim": plan.limit,
        "programid": plan.programid, "tblid": seq,
        "candid": pid * 10 ** 6 + 10_000 * (1 + seed % 99) + seq,
        "isdiffpos": np.where(plan.positive, "t", "f"), "nid": nid, "rcid": rcid,
        "field": field, "xpos": objects["xpos"][obj] + rng.normal(0, 0.3, n),
        "ypos": objects["ypos"][obj] + rng.normal(0, 0.3, n),
        "ra": plan.ra, "dec": plan.dec, "magpsf": magpsf, "sigmapsf": sigmapsf,
        "chipsf": rng.lognormal(np.log(2.5), 0.9, n) * (1 + 10 ** (0.4 * (16.5 - magpsf))),
        "magap": magap, "sigmagap": sigmagap, "sky": rng.normal(0, 2.5, n),
        "magdiff": magap - magpsf, "fwhm": fwhm,
        "classtar": np.where(bogus, u(0.6, 1.0), 1 - rng.beta(1, 8, n) * 0.35),
        "mindtoedge": objects["mindtoedge"][obj], "magfromlim": plan.limit - magap,
        "seeratio": np.clip(u(0.4, 2.3), None, 2.0), "aimage": aimage, "bimage": aimage / elong,
        "aimagerat": aimage / fwhm, "bimagerat": aimage / elong / fwhm, "elong": elong,
        "nneg": np.minimum(rng.poisson(np.where(bogus, 6, 3)), 20),
        "nbad": np.where(bogus, rng.poisson(0.7, n), 0),
        "rb": np.where(real, rng.beta(6, 2, n), rng.beta(1.5, 5, n)),
        "drb": np.clip(np.where(real, 1 - rng.beta(0.3, 15, n), rng.beta(0.3, 8, n)), 0, 1),
        "ssdistnr": np.where(moving, u(0.0, 5.0), MISSING),
        "ssmagnr": np.where(moving, moving_mag, MISSING),
        "ssnamenr": np.where(moving, _asteroid_names(rng, n), "null"),
        "sumrat": np.where(bogus, u(0.4, 1.0), 1 - rng.beta(0.5, 12, n)),
        "magapbig": magap + rng.normal(0, 0.05, n), "sigmagapbig": sigmagap * u(1.0, 1.5),
        "ndethist": ndethist,
        "ncovhist": ndethist + objects["ncov_offset"][obj] + (covered - detections),
        "jdstarthist": np.where(variable, plan.obj_first_jd[obj], first_detection),
        "jdendhist": plan.jd, "scorr": snr * u(0.9, 1.3), "tooflag": np.zeros(n, np.int64),
        "rfid": field * 10 ** 6 + 120_000 + fid * 100 + rcid,
        "dsnrms": dsnrms, "ssnrms": ssnrms, "dsdiff": dsnrms - ssnrms,
        "exptime": np.full(n, 30.0),
        "pdiffimfilename": np.array(_image_names(plan.jd, field, fid, rcid), dtype=str),
        "programpi": np.vectorize(PROGRAM_PI.get)(plan.programid) if n else np.zeros(0, str),
        **{name: objects[name][obj] for name in OBJECT_FIELDS},
        **{name: exposures[name] for name in EXPOSURE_FIELDS},
    }


OBJECT_FIELDS = (
    "distnr", "magnr", "sigmagnr", "chinr", "sharpnr", "ranr", "decnr", "sgscore1",
    "distpsnr1", "jdstartref", "jdendref", "nframesref", "nmtchps", "neargaia", "maggaia",
    "neargaiabright", "maggaiabright", "objectidps1", "objectidps2", "objectidps3",
    "distpsnr2", "distpsnr3", "sgscore2", "sgscore3",
    *(f"s{band}mag{index}" for index in (1, 2, 3) for band in "griz"),
)
EXPOSURE_FIELDS = ("magzpsci", "magzpsciunc", "magzpscirms", "nmatches", "clrcoeff",
                   "clrcounc", "zpclrcov", "zpmed", "clrmed", "clrrms")


def _first_detection_jd(plan: Plan) -> np.ndarray:
    """JD of each object's first detection in the plan, per row."""
    jd = np.where(plan.detected, plan.jd, np.inf)
    first = np.full(plan.n_objects, np.inf)
    np.minimum.at(first, plan.obj, jd)
    return first[plan.obj]


def _asteroid_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """MPC designations: numbered (``"292631"``) or provisional (``"2010CG48"``)."""
    numbered = rng.integers(1000, 700_000, n).astype(str)
    years = rng.integers(1995, 2024, n).astype(str)
    half = (rng.integers(0, 24, n) + ord("A")).astype(np.uint8).view("S1").astype(str)
    letter = (rng.integers(0, 25, n) + ord("A")).astype(np.uint8).view("S1").astype(str)
    cycle = rng.integers(1, 200, n).astype(str)
    provisional = np.char.add(np.char.add(np.char.add(years, half), letter), cycle)
    return np.where(rng.random(n) < 0.6, numbered, provisional)


def _image_names(jd: np.ndarray, field: np.ndarray, fid: np.ndarray,
                 rcid: np.ndarray) -> list[str]:
    """Difference-image file names as ZTF writes them (UT date and fraction of the
    day, field, filter, CCD and quadrant)."""
    seconds = np.round((jd - UNIX_EPOCH_JD) * 86400).astype("datetime64[s]")
    dates = np.datetime_as_string(seconds.astype("datetime64[D]")).tolist()
    fraction = np.floor(((jd - 0.5) % 1.0) * 1e6).astype(np.int64).tolist()
    return [f"ztf_{d.replace('-', '')}{f:06d}_{fl:06d}_z{BANDS[b - 1]}_c{r // 4 + 1:02d}_o_"
            f"q{r % 4 + 1}_scimrefdiffimg.fits"
            for d, f, fl, b, r in zip(dates, fraction, field.tolist(), fid.tolist(),
                                      rcid.tolist(), strict=True)]
