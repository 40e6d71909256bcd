"""The cifar10_b / cifar100_b tasks: options, loading (sample and real layouts), requests, scoring."""

from __future__ import annotations

import csv
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmharness.loaders.cifar import CIFAR10_CLASSES, CIFAR100_CLASSES
from mmharness.registry import TASKS
from mmharness.requests import (
    Capability,
    ClassifyRequest,
    ClassifyResponse,
    ImageArray,
    ImageFile,
    MediaDecodeError,
)
from mmharness.task import DataConfig, DataNotFoundError, Sample, ScoreContext, TaskError
from mmharness.tasks.cifar_b import CLIP_CIFAR_TEMPLATES, Cifar10B, Cifar100B

FIX = Path(__file__).parent / "fixtures" / "cifar_b"
ANN_DIR = Path(__file__).resolve().parent.parent / "mmharness" / "data" / "annotations"


def _annotations(dataset: str) -> dict:
    return json.loads((ANN_DIR / f"{dataset}_b_subgroups.json").read_text())["subgroups"]


def _write_torchvision_cifar10(root: Path, labels: list[int], data: np.ndarray) -> None:
    """Python-3 pickle of a CIFAR-10 python-version test batch (protocol 4, numpy arrays only)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(pickle.dumps({"labels": labels, "data": data}, protocol=4))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(CIFAR10_CLASSES)}, protocol=4))


def _write_binary_cifar100(root: Path, labels: np.ndarray, data: np.ndarray) -> None:
    folder = root / "cifar-100-binary"
    folder.mkdir(parents=True)
    head = np.stack([labels % 20, labels], axis=1).astype(np.uint8)
    (folder / "test.bin").write_bytes(np.concatenate([head, data], axis=1).tobytes())


def _onehot_responses(gold: np.ndarray, correct: np.ndarray, c: int) -> list[ClassifyResponse]:
    pred = np.where(correct, gold, (gold + 1) % c)
    logits = np.zeros((len(gold), c), np.float32)
    logits[np.arange(len(gold)), pred] = 1.0
    return [ClassifyResponse(logits=row) for row in logits]


def _csv_samples(name: str):
    with open(FIX / f"{name}_subgroups.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    samples = [Sample(id=f"{i:05d}", gold=int(r["class_idx"]),
                      meta={"subgroup": int(r["subgroup"]), "image_name": r["image_name"]})
               for i, r in enumerate(rows)]
    sub = np.asarray([int(r["subgroup"]) for r in rows])
    gold = np.asarray([int(r["class_idx"]) for r in rows])
    return samples, gold, sub


# --------------------------------------------------------------------------- identity and options


def test_registry_and_class_attributes():
    assert TASKS.get("cifar10_b") is Cifar10B
    assert TASKS.get("cifar100_b") is Cifar100B
    for cls, c in ((Cifar10B, 10), (Cifar100B, 100)):
        assert cls.uses == (Capability.CLASSIFY,)
        assert cls.primary_metric == "macrostd_population"
        names = {m.name for m in cls.metric_specs}
        assert {"accuracy", "macrostd_population", "macrostd_nist", "macrostd", "worst_subgroup_acc"} <= names
        assert cls().metric_spec("accuracy").chance == pytest.approx(1 / c)
        assert cls().metric_spec("macrostd_population").chance is None
        assert cls().metric_spec("macrostd_population").higher_is_better is False
        assert cls().metric_spec("worst_subgroup_acc").official is False
        assert all(m.unit == "fraction" for m in cls.metric_specs)


def test_options_are_validated_and_recorded():
    t = Cifar10B()
    cfg = t.config()
    assert (cfg["macrostd"], cfg["templates"], len(cfg["prompt_templates"])) == ("population", "clip", 18)
    simple = Cifar100B(macrostd="nist", templates="simple")
    assert simple.config() == {"macrostd": "nist", "templates": "simple",
                               "prompt_templates": ["a photo of a {}."]}
    # the SD convention is applied at scoring time: it must not change the cache key
    assert Cifar10B(macrostd="nist").cache_config() == t.cache_config() == {"templates": "clip"}
    with pytest.raises(TaskError, match="macrostd"):
        Cifar10B(macrostd="sample")
    with pytest.raises(TaskError, match="templates"):
        Cifar10B(templates="imagenet")
    with pytest.raises(TypeError):
        Cifar10B(bogus=1)


def test_label_sets_use_the_clip_templates():
    assert len(CLIP_CIFAR_TEMPLATES) == 18
    assert CLIP_CIFAR_TEMPLATES[0] == "a photo of a {}." and CLIP_CIFAR_TEMPLATES[-1] == "a photo of the big {}."
    ls10 = Cifar10B().labelset
    assert ls10.classes == CIFAR10_CLASSES and ls10.templates == CLIP_CIFAR_TEMPLATES
    assert ls10.prompts()[0][1] == "a blurry photo of a airplane."
    ls100 = Cifar100B().labelset
    assert ls100.classes == CIFAR100_CLASSES and len(ls100) == 100
    assert ls100.prompts()[1][0] == "a photo of a aquarium fish."
    assert all("_" not in p for row in ls100.prompts() for p in row)
    assert Cifar100B(templates="simple").labelset.templates == ("a photo of a {}.",)


# --------------------------------------------------------------------------- loading


@pytest.mark.parametrize("cls,n,per_class", [(Cifar10B, 50, 5), (Cifar100B, 200, 2)])
def test_bundled_sample(cls, n, per_class):
    task = cls()
    data = task.load(DataConfig(sample=True))
    assert data.kind == "sample" and data.source == "sample"
    assert len(data.samples) == n
    ann = _annotations(task.dataset)
    classes = task.labelset.classes
    for i, s in enumerate(data.samples):
        assert s.id == f"{i:05d}"
        assert s.meta["subgroup"] == ann[classes[s.gold]][s.meta["image_name"]]
    assert sorted({s.meta["image_name"] for s in data.samples}) == ["%04d.png" % k for k in range(1, per_class + 1)]
    assert data.fingerprint == cls().load(DataConfig(sample=True)).fingerprint
    reqs = [task.request(s) for s in data.samples[:3]]
    assert all(isinstance(r, ClassifyRequest) and isinstance(r.inputs["image"], ImageFile) for r in reqs)
    assert all(r.labels is task.labelset for r in reqs)
    assert [r.reference for r in reqs] == [s.gold for s in data.samples[:3]]
    im = reqs[0].inputs["image"].load()
    assert im.mode == "RGB" and im.size == (32, 32)
    # the background colour is keyed to the subgroup id
    corner = {}
    for s in data.samples:
        px = task.request(s).inputs["image"].load().getpixel((0, 0))
        assert corner.setdefault(s.meta["subgroup"], px) == px
    assert len(set(corner.values())) == len(corner)


def test_torchvision_layout_maps_subgroups_by_rank(tmp_path):
    labels = [3, 8, 3, 0] + [int(x) for x in np.random.default_rng(0).integers(0, 10, 26)]
    data = np.random.default_rng(1).integers(0, 256, (30, 3072), dtype=np.uint8)
    _write_torchvision_cifar10(tmp_path, labels, data)
    task = Cifar10B()
    td = task.load(DataConfig(root=tmp_path))
    assert td.kind == "full" and td.source.startswith("torchvision:")
    ann = _annotations("cifar10")
    assert [s.meta["image_name"] for s in td.samples[:4]] == ["0001.png", "0001.png", "0002.png", "0001.png"]
    assert [s.meta["subgroup"] for s in td.samples[:4]] == [
        ann["cat"]["0001.png"], ann["ship"]["0001.png"], ann["cat"]["0002.png"], ann["airplane"]["0001.png"]]
    seen: dict[int, int] = {}
    for s, lab in zip(td.samples, labels):
        seen[lab] = seen.get(lab, 0) + 1
        assert s.gold == lab and s.meta["image_name"] == "%04d.png" % seen[lab]
        assert s.meta["subgroup"] == ann[CIFAR10_CLASSES[lab]][s.meta["image_name"]]
    req = task.request(td.samples[7])
    assert isinstance(req.inputs["image"], ImageArray)
    assert np.array_equal(np.asarray(req.inputs["image"].load()), data[7].reshape(3, 32, 32).transpose(1, 2, 0))
    # the task and its requests stay picklable and light after load
    clone = pickle.loads(pickle.dumps(task))
    assert np.array_equal(np.asarray(clone.request(td.samples[7]).inputs["image"].load()),
                          np.asarray(req.inputs["image"].load()))
    assert len(pickle.dumps(req)) < 5000
    # fingerprint: data + annotations; changes with the data
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(
        pickle.dumps({"labels": labels, "data": data[::-1].copy()}, protocol=4))
    assert Cifar10B().load(DataConfig(root=tmp_path)).fingerprint != td.fingerprint


def test_forced_source_and_cifar100_binary(tmp_path):
    labels = np.random.default_rng(2).integers(0, 100, 40)
    data = np.random.default_rng(3).integers(0, 256, (40, 3072), dtype=np.uint8)
    _write_binary_cifar100(tmp_path, labels, data)
    td = Cifar100B().load(DataConfig(root=tmp_path, source="binary"))
    assert td.source.startswith("binary:") and [s.gold for s in td.samples] == labels.tolist()
    with pytest.raises(DataNotFoundError, match="cifar-100-python"):
        Cifar100B().load(DataConfig(root=tmp_path, source="torchvision"))


def test_missing_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as e:
        Cifar10B().load(DataConfig(root=missing))
    assert str(missing) in str(e.value)
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in str(e.value)


def test_corrupt_png_in_a_png_tree(tmp_path):
    for k in (1, 2):
        p = tmp_path / "test" / "dog" / ("%04d.png" % k)
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (10, 20, 30)).save(p)
    bad = tmp_path / "test" / "dog" / "0002.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"garbage")
    task = Cifar10B()
    td = task.load(DataConfig(root=tmp_path))
    assert [s.meta["image_name"] for s in td.samples] == ["0001.png", "0002.png"]
    assert task.request(td.samples[0]).inputs["image"].load().size == (32, 32)
    with pytest.raises(MediaDecodeError, match=str(bad)):
        task.request(td.samples[1]).inputs["image"].load()


def test_unannotated_image_name_is_an_error(tmp_path):
    p = tmp_path / "test" / "cat" / "1001.png"  # CIFAR-10-B has 0001..1000 per class
    p.parent.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(p)
    with pytest.raises(TaskError, match="no CIFAR-B annotation"):
        Cifar10B().load(DataConfig(root=tmp_path))


# --------------------------------------------------------------------------- scoring


@pytest.mark.parametrize("cls", [Cifar10B, Cifar100B])
def test_oracle_scores_perfectly(cls):
    task = cls()
    td = task.load(DataConfig(sample=True))
    gold = np.asarray([s.gold for s in td.samples])
    res = task.score(td.samples, _onehot_responses(gold, np.ones(len(gold), bool), task.num_classes),
                     ScoreContext(bootstrap_resamples=50))
    assert res.metrics["accuracy"].value == 1.0
    assert res.metrics["macrostd_population"].value == 0.0
    assert res.metrics["macrostd_nist"].value == 0.0
    assert res.metrics["macrostd"].value == 0.0
    assert all(p["correct"] for p in res.per_sample)


@pytest.mark.parametrize("name,cls", [("cifar10_b", Cifar10B), ("cifar100_b", Cifar100B)])
def test_score_reproduces_fixture_values(name, cls):
    expected = json.loads((FIX / "synthetic_expected_macrostd.json").read_text())["expected"][name]
    samples, gold, sub = _csv_samples(name)
    task = cls(macrostd="nist")
    c = task.num_classes
    correct = np.isin(sub, (0, 2))
    ctx = ScoreContext(seed=0, bootstrap_resamples=200, ci_level=0.9)
    res = task.score(samples, _onehot_responses(gold, correct, c), ctx)
    exp = expected["R1_correct_iff_subgroup_in_0_2"]
    m = res.metrics
    assert abs(m["accuracy"].value - exp["overall_acc"]) < 1e-12
    assert abs(m["macrostd_population"].value - exp["macrostd_population"]) < 1e-12
    assert abs(m["macrostd_nist"].value - exp["macrostd_nist"]) < 1e-12
    assert m["macrostd"].value == m["macrostd_nist"].value
    for key in ("accuracy", "macrostd_population", "macrostd_nist", "worst_subgroup_acc"):
        lo, hi = m[key].ci
        assert lo <= m[key].value <= hi and m[key].ci_level == 0.9 and m[key].stderr is not None
    # cell table and per-sample records
    tab = res.tables["cell_accuracy"]
    assert len(tab["acc"]) == c and len(tab["acc"][0]) == 8 and sum(map(sum, tab["n"])) == 10_000
    assert res.tables["scoring"]["n_scored"] == 10_000
    assert res.per_sample[0] == {"id": "00000", "pred": int(gold[0]) if correct[0] else int((gold[0] + 1) % c),
                                 "correct": bool(correct[0]), "subgroup": int(sub[0])}
    # deterministic
    again = task.score(samples, _onehot_responses(gold, correct, c), ctx)
    assert {k: v.as_dict() for k, v in again.metrics.items()} == {k: v.as_dict() for k, v in m.items()}


def test_skipped_responses_and_bad_logits():
    task = Cifar10B()
    td = task.load(DataConfig(sample=True))
    gold = np.asarray([s.gold for s in td.samples])
    responses = _onehot_responses(gold, np.ones(len(gold), bool), 10)
    responses[3] = None
    responses[10] = None
    res = task.score(td.samples, responses, ScoreContext(bootstrap_resamples=0))
    assert res.tables["scoring"]["n_scored"] == len(gold) - 2
    assert res.tables["scoring"]["skipped_ids"] == ["00003", "00010"]
    assert len(res.per_sample) == len(gold) - 2 and "00003" not in {p["id"] for p in res.per_sample}
    assert res.metrics["accuracy"].ci is None
    assert any("skipped" in n for n in res.notes)
    with pytest.raises(TaskError, match="logits"):
        task.score(td.samples[:1], [ClassifyResponse(logits=np.zeros(7, np.float32))], ScoreContext())
    with pytest.raises(TaskError):
        task.score(td.samples[:2], [None, None], ScoreContext())
    with pytest.raises(TaskError):
        task.score(td.samples[:2], responses[:1], ScoreContext())


def test_ties_in_logits_go_to_the_lowest_index():
    task = Cifar10B()
    samples = [Sample(id="00000", gold=0, meta={"subgroup": 2}), Sample(id="00001", gold=4, meta={"subgroup": 2})]
    flat = [ClassifyResponse(logits=np.zeros(10, np.float32)) for _ in samples]
    res = task.score(samples, flat, ScoreContext(bootstrap_resamples=0))
    assert [p["pred"] for p in res.per_sample] == [0, 0]
    assert res.metrics["accuracy"].value == 0.5
