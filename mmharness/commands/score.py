"""``mmh score detection|segmentation``: score predictions made outside the harness.

Both commands use the same metric code as the tasks (:mod:`mmharness.metrics.detection`,
:mod:`mmharness.metrics.segmentation`) and write a JSON document with the numbers, the inputs
(paths and sha256) and the conventions used, atomically.
"""

from __future__ import annotations

import click


def _sha256(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _write(doc: dict, output: str | None) -> None:
    import json

    from ..results import atomic_write_text, clean_json

    if output:
        atomic_write_text(output, json.dumps(clean_json(doc), indent=2) + "\n")
        click.echo(f"stats: {output}")


def _fmt(v) -> str:
    import math

    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


@click.group()
def score():
    """Score predictions made elsewhere with the harness's metric code."""


@score.command("detection")
@click.option("--annotations", "-g", required=True, type=click.Path(dir_okay=False),
              help="COCO ground-truth JSON (e.g. annotations/instances_val2017.json).")
@click.option("--predictions", "-p", required=True, type=click.Path(dir_okay=False),
              help="COCO results JSON: a list of {image_id, category_id, bbox|segmentation|keypoints, score}.")
@click.option("--iou-type", type=click.Choice(["bbox", "segm", "keypoints"]), default="bbox", show_default=True)
@click.option("--backend", type=click.Choice(["pycocotools", "faster-coco-eval"]), default="pycocotools",
              show_default=True, help="COCOeval implementation (faster-coco-eval gives the same numbers).")
@click.option("--no-cats", "no_cats", is_flag=True, help="Class-agnostic evaluation (useCats=0; not for leaderboards).")
@click.option("--extra-max-dets", type=click.IntRange(min=101), default=None,
              help="An extra detection budget beyond 100, reported as AP@N / AR@N (the 12 stats are unchanged).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the stats JSON here.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print the COCOeval summary.")
def score_detection(annotations, predictions, iou_type, backend, no_cats, extra_max_dets, output, quiet):
    """COCO AP/AR of PREDICTIONS against ANNOTATIONS (the 12 official stats, named)."""
    from ..metrics.detection import evaluate_coco, load_json

    gt = load_json(annotations, "COCO ground-truth")
    dt = load_json(predictions, "COCO results")
    res = evaluate_coco(gt, dt, iou_type, backend=backend, use_cats=not no_cats,
                        extra_max_dets=[extra_max_dets] if extra_max_dets else (),
                        gt_source=str(annotations), results_source=str(predictions))
    names = {c["id"]: c.get("name") for c in gt["categories"]}
    doc = {"kind": "mmharness.coco_stats",
           "inputs": {"annotations": str(annotations), "annotations_sha256": _sha256(annotations),
                      "predictions": str(predictions), "predictions_sha256": _sha256(predictions)},
           **res.as_dict(names)}
    for w in res.warnings:
        click.echo(f"warning: {w}", err=True)
    for r in res.repairs:
        click.echo(f"repaired: {r}", err=True)
    if not quiet and res.summary:
        click.echo(res.summary.rstrip())
    click.echo(" ".join(f"{k}={_fmt(v)}" for k, v in {**res.stats, **res.extra}.items()))
    _write(doc, output)


@score.command("segmentation")
@click.option("--labels", "-g", required=True, type=click.Path(file_okay=False, exists=True),
              help="Folder of ground-truth label maps (index PNGs).")
@click.option("--predictions", "-p", required=True, type=click.Path(file_okay=False, exists=True),
              help="Folder of predicted label maps (index PNGs), matched to the labels by relative path.")
@click.option("--classes", "-c", default=None,
              help="Class list: a built-in name (voc21, cityscapes19, ade150, pcontext59, fmb15, mfnet9), a text "
                   "file (one name per line) or names separated by ';'. Default: the preset's.")
@click.option("--preset", type=click.Choice(["fmb15", "fmb15_no_back", "fmb14", "fmb13_sea", "mfnet9", "ade150",
                                             "pcontext59", "cityscapes19", "voc21"]), default=None,
              help="A published convention (class count, ignore index, reduce_zero_label, classes averaged).")
@click.option("--ignore-index", type=int, default=None, help="Label value ignored [default: the preset's, or 255].")
@click.option("--reduce-zero-label/--no-reduce-zero-label", default=None,
              help="mmseg reduce_zero_label on the labels (0 ignored, k -> k-1) [default: the preset's, or off].")
@click.option("--label-suffix", default=".png", show_default=True, help="Suffix of label files.")
@click.option("--pred-suffix", default=".png", show_default=True, help="Suffix of prediction files.")
@click.option("--absent-policy", type=click.Choice(["skip", "zero", "nan"]), default="skip", show_default=True,
              help="Classes absent from gt and prediction: left out of the mean (mmseg), counted as 0, or NaN.")
@click.option("--acc", type=click.Choice(["recall", "precision"]), default="recall", show_default=True,
              help="Per-class accuracy: I/L (mmseg mAcc) or I/P (SegMiF's ACC).")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None, help="Write the stats JSON here.")
