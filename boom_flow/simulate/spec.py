"""What a simulated night is asked to be, and what comes out of it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SURVEYS = ("ztf", "lsst")
KINDS = ("transient", "variable", "bogus", "moving")


@dataclass(frozen=True)
class NightSpec:
    """A night to simulate; the same spec (seed included) gives byte-identical packets."""

    survey: str = "ztf"
    n_alerts: int = 1000
    seed: int = 0
    #: Start of the night (JD); ZTF/LSST observe from ~0.15 to ~0.48 day later.
    night_jd: float = 2460500.5
    #: Distinct objects; default ~n_alerts/3, so objects are revisited during the night.
    n_objects: int | None = None
    #: Earlier nights with observations, so objects arrive with a history.
    prior_nights: int = 0
    #: Share of alerts from ZTF programid 1 (public), 2 (partnership), 3 (Caltech).
    programid_weights: tuple[float, float, float] = (0.6, 0.3, 0.1)
    #: LSST only: Rubin schema version written, and the folder of Rubin schemas
    #: (``<major>_<minor>/lsst.v<major>_<minor>.alert.avsc``) to read it from.
    lsst_schema_version: str = "7.1"
    lsst_schema_dir: Path | str | None = None

    def __post_init__(self) -> None:
        if self.survey not in SURVEYS:
            raise ValueError(f"unknown survey {self.survey!r}; simulated surveys: "
                             f"{', '.join(SURVEYS)}")
        if self.n_alerts < 0:
            raise ValueError(f"n_alerts must be >= 0, not {self.n_alerts}")
        if self.n_objects is not None and self.n_objects < 1:
            raise ValueError(f"n_objects must be >= 1, not {self.n_objects}")
        if self.prior_nights < 0:
            raise ValueError(f"prior_nights must be >= 0, not {self.prior_nights}")
        major, _, minor = self.lsst_schema_version.partition(".")
        if not (major.isdigit() and minor.isdigit()):
            raise ValueError(f"lsst_schema_version must look like '7.1', not "
                             f"{self.lsst_schema_version!r}")
        weights = self.programid_weights
        if len(weights) != 3 or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"programid_weights must be 3 non-negative numbers with a "
                             f"positive sum, not {weights}")


@dataclass(frozen=True)
class SimulatedAlert:
    """One packet as the survey would send it, with the truth behind it."""

    packet: bytes
    #: ZTF ``candid`` / LSST ``diaSourceId``.
    alert_id: int
    #: ZTF ``objectId`` (str) / LSST ``diaObjectId`` (int).
    object_id: str | int
    jd: float
    #: ``transient``, ``variable``, ``bogus`` or ``moving``.
    kind: str
