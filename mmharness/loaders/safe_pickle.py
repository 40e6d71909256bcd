"""Reading pickles a user explicitly named, through a restricted unpickler.

Official releases of some benchmarks (RefAVA annotations, MIntRec2.0 features) are pickles. The
harness unpickles only files the user named with an explicit option, and by default through
:class:`RestrictedUnpickler`, which accepts plain containers, numbers, strings and numpy arrays and
refuses every other global (so no code from the file can run). ``allow_any_pickle=True`` lifts the
restriction for files the user trusts.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

from ..task import DataNotFoundError, TaskError

#: (module, name) pairs a pickle may refer to: containers and numpy array reconstruction.
SAFE_GLOBALS = frozenset({
    ("collections", "OrderedDict"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"), ("builtins", "slice"),
    ("_codecs", "encode"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global outside :data:`SAFE_GLOBALS`."""

    def __init__(self, file, path: str, hint: str):
        super().__init__(file)
        self._path = path
        self._hint = hint

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super().find_class(module, name)
        raise TaskError(f"{self._path}: the pickle refers to {module}.{name}, which the restricted reader "
                        "does not load (only containers, numbers, strings and numpy arrays are allowed). "
                        f"{self._hint}")


def read_pickle(path: str | Path, allow_any_pickle: bool = False,
                hint: str = "If you trust this file, pass --allow-any-pickle.") -> Any:
    """Unpickle ``path`` (a file the user named). Restricted to plain data unless
    ``allow_any_pickle``; raises :class:`~mmharness.task.TaskError` naming the file on failure and
    :class:`~mmharness.task.DataNotFoundError` when it does not exist. ``hint`` says how to lift
    the restriction in the caller's terms."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"pickle file not found: {p}")
    data = p.read_bytes()
    try:
        if allow_any_pickle:
            return pickle.loads(data)  # noqa: S301 - explicit user opt-in for a file the user named
        return RestrictedUnpickler(io.BytesIO(data), str(p), hint).load()
    except TaskError:
        raise
    except Exception as e:
        raise TaskError(f"{p}: cannot read the pickle: {type(e).__name__}: {e}") from None
