"""The two ways a pipeline can fail: refused when compiled, or failing on one document.

``PipelineError`` is raised once, before any document is seen (bad JSON, a refused stage
or operator, a malformed argument); ``EvaluationError`` is raised for one document
whose values make an operator fail at run time (``$size`` of a non-array, division by
zero...). MongoDB would fail the whole aggregate on the latter; a live stream must not,
so callers catch it per document and count it.
"""

from __future__ import annotations


class PipelineError(ValueError):
    """A refused pipeline.

    ``operator``: the offending operator or stage (or None); ``path``: where it sits, e.g.
    ``pipeline[2].$project.annotations.$where``.
    """

    def __init__(self, message: str, *, operator: str | None = None, path: str = "") -> None:
        self.operator = operator
        self.path = path
        self.reason = message
        where = f" at {path}" if path else ""
        super().__init__(f"{message}{where}")


class EvaluationError(ValueError):
    """An operator failed on one document's values (MongoDB's run-time error).

    ``operator``: the failing operator; ``index``: the position of the document in the
    input when raised by ``CompiledPipeline.run_each``/``run`` (None otherwise).
    """

    def __init__(self, message: str, *, operator: str | None = None) -> None:
        self.operator = operator
        self.index: int | None = None
        super().__init__(message)
