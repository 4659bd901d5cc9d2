"""Regular expressions with MongoDB's semantics: PCRE2 (UTF, no Unicode properties),
options i, m, s, x; parity with the server on what it shares with PCRE, MongoDB's
documented answers (by hand) where Python's ``re`` would differ, and bounded work."""

from __future__ import annotations

from typing import Any

import pytest

from boom_flow.filters.active import build_active_filter
from boom_flow.filters.evaluate import run_tolerant
from boom_flow.filters.mql import EvaluationError, PipelineError, compile_stages
from tests.filters.helpers import filter_document
from tests.filters.mql.conftest import Parity

TEXTS = [{"_id": 1, "s": "ZTF21abc\nztf22XY"}, {"_id": 2, "s": "no match"}, {"_id": 3},
         {"_id": 4, "s": None}, {"_id": 5, "s": "aaa"}, {"_id": 6, "s": ""}]


@pytest.mark.parametrize("expression", [
    {"$regexMatch": {"input": "$s", "regex": "^ztf", "options": "i"}},
    {"$regexMatch": {"input": "$s", "regex": "^ztf", "options": "im"}},
    {"$regexFind": {"input": "$s", "regex": "(ztf)(\\d+)", "options": "i"}},
    {"$regexFindAll": {"input": "$s", "regex": "(ztf)(\\d+)(x)?", "options": "i"}},
    {"$regexFindAll": {"input": "$s", "regex": "a*"}},
    {"$regexFind": {"input": "$s", "regex": "c.z", "options": "s"}},
    {"$regexMatch": {"input": "$s", "regex": " z t f # a comment", "options": "xi"}},
])
def test_regex_expressions_match_the_server(parity: Parity, expression: Any) -> None:
    parity.check(TEXTS, [{"$project": {"r": expression}}])


@pytest.mark.parametrize("query", [
    {"s": {"$regex": "^ztf", "$options": "i"}}, {"s": {"$regex": "^ztf", "$options": "im"}},
    {"s": {"$not": {"$regex": "a"}}}, {"s": {"$regex": "X.$", "$options": "s"}},
])
def test_regex_queries_match_the_server(parity: Parity, query: Any) -> None:
    parity.check(TEXTS, [{"$match": query}])


def _match(pattern: str, text: str, options: str = "") -> bool:
    (out,) = compile_stages([{"$project": {"r": {"$regexMatch": {
        "input": text, "regex": pattern, "options": options}}}}]).run([{"_id": 1}])
    return out["r"]


@pytest.mark.parametrize(("pattern", "text", "options", "mongodb"), [
    ("^\\w$", "\u00e9", "", False),  # no Unicode properties: \w is ASCII (re: True)
    ("^\\d$", "\u0663", "", False),  # Arabic-Indic three (re: True)
    ("^[[:alpha:]]+$", "abc", "", True),  # POSIX class (re: a set of characters)
    ("^\\Qa.b\\E$", "a.b", "", True),  # quoting (re: error)
    ("^\\Qa.b\\E$", "axb", "", False),
    ("b\\z", "ab\n", "", False),  # \z: the very end (re: error)
    ("b\\Z", "ab\n", "", True),  # \Z: before a final newline too (re: False)
    ("^\u00c9T\u00c9$", "\u00e9t\u00e9", "i", True),  # caseless on code points
    ("^.$", "\U0001f600", "", True),  # one code point
    ("(?<year>\\d{2})", "ZTF21", "", True),  # PCRE named group (re: error)
    ("^a++b", "aaab", "", True),  # possessive
    ("a b c", "abc", "x", True), ("a[ ]b", "a b", "x", True),
])
def test_pcre_semantics_not_pythons(pattern: str, text: str, options: str,
                                    mongodb: bool) -> None:
    assert _match(pattern, text, options) is mongodb


def test_regex_find_reports_code_point_positions_and_unmatched_groups() -> None:
    (out,) = compile_stages([{"$project": {"r": {"$regexFind": {
        "input": "\U0001f600ZTF21", "regex": "(ZTF)(\\d+)(x)?"}}}}]).run([{"_id": 1}])
    assert out["r"] == {"match": "ZTF21", "idx": 1, "captures": ["ZTF", "21", None]}


@pytest.mark.parametrize(("stage", "where"), [
    ({"$match": {"s": {"$regex": "a", "$options": "g"}}}, "pipeline[0].$match.s.$regex"),
    ({"$match": {"s": {"$regex": "(a"}}}, "pipeline[0].$match.s.$regex"),
    ({"$project": {"r": {"$regexMatch": {"input": "$s", "regex": "[a"}}}},
     "pipeline[0].$project.r.$regexMatch"),
    ({"$project": {"r": {"$regexMatch": {"input": "$s", "regex": "a", "options": "q"}}}},
     "pipeline[0].$project.r.$regexMatch"),
])
def test_bad_patterns_and_options_are_refused_where_they_are(stage: Any, where: str) -> None:
    with pytest.raises(PipelineError) as refused:
        compile_stages([stage])
    assert refused.value.path == where


def test_run_time_regexes_and_inputs() -> None:
    pipeline = [{"$project": {"r": {"$regexMatch": {"input": "$s", "regex": "$p"}}}}]
    docs = [{"_id": 1, "s": "ZTF", "p": "^Z"}, {"_id": 2, "s": "ZTF"}, {"_id": 3, "s": 5,
                                                                       "p": "x"},
            {"_id": 4, "s": "x", "p": "(("}]
    first, second, third, fourth = compile_stages(pipeline).run_each(docs)
    assert first == {"_id": 1, "r": True} and second == {"_id": 2, "r": False}
    assert isinstance(third, EvaluationError) and isinstance(fourth, EvaluationError)


def test_a_catastrophic_pattern_fails_its_documents_not_the_worker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Validation refuses such a pattern now (tests/filters/mql/test_validate.py); a filter
    # stored before it did is still bounded when it runs, which is what this checks.
    monkeypatch.setattr("boom_flow.filters.mql.validate_filter_pipeline", lambda pipeline: None)
    pipeline = [{"$match": {"s": {"$regex": "^(a+)+$"}}}, {"$project": {"objectId": 1}}]
    active = build_active_filter(filter_document("evil", pipeline))
    docs = [{"_id": i, "objectId": f"o{i}", "s": text}
            for i, text in enumerate(["a" * 40 + "b", "aaaa", "b" * 40])]
    outputs, failures = run_tolerant(active, docs)
    assert [position for position, _ in outputs] == [1]
    assert [position for position, _ in failures] == [0]
    assert "gave up" in failures[0][1] and "match limit" in failures[0][1]
