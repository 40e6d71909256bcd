"""Reading results files for the leaderboard: every file is either used or reported, never dropped.

:func:`read_sources` expands the paths a user gave (files, or directories searched recursively for
``results_*.json``), reads each file once, and returns the valid runs plus a :class:`Problem` for
every file that could not be used (unreadable, not JSON or truncated, not a results file, written
with another results-schema version, violating the shipped results schema, or holding numbers no
run can produce: :func:`mmharness.results.results_problems`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

ERROR = "error"
WARNING = "warning"


@dataclass
class Problem:
    """One thing wrong with the inputs: ``severity`` (error = a file could not be used; warning =
    a stated rule was applied), ``kind`` (machine-readable), ``path`` (file or None), ``message``
    (what, where, and how to fix it)."""

    severity: str
    kind: str
    message: str
    path: str | None = None
    task: str | None = None
    model: str | None = None

    def as_dict(self) -> dict:
        """The problem as recorded in the leaderboard's ``problems``."""
        return {"severity": self.severity, "kind": self.kind, "path": self.path, "task": self.task,
                "model": self.model, "message": self.message}

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


@dataclass
class Run:
    """A valid results file: where it is (as given), its content hash and its document."""

    path: str
    sha256: str
    doc: dict
    created: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.created = parse_created(self.doc["created"])


def parse_created(stamp: str) -> datetime:
    """The ``created`` timestamp of a results file as an aware UTC datetime (naive = UTC)."""
    s = stamp.strip()
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """Files named directly, plus ``results_*.json`` found recursively under named directories.

    Each file appears once (the same file reached twice is read once). A directory with no results
    file, and a path that does not exist, are reported as errors.
    """
    files: list[Path] = []
    problems: list[Problem] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(q for q in p.rglob("results_*.json") if q.is_file())
            if not found:
                problems.append(Problem(ERROR, "empty_directory", f"{p}: directory holds no results_*.json "
                                        f"file (searched recursively); nothing from it is in the leaderboard",
                                        str(p)))
        elif p.exists():
            found = [p]
        else:
            problems.append(Problem(ERROR, "unreadable", f"{p}: no such file or directory", str(p)))
            found = []
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                files.append(q)
    return files, problems


def read_run(path: Path) -> Run | Problem:
    """Read and validate one results file; a :class:`Problem` (error) names what is wrong."""
    from .. import READABLE_SCHEMA_VERSIONS, __version__
    from ..results import RESULTS_KIND, ResultsError, load_results, results_problems

    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        return Problem(ERROR, "unreadable", f"{where}: cannot be read: {e}", where)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return Problem(ERROR, "invalid_json", f"{where}: not UTF-8 text ({e}); not a results file", where)
    except json.JSONDecodeError as e:
        text = raw.decode("utf-8").rstrip()
        ends_early = text.startswith("{") and (
            e.pos >= len(text) - 64 or (e.msg.startswith("Unterminated string") and "\n" not in text[e.pos:]))
        hint = "truncated (it ends in the middle of the document)" if ends_early else "corrupt"
        return Problem(ERROR, "invalid_json", f"{where}: not valid JSON, probably {hint}: {e.msg} at line "
                       f"{e.lineno} column {e.colno}. Re-run the evaluation that wrote it, or leave the file out.",
                       where)
    if not isinstance(doc, dict) or doc.get("kind") != RESULTS_KIND:
        kind = doc.get("kind") if isinstance(doc, dict) else type(doc).__name__
        return Problem(ERROR, "not_results", f"{where}: not an mmharness results file (kind={kind!r}, expected "
                       f"{RESULTS_KIND!r}); leave it out of the inputs", where)
    if doc.get("schema_version") not in READABLE_SCHEMA_VERSIONS:
        return Problem(ERROR, "incompatible_schema",
                       f"{where}: results schema version {doc.get('schema_version')!r}, but mmharness "
                       f"{__version__} reads versions {', '.join(READABLE_SCHEMA_VERSIONS)}. Re-run the evaluation with this version, "
                       f"or build this leaderboard with the mmharness version that wrote the file.", where)
    try:
        doc = load_results(path)
    except ResultsError as e:
        return Problem(ERROR, "invalid_results", f"{e}. The file does not follow the results schema "
                       f"(edited by hand, or written by a broken tool); re-run the evaluation.", where)
    bad = results_problems(doc)
    if bad:
        return Problem(ERROR, "impossible_values", f"{where}: {'; '.join(bad)}. No run gives these numbers (edited "
                       f"by hand, or written by a broken tool); the file is left out. Re-run the evaluation.", where)
    return Run(where, hashlib.sha256(raw).hexdigest(), doc)


def read_sources(paths: Iterable[str | Path]) -> tuple[list[Run], list[Problem]]:
    """All valid runs under ``paths`` and a problem for every path or file that could not be used."""
    files, problems = expand_paths(paths)
    runs: list[Run] = []
    for f in files:
        r = read_run(f)
        (runs if isinstance(r, Run) else problems).append(r)
    return runs, problems