def score_segmentation(labels, predictions, classes, preset, ignore_index, reduce_zero_label, label_suffix,
                       pred_suffix, absent_policy, acc, output):
    """mIoU / mAcc / aAcc of PREDICTIONS against LABELS (one streaming dataset-level confusion matrix)."""
    from pathlib import Path

    import numpy as np

    from ..loaders.segmentation import LabelMapError, pair_files, read_class_list, read_label_map
    from ..metrics.segmentation import PRESETS, ConfusionMatrix, LabelValueError, resize_nearest

    base = PRESETS[preset] if preset else None
    if classes is None and base is None:
        raise click.UsageError("give --classes (a list name, a file, or 'a;b;c') or --preset")
    default_list = {"fmb15_no_back": "fmb15", "fmb13_sea": "fmb15", "fmb14": "fmb15"}.get(preset, preset)
    try:
        names = read_class_list(classes or default_list)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    if preset == "fmb14" and classes is None:
        names = names[1:]  # background is ignored in the 14-class protocol
    if base is not None and len(names) != base.num_classes:
        raise click.UsageError(f"preset {preset} has {base.num_classes} classes but the class list has {len(names)}")
    ign = ignore_index if ignore_index is not None else (base.ignore_index if base else 255)
    rzl = reduce_zero_label if reduce_zero_label is not None else (base.reduce_zero_label if base else False)
    pairs, only_labels, only_preds = pair_files(Path(labels), Path(predictions), label_suffix, pred_suffix)
    if only_labels:
        raise click.ClickException(f"{len(only_labels)} label map(s) have no prediction '<name>{pred_suffix}' in "
                                   f"{predictions} (e.g. {', '.join(only_labels[:3])}); a missing prediction would "
                                   "silently change the score")
    if only_preds:
        raise click.ClickException(f"{len(only_preds)} prediction(s) have no label map '<name>{label_suffix}' in "
                                   f"{labels} (e.g. {', '.join(only_preds[:3])})")
    if not pairs:
        raise click.ClickException(f"no '<name>{label_suffix}' label in {labels} matches a '<name>{pred_suffix}' "
                                   f"prediction in {predictions}")
    cm = ConfusionMatrix(len(names), ign, rzl)
    resized = []
    for key, lab_path, pred_path in pairs:
        try:
            lab = read_label_map(lab_path)
            pred = read_label_map(pred_path).astype(np.int64)
        except LabelMapError as e:
            raise click.ClickException(str(e)) from None
        if pred.shape != lab.shape:
            pred = resize_nearest(pred, lab.shape)
            resized.append(key)
        try:
            cm.update(pred, lab)
        except LabelValueError as e:
            raise click.ClickException(f"{lab_path}: {e}") from None
    sc = cm.compute(eval_classes=base.eval_classes if base else None,
                    restrict_pairs=base.restrict_pairs if base else False, absent_policy=absent_policy, acc=acc)
    doc = {"kind": "mmharness.segmentation_stats", "preset": base.as_dict() if base else None,
           "conventions": {"num_classes": len(names), "ignore_index": ign, "reduce_zero_label": bool(rzl),
                           "absent_policy": absent_policy, "acc": acc,
                           "prediction_resize": "nearest to the label size"},
           "inputs": {"labels": str(labels), "predictions": str(predictions), "n_images": len(pairs)},
           "aAcc": sc.aAcc, "mAcc": sc.mAcc, "mIoU": sc.mIoU, "n_classes_averaged": len(sc.averaged),
           "per_class": [{"index": k, "class": names[k], "IoU": sc.iou[j], "Acc": sc.acc[j]}
                         for j, k in enumerate(sc.classes)],
           "confusion_matrix": cm.to_numpy().tolist(), "resized_predictions": resized}
    if resized:
        click.echo(f"note: {len(resized)} prediction(s) resized to their label size with nearest-neighbour "
                   f"(e.g. {', '.join(resized[:3])})", err=True)
    click.echo(f"images={len(pairs)} classes={len(names)} averaged={len(sc.averaged)} "
               f"mIoU={_fmt(sc.mIoU)} mAcc={_fmt(sc.mAcc)} aAcc={_fmt(sc.aAcc)}")
    _write(doc, output)


COMMANDS = [score]
