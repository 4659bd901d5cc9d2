"""What a deployed Dask worker runs at start-up: ``dask worker --preload
boom_flow.pipeline.preload``.

A worker started by hand or by the Helm chart knows nothing of boom_flow until a
batch arrives; ``dask_setup`` registers ``WorkerSetup``, which imports the batch path
(the survey decoders, the stages, onnxruntime) before the worker takes tasks, so the
first batch costs what the others cost. The batch plan itself still comes from the
driver with each task: workers never read the configuration.
"""

from __future__ import annotations

import importlib
import logging

from distributed import Worker, WorkerPlugin

log = logging.getLogger(__name__)

#: Modules a batch needs, imported once per worker process.
BATCH_MODULES = (
    "boom_flow.pipeline.worker",
    "boom_flow.pipeline.sinks",
    "boom_flow.surveys",
    "boom_flow.stages",
    "boom_flow.stages.filter",
)


class WorkerSetup(WorkerPlugin):
    """Prepares a worker process for boom_flow's batches."""

    name = "boom-flow-setup"

    def setup(self, worker: Worker) -> None:
        for module in BATCH_MODULES:
            importlib.import_module(module)
        log.info("boom_flow worker setup done on %s", worker.address)


async def dask_setup(worker: Worker) -> None:
    """The preload hook ``dask worker --preload`` calls."""
    await worker.plugin_add(WorkerSetup(), name=WorkerSetup.name)
