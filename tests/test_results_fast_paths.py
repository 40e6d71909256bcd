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
