"""CIFAR-B annotations (bundled JSON vs official .npy) and the MacroStd / bootstrap metrics."""

from __future__ import annotations

import csv
import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from mmharness.loaders.cifar import CLASSES, load_cifar_b_annotations
from mmharness.metrics.bootstrap import bootstrap_ci, bootstrap_samples, percentile_interval
from mmharness.metrics.classification import accuracy, top1
from mmharness.metrics.subgroup import (
    cell_accuracy,
    cell_counts,
    macro_std,
    macro_std_from_counts,
    per_class_std_from_counts,
    resampled_cell_counts,
    worst_subgroup_accuracy,
)

FIX = Path(__file__).parent / "fixtures" / "cifar_b"
DATASETS = {"cifar10_b": ("cifar10", 10), "cifar100_b": ("cifar100", 100)}

# spec section 2: subgroup totals over the 10,000 test images (published with the annotations)
SPEC_TOTALS = {
    "cifar10": [2863, 1040, 2467, 676, 401, 2114, 168, 271],
    "cifar100": [2205, 1189, 2508, 1245, 759, 1635, 207, 252],
}
SPEC_CELLS = {"cifar10": (77, 2, 3, (7, 8)), "cifar100": (722, 1, 201, (4, 8))}  # n cells, min, <5, M range


def _csv(name: str) -> dict[str, np.ndarray]:
    with open(FIX / f"{name}_subgroups.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {
        "class_name": np.asarray([r["class_name"] for r in rows]),
        "class_idx": np.asarray([int(r["class_idx"]) for r in rows]),
        "image_name": np.asarray([r["image_name"] for r in rows]),
        "rank": np.asarray([int(r["rank_within_class"]) for r in rows]),
        "subgroup": np.asarray([int(r["subgroup"]) for r in rows]),
    }


RULES = {
    "R1_correct_iff_subgroup_in_0_2": lambda d: np.isin(d["subgroup"], (0, 2)),
    "R2_correct_iff_rank_not_multiple_of_3": lambda d: d["rank"] % 3 != 0,
    "R3_correct_iff_subgroup_even_or_rank_odd": lambda d: (d["subgroup"] % 2 == 0) | (d["rank"] % 2 == 1),
}


# --------------------------------------------------------------------------- annotations


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_bundled_json_equals_official_npy(dataset):
    official = np.load(FIX / f"{dataset}_bgd_cl2img_gp_fine.npy", allow_pickle=True).item()  # trusted copy
    ann = load_cifar_b_annotations(dataset)
    doc = json.loads(ann.path.read_text())
    assert doc["classes"] == list(CLASSES[dataset])
    assert set(official) == set(doc["subgroups"])
    for c, inner in official.items():
        assert doc["subgroups"][c] == {k: int(v) for k, v in inner.items()}
        assert all(type(v) is int for v in doc["subgroups"][c].values())
    # keys sorted, and the loader's lookup table agrees with the dict
    assert list(doc) == sorted(doc)
    for inner in doc["subgroups"].values():
        assert list(inner) == sorted(inner)
    for ci, c in enumerate(CLASSES[dataset]):
        for name, g in official[c].items():
            assert ann.table[ci, int(name[:4])] == g


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
def test_subgroup_totals_and_cells_match_spec(dataset):
    ann = load_cifar_b_annotations(dataset)
    ids = ann.table[:, 1:]
    assert (ids >= 0).all() and ids.size == 10_000
    assert np.bincount(ids.ravel(), minlength=8).tolist() == SPEC_TOTALS[dataset]
    labels = np.repeat(np.arange(len(CLASSES[dataset])), ids.shape[1])
    _, n = cell_counts(np.ones(labels.size, bool), labels, ids.ravel(), len(CLASSES[dataset]))
    cells = n[n > 0]
    m = (n > 0).sum(axis=1)
    assert (cells.size, cells.min(), int((cells < 5).sum()), (m.min(), m.max())) == SPEC_CELLS[dataset]


@pytest.mark.parametrize("name", list(DATASETS))
def test_csv_fixture_agrees_with_bundled_json(name):
    dataset, _ = DATASETS[name]
    d = _csv(name)
    ann = load_cifar_b_annotations(dataset)
    assert [ann.classes[i] for i in d["class_idx"]] == d["class_name"].tolist()
    assert np.array_equal(ann.lookup(d["class_idx"], d["rank"]), d["subgroup"])
    assert all(n == "%04d.png" % r for n, r in zip(d["image_name"], d["rank"]))


