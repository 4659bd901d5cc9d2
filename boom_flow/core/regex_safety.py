"""Which regular expressions a user may send: those a backtracking engine runs in
bounded time.

MongoDB (PCRE) and the embedded server (Python's ``re``) both backtrack, and neither
can interrupt a match once it has started: one ``^(a+)+$`` against a 30-character
string keeps the server busy for minutes and every other user waits. So patterns are
judged before they reach a server, from their syntax tree:

- nested quantifiers (``(a+)+``, ``(a*b?)*``, ``(x{1,9})+``) are refused: they are the
  exponential case;
- backreferences (``\\1``, ``(?P=name)``, conditionals on a group) are refused: no
  engine bounds them;
- a quantified alternation whose branches can start with the same character
  (``(a|ab)*``, ``(\\w|\\d)+``) is refused: it backtracks like a nested quantifier;
- at most ``MAX_UNBOUNDED`` unbounded quantifiers (``*``, ``+``, ``{n,}`` or an upper
  bound over ``LARGE_REPEAT``) per pattern, which keeps the remaining polynomial cases
  (``a*a*b`` is cubic under search) small on archive strings;
- the pattern and a literal string given as the ``input`` of ``$regexMatch``,
  ``$regexFind`` and ``$regexFindAll`` are capped in length.

The module is pure (no I/O): the API guards use it on every body, and filter
validation may use it on filter pipelines. Its API:

>>> check_pattern(r"^ZTF2[0-9][a-z]{7}$")
>>> try:
...     check_pattern(r"^(a+)+$")
... except UnsafePattern as unsafe:
...     print(unsafe.reason)
nested quantifiers (a repeat inside a repeat)
>>> find_unsafe_regex([{"$match": {"objectId": {"$regex": "(ab|a)*"}}}])
['pipeline[0].$match.objectId.$regex: a repeated alternation whose branches overlap']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

try:  # Python >= 3.11 names it re._parser; the public alias sre_parse warns
    import re._parser as sre_parse
    from re._constants import MAXREPEAT
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse  # type: ignore[no-redef]
    from sre_constants import MAXREPEAT  # type: ignore[no-redef]

MAX_PATTERN_LENGTH = 256
MAX_INPUT_LENGTH = 256
MAX_UNBOUNDED = 2
#: An upper bound above this counts as unbounded (``a{1,100000}`` backtracks like ``a+``).
LARGE_REPEAT = 100
#: MongoDB's regex options; ``x`` changes how the pattern parses.
OPTION_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE,
                "u": 0}
#: Aggregation operators taking ``{input, regex, options}``.
REGEX_EXPRESSIONS = frozenset({"$regexMatch", "$regexFind", "$regexFindAll"})

_REPEATS = frozenset({"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"})
_BACKREFERENCES = frozenset({"GROUPREF", "GROUPREF_EXISTS", "GROUPREF_IGNORE",
                             "GROUPREF_LOC_IGNORE", "GROUPREF_UNI_IGNORE"})


class UnsafePattern(ValueError):
    """A pattern (or its input) that could run for unbounded time; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_pattern(pattern: str, options: str = "") -> None:
    """Return if ``pattern`` (with MongoDB ``options`` such as ``"i"``) is safe to run,
    else raise ``UnsafePattern`` with the reason."""
    if not isinstance(pattern, str):
        raise UnsafePattern("a pattern is a string")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafePattern(f"the pattern has {len(pattern)} characters; at most "
                            f"{MAX_PATTERN_LENGTH}")
    tree = _parse(pattern, _flags(options))
    unbounded = _check_items(list(tree), inside_repeat=False)
    if unbounded > MAX_UNBOUNDED:
        raise UnsafePattern(f"{unbounded} unbounded quantifiers; at most {MAX_UNBOUNDED}")


def check_input(value: Any) -> None:
    """Raise ``UnsafePattern`` when a regex operator's ``input`` is a literal string
    over ``MAX_INPUT_LENGTH`` (field paths and expressions are left to the archive)."""
    if (isinstance(value, str) and not value.startswith("$")
            and len(value) > MAX_INPUT_LENGTH):
        raise UnsafePattern(f"the input has {len(value)} characters; at most "
                            f"{MAX_INPUT_LENGTH}")


def find_unsafe_regex(value: Any, path: str = "pipeline") -> list[str]:
    """Every unsafe regular expression in a query body or pipeline, at any depth, as
    ``"<path>: <reason>"`` strings (empty when all are safe).

    Finds query ``{"$regex": p, "$options": o}``, extended-JSON
    ``{"$regularExpression": {"pattern", "options"}}`` and the aggregation operators
    ``$regexMatch``/``$regexFind``/``$regexFindAll``."""
    return [f"{where}: {reason}" for where, reason in _unsafe(value, path)]


