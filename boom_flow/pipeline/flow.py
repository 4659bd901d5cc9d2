"""The streamz dataflow: raw batches in, processed on Dask, committed after the write.

The plan is installed on the workers first (``PipelinePlugin``: stages set up, clients
open, before the first batch); leaving the ``Pipeline`` context removes it again.

```
push(raw) ─► split by object owner ─► per worker: scatter + submit(process_batch)
          ─► emit(the batch's tasks) ─► buffer ─► gather ─► sink(acknowledge)
```

Routing: a raw batch is split by its packets' object ids (``pipeline.routing``), and
each part is scattered straight to the worker that owns its objects (not through the
scheduler) and processed there, so one object's light curve is only ever merged by
one worker at a time. The split is the driver's only look into the packets: a
few bytes each, not a decode. ``batch.route_by_object: false`` hands each batch whole
to whichever worker Dask picks.

Commit after write, with streamz's reference-counted metadata: each raw batch enters
as the list of its tasks, with ``{"ref": RefCounter(cb=commit this batch)}``; every
node holds the reference while the batch is in its hands, so the callback runs once
all its parts' outcomes have been acknowledged, i.e. after the workers wrote and
published them. ``gather`` takes batches in emission order, so commits follow that
order too. After a failed batch nothing more is committed: the run stops and a
restart re-reads from the last commit.

Backpressure is a count of batches in flight: ``push`` blocks while ``max_in_flight``
are unfinished, so the source never runs ahead of the commits and memory stays flat;
``has_idle_worker`` tells a source that a batch closed now would start at once. It
counts the batch *tasks* still running, not the batches still uncommitted: commits
follow emission order, so a small batch done on one worker waits for its commit
behind a large one on the other, and counting it as busy would leave that worker idle
and make the next batch wait for both (at a low rate, batches would alternate between
large and tiny, and the latency would grow).
A task whose worker was lost for good (Dask gave up retrying it) errs: the run stops
there, without committing and without hanging.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from typing import Any

from distributed import Client, Future
from streamz import RefCounter
from streamz.dask import DaskStream

from boom_flow.core import RawBatch
from boom_flow.pipeline.routing import split_by_owner
from boom_flow.pipeline.summary import RunSummary
from boom_flow.pipeline.worker import BatchOutcome, BatchPlan, installed, process_batch
from boom_flow.surveys.base import KeyReader

#: How often ``has_idle_worker`` asks the scheduler how many threads there are (s).
THREADS_REFRESH_S = 5.0


class PipelineError(RuntimeError):
    """A batch failed; nothing after it was committed."""


class Pipeline:
    """One running dataflow; ``push`` batches in, ``drain`` waits for the last."""

    def __init__(
        self,
        client: Client,
        plan: BatchPlan,
        max_in_flight: int,
        commit: Callable[[Any], None] | None = None,
        on_outcome: Callable[[BatchOutcome], None] | None = None,
        route_by_object: bool = True,
    ) -> None:
        self.client = client
        self.summary = RunSummary()
        self.max_in_flight = max_in_flight
        self._commit = commit
        self._on_outcome = on_outcome
        self._emitted = 0
        self._finished = 0
        #: Batch tasks handed to Dask whose task has not finished yet.
        self._running = 0
        #: When each batch in flight was handed over (ms), in emission order, as
        #: outcomes come back: the arrival time of packets without a Kafka timestamp.
        self._submitted: deque[float] = deque()
        self._state = threading.Condition()
        self.failure: str | None = None
        #: A task was lost: ``gather`` stopped, the batches after it never finish.
        self._stalled = False
        self._threads = 0
        self._threads_at = -THREADS_REFRESH_S
        self._object_key: KeyReader | None = plan.object_key() if route_by_object else None
        # Every worker sets the stages up now (and any worker that joins later, too);
        # a stage that cannot start fails here, before a batch is read.
        self._exit = ExitStack()
        self.plugin = self._exit.enter_context(installed(client, plan))
        with client.as_current():
            # Elements are the tasks of one raw batch (submitted by ``push``).
            self._source = DaskStream()
            self._source.buffer(max_in_flight).gather().sink(self._acknowledge)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Tear the stages down on the workers and close their clients."""
        self._exit.close()

    @property
    def in_flight(self) -> int:
        return self._emitted - self._finished

    def has_idle_worker(self) -> bool:
        """Whether a batch pushed now would start at once: a worker thread is free and
        ``push`` would not block."""
        now = time.monotonic()
        if now - self._threads_at > THREADS_REFRESH_S:
            # Workers come and go (an adaptive cluster): count their threads again.
            self._workers()
        return self._running < self._threads and self.in_flight < self.max_in_flight

    def push(self, raw: RawBatch, stop: threading.Event | None = None) -> bool:
        """Send a batch in; blocks while ``max_in_flight`` batches are unfinished. False
        when ``stop`` was set while waiting: the batch is not sent (a stop request
        finishes only the batches already in flight; this one is left for the next run)."""
        if not raw.packets and not raw.rejected:
            return True
        stopped = stop.is_set if stop is not None else (lambda: False)
        with self._state:
            while not (self.failure is not None or self.in_flight < self.max_in_flight
                       or stopped()):
                self._state.wait(0.1)
            if self.failure is not None:
                raise PipelineError(self.failure)
            if stopped():
                return False
            self._emitted += 1
            self._submitted.append(time.time() * 1000)
        # The commit token stays here: the workers never need it.
        try:
            parts = self._parts(replace(raw, commit=None))
            tasks = [self._submit(part, worker) for worker, part in parts]
        except Exception as error:  # no worker took it: stop, as for a lost task
            self._fail(f"a batch could not be handed to the workers: {error!r}", stalled=True)
            raise PipelineError(self.failure) from error
        done = RefCounter(cb=partial(self._release, raw.commit), loop=self._source.loop)
        with self.client.as_current():
            self._source.emit(tasks, metadata=[{"ref": done}])
        return True

    def _workers(self) -> list[str]:
        """The workers' addresses now (and their threads, for ``has_idle_worker``)."""
        threads = self.client.nthreads()
        self._threads = sum(threads.values())
        self._threads_at = time.monotonic()
        return list(threads)

    def _parts(self, raw: RawBatch) -> list[tuple[str | None, RawBatch]]:
        if self._object_key is None:
            return [(None, raw)]
        return list(split_by_owner(raw, self._workers(), self._object_key)) or [(None, raw)]

    def _submit(self, part: RawBatch, worker: str | None) -> Future:
        """``part`` sent straight to ``worker`` (any worker if None) and processed there.

        Bound to that worker: Dask's work stealing would otherwise move a queued part to
        an idle worker, and that worker would merge objects another one owns. If the
        worker dies, the packets scattered to it die too and the task is cancelled: the
        run stops there, as for any lost task."""
        where = [worker] if worker is not None else None
        data = self.client.scatter(part, workers=where, direct=True, hash=False)
        task = self.client.submit(process_batch, data, plugin=self.plugin, workers=where,
                                  pure=False)
        with self._state:
            self._running += 1
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: Future) -> None:
        # Called in a thread of the client's, once the task finished one way or another.
        with self._state:
            self._running -= 1
        if task.status in ("error", "cancelled"):
            self._fail(f"a batch task was lost: {task.exception()!r}", stalled=True)

    def _fail(self, reason: str, stalled: bool = False) -> None:
        with self._state:
            if self.failure is None:
                self.failure = reason
            self._stalled = self._stalled or stalled
            self._state.notify_all()

    def _acknowledge(self, outcomes: list[BatchOutcome]) -> None:
        with self._state:
            submitted = self._submitted.popleft() if self._submitted else None
        for outcome in outcomes:
            outcome.submitted_ms = submitted
            if outcome.error is not None:
                self._fail(outcome.error)
            elif self.failure is None:
                self.summary.add(outcome)
            if self._on_outcome is not None:
                self._on_outcome(outcome)

    def _release(self, token: Any) -> None:
        """Every node is done with the batch: it is stored (and published)."""
        try:
            if self.failure is None and self._commit is not None and token is not None:
                self._commit(token)
        finally:
            with self._state:
                self._finished += 1
                self._state.notify_all()

    def drain(self, timeout_s: float | None = None) -> None:
        """Wait until every pushed batch is finished (committed, unless one failed
        before it); raise if one failed."""
        with self._state:
            finished = self._state.wait_for(
                lambda: self._stalled or self._finished >= self._emitted, timeout_s)
        if self.failure is not None:
            raise PipelineError(self.failure)
        if not finished:
            raise PipelineError(f"{self._emitted - self._finished} batches still unfinished "
                                f"after {timeout_s} s")
