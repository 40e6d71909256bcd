"""Task cards: ``mmh tasks NAME`` (and ``mmh tasks --json``).

A card is documentation generated from a task's declarations, never written by hand: the protocol
and the paper (:class:`~mmharness.task.Paper`, whose BibTeX is the citation), the capabilities it
uses, every option (:func:`~mmharness.task.task_options`: the ``__init__`` signature gives the type
and default, ``option_meanings`` the one-line meaning; ``--task-args`` is checked against the same
list), the metrics of its ``MetricSpec``\\ s (direction, range, chance level, official or not), the
primary and leaderboard metrics, the family, and the data (:class:`~mmharness.task.DataInfo`: where
under ``--data-root``, the official source, a conversion command, ``--sample``; and, from
:mod:`mmharness.data_sources`, the ``mmh data download`` line and the sources it fetches).

:func:`task_card` builds the JSON-able card; :func:`format_card` writes it as text lines, wrapped to
the width of :func:`mmharness.tables.resolve_width` (wrapped at spaces, never cut);
:func:`resolve_card_names` turns the names given on the command line (tasks and groups) into tasks.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from .registry import TASK_GROUPS, TASKS, RegistryError, did_you_mean
from .task import task_family, task_options

#: indentation of the values of a card's ``key  value`` lines
_KEY_WIDTH = 14


def task_card(name: str) -> dict:
    """The card of registered task ``name`` as a JSON-able dict (see the module docstring). It holds
    the fields of the ``mmh tasks`` listing too (name, version, uses, primary_metric, protocol,
    description, origin)."""
    cls = TASKS.get(name)
    specs = cls.default_metric_specs() if hasattr(cls, "default_metric_specs") else tuple(cls.metric_specs)
    from_data = set(getattr(cls, "chance_from_data", ()))
    ranking = cls.ranking_metric() if hasattr(cls, "ranking_metric") else cls.primary_metric
    paper = getattr(cls, "paper", None)
    data = getattr(cls, "data_info", None)
    doc_line = (cls.__doc__ or "").strip().split("\n")[0]
    return {
        "name": name,
        "version": str(cls.version),
        "description": cls.description or doc_line,
        "protocol": cls.protocol,
        "origin": TASKS.origin(name),
        "family": task_family(name, cls),
        "groups": sorted(g for g, members in TASK_GROUPS.items() if name in members),
        "paper": paper.as_dict() if paper is not None else None,
        "citation": paper.bibtex() if paper is not None else None,
        "uses": [c.value for c in cls.uses],
        "options": [o.as_dict() for o in task_options(cls)],
        "metrics": [dict(name=m.name, **m.as_dict(), chance_from_data=m.name in from_data,
                         primary=m.name == cls.primary_metric, leaderboard=m.name == ranking) for m in specs],
        "primary_metric": cls.primary_metric,
        "leaderboard_metric": ranking,
        "leaderboard_metric_source": ("leaderboard_metric" if getattr(cls, "leaderboard_metric", "")
                                      else "primary_metric"),
        "data": _data_fields(name, data),
    }


def _data_fields(name: str, data) -> dict | None:
    """The card's ``data`` object: the :class:`~mmharness.task.DataInfo` fields plus ``download``
    (the ``mmh data download`` line, ``None`` when nothing is declared) and ``sources`` (the names
    of the sources it fetches or says how to get: ``mmh data list NAME``)."""
    from .data_sources import download_command, sources_for_task

    if data is None:
        return None
    return {**data.as_dict(), "download": download_command(name) or None,
            "sources": [s.name for s in sources_for_task(name)]}


def resolve_card_names(names: Sequence[str]) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    """``(tasks, groups)`` for names given to ``mmh tasks``: each name is a task or a group (whose
    members are added in group order); duplicates are dropped, order kept. An unknown name raises
    :class:`RegistryError` with the closest task and group names."""
    known_tasks = TASKS.names()  # also registers the built-in groups
    tasks: list[str] = []
    groups: dict[str, tuple[str, ...]] = {}
    for n in names:
        if n in TASK_GROUPS:
            groups[n] = TASK_GROUPS[n]
            members = TASK_GROUPS[n]
        elif n in known_tasks:
            members = (n,)
        else:
            raise RegistryError(f"unknown task or group {n!r}.{did_you_mean(n, known_tasks + sorted(TASK_GROUPS))} "
                                "Run `mmh tasks` to list them.")
        tasks += [m for m in members if m not in tasks]
    return tasks, groups


# --------------------------------------------------------------------------- text


def format_default(option: dict) -> str:
    """An option's default as written on the command line: ``none``, ``true``/``false``, a string
    (quoted when empty or padded with spaces), or the value."""
    v = option["default"]
    if option.get("required"):
        return "required"
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str) and (not v or v != v.strip()):
        return json.dumps(v)
    return str(v)


def _num(x: float) -> str:
    return f"{x:.4g}"


def metric_summary(m: dict) -> str:
    """``higher is better; range [0, 1]; chance 0.1; official`` (the unit when not a fraction;
    ``primary``, ``leaderboard`` where they apply)."""
    if m["chance_from_data"]:
        chance = "chance from the data"
    elif m["chance"] is None:
        chance = "no chance level"
    else:
        chance = f"chance {_num(m['chance'])}"
    parts = ["higher is better" if m["higher_is_better"] else "lower is better",
             f"range [{_num(m['range'][0])}, {_num(m['range'][1])}]"
             + (f" ({m['unit']})" if m.get("unit") not in (None, "", "fraction") else ""), chance,
             "official" if m["official"] else "not official"]
    if m["primary"]:
        parts.append("primary")
    if m["leaderboard"]:
        parts.append("leaderboard")
    return "; ".join(parts)


def format_card(card: dict, width: int | None = None) -> str:
    """The card as text: ``key  value`` lines, options and metrics one per line with their meaning
    below, the data paragraph and the BibTeX citation; wrapped to ``width`` (never cut)."""
    from .tables import resolve_width, wrap

    w = resolve_width(width)
    pad = " " * _KEY_WIDTH

    def kv(key: str, value: Any) -> str:
        return wrap(f"{key:<{_KEY_WIDTH - 1}} {value}", w, "", pad)

    def item(head: str, meaning: str) -> list[str]:
        out = [wrap(head, w, "  ", "      ")]
        if meaning:
            out.append(wrap(meaning, w, "      ", "      "))
        return out

    about = [f"version {card['version']}", f"family {card['family']}"]
    if card["groups"]:
        about.append(f"group{'s' if len(card['groups']) > 1 else ''} {', '.join(card['groups'])}")
    about.append(card["origin"])
    lines = [wrap(f"{card['name']}: {card['description']}", w, "", "  "), wrap(" · ".join(about), w, "  ", "  "), ""]
    lines.append(kv("protocol", card["protocol"] or "(not declared)"))
    p = card["paper"]
    if p is None:
        lines.append(kv("paper", "(not declared)"))
    else:
        lines.append(kv("paper", p["title"]))
        lines.append(kv("authors", ", ".join(p["authors"])))
        venue = f"{p['venue']} {p['year']}" + (f", pages {p['pages'].replace('--', '–')}" if p["pages"] else "")
        lines.append(kv("venue", venue))
        if p["arxiv"]:
            lines.append(kv("arXiv", f"{p['arxiv']} (https://arxiv.org/abs/{p['arxiv']})"))
        if p["url"]:
            lines.append(kv("url", p["url"]))
        if p["repository"]:
            lines.append(kv("code", p["repository"] + (f" (reference commit {p['commit']})" if p["commit"] else "")))
        if p["note"]:
            lines.append(kv("note", p["note"]))
    lines.append(kv("capabilities", ", ".join(card["uses"]) + " (in order of preference)"))

    lines += ["", "options (--task-args key=value,...):" if card["options"] else "options: none"]
    for o in card["options"]:
        kind = f"{o['type']}; " if o["type"] else ""
        default = "required" if o["required"] else f"default {format_default(o)}"
        lines += item(f"{o['name']} ({kind}{default})", o["meaning"] or "(meaning not declared)")

    lines += ["", "metrics:" if card["metrics"] else "metrics: none declared"]
    for m in card["metrics"]:
        lines += item(f"{m['name']} ({metric_summary(m)})", m["description"])
    lines.append(kv("primary", card["primary_metric"]))
    why = ("declared: the leaderboard ranks on it, the primary metric is shown beside it"
           if card["leaderboard_metric_source"] == "leaderboard_metric" else "the primary metric")
    lines.append(kv("leaderboard", f"{card['leaderboard_metric']} ({why})"))
    lines.append(kv("family", card["family"]))

    d = card["data"]
    lines.append("")
    if d is None:
        lines.append("data: (not declared)")
    else:
        lines.append("data (under --data-root):")
        lines.append(wrap(d["layout"], w, "  ", "  "))
        lines.append(kv("source", d["source"]))
        if d.get("download"):
            lines.append(kv("download", d["download"]))
        if d["convert"]:
            lines.append(kv("convert", d["convert"]))
        sample = ("yes" if d["sample"] else "no") + (f": {d['sample_note']}" if d["sample_note"] else "")
        lines.append(kv("--sample", sample))

    lines += ["", "citation:" if card["citation"] else "citation: (not declared)"]
    if card["citation"]:
        lines.append(card["citation"])
    return "\n".join(lines)


def format_group(name: str, members: Sequence[str], width: int | None = None) -> str:
    """``group NAME (N tasks): a, b, c`` wrapped."""
    from .tables import wrap

    return wrap(f"group {name} ({len(members)} task{'s' if len(members) != 1 else ''}): {', '.join(members)}",
                width, "", "  ")
