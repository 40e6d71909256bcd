"""A fast yes/no check that a document is valid under a JSON Schema, for the common case of a valid one.

:func:`mmharness.results.validate_against` runs ``jsonschema`` (Draft 2020-12, no format checking) to
say *what* is wrong with a document; on a valid document that costs about a millisecond per results
file, most of it ``jsonschema``'s per-keyword machinery. :func:`fast_check` compiles a schema once
into plain Python closures that answer only *whether* a document is valid, with ``jsonschema``'s
exact semantics for the keywords it supports; a document it accepts is valid, and anything it
rejects goes to ``jsonschema`` for the message, so every error stays ``jsonschema``'s own.

Supported: boolean schemas, ``type`` (``jsonschema``'s Draft 2020-12 type checks: an integer-valued
float is an ``integer``, a bool is never a number), ``enum`` and ``const`` of strings, ``required``,
``properties``, ``additionalProperties`` (without ``patternProperties``), ``items`` (without
``prefixItems``), ``minItems``/``maxItems``, ``minLength``/``maxLength``, ``pattern``,
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``minProperties``/
``maxProperties``, ``allOf``/``anyOf``/``oneOf``/``not``, ``if``/``then``/``else``, local
``$ref`` (``#/...`` JSON pointers into the root schema) and ``uniqueItems`` (decided for lists of
strings; any other list is left to ``jsonschema``); annotations (``description``, ``format``
without a format checker, ...) are ignored as ``jsonschema`` ignores them. A schema using anything
else has no fast check (``None``): it is always validated by ``jsonschema``.
"""

from __future__ import annotations

import copy
import numbers
import re
from typing import Any, Callable

Check = Callable[[Any], bool]

#: keywords that never make a document invalid here (annotations; ``format`` without a checker)
_IGNORED = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "examples", "default",
                      "deprecated", "readOnly", "writeOnly", "format"})


class _Unsupported(Exception):
    """The schema uses a keyword or form the fast check does not implement."""


def _is_integer(x: Any) -> bool:
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Number)


_TYPES: dict[str, Check] = {
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "integer": _is_integer,
    "null": lambda x: x is None,
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "string": lambda x: isinstance(x, str),
}


def _always(x: Any) -> bool:
    return True


def _never(x: Any) -> bool:
    return False


