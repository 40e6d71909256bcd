"""Downloading and verifying a task's data under a data root, with a manifest of what was fetched.

The manifest (``<data-root>/.mmh-data/manifest.json``, written atomically) records per source the
URL it was fetched from (and the ``mirror`` when one was given), the checksum checked (published,
or the sha256 seen when the source publishes none), and every file placed with its size and
sha256. :func:`download_source` is idempotent: a source whose files verify is skipped.
:func:`verify_source` checks presence, counts and hashes and lists precisely what is wrong.
Downloads go to ``<data-root>/.mmh-data/downloads/`` (same file system: the unpacked tree is renamed
into place in one step) and the archive is removed once unpacked unless asked to keep it.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import json
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path, PurePosixPath

from .data_fetch import DownloadError, gdrive_download, hash_file, hf_snapshot, http_download
from .data_sources import DataSource, DataSourceError
from .data_unpack import UnpackError, place_file, unpack_into
from .results import atomic_write_text

MANIFEST_DIR = ".mmh-data"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1
#: at most this many problems are listed per source (the rest are counted)
MAX_LISTED = 20


class DataError(RuntimeError):
    """A download or check that failed (the message names the source, the file and what to do)."""


class ChecksumError(DataError):
    """A downloaded file whose digest is not the published (or the recorded) one."""


def manifest_path(root: str | Path) -> Path:
    """Where the manifest of data root ``root`` lives."""
    return Path(root) / MANIFEST_DIR / MANIFEST_NAME


def load_manifest(root: str | Path) -> dict:
    """The manifest of ``root`` (an empty one when there is none). Raises :class:`DataError` for a
    file that is not a manifest."""
    path = manifest_path(root)
    if not path.is_file():
        return {"schema": MANIFEST_SCHEMA, "sources": {}}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable manifest ({e}); move it away and download again") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), dict):
        raise DataError(f"{path}: not an mmh data manifest (no 'sources' object)")
    return doc


def _save_manifest(root: Path, doc: dict) -> None:
    atomic_write_text(manifest_path(root), json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _record(root: Path, name: str, entry: dict | None) -> None:
    doc = load_manifest(root)  # re-read: keep what other sources wrote meanwhile
    if entry is None:
        doc["sources"].pop(name, None)
    else:
        doc["sources"][name] = entry
    _save_manifest(root, doc)


@dataclass
class Report:
    """What :func:`verify_source` found: ``status`` is ``ok``, ``missing`` (nothing there),
    ``incomplete`` (files missing or different: ``problems`` lists them), or ``by hand`` (a manual
    source with nothing to check); ``note`` says what to do."""

    source: DataSource
    status: str
    problems: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "by hand")


def _listed(problems: list[str]) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return problems[:MAX_LISTED] + [f"... and {len(problems) - MAX_LISTED} more"]


def _check_expects(source: DataSource, dest: Path, hashes: bool) -> list[str]:
    problems = []
    for e in source.expect:
        path = dest / e.path
        shown = (Path(source.dest) / e.path).as_posix()
        if e.count is not None or e.pattern != "*":
            if not path.is_dir():
                problems.append(f"missing folder {shown}/")
                continue
            n = sum(1 for p in path.glob(e.pattern) if p.is_file())
            if e.count is not None and n != e.count:
                problems.append(f"{shown}/: {n} files matching {e.pattern}, expected {e.count}")
            elif e.count is None and n == 0:
                problems.append(f"{shown}/: no file matching {e.pattern}")
        elif e.path == "." and not path.exists():
            problems.append(f"missing {shown}")
        elif e.path != "." and not path.is_file():
            problems.append(f"missing file {shown}")
        elif e.checksum is not None and hashes:
            got = hash_file(path, e.checksum.algo)
            if got != e.checksum.hex:
                problems.append(f"{shown}: {e.checksum.algo} {got}, expected {e.checksum.hex} "
                                f"(published by {e.checksum.published_by or 'the source'})")
    return problems


def _check_recorded(source: DataSource, dest: Path, entry: dict, hashes: bool) -> list[str]:
    problems = []
    for rel, (size, digest) in sorted(entry.get("files", {}).items()):
        path = dest / rel if rel != "." else dest
        shown = (Path(source.dest) / rel).as_posix()
        if not path.is_file():
            problems.append(f"missing file {shown}")
        elif path.stat().st_size != size:
            problems.append(f"{shown}: {path.stat().st_size} bytes, recorded {size}")
        elif hashes and hash_file(path) != digest:
            problems.append(f"{shown}: sha256 differs from the one recorded when it was downloaded")
    return problems


def verify_source(source: DataSource, root: str | Path, *, hashes: bool = True,
                  manifest: dict | None = None) -> Report:
    """Check source ``source`` under data root ``root``: the files the manifest recorded (present,
    same size, same sha256 unless ``hashes`` is false) and the declared expectations (files, file
    counts, published checksums). See :class:`Report`."""
    root = Path(root)
    doc = manifest if manifest is not None else load_manifest(root)
    entry = doc["sources"].get(source.name)
    dest = root / source.dest
    if not source.fetchable and not source.expect:
        return Report(source, "by hand", note=source.note)
    if entry is None and not dest.exists():
        note = source.note if not source.fetchable else ""
        return Report(source, "missing", [f"missing {source.dest}" + ("/" if source.archive or
                                                                       source.kind == "hf_dataset" else "")],
                      note=note)
    problems = _check_recorded(source, dest, entry, hashes) if entry else []
    problems += _check_expects(source, dest, hashes)
    if problems:
        return Report(source, "incomplete", _listed(problems), note=source.note if not source.fetchable else "")
    return Report(source, "ok")


def _files_with_hashes(dest: Path, names: list[str]) -> dict[str, list]:
    out = {}
    for rel in names:
        p = dest / rel if rel != "." else dest
        out[rel] = [p.stat().st_size, hash_file(p)]
    return out


def _snapshot_files(dest: Path, patterns: tuple[str, ...]) -> list[str]:
    """The files of a hub snapshot under ``dest`` (paths relative to it, sorted): those matching one of
    ``patterns`` (``fnmatch``, as huggingface_hub applies them; all when empty), never the hub's
    ``.cache/``. Only the folders the patterns name before their first wildcard are walked (``dest``
    may be the whole data root, holding other datasets)."""
    def walked(pat: str) -> Path:  # the pattern's folders before its first wildcard
        return dest.joinpath(*takewhile(lambda part: not any(ch in part for ch in "*?["),
                                        PurePosixPath(pat).parts[:-1]))

    tops = {walked(pat) for pat in patterns} if patterns else {dest}
    found = set()
    for top in tops:
        for p in top.rglob("*") if top.is_dir() else ():
            rel = p.relative_to(dest)
            if (p.is_file() and ".cache" not in rel.parts
                    and (not patterns or any(fnmatch.fnmatchcase(rel.as_posix(), pat) for pat in patterns))):
                found.add(rel.as_posix())
    return sorted(found)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fetch_file(source: DataSource, target: Path, mirror: str | None, progress: bool) -> str:
    """Download the source's file to ``target``; returns the URL (or id) it came from."""
    if mirror:
        url = mirror.rstrip("/") + "/" + source.filename
        try:
            http_download(url, target, progress=progress)
        except DownloadError as e:
            raise DownloadError(f"{e} (--mirror {mirror} must serve {source.filename}, the file of "
                                f"{source.official_url()}; or drop --mirror to fetch it from there)") from None
        return url
    if source.kind == "http":
        http_download(source.location, target, progress=progress)
        return source.location
    if source.kind == "gdrive":
        gdrive_download(source.location, target, progress=progress)
        return source.official_url()
    raise DataSourceError(f"source {source.name!r}: kind {source.kind!r} is not a file download")


