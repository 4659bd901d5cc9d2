"""The streamz dataflow: raw batches in, scattered to Dask, processed, committed.

The plan is installed on the workers first (``PipelinePlugin``: stages set up, clients
open, before the first batch); leaving the ``Pipeline`` context removes it again.

```
source.emit(raw) ─► scatter ─► map(process_batch) ─► buffer(max_in_flight)
                 ─► gather_outcomes ─► sink(acknowledge: summary + commit)
```

``push`` blocks while ``max_in_flight`` batches are unfinished, so the source never
runs ahead of the commits (backpressure) and memory stays flat. (streamz's own
``emit`` would let a few more through, held in scatter and gather: a stop request
would then have to wait for that backlog too.) Outcomes arrive in
emission order, so commits do too. After a failed batch nothing more is committed:
the run stops and a restart re-reads from the last commit.

A batch lost with its worker (killed, out of memory) is not a failed batch: its
scattered packets died with the worker, so the driver, which keeps every unfinished
batch, submits it once more with its packets in the task (the stages are idempotent).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

import streamz.dask  # noqa: F401 - registers scatter/gather on Stream
from distributed import Client, KilledWorker, default_client
from streamz import Stream
from streamz.dask import DaskStream
from tornado import gen

from boom_flow.core import RawBatch
from boom_flow.pipeline.summary import RunSummary
from boom_flow.pipeline.worker import BatchOutcome, BatchPlan, installed, process_batch


class PipelineError(RuntimeError):
    """A batch failed; nothing after it was committed."""


#: How a task lost with its worker fails (not an error of the batch itself).
LOST_TASK_ERRORS = (CancelledError, KilledWorker)


@DaskStream.register_api()
class gather_outcomes(Stream):
    """Like streamz's ``gather``, but a failed task becomes a failed outcome instead of
    an exception that would silently stop the stream, and a task lost with its worker
    is run once more through ``resubmit`` (a new future for the oldest unfinished
    batch, which is this one: outcomes are gathered in emission order)."""

    def __init__(self, upstream: Any, resubmit: Callable[[], Any] | None = None,
                 **kwargs: Any) -> None:
        self.resubmit = resubmit
        super().__init__(upstream, **kwargs)

    @gen.coroutine
    def update(self, x: Any, who: Any = None, metadata: Any = None) -> Any:
        self._retain_refs(metadata)
        try:
            outcome = yield default_client().gather(x, asynchronous=True)
        except LOST_TASK_ERRORS as lost:
            outcome = BatchOutcome(error=f"{type(lost).__name__}: {lost}")
            if self.resubmit is not None:
                try:
                    outcome = yield default_client().gather(self.resubmit(),
                                                            asynchronous=True)
                except Exception as error:
                    outcome = BatchOutcome(error=f"{type(error).__name__}: {error}")
        except Exception as error:
            outcome = BatchOutcome(error=f"{type(error).__name__}: {error}")
        result = yield self._emit(outcome, metadata=metadata)
        self._release_refs(metadata)
        raise gen.Return(result)


class Pipeline:
    """One running dataflow; ``push`` batches in, ``drain`` waits for the last."""

    def __init__(
        self,
        client: Client,
        plan: BatchPlan,
        max_in_flight: int,
        commit: Callable[[Any], None] | None = None,
        on_outcome: Callable[[BatchOutcome], None] | None = None,
    ) -> None:
        self.client = client
        self.max_in_flight = max_in_flight
        self.summary = RunSummary()
        self._commit = commit
        self._on_outcome = on_outcome
        self._tokens: deque[Any] = deque()
        #: The unfinished batches (without their commit tokens), oldest first.
        self._unfinished: deque[RawBatch] = deque()
        self._emitted = 0
        self._finished = 0
        self._done = threading.Condition()
        self.failure: str | None = None
        # Every worker sets the stages up now (and any worker that joins later, too);
        # a stage that cannot start fails here, before a batch is read.
        self._exit = ExitStack()
        self.plugin = self._exit.enter_context(installed(client, plan))
        with client.as_current():
            self._source = Stream()
            (self._source.scatter()
                .map(process_batch, plugin=self.plugin, pure=False)
                .buffer(max_in_flight)
                .gather_outcomes(resubmit=self._resubmit)
                .sink(self._acknowledge))

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear the stages down on the workers and close their clients."""
        self._exit.close()

    def push(self, raw: RawBatch, stop: threading.Event | None = None) -> bool:
        """Send a batch in; blocks while the pipeline is full. False when ``stop`` was
        set while waiting: the batch is not sent (it is left for the next run)."""
        if self.failure is not None:
            raise PipelineError(self.failure)
        if not raw.packets and not raw.rejected:
            return True
        stopped = stop.is_set if stop is not None else lambda: False
        with self._done:
            while not (self.unfinished < self.max_in_flight or self.failure is not None
                       or stopped()):
                self._done.wait(0.1)
            if stopped():
                return False
            self._tokens.append(raw.commit)
            # The commit token stays here: the workers never need it.
            self._unfinished.append(replace(raw, commit=None))
            self._emitted += 1
        with self.client.as_current():
            self._source.emit(self._unfinished[-1])
        return True

    def _resubmit(self) -> Any:
        """The oldest unfinished batch as a new task holding its packets."""
        with self._done:
            raw = self._unfinished[0]
        return self.client.submit(process_batch, raw, plugin=self.plugin, pure=False)

    @property
    def unfinished(self) -> int:
        """Batches pushed and not acknowledged yet."""
        return self._emitted - self._finished

    def _acknowledge(self, outcome: BatchOutcome) -> None:
        with self._done:
            token = self._tokens.popleft()
            self._unfinished.popleft()
        try:
            if outcome.error is not None and self.failure is None:
                self.failure = outcome.error
            if self.failure is None:
                self.summary.add(outcome)
                if self._commit is not None and token is not None:
                    self._commit(token)
            if self._on_outcome is not None:
                self._on_outcome(outcome)
        finally:
            with self._done:
                self._finished += 1
                self._done.notify_all()

    def drain(self, timeout_s: float | None = None) -> None:
        """Wait until every pushed batch is acknowledged; raise if one failed."""
        with self._done:
            finished = self._done.wait_for(lambda: self._finished >= self._emitted, timeout_s)
        if not finished:
            raise PipelineError(f"{self._emitted - self._finished} batches still unfinished "
                                f"after {timeout_s} s")
        if self.failure is not None:
            raise PipelineError(self.failure)
