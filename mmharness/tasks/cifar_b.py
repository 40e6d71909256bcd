"""CIFAR-10-B and CIFAR-100-B: subgroup (background-colour) consistency of image classifiers.

Protocol (``docs/protocols/cifar_b.md``; Chiu, Chen, Ma, *Better May Not Be Fairer*, ICCV 2023): classify every
CIFAR-10 / CIFAR-100 **test** image (top-1 over 10 or 100 classes); each image carries one of 8
background-colour subgroup ids from the official annotations (commit ``22201ae``), matched to the
test set by rank within class in stored test order. Metrics, all fractions in [0, 1]:

* ``macrostd_population`` (primary) and ``macrostd_nist``: MacroStd, the plain mean over classes of
  the subgroup-size-weighted SD of per-(class, subgroup) accuracy. The paper gives only a prose
  definition; both SD conventions of the reconstruction are always reported. ``macrostd`` repeats
  the one chosen with the task option ``macrostd`` (default ``population``).
* ``accuracy``: overall top-1 accuracy.
* ``worst_subgroup_acc`` (non-official): the lowest cell accuracy among cells with >= 5 images.

Each metric carries a percentile-bootstrap CI over test images (seed, resamples and level from the
:class:`~mmharness.task.ScoreContext`). The paper most likely reports percent; multiply by 100.

Leaderboard ranking (``leaderboard_metric``): ``accuracy``. MacroStd, the paper's headline, measures
how evenly a classifier does across subgroups, not how well: any one-class predictor has MacroStd 0,
the best possible value, so a leaderboard ranked on it puts a constant model on top. MacroStd stays
the primary metric and is shown beside accuracy as the fairness figure. Scoring also records
``tables["degeneracy"]`` (:mod:`mmharness.metrics.degeneracy`): constant logits or one predicted class
for every image flag the run (the leaderboard then does not rank it).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from pathlib import Path
from typing import ClassVar, Sequence

import numpy as np

from ..loaders.cifar import (
    CLASSES,
    TEST_SIZE,
    CifarTestSet,
    detect_cifar_source,
    load_cifar_b_annotations,
    read_png,
)
from ..metrics.classification import top1
from ..metrics.declare import Declared, custom, declare, mean, score_declared
from ..metrics.degeneracy import check_classify
from ..metrics.subgroup import (
    cell_accuracy,
    cell_counts,
    macro_std_from_counts,
    per_class_std_from_counts,
    resampled_cell_counts,
    worst_subgroup_from_counts,
)
from ..registry import did_you_mean, register_group, register_task
from ..requests import (
    Capability,
    ClassifyRequest,
    ClassifyResponse,
    ImageArray,
    ImageFile,
    LabelSet,
    Response,
)
from ..task import (
    DataConfig,
    DataInfo,
    MetricSpec,
    Paper,
    Sample,
    ScoreContext,
    Task,
    TaskData,
    TaskError,
    TaskResult,
)

log = logging.getLogger(__name__)

NUM_SUBGROUPS = 8
WORST_MIN_N = 5

#: The 18 CIFAR-10 / CIFAR-100 prompt templates of OpenAI CLIP (``data/prompts.md``; identical for both).
CLIP_CIFAR_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a blurry photo of a {}.",
    "a black and white photo of a {}.",
    "a low contrast photo of a {}.",
    "a high contrast photo of a {}.",
    "a bad photo of a {}.",
    "a good photo of a {}.",
    "a photo of a small {}.",
    "a photo of a big {}.",
    "a photo of the {}.",
    "a blurry photo of the {}.",
    "a black and white photo of the {}.",
    "a low contrast photo of the {}.",
    "a high contrast photo of the {}.",
    "a bad photo of the {}.",
    "a good photo of the {}.",
    "a photo of the small {}.",
    "a photo of the big {}.",
)

#: Template sets selectable with the ``templates`` option.
TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "clip": CLIP_CIFAR_TEMPLATES,
    "simple": ("a photo of a {}.",),
}

SD_CONVENTIONS = ("population", "nist")

SAMPLE_ROOT = Path(__file__).resolve().parent.parent / "data" / "samples"


def _metric_specs(num_classes: int) -> tuple[MetricSpec, ...]:
    nist_max = math.sqrt(0.5)  # M/(M-1) * 0.25 is largest at M = 2
    return (
        MetricSpec("macrostd_population", higher_is_better=False, range=(0.0, 0.5), chance=None,
                   official=True, unit="fraction",
                   description="MacroStd, population weighted SD: mean over classes of "
                               "sqrt(sum_g n_g (acc_g - m)^2 / sum_g n_g); reconstruction of the paper's "
                               "prose definition (spec section 3)."),
        MetricSpec("macrostd_nist", higher_is_better=False, range=(0.0, nist_max), chance=None,
                   official=True, unit="fraction",
                   description="MacroStd, NIST weighted SD: population variance times M/(M-1) "
                               "(M = non-empty subgroups of the class; 0 when M = 1)."),
        MetricSpec("macrostd", higher_is_better=False, range=(0.0, nist_max), chance=None,
                   official=True, unit="fraction",
                   description="MacroStd under the convention chosen with the task option `macrostd` "
                               "(see config); equals macrostd_population or macrostd_nist."),
        MetricSpec("macrostd_unweighted", higher_is_better=False, range=(0.0, 0.5), chance=None,
                   official=False, unit="fraction",
                   description="Non-official: mean over classes of the unweighted (population) SD of "
                               "the accuracies of the class's non-empty subgroups."),
        MetricSpec("accuracy", higher_is_better=True, range=(0.0, 1.0), chance=1.0 / num_classes,
                   official=True, unit="fraction", description="Overall top-1 accuracy."),
        MetricSpec("worst_subgroup_acc", higher_is_better=True, range=(0.0, 1.0), chance=None,
                   official=False, unit="fraction",
                   description=f"Non-official: lowest (class, subgroup) accuracy over cells with at "
                               f"least {WORST_MIN_N} images."),
    )


@functools.lru_cache(maxsize=4)
def _sample_ids(n: int) -> tuple[str, ...]:
    """The sample ids of a test set of n images: the 5-digit test index of each."""
    return tuple(f"{i:05d}" for i in range(n))


class _CifarB(Task):
    """Shared implementation of CIFAR-10-B and CIFAR-100-B (see the module docstring).

    Options (``option_meanings``; both recorded in :meth:`config`): ``macrostd`` and ``templates``.
    """

    dataset: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    uses: ClassVar[tuple[Capability, ...]] = (Capability.CLASSIFY,)
    primary_metric: ClassVar[str] = "macrostd_population"
    leaderboard_metric: ClassVar[str] = "accuracy"
    family: ClassVar[str] = "CIFAR-B"
    option_meanings: ClassVar[dict[str, str]] = {
        "macrostd": "SD convention reported again as the metric `macrostd`: population or nist (both are "
                    "always reported as macrostd_population and macrostd_nist)",
        "templates": "zero-shot prompt templates when the model only embeds: clip (the 18 CLIP CIFAR templates) "
                     "or simple ('a photo of a {}.')",
    }
    paper: ClassVar[Paper | None] = Paper(
        key="chiu2023better",
        title="Better May Not Be Fairer: A Study on Subgroup Discrepancy in Image Classification",
        authors=("Ming-Chang Chiu", "Pin-Yu Chen", "Xuezhe Ma"), year=2023, venue="ICCV",
        venue_full="Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)",
        pages="4956--4966", arxiv="2212.08649",
        repository="https://github.com/charismaticchiu/Better-May-Not-Be-Fairer-A-Study-Study-on-Subgroup-"
                   "Discrepancy-in-Image-Classification",
        commit="22201ae",
        note="the repository ships the subgroup annotations (BSD-3-Clause; bundled here as JSON) but no metric "
             "code: MacroStd is reconstructed from the paper's prose definition")
    data_info: ClassVar[DataInfo | None] = DataInfo(
        layout="The CIFAR-10 / CIFAR-100 test set under --data-root, in any of its common layouts (tried in "
               "this order): the python version cifar-10-batches-py/test_batch + batches.meta or "
               "cifar-100-python/test + meta (pickles, read with a restricted unpickler); the binary version "
               "cifar-10-batches-bin/test_batch.bin or cifar-100-binary/test.bin; a cifar2png tree "
               "test/<class>/NNNN.png (or cifar10/test/, cifar100/test/); a Hugging Face copy of "
               "uoft-cs/cifar10 or uoft-cs/cifar100 (save_to_disk folder or test-*.parquet files). The "
               "background-colour subgroup annotations ship with mmharness (mmharness/data/annotations/).",
        source="https://www.cs.toronto.edu/~kriz/cifar.html (e.g. torchvision.datasets.CIFAR10 / CIFAR100"
               "(root, train=False, download=True)), or the Hugging Face datasets uoft-cs/cifar10 and "
               "uoft-cs/cifar100 (read from the hub cache offline)",
        sample_note="a few test images per class in the cifar2png layout (mmharness/data/samples/cifar10_b/ "
                    "and cifar100_b/)")

    def __init__(self, macrostd: str = "population", templates: str = "clip"):
        if macrostd not in SD_CONVENTIONS:
            raise TaskError(f"task {self.name!r}: option macrostd={macrostd!r} is not one of "
                            f"{list(SD_CONVENTIONS)}.{did_you_mean(str(macrostd), list(SD_CONVENTIONS))}")
        if templates not in TEMPLATE_SETS:
            raise TaskError(f"task {self.name!r}: option templates={templates!r} is not one of "
                            f"{sorted(TEMPLATE_SETS)}.{did_you_mean(str(templates), sorted(TEMPLATE_SETS))}")
        self.macrostd = macrostd
        self.templates = templates
        classes = CLASSES[self.dataset]
        prompt_names = tuple(c.replace("_", " ") for c in classes)
        self.labelset = LabelSet(
            name=self.dataset,
            classes=classes,
            templates=TEMPLATE_SETS[templates],
            class_prompt_names=prompt_names if prompt_names != classes else None,
        )
        self._testset: CifarTestSet | None = None

    @property
    def num_classes(self) -> int:
        """Number of classes (10 or 100)."""
        return len(CLASSES[self.dataset])

    def config(self) -> dict:
        """The options (SD convention reported as ``macrostd``, prompt template set)."""
        return {"macrostd": self.macrostd, "templates": self.templates,
                "prompt_templates": list(self.labelset.templates)}

    def cache_config(self) -> dict:
        """Only the prompts change responses; the SD convention is applied at scoring time."""
        return {"templates": self.templates}

    # ---------------------------------------------------------------- load
    def load(self, data: DataConfig) -> TaskData:
        """Read the test set (bundled sample, or detected / forced source under ``data.root``).

        Each sample: ``id`` = 5-digit test index, ``gold`` = class index, ``meta`` = ``subgroup`` and
        ``image_name`` (the annotation key). The fingerprint hashes the data files and the
        annotation JSON. Raises ``DataNotFoundError`` naming the expected paths when data is missing.
        """
        ann = load_cifar_b_annotations(self.dataset)
        if data.sample:
            testset = read_png(SAMPLE_ROOT / f"{self.dataset}_b", self.dataset)
        else:
            testset = detect_cifar_source(data.root, self.dataset, source=data.source)
        labels = testset.labels
        subgroups = ann.lookup(labels, testset.ranks)
        names = testset.image_names
        if not data.sample and len(labels) != TEST_SIZE:
            log.warning("%s: the test set at %s has %d images, not %d; scores cover only those images",
                        self.name, testset.source, len(labels), TEST_SIZE)
        golds = np.asarray(labels, dtype=np.int64).tolist()  # Python ints, as int() of each gives
        groups = np.asarray(subgroups, dtype=np.int64).tolist()
        samples = [Sample(sid, gold, {"subgroup": group, "image_name": name})
                   for sid, gold, group, name in zip(_sample_ids(len(golds)), golds, groups, names)]
        fp = hashlib.sha256(f"{testset.fingerprint}:{ann.sha256}".encode()).hexdigest()[:20]
        self._testset = testset
        return TaskData(samples=samples, fingerprint=fp,
                        source="sample" if data.sample else testset.source,
                        kind="sample" if data.sample else "full")

    # ---------------------------------------------------------------- request
    def request(self, sample: Sample) -> ClassifyRequest:
        """A ``classify`` request for one test image over the task's (shared) label set."""
        if self._testset is None:
            raise TaskError(f"task {self.name!r}: call load() before request()")
        i = int(sample.id)
        path = self._testset.file_path(i)
        ref = ImageFile(path) if path is not None else ImageArray(self._testset, i)
        return ClassifyRequest(inputs={"image": ref}, labels=self.labelset, reference=sample.gold)

    # ---------------------------------------------------------------- score
    def declared_metrics(self) -> tuple[Declared, ...]:
        """Accuracy (mean of ``correct``) and the subgroup metrics, each a function of the
        per-(class, subgroup) counts of ``correct`` by ``gold`` and ``subgroup`` (shared by the four
        MacroStd variants and the worst subgroup); ``macrostd`` follows the ``macrostd`` option."""
        c = self.num_classes

        def counts(res):
            return res.shared("cell_counts", lambda r: resampled_cell_counts(
                r.idx, r.full("correct").astype(bool), r.full("gold").astype(np.int64),
                r.full("subgroup").astype(np.int64), c, NUM_SUBGROUPS))

        def macro(conv: str):
            return custom(("correct", "gold", "subgroup"), lambda res: macro_std_from_counts(*counts(res), conv),
                          f"MacroStd ({conv} SD) of the per-(class, subgroup) accuracies")

        return declare(
            self.metric_specs,
            accuracy=mean("correct"),
            macrostd_population=macro("population"),
            macrostd_nist=macro("nist"),
            macrostd_unweighted=macro("unweighted"),
            macrostd=macro(self.macrostd),
            worst_subgroup_acc=custom(("correct", "gold", "subgroup"),
                                      lambda res: worst_subgroup_from_counts(*counts(res), WORST_MIN_N),
                                      f"lowest (class, subgroup) accuracy over cells of >= {WORST_MIN_N}"),
        )

    def score(self, samples: Sequence[Sample], responses: Sequence[Response | None],
              ctx: ScoreContext) -> TaskResult:
        """Top-1 predictions -> accuracy, MacroStd (both conventions), worst subgroup, with CIs.

        ``responses`` align with ``samples``; ``None`` marks a sample that was skipped (media decode
        error) and is excluded; ``tables["scoring"]["n_scored"]`` says how many were scored.
        """
        if len(samples) != len(responses):
            raise TaskError(f"{len(responses)} responses for {len(samples)} samples")
        keep = [j for j, r in enumerate(responses) if r is not None]
        if not keep:
            raise TaskError(f"task {self.name!r}: no response to score (all {len(samples)} samples skipped)")
        c = self.num_classes
        logits = self._logits(samples, [responses[j] for j in keep], keep, c)
        pred = top1(logits)
        gold = np.asarray([samples[j].gold for j in keep], dtype=np.int64)
        sub = np.asarray([samples[j].meta["subgroup"] for j in keep], dtype=np.int64)
        correct = pred == gold
        n = correct.shape[0]

        k_cg, n_cg = cell_counts(correct, gold, sub, c, NUM_SUBGROUPS)
        acc_cg, _ = cell_accuracy(correct, gold, sub, c, NUM_SUBGROUPS)
        scored = score_declared(self.declared_metrics(), {"correct": correct, "gold": gold, "subgroup": sub}, ctx)
        notes = [
            "MacroStd = mean over classes of the subgroup-size-weighted SD of per-(class, subgroup) "
            "accuracy (reconstruction of the paper's prose definition); both SD conventions reported, "
            f"'macrostd' = macrostd_{self.macrostd}. Values are fractions (x100 for percent).",
        ]
        metrics = scored.values
        if "worst_subgroup_acc" in scored.undefined:
            notes.append(f"worst_subgroup_acc not reported: no (class, subgroup) cell has {WORST_MIN_N} "
                         "or more scored images.")
        present = n_cg.sum(axis=1) > 0
        if not present.all():
            notes.append(f"{int((~present).sum())} of {c} classes have no scored image; MacroStd averages "
                         "over the classes present.")
        skipped = [samples[j].id for j, r in enumerate(responses) if r is None]
        if skipped:
            notes.append(f"{len(skipped)} sample(s) skipped (no response, e.g. undecodable media) and "
                         f"excluded from scoring; first: {skipped[:5]}.")

        sd_pop = per_class_std_from_counts(k_cg, n_cg, "population")
        sd_nist = per_class_std_from_counts(k_cg, n_cg, "nist")
        classes = list(CLASSES[self.dataset])
        tables = {
            "cell_accuracy": {
                "classes": classes,
                "subgroups": list(range(NUM_SUBGROUPS)),
                "acc": [[None if np.isnan(a) else float(a) for a in row] for row in acc_cg],
                "n": n_cg.tolist(),
            },
            "per_class": [
                {"class": classes[ci], "n": int(n_cg[ci].sum()),
                 "n_subgroups": int((n_cg[ci] > 0).sum()),
                 "acc": float(k_cg[ci].sum() / n_cg[ci].sum()) if n_cg[ci].sum() else None,
                 "sd_population": None if np.isnan(sd_pop[ci]) else float(sd_pop[ci]),
                 "sd_nist": None if np.isnan(sd_nist[ci]) else float(sd_nist[ci])}
                for ci in range(c)
            ],
            "scoring": {"n_samples": len(samples), "n_scored": n, "n_skipped": len(skipped),
                        "skipped_ids": skipped[:100], "macrostd_convention": self.macrostd},
            "degeneracy": check_classify(logits, gold.tolist(), classes),
        }
        per_sample = [
            {"id": samples[j].id, "pred": p, "correct": ok, "subgroup": g}
            for j, p, ok, g in zip(keep, pred.tolist(), correct.tolist(), sub.tolist())
        ]
        return TaskResult(metrics=metrics, per_sample=per_sample, tables=tables, notes=notes)

    @staticmethod
    def _logits(samples: Sequence[Sample], kept: Sequence[Response], keep: Sequence[int], c: int) -> np.ndarray:
        """The kept responses' logits as one (n, c) float64 matrix: stacked at once when every
        response is a classify response with c float logits (the same values as row by row), else
        row by row, naming the first bad one."""
        if all(type(r) is ClassifyResponse for r in kept):
            logits = [r.logits for r in kept]
            if all(type(v) is np.ndarray and v.shape == (c,) and v.dtype.kind == "f" for v in logits):
                return np.stack(logits).astype(np.float64, copy=False)
        rows = []
        for j, r in zip(keep, kept):
            if not isinstance(r, ClassifyResponse):
                raise TaskError(f"sample {samples[j].id}: expected a classify response, got {type(r).__name__}")
            v = np.asarray(r.logits, dtype=np.float64).reshape(-1)
            if v.shape[0] != c:
                raise TaskError(f"sample {samples[j].id}: {v.shape[0]} logits for {c} classes")
            rows.append(v)
        return np.stack(rows)