def _unsafe(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _unsafe(item, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        where = f"{path}.{key}"
        if key == "$regex":
            yield from _judge(where, item, value.get("$options", ""))
        elif key == "$regularExpression" and isinstance(item, dict):
            yield from _judge(where, item.get("pattern"), item.get("options", ""))
        elif key in REGEX_EXPRESSIONS:
            yield from _judge_expression(where, item)
        yield from _unsafe(item, where)


def _judge_expression(where: str, spec: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(spec, dict):
        return
    regex = spec.get("regex")
    if isinstance(regex, str):  # an expression computing the pattern is refused below
        yield from _judge(where + ".regex", regex, spec.get("options", ""))
    elif regex is not None and not isinstance(regex, dict | list):
        yield where + ".regex", "the pattern must be a string"
    elif isinstance(regex, dict | list):
        yield where + ".regex", "the pattern must be a literal string, not an expression"
    try:
        check_input(spec.get("input"))
    except UnsafePattern as unsafe:
        yield where + ".input", unsafe.reason


def _judge(where: str, pattern: Any, options: Any) -> Iterator[tuple[str, str]]:
    try:
        check_pattern(pattern, options if isinstance(options, str) else "")
    except UnsafePattern as unsafe:
        yield where, unsafe.reason


def _flags(options: str) -> int:
    flags = 0
    for option in options:
        if option not in OPTION_FLAGS:
            raise UnsafePattern(f"unknown regex option {option!r} (use i, m, s, x, u)")
        flags |= OPTION_FLAGS[option]
    return flags


def _parse(pattern: str, flags: int) -> Any:
    try:
        return sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError) as error:
        raise UnsafePattern(f"not a valid regular expression: {error}") from None


def _items(node_args: Any) -> list[Any]:
    """The sub-pattern items held by a node's arguments (a SubPattern, a list of them, or
    a tuple holding them)."""
    found: list[Any] = []
    if isinstance(node_args, sre_parse.SubPattern):
        found.extend(node_args)
    elif isinstance(node_args, list | tuple):
        for part in node_args:
            if isinstance(part, sre_parse.SubPattern | list | tuple):
                found.extend(_items(part))
    return found


def _check_items(items: list[Any], inside_repeat: bool) -> int:
    """Walk a parsed pattern; raise on the unsafe shapes, return the number of unbounded
    quantifiers met."""
    unbounded = 0
    for opcode, args in items:
        name = str(opcode)
        if name in _BACKREFERENCES:
            raise UnsafePattern("backreferences are not allowed")
        if name in _REPEATS:
            low, high, body = args
            variable = high != low
            if variable and inside_repeat and name != "POSSESSIVE_REPEAT":
                raise UnsafePattern("nested quantifiers (a repeat inside a repeat)")
            if high == MAXREPEAT or high > LARGE_REPEAT:
                unbounded += 1
            repeated = high == MAXREPEAT or high > 1
            if repeated and name != "POSSESSIVE_REPEAT":
                _refuse_overlapping_branches(list(body))
            unbounded += _check_items(list(body), inside_repeat or repeated)
        elif name == "ATOMIC_GROUP":
            unbounded += _check_items(_items(args), inside_repeat=False)
        else:
            unbounded += _check_items(_items(args), inside_repeat)
    return unbounded


def _refuse_overlapping_branches(items: list[Any]) -> None:
    """Inside a repeat, the branches of an alternation must start differently."""
    for opcode, args in items:
        if str(opcode) == "SUBPATTERN":
            _refuse_overlapping_branches(list(args[-1]))
        elif str(opcode) == "BRANCH":
            seen: set[Any] = set()
            for branch in args[1]:
                first = _first(list(branch))
                if first is None or first & seen:
                    raise UnsafePattern("a repeated alternation whose branches overlap")
                seen |= first


def _first(items: list[Any]) -> set[Any] | None:
    """The literal first characters of a branch, or None when it may start with a class,
    a wildcard or nothing (treated as overlapping anything)."""
    if not items:
        return None
    opcode, args = items[0]
    name = str(opcode)
    if name == "LITERAL":
        return {args}
    if name == "IN" and all(str(op) == "LITERAL" for op, _ in args):
        return {value for _, value in args}
    if name == "SUBPATTERN":
        return _first(list(args[-1]))
    return None
