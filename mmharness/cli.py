"""The ``mmh`` command line: run, tasks, adapters, adapter new|check, results validate|table."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from . import __version__

_KNOWN_ERRORS: tuple[type[BaseException], ...] = ()


def _known_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean 'the user asked for something wrong': printed without a traceback."""
    from .adapter import AdapterError
    from .cache import CacheError
    from .devices import DeviceError
    from .executors import CapabilityError
    from .registry import RegistryError
    from .results import ResultsError
    from .task import TaskError

    return (AdapterError, CacheError, CapabilityError, DeviceError, RegistryError, ResultsError, TaskError,
            PermissionError, ValueError)


class _Group(click.Group):
    """Known errors print one line naming what failed (exit 2; ``--debug`` adds the traceback); an
    interrupt exits 130 (``mmh run`` says whether finished work is cached); anything else is a bug:
    a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except _known_errors() as e:
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:  # `mmh run` says what it kept (see run)
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="mmharness")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.option("--debug", is_flag=True, help="Print the traceback of an error as well as its message.")
def main(verbose: bool, debug: bool) -> None:
    """mmharness: score multimodal models on published benchmarks with their official protocols."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mmharness").setLevel(logging.DEBUG if verbose else logging.INFO)


# --------------------------------------------------------------------------- run


@main.command()
@click.option("--model", "-m", required=True, help="Adapter name (see `mmh adapters`).")
@click.option("--model-args", "--model_args", "-a", default="", help="Adapter arguments: k=v,k2=v2.")
@click.option("--name", default=None,
              help="The model's display name in tables and leaderboards (recorded as model.name) [default: the "
                   "adapter and its model argument's base name, e.g. open_clip(tiny_clip) for "
                   "model=examples/tiny_clip.json; without a model argument, adapter(k=v,...)].")
@click.option("--tasks", "-t", required=True, help="Comma-separated task or group names (see `mmh tasks`).")
@click.option("--task-args", default="", help="Task options: k=v,... (each task takes the keys it knows).")
@click.option("--output", "--output_path", "-o", type=click.Path(file_okay=False), default="results", show_default=True,
              help="Directory for the results JSON (and per-sample logs).")
@click.option("--data-root", type=click.Path(file_okay=False), envvar="MMH_DATA_ROOT",
              help="Root of the official data releases [env: MMH_DATA_ROOT]. Recorded in the results.")
@click.option("--data-source", default=None, help="Force a loader (e.g. torchvision, binary, hf, png).")
@click.option("--sample", is_flag=True, help="Run on the bundled sample data (flagged in the results).")
@click.option("--batch-size", "--batch_size", "-b", default=32, show_default=True, type=click.IntRange(min=1))
@click.option("--text-batch-size", default=None, type=click.IntRange(min=1),
              help="Batch size for prompt embeddings (zero-shot classifiers) [default: 256 on a GPU, 32 on a CPU].")
@click.option("--num-workers", "-j", default=0, show_default=True, type=click.IntRange(min=0),
              help="DataLoader worker processes (decoding happens there).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda, cuda:N or mps.")
@click.option("--precision", type=click.Choice(["fp32", "bf16", "fp16"]), default="fp32", show_default=True)
@click.option("--limit", type=float, default=None,
              help="Only the first N samples per task, or a fraction of them (0 < F < 1, rounded up).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Response cache directory [default: the user cache dir].")
@click.option("--no-cache", is_flag=True, help="Do not read or write the response cache.")
@click.option("--log-samples", "--log_samples", is_flag=True, help="Write per-sample JSONL beside the results.")
@click.option("--on-error", type=click.Choice(["raise", "skip"]), default="raise", show_default=True,
              help="On an undecodable input: stop, or skip it and count it in the results.")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0),
              help="Bootstrap resamples for confidence intervals (0 = none).")
@click.option("--include", "includes", multiple=True,
              help="Import a module or .py file that registers adapters/tasks (repeatable).")
