"""Tolerant readers of common table shapes, shared by the plot providers.

Task families are free to lay out their ``tables``; these helpers accept the usual shapes so that
a provider stays a few lines long:

* name -> number: ``{"RP": 0.43, "US": 0.66}``
* name -> record: ``{"RP": {"accuracy": 0.43, "n": 81}}``
* list of records: ``[{"subtask": "RP", "accuracy": 0.43, "n": 81}, ...]``
"""

from __future__ import annotations

import math
from typing import Any

NAME_KEYS = ("name", "subtask", "task", "category", "dataset", "subset", "split", "group")
VALUE_KEYS = ("accuracy", "acc", "score", "value", "mean")


def number(x: Any) -> float | None:
    """``x`` as a finite float, else None (bools are not numbers here)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return float(x) if math.isfinite(x) else None


def record_value(rec: Any, value_keys=VALUE_KEYS) -> float | None:
    """The value of a number or of a record (first of ``value_keys`` present)."""
    if isinstance(rec, dict):
        for k in value_keys:
            if k in rec:
                return number(rec[k])
        return None
    return number(rec)


def category_values(obj: Any, value_keys=VALUE_KEYS, name_keys=NAME_KEYS) -> dict[str, float | None] | None:
    """``{category: value}`` from any of the shapes in the module docstring, or None if ``obj`` has
    none of them. List records are named by the first of ``name_keys`` they have."""
    if isinstance(obj, dict) and obj:
        out = {str(k): record_value(v, value_keys) for k, v in obj.items() if not str(k).startswith("_")}
        return out if any(v is not None for v in out.values()) else None
    if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
        out = {}
        for r in obj:
            name = next((r[k] for k in name_keys if k in r), None)
            if name is None:
                return None
            out[str(name)] = record_value(r, value_keys)
        return out if any(v is not None for v in out.values()) else None
    return None


def first_table(tables: dict, keys: tuple[str, ...]) -> Any:
    """The first of ``keys`` present in ``tables`` (or None)."""
    for k in keys:
        if isinstance(tables, dict) and k in tables:
            return tables[k]
    return None


def union_order(lists: list[list[str]], preferred: tuple[str, ...] = ()) -> list[str]:
    """Union of category names: those in ``preferred`` first (in its order), then first-seen order."""
    seen: list[str] = []
    for lst in lists:
        for c in lst:
            if c not in seen:
                seen.append(c)
    head = [c for c in preferred if c in seen]
    return head + [c for c in seen if c not in head]