def _check_digest(source: DataSource, path: Path, entry: dict | None) -> dict:
    """The checksum record of the downloaded file at ``path``, or :class:`ChecksumError` (the file is
    deleted) when it differs from the published digest or from the one recorded earlier."""
    if source.checksum is not None:
        got = hash_file(path, source.checksum.algo)
        if got != source.checksum.hex:
            path.unlink()
            raise ChecksumError(
                f"{source.filename}: {source.checksum.algo} {got}, expected {source.checksum.hex} (published by "
                f"{source.checksum.published_by or 'the source'}): the download is corrupt or not the official "
                "file; it was deleted and nothing was unpacked. Run the command again.")
        return {"algo": source.checksum.algo, "hex": got, "published": True}
    sha = hash_file(path)
    recorded = (entry or {}).get("checksum") or {}
    if recorded.get("algo") == "sha256" and recorded.get("hex") not in (None, sha):
        path.unlink()
        raise ChecksumError(
            f"{source.filename}: sha256 {sha} differs from {recorded['hex']}, recorded when it was first "
            f"downloaded ({(entry or {}).get('fetched_at')}): the source changed or the download is corrupt; it was "
            f"deleted and nothing was unpacked. Delete the source's entry in {MANIFEST_DIR}/{MANIFEST_NAME} to accept "
            "the new file.")
    return {"algo": "sha256", "hex": sha, "published": False}


