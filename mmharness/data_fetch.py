"""Fetching one file: HTTP(S) with resume, Google Drive through ``gdown``, Hugging Face snapshots.

:func:`http_download` writes into ``PATH.part`` and resumes it with a ``Range`` request (after an
interrupted call, and up to ``retries`` times within one call when the connection drops); a server
that ignores ``Range`` (answers 200) restarts the file from the beginning. The finished file is
renamed to ``PATH``. :func:`hash_file` digests a file; :func:`gdrive_download` and
:func:`hf_snapshot` wrap the maintained clients, with clear errors when they are missing or the hub
is offline. Every function shows a ``tqdm`` progress bar on a terminal (``progress=False``: none).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

_CHUNK = 1 << 20
_USER_AGENT = "mmharness-data/1"


class DownloadError(RuntimeError):
    """A file could not be fetched (the message says from where, why, and what to do)."""


def hash_file(path: str | Path, algo: str = "sha256") -> str:
    """Hex digest of the file at ``path`` with hashlib algorithm ``algo``."""
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _progress(total: int | None, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                disable=None if enabled else True, leave=False)


def _total_from_headers(resp, start: int) -> int | None:
    rng = resp.headers.get("Content-Range")
    if rng:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", rng)
        if m and m.group(3) != "*":
            return int(m.group(3))
    length = resp.headers.get("Content-Length")
    return start + int(length) if length and length.isdigit() else None


def _one_request(url: str, part: Path, timeout: float, progress: bool, desc: str) -> bool:
    """One GET resuming ``part``; True when the file is complete, False when the body stopped short
    (the caller retries). Raises :class:`DownloadError` for an HTTP error."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left past what we have: restart rather than guess
            part.unlink()
            return False
        raise DownloadError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise DownloadError(f"{url}: cannot connect ({reason}); check the network or the URL") from None
    with resp:
        if have and resp.status == 206:
            m = re.match(r"bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != have:
                raise DownloadError(f"{url}: the server resumed at {resp.headers.get('Content-Range')!r}, "
                                    f"not at byte {have}; delete {part} and run again")
            mode = "ab"
        else:  # 200: a fresh start, or a server that ignores Range
            have, mode = 0, "wb"
        total = _total_from_headers(resp, have)
        with open(part, mode) as f, _progress(total, have, desc, progress) as bar:
            try:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
            except (http.client.IncompleteRead, ConnectionError, TimeoutError, OSError):
                return False
        got = part.stat().st_size
        return total is None or got >= total


def http_download(url: str, dest: str | Path, *, retries: int = 3, timeout: float = 60.0,
                  progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a part left by an earlier call
    and retrying a dropped connection up to ``retries`` times (each retry resumes). Returns ``dest``.
    Raises :class:`DownloadError` (HTTP error, refused connection, still incomplete after the
    retries; the part stays for the next call to resume)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        if _one_request(url, part, timeout, progress, dest.name):
            os.replace(part, dest)
            return dest
        if attempt < retries:
            time.sleep(min(0.2 * 2 ** attempt, 2.0))
    raise DownloadError(f"{url}: the connection dropped {retries + 1} times; {part.stat().st_size if part.exists() else 0} "
                        f"bytes are kept in {part}: run the command again to resume")


def gdrive_download(file_id: str, dest: str | Path, *, progress: bool = True) -> Path:
    """Download Google Drive file ``file_id`` to ``dest`` with ``gdown`` (resuming its partial
    file). Raises :class:`DownloadError` when gdown is not installed or the download fails."""
    try:
        import gdown
    except ImportError:
        raise DownloadError(f"Google Drive file {file_id} needs gdown: pip install 'mmharness[data]'") from None
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        out = gdown.download(id=file_id, output=str(dest), quiet=not progress, resume=True)
    except Exception as e:  # gdown raises its own FileURLRetrievalError and requests' errors
        raise DownloadError(f"Google Drive file {file_id}: {e}") from None
    if not out or not dest.is_file():
        raise DownloadError(f"Google Drive file {file_id}: gdown returned nothing (quota exceeded or "
                            "the file is not shared publicly); try again later")
    return dest


def hf_snapshot(repo_id: str, local_dir: str | Path, *, revision: str | None = None,
                allow_patterns: tuple[str, ...] = (), progress: bool = True) -> tuple[Path, str | None]:
    """Fetch dataset ``repo_id`` (the files matching ``allow_patterns``, all when empty) into
    ``local_dir`` with ``huggingface_hub.snapshot_download``. Returns ``(local_dir, commit)``, the
    commit being the revision resolved before the download, and the one fetched (``None`` when
    unknown). Respects ``HF_HUB_OFFLINE``: offline, only files already in the hub cache can be
    placed, and the error says so."""
    try:
        from huggingface_hub import HfApi, snapshot_download
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    except ImportError:
        raise DownloadError(f"{repo_id}: needs huggingface_hub: pip install huggingface_hub") from None
    from huggingface_hub import constants

    commit = None
    if not constants.HF_HUB_OFFLINE:  # resolved first: the files fetched are those of the commit returned
        try:
            commit = HfApi().dataset_info(repo_id, revision=revision).sha
        except Exception:  # unknown: snapshot_download below says why when it cannot fetch either
            commit = None
    if not progress:
        disable_progress_bars()
    try:
        path = snapshot_download(repo_id, repo_type="dataset", revision=commit or revision, local_dir=str(local_dir),
                                 allow_patterns=list(allow_patterns) or None)
    except Exception as e:
        offline = " (HF_HUB_OFFLINE is set: only the local hub cache is read; unset it to download)" \
            if constants.HF_HUB_OFFLINE else ""
        raise DownloadError(f"Hugging Face dataset {repo_id}: {type(e).__name__}: {e}{offline}") from None
    finally:
        if not progress:
            enable_progress_bars()
    return Path(path), commit
