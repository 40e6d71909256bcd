"""Markdown rendering of a leaderboard: the table, the column legend, degenerate responses, unranked
rows, problems."""

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


def _esc(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(doc: dict) -> str:
    """The leaderboard as a GitHub-flavoured Markdown document."""
    fams = shown_families(doc)
    head = ["#", "model", "avg score", *[family_title(f) for f in fams], "avg rank",
            *[column_title(doc, t) for t in doc["columns"]]]
    lines = ["# Leaderboard", "", _esc(summary_line(doc)), "",
             "| " + " | ".join(_esc(h) for h in head) + " |",
             "|" + "|".join(["---:", "---", "---:"] + ["---:"] * len(fams) + ["---:"]
                            + ["---:"] * len(doc["columns"])) + "|"]
    for m in doc["models"]:
        cells = [position_text(m), model_text(m), average_text(m, doc, "score"), *[family_text(m, f) for f in fams],
                 average_text(m, doc, "rank"), *[task_cell_text(doc, m, t) for t in doc["columns"]]]
        lines.append("| " + " | ".join(_esc(c) for c in cells) + " |")
    lines += ["", _esc(NOTES), "", "## Tasks", ""]
    lines += [f"- {_esc(task_legend(doc, t))}" for t in doc["columns"]]
    degenerate = degenerate_lines(doc)
    if degenerate:
        lines += ["", "## Degenerate responses (kept, not ranked on the task)", ""]
        lines += [f"- {_esc(line)}" for line in degenerate]
    excluded = [m for m in doc["models"] if m["excluded_reason"]]
    if excluded:
        lines += ["", "## Unranked entries", ""]
        lines += [f"- {_esc(model_text(m))}: {_esc(m['excluded_reason'])}" for m in excluded]
    lines += ["", "## Rules", ""]
    lines += [f"- **{k}**: {_esc(v)}" for k, v in doc["rules"].items()]
    if doc["problems"]:
        lines += ["", f"## Problems with the inputs ({len(doc['problems'])})", ""]
        lines += [f"- {p['severity']} ({p['kind']}): {_esc(p['message'])}" for p in doc["problems"]]
    lines += ["", "## Sources", ""]
    lines += [f"- `{s['path']}` ({s['created']}, run {s['run_id'][:8]}): used for "
              f"{', '.join(s['used_for']) or 'nothing (superseded)'}" for s in doc["sources"]]
    return "\n".join(lines) + "\n"