# --------------------------------------------------------------------------- MacroStd on the fixture


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("rule", list(RULES))
def test_synthetic_expected_macrostd(name, rule):
    expected = json.loads((FIX / "synthetic_expected_macrostd.json").read_text())["expected"][name][rule]
    _, c = DATASETS[name]
    d = _csv(name)
    correct = RULES[rule](d)
    assert accuracy(correct) == pytest.approx(expected["overall_acc"], abs=1e-12)
    pop = macro_std(correct, d["class_idx"], d["subgroup"], c, convention="population")
    nist = macro_std(correct, d["class_idx"], d["subgroup"], c, convention="nist")
    assert abs(pop - expected["macrostd_population"]) < 1e-12
    assert abs(nist - expected["macrostd_nist"]) < 1e-12


@pytest.mark.parametrize("name", list(DATASETS))
def test_perfect_and_all_wrong_predictions_give_zero(name):
    _, c = DATASETS[name]
    d = _csv(name)
    for value in (True, False):
        correct = np.full(d["class_idx"].shape, value)
        for conv in ("population", "nist"):
            assert macro_std(correct, d["class_idx"], d["subgroup"], c, conv) == 0.0


def test_hand_computed_example_both_conventions():
    # class 0: subgroup 0 -> 2 images (both right), subgroup 1 -> 2 images (one right)
    #   acc = (1, 0.5), m = 0.75, population var = (2*0.0625 + 2*0.0625)/4 = 0.0625 -> sd 0.25
    #   nist (M = 2): var * 2 = 0.125 -> sd sqrt(0.125)
    # class 1: one subgroup (M = 1) of 3 images, 1 right -> sd 0 in both conventions
    # class 2: subgroup 0 -> 1 image right, subgroup 3 -> 3 images wrong
    #   acc = (1, 0), m = 0.25, var = (1*0.5625 + 3*0.0625)/4 = 0.1875
    #   population sd sqrt(0.1875); nist sqrt(0.375)
    correct = np.array([1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0], bool)
    cls = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    sub = np.array([0, 0, 1, 1, 5, 5, 5, 0, 3, 3, 3])
    pop = (0.25 + 0.0 + math.sqrt(0.1875)) / 3
    nist = (math.sqrt(0.125) + 0.0 + math.sqrt(0.375)) / 3
    assert macro_std(correct, cls, sub, 3, "population") == pytest.approx(pop, abs=1e-15)
    assert macro_std(correct, cls, sub, 3, "nist") == pytest.approx(nist, abs=1e-15)
    # unweighted (non-official): class 0 cells (1, 0.5) -> sd 0.25; class 1 -> 0; class 2 cells
    # (1, 0) -> mean 0.5, sd 0.5 (sizes 1 and 3 no longer matter)
    assert macro_std(correct, cls, sub, 3, "unweighted") == pytest.approx((0.25 + 0 + 0.5) / 3, abs=1e-15)
    acc, n = cell_accuracy(correct, cls, sub, 3)
    assert n[0, :2].tolist() == [2, 2] and n.sum() == 11
    assert acc[0, 0] == 1.0 and acc[0, 1] == 0.5 and math.isnan(acc[0, 2])
    sd = per_class_std_from_counts(*cell_counts(correct, cls, sub, 3), convention="nist")
    assert sd[1] == 0.0
    # cells with n >= 2: (0,0) 1.0, (0,1) 0.5, (1,5) 1/3, (2,3) 0.0; with n >= 3: (1,5), (2,3); n >= 4: none
    assert worst_subgroup_accuracy(correct, cls, sub, 3, min_n=2) == 0.0
    assert worst_subgroup_accuracy(correct, cls, sub, 3, min_n=3) == 0.0
    assert math.isnan(worst_subgroup_accuracy(correct, cls, sub, 3, min_n=4))


