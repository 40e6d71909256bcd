"""The leaderboard: results files -> one canonical, schema-checked leaderboard JSON -> renderings.

* :func:`build_leaderboard` (``build.py``): models x tasks, each task's ranking metric beside its
  official (primary) metric, normalised score, ranks, degenerate responses flagged and unranked,
  averages overall and per benchmark family, provenance, problems; the rules are in :data:`RULES`.
* :func:`load_leaderboard` / :func:`write_leaderboard` (``io.py``): the file and its schema
  (``mmharness/schemas/leaderboard.schema.json``).
* Renderers: ``render_text`` (terminal), ``render_md``, ``render_csv``, ``render_html``; per-task
  plots come from the provider registry in :mod:`mmharness.leaderboard.plots`.
* ``compare.py``: per-task deltas of two results files with paired bootstrap CIs.
"""

from .build import RULES, BuildOptions, LeaderboardError, build_leaderboard
from .io import load_leaderboard, validate_leaderboard, write_leaderboard

__all__ = ["RULES", "BuildOptions", "LeaderboardError", "build_leaderboard", "load_leaderboard",
           "validate_leaderboard", "write_leaderboard"]
