"""Formatting shared by the text, Markdown and CSV renderers (one place for the table's words)."""

from __future__ import annotations

MISSING = "—"
INCOMPLETE = "*"
DEGENERATE = "⚠"
SEPARATOR = " · "


def fmt(x: float | None, digits: int = 4) -> str:
    """A number with ``digits`` decimals, or the missing mark."""
    return MISSING if x is None else f"{x:.{digits}f}"


def fmt_rank(r: float | None) -> str:
    """A (possibly fractional) rank: ``2`` or ``2.5``."""
    if r is None:
        return MISSING
    return str(int(r)) if float(r).is_integer() else f"{r:.1f}"


def arrow(task_doc: dict, official: bool = False) -> str:
    """↑ when higher is better, ↓ otherwise (of the ranking metric, or of the official one)."""
    meta = task_doc["official_metric_metadata"] if official else task_doc["metric_metadata"]
    return "↑" if meta["higher_is_better"] else "↓"


def official_shown(task_doc: dict) -> str | None:
    """The official metric shown beside the ranking one, or None when the column ranks on it."""
    return task_doc["official_metric"] if task_doc["official_metric"] != task_doc["metric"] else None


def column_metric(doc: dict, task: str) -> str:
    """``metric ↑`` and, when the column ranks on another metric than the official one,
    `` · official NAME ↓`` (``(not averaged)`` appended for columns outside the averages)."""
    t = doc["tasks"][task]
    extra = "" if t["in_task_set"] else " (not averaged)"
    off = official_shown(t)
    beside = f"{SEPARATOR}official {off} {arrow(t, official=True)}" if off else ""
    return f"{t['metric']} {arrow(t)}{beside}{extra}"


def column_title(doc: dict, task: str) -> str:
    """``task`` and its :func:`column_metric`: ``task metric ↑ · official NAME ↓``."""
    return f"{task} {column_metric(doc, task)}"


def official_value(cell: dict, official: str | None) -> float | None:
    """The cell's value of the official metric (None when absent)."""
    if not official:
        return None
    return ((cell.get("metrics") or {}).get(official) or {}).get("value")


def cell_text(cell: dict, with_rank: bool = True, official: str | None = None) -> str:
    """The value of a cell, with its rank in parentheses (``⚠rule`` instead for a cell flagged
    degenerate) and, given ``official`` (the official metric's name), `` · <its value>``; the status
    word when there is no value."""
    if cell["status"] == "missing":
        return MISSING
    beside = f"{SEPARATOR}{fmt(official_value(cell, official))}" if official and cell.get("metrics") else ""
    if cell["status"] == "missing_metric":
        return f"{MISSING} (no metric){beside}"
    if cell["value"] is None:
        return f"{MISSING} (undefined){beside}"
    s = fmt(cell["value"])
    if cell.get("degenerate"):
        s += f" {DEGENERATE}{cell['degenerate']['rule']}"
    elif with_rank and cell.get("rank") is not None:
        s += f" ({fmt_rank(cell['rank'])})"
    return s + beside


def task_cell_text(doc: dict, model: dict, task: str) -> str:
    """:func:`cell_text` of ``model``'s cell in column ``task``, with the official value beside."""
    return cell_text(model["cells"][task], official=official_shown(doc["tasks"][task]))


def shown_families(doc: dict) -> list[str]:
    """Families whose average the tables show beside the overall one: those averaging more than one
    task (a one-task family's average is its task's normalised score), in column order."""
    return [f for f, fam in doc["families"].items() if len(fam["averaged"]) > 1]


def family_title(family: str) -> str:
    """Header of a family-average column."""
    return f"{family} avg"


def family_text(model: dict, family: str) -> str:
    """A family average, marked ``*`` with ``n/N`` when some of the family's tasks lack a score."""
    a = model["family_averages"][family]
    s = fmt(a["score"], 3)
    if a["score"] is not None and a["n"] < a["total"]:
        s += f"{INCOMPLETE} ({a['n']}/{a['total']})"
    return s


