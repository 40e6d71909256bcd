"""The one restricted unpickler (`mmharness.loaders.safe_pickle`), used by the CIFAR python-version
reader, the RefAVA pickle conversion and the MIntRec2.0 feature pickles: what it refuses (code,
object arrays, `_codecs` tricks, persistent ids) and what it must still load."""

import io
import os
import pickle
import pickletools
from collections import OrderedDict

import numpy as np
import pytest
from test_cifar_loaders import py2_pickle

from mmharness.loaders import cifar, refava, safe_pickle
from mmharness.loaders.safe_pickle import (
    UnsafePickleError,
    read_pickle,
    restricted_loads,
)
from mmharness.task import TaskError


class _System:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def _loaders(tmp_path, payload: bytes):
    """Both entry points on the same bytes: the generic reader and the CIFAR reader."""
    p = tmp_path / "file.pkl"
    p.write_bytes(payload)
    return (lambda: read_pickle(p), lambda: cifar.restricted_pickle_load(p))


def _globals(payload: bytes) -> set[str]:
    """The globals a pickle names (GLOBAL and STACK_GLOBAL opcodes)."""
    ops = list(pickletools.genops(payload))
    found, strings = set(), []
    for op, arg, _ in ops:
        if op.name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.add(f"{strings[-2]}.{strings[-1]}")
    return found


def test_one_unpickler_serves_every_caller():
    assert cifar.UnsafePickleError is UnsafePickleError
    assert not hasattr(cifar, "_NumpyOnlyUnpickler") and not hasattr(cifar, "_ALLOWED_GLOBALS")
    assert refava.read_pickle is read_pickle
    assert issubclass(UnsafePickleError, TaskError) and issubclass(UnsafePickleError, pickle.UnpicklingError)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_os_system_is_refused_and_never_runs(tmp_path, capfd, protocol):
    payload = pickle.dumps({"data": [_System()], "labels": [0]}, protocol=protocol)
    assert _globals(payload) & {"posix.system", "nt.system", "os.system"}  # the pickle really names it
    for load in _loaders(tmp_path, payload):
        with pytest.raises(UnsafePickleError, match=r"refusing to unpickle (posix|nt|os)\.system"):
            load()
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("array", [
    np.array([1, "x"], dtype=object),
    np.zeros(2, dtype=[("a", "f4"), ("b", "O")]),  # an object field inside a structured dtype
], ids=["object", "structured_object_field"])
def test_object_arrays_are_refused(tmp_path, protocol, array):
    payload = pickle.dumps({"data": array}, protocol=protocol)
    for load in _loaders(tmp_path, payload):
        with pytest.raises(UnsafePickleError, match="object dtype|_codecs.encode"):
            load()
    if protocol >= 3:  # no _codecs here: the refusal is the object dtype itself
        with pytest.raises(UnsafePickleError, match="object dtype"):
            restricted_loads(payload, "x.pkl")


def _opcodes_pickle(*parts: bytes) -> bytes:
    return b"\x80\x02" + b"".join(parts) + b"."