class _Compiler:
    def __init__(self, root: Any):
        self.root = root
        self.refs: dict[str, Check] = {}

    def ref(self, pointer: str) -> Check:
        if pointer not in self.refs:
            if not isinstance(pointer, str) or not pointer.startswith("#") or "%" in pointer:
                raise _Unsupported(f"$ref {pointer!r} (only local JSON pointers)")
            target = self.root
            for part in pointer[1:].split("/")[1:] if pointer != "#" else []:
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(target, dict) and part in target:
                    target = target[part]
                elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                    target = target[int(part)]
                else:
                    raise _Unsupported(f"unresolvable $ref {pointer!r}")
            slot: list[Check] = []
            self.refs[pointer] = lambda x: slot[0](x)  # recursion-safe: filled in below
            slot.append(self.compile(target))
        return self.refs[pointer]

    def compile(self, schema: Any, at_root: bool = False) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise _Unsupported(f"schema {schema!r}")
        if "$id" in schema and not at_root:
            raise _Unsupported("$id below the root")
        checks: list[Check] = []
        for key, value in schema.items():
            if key in _IGNORED:
                continue
            make = _KEYWORDS.get(key)
            if make is None:
                raise _Unsupported(f"keyword {key!r}")
            check = make(self, value, schema)
            if check is not None:
                checks.append(check)
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        return lambda x: all(c(x) for c in checks)

    # ------------------------------------------------------------------ keywords
    def k_ref(self, v, schema):
        return self.ref(v)

    def k_type(self, v, schema):
        names = [v] if isinstance(v, str) else v
        if not isinstance(names, list) or not names or any(n not in _TYPES for n in names):
            raise _Unsupported(f"type {v!r}")
        tests = tuple(_TYPES[n] for n in names)
        if len(tests) == 1:
            return tests[0]
        return lambda x: any(t(x) for t in tests)

    def k_enum(self, v, schema):
        if not isinstance(v, list) or not all(type(e) is str for e in v):
            raise _Unsupported("enum of non-strings")
        values = tuple(v)
        return lambda x: any(e == x for e in values)  # jsonschema's equal() when one side is a str

    def k_const(self, v, schema):
        if type(v) is not str:
            raise _Unsupported("const of a non-string")
        return lambda x: v == x

    def k_required(self, v, schema):
        names = tuple(v)
        return lambda x: not isinstance(x, dict) or all(n in x for n in names)

    def k_properties(self, v, schema):
        props = tuple((name, self.compile(sub)) for name, sub in v.items())

        def check(x):
            if not isinstance(x, dict):
                return True
            for name, c in props:
                if name in x and not c(x[name]):
                    return False
            return True
        return check

    def k_additionalProperties(self, v, schema):
        if "patternProperties" in schema:
            raise _Unsupported("patternProperties")
        known = frozenset(schema.get("properties", {}))
        if isinstance(v, dict):
            sub = self.compile(v)
            return lambda x: not isinstance(x, dict) or all(sub(x[k]) for k in x if k not in known)
        if not v:
            return lambda x: not isinstance(x, dict) or all(k in known for k in x)
        return None

    def k_items(self, v, schema):
        if "prefixItems" in schema:
            raise _Unsupported("prefixItems")
        if v is False:
            return lambda x: not isinstance(x, list) or not x
        sub = self.compile(v)
        return lambda x: not isinstance(x, list) or all(sub(i) for i in x)

    def _bound(self, test: Callable[[Any], bool], applies: Check) -> Check:
        return lambda x: not applies(x) or test(x)

    def k_minItems(self, v, schema):
        return self._bound(lambda x: not len(x) < v, _TYPES["array"])

    def k_maxItems(self, v, schema):
        return self._bound(lambda x: not len(x) > v, _TYPES["array"])

    def k_minLength(self, v, schema):
        return self._bound(lambda x: not len(x) < v, _TYPES["string"])

    def k_maxLength(self, v, schema):
        return self._bound(lambda x: not len(x) > v, _TYPES["string"])

    def k_minProperties(self, v, schema):
        return self._bound(lambda x: not len(x) < v, _TYPES["object"])

    def k_maxProperties(self, v, schema):
        return self._bound(lambda x: not len(x) > v, _TYPES["object"])

    def k_pattern(self, v, schema):
        try:
            search = re.compile(v).search
        except (re.error, TypeError) as e:
            raise _Unsupported(f"pattern {v!r}") from e
        return self._bound(lambda x: bool(search(x)), _TYPES["string"])

    def k_minimum(self, v, schema):
        return self._bound(lambda x: not x < v, _is_number)

    def k_maximum(self, v, schema):
        return self._bound(lambda x: not x > v, _is_number)

    def k_exclusiveMinimum(self, v, schema):
        return self._bound(lambda x: not x <= v, _is_number)

    def k_exclusiveMaximum(self, v, schema):
        return self._bound(lambda x: not x >= v, _is_number)

    def k_uniqueItems(self, v, schema):
        if not v:
            return None
        # decided here only for lists of plain strings; any other list goes to jsonschema (False)
        return lambda x: not isinstance(x, list) or (all(type(i) is str for i in x) and len(set(x)) == len(x))

    def k_allOf(self, v, schema):
        subs = tuple(self.compile(s) for s in v)
        return lambda x: all(c(x) for c in subs)

    def k_anyOf(self, v, schema):
        subs = tuple(self.compile(s) for s in v)
        return lambda x: any(c(x) for c in subs)

    def k_oneOf(self, v, schema):
        subs = tuple(self.compile(s) for s in v)
        return lambda x: sum(1 for c in subs if c(x)) == 1

    def k_not(self, v, schema):
        sub = self.compile(v)
        return lambda x: not sub(x)

    def k_if(self, v, schema):
        test = self.compile(v)
        then = self.compile(schema.get("then", True))
        other = self.compile(schema.get("else", True))
        return lambda x: then(x) if test(x) else other(x)

    def k_then(self, v, schema):
        return None  # applied by k_if (and, as in jsonschema, ignored without an "if")

    k_else = k_then


_KEYWORDS: dict[str, Callable[..., Check | None]] = {
    ("$" + name[2:] if name == "k_ref" else name[2:]): f
    for name, f in vars(_Compiler).items() if name.startswith("k_")
}


def compile_check(schema: Any) -> Check | None:
    """The fast validity check of ``schema``, or None when it uses something unsupported."""
    try:
        return _Compiler(schema).compile(schema, at_root=True)
    except _Unsupported:
        return None


_MEMO: dict[int, tuple[Any, Any, Check | None]] = {}


def fast_check(schema: Any) -> Check | None:
    """:func:`compile_check` of ``schema``, memoised: by the schema object while it still equals the
    copy taken when it was compiled (a schema edited in place is compiled again)."""
    hit = _MEMO.get(id(schema))
    if hit is not None and hit[0] is schema and hit[1] == schema:
        return hit[2]
    if len(_MEMO) >= 16:
        _MEMO.clear()
    check = compile_check(schema)
    _MEMO[id(schema)] = (schema, copy.deepcopy(schema), check)
    return check