@register_task("cifar10_b")
class Cifar10B(_CifarB):
    """CIFAR-10-B: 10 classes x 1,000 test images, 8 background-colour subgroups."""

    dataset: ClassVar[str] = "cifar10"
    protocol: ClassVar[str] = ("CIFAR-10-B (Chiu, Chen & Ma, ICCV 2023; annotations commit 22201ae): "
                               "top-1 accuracy and MacroStd over background-colour subgroups")
    description: ClassVar[str] = "Subgroup (background colour) consistency of CIFAR-10 classifiers."
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = _metric_specs(10)


@register_task("cifar100_b")
class Cifar100B(_CifarB):
    """CIFAR-100-B: 100 fine classes x 100 test images, 8 background-colour subgroups."""

    dataset: ClassVar[str] = "cifar100"
    protocol: ClassVar[str] = ("CIFAR-100-B (Chiu, Chen & Ma, ICCV 2023; annotations commit 22201ae): "
                               "top-1 accuracy and MacroStd over background-colour subgroups")
    description: ClassVar[str] = "Subgroup (background colour) consistency of CIFAR-100 classifiers."
    metric_specs: ClassVar[tuple[MetricSpec, ...]] = _metric_specs(100)


register_group("cifar_b", ("cifar10_b", "cifar100_b"))