@click.option("--no-progress", is_flag=True, help="Hide progress bars.")
@click.option("--channels-last", is_flag=True, help="Model and image batches in channels-last memory format.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (adapters that support it).")
@click.option("--threads", default="auto", show_default=True,
              help="The model's intra-op CPU threads: N, or auto (lowered once when busy DataLoader workers "
                   "would oversubscribe the cores; recorded per task).")
@click.option("--gen-kwargs", "--gen_kwargs", default=None,
              help="Override generation settings of every text-generating task: max_new_tokens, temperature, "
                   "top_p, stop (a JSON list), do_sample (lm-eval's max_gen_toks and until work too). Recorded.")
@click.option("--dry-run", is_flag=True,
              help="Print, per task, the requests and images that would be sent and the first prompt; "
                   "build no model and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the results JSON instead of a table.")
def run(model, model_args, name, tasks, task_args, output, data_root, data_source, sample, batch_size,
        text_batch_size, num_workers, device, precision, limit, seed, cache_dir, no_cache,
        log_samples, on_error, bootstrap, includes, no_progress, channels_last, compile_, threads, gen_kwargs,
        dry_run, as_json):
    """Evaluate MODEL on TASKS and write a results JSON.

    lm-evaluation-harness spellings are accepted too: --model_args, --batch_size, --output_path,
    --log_samples."""
    from .evaluate import evaluate

    if limit is not None and limit.is_integer():
        limit = int(limit)

    try:
        res = evaluate(model, tasks, model_args=model_args, task_args=task_args, data_root=data_root,
                       data_source=data_source, sample=sample, batch_size=batch_size,
                       text_batch_size=text_batch_size, num_workers=num_workers, device=device,
                       precision=precision, limit=limit, seed=seed, cache_dir=cache_dir,
                       use_cache=not no_cache, output=None if dry_run else output, log_samples=log_samples,
                       on_error=on_error, bootstrap=bootstrap, progress=not no_progress,
                       includes=includes, channels_last=channels_last, compile=compile_,
                       threads=threads, dry_run=dry_run, gen_kwargs=gen_kwargs, name=name)
    except KeyboardInterrupt:
        click.echo("interrupted" + ("" if dry_run else ": nothing was kept (--no-cache)" if no_cache else
                                    ": the answers computed so far are in the cache; run the same command again "
                                    "to resume"), err=True)
        sys.exit(130)
    if res.rank != 0:
        return  # under torchrun only rank 0 reports
    if as_json:
        click.echo(json.dumps(res.doc, indent=2))
        return
    if dry_run:
        from .dry_run import format_plan

        click.echo(format_plan(res.doc))
        return
    click.echo(format_run_table(res.doc))
    click.echo(format_output_files(res.path, res.sample_logs))


def format_run_table(doc: dict, width: int | None = None) -> str:
    """The summary of one results document: the model, then per task its size, cache hits and data
    kind, and below it every metric (primary first, marked ``*``) with its value and CI."""
    from .results_export import model_name
    from .tables import Column, render_table, resolve_width, wrap

    w = resolve_width(width)
    m = doc["model"]
    args = ",".join(f"{k}={v}" for k, v in m["args"].items())
    head = wrap(f"model: {model_name(doc)} ({m['adapter']}{' ' + args if args else ''}; "
                f"fingerprint {m['fingerprint'][:10]})", w, "", "  ")
    columns = [Column("task / metric", wrap=False, fold=False), Column("value", "right"), "95% CI", Column("n", "right"),
               Column("cached", "right"), "data"]
    rows = []
    for name, t in doc["tasks"].items():
        rows.append((name, "", "", str(t["n_scored"]), str(t["cache"]["hits"]), t["data"]["kind"]))
        primary = t["primary_metric"]
        for metric in sorted(t["metrics"], key=lambda k: k != primary):  # primary first, then as recorded
            v = t["metrics"][metric]
            ci = v.get("ci")
            rows.append((f"  {metric}{' *' if metric == primary else ''}", _fmt(v["value"]),
                         f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "", "", "", ""))
    return f"{head}\n{render_table(columns, rows, w)}\n(* = primary metric; n = samples scored, cached = cache hits)"


