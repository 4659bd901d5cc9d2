"""A NED-like galaxy catalog of any size: names, positions, redshifts.

What the crossmatch's distance rule needs (``z``, and a distance in Mpc) and a few
columns NED tables have. Positions are uniform on the sky; redshifts follow the
shape of a flux-limited survey (most galaxies at z ~ 0.02-0.1, a tail to ~0.5, a
few very nearby). Everything is one NumPy draw per column: millions of rows in
seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

#: Hubble constant (km/s/Mpc) and the speed of light (km/s) for the distances.
H0 = 70.0
C_KMS = 299_792.458
TYPE_NAMES = ["G", "GClstr", "GPair", "QSO"]
TYPE_SHARES = np.array([0.9, 0.03, 0.05, 0.02])


def simulate_galaxy_catalog(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """``objname, ra, dec, z, z_unc, DistMpc, DistMpc_unc, type, mag_b`` for ``n_rows``
    galaxies; the same seed gives the same table."""
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, not {n_rows}")
    rng = np.random.default_rng([seed, 42])
    ra = rng.uniform(0.0, 360.0, n_rows)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n_rows)))
    z = np.where(rng.random(n_rows) < 0.04, rng.uniform(0.0005, 0.01, n_rows),
                 rng.gamma(2.2, 0.03, n_rows))
    z = np.clip(z, 0.0003, 1.5)
    z_unc = z * rng.uniform(0.0005, 0.01, n_rows)
    distance = C_KMS * z / H0  # Hubble law: fine at these redshifts for a matcher
    absolute = rng.normal(-20.0, 1.2, n_rows)
    mag_b = np.clip(absolute + 5 * np.log10(distance * 1e6) - 5.0, 8.0, 24.0)
    kind = rng.choice(len(TYPE_NAMES), size=n_rows, p=TYPE_SHARES)
    return pd.DataFrame({
        "objname": _names(ra, dec),
        "ra": ra, "dec": dec, "z": z, "z_unc": z_unc, "DistMpc": distance,
        "DistMpc_unc": distance * rng.uniform(0.05, 0.2, n_rows),
        "type": _types(kind), "mag_b": mag_b,
    })


def _types(kind: np.ndarray) -> pd.Series:
    """NED object types as plain Arrow strings (built from a dictionary, no per-row
    Python strings), so the table converts to Arrow and Parquet without surprises."""
    codes = pa.array(kind.astype(np.int32))
    types = pa.DictionaryArray.from_arrays(codes, pa.array(TYPE_NAMES)).cast(pa.string())
    return pd.Series(pd.arrays.ArrowExtensionArray(types))


def _digits(out: np.ndarray, start: int, values: np.ndarray, width: int) -> None:
    """Write ``values`` as zero-padded decimal ASCII into columns start..start+width."""
    for position in range(width - 1, -1, -1):
        values, digit = np.divmod(values, 10)
        out[:, start + position] = digit + ord("0")


def _names(ra: np.ndarray, dec: np.ndarray) -> pd.Series:
    """``SIM Jhhmmss.ss+ddmmss.s`` from the position, written digit by digit into a
    byte array (columnar, no per-row formatting); a row suffix is added only where two
    rows would share a name."""
    n = len(ra)
    template = np.frombuffer(b"SIM J000000.00+000000.0", dtype=np.uint8)
    out = np.tile(template, (n, 1))
    centi = np.floor(ra / 15.0 * 360000.0).astype(np.int64)  # hundredths of a second
    hh, rest = np.divmod(centi, 360000)
    mm, rest = np.divmod(rest, 6000)
    for start, value, width in ((5, hh, 2), (7, mm, 2), (9, rest // 100, 2), (12, rest % 100, 2)):
        _digits(out, start, value, width)
    out[:, 14] = np.where(dec < 0, ord("-"), ord("+"))
    tenths = np.floor(np.abs(dec) * 36000.0).astype(np.int64)
    dd, rest = np.divmod(tenths, 36000)
    dm, rest = np.divmod(rest, 600)
    for start, value, width in ((15, dd, 2), (17, dm, 2), (19, rest // 10, 2), (22, rest % 10, 1)):
        _digits(out, start, value, width)
    key = centi * 10**8 + np.where(dec < 0, -1, 1) * tenths
    _, first, counts = np.unique(key, return_inverse=True, return_counts=True)
    names = pa.array(out.view(f"S{len(template)}").ravel(), type=pa.binary(len(template)))
    names = names.cast(pa.string())
    shared = counts[first] > 1
    if shared.any():  # rare: two galaxies within 0.15" (only those rows are touched)
        values = names.to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(shared)
        values[rows] = [f"{values[row]}_{row}" for row in rows.tolist()]
        names = pa.array(values, type=pa.string())
    return pd.Series(pd.arrays.ArrowExtensionArray(names))
