"""Leaderboard files: the shipped JSON Schema, validation, atomic writing and checked reading."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .build import LEADERBOARD_KIND, LEADERBOARD_SCHEMA_VERSION, LeaderboardError


@lru_cache(maxsize=None)
def leaderboard_schema() -> dict:
    """The shipped JSON Schema of leaderboard files (``mmharness/schemas/leaderboard.schema.json``)."""
    return json.loads(resources.files("mmharness").joinpath("schemas/leaderboard.schema.json").read_text())


def validate_leaderboard(doc: dict, where: str = "leaderboard") -> None:
    """Raise :class:`LeaderboardError` naming the first schema violation of ``doc``."""
    from ..results import validate_against

    validate_against(leaderboard_schema(), doc, where, LeaderboardError)


def write_leaderboard(doc: dict, path: str | Path) -> Path:
    """Validate ``doc`` and write it atomically as indented JSON."""
    from ..results import atomic_write_text

    validate_leaderboard(doc, str(path))
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")
    return Path(path)


def load_leaderboard(path: str | Path) -> dict:
    """Read a leaderboard file and validate it; errors name the file and say what is wrong."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LeaderboardError(f"{path}: cannot be read: {e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LeaderboardError(f"{path}: not valid JSON (truncated or corrupt?): {e}") from None
    if not isinstance(doc, dict) or doc.get("kind") != LEADERBOARD_KIND:
        kind = doc.get("kind") if isinstance(doc, dict) else None
        hint = " (a results file: build a leaderboard from it with `mmh leaderboard build`)" \
            if kind == "mmharness.results" else ""
        raise LeaderboardError(f"{path}: not an mmharness leaderboard (kind={kind!r}){hint}")
    if doc.get("schema_version") != LEADERBOARD_SCHEMA_VERSION:
        raise LeaderboardError(f"{path}: leaderboard schema version {doc.get('schema_version')!r}; this "
                               f"mmharness reads {LEADERBOARD_SCHEMA_VERSION!r}. Rebuild it from the results files.")
    validate_leaderboard(doc, str(path))
    return doc