def format_output_files(results_path, sample_logs: dict) -> str:
    """Where the run wrote: the results file, and the per-sample logs (named once per folder, one
    file name a line, so that long task names do not make long lines)."""
    lines = [f"results: {results_path}"]
    folders: dict[str, list[str]] = {}
    for p in sample_logs.values():
        folders.setdefault(str(Path(p).parent), []).append(Path(p).name)
    for folder, names in folders.items():
        lines.append(f"per-sample logs ({len(names)}) in {folder}:")
        lines += [f"  {n}" for n in names]
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.4f}"


def _table(rows: list[tuple]) -> str:
    """``rows[0]`` is the header: the table drawn by :func:`mmharness.tables.render_table`."""
    from .tables import render_table

    return render_table(rows[0], rows[1:])


# --------------------------------------------------------------------------- listings


@main.command()
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output: {tasks: [cards], groups: {name: [tasks]}} (all, or the NAMES).")
@click.option("--include", "includes", multiple=True, help="Import a module or .py file that registers tasks first.")
@click.option("--width", type=click.IntRange(min=20), default=None,
              help="Text width in columns [default: the terminal's width, or 100 when not a terminal].")
def tasks(names, as_json, includes, width):
    """List the registered tasks and task groups, or print the card of each task NAME (a group name
    prints its members' cards): protocol and paper, capabilities, options with their types,
    defaults and meanings, metrics, data layout and source, citation."""
    from .registry import TASK_GROUPS, TASKS, include
    from .task_cards import format_card, format_group, resolve_card_names, task_card
    from .tables import Column, render_table, resolve_width, wrap

    for inc in includes:
        include(inc)
    if names:
        task_names, groups = resolve_card_names(names)
    else:
        task_names, groups = TASKS.names(), dict(TASK_GROUPS)
    cards = [task_card(n) for n in task_names]
    if as_json:
        click.echo(json.dumps({"tasks": cards, "groups": {k: list(v) for k, v in groups.items()}}, indent=2,
                              default=str))
        return
    if names:
        parts = [format_group(g, members, width) for g, members in groups.items()]
        parts += [format_card(c, width) for c in cards]
        click.echo("\n\n".join(parts))
        return
    w = resolve_width(width)
    headers = ("task / description", "version", "capabilities", "primary metric")
    others = [(c["version"], "\n".join(c["uses"]), c["primary_metric"]) for c in cards]
    other_width = sum(max([len(h)] + [len(line) for r in others for line in r[i].split("\n")])
                      for i, h in enumerate(headers[1:])) + 2 * len(headers[1:])
    # each description wrapped under its task name, so that the table fits the width without rewrapping
    text_width = max(30, max((len(c["name"]) for c in cards), default=0), w - other_width)
    rows = [(c["name"] + "\n" + wrap(c["description"], text_width, "  ", "  "), *o) for c, o in zip(cards, others)]
    click.echo(render_table((headers[0], headers[1], headers[2], Column(headers[3], wrap=False)), rows, w))
    click.echo("\ngroups:")
    for k, v in groups.items():
        click.echo(wrap(f"{k} = {', '.join(v)}", width, "  ", "    "))
    click.echo(wrap("\n`mmh tasks NAME...` prints each task's card (options, metrics, data, citation); "
                    "--json gives the cards as JSON.", width))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--include", "includes", multiple=True, help="Import a module or .py file first.")
