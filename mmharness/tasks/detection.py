"""COCO-style object detection and instance segmentation: box and mask AP with the official COCOeval.

Protocol (``docs/protocols/detection.md``): every image of the split gets a ``detect`` request whose label set
is the dataset's categories sorted by id; the adapter returns boxes (xyxy pixels), scores, label
indices into that set and, optionally, instance masks. The task maps label index k to
``category_ids[k]`` (out-of-range labels are an error), converts boxes to XYWH floats and masks to
RLE at the original image size, and scores the COCO results with ``COCOeval`` (default parameters)
through :mod:`mmharness.metrics.detection`: the 12 stats for ``bbox`` and, when masks are present,
for ``segm``, named ``bbox_AP``, ``bbox_AP50``, ..., ``segm_ARl``. The predictions in COCO result
format are written beside the results (``coco_bbox_results_*.json``, ``coco_segm_results_*.json``).

Tasks:

* ``coco_detection``: the official layout under ``--data-root`` (``annotations/instances_<split>.json``
  and ``<split>/``; ``split`` defaults to ``val2017``).
* ``coco_format``: any COCO-format dataset, ``annotations=PATH,images=DIR`` (relative paths are
  taken under ``--data-root`` when given).

Options (``--task-args``): ``iou_types`` (``auto``: bbox, plus segm when the dataset has masks and
the model returned masks; or ``bbox``, ``segm``, ``bbox+segm``), ``backend`` (``pycocotools`` or
``faster-coco-eval``), ``use_cats`` (``false`` = class-agnostic, not for leaderboards),
``extra_max_dets`` (an extra detection budget > 100, reported as ``bbox_AP@N`` / ``bbox_AR@N``).
With ``--limit`` (or skipped samples) only the scored images are evaluated (``params.imgIds``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..loaders.coco import DEFAULT_SPLIT, CocoDataset, find_coco, load_coco_dataset
from ..metrics.detection import BACKENDS, STAT_DESCRIPTIONS, STAT_NAMES, evaluate_coco, to_coco_results
from ..registry import did_you_mean, register_task
from ..requests import Capability, DetectionsResponse, DetectRequest, ImageFile, LabelSet, Response
from ..task import (
    DataConfig,
    DataInfo,
    DataNotFoundError,
    MetricSpec,
    MetricValue,
    Paper,
    Sample,
    ScoreContext,
    Task,
    TaskData,
    TaskError,
    TaskResult,
)

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples" / "coco"
IOU_CHOICES = {"auto": ("bbox", "segm"), "bbox": ("bbox",), "segm": ("segm",), "bbox+segm": ("bbox", "segm")}
DETECTION_TEMPLATES = ("a photo of a {}.",)


def _specs(iou: str, extra: int | None) -> list[MetricSpec]:
    out = [MetricSpec(f"{iou}_{n}", higher_is_better=True, range=(0.0, 1.0), chance=0.0, official=True,
                      unit="fraction",
                      description=f"COCO {iou} {STAT_DESCRIPTIONS[n]}; -1 when undefined (no ground truth in "
                                  "that area range, or no predictions at all)")
           for n in STAT_NAMES[iou]]
    if extra:
        out += [MetricSpec(f"{iou}_{k}@{extra}", higher_is_better=True, range=(0.0, 1.0), chance=0.0,
                           official=False, unit="fraction",
                           description=f"Non-official: {k} @ IoU .50:.95, all areas, maxDets {extra}")
                for k in ("AP", "AR")]
    return out


class _CocoDetectionBase(Task):
    """Shared implementation of ``coco_detection`` and ``coco_format`` (see the module docstring)."""

    version: ClassVar[str] = "1"
    protocol: ClassVar[str] = ("COCO detection, pycocotools COCOeval default parameters (IoU .50:.95, 101 recall "
                               "points, maxDets 1/10/100 per image and category, area all/small/medium/large)")
    uses: ClassVar[tuple[Capability, ...]] = (Capability.DETECT,)
    primary_metric: ClassVar[str] = "bbox_AP"
    family: ClassVar[str] = "COCO detection"
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = tuple(_specs("bbox", None) + _specs("segm", None))
    option_meanings: ClassVar[dict[str, str]] = {
        "iou_types": "what is scored: auto (bbox, plus segm when the dataset has masks and the model returned "
                     "masks), bbox, segm (the primary metric is then segm_AP) or bbox+segm",
        "backend": "COCOeval implementation: pycocotools (official) or faster-coco-eval (the same stats, faster)",
        "use_cats": "false: class-agnostic evaluation (non-default; not for leaderboards)",
        "extra_max_dets": "an extra detection budget above 100, reported as <iou>_AP@N / <iou>_AR@N (non-official); "
                          "none = only the official budgets",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="lin2014microsoft", title="Microsoft COCO: Common Objects in Context",
        authors=("Tsung-Yi Lin", "Michael Maire", "Serge Belongie", "James Hays", "Pietro Perona", "Deva Ramanan",
                 "Piotr Dollár", "C. Lawrence Zitnick"),
        year=2014, venue="ECCV", venue_full="European Conference on Computer Vision (ECCV)", pages="740--755",
        arxiv="1405.0312", url="https://cocodataset.org",
        repository="https://github.com/cocodataset/cocoapi", commit="8c9bcc3",
        note="the repository is the official evaluation code (pycocotools COCOeval); faster-coco-eval "
             "(https://github.com/MiXaiLL76/faster_coco_eval) is a drop-in backend")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="The official COCO layout under --data-root (or its coco/ folder): annotations/instances_<split>.json "
               "and the image folder <split>/ (option split, val2017 by default).",
        source="https://cocodataset.org/#download (annotations_trainval2017.zip and val2017.zip)",
        sample_note="8 generated images with 22 annotations over the real COCO category list, in the val2017 "
                    "layout (mmharness/data/samples/coco/)")

    def __init__(self, iou_types: str = "auto", backend: str = "pycocotools", use_cats: bool = True,
                 extra_max_dets: int | None = None):
        if iou_types not in IOU_CHOICES:
            raise TaskError(f"task {self.name!r}: iou_types={iou_types!r} is not one of {list(IOU_CHOICES)}."
                            f"{did_you_mean(str(iou_types), list(IOU_CHOICES))}")
        if backend not in BACKENDS:
            raise TaskError(f"task {self.name!r}: backend={backend!r} is not one of {list(BACKENDS)}."
                            f"{did_you_mean(str(backend), list(BACKENDS))}")
        if extra_max_dets is not None and extra_max_dets <= 100:
            raise TaskError(f"task {self.name!r}: extra_max_dets must exceed 100 (the official budget), "
                            f"got {extra_max_dets}")
        self.iou_types = iou_types
        self.backend = backend
        self.use_cats = bool(use_cats)
        self.extra_max_dets = extra_max_dets
        if iou_types == "segm":
            self.primary_metric = "segm_AP"
        self.metric_specs = tuple(_specs("bbox", extra_max_dets) + _specs("segm", extra_max_dets))
        self.data: CocoDataset | None = None
        self.labelset: LabelSet | None = None

    # ---------------------------------------------------------------- identity
    def config(self) -> dict:
        """Scoring options (none of them changes responses)."""
        return {"iou_types": self.iou_types, "backend": self.backend, "use_cats": self.use_cats,
                "extra_max_dets": self.extra_max_dets, **self._source_config()}

    def cache_config(self) -> dict:
        """Responses depend only on the data (in the data fingerprint) and the label set."""
        return {"labels": "coco-categories-sorted-by-id", "templates": list(DETECTION_TEMPLATES)}

    def _source_config(self) -> dict:
        return {}

    # ---------------------------------------------------------------- load
    def _paths(self, data: DataConfig) -> tuple[Path, Path]:
        raise NotImplementedError

    def load(self, data: DataConfig) -> TaskData:
        """Read and validate the ground truth; one sample per image (id = COCO image id).

        Raises :class:`DataNotFoundError` naming the expected paths, and a clear error for malformed
        annotation files (missing fields, unknown ids)."""
        if data.sample:
            ann, img = SAMPLE_ROOT / "annotations" / "instances_val2017.json", SAMPLE_ROOT / "val2017"
        else:
            ann, img = self._paths(data)
        wants_segm = "segm" in IOU_CHOICES[self.iou_types] and self.iou_types != "auto"
        try:
            ds = load_coco_dataset(ann, img, "segm" if wants_segm else "bbox")
        except ValueError as e:
            raise TaskError(str(e)) from None
        if not ds.images:
            raise TaskError(f"task {self.name!r}: {ann} lists no images")
        self.data = ds
        self.labelset = LabelSet(name=f"coco:{ann.name}", classes=tuple(ds.category_names),
                                 templates=DETECTION_TEMPLATES)
        samples = [Sample(id=str(im["id"]), gold={"image_id": int(im["id"])},
                          meta={"file_name": im["file_name"], "height": im["height"], "width": im["width"]})
                   for im in ds.images]
        return TaskData(samples=samples, fingerprint=ds.fingerprint(),
                        source="sample" if data.sample else f"coco:{ann}",
                        kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> DetectRequest:
        """A ``detect`` request over the dataset's categories; the reference holds the gold boxes,
        label indices and (when the dataset has them) masks."""
        if self.data is None or self.labelset is None:
            raise TaskError(f"task {self.name!r}: call load() before request()")
        image_id = sample.gold["image_id"]
        path = self.data.image_dir / sample.meta["file_name"]
        return DetectRequest(ImageFile(str(path)), labels=self.labelset,
                             reference=self.data.reference(image_id, with_masks=self.data.has_masks))

    # ---------------------------------------------------------------- score
    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """COCO results from the responses, then COCOeval per IoU type (see the module docstring)."""
        if self.data is None:
            raise TaskError(f"task {self.name!r}: call load() before score()")
        cat_ids = np.asarray(self.data.category_ids, dtype=np.int64)
        k = len(cat_ids)
        bbox_results: list[dict] = []
        segm_results: list[dict] = []
        per_sample = []
        n_with_masks = 0
        img_ids = []
        for s, r in zip(samples, responses):
            if r is None:  # skipped sample (--on-error skip): not evaluated (params.imgIds excludes it)
                continue
            if not isinstance(r, DetectionsResponse):
                raise TaskError(f"task {self.name!r}, sample {s.id}: expected detections, got {type(r).__name__}")
            labels = np.asarray(r.labels, dtype=np.int64).reshape(-1)
            bad = labels[(labels < 0) | (labels >= k)]
            if bad.size:
                raise TaskError(
                    f"task {self.name!r}, sample {s.id}: detection labels {sorted(set(bad.tolist()))[:5]} are outside "
                    f"the request's label set of {k} categories; adapters must return indices into the label set "
                    f"(category k = the k-th category by id), not dataset category ids")
            image_id = s.gold["image_id"]
            img_ids.append(image_id)
            if r.masks is not None:
                n_with_masks += 1
            b, sg = to_coco_results(image_id, r.boxes, r.scores, cat_ids[labels] if labels.size else labels, r.masks)
            bbox_results += b
            segm_results += sg
            per_sample.append({"n_detections": len(b)})
        if not img_ids:
            raise TaskError(f"task {self.name!r}: no response to score")
        iou_types = list(IOU_CHOICES[self.iou_types])
        notes: list[str] = []
        if "segm" in iou_types:
            has_segm_gt = self.data.has_masks
            if self.iou_types == "auto":
                if not (has_segm_gt and n_with_masks == len(img_ids)):
                    iou_types.remove("segm")
            elif not has_segm_gt:
                raise TaskError(f"task {self.name!r}: iou_types={self.iou_types} needs 'segmentation' in every "
                                f"annotation of {self.data.annotation_path}")
            elif n_with_masks != len(img_ids):
                raise TaskError(f"task {self.name!r}: iou_types={self.iou_types} needs instance masks, but "
                                f"{len(img_ids) - n_with_masks} of {len(img_ids)} responses carry none "
                                "(use a Mask R-CNN style model, or iou_types=bbox)")
        results = {"bbox": bbox_results, "segm": segm_results}
        metrics: dict[str, MetricValue] = {}
        tables: dict = {"evaluated": iou_types, "n_images_evaluated": len(img_ids),
                        "n_images_in_split": len(self.data.images)}
        artifacts = {}
        names = dict(zip(self.data.category_ids, self.data.category_names))
        for iou in iou_types:
            try:
                res = evaluate_coco(self.data.gt, results[iou], iou, backend=self.backend, use_cats=self.use_cats,
                                    extra_max_dets=[self.extra_max_dets] if self.extra_max_dets else (),
                                    img_ids=img_ids, gt_source=str(self.data.annotation_path),
                                    results_source=f"{self.name} {iou} results")
            except ValueError as e:
                raise TaskError(str(e)) from None
            for n, v in res.stats.items():
                metrics[f"{iou}_{n}"] = MetricValue(v)
            for n, v in res.extra.items():
                metrics[f"{iou}_{n}"] = MetricValue(v)
            tables[f"{iou}_per_class_AP"] = [{"category_id": c, "name": names.get(c), "AP": v}
                                             for c, v in res.per_class_ap.items()]
            tables[f"{iou}_coco_eval"] = {"backend": res.backend, "backend_version": res.backend_version,
                                          "params": res.params, "summary": res.summary,
                                          "n_detections": res.n_detections, "no_predictions": res.no_predictions,
                                          "repairs": res.repairs, "warnings": res.warnings}
            notes += [f"{iou}: {w}" for w in res.warnings] + [f"{iou} repaired: {x}" for x in res.repairs]
            artifacts[f"coco_{iou}_results.json"] = results[iou]
        if self.primary_metric not in metrics:
            raise TaskError(f"task {self.name!r}: primary metric {self.primary_metric} was not computed "
                            f"(evaluated: {iou_types})")
        if len(img_ids) < len(self.data.images):
            notes.append(f"evaluated on {len(img_ids)} of the {len(self.data.images)} images of the split "
                         "(--limit or skipped samples): not comparable to full-split numbers")
        if not self.use_cats:
            notes.append("use_cats=false: class-agnostic evaluation (non-default; not for leaderboards)")
        notes.append("COCO stats are fractions (x100 for the usual percent); -1 = undefined.")
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes, artifacts=artifacts)


@register_task("coco_detection")
class CocoDetection(_CocoDetectionBase):
    """COCO detection on the official layout under ``--data-root`` (``split``, default ``val2017``)."""

    description = "COCO object detection / instance segmentation (box and mask AP, official COCOeval)"
    option_meanings: ClassVar[dict[str, str]] = {
        "split": "the split read under --data-root: annotations/instances_<split>.json and <split>/",
    }

    def __init__(self, split: str = DEFAULT_SPLIT, iou_types: str = "auto", backend: str = "pycocotools",
                 use_cats: bool = True, extra_max_dets: int | None = None):
        super().__init__(iou_types=iou_types, backend=backend, use_cats=use_cats, extra_max_dets=extra_max_dets)
        self.split = split

    def _source_config(self) -> dict:
        return {"split": self.split}

    def _paths(self, data: DataConfig) -> tuple[Path, Path]:
        return find_coco(data.root, self.split)


@register_task("coco_format")
class CocoFormat(_CocoDetectionBase):
    """Any COCO-format detection dataset: ``annotations=PATH`` and ``images=DIR``."""

    description = "any COCO-format detection dataset (annotation JSON + image folder), official COCOeval"
    option_meanings: ClassVar[dict[str, str]] = {
        "annotations": "needed on real data: the COCO-format annotation JSON (a relative path is taken under "
                       "--data-root)",
        "images": "needed on real data: its image folder (a relative path is taken under --data-root)",
    }
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="Any COCO-format dataset: an annotation JSON (images, annotations, categories) named with "
               "annotations=PATH and its image folder with images=DIR (relative paths are taken under --data-root).",
        source="your own data in the COCO format (https://cocodataset.org/#format-data)",
        sample_note="the COCO sample (8 generated images, val2017 layout; mmharness/data/samples/coco/)")

    def __init__(self, annotations: str | None = None, images: str | None = None, iou_types: str = "auto",
                 backend: str = "pycocotools", use_cats: bool = True, extra_max_dets: int | None = None):
        super().__init__(iou_types=iou_types, backend=backend, use_cats=use_cats, extra_max_dets=extra_max_dets)
        self.annotations = annotations
        self.images = images

    def _source_config(self) -> dict:
        return {"annotations": self.annotations, "images": self.images}

    def _paths(self, data: DataConfig) -> tuple[Path, Path]:
        if not self.annotations or not self.images:
            raise DataNotFoundError(f"task {self.name!r} needs --task-args annotations=PATH,images=DIR "
                                    "(a COCO-format annotation JSON and its image folder)")

        def resolve(p: str) -> Path:
            q = Path(p).expanduser()
            return q if q.is_absolute() or data.root is None else Path(data.root) / q

        return resolve(self.annotations), resolve(self.images)

