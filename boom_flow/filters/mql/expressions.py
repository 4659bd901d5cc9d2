"""Aggregation expressions compiled once into closures ``variables -> value``.

An expression is a field path (``"$candidate.jd"``), a variable (``"$$cand.jd"``,
``"$$ROOT"``, ``"$$REMOVE"``), an operator object (``{"$abs": ...}``), an object or array
literal of expressions, or a constant. Unknown operators and undefined variables are
refused when compiling, with the path where they sit, as MongoDB refuses them when it
parses the pipeline.
"""

from __future__ import annotations

from typing import Any

from boom_flow.filters.mql import arithmetic, arrays, codegen, logic, misc, regex, sets
from boom_flow.filters.mql.errors import PipelineError
from boom_flow.filters.mql.paths import expression_value
from boom_flow.filters.mql.scope import Builder, Evaluator, Scope
from boom_flow.filters.mql.values import MISSING

#: Every expression operator this evaluator implements.
OPERATORS: dict[str, Builder] = {
    **arithmetic.OPERATORS, **arrays.OPERATORS, **logic.OPERATORS, **misc.OPERATORS,
    **regex.OPERATORS, **sets.OPERATORS,
}
OPERATORS["$literal"] = lambda arg, scope: constant(arg)
SYSTEM_VARIABLES = frozenset({"ROOT", "CURRENT", "REMOVE"})


def constant(value: Any) -> Evaluator:
    """An evaluator of a constant; ``.constant`` lets operators specialise on it."""
    def evaluate(variables: dict[str, Any]) -> Any:
        return value
    evaluate.constant = value  # type: ignore[attr-defined]
    return evaluate


def root_scope(path: str, variables: frozenset[str] = frozenset()) -> Scope:
    return Scope(path, SYSTEM_VARIABLES | variables, compile_expression)


def compile_expression(spec: Any, scope: Scope) -> Evaluator:
    """Compile ``spec`` (any expression) at ``scope``."""
    if isinstance(spec, str):
        if spec.startswith("$$"):
            return _variable(spec[2:], scope)
        if spec.startswith("$"):
            return _field_path(spec[1:], scope)
        return constant(spec)
    if isinstance(spec, dict):
        if len(spec) == 1 and next(iter(spec)) in codegen.SUPPORTED:
            generated = codegen.generate(spec, scope, _closure)
            if generated is not None:
                return generated
        return _object(spec, scope)
    if isinstance(spec, list):
        items = [scope.compile(item, index) for index, item in enumerate(spec)]
        return lambda variables: [_present(item(variables)) for item in items]
    return constant(spec)


def _closure(spec: Any, scope: Scope) -> Evaluator:
    """``spec`` compiled as a closure at its root (its arguments may be generated code)."""
    if isinstance(spec, dict):
        return _object(spec, scope)
    return compile_expression(spec, scope)


def _present(value: Any) -> Any:
    """Array literal elements: a missing value becomes null."""
    return None if value is MISSING else value


def _field_path(path: str, scope: Scope) -> Evaluator:
    parts = tuple(path.split("."))
    if not path or any(not part or part.startswith("$") for part in parts):
        raise scope.error(f"invalid field path '${path}'")
    return _walker("CURRENT", parts)


def _walker(name: str, parts: tuple[str, ...]) -> Evaluator:
    if not parts:
        return lambda variables: variables.get(name, MISSING)
    if len(parts) == 1:
        (first,) = parts

        def get_one(variables: dict[str, Any]) -> Any:
            value = variables.get(name, MISSING)
            if type(value) is dict:
                return value.get(first, MISSING)
            return expression_value(value, parts)
        return get_one
    if len(parts) == 2:
        first, second = parts

        def get_two(variables: dict[str, Any]) -> Any:
            value = variables.get(name, MISSING)
            if type(value) is dict:
                inner = value.get(first, MISSING)
                if type(inner) is dict:
                    return inner.get(second, MISSING)
            return expression_value(value, parts)
        return get_two
    return lambda variables: expression_value(variables.get(name, MISSING), parts)


def _variable(text: str, scope: Scope) -> Evaluator:
    name, *rest = text.split(".")
    if name not in scope.variables:
        raise scope.error(f"Use of undefined variable: {name}")
    if name == "REMOVE":
        return lambda variables: MISSING
    if any(not part for part in rest):
        raise scope.error(f"invalid variable path '$${text}'")
    return _walker(name, tuple(rest))


def _object(spec: dict[str, Any], scope: Scope) -> Evaluator:
    operators = [key for key in spec if key.startswith("$")]
    if operators:
        if len(spec) != 1:
            raise scope.error("an expression specification must contain exactly one field, "
                              f"the name of the expression, found {len(spec)}: "
                              f"{', '.join(spec)}")
        operator = operators[0]
        builder = OPERATORS.get(operator)
        inner = Scope(f"{scope.path}.{operator}", scope.variables, scope.compile_fn, operator)
        if builder is None:
            raise PipelineError(f"unsupported expression operator {operator}",
                                operator=operator, path=inner.path)
        return builder(spec[operator], inner)
    fields = []
    for key, value in spec.items():
        if "." in key or not key:
            raise scope.at(key).error(f"field name '{key}' cannot contain '.' or be empty in "
                                      "an object expression")
        fields.append((key, scope.compile(value, key)))

    def build(variables: dict[str, Any]) -> dict[str, Any]:
        result = {}
        for key, item in fields:
            value = item(variables)
            if value is not MISSING:
                result[key] = value
        return result
    return build
