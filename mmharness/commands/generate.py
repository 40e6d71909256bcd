"""``mmh render`` (text -> PixelWorld-style image) and ``mmh script gold`` (gold answers as a
``scripted`` adapter file), tools around the ``generate`` capability."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("render")
@click.argument("text")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="Output image file (PNG).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of every random draw.")
@click.option("--preset", type=click.Choice(["random", "no_random"]), default="random", show_default=True,
              help="random: the official parameter and noise distribution; no_random: 512 px, 15 px font, no noise.")
@click.option("--font", default=None, help="Font file, or 'builtin' [default: FreeSans, the official font].")
@click.option("--from-file", is_flag=True, help="TEXT is a path to a UTF-8 text file.")
def render_cmd(text, out, seed, preset, font, from_file):
    """Render TEXT as PixelWorld renders a prompt (seeded); prints the drawn layout as JSON."""
    from ..render.text_image import RenderError, render_text_image

    if from_file:
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as e:
            raise click.ClickException(f"cannot read {text}: {e}") from None
    try:
        img, params = render_text_image(text, seed=seed, preset=preset, font=font)
    except RenderError as e:
        raise click.ClickException(str(e)) from None
    img.save(out)
    click.echo(json.dumps({"out": str(out), "size": list(img.size), **params.as_dict()}))


@click.group("script")
def script_group():
    """Write answer files for the ``scripted`` adapter."""


@script_group.command("gold")
@click.option("--tasks", "-t", required=True, help="Comma-separated task or group names.")
@click.option("--out", "-o", type=click.Path(dir_okay=False), required=True, help="JSONL file to write.")
@click.option("--task-args", default="", help="Task options: k=v,... (as for `mmh run`).")
@click.option("--data-root", type=click.Path(file_okay=False), envvar="MMH_DATA_ROOT")
@click.option("--data-source", default=None)
@click.option("--sample", is_flag=True, help="Use the bundled sample data.")
def script_gold(tasks, out, task_args, data_root, data_source, sample):
    """Write each sample's gold reference answer (what ``oracle`` would answer) keyed by sample id and
    prompt hash: ``mmh run --model scripted --model-args path=OUT`` then reaches every metric's maximum."""
    from ..adapter import parse_model_args
    from ..adapters.text_baselines import script_line
    from ..evaluate import build_task
    from ..registry import expand_task_names
    from ..task import DataConfig

    cfg = DataConfig(root=Path(data_root) if data_root else None, sample=sample, source=data_source)
    targs = parse_model_args(task_args)
    lines, missing = [], 0
    for name in expand_task_names(tasks):
        task = build_task(name, targs)
        for s in task.load(cfg).samples:
            req = task.build_request(s)
            ref = getattr(req, "reference", None)
            if not hasattr(req, "messages") or not isinstance(ref, str):
                missing += 1
                continue
            lines.append(script_line(s.id, ref, req.messages))
    Path(out).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    click.echo(f"wrote {len(lines)} answers to {out}"
               + (f"; {missing} sample(s) have no text reference and were left out" if missing else ""))
    if not lines:
        sys.exit(1)


COMMANDS = [render_cmd, script_group]
