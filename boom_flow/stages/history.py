"""The history stage: what the archive knows of the batch's objects, read once.

One ``find`` on ``{S}_alerts_aux`` fills ``batch.known`` (``storage.known``); the
crossmatch (which objects are new), the features and the filters (the light curve as
it stood when the alert arrived) all read it from there.
"""

from __future__ import annotations

from typing import Any, ClassVar

from boom_flow.core import AlertBatch
from boom_flow.stages import Resources, Stage
from boom_flow.storage.known import load_known


class HistoryStage(Stage):
    name: ClassVar[str] = "history"
    needs: ClassVar[frozenset[str]] = frozenset({"mongo"})

    def setup(self, resources: Resources) -> None:
        self._database: Any = resources.get("mongo")

    def __call__(self, batch: AlertBatch) -> AlertBatch:
        return load_known(self._database, batch)
