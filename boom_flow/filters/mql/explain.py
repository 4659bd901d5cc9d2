"""Why a pipeline keeps or drops each document: counts per stage, and the false condition.

A filter that passes nothing (or everything) is hard to debug from its output alone;
users ask (BOOM issue 577) how many alerts enter and leave each stage, and, for one
alert, which stage dropped it and on which condition, with the values it saw. The
``Explainer`` runs the compiled stages one at a time over the documents, counts, and for
a ``$match`` that drops a traced document finds the first clause that is false:

- a field condition (``{"candidate.drb": {"$gt": 0.9}}``) with the field's value;
- inside ``$and`` the first false clause; an ``$or``/``$nor`` as a whole, with its
  clauses' fields;
- an ``$expr``: descending through ``$and``/``$or``/``$not`` to the false comparison,
  with the value of each operand and of each field path it reads.

The answer is the evaluator's own: the stages run are the compiled ones, and a clause is
judged by compiling it alone (a ``$match`` is the conjunction of its clauses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from boom_flow.filters.mql.batch_stages import BatchStage, Failures
from boom_flow.filters.mql.errors import EvaluationError
from boom_flow.filters.mql.expressions import compile_expression, root_scope
from boom_flow.filters.mql.paths import expression_value, query_values, split
from boom_flow.filters.mql.query import compile_query
from boom_flow.filters.mql.stages import CompiledPipeline, compile_stages
from boom_flow.filters.mql.values import MISSING, truthy

#: Longest array shown as a value (the rest is summarised).
SHOWN_ITEMS = 20
_LOGICAL = ("$and", "$or", "$not", "$nor")


@dataclass
class StageCount:
    """How many documents entered and left one stage (and failed in it)."""

    index: int
    name: str
    entered: int = 0
    left: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.index, "name": self.name, "in": self.entered,
                "out": self.left, "errors": self.errors}


@dataclass
class Explainer:
    """Accumulates per-stage counts over batches of documents; traces ``watch`` ids."""

    pipeline: list[dict[str, Any]]
    watch: frozenset[Any] = frozenset()
    compiled: CompiledPipeline = field(init=False)
    counts: list[StageCount] = field(init=False)
    traces: dict[Any, dict[str, Any]] = field(default_factory=dict)
    documents: int = 0
    passed: int = 0

    def __post_init__(self) -> None:
        self.compiled = compile_stages(self.pipeline)
        self.counts = [StageCount(i, next(iter(stage))) for i, stage in
                       enumerate(self.pipeline)]

    def add(self, documents: Sequence[dict[str, Any]]) -> None:
        """Run every stage over ``documents`` (one batch), counting and tracing."""
        self.documents += len(documents)
        current = [(doc.get("_id"), doc) for doc in documents]
        for index, step in enumerate(self.compiled.steps):
            count = self.counts[index]
            count.entered += len(current)
            current = self._stage(index, step, current)
            count.left += len(current)
        self.passed += len(current)
        for key, output in current:
            if key in self.watch:
                self.traces[key] = {"passed": True, "output": output}

    def _stage(self, index: int, step: Any, current: list[tuple[Any, dict[str, Any]]]
               ) -> list[tuple[Any, dict[str, Any]]]:
        if isinstance(step, BatchStage):
            return self._batch_stage(index, step, current)
        kept = []
        for key, doc in current:
            try:
                out = step(doc)
            except (EvaluationError, ArithmeticError, TypeError, ValueError) as error:
                self.counts[index].errors += 1
                if key in self.watch:
                    self.traces[key] = self._dropped(index, error=f"{type(error).__name__}: "
                                                     f"{error}")
                continue
            if out is not None:
                kept.append((key, out))
            elif key in self.watch:
                self.traces[key] = self._dropped(index, doc=doc)
        return kept

    def _batch_stage(self, index: int, step: BatchStage,
                     current: list[tuple[Any, dict[str, Any]]]
                     ) -> list[tuple[Any, dict[str, Any]]]:
        """``$sort``/``$limit``/``$group`` over the documents that reached it."""
        failures: Failures = []
        rows = step.rows(list(enumerate(doc for _, doc in current)), failures)
        self.counts[index].errors += len(failures)
        failed = {origin: error for origin, error in failures}
        kept = {origin for origin, _ in rows}
        reason = {"$limit": "beyond the first documents the $limit keeps",
                  "$group": "merged by the $group into an output reported for another "
                            "alert (its group's last)"}.get(step.name, "")
        for origin, (key, _) in enumerate(current):
            if key in self.watch and origin not in kept:
                error = failed.get(origin)
                trace = self._dropped(index, error=f"{type(error).__name__}: {error}"
                                      if error else "")
                if not error:
                    trace["reason"] = reason
                self.traces[key] = trace
        return [(current[origin][0], doc) for origin, doc in rows]

    def _dropped(self, index: int, doc: dict[str, Any] | None = None, error: str = ""
                 ) -> dict[str, Any]:
        name, spec = next(iter(self.pipeline[index].items()))
        trace: dict[str, Any] = {"passed": False, "dropped_at": index, "stage": name}
        if error:
            trace["error"] = error
        elif name == "$match" and doc is not None:
            trace["condition"] = why_false(spec, doc, f"pipeline[{index}].$match")
        return trace

    def report(self) -> dict[str, Any]:
        """The counts per stage and, per watched id, what happened to it."""
        traced = {}
        for key in sorted(self.watch, key=repr):
            traced[str(key)] = self.traces.get(key, {
                "passed": False, "evaluated": False,
                "reason": "not among the alerts evaluated (outside the window or the "
                          "filter's rights, or unknown)"})
        return {"alerts": self.documents, "passed": self.passed,
                "stages": [count.as_dict() for count in self.counts], "candids": traced}


def why_false(query: dict[str, Any], doc: dict[str, Any], path: str) -> dict[str, Any] | None:
    """The first clause of ``query`` that ``doc`` fails (None if it passes them all)."""
    for key, value in query.items():
        where = f"{path}.{key}"
        if key == "$comment":
            continue
        if key == "$and":
            for position, clause in enumerate(value):
                found = why_false(clause, doc, f"{where}[{position}]")
                if found is not None:
                    return found
            continue
        if compile_query({key: value}, path)(doc):
            continue
        if key == "$expr":
            return _expression_false(value, doc, where)
        fields = _query_fields({key: value})
        return _reason(where, {key: value}, doc, fields, query_path=True)
    return None


def _reason(path: str, spec: Any, doc: dict[str, Any], fields: Iterable[str],
            query_path: bool, operands: list[Any] | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {}
    missing: list[str] = []
    for name in dict.fromkeys(fields):
        value = _query_value(doc, name) if query_path else expression_value(doc, split(name))
        if value is MISSING:
            missing.append(name)
        else:
            values[name] = shown(value)
    reason: dict[str, Any] = {"path": path, "spec": spec, "values": values, "missing": missing}
    if operands is not None:
        reason["operands"] = [shown(None if v is MISSING else v) for v in operands]
    return reason


def _query_value(doc: dict[str, Any], name: str) -> Any:
    found = [v for v in query_values(doc, split(name)) if v is not MISSING]
    if not found:
        return MISSING
    return found[0] if len(found) == 1 else found


def _query_fields(query: Any) -> list[str]:
    """Field paths a query reads (its non-operator keys, and paths in its ``$expr``)."""
    names: list[str] = []
    if isinstance(query, dict):
        for key, value in query.items():
            if key == "$expr":
                names += _expression_fields(value)
            elif key in _LOGICAL and isinstance(value, list):
                for clause in value:
                    names += _query_fields(clause)
            elif not key.startswith("$"):
                names.append(key)
    return names


def _expression_fields(spec: Any) -> list[str]:
    """Field paths (``$a.b``, not ``$$variables``) an expression reads."""
    if isinstance(spec, str):
        return [spec[1:]] if spec.startswith("$") and not spec.startswith("$$") else []
    if isinstance(spec, dict):
        return [name for value in spec.values() for name in _expression_fields(value)]
    if isinstance(spec, list):
        return [name for value in spec for name in _expression_fields(value)]
    return []


def _expression_false(spec: Any, doc: dict[str, Any], path: str) -> dict[str, Any]:
    """Descend into a false ``$expr`` to the innermost false clause."""
    if isinstance(spec, dict) and len(spec) == 1:
        (operator, argument), = spec.items()
        where = f"{path}.{operator}"
        if operator == "$and" and isinstance(argument, list):
            for position, clause in enumerate(argument):
                if not _truth(clause, doc, f"{where}[{position}]"):
                    return _expression_false(clause, doc, f"{where}[{position}]")
        if operator == "$not" and isinstance(argument, list) and len(argument) == 1:
            return _reason(where, spec, doc, _expression_fields(spec), query_path=False)
        if isinstance(argument, list) and operator not in ("$or", "$and"):
            operands = [_value(item, doc, f"{where}[{i}]") for i, item in enumerate(argument)]
            return _reason(path, spec, doc, _expression_fields(spec), query_path=False,
                           operands=operands)
    return _reason(path, spec, doc, _expression_fields(spec), query_path=False)


def _value(spec: Any, doc: dict[str, Any], path: str) -> Any:
    try:
        return compile_expression(spec, root_scope(path))({"CURRENT": doc, "ROOT": doc})
    except (EvaluationError, ArithmeticError, TypeError, ValueError) as error:
        return f"<error: {error}>"


def _truth(spec: Any, doc: dict[str, Any], path: str) -> bool:
    value = _value(spec, doc, path)
    return not (isinstance(value, str) and value.startswith("<error")) and truthy(value)


def shown(value: Any) -> Any:
    """A value as an explanation shows it: long arrays cut, JSON-friendly."""
    if isinstance(value, list):
        head = [shown(item) for item in value[:SHOWN_ITEMS]]
        if len(value) > SHOWN_ITEMS:
            head.append(f"... {len(value) - SHOWN_ITEMS} more")
        return head
    if isinstance(value, dict):
        return {key: shown(item) for key, item in value.items() if item is not MISSING}
    return value


def describe(report: dict[str, Any]) -> list[str]:
    """The report as lines of text (the CLI's output)."""
    lines = [f"{report['passed']} of {report['alerts']} alerts pass"]
    for stage in report["stages"]:
        errors = f", {stage['errors']} errors" if stage["errors"] else ""
        lines.append(f"  stage {stage['stage']} {stage['name']:<11} in {stage['in']:>6}  "
                     f"out {stage['out']:>6}{errors}")
    for key, trace in report["candids"].items():
        if trace["passed"]:
            lines.append(f"candid {key}: passes")
        elif not trace.get("evaluated", True):
            lines.append(f"candid {key}: {trace['reason']}")
        else:
            lines.append(f"candid {key}: dropped by stage {trace['dropped_at']} "
                         f"({trace['stage']})")
            if "error" in trace:
                lines.append(f"  error: {trace['error']}")
            if "reason" in trace:
                lines.append(f"  {trace['reason']}")
            condition = trace.get("condition")
            if condition:
                lines.append(f"  false: {condition['path']} {json.dumps(condition['spec'])}")
                lines.append(f"  values: {json.dumps(condition['values'], default=str)}"
                             + (f"; operands: {json.dumps(condition['operands'], default=str)}"
                                if "operands" in condition else "")
                             + (f"; missing: {', '.join(condition['missing'])}"
                                if condition["missing"] else ""))
    return lines
