"""``mmh data``: convert official annotation releases into the files the harness reads.

``mmh data convert refava --pickles FILE [--pickles FILE ...] --output refava_annotations.json``
reads the RefAVA pickle triplets the user names (and nothing else; no directory is scanned), joins
them on keys, validates every record and writes a JSON export. Tasks never unpickle anything.
"""

from __future__ import annotations

import click


@click.group("data")
def data() -> None:
    """Benchmark data: list the sources, download and verify them, convert official releases."""


@data.group("convert")
def convert() -> None:
    """Convert an official release format."""


@convert.command("refava")
@click.option("--pickles", "pickles", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="An official RefAVA pickle: {split}_set_{keyframe|label|description}_crr_final.pkl "
                   "(or RefAVA++ {split}_{role}.pkl). Repeat for each file; three per split.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The JSON export to write (the task looks for <data-root>/refava/refava_annotations.json).")
@click.option("--allow-any-pickle", is_flag=True,
              help="Unpickle without restrictions (can run code from the file: only for files you trust). "
                   "By default only containers, numbers, strings and numpy arrays are accepted.")
def convert_refava(pickles, output, allow_any_pickle):
    """Join RefAVA keyframe/label/description pickles on their keys and write a JSON export."""
    from ..loaders.refava import convert_pickles, write_export

    doc = convert_pickles(pickles, allow_any_pickle=allow_any_pickle)
    path = write_export(doc, output)
    for split, body in doc["splits"].items():
        note = (f"; {body['key_order_mismatches']} key-order mismatch(es) between the files "
                "(joined on keys)") if body["key_order_mismatches"] else ""
        click.echo(f"{split}: {body['n']} instances{note}")
    click.echo(f"wrote {path}")


# --------------------------------------------------------------------------- list / download / verify


def _resolve(names) -> list[str]:
    """Task and group names -> tasks (a clear usage error for an unknown name)."""
    from ..registry import RegistryError
    from ..task_cards import resolve_card_names

    try:
        tasks, _ = resolve_card_names(names)
    except RegistryError as e:
        raise click.UsageError(str(e.args[0] if e.args else e)) from None
    return tasks


def _source_detail(source, tasks: list[str], width) -> list[str]:
    """A source as ``key  value`` lines (the long form of ``mmh data list TASK``)."""
    from ..tables import wrap

    def kv(key: str, value: str) -> str:
        return wrap(f"  {key:<11} {value}", width, "", " " * 14)

    lic = source.licence
    lines = [wrap(f"{source.name}: {source.what or source.kind}", width, "", "  ")]
    lines.append(kv("for", ", ".join(tasks)))
    how = {"http": "HTTP(S)", "gdrive": "Google Drive (gdown)", "hf_dataset": "Hugging Face dataset",
           "manual": "by hand"}[source.kind]
    lines.append(kv("from", f"{source.official_url()} ({how})"))
    if source.filename:
        lines.append(kv("file", source.filename + (f" ({source.archive} archive)" if source.archive else "")))
    if source.allow_patterns:
        lines.append(kv("files", ", ".join(source.allow_patterns)))
    lines.append(kv("size", source.size or "unknown"))
    c = source.checksum
    lines.append(kv("checksum", f"{c.algo} {c.hex} (published by {c.published_by or 'the source'})" if c else
                    ("none published: the sha256 seen on the first download is recorded and checked later"
                     if source.fetchable else "n/a")))
    lines.append(kv("licence", lic.name + (f" ({lic.url})" if lic.url else "")
                    + ("; the terms must be accepted: --accept-licence" if lic.accept else "")))
    lines.append(kv("goes to", f"<data-root>/{source.dest}" if source.dest != "." else "<data-root>"))
    for e in source.expect:
        what = (f"{e.count} files {e.pattern}" if e.count is not None else
                (f"files {e.pattern}" if e.pattern != "*" else "present"))
        if e.checksum:
            what = f"{e.checksum.algo} {e.checksum.hex}"
        lines.append(kv("checks", f"{e.path}: {what}"))
    if source.note:
        lines.append(kv("by hand", source.note))
    return lines


@data.command("list")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the sources as JSON.")
@click.option("--width", type=int, default=None,
              help="Render the table this many columns wide [default: the terminal's, else 100].")
def list_cmd(names, as_json, width):
    """What each task needs: source, size, licence, where it comes from. With task or group names,
    each source in full (checksums, where it goes, what is checked) and the download line."""
    import json

    from ..data_sources import download_command
    from ..data_store import needed_sources
    from ..registry import TASKS
    from ..tables import Column, render_table

    tasks = _resolve(names) if names else TASKS.names()
    needed = needed_sources(tasks)
    if as_json:
        click.echo(json.dumps({"tasks": {t: download_command(t) or None for t in tasks},
                               "sources": [dict(s.as_dict(), tasks=ts) for s, ts in needed]}, indent=1))
        return
    if names:
        for s, ts in needed:
            click.echo("\n".join(_source_detail(s, ts, width)))
            click.echo("")
        for t in tasks:
            line = download_command(t)
            click.echo(f"{t}: {line}" if line else f"{t}: nothing to download (no source declared)")
        return
    from ..data_sources import FAMILY_SOURCES

    tasks_of = {s.name: ts for s, ts in needed}  # every registered task here: no names given
    rows = []
    for family, sources in FAMILY_SOURCES.items():
        family_tasks = {t for s in sources for t in tasks_of.get(s.name, ())}
        for s in sources:
            ts = tasks_of.get(s.name)
            if not ts:
                continue
            lic = s.licence.label + (" (accept)" if s.licence.accept and s.fetchable else "")
            rows.append([family, "all" if len(ts) == len(family_tasks) else ", ".join(s.tasks), s.name,
                         s.size or "?", lic, s.origin()])
    click.echo(render_table([Column("family", wrap=False), Column("tasks"), Column("source"), Column("size"),
                             Column("licence"), Column("from")], rows, width=width))
    click.echo("\n`mmh data list TASK` shows a source in full; `mmh data download TASK --data-root DIR` fetches.")


