"""Terminal rendering of a leaderboard (``mmh leaderboard show``): summary, table, legend, notes,
degenerate responses and problems, at most ``width`` columns wide (:mod:`mmharness.tables`).

What the table shows:

* by default, every task when the whole table fits the width without breaking a word; otherwise
  each benchmark family of more than one task is collapsed into its average (the overall average,
  the family averages, the average rank and the tasks outside such families stay);
* ``tasks`` (``--tasks``): the chosen tasks or families' tasks (``all``: every task), beside the
  averages. When those columns do not fit, one block per task lists every model's cell.
"""

from __future__ import annotations

from typing import Sequence

from ..tables import Column, fits_unbroken, render_table, resolve_width, wrap
from .render_common import (
    NOTES,
    SEPARATOR,
    arrow,
    average_text,
    column_legend,
    column_metric,
    column_title,
    degenerate_lines,
    family_text,
    family_title,
    model_text,
    official_shown,
    position_text,
    shown_families,
    summary_line,
    task_cell_text,
)



def select_tasks(doc: dict, items: Sequence[str] | str) -> list[str]:
    """The columns named by ``items`` (comma-separated or a list): task names, family names (as in
    the leaderboard's ``families``, any case) or registered task groups, or ``all``; in the
    leaderboard's column order. Raises :class:`~mmharness.leaderboard.build.LeaderboardError`
    naming what is unknown."""
    from .build import LeaderboardError

    names = [s.strip() for s in (items.split(",") if isinstance(items, str) else items) if s.strip()]
    if not names:
        raise LeaderboardError("--tasks: no task or family given")
    columns = doc["columns"]
    fams = {f.lower(): fam["tasks"] for f, fam in doc["families"].items()}
    chosen: set[str] = set()
    for n in names:
        if n.lower() == "all":
            chosen.update(columns)
        elif n in columns:
            chosen.add(n)
        elif n.lower() in fams:
            chosen.update(fams[n.lower()])
        else:
            group = _registered_group(n)
            hit = [t for t in group if t in columns]
            if not hit:
                from ..registry import did_you_mean

                known = list(doc["families"]) + columns
                families = "; ".join(f"{f} ({len(v['tasks'])} task{'s' if len(v['tasks']) > 1 else ''})"
                                     for f, v in doc["families"].items())
                raise LeaderboardError(
                    f"--tasks: {n!r} is neither a task nor a family of this leaderboard.{did_you_mean(n, known)} "
                    f"Families: {families}; tasks: {', '.join(columns)}; or 'all'.")
            chosen.update(hit)
    return [t for t in columns if t in chosen]


def _registered_group(name: str) -> tuple[str, ...]:
    try:
        from ..registry import TASK_GROUPS, TASKS

        TASKS.names()  # registers the built-in groups
        return tuple(TASK_GROUPS.get(name, ()))
    except Exception:  # noqa: BLE001 - a broken plugin must not hide the leaderboard
        return ()


def _task_header(doc: dict, task: str) -> str:
    """A task column's header: the task, its ranking metric with its direction, the official metric
    beside it (when the column ranks on another), one per line."""
    t = doc["tasks"][task]
    lines = [task, f"{t['metric']} {arrow(t)}"]
    off = official_shown(t)
    if off:
        lines.append(f"{SEPARATOR.strip()} official {off} {arrow(t, official=True)}")
    if not t["in_task_set"]:
        lines.append("(not averaged)")
    return "\n".join(lines)


def _table(doc: dict, fams: list[str], tasks: list[str]) -> tuple[list[Column], list[list[str]]]:
    head = [Column("#"), Column("model", wrap=False), Column("avg score", "right"),
            *[Column(family_title(f), "right") for f in fams], Column("avg rank", "right"),
            *[Column(_task_header(doc, t), "right") for t in tasks]]
    rows = [[position_text(m), model_text(m), average_text(m, doc, "score"), *[family_text(m, f) for f in fams],
             average_text(m, doc, "rank"), *[task_cell_text(doc, m, t) for t in tasks]] for m in doc["models"]]
    return head, rows


def _task_blocks(doc: dict, tasks: list[str], width: int) -> str:
    """One small table per task: every model's cell, in the leaderboard's order."""
    out = []
    for t in tasks:
        head = [Column("#"), Column("model", wrap=False), Column(column_metric(doc, t), "right")]
        rows = [[position_text(m), model_text(m), task_cell_text(doc, m, t)] for m in doc["models"]]
        out += [f"{t}:", render_table(head, rows, width), ""]
    return "\n".join(out).rstrip("\n")


def render_text(doc: dict, problems: bool = True, *, tasks: Sequence[str] | str | None = None,
                width: int | None = None) -> str:
    """The leaderboard as terminal text at most ``width`` columns wide (see
    :func:`mmharness.tables.resolve_width`): summary, table, legend, notes, degenerate cells,
    problems. ``tasks``: task or family names (``--tasks``) whose columns to show; default: every
    task if that fits, else the family averages (see the module docstring)."""
    w = resolve_width(width)
    multi = shown_families(doc)
    in_multi = {t for f in multi for t in doc["families"][f]["tasks"]}
    collapsed: list[str] = []
    blocks = None
    if tasks is None:
        fams_shown = multi
        head, rows = _table(doc, multi, doc["columns"])
        if not fits_unbroken(head, rows, w):
            collapsed = multi
            head, rows = _table(doc, multi, [t for t in doc["columns"] if t not in in_multi])
        shown = [t for t in doc["columns"] if t not in in_multi] if collapsed else list(doc["columns"])
    else:
        shown = select_tasks(doc, tasks)
        fams_shown = [f for f in multi if any(t in shown for t in doc["families"][f]["tasks"])]
        head, rows = _table(doc, fams_shown, shown)
        if not fits_unbroken(head, rows, w):
            head, rows = _table(doc, fams_shown, [])
            blocks = shown
    out = [wrap(summary_line(doc), w), "", render_table(head, rows, w)]
    if collapsed:
        out += ["", wrap(f"{len(doc['columns'])} tasks: families of several tasks are shown as their average "
                         f"({', '.join(collapsed)}); --tasks FAMILY,... shows their tasks (--tasks TASK,...: chosen "
                         f"tasks; --tasks all: every task; --width N: another width).", w)]
    if blocks:
        out += ["", _task_blocks(doc, blocks, w)]
    out += ["", wrap(NOTES, w)]
    for f in fams_shown:
        fam = doc["families"][f]
        out.append(wrap(f"{family_title(f)}: mean normalised score over {', '.join(fam['averaged'])}", w, "  ", "    "))
    legend = [t for t in doc["columns"] if t in shown]
    out += [wrap(f"{column_title(doc, t)}: {column_legend(doc, t)}", w, "  ", "    ") for t in legend]
    out += [wrap(f"degenerate: {line}", w, "  ", "    ") for line in degenerate_lines(doc)]
    for m in doc["models"]:
        if m["excluded_reason"]:
            out.append(wrap(f"unranked: {model_text(m)}: {m['excluded_reason']}", w, "  ", "    "))
    if problems and doc["problems"]:
        out += ["", f"{len(doc['problems'])} problem(s) with the inputs:"]
        out += [wrap(f"{p['severity']}: {p['message']}", w, "  ", "    ") for p in doc["problems"]]
    return "\n".join(out)