def adapters(as_json, includes):
    """List the registered adapters, their capabilities and arguments."""
    from .adapter import adapter_arguments
    from .registry import ADAPTERS, include

    for inc in includes:
        include(inc)
    items = []
    for n in ADAPTERS.names():
        cls = ADAPTERS.get(n)
        items.append({"name": n, "capabilities": sorted(c.value for c in cls.capabilities()),
                      "arguments": [{"name": a, "type": t, "default": d} for a, t, d in adapter_arguments(cls)],
                      "description": cls.description or (cls.__doc__ or "").strip().split("\n")[0],
                      "origin": ADAPTERS.origin(n)})
    if as_json:
        click.echo(json.dumps(items, indent=2, default=str))
        return
    from .tables import Column, render_table

    rows = [(i["name"], ", ".join(i["capabilities"]),
             ", ".join(a["name"] + ("" if a["default"] is None else f"={a['default']}") for a in i["arguments"]),
             i["description"], i["origin"]) for i in items]
    click.echo(render_table((Column("adapter", wrap=False, fold=False), "capabilities", "arguments (=default)",
                             "description", "origin"), rows))


# --------------------------------------------------------------------------- adapter new / check


@main.group()
def adapter():
    """Write and check adapters."""


@adapter.command("new")
@click.argument("name")
@click.option("--dir", "dest", type=click.Path(file_okay=False), default=None,
              help="Where to create the package [default: ./mmh-adapter-NAME].")
def adapter_new(name, dest):
    """Scaffold a working adapter package NAME with its entry point and a test."""
    from .scaffold import scaffold_adapter

    root = scaffold_adapter(name, Path(dest) if dest else None)
    click.echo(f"created {root}")
    click.echo(f"next: pip install -e {root} && mmh adapter check {name}")


@adapter.command("check")
@click.argument("name")
@click.option("--model-args", "-a", default="", help="Adapter arguments: k=v,k2=v2.")
@click.option("--include", "includes", multiple=True, help="Import a module or .py file first.")
@click.option("--device", default="cpu", show_default=True)
def adapter_check(name, model_args, includes, device):
    """Check that adapter NAME honours the capability contract (types, shapes, finiteness, determinism)."""
    from .adapter import build_adapter, parse_model_args
    from .conformance import check_adapter
    from .devices import resolve_device
    from .registry import ADAPTERS, include

    for inc in includes:
        include(inc)
    cls = ADAPTERS.get(name)
    ad = build_adapter(cls, parse_model_args(model_args)).to(resolve_device(device))
    results = check_adapter(ad)
    rows = [("capability", "how", "result", "detail")]
    rows += [(r.capability, r.path, "ok" if r.ok else "FAIL", r.detail) for r in results]
    click.echo(_table(rows))
    n_bad = sum(not r.ok for r in results)
    if n_bad:
        click.echo(f"{n_bad} check(s) failed for adapter {name!r}", err=True)
        sys.exit(1)
    click.echo(f"adapter {name!r} passes all {len(results)} checks")


# --------------------------------------------------------------------------- results


@main.group()
def results():
    """Inspect results files."""


@results.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def results_validate(paths):
    """Validate results files against the shipped JSON Schema, then check that their numbers are
    possible: values and CIs within each metric's declared range, ordered CIs that hold their
    value, stderr >= 0, consistent counts, a primary metric among the task's metrics."""
    from .results import ResultsError, check_results, load_results

    bad = 0
    for p in paths:
        try:
            check_results(load_results(p), p)
            click.echo(f"ok    {p}")
        except ResultsError as e:
            bad += 1
            click.echo(f"FAIL  {e}")
    if bad:
        sys.exit(1)


@results.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Response cache directory [default: the one the run recorded].")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="Data root [default: the one the run recorded]; the data fingerprint must still match.")
def results_verify(paths, cache_dir, data_root):
    """Re-score every task of each run from its sample log (--log-samples; its sha256 must match
    the recorded one) or else from the response cache, on the same data and with the same options,
    and check that every metric (value, CI, stderr) equals the recorded one. Exit status 1 when a
    number differs or nothing is available to re-score from."""
    from .verify import verify_results

    bad = 0
    for p in paths:
        v = verify_results(p, cache_dir=cache_dir, data_root=data_root)
        click.echo(v.format())
        bad += not v.ok
    if bad:
        click.echo(f"{bad} of {len(paths)} results file(s) failed verification", err=True)
        sys.exit(1)


