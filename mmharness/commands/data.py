"""``mmh data``: convert official annotation releases into the files the harness reads.

``mmh data convert refava --pickles FILE [--pickles FILE ...] --output refava_annotations.json``
reads the RefAVA pickle triplets the user names (and nothing else; no directory is scanned), joins
them on keys, validates every record and writes a JSON export. Tasks never unpickle anything.
"""

from __future__ import annotations

import click


@click.group("data")
def data() -> None:
    """Prepare benchmark data (convert official releases to the formats the harness reads)."""


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


COMMANDS = [data]
