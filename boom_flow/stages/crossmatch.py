"""The crossmatch stage: the batch's new objects against every configured catalog.

An object is new when the archive did not hold it before this batch (absent from
``batch.known.objects``); its alerts get ``cross_matches = {catalog: [matches]}``, an
empty list meaning "checked, nothing there". Alerts of known objects get nothing (the
archive writes ``cross_matches`` once, when it creates the object), nor do alerts
without a usable position.

Each catalog is matched for all the new alerts at once (``crossmatch.matching``);
the partitions a batch touches are read once per worker process and stay cached in the
stage's readers. No database is queried here.

Settings (graph ``params``): ``catalogs_dir`` (instead of ``crossmatch.catalogs_dir``).
``configure`` takes the survey's catalogs from the configuration and keeps those that
are ingested (each problem logged once, on the driver); ``setup`` opens their readers
once per worker.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from boom_flow.config import Settings
from boom_flow.core import AlertBatch
from boom_flow.crossmatch.matching import CatalogSpec, match_catalog
from boom_flow.crossmatch.reader import CatalogReader
from boom_flow.crossmatch.sky import usable
from boom_flow.crossmatch.store import catalog_info
from boom_flow.stages import Resources, Stage, check_params

log = logging.getLogger("boom_flow.stages.crossmatch")

ALLOWED = ("catalogs_dir",)


def new_alerts(batch: AlertBatch) -> np.ndarray:
    """Boolean mask: the alerts whose object the archive did not hold before."""
    object_ids = pd.Series(batch.alerts["objectId"].tolist(), dtype=object)
    if batch.known is None or not len(batch.known.objects):
        return object_ids.notna().to_numpy()
    known = set(batch.known.objects["objectId"].tolist())
    return (object_ids.notna() & ~object_ids.isin(known)).to_numpy()


def positions(batch: AlertBatch) -> tuple[np.ndarray, np.ndarray]:
    candidates = batch.candidates
    ra = (candidates["ra"].to_numpy(dtype=np.float64, na_value=np.nan)
          if "ra" in candidates.columns else np.full(len(batch), np.nan))
    dec = (candidates["dec"].to_numpy(dtype=np.float64, na_value=np.nan)
           if "dec" in candidates.columns else np.full(len(batch), np.nan))
    return ra, dec


@dataclass
class Crossmatcher:
    """The stage function, holding one reader (and its partition cache) per catalog."""

    catalogs: tuple[tuple[CatalogSpec, CatalogReader], ...]

    def _match(self, position: int, ra: np.ndarray, dec: np.ndarray
               ) -> list[list[dict[str, Any]]]:
        spec, reader = self.catalogs[position]
        try:
            return match_catalog(reader, spec, ra, dec)
        except FileNotFoundError:
            # The catalog was ingested again while this worker ran: its old partition
            # files are gone. Read the new version from now on.
            log.info("crossmatch: catalog %s changed on disk; reloading", spec.catalog)
            fresh = reader.reopened()
            self.catalogs = (*self.catalogs[:position], (spec, fresh),
                             *self.catalogs[position + 1:])
            return match_catalog(fresh, spec, ra, dec)

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        if not len(batch) or not self.catalogs:
            return batch
        ra, dec = positions(batch)
        todo = np.flatnonzero(new_alerts(batch) & usable(ra, dec))
        values: list[dict[str, Any] | None] = [None] * len(batch)
        if len(todo):
            per_catalog = {spec.catalog: self._match(i, ra[todo], dec[todo])
                           for i, (spec, _) in enumerate(self.catalogs)}
            for slot, alert in enumerate(todo.tolist()):
                values[alert] = {name: found[slot] for name, found in per_catalog.items()}
        return batch.with_enrichment(
            "cross_matches", pd.Series(values, index=batch.alerts.index, dtype=object))


def open_readers(specs: Sequence[CatalogSpec], catalogs_dir: Path
                 ) -> tuple[tuple[CatalogSpec, CatalogReader], ...]:
    """A reader per spec, with just the columns it needs (raises for a catalog that is
    missing, or lacks the redshift column its distance rule needs). A projected column
    the catalog lacks is simply absent from the matches, as in a MongoDB projection
    (BOOM's configurations project ``_id``, which a file catalog may not have)."""
    readers = []
    for spec in specs:
        info = catalog_info(catalogs_dir, spec.catalog)
        if spec.use_distance and spec.distance_key not in info.columns:
            raise KeyError(f"catalog {spec.catalog!r} has no column {spec.distance_key} for "
                           f"its distance rule (it has: {', '.join(info.columns)})")
        readers.append((spec, CatalogReader(info, spec.needed_columns(info.columns))))
    return tuple(readers)


def projected_but_absent(spec: CatalogSpec, catalogs_dir: Path) -> list[str]:
    columns = set(catalog_info(catalogs_dir, spec.catalog).columns)
    return sorted(k for k, v in spec.projection.items() if v and k not in columns)


def usable_specs(specs: Sequence[CatalogSpec], catalogs_dir: Path
                 ) -> tuple[list[CatalogSpec], list[str]]:
    """The specs whose catalog can be used, and a message for each problem (a catalog
    not ingested, a missing redshift column: left out; projected columns the catalog
    lacks: kept, said)."""
    usable: list[CatalogSpec] = []
    problems: list[str] = []
    for spec in specs:
        if spec.catalog in {u.catalog for u in usable}:
            problems.append(f"catalog {spec.catalog!r} is configured twice; the first "
                            "entry is used (cross_matches holds one list per catalog)")
            continue
        try:
            open_readers([spec], catalogs_dir)
        except (FileNotFoundError, KeyError, ValueError) as error:
            problems.append(f"{str(error).strip(chr(39) + chr(34))}; the pipeline runs "
                            "without it")
            continue
        usable.append(spec)
        absent = [c for c in projected_but_absent(spec, catalogs_dir) if c != "_id"]
        if absent:
            problems.append(f"catalog {spec.catalog!r} has no column {', '.join(absent)}: "
                            "its matches will not carry it")
    return usable, problems


@dataclass
class CrossmatchStage(Stage):
    """The usable catalogs of the survey; ``setup`` opens their readers."""

    name: ClassVar[str] = "crossmatch"

    specs: tuple[CatalogSpec, ...] = ()
    catalogs_dir: str = "."

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        """The survey's configured catalogs that are ingested; each one that is not is
        reported once, here on the driver, and left out."""
        check_params(cls.name, params, ALLOWED)
        catalogs_dir = Path(params.get("catalogs_dir") or settings.crossmatch.catalogs_dir)
        specs = [CatalogSpec(**entry.model_dump())
                 for entry in getattr(settings.crossmatch, survey)]
        usable, problems = usable_specs(specs, catalogs_dir)
        for problem in problems:
            log.warning("crossmatch (%s): %s", survey, problem)
        return cls(specs=tuple(usable), catalogs_dir=str(catalogs_dir))

    def setup(self, resources: Resources) -> None:
        self.matcher = Crossmatcher(open_readers(self.specs,
                                                 Path(self.catalogs_dir).expanduser()))

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return self.matcher(batch)
