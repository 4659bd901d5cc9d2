"""MongoDB's aggregation language evaluated in Python on in-memory documents.

Users' filters are MongoDB pipelines written for BOOM/Kowalski; boom_flow runs them on
the micro-batch before it is written, so they must behave exactly as MongoDB would
(missing vs null, array matching, type order, numeric types). No library did that
correctly for the real filters (mongomock lacks ``$anyElementTrue``/``$sortArray`` and
re-reads the pipeline for every document), hence this package: a pipeline is parsed and
compiled once into closures, then run on many documents.

- ``parse_pipeline(source)``: JSON text or list -> list of stages (``PipelineError``);
- ``validate_filter_pipeline(pipeline)``: the filter rules of ``filters.md``;
- ``compile_pipeline(pipeline)``: validate, then compile -> ``CompiledPipeline``;
- ``compile_stages(pipeline)``: compile any per-document pipeline, no filter rules;
- ``CompiledPipeline.run(docs)`` / ``run_each(docs)`` / ``run_one(doc)``; a document on
  which an operator fails raises (or yields) an ``EvaluationError`` for that document;
- ``explain.Explainer``: documents in and out of each stage, and why one was dropped.

Regular expressions run on PCRE2 as MongoDB's do (``regex``); ``$sort``, ``$limit`` and
``$group`` see all the documents at once (``batch_stages``).
"""

from __future__ import annotations

from boom_flow.filters.mql.errors import EvaluationError, PipelineError
from boom_flow.filters.mql.expressions import OPERATORS as EXPRESSION_OPERATORS
from boom_flow.filters.mql.query import QUERY_OPERATORS
from boom_flow.filters.mql.stages import STAGE_COMPILERS, CompiledPipeline, compile_stages
from boom_flow.filters.mql.validate import (
    FILTER_STAGES,
    FORBIDDEN,
    parse_pipeline,
    validate_filter_pipeline,
)
from boom_flow.filters.mql.values import MISSING


def compile_pipeline(pipeline: list[dict] | str | bytes) -> CompiledPipeline:
    """Validate a filter pipeline (``filters.md``) and compile it once."""
    stages = parse_pipeline(pipeline)
    validate_filter_pipeline(stages)
    return compile_stages(stages)


__all__ = [
    "EXPRESSION_OPERATORS",
    "FILTER_STAGES",
    "FORBIDDEN",
    "MISSING",
    "QUERY_OPERATORS",
    "STAGE_COMPILERS",
    "CompiledPipeline",
    "EvaluationError",
    "PipelineError",
    "compile_pipeline",
    "compile_stages",
    "parse_pipeline",
    "validate_filter_pipeline",
]
