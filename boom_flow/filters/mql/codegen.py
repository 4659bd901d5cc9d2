"""Hot expressions compiled to Python source: one function per expression tree.

The closures of ``expressions.py`` cost a Python call per node; in a ``$map`` over a
light curve that is most of a filter's time. For the operators filters use in their
inner loops (field paths, variables, comparisons, ``$and/$or/$not``, ``$abs``,
``$subtract/$add/$multiply/$divide`` of two operands, ``$cond``, ``$ifNull``) this
module writes one Python expression for the whole tree, with the common case inline
(two plain numbers, a document on the path) and MongoDB's general rules in the same
helpers the closures use (``compare``, ``subtract``...), so the result is the same.
Any other operator in the tree is compiled as a closure and called from the code.

Operands are evaluated in order, each once (walrus temporaries), as the closures do.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from types import CodeType
from typing import Any

from boom_flow.filters.mql.arithmetic import absolute, divide, subtract
from boom_flow.filters.mql.paths import expression_value
from boom_flow.filters.mql.scope import Evaluator, Scope
from boom_flow.filters.mql.values import MISSING, compare, truthy

_COMPARISONS = {"$eq": "==", "$ne": "!=", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_ARITHMETIC = {"$subtract": ("-", "subtract"), "$divide": ("/", "divide")}
SUPPORTED = frozenset({*_COMPARISONS, *_ARITHMETIC, "$and", "$or", "$not", "$abs", "$cond",
                       "$ifNull"})
#: Compiled code by source: the same tree shape (constants are names in the source, their
#: values live in each function's namespace) is parsed once, however many filters hold it.
_CODE: dict[str, CodeType] = {}
_HELPERS: dict[str, Any] = {
    "MISSING": MISSING, "compare": compare, "truthy": truthy, "path": expression_value,
    "subtract": subtract, "divide": divide, "absolute": absolute,
    "PLAIN": frozenset({float, int}), "dict": dict, "type": type, "float": float,
}


class _Writer:
    """Accumulates the source of one function and the objects it refers to."""

    def __init__(self, compile_closure: Callable[[Any, Scope], Evaluator]) -> None:
        self.names: dict[str, Any] = dict(_HELPERS)
        self.counter = itertools.count()
        self.compile_closure = compile_closure

    def temp(self) -> str:
        return f"_t{next(self.counter)}"

    def constant(self, value: Any) -> str:
        name = f"_k{next(self.counter)}"
        self.names[name] = value
        return name

    def closure(self, spec: Any, scope: Scope) -> str:
        name = f"_c{next(self.counter)}"
        self.names[name] = self.compile_closure(spec, scope)
        return f"{name}(V)"

    def expression(self, spec: Any, scope: Scope) -> str:
        """Source of an expression evaluating ``spec`` with the variables ``V``."""
        if isinstance(spec, str) and spec.startswith("$"):
            return self.field(spec, scope)
        if isinstance(spec, dict) and len(spec) == 1:
            (operator, argument), = spec.items()
            if operator in SUPPORTED:
                inner = Scope(f"{scope.path}.{operator}", scope.variables, scope.compile_fn,
                              operator)
                return self.operator(operator, argument, inner)
            if operator == "$literal":
                return self.constant(argument)
        if isinstance(spec, (dict, list)):
            return self.closure(spec, scope)
        return self.constant(spec)

    def field(self, spec: str, scope: Scope) -> str:
        if spec.startswith("$$"):
            name, *parts = spec[2:].split(".")
            if name == "REMOVE" or name not in scope.variables or not all(parts):
                return self.closure(spec, scope)  # validated (and refused) there
            base = f"V.get({name!r}, MISSING)"
        else:
            parts = spec[1:].split(".")
            if not all(parts) or any(part.startswith("$") for part in parts):
                return self.closure(spec, scope)  # refused there
            base = "V['CURRENT']"
        if not parts:
            return base
        if len(parts) > 2:
            return f"path({base}, {tuple(parts)!r})"
        value = base
        for part in parts:
            held = self.temp()
            value = (f"({held}.get({part!r}, MISSING) if type({held} := {value}) is dict "
                     f"else path({held}, {(part,)!r}))")
        return value

    def operands(self, argument: Any, scope: Scope, low: int, high: int) -> list[Any]:
        specs = argument if isinstance(argument, list) else [argument]
        if not low <= len(specs) <= high:
            scope.args(argument, low, high)  # raises the closures' own message
        return specs

    def operator(self, operator: str, argument: Any, scope: Scope) -> str:
        if operator in _COMPARISONS:
            return self.comparison(operator, argument, scope)
        if operator in _ARITHMETIC:
            return self.arithmetic(operator, argument, scope)
        if operator in ("$and", "$or"):
            specs = self.operands(argument, scope, 0, 10_000)
            if not specs:
                return "True" if operator == "$and" else "False"
            joined = f" {operator[1:]} ".join(
                self.truth(spec, scope.at(i) if isinstance(argument, list) else scope)
                for i, spec in enumerate(specs))
            return f"({joined})"
        if operator == "$not":
            (spec,) = self.operands(argument, scope, 1, 1)
            return f"(not {self.truth(spec, self._at(scope, argument, 0))})"
        if operator == "$abs":
            (spec,) = self.operands(argument, scope, 1, 1)
            held = self.temp()
            value = self.expression(spec, self._at(scope, argument, 0))
            return f"(abs({held}) if type({held} := {value}) is float else absolute({held}))"
        if operator == "$cond":
            return self.condition(argument, scope)
        return self.if_null(argument, scope)

    @staticmethod
    def _at(scope: Scope, argument: Any, index: int) -> Scope:
        return scope.at(index) if isinstance(argument, list) else scope

    def truth(self, spec: Any, scope: Scope) -> str:
        held = self.temp()
        value = self.expression(spec, scope)
        return f"({held} if type({held} := {value}) is bool else truthy({held}))"

    def comparison(self, operator: str, argument: Any, scope: Scope) -> str:
        left_spec, right_spec = self.operands(argument, scope, 2, 2)
        symbol = _COMPARISONS[operator]
        left, a = self.expression(left_spec, scope.at(0)), self.temp()
        if type(right_spec) in (int, float) and not (
                isinstance(right_spec, float) and math.isnan(right_spec)):
            b = self.constant(right_spec)
            return (f"({a} {symbol} {b} if type({a} := {left}) in PLAIN and {a} == {a} "
                    f"else compare({a}, {b}) {symbol} 0)")
        if type(right_spec) is bool or (type(right_spec) is str
                                        and not right_spec.startswith("$")):
            # a constant of the same type: Python's order is MongoDB's
            b, kind = self.constant(right_spec), self.constant(type(right_spec))
            return (f"({a} {symbol} {b} if type({a} := {left}) is {kind} "
                    f"else compare({a}, {b}) {symbol} 0)")
        right, b = self.expression(right_spec, scope.at(1)), self.temp()
        return (f"({a} {symbol} {b} if (type({a} := {left}) in PLAIN) & "
                f"(type({b} := {right}) in PLAIN) and {a} == {a} and {b} == {b} "
                f"else compare({a}, {b}) {symbol} 0)")

    def arithmetic(self, operator: str, argument: Any, scope: Scope) -> str:
        left_spec, right_spec = self.operands(argument, scope, 2, 2)
        symbol, helper = _ARITHMETIC[operator]
        left, a = self.expression(left_spec, scope.at(0)), self.temp()
        right, b = self.expression(right_spec, scope.at(1)), self.temp()
        guard = f" and {b} != 0" if operator == "$divide" else ""
        return (f"({a} {symbol} {b} if (type({a} := {left}) is float) & "
                f"(type({b} := {right}) is float){guard} else {helper}({a}, {b}))")

    def condition(self, argument: Any, scope: Scope) -> str:
        if isinstance(argument, dict):
            named = scope.named(argument, ("if", "then", "else"))
            test = self.truth(named["if"], scope.at("if"))
            then = self.expression(named["then"], scope.at("then"))
            otherwise = self.expression(named["else"], scope.at("else"))
        else:
            specs = self.operands(argument, scope, 3, 3)
            test = self.truth(specs[0], self._at(scope, argument, 0))
            then = self.expression(specs[1], self._at(scope, argument, 1))
            otherwise = self.expression(specs[2], self._at(scope, argument, 2))
        return f"({then} if {test} else {otherwise})"

    def if_null(self, argument: Any, scope: Scope) -> str:
        specs = self.operands(argument, scope, 2, 10_000)
        *candidates, replacement = specs
        source = self.expression(replacement, self._at(scope, argument, len(specs) - 1))
        for index in reversed(range(len(candidates))):
            held = self.temp()
            value = self.expression(candidates[index], self._at(scope, argument, index))
            source = (f"({held} if ({held} := {value}) is not None and {held} is not MISSING "
                      f"else {source})")
        return source


def generate(spec: dict[str, Any], scope: Scope,
             compile_closure: Callable[[Any, Scope], Evaluator]) -> Evaluator | None:
    """One Python function evaluating ``spec`` (an operator of ``SUPPORTED``); None when
    the tree is too deep for Python's parser (the closures then evaluate it)."""
    writer = _Writer(compile_closure)
    body = writer.expression(spec, scope)
    source = f"def evaluate(V):\n    return {body}\n"
    code = _CODE.get(source)
    if code is None:
        try:
            code = compile(source, f"<mql {scope.path}>", "exec")
        except (SyntaxError, RecursionError, MemoryError):  # "too many nested parentheses"
            return None
        if len(_CODE) >= 4096:
            _CODE.clear()
        _CODE[source] = code
    # our own generated source: user strings appear in it only as repr() literals
    exec(code, writer.names)
    return writer.names["evaluate"]