def test_batched_counts_match_unbatched():
    rng = np.random.default_rng(1)
    cls = rng.integers(0, 10, 500)
    sub = rng.integers(0, 8, 500)
    correct = rng.random(500) < 0.7
    kc, n = cell_counts(correct, cls, sub, 10)
    batch_k = np.stack([kc, kc // 2])
    batch_n = np.stack([n, n])
    out = macro_std_from_counts(batch_k, batch_n, "nist")
    assert out.shape == (2,)
    assert out[0] == macro_std(correct, cls, sub, 10, "nist")
    idx = rng.integers(0, 500, size=(3, 500))
    rk, rn = resampled_cell_counts(idx, correct, cls, sub, 10)
    for r in range(3):
        k1, n1 = cell_counts(correct[idx[r]], cls[idx[r]], sub[idx[r]], 10)
        assert np.array_equal(rk[r], k1) and np.array_equal(rn[r], n1)


def test_classes_without_samples_are_left_out_of_the_mean():
    correct = np.array([1, 0, 1, 1], bool)
    cls = np.array([0, 0, 0, 0])
    sub = np.array([0, 0, 1, 1])
    # only class 0 of 5 has samples: the mean is its sd (0.5 * 0.5 weighted -> sqrt(0.0625))
    assert macro_std(correct, cls, sub, 5) == pytest.approx(0.25)


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        macro_std(np.ones(3, bool), np.array([0, 1, 2]), np.array([0, 0, 8]), 3)
    with pytest.raises(ValueError):
        macro_std(np.ones(3, bool), np.array([0, 1, 3]), np.array([0, 0, 0]), 3)
    with pytest.raises(ValueError):
        macro_std(np.ones(3, bool), np.array([0, 1]), np.array([0, 0, 0]), 3)
    with pytest.raises(ValueError):
        macro_std(np.ones(3, bool), np.array([0, 1, 2]), np.array([0, 0, 0]), 3, convention="sample")
    with pytest.raises(ValueError):
        accuracy(np.array([], bool))


# --------------------------------------------------------------------------- classification


def test_top1_ties_go_to_lowest_index_and_nan_is_refused():
    logits = np.array([[0.1, 0.9, 0.9], [2.0, 2.0, 1.0], [-1.0, -3.0, 5.0]])
    assert top1(logits).tolist() == [1, 0, 2]
    assert top1(logits).dtype == np.int64
    with pytest.raises(ValueError):
        top1(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError):
        top1(np.zeros(3))
    assert accuracy(np.array([1, 0, 1, 1])) == 0.75


# --------------------------------------------------------------------------- bootstrap


def _fixture_stat(name="cifar10_b"):
    _, c = DATASETS[name]
    d = _csv(name)
    correct = RULES["R3_correct_iff_subgroup_even_or_rank_odd"](d)

    def stat(idx):
        kc, n = resampled_cell_counts(idx, correct, d["class_idx"], d["subgroup"], c)
        return macro_std_from_counts(kc, n, "population")

    point = macro_std(correct, d["class_idx"], d["subgroup"], c)
    return stat, correct, point


def test_bootstrap_deterministic_and_contains_point():
    stat, correct, point = _fixture_stat()
    a = bootstrap_ci(stat, correct.size, resamples=200, seed=7)
    b = bootstrap_ci(stat, correct.size, resamples=200, seed=7)
    c = bootstrap_ci(stat, correct.size, resamples=200, seed=8)
    assert a == b and a != c
    assert a[0] < point < a[1]
    acc_ci = bootstrap_ci(lambda idx: correct[idx].mean(axis=1), correct.size, resamples=200, seed=0)
    assert acc_ci[0] < correct.mean() < acc_ci[1]
    assert bootstrap_ci(stat, correct.size, resamples=0) is None


def test_bootstrap_per_resample_mode_matches_vectorised():
    x = np.random.default_rng(3).random(50)
    vec = bootstrap_samples(lambda idx: x[idx].mean(axis=1), 50, resamples=40, seed=5)
    loop = bootstrap_samples(lambda idx: x[idx].mean(), 50, resamples=40, seed=5, vectorized=False)
    assert np.allclose(vec, loop)
    multi = bootstrap_samples(lambda idx: np.stack([x[idx].mean(1), x[idx].max(1)], -1), 50,
                              resamples=40, seed=5)
    assert multi.shape == (40, 2) and np.allclose(multi[:, 0], vec)
    lo, hi = percentile_interval(multi, 0.9)
    assert lo.shape == (2,) and (lo <= hi).all()
    assert percentile_interval(np.array([np.nan, np.nan])) is None


def test_bootstrap_1000_resamples_of_10000_is_fast():
    stat, correct, _ = _fixture_stat("cifar100_b")
    stat(np.zeros((1, correct.size), dtype=np.int64))  # warm up
    t = time.perf_counter()
    ci = bootstrap_ci(stat, correct.size, resamples=1000, seed=0)
    elapsed = time.perf_counter() - t
    assert ci is not None
    assert elapsed < 1.0, f"1000 resamples took {elapsed:.2f} s"
