"""``mmh leaderboard build|show|render`` and ``mmh compare``.

* ``mmh leaderboard build PATHS... -o leaderboard.json [--format md|csv|html]...``: the canonical
  leaderboard JSON from results files (or directories of them), plus renderings beside it.
* ``mmh leaderboard show leaderboard.json [--tasks TASK_OR_FAMILY,...] [--width N]``: the table in the
  terminal, fitting its width (family averages when there are many tasks; ``--tasks`` drills down),
  or as Markdown / CSV.
* ``mmh leaderboard render leaderboard.json --format html -o page.html``: one rendering.
* ``mmh compare A.json B.json``: per-task deltas with paired bootstrap CIs from per-sample logs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

FORMATS = ("md", "csv", "html")


def _render(doc: dict, fmt: str) -> str:
    if fmt == "md":
        from ..leaderboard.render_md import render_markdown

        return render_markdown(doc)
    if fmt == "csv":
        from ..leaderboard.render_csv import render_csv

        return render_csv(doc)
    if fmt == "html":
        from ..leaderboard.render_html import render_html

        return render_html(doc)
    from ..leaderboard.render_text import render_text

    return render_text(doc)


def _sibling(output: Path, fmt: str) -> Path:
    return output.with_suffix(f".{fmt}") if output.suffix == ".json" else output.with_name(f"{output.name}.{fmt}")


def _metric_overrides(items: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for item in items:
        task, sep, metric = item.partition("=")
        if not sep or not task.strip() or not metric.strip():
            raise click.BadParameter(f"{item!r}: expected TASK=METRIC, e.g. cifar10_b=accuracy",
                                     param_hint="--metric")
        out[task.strip()] = metric.strip()
    return out


@click.group("leaderboard")
def leaderboard_group():
    """Build, show and render leaderboards (models x tasks) from results files."""


@leaderboard_group.command("build")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Leaderboard JSON to write (validated against the shipped leaderboard schema).")
@click.option("--format", "formats", multiple=True, type=click.Choice(FORMATS),
              help="Also write this rendering beside OUTPUT (leaderboard.md/.csv/.html); repeatable.")
@click.option("--tasks", default=None,
              help="Comma-separated tasks or groups: the task set of the averages [default: every task "
                   "with a ranked result].")
@click.option("--metric", "metric_overrides", multiple=True, metavar="TASK=METRIC",
              help="Rank TASK on METRIC instead of the task's leaderboard metric (its declared ranking "
                   "metric, else its primary metric); the official metric stays beside it (repeatable).")
@click.option("--include-samples", is_flag=True,
              help="Rank runs on the bundled sample data too (flagged; excluded by default).")
@click.option("--include-limited", is_flag=True, help="Rank runs made with --limit too (flagged; excluded by default).")
@click.option("--strict", is_flag=True,
              help="Fail on any problem (bad file, duplicate, unknown task, mixed data) instead of reporting it.")
@click.option("--include", "includes", multiple=True,
              help="Import a module or .py file that registers plugin tasks (repeatable).")
@click.option("--verify", is_flag=True,
              help="Re-score every file from its sample log or the response cache (as `mmh results verify`; "
                   "needs each run's data) and leave out, with the reason, those whose numbers differ.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the table.")
def build_cmd(paths, output, formats, tasks, metric_overrides, include_samples, include_limited, strict,
              includes, verify, quiet):
    """Build the leaderboard JSON from results files or directories of them (searched recursively
    for results_*.json). Problems are reported on stderr and recorded in the leaderboard;
    --strict turns them into a failure (exit status 2, nothing written)."""
    from ..leaderboard import BuildOptions, build_leaderboard, write_leaderboard
    from ..results import atomic_write_text

    opts = BuildOptions(tasks=[t for t in tasks.split(",") if t.strip()] if tasks else None,
                        metrics=_metric_overrides(metric_overrides), include_samples=include_samples,
                        include_limited=include_limited, strict=strict, includes=includes, verify=verify)
    doc = build_leaderboard(paths, opts)
    out = Path(output)
    write_leaderboard(doc, out)
    written = [out]
    for fmt in dict.fromkeys(formats):
        p = _sibling(out, fmt)
        atomic_write_text(p, _render(doc, fmt))
        written.append(p)
    if not quiet:
        from ..leaderboard.render_text import render_text

        click.echo(render_text(doc, problems=False))
        click.echo()
    for p in doc["problems"]:
        click.echo(f"{p['severity']}: {p['message']}", err=True)
    n_err = sum(p["severity"] == "error" for p in doc["problems"])
    if doc["problems"]:
        click.echo(f"{len(doc['problems'])} problem(s) ({n_err} file(s) not used); they are recorded in {out}. "
                   f"Use --strict to make them fatal.", err=True)
    click.echo("wrote " + ", ".join(map(str, written)))


@leaderboard_group.command("show")
@click.argument("leaderboard", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(("text",) + FORMATS[:2]), default="text", show_default=True,
              help="text (aligned table), md or csv.")
@click.option("--tasks", "tasks", default=None, metavar="TASK_OR_FAMILY,...",
              help="Text table: show the columns of these tasks, or of every task of these families "
                   "(e.g. SNARE; 'all': every task) beside the averages [default: every task when the table "
                   "fits the width, else the family averages].")
@click.option("--width", type=click.IntRange(min=20), default=None,
              help="Text table: width in columns [default: the terminal's width, or 100 when not a terminal].")
def show_cmd(leaderboard, fmt, tasks, width):
    """Print a leaderboard JSON as a table. The text table fits the width: a leaderboard with many
    tasks shows the overall and per-family averages, --tasks FAMILY shows the tasks of a family."""
    from ..leaderboard import load_leaderboard

    if fmt != "text" and (tasks or width):
        raise click.UsageError("--tasks and --width apply to the text table (--format text)")
    doc = load_leaderboard(leaderboard)
    if fmt == "text":
        from ..leaderboard.render_text import render_text

        click.echo(render_text(doc, tasks=tasks, width=width))
        return
    click.echo(_render(doc, fmt).rstrip("\n"))


@leaderboard_group.command("render")
@click.argument("leaderboard", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="File to write [default: beside LEADERBOARD with the format's suffix].")
def render_cmd(leaderboard, fmt, output):
    """Render a leaderboard JSON as Markdown, CSV or one static HTML page."""
    from ..leaderboard import load_leaderboard
    from ..results import atomic_write_text

    doc = load_leaderboard(leaderboard)
    p = Path(output) if output else _sibling(Path(leaderboard), fmt)
    atomic_write_text(p, _render(doc, fmt))
    click.echo(f"wrote {p}")


@click.command("compare")
@click.argument("a", type=click.Path(dir_okay=False))
@click.argument("b", type=click.Path(dir_okay=False))
@click.option("--bootstrap", "resamples", default=1000, show_default=True, type=click.IntRange(min=1),
              help="Paired bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--ci-level", default=0.95, show_default=True, type=click.FloatRange(0, 1, min_open=True, max_open=True))
@click.option("--primary-only", is_flag=True, help="Only each task's primary metric.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.option("--include", "includes", multiple=True,
              help="Import a module or .py file that registers tasks first (plugin tasks: their metric "
                   "declarations give the paired intervals).")
def compare_cmd(a, b, resamples, seed, ci_level, primary_only, as_json, includes):
    """Per-task metric deltas (B - A) of two results files, with paired bootstrap CIs over test
    items when both runs have per-sample logs (mmh run --log-samples)."""
    from ..leaderboard.compare import compare_runs, format_comparison
    from ..registry import include

    for inc in includes:
        include(inc)

    rep = compare_runs(a, b, resamples=resamples, seed=seed, level=ci_level, primary_only=primary_only)
    if as_json:
        click.echo(json.dumps(rep, indent=2))
    else:
        click.echo(format_comparison(rep))
    if not any(t["paired"] for t in rep["tasks"]):
        click.echo("no paired confidence intervals: see the reasons above (run both with --log-samples "
                   "on the same data).", err=True)
    sys.stdout.flush()


COMMANDS = [leaderboard_group, compare_cmd]