def _print_terms(sources) -> None:
    for s in sources:
        lic = s.licence
        click.echo(f"{s.name}: {lic.name}" + (f" ({lic.url})" if lic.url else ""), err=True)
        if lic.terms:
            from ..tables import wrap

            click.echo(wrap(lic.terms, None, "  ", "  "), err=True)


@data.command("download")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-root", required=True, type=click.Path(file_okay=False), envvar="MMH_DATA_ROOT",
              help="The data root the tasks read (--data-root of mmh run) [env MMH_DATA_ROOT].")
@click.option("--accept-licence", is_flag=True,
              help="Accept the terms printed for sources whose licence requires agreement.")
@click.option("--mirror", default=None, metavar="URL",
              help="Fetch each file from URL/<file name> instead of its official location (recorded in the "
                   "manifest); the published checksums still apply.")
@click.option("--keep-archives", is_flag=True, help="Keep downloaded archives in <data-root>/.mmh-data/downloads/.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on a terminal.")
def download_cmd(names, data_root, accept_licence, mirror, keep_archives, progress):
    """Fetch what TASK... (tasks or groups) need into --data-root, in the layout their loaders read.

    Checks each file against its published checksum (or the one recorded on the first download),
    unpacks all or nothing, and skips what already verifies. Exit status 1 when something is still
    missing (sources to fetch by hand are listed with what to do)."""
    from ..data_fetch import DownloadError
    from ..data_sources import DataSourceError
    from ..data_store import DataError, download_source, needed_sources
    from ..data_unpack import UnpackError

    needed = needed_sources(_resolve(names))
    if not needed:
        click.echo("nothing to download: these tasks declare no data source")
        return
    gated = [s for s, _ in needed if s.fetchable and s.licence.accept]
    if gated and not accept_licence:
        click.echo("These sources are under terms you must accept:", err=True)
        _print_terms(gated)
        raise click.ClickException("rerun with --accept-licence to accept the terms above (nothing was downloaded)")
    if gated:
        _print_terms(gated)
    missing = 0
    for s, ts in needed:
        try:
            action, report = download_source(s, data_root, mirror=mirror, progress=progress,
                                             keep_archive=keep_archives,
                                             licence_accepted=accept_licence and s.licence.accept)
        except (DataError, DownloadError, UnpackError, DataSourceError) as e:
            click.echo(f"{s.name}: FAILED: {e}", err=True)
            missing += 1
            continue
        if action == "by hand":
            if report.ok:
                click.echo(f"{s.name}: {report.status}: {report.note}")
            else:
                missing += 1
                click.echo(f"{s.name}: by hand ({'; '.join(report.problems)}): {report.note}")
            continue
        click.echo(f"{s.name}: {'already there, verified' if action == 'skipped' else 'downloaded, verified'} "
                   f"-> {s.dest}")
    if missing:
        raise SystemExit(1)


@data.command("verify")
@click.argument("names", nargs=-1, required=True)
@click.option("--data-root", required=True, type=click.Path(file_okay=False), envvar="MMH_DATA_ROOT",
              help="The data root to check [env MMH_DATA_ROOT].")
@click.option("--no-hash", is_flag=True, help="Check presence, sizes and counts only (no file hashing).")
def verify_cmd(names, data_root, no_hash):
    """Check that TASK... have their data under --data-root: files present, counts, sizes and hashes
    (published ones and those recorded on download). Lists exactly what is missing; exit status 1
    when anything is."""
    from ..data_store import DataError, load_manifest, needed_sources, verify_source

    needed = needed_sources(_resolve(names))
    try:
        doc = load_manifest(data_root)
    except DataError as e:
        raise click.ClickException(str(e)) from None
    bad = 0
    for s, ts in needed:
        r = verify_source(s, data_root, hashes=not no_hash, manifest=doc)
        click.echo(f"{s.name}: {r.status}" + (f" ({r.note})" if r.note and r.status == "by hand" else ""))
        for p in r.problems:
            click.echo(f"  {p}")
        if not r.ok:
            bad += 1
            fix = r.note or f"mmh data download {' '.join(ts[:1])} --data-root {data_root}"
            click.echo(f"  fix: {fix}")
    if bad:
        click.echo(f"{bad} of {len(needed)} source(s) missing or incomplete", err=True)
        raise SystemExit(1)
    click.echo(f"all {len(needed)} source(s) present")


COMMANDS = [data]
