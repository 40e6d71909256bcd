"""Unpacking a downloaded archive into the data root, all or nothing.

:func:`unpack_into` checks every member first (no absolute path, no ``..``, no link, device or
fifo; each under the source's ``strip`` folder), extracts into a temporary folder beside the
destination (same file system), and renames the result onto the destination in one step. A
refused, truncated or corrupt archive raises :class:`UnpackError` and leaves nothing behind; an
older destination is replaced only once the new tree is complete. :func:`place_file` does the same
for a single downloaded file.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from .results import _umask


class UnpackError(RuntimeError):
    """An archive that cannot be unpacked safely or completely (the message names the archive, the
    member and why)."""


def _member_path(archive: Path, name: str, strip: str) -> PurePosixPath | None:
    """The member's path under the destination (``None`` for the ``strip`` folder itself)."""
    p = PurePosixPath(name)
    if p.is_absolute() or name.startswith(("/", "\\")) or ".." in p.parts or "\\" in name:
        raise UnpackError(f"{archive}: member {name!r} has an absolute path or '..'; refused")
    parts = tuple(x for x in p.parts if x != ".")
    if strip:
        if not parts or parts[0] != strip:
            raise UnpackError(f"{archive}: member {name!r} is not under {strip}/, the folder the task "
                              "reads; is this the right archive?")
        parts = parts[1:]
    return PurePosixPath(*parts) if parts else None


def _tar_members(archive: Path, tf: tarfile.TarFile, strip: str) -> list[tuple[tarfile.TarInfo, PurePosixPath]]:
    out = []
    for m in tf.getmembers():
        rel = _member_path(archive, m.name, strip)
        if m.issym() or m.islnk():
            raise UnpackError(f"{archive}: member {m.name!r} is a link (to {m.linkname!r}); refused")
        if not (m.isfile() or m.isdir()):
            raise UnpackError(f"{archive}: member {m.name!r} is not a file or a folder; refused")
        if rel is not None:
            out.append((m, rel))
    return out


def _write_member(target: Path, src) -> None:
    """Create the folder ``target`` (``src`` None) or write the open member ``src`` to the file
    ``target`` (closing ``src``), creating its parent folders."""
    if src is None:
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def _extract_tar(archive: Path, tmp: Path, strip: str) -> None:
    with tarfile.open(archive, "r:*") as tf:
        members = _tar_members(archive, tf, strip)
        for m, rel in members:
            src = None if m.isdir() else tf.extractfile(m)
            if src is None and not m.isdir():
                raise UnpackError(f"{archive}: member {m.name!r} cannot be read")
            _write_member(tmp / rel, src)
            if not m.isdir() and os.path.getsize(tmp / rel) != m.size:
                raise UnpackError(f"{archive}: member {m.name!r} is truncated")


def _extract_zip(archive: Path, tmp: Path, strip: str) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for info in infos:
            rel = _member_path(archive, info.filename, strip)
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode not in (0o100000, 0o040000):
                raise UnpackError(f"{archive}: member {info.filename!r} is a link or a special file; refused")
            if rel is not None:
                plan.append((info, rel))
        for info, rel in plan:
            _write_member(tmp / rel, None if info.is_dir() else zf.open(info))  # zipfile checks each CRC


_EXTRACTORS = {"tar": _extract_tar, "zip": _extract_zip}


def _swap_in(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` onto ``dest``; an existing ``dest`` is moved aside first and removed after."""
    old = None
    if dest.exists() or dest.is_symlink():
        old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
        os.replace(dest, old)
    try:
        os.replace(tmp, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()


def unpack_into(archive: str | Path, kind: str, dest: str | Path, strip: str = "") -> list[str]:
    """Unpack ``archive`` (``kind`` ``tar`` or ``zip``) so that its ``strip``/ folder becomes
    ``dest``, all or nothing (see the module docstring). Returns the files placed, as paths relative
    to ``dest`` (sorted)."""
    archive, dest = Path(archive), Path(dest)
    if kind not in _EXTRACTORS:
        raise UnpackError(f"{archive}: unknown archive kind {kind!r}; expected one of {sorted(_EXTRACTORS)}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.unpack-", dir=dest.parent))
    try:
        try:
            _EXTRACTORS[kind](archive, tmp, strip)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
            raise UnpackError(f"{archive}: not a complete {kind} archive ({type(e).__name__}: {e}); "
                              "delete it and download again") from None
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        if not files:
            raise UnpackError(f"{archive}: no file under {strip or 'the archive root'}/")
        os.chmod(tmp, 0o777 & ~_umask())
        _swap_in(tmp, dest)
        return files
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def place_file(src: str | Path, dest: str | Path) -> None:
    """Move the downloaded file ``src`` to ``dest`` in one rename (same file system: the download
    folder is under the data root); an existing ``dest`` is replaced."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
