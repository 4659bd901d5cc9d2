"""Which patterns may reach a backtracking engine (boom_flow.core.regex_safety)."""

from __future__ import annotations

import re
import time

import pytest

from boom_flow.core.regex_safety import (
    MAX_INPUT_LENGTH,
    MAX_PATTERN_LENGTH,
    UnsafePattern,
    check_pattern,
    find_unsafe_regex,
)

SAFE = [r"^ZTF2[0-9][a-z]{7}$", r"^ZTF.*", r".*a.*b", r"(ab|cd)+", r"a{3}b?", r"(?>a+)+",
        r"^[A-Z]+\d{2}$", r"sn|tde", r"(?i)^star"]
UNSAFE = {
    r"^(a+)+$": "nested",
    r"(a*b?)*c": "nested",
    r"(.*)*": "nested",
    r"(?:x{1,5}){1,5}": "nested",
    r"(a|ab)*c": "overlap",
    r"(a|b|)+": "overlap",
    r"(a)\1": "backreference",
    r"(?P<x>a)(?P=x)": "backreference",
    r"a*a*a*b": "unbounded",
    r"[": "not a valid",
    "a" * (MAX_PATTERN_LENGTH + 1): "characters",
}


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_patterns_pass(pattern: str) -> None:
    check_pattern(pattern)


@pytest.mark.parametrize(("pattern", "word"), UNSAFE.items())
def test_catastrophic_patterns_are_refused_with_a_reason(pattern: str, word: str) -> None:
    with pytest.raises(UnsafePattern) as raised:
        check_pattern(pattern)
    assert word in raised.value.reason


def test_every_refused_nested_pattern_really_is_slow_in_python() -> None:
    """The refused shape is the one that backtracks: a few characters take visible time,
    while the safe equivalent is instant (the check is about real behaviour)."""
    started = time.perf_counter()
    re.match(r"^(a+)+$", "a" * 22 + "!")
    slow = time.perf_counter() - started
    started = time.perf_counter()
    re.match(r"^a+$", "a" * 22 + "!")
    fast = time.perf_counter() - started
    assert slow > 50 * fast


def test_options_are_checked() -> None:
    check_pattern("abc", "imsx")
    with pytest.raises(UnsafePattern, match="option"):
        check_pattern("abc", "e")


def test_find_unsafe_regex_walks_queries_and_pipelines() -> None:
    body = {"filter": {"objectId": {"$regex": "(a+)+", "$options": "i"}},
            "pipeline": [{"$project": {"m": {"$regexMatch": {"input": "x", "regex": "^(a+)+$"}}}},
                         {"$facet": {"f": [{"$addFields": {"y": {"$regexFindAll": {
                             "input": "a" * (MAX_INPUT_LENGTH + 1), "regex": "a"}}}}]}},
                         {"$match": {"n": {"$regularExpression": {"pattern": "(a)\\1",
                                                                   "options": ""}}}},
                         {"$project": {"z": {"$regexFind": {"input": "$objectId",
                                                            "regex": {"$concat": ["a", "+"]}}}}},
                         {"$match": {"objectId": {"$regex": "^ZTF"}}}]}
    found = find_unsafe_regex(body, "body")
    assert [entry.split(":")[0] for entry in found] == [
        "body.filter.objectId.$regex",
        "body.pipeline[0].$project.m.$regexMatch.regex",
        "body.pipeline[1].$facet.f[0].$addFields.y.$regexFindAll.input",
        "body.pipeline[2].$match.n.$regularExpression",
        "body.pipeline[3].$project.z.$regexFind.regex",
    ]
    assert find_unsafe_regex([{"$match": {"objectId": {"$regex": "^ZTF21"}}}]) == []
