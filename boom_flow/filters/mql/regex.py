"""Regular expressions as MongoDB runs them: PCRE2, not Python's ``re``.

MongoDB compiles every ``$regex``/``$regexMatch``/``$regexFind``/``$regexFindAll``
pattern with PCRE2 in UTF mode (options ``i``, ``m``, ``s``, ``x``; ``u`` accepted and
redundant) and without Unicode properties, so ``\\w``, ``\\d``, ``\\b`` and POSIX classes
are ASCII-only while ``.`` and case folding work on code points. Python's ``re`` differs
(Unicode ``\\w``, no ``\\z``/``\\Q...\\E``/POSIX classes, other errors), so the evaluator
uses PCRE2 itself (the ``pcre2`` bindings), with the same options.

Bounded: PCRE2 counts the backtracking steps of each match against its match limit
(10 million) and stops with an error past it, so ``^(a+)+$`` against a long string costs
a fraction of a second and fails that one document (``EvaluationError``) instead of
freezing a worker. Filter validation also refuses catastrophic patterns up front.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pcre2
from bson import Regex

from boom_flow.filters.mql.errors import EvaluationError, PipelineError
from boom_flow.filters.mql.scope import Builder, Evaluator, Scope, fail
from boom_flow.filters.mql.values import MISSING, type_name

#: MongoDB's option letters; ASCII keeps PCRE2 in UTF mode without Unicode properties.
OPTION_FLAGS = {"i": pcre2.IGNORECASE, "m": pcre2.MULTILINE, "s": pcre2.DOTALL,
                "x": pcre2.VERBOSE, "u": 0}
Pattern = Any  # pcre2.Pattern


class RegexOptionError(ValueError):
    """An option letter MongoDB does not know."""


@lru_cache(maxsize=4096)
def _compiled(pattern: str, options: str) -> Pattern:
    flags = pcre2.ASCII
    for letter in options:
        if letter not in OPTION_FLAGS:
            raise RegexOptionError(f"invalid flag in regex options: {letter}")
        flags |= OPTION_FLAGS[letter]
    # no JIT: MongoDB's interpreter limits (match limit, stack) are the ones that apply
    return pcre2.compile(pattern, flags, jit=False)


def compile_regex(pattern: str, options: str, operator: str, path: str) -> Pattern:
    """The compiled pattern, or a ``PipelineError`` naming the operator and its place."""
    try:
        return _compiled(pattern, options)
    except RegexOptionError as error:
        raise PipelineError(str(error), operator=operator, path=path) from error
    except pcre2.PatternError as error:
        raise PipelineError(f"invalid regular expression: {error}", operator=operator,
                            path=path) from error


def compile_at_run_time(pattern: str, options: str, operator: str) -> Pattern:
    """A pattern computed from the document: its errors are the document's."""
    try:
        return _compiled(pattern, options)
    except (RegexOptionError, pcre2.PatternError) as error:
        raise EvaluationError(f"{operator}: invalid regular expression: {error}",
                              operator=operator) from error


def search(pattern: Pattern, text: str, position: int = 0, operator: str = "$regex") -> Any:
    """The first match at or after ``position`` (code points), or None; an
    ``EvaluationError`` when PCRE2 gives up (match limit, depth limit)."""
    try:
        return pattern.search(text, position)
    except pcre2.LibraryError as error:
        raise EvaluationError(f"{operator}: the regular expression gave up on this input: "
                              f"{error}", operator=operator) from error


def find_all(pattern: Pattern, text: str, operator: str) -> list[Any]:
    """Every match, left to right; after an empty match the search resumes one code
    point further (so it ends)."""
    found = []
    position = 0
    while position <= len(text):
        match = search(pattern, text, position, operator)
        if match is None:
            break
        found.append(match)
        position = match.end() + 1 if match.end() == match.start() else match.end()
    return found


def described(match: Any) -> dict[str, Any]:
    """``{match, idx, captures}`` as ``$regexFind`` gives it (unmatched groups: null)."""
    return {"match": match.group(0), "idx": match.start(), "captures": list(match.groups())}


def _regex_operator(operator: str, result: Any, empty: Any) -> Builder:
    """``{input, regex, options?}``: ``result(pattern, text)``; ``empty`` when the input
    or the regex is null or missing."""
    def build(arg: Any, scope: Scope) -> Evaluator:
        named = scope.named(arg, ("input", "regex"), ("options",))
        text_of = scope.compile(named["input"], "input")
        given_options = named.get("options")
        regex_spec = named["regex"]
        constant = _constant_regex(regex_spec, given_options, scope)
        pattern_of = None if constant is not None else scope.compile(regex_spec, "regex")
        options_of = scope.compile(given_options, "options") if given_options is not None \
            else None

        def evaluate(variables: dict[str, Any]) -> Any:
            text = text_of(variables)
            pattern = constant
            if pattern is None:
                pattern = _run_time_regex(operator, pattern_of(variables),  # type: ignore[misc]
                                          None if options_of is None else options_of(variables))
                if pattern is None:
                    return empty
            if text is None or text is MISSING:
                return empty
            if type(text) is not str:
                raise fail(operator, f"needs 'input' to be of type string, not "
                           f"{type_name(text)}")
            return result(pattern, text)
        return evaluate
    return build


def _constant_regex(spec: Any, options: Any, scope: Scope) -> Pattern | None:
    """The compiled pattern when ``regex`` (and ``options``) are constants."""
    if isinstance(spec, Regex):
        own = spec.flags if isinstance(spec.flags, str) else ""
        if own and options is not None:
            raise scope.error(f"{scope.operator}: regex options cannot be given both in "
                              "'regex' and 'options'")
        return compile_regex(str(spec.pattern), own or _options(options, scope), scope.operator,
                             scope.path)
    if isinstance(spec, str) and not spec.startswith("$") and (
            options is None or (isinstance(options, str) and not options.startswith("$"))):
        return compile_regex(spec, _options(options, scope), scope.operator, scope.path)
    if spec is None:
        return None
    if not isinstance(spec, (str, dict, list)):
        raise scope.error(f"{scope.operator} needs 'regex' to be a string or a regex")
    return None


def _options(options: Any, scope: Scope) -> str:
    if options is None:
        return ""
    if not isinstance(options, str):
        raise scope.error(f"{scope.operator} needs 'options' to be a string")
    return options


def _run_time_regex(operator: str, value: Any, options: Any) -> Pattern | None:
    if value is None or value is MISSING:
        return None
    if options is not None and options is not MISSING and type(options) is not str:
        raise fail(operator, "needs 'options' to be a string")
    if isinstance(value, Regex):
        return compile_at_run_time(str(value.pattern), value.flags if isinstance(
            value.flags, str) else "", operator)
    if type(value) is not str:
        raise fail(operator, f"needs 'regex' to be a string or a regex, not {type_name(value)}")
    return compile_at_run_time(value, options if type(options) is str else "", operator)


OPERATORS: dict[str, Builder] = {
    "$regexMatch": _regex_operator(
        "$regexMatch", lambda p, text: search(p, text, 0, "$regexMatch") is not None, False),
    "$regexFind": _regex_operator(
        "$regexFind", lambda p, text: (lambda m: None if m is None else described(m))(
            search(p, text, 0, "$regexFind")), None),
    "$regexFindAll": _regex_operator(
        "$regexFindAll", lambda p, text: [described(m) for m in find_all(p, text,
                                                                          "$regexFindAll")],
        []),
}
