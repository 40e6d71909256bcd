"""Formatting shared by the text, Markdown and CSV renderers (one place for the table's words)."""

from __future__ import annotations

MISSING = "—"
INCOMPLETE = "*"


def fmt(x: float | None, digits: int = 4) -> str:
    """A number with ``digits`` decimals, or the missing mark."""
    return MISSING if x is None else f"{x:.{digits}f}"


def fmt_rank(r: float | None) -> str:
    """A (possibly fractional) rank: ``2`` or ``2.5``."""
    if r is None:
        return MISSING
    return str(int(r)) if float(r).is_integer() else f"{r:.1f}"


def arrow(task_doc: dict) -> str:
    """↑ when higher is better, ↓ otherwise."""
    return "↑" if task_doc["metric_metadata"]["higher_is_better"] else "↓"


def column_title(doc: dict, task: str) -> str:
    """``task metric ↑`` (``(not in task set)`` appended for columns outside the averages)."""
    t = doc["tasks"][task]
    extra = "" if t["in_task_set"] else " (not averaged)"
    return f"{task} {t['metric']} {arrow(t)}{extra}"


def cell_text(cell: dict, with_rank: bool = True) -> str:
    """The value of a cell, with its rank in parentheses; the status word when there is no value."""
    if cell["status"] == "missing":
        return MISSING
    if cell["status"] == "missing_metric":
        return f"{MISSING} (no metric)"
    if cell["value"] is None:
        return f"{MISSING} (undefined)"
    s = fmt(cell["value"])
    if with_rank and cell.get("rank") is not None:
        s += f" ({fmt_rank(cell['rank'])})"
    return s


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
    """One sentence on a column: metric, direction, normalisation reference, versions, plots."""
    t = doc["tasks"][task]
    meta, ref = t["metric_metadata"], t["normalization"]
    direction = "higher is better" if meta["higher_is_better"] else "lower is better"
    if ref["method"] == "chance":
        norm = f"normalised: 0 = chance ({ref['zero']:.4g}), 1 = best ({ref['best']:.4g})"
    elif ref["method"] == "range":
        norm = (f"normalised: no chance level, 0 = worst of range ({ref['zero']:.4g}), "
                f"1 = best ({ref['best']:.4g})")
    else:
        norm = "not normalisable (no chance level and no bounded range): left out of the average score"
    parts = [f"{task}: {t['metric']} ({direction}; {norm})", f"task version {', '.join(t['versions'])}"]
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
    f"Cells: primary metric value (rank among ranked models). {MISSING} = no result (never imputed). "
    f"{INCOMPLETE} = average over an incomplete row (n/N tasks); such rows get no overall rank ('incomplete'). "
    "'unranked' rows (sample data, --limit runs) are shown but not ranked.")
