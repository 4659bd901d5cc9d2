"""What a deployed Dask worker runs at start-up: ``dask worker --preload
boom_flow.pipeline.preload``.

The batch path's state comes from the driver: each ``boom-flow run`` installs its plan
as a ``PipelinePlugin`` (``boom_flow.pipeline.worker``) on every worker, and the
scheduler installs it on workers that join later, so scaling the workers needs no
restart of the ingest processes. What a worker can do before any driver shows up is
to import the code every plan needs; ``WorkerSetup`` does that, so a plan's set-up
(and the first batch) does not pay for importing the stages, onnxruntime and the
survey decoders.
"""

from __future__ import annotations

import importlib
import logging

from distributed import Worker, WorkerPlugin

from boom_flow.stages import STAGES, stage_class

log = logging.getLogger(__name__)


class WorkerSetup(WorkerPlugin):
    """Imports boom_flow's batch path into a worker process."""

    name = "boom-flow-setup"

    def setup(self, worker: Worker) -> None:
        # The module that unpickles the driver's PipelinePlugin, then every stage.
        importlib.import_module("boom_flow.pipeline.worker")
        for stage in STAGES:
            stage_class(stage)
        log.info("boom_flow worker setup done on %s (%d stages)", worker.address, len(STAGES))


async def dask_setup(worker: Worker) -> None:
    """The preload hook ``dask worker --preload`` calls."""
    await worker.plugin_add(WorkerSetup(), name=WorkerSetup.name)