def _results_files(paths) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("results_*.json")) if p.is_dir() else [p]
    return files


@results.command("table")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--metric", "extra", multiple=True, default=("accuracy",), show_default=True,
              help="Metric shown beside each task's primary metric (repeatable).")
@click.option("--width", type=click.IntRange(min=20), default=None,
              help="Table width in columns [default: the terminal's width, or 100 when not a terminal].")
def results_table(paths, extra, width):
    """Models x tasks table of primary metrics (and --metric ones) from results files or
    directories: one row per model (adapter + fingerprint, shown by its name), each task from its
    latest run. When that is wider than the width, models become the columns and (task, metric)
    pairs the rows."""
    from .results import load_results

    click.echo(format_results_table([load_results(f) for f in _results_files(paths)], extra, width=width))


@results.command("export")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "parquet"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="File to write.")
def results_export(paths, fmt, output):
    """One tidy row per (model, task, metric): value, CI bounds, stderr, n, data kind and provenance
    (run id, file, harness version), for pandas.read_csv / read_parquet."""
    from .results import load_results
    from .results_export import tidy_rows, write_tidy

    files = _results_files(paths)
    rows = tidy_rows((load_results(f), f) for f in files)
    write_tidy(rows, Path(output), fmt)
    click.echo(f"{len(rows)} rows from {len(files)} results file(s) -> {output}")


def format_results_table(docs: list[dict], extra=("accuracy",), width: int | None = None) -> str:
    """One row per model (adapter + fingerprint, labelled by its name; each task's latest run), one
    column per (task, metric): primary first, then ``extra``. When that does not fit ``width``
    (:func:`mmharness.tables.resolve_width`), transposed: one column per model, one row per task and
    below it one per metric."""
    from .results_export import by_model
    from .tables import Column, fits, render_table, resolve_width

    w = resolve_width(width)
    columns: list[tuple[str, str]] = []
    arrow = {}
    for d in docs:
        for t, td in sorted(d["tasks"].items()):
            for m in (td["primary_metric"], *extra):
                if m in td["metrics"] and (t, m) not in columns:
                    columns.append((t, m))
            for m, meta in td["metric_metadata"].items():
                arrow[(t, m)] = "↑" if meta["higher_is_better"] else "↓"
    models = by_model(docs)

    def value(model, t, m):
        v = model.tasks.get(t, {}).get("metrics", {}).get(m)
        return _fmt(v["value"]) if v else "-"

    head = ["model", "data", *[Column(f"{t} {m} {arrow.get((t, m), '')}", "right") for t, m in columns]]
    rows = [(model.label, "+".join(sorted(model.data)), *[value(model, t, m) for t, m in columns])
            for model in models]
    if fits(head, rows, w) or not columns:
        return render_table(head, rows, w)
    head = [Column("task / metric", wrap=False, fold=False), *[Column(model.label, "right") for model in models]]
    rows = [("data", *["+".join(sorted(model.data)) for model in models])]
    for task in dict.fromkeys(t for t, _ in columns):
        rows.append((task, *[""] * len(models)))
        rows += [(f"  {m} {arrow.get((t, m), '')}", *[value(model, t, m) for model in models])
                 for t, m in columns if t == task]
    return render_table(head, rows, w)


def _add_command_modules() -> None:
    """Add the ``COMMANDS`` of every public module of :mod:`mmharness.commands` to ``mmh``."""
    import importlib
    import pkgutil

    from . import commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{commands.__name__}.{info.name}")
        for cmd in getattr(mod, "COMMANDS", ()):
            if cmd.name in main.commands:
                raise RuntimeError(f"mmh command {cmd.name!r} defined twice (mmharness.commands.{info.name})")
            main.add_command(cmd)


_add_command_modules()

if __name__ == "__main__":  # pragma: no cover
    main()