def _unicode(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + len(b).to_bytes(4, "little") + b


CODECS_TO_SCALAR = _opcodes_pickle(
    # numpy scalar(dtype('f8'), _codecs.encode('\x00' * 8, 'latin1')): bytes built by _codecs reach a global
    b"cnumpy.core.multiarray\nscalar\n",
    b"cnumpy\ndtype\n(", _unicode("f8"), b"\x89\x88tR",
    b"c_codecs\nencode\n(", _unicode("\x00" * 8), _unicode("latin1"), b"tR",
    b"\x86R",
)
CODECS_HEX = _opcodes_pickle(b"c_codecs\nencode\n(", _unicode("6f73"), _unicode("hex"), b"tR")
CODECS_DECODE = _opcodes_pickle(b"c_codecs\ndecode\n(", _unicode("x"), _unicode("rot13"), b"tR")
CODECS_MODULE = _opcodes_pickle(b"ccodecs\nencode\n(", _unicode("x"), _unicode("latin1"), b"tR")


@pytest.mark.parametrize("payload,name", [
    (CODECS_TO_SCALAR, "_codecs.encode"), (CODECS_HEX, "_codecs.encode"), (CODECS_DECODE, "_codecs.decode"),
    (CODECS_MODULE, "codecs.encode"),
    (pickle.dumps(b"raw bytes", protocol=2), "_codecs.encode"),  # how Python 3 spells bytes at protocol <= 2
    (pickle.dumps(np.arange(3, dtype=np.uint8), protocol=2), "_codecs.encode"),
], ids=["codecs_bytes_to_scalar", "codecs_hex", "codecs_decode", "codecs_module", "py3_proto2_bytes",
        "py3_proto2_ndarray"])
def test_codecs_tricks_are_refused(tmp_path, payload, name):
    for load in _loaders(tmp_path, payload):
        with pytest.raises(UnsafePickleError, match=rf"refusing to unpickle {name} "):
            load()
    with pytest.raises(UnsafePickleError, match="re-save the file with protocol 3 or higher"
                       if name.startswith("_codecs") else "restricted reader"):
        restricted_loads(payload, "x.pkl")
    # the real pickle machinery would have built the value: the refusal is ours, not a broken file
    if name == "_codecs.encode" and payload is not CODECS_HEX:
        pickle.loads(payload)  # our own bytes


def test_other_globals_and_disguises_are_refused():
    getattr_pickle = _opcodes_pickle(b"cbuiltins\ngetattr\n(cbuiltins\nobject\n", _unicode("__class__"), b"tR")
    numpy_load = _opcodes_pickle(b"cnumpy\nload\n(", _unicode("/tmp/x.npy"), b"tR")
    # _reconstruct is allowed, but only to build a numpy.ndarray: another allowed class is refused
    odd_subtype = _opcodes_pickle(b"cnumpy.core.multiarray\n_reconstruct\n(ccollections\nOrderedDict\n",
                                  b"K\x00\x85", _unicode("b"), b"tR")
    for payload, match in ((getattr_pickle, r"builtins\.getattr"), (numpy_load, r"numpy\.load"),
                           (odd_subtype, "only numpy.ndarray")):
        with pytest.raises(UnsafePickleError, match=match):
            restricted_loads(payload, "x.pkl")

    class WithPid(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "external" else None

    buf = io.BytesIO()
    WithPid(buf, protocol=4).dump(["external"])
    with pytest.raises(UnsafePickleError, match="persistent id"):
        restricted_loads(buf.getvalue(), "x.pkl")


def test_refusals_name_the_file_and_the_callers_opt_in(tmp_path):
    p = tmp_path / "train_set_label_crr_final.pkl"
    p.write_bytes(pickle.dumps({"k": [_System()]}))
    with pytest.raises(TaskError, match=r"train_set_label_crr_final\.pkl: the pickle refers to (posix|nt)\.system"
                                        r".*--allow-any-pickle"):
        read_pickle(p)
    with pytest.raises(UnsafePickleError, match=r"re-download it from https://www\.cs\.toronto\.edu"):
        cifar.restricted_pickle_load(p)


# --------------------------------------------------------------------------- what must still load


def test_python2_cifar_batches_still_load(tmp_path):
    """The official CIFAR python batches: Python 2 protocol-2 pickles (numpy arrays through
    _reconstruct / ndarray / dtype, byte strings as BINSTRING opcodes, no _codecs)."""
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072) % 251
    payload = py2_pickle({"batch_label": "testing batch 1 of 1", "labels": [3, 8], "data": data,
                          "filenames": ["a.png", "b.png"]})
    assert _globals(payload) == {"numpy.core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype"}
    p = tmp_path / "test_batch"
    p.write_bytes(payload)
    obj = cifar.restricted_pickle_load(p)
    assert obj["labels"] == [3, 8] and obj["filenames"] == ["a.png", "b.png"]
    assert obj["data"].dtype == np.uint8 and np.array_equal(obj["data"], data)
    assert np.array_equal(restricted_loads(payload, "x", encoding="latin1")["data"], data)


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_python3_data_pickles_still_load(tmp_path, protocol):
    obj = {"f32": np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4), "i64": np.arange(5),
           "u8": np.arange(7, dtype=np.uint8), "bool": np.array([True, False]),
           "text": np.array(["a", "bc"]), "scalar": np.float32(0.25), "int_scalar": np.int64(7),
           "record": np.zeros(2, dtype=[("x", "f4"), ("y", "i2")]), "nested": OrderedDict(a=[1, 2.5, "s"]),
           "set": {1, 2}, "frozen": frozenset({"x"}), "complex": 1 + 2j, "raw": b"\x00\xff", "none": None}
    payload = pickle.dumps(obj, protocol=protocol)
    if protocol == 5:  # protocol 5 rebuilds contiguous arrays through numpy's _frombuffer
        assert any(g.endswith("numeric._frombuffer") for g in _globals(payload))
    for load in _loaders(tmp_path, payload):
        back = load()
        assert set(back) == set(obj)
        for k, v in obj.items():
            if isinstance(v, np.ndarray):
                assert back[k].dtype == v.dtype and np.array_equal(back[k], v), k
            else:
                assert back[k] == v and type(back[k]) is type(v), k


def test_allowed_globals_are_exactly_the_documented_ones():
    assert set(safe_pickle.SAFE_GLOBALS) == {
        (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")
    } | {("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"), ("numpy", "ndarray"),
         ("numpy", "dtype"), ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
         ("builtins", "complex")}
