"""What an operator's builder gets when it is compiled: a way to compile its arguments.

An expression compiles once into an ``Evaluator``: a closure ``variables -> value``,
where ``variables`` holds ``CURRENT``, ``ROOT`` and the user's variables of the moment
(``$let``, ``$map``'s ``as``, ``$$this``/``$$value`` in ``$reduce``). Builders live in
their own modules (``arithmetic``, ``arrays``, ``logic``, ``misc``) and receive a
``Scope``; that keeps them free of the dispatcher and of each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from boom_flow.filters.mql.errors import EvaluationError, PipelineError

Evaluator = Callable[[dict[str, Any]], Any]
Builder = Callable[[Any, "Scope"], Evaluator]


@dataclass(frozen=True)
class Scope:
    """Compilation context: where we are (for messages) and which variables exist."""

    path: str
    variables: frozenset[str]
    compile_fn: Callable[[Any, Scope], Evaluator] = field(repr=False)
    operator: str = ""

    def at(self, suffix: str | int) -> Scope:
        step = f"[{suffix}]" if isinstance(suffix, int) else f".{suffix}"
        return Scope(self.path + step, self.variables, self.compile_fn, self.operator)

    def with_variables(self, names: Iterable[str]) -> Scope:
        return Scope(self.path, self.variables | frozenset(names), self.compile_fn,
                     self.operator)

    def compile(self, spec: Any, suffix: str | int | None = None) -> Evaluator:
        scope = self if suffix is None else self.at(suffix)
        return self.compile_fn(spec, scope)

    def error(self, message: str) -> PipelineError:
        return PipelineError(message, operator=self.operator or None, path=self.path)

    def args(self, arg: Any, low: int, high: int | None = None) -> list[Evaluator]:
        """Positional arguments: an array literal is the list, anything else is one."""
        specs = arg if isinstance(arg, list) else [arg]
        high = low if high is None else high
        if not low <= len(specs) <= high:
            wanted = str(low) if low == high else f"{low} to {high}"
            raise self.error(f"Expression {self.operator} takes {wanted} argument(s), "
                             f"{len(specs)} were passed in")
        if not isinstance(arg, list):
            return [self.compile(arg)]
        return [self.compile(spec, index) for index, spec in enumerate(specs)]

    def named(self, arg: Any, required: tuple[str, ...],
              optional: tuple[str, ...] = ()) -> Mapping[str, Any]:
        """Named arguments of an object-form operator, checked for unknown or absent keys."""
        if not isinstance(arg, dict):
            raise self.error(f"{self.operator} expects an object as its argument")
        unknown = [key for key in arg if key not in required and key not in optional]
        if unknown:
            raise self.error(f"{self.operator} found an unknown argument: {unknown[0]}")
        absent = [key for key in required if key not in arg]
        if absent:
            raise self.error(f"Missing '{absent[0]}' parameter to {self.operator}")
        return arg

    def variable_name(self, name: Any) -> str:
        """A user variable name: starts with a lowercase letter, then letters/digits/_."""
        if not isinstance(name, str) or not name or not (name[0].islower() and name.isascii()):
            raise self.error(f"invalid variable name {name!r} in {self.operator}")
        if not all(c.isalnum() or c == "_" for c in name):
            raise self.error(f"invalid variable name {name!r} in {self.operator}")
        return name


def fail(operator: str, message: str) -> EvaluationError:
    """A run-time error of ``operator`` on the current document."""
    return EvaluationError(f"{operator}: {message}", operator=operator)
