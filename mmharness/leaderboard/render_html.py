"""HTML rendering of a leaderboard: one static, self-contained page.

The page inlines its CSS, JavaScript and the leaderboard JSON (no CDN, no fetch; a
Content-Security-Policy forbids any network access). The script draws a sortable table (value,
normalised score or rank), the column legend, the per-task plots from ``doc["plots"]`` as inline
SVG, the problems, rules and sources. When drawing has finished ``<html data-status>`` is
``ready``; a JavaScript error turns it into ``error`` and lists the message in ``#lb-errors``.
Templates: ``mmharness/templates/leaderboard/{page.html,leaderboard.css,leaderboard.js}``.
"""

from __future__ import annotations

import html
import json
from importlib import resources


def _asset(name: str) -> str:
    return resources.files("mmharness").joinpath(f"templates/leaderboard/{name}").read_text(encoding="utf-8")


def embed_json(doc: dict) -> str:
    """JSON safe to place inside ``<script type="application/json">`` (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def render_html(doc: dict, title: str = "mmharness leaderboard") -> str:
    """The leaderboard as one self-contained HTML page."""
    page = _asset("page.html")
    parts = {"__CSS__": _asset("leaderboard.css"), "__JS__": _asset("leaderboard.js"),
             "__TITLE__": html.escape(title), "__VERSION__": html.escape(doc["harness"]["version"])}
    for k, v in parts.items():
        page = page.replace(k, v)
    return page.replace("__DATA__", embed_json(doc))
