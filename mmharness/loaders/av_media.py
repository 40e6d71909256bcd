"""Opening media files with PyAV, shared by the audio and video decoders.

:func:`open_media` is the one place that imports PyAV, checks that the file exists and has a
stream of the wanted kind, and turns every failure while decoding into a
:class:`~mmharness.requests.MediaDecodeError` that names the file.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..requests import MediaDecodeError

KINDS = ("audio", "video")


@contextmanager
def open_media(path: str, kind: str) -> Iterator[Any]:
    """Yield the PyAV container of ``path``, which has at least one ``kind`` stream ("audio" or
    "video"), and close it afterwards.

    Raises :class:`MediaDecodeError` naming the file when PyAV is missing, the file is missing or
    cannot be opened, or it has no ``kind`` stream; any other exception raised inside the ``with``
    block becomes ``MediaDecodeError("cannot decode <kind> <path>: ...")`` (a
    :class:`MediaDecodeError` raised there passes unchanged).
    """
    if kind not in KINDS:
        raise ValueError(f"media kind must be one of {KINDS}, got {kind!r}")
    try:
        import av
    except ImportError as e:  # pragma: no cover - a declared extra
        raise MediaDecodeError(f"decoding {kind} files needs PyAV (pip install 'mmharness[video]')") from e
    if not Path(path).is_file():
        raise MediaDecodeError(f"{kind} file not found: {path}")
    try:
        container = av.open(path)
    except Exception as e:
        raise MediaDecodeError(f"cannot open {kind} {path}: {type(e).__name__}: {e}") from None
    try:
        if not getattr(container.streams, kind):
            raise MediaDecodeError(f"{path} has no {kind} stream")
        yield container
    except MediaDecodeError:
        raise
    except Exception as e:
        raise MediaDecodeError(f"cannot decode {kind} {path}: {type(e).__name__}: {e}") from None
    finally:
        container.close()