def degenerate_lines(doc: dict) -> list[str]:
    """One line per flagged cell: model, task, rule and reason."""
    return [f"{model_text(m)}, {t}: {DEGENERATE}{m['cells'][t]['degenerate']['rule']}: "
            f"{m['cells'][t]['degenerate']['reason']}" for m in doc["models"] for t in m["degenerate_tasks"]]


def average_text(model: dict, doc: dict, which: str) -> str:
    """Average score or rank, marked ``*`` with ``n/N`` when the row is incomplete."""
    if which == "score":
        v, n, total, digits = model["average_score"], model["average_score_n"], len(doc["score_task_set"]), 3
        s = fmt(v, digits)
    else:
        v, n, total = model["average_rank"], model["average_rank_n"], len(doc["task_set"])
        s = MISSING if v is None else f"{v:.2f}"
    if v is not None and n < total:
        s += f"{INCOMPLETE} ({n}/{total})"
    return s


def position_text(model: dict) -> str:
    """Overall rank, or why there is none."""
    if model["overall_rank"] is not None:
        return str(model["overall_rank"])
    return "unranked" if not model["ranked"] else "incomplete"


def model_text(model: dict) -> str:
    """Label with its flags: ``random(seed=0) [sample]``."""
    return model["label"] + (f" [{', '.join(model['flags'])}]" if model["flags"] else "")


def task_legend(doc: dict, task: str) -> str:
    """``task: `` and its :func:`column_legend`."""
    return f"{task}: {column_legend(doc, task)}"


def column_legend(doc: dict, task: str) -> str:
    """One sentence on a column: metric, direction, normalisation reference, versions, plots."""
    t = doc["tasks"][task]
    meta, ref = t["metric_metadata"], t["normalization"]
    direction = "higher is better" if meta["higher_is_better"] else "lower is better"
    why = {"override": "chosen with --metric", "leaderboard_metric": "the task's leaderboard metric",
           "primary_metric": "the primary metric"}[t["metric_source"]]
    if ref["method"] == "chance":
        norm = f"normalised: 0 = chance ({ref['zero']:.4g}), 1 = best ({ref['best']:.4g})"
    elif ref["method"] == "range":
        norm = (f"normalised: no chance level, 0 = worst of range ({ref['zero']:.4g}), "
                f"1 = best ({ref['best']:.4g})")
    else:
        norm = "not normalisable (no chance level and no bounded range): left out of the average score"
    parts = [f"ranked on {t['metric']} ({why}; {direction}; {norm})"]
    off = official_shown(t)
    if off:
        odir = "higher is better" if t["official_metric_metadata"]["higher_is_better"] else "lower is better"
        parts.append(f"official metric {off} ({odir}) shown beside it")
    parts += [f"family {t['family']}", f"task version {', '.join(t['versions'])}"]
    if t["n_degenerate"]:
        parts.append(f"{t['n_degenerate']} cell(s) flagged degenerate, not ranked")
    if not t["registered"]:
        parts.append("NOT a registered task in this mmharness version")
    if not t["in_task_set"]:
        parts.append("not in the task set of the averages")
    return "; ".join(parts)


def summary_line(doc: dict) -> str:
    """What the leaderboard covers, in one line."""
    n_ranked = sum(m["ranked"] for m in doc["models"])
    return (f"{len(doc['models'])} model entries ({n_ranked} ranked) x {len(doc['columns'])} tasks; "
            f"averages over {len(doc['task_set'])} task(s): {', '.join(doc['task_set'])}; "
            f"built {doc['created']} by mmharness {doc['harness']['version']}")


NOTES = (
    f"Cells: ranking-metric value (rank among ranked models){SEPARATOR}official metric value, where the column "
    f"ranks on another metric than the paper's. {DEGENERATE}rule = degenerate responses (reason listed below): the "
    f"value is kept but not ranked. {MISSING} = no result (never imputed). {INCOMPLETE} (n/N) = average over n of "
    "the N tasks (missing cells; for the average rank also the unranked degenerate cells); rows missing a task get "
    "no overall rank ('incomplete'). 'unranked' rows (sample data, --limit runs) are shown but not ranked. "
    "'<family> avg' = mean normalised score over a benchmark family.")
