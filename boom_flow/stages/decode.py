"""The decode stage: a batch of raw packets -> an ``AlertBatch`` of the survey.

The survey's decoder (with its schema cache) is built once per worker, in ``setup``;
LSST's schema registry or folder comes from the configuration. Packets the decoder
cannot read, and those the source could not deliver, become the batch's rejections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from boom_flow.config import Settings
from boom_flow.core import AlertBatch, RawBatch
from boom_flow.stages import Resources, Stage, check_params
from boom_flow.surveys import Survey, build_survey
from boom_flow.surveys.base import KeyReader


@dataclass
class DecodeStage(Stage):
    name: ClassVar[str] = "decode"

    survey: str
    #: ``build_survey`` options (LSST: ``schema_registry_url``, ``schema_dir``).
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def configure(cls, settings: Settings, survey: str, params: Mapping[str, Any]) -> Self:
        check_params(cls.name, params, ())
        options: dict[str, Any] = {}
        if survey == "lsst":
            lsst = settings.surveys.lsst
            options = {"schema_registry_url": lsst.schema_registry_url,
                       "schema_dir": str(lsst.schema_dir) if lsst.schema_dir else None}
        return cls(survey=survey, options=options)

    def object_key(self) -> KeyReader:
        """The survey's packet -> object id reader, built here (on the driver) with a
        schema cache of its own."""
        return build_survey(self.survey, **self.options).object_key

    def setup(self, resources: Resources) -> None:
        self._decoder: Survey = build_survey(self.survey, **self.options)

    def __call__(self, raw: RawBatch) -> AlertBatch:
        return self._decoder.decode(list(raw.packets)).with_rejections(raw.rejected)
