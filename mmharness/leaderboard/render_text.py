"""Terminal rendering of a leaderboard (``mmh leaderboard show``): an aligned plain-text table,
the column legend, degenerate responses and the problems."""

from __future__ import annotations

from .render_common import (
    NOTES,
    average_text,
    column_title,
    degenerate_lines,
    family_text,
    family_title,
    model_text,
    position_text,
    shown_families,
    summary_line,
    task_cell_text,
    task_legend,
)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_text(doc: dict, problems: bool = True) -> str:
    """The leaderboard as terminal text: summary, table, legend, notes, degenerate cells, problems."""
    fams = shown_families(doc)
    head = ["#", "model", "avg score", *[family_title(f) for f in fams], "avg rank",
            *[column_title(doc, t) for t in doc["columns"]]]
    rows = [head]
    for m in doc["models"]:
        rows.append([position_text(m), model_text(m), average_text(m, doc, "score"),
                     *[family_text(m, f) for f in fams], average_text(m, doc, "rank"),
                     *[task_cell_text(doc, m, t) for t in doc["columns"]]])
    out = [summary_line(doc), "", _table(rows), "", NOTES]
    out += [f"  {task_legend(doc, t)}" for t in doc["columns"]]
    out += [f"  degenerate: {line}" for line in degenerate_lines(doc)]
    excluded = [m for m in doc["models"] if m["excluded_reason"]]
    for m in excluded:
        out.append(f"  unranked: {model_text(m)}: {m['excluded_reason']}")
    if problems and doc["problems"]:
        out += ["", f"{len(doc['problems'])} problem(s) with the inputs:"]
        out += [f"  {p['severity']}: {p['message']}" for p in doc["problems"]]
    return "\n".join(out)
