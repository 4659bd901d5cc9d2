"""The aliases stage: the other survey's objects near each alert, read once per batch.

``aliases = {OTHER: [ids]}`` on the alerts that have some (``storage.aliases``), before
the filters (they see it) and the write (which records the pairs on both surveys' aux
documents). ZTF looks for LSST objects and LSST for ZTF ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from boom_flow.config import Settings
from boom_flow.core import AlertBatch
from boom_flow.stages import Resources, Stage, StageConfigError, check_params
from boom_flow.storage.aliases import PARTNERS, AliasSearch, find_aliases
from boom_flow.surveys import get_survey


def alias_search(survey: str) -> AliasSearch:
    this = get_survey(survey)
    if this.name not in PARTNERS:
        raise StageConfigError(f"no other survey to find {this.name} aliases in")
    return AliasSearch.between(this, get_survey(PARTNERS[this.name]))


@dataclass
class AliasPairStage(Stage):
    """A stage that reads or writes the archive with the survey pair's alias search
    (this stage, and the write stage that records the pairs)."""

    needs: ClassVar[frozenset[str]] = frozenset({"mongo"})

    search: AliasSearch

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        check_params(cls.name, params, ())
        return cls(alias_search(survey))

    def setup(self, resources: Resources) -> None:
        self._database: Any = resources.get("mongo")


@dataclass
class AliasesStage(AliasPairStage):
    name: ClassVar[str] = "aliases"

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return find_aliases(self._database, batch, self.search)
