"""A pipeline compiled once into a chain of steps.

Most stages work on one document at a time (``$match`` keeps it or not,
``$project``/``$addFields``/``$set``/``$unset``/``$replaceRoot`` reshape it): a chain
``doc -> doc | None`` where each document's run is independent, so an
``EvaluationError`` on one document is reported for that document only. ``$sort``,
``$limit`` and ``$group`` (``batch_stages``) see every document that reached them; a
pipeline holding one runs stage by stage over the list, each output keeping the
position of the input document it reports on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from boom_flow.filters.mql.batch_stages import BATCH_STAGE_COMPILERS, BatchStage, Failures, Row
from boom_flow.filters.mql.errors import EvaluationError, PipelineError
from boom_flow.filters.mql.projection import (
    Stage,
    compile_add_fields,
    compile_project,
    compile_replace_root,
    compile_unset,
)
from boom_flow.filters.mql.query import compile_query
from boom_flow.filters.mql.vectorise import column_mask


def _match(spec: Any, path: str) -> Stage:
    predicate = compile_query(spec, path)
    return lambda doc: doc if predicate(doc) else None


def _replace_root(spec: Any, path: str) -> Stage:
    if not isinstance(spec, dict) or set(spec) != {"newRoot"}:
        raise PipelineError("$replaceRoot takes {newRoot: <expression>}", path=path)
    return compile_replace_root(spec["newRoot"], f"{path}.newRoot")


STAGE_COMPILERS: dict[str, Callable[[Any, str], Any]] = {
    **BATCH_STAGE_COMPILERS,
    "$match": _match,
    "$project": compile_project,
    "$addFields": compile_add_fields,
    "$set": compile_add_fields,
    "$unset": compile_unset,
    "$replaceRoot": _replace_root,
    "$replaceWith": compile_replace_root,
}


@dataclass(frozen=True)
class CompiledPipeline:
    """A pipeline ready to run on in-memory documents, like ``db.aggregate`` over them."""

    pipeline: tuple[dict[str, Any], ...]
    #: Per-document ``Stage`` functions and ``BatchStage`` objects, in order.
    steps: tuple[Any, ...]

    @property
    def batch(self) -> bool:
        """Whether a stage sees all the documents at once (``$sort``/``$limit``/``$group``)."""
        return any(isinstance(step, BatchStage) for step in self.steps)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as its pipeline and compiled again where it is unpickled (closures and
        generated code do not pickle): ships to Dask workers as it is."""
        return (compile_stages, (list(self.pipeline),))

    def run_one(self, document: dict[str, Any]) -> dict[str, Any] | None:
        """The output for one document, or None if a ``$match`` dropped it.

        Raises ``EvaluationError`` when an operator fails on this document's values."""
        if self.batch:
            outcome = self.run_each([document])[0]
            if isinstance(outcome, EvaluationError):
                raise outcome
            return outcome
        current: dict[str, Any] | None = document
        try:
            for step in self.steps:
                current = step(current)
                if current is None:
                    return None
        except EvaluationError:
            raise
        except (ArithmeticError, TypeError, ValueError, RecursionError) as error:
            raise EvaluationError(f"evaluation failed: {type(error).__name__}: {error}"
                                  ) from error
        return current

    def prefilter(self, columns: Mapping[str, Any], size: int) -> np.ndarray:
        """A mask over ``size`` documents, False where the first stage (a ``$match``)
        certainly drops the document, from ``columns`` (dotted path -> one value per
        document; see ``vectorise.column_mask``). All True when nothing is vectorisable."""
        first = self.pipeline[0] if self.pipeline else {}
        if "$match" not in first:
            return np.ones(size, dtype=bool)
        return column_mask(first["$match"], columns, size)

    def run_each(self, documents: Sequence[dict[str, Any]], mask: Sequence[bool] | None = None,
                 ) -> list[dict[str, Any] | EvaluationError | None]:
        """One outcome per input document, aligned with the input: the output document,
        None (filtered out), or the ``EvaluationError`` that document raised.

        ``mask`` (e.g. from ``prefilter``): documents where it is False are not evaluated
        and give None. With batch stages, an output stands at the position of the input
        document it reports on (``batch_stages``)."""
        if self.batch:
            return self._aligned(documents, mask)
        outcomes: list[dict[str, Any] | EvaluationError | None] = []
        for index, document in enumerate(documents):
            if mask is not None and not mask[index]:
                outcomes.append(None)
                continue
            try:
                outcomes.append(self.run_one(document))
            except EvaluationError as error:
                error.index = index
                outcomes.append(error)
        return outcomes

    def run(self, documents: Sequence[dict[str, Any]],
            errors: list[EvaluationError] | None = None) -> list[dict[str, Any]]:
        """The output documents, in input order.

        Without ``errors``, the first failing document raises its ``EvaluationError``
        (MongoDB fails the whole aggregate); with a list, failures are appended to it
        (``.index`` says which input) and the other documents are still evaluated. With
        batch stages, the outputs come in the pipeline's order (``$sort``)."""
        if self.batch:
            rows, failures = self.run_rows(documents)
            if failures and errors is None:
                raise failures[0]
            if errors is not None:
                errors.extend(failures)
            return [document for _, document in rows]
        results = []
        for outcome in self.run_each(documents):
            if isinstance(outcome, EvaluationError):
                if errors is None:
                    raise outcome
                errors.append(outcome)
            elif outcome is not None:
                results.append(outcome)
        return results


    def run_rows(self, documents: Sequence[dict[str, Any]], mask: Sequence[bool] | None = None
                 ) -> tuple[list[Row], list[EvaluationError]]:
        """Stage by stage over all the documents: (the outputs with the position of the
        input each reports on, in the pipeline's order; the errors, ``.index`` set)."""
        rows: list[Row] = [(i, doc) for i, doc in enumerate(documents)
                           if mask is None or mask[i]]
        failures: Failures = []
        for step in self.steps:
            if isinstance(step, BatchStage):
                rows = step.rows(rows, failures)
            else:
                rows = self._each(step, rows, failures)
        errors = []
        for origin, error in sorted(failures, key=lambda pair: pair[0]):
            error.index = origin
            errors.append(error)
        return rows, errors

    @staticmethod
    def _each(step: Stage, rows: list[Row], failures: Failures) -> list[Row]:
        kept = []
        for origin, document in rows:
            try:
                out = step(document)
            except EvaluationError as error:
                failures.append((origin, error))
                continue
            except (ArithmeticError, TypeError, ValueError, RecursionError) as error:
                failures.append((origin, EvaluationError(
                    f"evaluation failed: {type(error).__name__}: {error}")))
                continue
            if out is not None:
                kept.append((origin, out))
        return kept

    def _aligned(self, documents: Sequence[dict[str, Any]], mask: Sequence[bool] | None
                 ) -> list[dict[str, Any] | EvaluationError | None]:
        outcomes: list[dict[str, Any] | EvaluationError | None] = [None] * len(documents)
        rows, errors = self.run_rows(documents, mask)
        for error in errors:
            outcomes[error.index] = error  # type: ignore[index]
        for origin, document in rows:
            outcomes[origin] = document
        return outcomes


def compile_stages(pipeline: Sequence[Any]) -> CompiledPipeline:
    """Compile any pipeline of per-document stages (no filter-specific rules)."""
    if not isinstance(pipeline, (list, tuple)):
        raise PipelineError("a pipeline must be an array of stages", path="pipeline")
    steps = []
    for index, stage in enumerate(pipeline):
        path = f"pipeline[{index}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            raise PipelineError("each stage must be an object with exactly one field",
                                path=path)
        (name, spec), = stage.items()
        compiler = STAGE_COMPILERS.get(name)
        if compiler is None:
            raise PipelineError(f"unsupported stage {name}", operator=name,
                                path=f"{path}.{name}")
        try:
            steps.append(compiler(spec, f"{path}.{name}"))
        except RecursionError as error:
            raise PipelineError("the stage is nested too deeply", operator=name,
                                path=f"{path}.{name}") from error
    return CompiledPipeline(tuple(pipeline), tuple(steps))
