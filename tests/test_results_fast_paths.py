"""results.py fast paths: clean_json's exact-type shortcuts and the cached schema checks give what
the plain implementations give."""

from __future__ import annotations

import enum
import math
from collections import OrderedDict

import numpy as np

from mmharness.results import clean_json


def _reference_clean_json(x):
    """clean_json as it was written before its exact-type fast path."""
    if isinstance(x, dict):
        return {str(k): _reference_clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_reference_clean_json(v) for v in x]
    if isinstance(x, np.ndarray):
        return _reference_clean_json(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class _Color(enum.IntEnum):
    RED = 1


class _MyFloat(float):
    pass


def test_clean_json_matches_the_plain_implementation_on_every_kind_of_value():
    doc = {
        "s": "x", "i": 3, "b": True, "n": None, "f": 0.5, "nan": math.nan, "inf": -math.inf,
        1: "int key", (1, 2): "tuple key", "t": (1, 2.0, math.nan), "l": [np.float32(np.nan), np.int64(7)],
        "np": np.array([[1.0, np.inf], [2.0, 3.0]]), "np_bool": np.bool_(True), "np_f64": np.float64(np.inf),
        "od": OrderedDict(a=np.float16(1.5)), "enum": _Color.RED, "myfloat": _MyFloat("nan"),
        "nested": [{"a": [(), {}, [math.nan]]}],
    }
    got, want = clean_json(doc), _reference_clean_json(doc)
    assert repr(got) == repr(want)
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
    assert got["myfloat"] is None and got["enum"] is _Color.RED and got["np_bool"] is True


# --------------------------------------------------------------------------- the fast schema check

import copy  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402

import jsonschema  # noqa: E402
import pytest  # noqa: E402

from mmharness.results import ResultsError, results_schema, validate_against, validate_results  # noqa: E402
from mmharness.schema_check import compile_check, fast_check  # noqa: E402

_ODD_VALUES = [None, True, False, 0, 1, -1, 1.0, 2.5, -0.5, 1e300, math.nan, math.inf, -math.inf, "", "x", "auto",
               "fp32", "classify", "0" * 40, "a\nb", [], [1], [1, 2], [None, None], ["a", "a"], ["a", "b"], {}, {"a": 1},
               {"value": 0.5}, (1, 2), np.float64(0.5), np.int64(3), np.bool_(True), _Color.RED, _MyFloat(2.0)]


def _jsonschema_valid(schema, doc) -> bool:
    return not any(True for _ in jsonschema.Draft202012Validator(schema).iter_errors(doc))


def _paths(x, prefix=()):
    yield prefix
    if isinstance(x, dict):
        for k, v in x.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _paths(v, prefix + (i,))


def _mutants(doc, rng, n):
    """Copies of ``doc`` with one value replaced, one key removed or one key added (random places,
    outside the free-form per-task tables)."""
    paths = [p for p in _paths(doc) if p and not (len(p) > 3 and p[0] == "tasks" and p[2] == "tables")]
    for _ in range(n):
        d = copy.deepcopy(doc)
        path = rng.choice(paths)
        parent = d
        for k in path[:-1]:
            parent = parent[k]
        kind = rng.random()
        if kind < 0.7:
            parent[path[-1]] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif kind < 0.85 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["unexpected_key"] = rng.choice(_ODD_VALUES)
        else:
            parent.append(copy.deepcopy(rng.choice(_ODD_VALUES)))
        yield d


def _assert_agrees(schema, docs, exact=True):
    check = compile_check(schema)
    assert check is not None
    seen = {True: 0, False: 0}
    for d in docs:
        want = _jsonschema_valid(schema, d)
        try:
            got = check(d)
        except Exception:  # validate_against then asks jsonschema
            got = False
        assert not (got and not want), f"fast check accepted a document jsonschema rejects: {d!r:.300}"
        if exact:
            assert got == want, f"fast check rejected a valid document: {d!r:.300}"
        seen[want] += 1
    return seen


@pytest.fixture(scope="module")
def real_docs(tmp_path_factory):
    from lb_helpers import real_runs

    from mmharness.leaderboard import BuildOptions, build_leaderboard
    from mmharness.results import load_results

    out = tmp_path_factory.mktemp("runs")
    paths = real_runs(out)
    results = [load_results(p) for p in paths.values()]
    lb = build_leaderboard([out], BuildOptions(include_samples=True))
    return results, lb


def test_fast_check_agrees_with_jsonschema_on_real_and_mutated_results_documents(real_docs):
    results, _ = real_docs
    rng = random.Random(0)
    docs = list(results) + [m for doc in results for m in _mutants(doc, rng, 400)]
    seen = _assert_agrees(results_schema(), docs)
    assert seen[True] >= 3 and seen[False] >= 200  # both answers exercised


def test_fast_check_never_accepts_what_jsonschema_rejects_in_leaderboards(real_docs):
    from mmharness.leaderboard.io import leaderboard_schema

    _, lb = real_docs
    rng = random.Random(1)
    seen = _assert_agrees(leaderboard_schema(), [lb, *_mutants(lb, rng, 600)], exact=False)
    assert seen[True] >= 1 and seen[False] >= 100
    assert compile_check(leaderboard_schema())(lb) is True  # the real document takes the fast path


def test_fast_check_keyword_semantics_match_jsonschema():
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object", "required": ["a"], "additionalProperties": {"type": ["string", "null"]},
        "properties": {
            "a": {"type": "integer", "minimum": 0, "exclusiveMaximum": 10},
            "b": {"type": "number", "maximum": 1, "exclusiveMinimum": -1},
            "c": {"oneOf": [{"type": "number"}, {"type": "integer"}, {"const": "auto"}]},
            "d": {"anyOf": [{"type": "boolean"}, {"enum": ["x", "y"]}]},
            "e": {"type": "array", "items": {"$ref": "#/$defs/node"}, "minItems": 1, "maxItems": 2,
                  "uniqueItems": True},
            "f": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 3},
            "g": {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
                  "properties": {"k": True, "z": False}},
            "h": {"if": {"type": "string"}, "then": {"const": "s"}, "else": {"type": "integer"}},
            "i": {"not": {"type": "null"}, "allOf": [{"type": ["array", "null", "integer"]}], "items": False},
            "j": {"then": {"const": 1}},  # no "if": ignored, as jsonschema ignores it
        },
        "$defs": {"node": {"type": ["object", "string"], "properties": {"next": {"$ref": "#/$defs/node"}}}},
    }
    values = [None, True, False, 0, 1, 9, 10, -1, 0.5, 1.0, 3.0, -0.5, 1.5, math.nan, math.inf, "", "s", "x", "y",
              "ab", "abc", "abcd", "a1", "auto", [], ["a"], ["a", "a"], ["a", "b"], ["a", "b", "c"], [{"next": "a"}],
              [{"next": {"next": 3}}], [1], {}, {"k": 1}, {"z": 1}, {"k": 1, "q": 2}, np.float64(0.5), np.int64(3),
              np.bool_(True), _Color.RED, _MyFloat(2.0)]
    docs = [{"a": 1}, {}, {"a": 1, "extra": "s"}, {"a": 1, "extra": 1}, {"a": 1, "extra": None}, [], "x", None]
    docs += [{"a": 1, key: v} for key, v in itertools.product("bcdefghij", values)]
    docs += [{"a": v} for v in values]
    _assert_agrees(schema, docs, exact=False)
    # everything but uniqueItems over non-strings is decided exactly
    exact_docs = [d for d in docs if not (isinstance(d, dict) and isinstance(d.get("e"), list)
                                          and not all(type(i) is str for i in d["e"]))]
    _assert_agrees(schema, exact_docs)


