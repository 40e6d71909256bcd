"""The harness's one restricted unpickler, for every pickle it reads.

Official releases of some benchmarks are pickles: the CIFAR python-version batches, the RefAVA
annotations (``mmh data convert refava``) and the MIntRec2.0 features. The harness unpickles only
files the user named (or the CIFAR batches of a data root), always through
:class:`RestrictedUnpickler` unless the user lifts the restriction for a trusted file
(``allow_any_pickle=True`` of :func:`read_pickle`).

The rule: a pickle may hold plain containers, numbers and strings (no global needed), plus
exactly these globals, each resolved to a checked wrapper and not to the module attribute:

* ``numpy.core.multiarray._reconstruct`` / ``numpy._core.multiarray._reconstruct`` (numpy 1 and 2
  spellings; ``ndarray.__reduce__``), only with ``numpy.ndarray`` as the subtype;
* ``numpy.ndarray``; ``numpy.dtype`` (never an object dtype, so no array, field or scalar can hold
  arbitrary objects);
* ``numpy.core.multiarray.scalar`` / ``numpy._core.multiarray.scalar`` (numpy scalars, numeric
  dtypes only) and ``numpy.core.numeric._frombuffer`` / ``numpy._core.numeric._frombuffer``
  (arrays pickled with protocol 5);
* ``collections.OrderedDict``, ``builtins.set``, ``builtins.frozenset``, ``builtins.complex``.

Everything else is refused before it is resolved, so no code from the file runs: ``os.system``,
``builtins.eval``/``getattr``, and ``_codecs.encode`` too. What the real files need: the CIFAR
batches are Python 2 protocol-2 pickles whose byte strings are ``SHORT_BINSTRING``/``BINSTRING``
opcodes (decoded as latin-1 and accepted by ``ndarray.__setstate__``), and the Python 3 pickles of
RefAVA and MIntRec2.0 (protocol 3 and up) store bytes natively; none calls ``_codecs.encode``. Only
a Python 3 pickle written with protocol 0-2 spells bytes as ``_codecs.encode(str, "latin1")``:
such a file is refused with a message saying to re-save it with protocol >= 3 (or to pass the
caller's opt-in for a trusted file). Persistent ids are refused.
"""

from __future__ import annotations

import functools
import io
import pickle
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..task import DataNotFoundError, TaskError


class UnsafePickleError(TaskError, pickle.UnpicklingError):
    """A pickle referenced something the restricted unpickler does not load; nothing was run."""


def _safe_dtype(*args):
    dt = np.dtype(*args)
    if dt.hasobject:
        raise UnsafePickleError("refusing a pickled numpy object dtype (only numeric and string arrays are allowed)")
    return dt


@functools.cache
def _numpy_function(name: str):
    # take numpy's private helpers from numpy itself, so that both module spellings (numpy 1
    # ``numpy.core``, numpy 2 ``numpy._core``) resolve to the installed function; cached, as the
    # wrappers below call it once per array or scalar of the file
    if name == "_reconstruct":
        return np.ndarray((0,), np.uint8).__reduce__()[0]
    if name == "scalar":
        return np.float32(0).__reduce__()[0]
    if name == "_frombuffer":
        return np.ndarray((1,), np.uint8).__reduce_ex__(5)[0]
    raise KeyError(name)


def _safe_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafePickleError(f"refusing numpy _reconstruct of {subtype!r} (only numpy.ndarray is allowed)")
    return _numpy_function("_reconstruct")(subtype, shape, dtype)


def _safe_scalar(dtype, *args):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError(f"refusing a pickled numpy scalar of dtype {dtype!r} (numeric dtypes only)")
    return _numpy_function("scalar")(dtype, *args)


def _safe_frombuffer(buf, dtype, shape, order):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafePickleError(f"refusing a pickled numpy buffer of dtype {dtype!r} (numeric dtypes only)")
    return _numpy_function("_frombuffer")(buf, dtype, shape, order)


#: (module, name) -> the object the unpickler gets instead (checked wrappers for numpy helpers).
SAFE_GLOBALS: dict[tuple[str, str], Callable[[], Any]] = {
    ("numpy.core.multiarray", "_reconstruct"): lambda: _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): lambda: _safe_reconstruct,
    ("numpy.core.multiarray", "scalar"): lambda: _safe_scalar,
    ("numpy._core.multiarray", "scalar"): lambda: _safe_scalar,
    ("numpy.core.numeric", "_frombuffer"): lambda: _safe_frombuffer,
    ("numpy._core.numeric", "_frombuffer"): lambda: _safe_frombuffer,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: _safe_dtype,
    ("collections", "OrderedDict"): lambda: OrderedDict,
    ("builtins", "set"): lambda: set,
    ("builtins", "frozenset"): lambda: frozenset,
    ("builtins", "complex"): lambda: complex,
}

_CODECS_NOTE = (" (a Python 3 pickle written with protocol 0-2 spells bytes this way: re-save the file with "
                "protocol 3 or higher)")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`SAFE_GLOBALS` (see the module docstring).

    ``path`` names the file in messages; ``hint`` (appended to a refusal) says how the caller's
    user can lift the restriction or get a genuine file; ``encoding`` decodes Python 2 byte strings
    (``"latin1"`` for numpy arrays pickled by Python 2, as torchvision reads CIFAR).
    """

    def __init__(self, file, path: str, hint: str = "", encoding: str = "ASCII"):
        super().__init__(file, encoding=encoding)
        self._path = path
        self._hint = hint

    def find_class(self, module, name):
        factory = SAFE_GLOBALS.get((module, name))
        if factory is not None:
            return factory()
        g = f"{module}.{name}"
        raise UnsafePickleError(
            f"refusing to unpickle {g} from {self._path}: the pickle refers to {g}, which the restricted reader "
            "does not load (only containers, numbers, strings and numeric numpy arrays are allowed, so no code "
            f"from the file can run){_CODECS_NOTE if module == '_codecs' else ''}. {self._hint}".rstrip())

    def persistent_load(self, pid):
        """Refuse persistent ids (plain data files have none)."""
        raise UnsafePickleError(f"refusing a persistent id in {self._path}. {self._hint}".rstrip())


def restricted_loads(data: bytes, path: str, hint: str = "", encoding: str = "ASCII") -> Any:
    """Unpickle ``data`` through :class:`RestrictedUnpickler` (``path`` only names it in messages).

    Raises :class:`UnsafePickleError` for anything outside the rule; other failures propagate."""
    return RestrictedUnpickler(io.BytesIO(data), path, hint, encoding).load()


def read_pickle(path: str | Path, allow_any_pickle: bool = False,
                hint: str = "If you trust this file, pass --allow-any-pickle.") -> Any:
    """Unpickle ``path`` (a file the user named). Restricted to plain data unless
    ``allow_any_pickle``; raises :class:`~mmharness.task.TaskError` naming the file on failure
    (:class:`UnsafePickleError` for a refused global) and
    :class:`~mmharness.task.DataNotFoundError` when it does not exist. ``hint`` says how to lift
    the restriction in the caller's terms."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"pickle file not found: {p}")
    data = p.read_bytes()
    try:
        if allow_any_pickle:
            return pickle.loads(data)  # noqa: S301 - explicit user opt-in for a file the user named
        return restricted_loads(data, str(p), hint)
    except TaskError:
        raise
    except Exception as e:
        raise TaskError(f"{p}: cannot read the pickle: {type(e).__name__}: {e}") from None