def download_source(source: DataSource, root: str | Path, *, mirror: str | None = None, progress: bool = True,
                    keep_archive: bool = False, licence_accepted: bool = False) -> tuple[str, Report]:
    """Fetch ``source`` into data root ``root`` unless it already verifies. Returns ``(action,
    report)``: ``action`` is ``skipped`` (it verified), ``downloaded`` or ``by hand`` (a manual
    source: the report's note says what to do). ``mirror``: a base URL serving the source's file
    under its ``filename`` instead of the official location (recorded in the manifest).
    ``licence_accepted`` is recorded; callers check it (see ``mmh data download``). Raises
    :class:`DataError` (:class:`ChecksumError`), :class:`DownloadError` or :class:`UnpackError`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    doc = load_manifest(root)
    entry = doc["sources"].get(source.name)
    report = verify_source(source, root, manifest=doc)
    if report.status == "ok":
        return "skipped", report
    if not source.fetchable:
        return "by hand", report
    dest = root / source.dest
    if entry is None and dest.exists() and source.kind != "hf_dataset":  # a hub snapshot only adds files
        raise DataError(f"{dest} exists but was not downloaded by mmh data download and does not verify "
                        f"({'; '.join(report.problems[:3])}); move it away and run the command again")
    base = {"kind": source.kind, "dest": source.dest, "fetched_at": _now(), "mirror": mirror,
            "licence": source.licence.name, "licence_accepted": licence_accepted}
    if source.kind == "hf_dataset" and not mirror:
        _, commit = hf_snapshot(source.location, dest, revision=source.revision,
                                allow_patterns=source.allow_patterns, progress=progress)
        names = _snapshot_files(dest, source.allow_patterns)
        if not names:
            raise DataError(f"{source.location}: no file matching {list(source.allow_patterns)} was fetched")
        entry = {**base, "url": source.official_url(), "revision": commit or source.revision,
                 "files": _files_with_hashes(dest, names)}
    else:
        if source.kind == "hf_dataset":
            raise DataSourceError(f"source {source.name!r} is a Hugging Face dataset: --mirror applies to file "
                                  "downloads only (set the hub's own HF_ENDPOINT to use a hub mirror)")
        downloads = root / MANIFEST_DIR / "downloads"
        target = downloads / source.filename
        url = _fetch_file(source, target, mirror, progress)
        checksum = _check_digest(source, target, entry)
        if source.archive:
            try:
                names = unpack_into(target, source.archive, dest, source.strip)
            except UnpackError as e:
                target.unlink(missing_ok=True)
                raise UnpackError(f"{e} (the download was deleted; nothing was unpacked)") from None
        else:
            if source.strip:
                raise DataSourceError(f"source {source.name!r}: strip needs an archive")
            place_file(target, dest)  # a single file is the data itself: nothing to keep
            names = ["."]
        if not keep_archive and target.exists():
            target.unlink()
        entry = {**base, "url": url, "filename": source.filename, "checksum": checksum,
                 "files": _files_with_hashes(dest, names)}
    _record(root, source.name, entry)
    report = verify_source(source, root, hashes=False)
    if not report.ok:
        raise DataError(f"{source.name}: downloaded, but the result does not verify: {'; '.join(report.problems)}")
    return "downloaded", report


def needed_sources(tasks: list[str]) -> list[tuple[DataSource, list[str]]]:
    """The sources of ``tasks`` (each once, in order) with the tasks that need each."""
    from .data_sources import sources_for_task

    order: dict[str, tuple[DataSource, list[str]]] = {}
    for t in tasks:
        for s in sources_for_task(t):
            order.setdefault(s.name, (s, []))[1].append(t)
    return list(order.values())

