"""COCO detection / instance-segmentation / keypoint metrics through the official ``COCOeval``.

Protocol (``docs/protocols/detection.md``): ``gt = COCO(...)``, ``dt = gt.loadRes(results)``,
``E = COCOeval(gt, dt, iouType)``, ``E.evaluate(); E.accumulate(); E.summarize()``, ``E.stats``
with default parameters (IoU .50:.95, 101 recall points, maxDets 1/10/100 per image and category,
area ranges all/small/medium/large). The 12 bbox/segm stats and 10 keypoint stats are returned
**named** (:data:`STAT_NAMES`), together with the captured ``summarize()`` printout, per-class AP
(detectron2 recipe) and the backend's name and version.

Backends (:data:`BACKENDS`): ``pycocotools`` (the reference) and ``faster-coco-eval`` (C++; equal
to pycocotools to ~1e-16 on the fixtures). Both fail differently on bad input, so inputs are
validated **before** either runs (:func:`validate_ground_truth`, :func:`validate_results`):

* empty result list: every stat -1 and ``no_predictions=True`` (pycocotools would raise);
* ``image_id`` absent from the ground truth, or not an int: :class:`CocoFormatError`;
* ``category_id`` absent from the ground truth: a warning (both backends ignore such records);
* gt annotations without ``area`` / ``iscrowd`` / ``bbox`` / ``id``: :class:`CocoFormatError`;
* segm results that also carry ``bbox``: the ``bbox`` is dropped (else ``loadRes`` would use the box
  area and change AP small/medium/large) and the repair is recorded;
* boxes that look like ``[x1, y1, x2, y2]``: a warning (COCO results are ``[x, y, w, h]``);
* a box with a negative width or height, in the ground truth or the results: :class:`CocoFormatError`
  naming the record; boxes of zero width or height are kept, as COCOeval evaluates them, and counted
  in a warning (ground truth: each is a miss; results: each is a false positive).

Extra detection budgets (``extra_max_dets``) come from a second evaluation with the budgets appended
after 100 and are reported as ``AP@N`` / ``AR@N``; the 12 stats always come from the default-parameter
run (faster-coco-eval's ``summarize`` would read the last budget for AP). ``use_cats=False`` gives class-agnostic numbers.
No model code; the backends are imported inside functions.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

IOU_TYPES = ("bbox", "segm", "keypoints")

#: Names of ``COCOeval.stats`` entries, in order (detectron2 style; AR1/AR10/AR100 = maxDets 1/10/100).
STAT_NAMES: dict[str, tuple[str, ...]] = {
    "bbox": ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"),
    "segm": ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"),
    "keypoints": ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"),
}

#: What each stat name means (used for metric descriptions).
STAT_DESCRIPTIONS: dict[str, str] = {
    "AP": "AP @ IoU .50:.95, all areas, maxDets 100 (COCO primary metric)",
    "AP50": "AP @ IoU .50, all areas, maxDets 100",
    "AP75": "AP @ IoU .75, all areas, maxDets 100",
    "APs": "AP @ IoU .50:.95, small objects (area < 32^2), maxDets 100",
    "APm": "AP @ IoU .50:.95, medium objects (32^2 <= area < 96^2), maxDets 100",
    "APl": "AP @ IoU .50:.95, large objects (area >= 96^2), maxDets 100",
    "AR1": "AR @ IoU .50:.95, all areas, maxDets 1 per image and category",
    "AR10": "AR @ IoU .50:.95, all areas, maxDets 10",
    "AR100": "AR @ IoU .50:.95, all areas, maxDets 100",
    "ARs": "AR @ IoU .50:.95, small objects, maxDets 100",
    "ARm": "AR @ IoU .50:.95, medium objects, maxDets 100",
    "ARl": "AR @ IoU .50:.95, large objects, maxDets 100",
    "AR": "AR (OKS .50:.95), maxDets 20",
    "AR50": "AR @ OKS .50, maxDets 20",
    "AR75": "AR @ OKS .75, maxDets 20",
}

DEFAULT_MAX_DETS = {"bbox": [1, 10, 100], "segm": [1, 10, 100], "keypoints": [20]}


class CocoFormatError(ValueError):
    """Ground truth or results that do not follow the COCO format; names the file, record and field."""


# --------------------------------------------------------------------------- loading


def load_json(path: str | Path, what: str) -> Any:
    """Read a JSON file; errors name the file and say what it should be."""
    p = Path(path)
    if not p.is_file():
        raise CocoFormatError(f"{what} file not found: {p}")
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CocoFormatError(f"{what} file {p} is not valid JSON: {e}") from e


def _is_int(x: Any) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _raise_first(problems: list[str], source: str, hint: str = "") -> None:
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise CocoFormatError(f"{source}: {problems[0]}{more}.{(' ' + hint) if hint else ''}")


# --------------------------------------------------------------------------- ground truth


def validate_ground_truth(gt: Any, source: str = "ground truth", iou_type: str = "bbox") -> None:
    """Check a COCO ground-truth dict before any backend sees it.

    Requires ``images`` (``id`` int, unique; ``height``/``width`` for segm), ``categories``
    (``id`` int, unique; ``name``), ``annotations`` (``id`` unique, ``image_id`` and ``category_id``
    known, ``bbox`` of 4 numbers, ``area`` number, ``iscrowd`` 0/1; ``segmentation`` for segm,
    ``keypoints`` for keypoints). Raises :class:`CocoFormatError` naming the first problem.
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type={iou_type!r}: expected one of {IOU_TYPES}")
    if not isinstance(gt, dict):
        raise CocoFormatError(f"{source}: a COCO ground-truth file must hold a JSON object with 'images', "
                              f"'annotations' and 'categories', got {type(gt).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in gt:
            raise CocoFormatError(f"{source}: missing top-level field {key!r} (COCO ground truth needs "
                                  f"'images', 'annotations' and 'categories')")
        if not isinstance(gt[key], list):
            raise CocoFormatError(f"{source}: field {key!r} must be a list, got {type(gt[key]).__name__}")
    problems: list[str] = []
    img_ids: set[int] = set()
    for i, im in enumerate(gt["images"]):
        if not isinstance(im, dict) or not _is_int(im.get("id")):
            problems.append(f"images[{i}]: missing or non-integer 'id'")
            continue
        if im["id"] in img_ids:
            problems.append(f"images[{i}]: duplicate image id {im['id']}")
        img_ids.add(im["id"])
        if iou_type == "segm" and not (_is_int(im.get("height")) and _is_int(im.get("width"))):
            problems.append(f"images[{i}] (id {im['id']}): missing integer 'height'/'width' (needed for masks)")
    _raise_first(problems, source)
    cat_ids: set[int] = set()
    for k, cat in enumerate(gt["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")):
            problems.append(f"categories[{k}]: missing or non-integer 'id'")
            continue
        if cat["id"] in cat_ids:
            problems.append(f"categories[{k}]: duplicate category id {cat['id']}")
        if not isinstance(cat.get("name"), str):
            problems.append(f"categories[{k}] (id {cat['id']}): missing 'name'")
        cat_ids.add(cat["id"])
    _raise_first(problems, source)
    ann_ids: set[Any] = set()
    for j, a in enumerate(gt["annotations"]):
        where = f"annotations[{j}]" + (f" (id {a.get('id')})" if isinstance(a, dict) and "id" in a else "")
        if not isinstance(a, dict):
            problems.append(f"{where}: not an object")
            continue
        missing = [f for f in ("id", "image_id", "category_id", "bbox", "area", "iscrowd") if f not in a]
        if iou_type == "segm" and "segmentation" not in a:
            missing.append("segmentation")
        if iou_type == "keypoints" and "keypoints" not in a:
            missing.append("keypoints")
        if missing:
            why = ""
            if "area" in missing or "iscrowd" in missing:
                why = (" (pycocotools fails with KeyError; faster-coco-eval would silently count every object "
                       "as 'small' or ignore crowd regions)")
            problems.append(f"{where}: missing required field(s) {', '.join(repr(m) for m in missing)}{why}")
            continue
        if a["id"] in ann_ids:
            problems.append(f"{where}: duplicate annotation id {a['id']}")
        ann_ids.add(a["id"])
        if a["image_id"] not in img_ids:
            problems.append(f"{where}: image_id {a['image_id']!r} is not in 'images'")
        if a["category_id"] not in cat_ids:
            problems.append(f"{where}: category_id {a['category_id']!r} is not in 'categories'")
        bb = a["bbox"]
        if not (isinstance(bb, (list, tuple)) and len(bb) == 4 and all(_is_num(v) for v in bb)):
            problems.append(f"{where}: 'bbox' must be [x, y, w, h] (4 numbers), got {bb!r}")
        elif bb[2] < 0 or bb[3] < 0:
            problems.append(f"{where}: 'bbox' {list(bb)} has a negative width or height; COCO boxes are "
                            "[x, y, width, height] with width, height >= 0")
        if not _is_num(a["area"]):
            problems.append(f"{where}: 'area' must be a number, got {a['area']!r}")
        if a["iscrowd"] not in (0, 1) or isinstance(a["iscrowd"], bool):
            problems.append(f"{where}: 'iscrowd' must be 0 or 1, got {a['iscrowd']!r}")
        if len(problems) > 50:
            break
    _raise_first(problems, source)


# --------------------------------------------------------------------------- results


@dataclass
class ResultsCheck:
    """What :func:`validate_results` found and repaired."""

    results: list[dict]
    n_input: int
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _check_rle(seg: Any, im: dict | None) -> str | None:
    if isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            return "an RLE 'segmentation' needs 'counts' and 'size'"
        size = seg["size"]
        if not (isinstance(size, (list, tuple)) and len(size) == 2):
            return f"RLE 'size' must be [height, width], got {size!r}"
        if im is not None and "height" in im and [int(size[0]), int(size[1])] != [im["height"], im["width"]]:
            return (f"RLE size {list(size)} differs from the image size [{im['height']}, {im['width']}] "
                    f"(masks must be encoded at the original image size)")
        if not isinstance(seg["counts"], (str, list)):
            return "RLE 'counts' must be a string (compressed) or a list of ints"
        return None
    if isinstance(seg, list) and seg and all(isinstance(p, list) and len(p) >= 6 for p in seg):
        return None
    return "'segmentation' must be a compressed RLE {'size': [h, w], 'counts': str} or a list of polygons"


def validate_results(results: Any, gt: dict, iou_type: str = "bbox",
                     source: str = "results") -> ResultsCheck:
    """Check (and copy) a COCO results list against the ground truth before evaluation.

    Errors (:class:`CocoFormatError`): not a list; a record that is not an object; ``image_id``
    not an int or not in the ground truth; missing or non-finite ``score``; a missing or malformed
    ``bbox`` (bbox), ``segmentation`` (segm) or ``keypoints`` (keypoints). Warnings: unknown
    ``category_id`` (ignored by COCOeval), boxes that look like XYXY. Repairs: ``bbox`` dropped from
    segm results. The returned records are deep copies (``loadRes`` mutates its input).
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type={iou_type!r}: expected one of {IOU_TYPES}")
    if not isinstance(results, list):
        raise CocoFormatError(f"{source}: COCO results must be a JSON list of detections, got "
                              f"{type(results).__name__}")
    images = {im["id"]: im for im in gt["images"]}
    cat_ids = {c["id"] for c in gt["categories"]}
    out: list[dict] = []
    problems: list[str] = []
    bad_img: list[Any] = []
    str_img = 0
    unknown_cat: dict[Any, int] = {}
    dropped_bbox = 0
    past_border = 0
    zero_size = 0
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            problems.append(f"record {i}: not an object")
            continue
        iid = r.get("image_id")
        if not _is_int(iid):
            if isinstance(iid, str):
                str_img += 1
            bad_img.append(iid)
            continue
        if iid not in images:
            bad_img.append(iid)
            continue
        if "category_id" not in r or not _is_int(r["category_id"]):
            problems.append(f"record {i} (image_id {iid}): missing or non-integer 'category_id'")
            continue
        if r["category_id"] not in cat_ids:
            unknown_cat[r["category_id"]] = unknown_cat.get(r["category_id"], 0) + 1
        if not _is_num(r.get("score")):
            problems.append(f"record {i} (image_id {iid}): missing or non-finite 'score' ({r.get('score')!r})")
            continue
        rec = copy.deepcopy(r)
        if iou_type == "bbox":
            bb = rec.get("bbox")
            if not (isinstance(bb, (list, tuple)) and len(bb) == 4 and all(_is_num(v) for v in bb)):
                problems.append(f"record {i} (image_id {iid}): 'bbox' must be [x, y, w, h] (4 finite numbers), "
                                f"got {bb!r}")
                continue
            if bb[2] < 0 or bb[3] < 0:
                problems.append(f"record {i} (image_id {iid}): 'bbox' {list(bb)} has a negative width or height; "
                                "COCO results are [x, y, width, height] with width, height >= 0")
                continue
            zero_size += bb[2] == 0 or bb[3] == 0
            im = images[iid]
            if "width" in im and (bb[0] + bb[2] > im["width"] + 1 or bb[1] + bb[3] > im["height"] + 1):
                past_border += 1
        elif iou_type == "segm":
            if "segmentation" not in rec:
                problems.append(f"record {i} (image_id {iid}): segm results need 'segmentation'")
                continue
            err = _check_rle(rec["segmentation"], images[iid])
            if err:
                problems.append(f"record {i} (image_id {iid}): {err}")
                continue
            if "bbox" in rec:
                del rec["bbox"]
                dropped_bbox += 1
        else:
            kp = rec.get("keypoints")
            if not (isinstance(kp, list) and kp and len(kp) % 3 == 0 and all(_is_num(v) for v in kp)):
                problems.append(f"record {i} (image_id {iid}): 'keypoints' must be [x1, y1, v1, ...] numbers")
                continue
        out.append(rec)
        if len(problems) > 50:
            break
    if bad_img:
        shown = ", ".join(repr(x) for x in bad_img[:5])
        hint = (" Image ids must be the integer ids of the ground-truth 'images' (as strings they never match)."
                if str_img else " Take image ids from the ground-truth file, never from file names.")
        raise CocoFormatError(f"{source}: {len(bad_img)} detection(s) have an image_id that is not an integer id "
                              f"of the ground truth ({shown}).{hint}")
    _raise_first(problems, source)
    check = ResultsCheck(out, len(results))
    if dropped_bbox:
        check.repairs.append(f"dropped 'bbox' from {dropped_bbox} segm result(s): loadRes would otherwise take "
                             "the bbox branch and use the box area for the area ranges")
    if unknown_cat:
        n = sum(unknown_cat.values())
        ids = sorted(unknown_cat)[:10]
        hint = ""
        used = {r["category_id"] for r in out}
        if used and all(0 <= k < len(cat_ids) for k in used):
            hint = (" They look like contiguous indices: map them through the dataset's category list "
                    "(sorted category ids) first.")
        check.warnings.append(f"{n} detection(s) have a category_id not in the ground truth ({ids}); COCOeval "
                              f"ignores them.{hint}")
    if zero_size:
        check.warnings.append(f"{zero_size} detection box(es) have zero width or height: kept, as COCOeval "
                              "evaluates them (their IoU with any box is 0, so they only add false positives)")
    if past_border and iou_type == "bbox" and past_border > 0.5 * max(1, len(out)):
        check.warnings.append(f"{past_border} of {len(out)} boxes extend past the image border: are they "
                              "[x1, y1, x2, y2]? COCO results need [x, y, width, height].")
    return check


# --------------------------------------------------------------------------- backends


def _pycocotools_eval(gt: dict, results: list[dict], iou_type: str) -> tuple[Any, Callable[[], str]]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(results)
    ev = COCOeval(coco_gt, coco_dt, iou_type)
    return ev, buf.getvalue


def _faster_eval(gt: dict, results: list[dict], iou_type: str) -> tuple[Any, Callable[[], str]]:
    from faster_coco_eval import COCO, COCOeval_faster

    lines: list[str] = []

    def printer(*args, **kwargs):
        lines.append(" ".join(str(a) for a in args))

    coco_gt = COCO(copy.deepcopy(gt))
    coco_gt.print_function = printer
    coco_dt = coco_gt.loadRes(results)
    ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=printer)
    return ev, lambda: "\n".join(lines) + ("\n" if lines else "")


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@dataclass(frozen=True)
class Backend:
    """A COCOeval implementation: how to build the evaluator and which distribution provides it."""

    name: str
    distribution: str
    build: Callable[[dict, list, str], tuple[Any, Callable[[], str]]]

    def version(self) -> str | None:
        """Installed version of the providing distribution (None when not installed)."""
        return _version(self.distribution)


BACKENDS: dict[str, Backend] = {
    "pycocotools": Backend("pycocotools", "pycocotools", _pycocotools_eval),
    "faster-coco-eval": Backend("faster-coco-eval", "faster-coco-eval", _faster_eval),
}


def get_backend(name: str) -> Backend:
    """The backend called ``name``; a clear error lists the known ones and says how to install."""
    if name not in BACKENDS:
        raise ValueError(f"unknown COCO evaluation backend {name!r}; known: {', '.join(BACKENDS)}")
    b = BACKENDS[name]
    if b.version() is None:
        raise ValueError(f"COCO backend {name!r} needs the package {b.distribution!r}: "
                         f"pip install {b.distribution} (or mmharness[detection])")
    return b


# --------------------------------------------------------------------------- evaluation


@dataclass
class CocoEvalResult:
    """Named COCO stats plus everything needed to audit them.

    ``stats``: name -> value (-1 = undefined: no gt in that area range, or no predictions at all);
    ``stats_list``: the raw ``COCOeval.stats``; ``per_class_ap``: category id -> AP @ .50:.95
    (area all, maxDets 100; NaN for categories without gt); ``extra``: ``AP@N`` / ``AR@N`` for extra
    budgets; ``summary``: the captured ``summarize()`` printout.
    """

    iou_type: str
    backend: str
    backend_version: str | None
    stats: dict[str, float]
    stats_list: list[float]
    per_class_ap: dict[int, float]
    extra: dict[str, float]
    summary: str
    params: dict
    no_predictions: bool
    n_detections: int
    n_images: int
    repairs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self, category_names: dict[int, str] | None = None) -> dict:
        """JSON-able view (the ``mmh score detection`` output)."""
        names = category_names or {}
        return {
            "iou_type": self.iou_type, "backend": self.backend, "backend_version": self.backend_version,
            "stats": self.stats, "stats_list": self.stats_list, "extra": self.extra,
            "per_class_AP": [{"category_id": k, "name": names.get(k), "AP": v} for k, v in self.per_class_ap.items()],
            "params": self.params, "no_predictions": self.no_predictions, "n_detections": self.n_detections,
            "n_images": self.n_images, "repairs": self.repairs, "warnings": self.warnings, "summary": self.summary,
        }


def evaluate_coco(gt: dict, results: list[dict], iou_type: str = "bbox", backend: str = "pycocotools",
                  use_cats: bool = True, extra_max_dets: Sequence[int] = (),
                  img_ids: Sequence[int] | None = None, validate: bool = True,
                  gt_source: str = "ground truth", results_source: str = "results") -> CocoEvalResult:
    """Run COCOeval with default parameters on ``gt`` (a COCO dict) and ``results`` (a list).

    ``img_ids`` restricts evaluation to those images (e.g. a ``--limit`` run); ``extra_max_dets``
    adds budgets beyond 100 without changing the 12 stats; ``use_cats=False`` is class-agnostic.
    With ``validate`` (default) both inputs are checked first (see the module docstring).
    """
    be = get_backend(backend)
    if validate:
        validate_ground_truth(gt, gt_source, iou_type)
        check = validate_results(results, gt, iou_type, results_source)
        clean, repairs, warnings = check.results, check.repairs, check.warnings
        degenerate = 0 if iou_type != "bbox" else sum(
            1 for a in gt["annotations"] if not a["iscrowd"] and (a["bbox"][2] == 0 or a["bbox"][3] == 0))
        if degenerate:
            warnings = warnings + [f"{degenerate} ground-truth box(es) have zero width or height: kept, as COCOeval "
                                   "evaluates them (no detection can overlap them, so each counts as a miss)"]
    else:
        clean, repairs, warnings = copy.deepcopy(list(results)), [], []
    extras = sorted({int(m) for m in extra_max_dets if int(m) not in DEFAULT_MAX_DETS[iou_type]})
    if any(m < 1 for m in extras):
        raise ValueError(f"extra_max_dets must be positive, got {list(extra_max_dets)}")
    if any(m < max(DEFAULT_MAX_DETS[iou_type]) for m in extras):
        raise ValueError(f"extra_max_dets must exceed the default budgets {DEFAULT_MAX_DETS[iou_type]} "
                         f"(smaller ones would change which entries the official stats read)")
    max_dets = DEFAULT_MAX_DETS[iou_type] + extras
    all_img_ids = [im["id"] for im in gt["images"]]
    eval_img_ids = sorted(set(img_ids)) if img_ids is not None else sorted(all_img_ids)
    if img_ids is not None:
        unknown = sorted(set(img_ids) - set(all_img_ids))
        if unknown:
            raise CocoFormatError(f"{gt_source}: image ids {unknown[:5]} requested for evaluation are not in it")
        wanted = set(eval_img_ids)
        clean = [r for r in clean if r["image_id"] in wanted]
    params = {"iouType": iou_type, "useCats": int(bool(use_cats)), "maxDets": max_dets,
              "iouThrs": "0.50:0.05:0.95", "recThrs": "0:0.01:1",
              "areaRng": "all [0, 1e10], small [0, 32^2), medium [32^2, 96^2), large [96^2, 1e10]"
              if iou_type != "keypoints" else "all, medium [32^2, 96^2), large [96^2, 1e10]",
              "n_images_evaluated": len(eval_img_ids)}
    names = STAT_NAMES[iou_type]
    if not clean:
        return CocoEvalResult(iou_type, be.name, be.version(), {n: -1.0 for n in names}, [-1.0] * len(names),
                              {c["id"]: math.nan for c in gt["categories"]},
                              {f"{k}@{m}": -1.0 for m in extras for k in ("AP", "AR")}, "", params,
                              no_predictions=True, n_detections=0, n_images=len(eval_img_ids),
                              repairs=repairs, warnings=warnings + ["no predictions: every metric is reported as -1"])
    ev, captured = be.build(gt, copy.deepcopy(clean), iou_type)  # loadRes mutates its input
    ev.params.useCats = int(bool(use_cats))
    ev.params.imgIds = list(eval_img_ids)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):  # official stats: default maxDets, untouched summarize()
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats_list = [float(v) for v in np.asarray(ev.stats, dtype=np.float64).reshape(-1)[: len(names)]]
    precision = np.asarray(ev.eval["precision"])  # (T, R, K, A, M)
    m100 = list(ev.params.maxDets).index(max(DEFAULT_MAX_DETS[iou_type]))
    per_class: dict[int, float] = {}
    if use_cats:
        for k, cid in enumerate(list(ev.params.catIds)):
            p = precision[:, :, k, 0, m100]
            p = p[p > -1]
            per_class[int(cid)] = float(p.mean()) if p.size else math.nan
    extra: dict[str, float] = {}
    if extras:  # a separate evaluation: summarize() of some backends reads maxDets[-1] for AP
        ev2, _ = be.build(gt, copy.deepcopy(clean), iou_type)
        ev2.params.useCats = int(bool(use_cats))
        ev2.params.imgIds = list(eval_img_ids)
        ev2.params.maxDets = list(max_dets)
        with contextlib.redirect_stdout(io.StringIO()):
            ev2.evaluate()
            ev2.accumulate()
        prec2, rec2 = np.asarray(ev2.eval["precision"]), np.asarray(ev2.eval["recall"])  # recall: (T, K, A, M)
        for m in extras:
            j = list(ev2.params.maxDets).index(m)
            p, r = prec2[:, :, :, 0, j], rec2[:, :, 0, j]
            extra[f"AP@{m}"] = float(p[p > -1].mean()) if (p > -1).any() else -1.0
            extra[f"AR@{m}"] = float(r[r > -1].mean()) if (r > -1).any() else -1.0
    return CocoEvalResult(
        iou_type=iou_type, backend=be.name, backend_version=be.version(),
        stats=dict(zip(names, stats_list)), stats_list=stats_list, per_class_ap=per_class, extra=extra,
        summary=captured() + buf.getvalue(), params=params, no_predictions=False,
        n_detections=len(clean), n_images=len(eval_img_ids), repairs=repairs, warnings=warnings,
    )


# --------------------------------------------------------------------------- writing results


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) ``[x1, y1, x2, y2]`` -> ``[x, y, w, h]`` (float64)."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def to_coco_results(image_id: int, boxes_xyxy: np.ndarray, scores: np.ndarray, category_ids: np.ndarray,
                    masks: Sequence[dict] | None = None) -> tuple[list[dict], list[dict]]:
    """One image's detections -> (bbox results, segm results) in COCO result format.

    ``category_ids`` are dataset category ids (already mapped from the model's label space);
    ``masks`` are compressed RLE dicts at the original image size (``counts`` a str). The segm
    records carry no ``bbox`` (see the module docstring).
    """
    xywh = xyxy_to_xywh(boxes_xyxy)
    sc = np.asarray(scores, dtype=np.float64).reshape(-1)
    cats = np.asarray(category_ids, dtype=np.int64).reshape(-1)
    if not (len(xywh) == len(sc) == len(cats)):
        raise ValueError(f"image {image_id}: {len(xywh)} boxes, {len(sc)} scores, {len(cats)} category ids")
    bbox = [{"image_id": int(image_id), "category_id": int(c), "bbox": [float(v) for v in b], "score": float(s)}
            for b, s, c in zip(xywh, sc, cats)]
    segm: list[dict] = []
    if masks is not None:
        if len(masks) != len(sc):
            raise ValueError(f"image {image_id}: {len(masks)} masks for {len(sc)} detections")
        segm = [{"image_id": int(image_id), "category_id": int(c), "segmentation": dict(m), "score": float(s)}
                for m, s, c in zip(masks, sc, cats)]
    return bbox, segm


def ann_to_rle(segmentation: Any, height: int, width: int) -> dict:
    """A gt ``segmentation`` (polygons, uncompressed or compressed RLE) -> compressed RLE with str counts."""
    from pycocotools import mask as mask_utils

    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
    counts = rle["counts"]
    return {"size": [int(rle["size"][0]), int(rle["size"][1])],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}