@pytest.mark.parametrize("schema", [
    {"type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": False},
    {"prefixItems": [{"type": "string"}], "items": {"type": "integer"}},
    {"$ref": "other.json#/a"},
    {"type": "object", "properties": {"a": {"$id": "https://x/y", "type": "string"}}},
    {"enum": [1, "a"]}, {"const": 1}, {"type": "float"}, {"multipleOf": 2}, {"x-custom": 1},
    {"pattern": "("},
])
def test_schemas_using_anything_else_have_no_fast_check(schema):
    assert compile_check(schema) is None


def test_validate_against_still_reports_jsonschemas_first_error_and_count(real_docs):
    doc = copy.deepcopy(real_docs[0][0])
    doc["config"]["batch_size"] = 0
    doc["model"]["capabilities"] = ["bogus"]
    doc["tasks"]["cifar10_b"]["n_samples"] = "3"
    with pytest.raises(ResultsError) as e:
        validate_results(doc, "where")
    assert str(e.value) == ("where: field config/batch_size: 0 is less than the minimum of 1 (and 2 more)")
    with pytest.raises(KeyError):  # fast check accepts; nothing changed for a valid document
        validate_results(real_docs[0][0]) or {}["ok"]


def test_fast_check_memo_follows_a_schema_edited_in_place():
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 0}}}
    assert fast_check(schema)({"n": 0}) is True
    schema["properties"]["n"]["minimum"] = 1
    assert fast_check(schema)({"n": 0}) is False
    with pytest.raises(ValueError, match="where: field n: 0 is less than the minimum of 1"):
        validate_against(schema, {"n": 0}, "where", ValueError)
    assert fast_check(copy.deepcopy(schema))({"n": 1}) is True
