"""The metric-declaration core (mmharness.metrics.declare): one rule for values, intervals and
standard errors, the aggregates against hand computations, units and paired intervals."""

import numpy as np
import pytest

from mmharness.metrics.bootstrap import bootstrap_samples
from mmharness.metrics.declare import (
    Resample,
    Unit,
    columns_from_log,
    declare,
    group_codes,
    macro_mean,
    mean,
    mean_finite,
    paired_intervals,
    pivot_rows,
    score_declared,
    signed_macro_means,
    verified,
)
from mmharness.task import MetricSpec, ScoreContext

SPECS = (MetricSpec("acc", True), MetricSpec("macro", True), MetricSpec("rate", False))


def ident(n):
    return np.arange(n)[None, :]


def test_one_rule_for_value_interval_and_stderr():
    correct = np.array([1, 0, 1, 1, 0, 1, 1, 1, 0, 1], dtype=float)
    ctx = ScoreContext(seed=3, bootstrap_resamples=400, ci_level=0.9)
    got = score_declared(declare(SPECS, acc=mean("correct")), {"correct": correct}, ctx).values["acc"]
    dist = bootstrap_samples(lambda idx: correct[idx].mean(axis=1), 10, resamples=400, seed=3)
    assert got.value == 0.7
    assert got.ci == tuple(np.quantile(dist, [0.05, 0.95])) and got.ci_level == 0.9
    assert got.stderr == pytest.approx(np.std(dist, ddof=1))
    # without resamples: the value only
    bare = score_declared(declare(SPECS, acc=mean("correct")), {"correct": correct}, ScoreContext(bootstrap_resamples=0))
    assert bare.values["acc"].ci is None and bare.values["acc"].stderr is None


def test_undefined_values_are_listed_not_reported():
    out = score_declared(declare(SPECS, acc=mean("c"), rate=mean_finite("u")),
                         {"c": np.ones(4), "u": np.full(4, np.nan)}, ScoreContext(bootstrap_resamples=50))
    assert list(out.values) == ["acc"] and out.undefined == ["rate"]


def test_official_value_gets_the_interval_only_when_the_aggregate_reproduces_it():
    cols = {"c": np.array([1.0, 0.0, 1.0, 0.0])}
    decls = declare(SPECS, acc=mean("c"))
    ctx = ScoreContext(bootstrap_resamples=100)
    same = score_declared(decls, cols, ctx, values={"acc": 0.5 + 1e-12}).values["acc"]
    assert same.value == 0.5 + 1e-12 and same.ci is not None
    other = score_declared(decls, cols, ctx, values={"acc": 0.75}).values["acc"]
    assert other.value == 0.75 and other.ci is None and other.stderr is None


def test_declare_refuses_a_metric_without_a_spec_and_keeps_the_given_order():
    with pytest.raises(ValueError, match="without a MetricSpec"):
        declare(SPECS, accuracy=mean("c"))
    assert [d.name for d in declare(SPECS, rate=mean("u"), acc=mean("c"))] == ["rate", "acc"]


def test_macro_mean_against_a_hand_computation():
    v = np.array([1, 0, 1, 1, np.nan, 0.5])
    g = np.array(["b", "b", "a", "a", "c", "c"])
    res = Resample({"v": v, "g": g}, ident(6))
    assert group_codes(res, "g", order=("c", "b"))[1] == ["c", "b", "a"]  # order first, then the rest sorted
    # group means: b 0.5, a 1.0, c 0.5 (the NaN row is left out)
    assert macro_mean("v", "g", order=("c", "b"))(res)[0] == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    # a resample holding only group a
    only_a = Resample({"v": v, "g": g}, np.array([[2, 3, 2, 3, 2, 3]]))
    assert macro_mean("v", "g")(only_a)[0] == 1.0


def test_signed_macro_means_pairs_the_rows_where_every_term_is_finite():
    x = np.array([1.0, 0.0, 1.0, np.nan])
    y = np.array([0.0, 0.0, 0.0, 1.0])
    g = np.array(["s", "s", "t", "t"])
    res = Resample({"x": x, "y": y, "g": g}, ident(4))
    # row 3 lacks x, so it leaves y too: x - y over rows 0-2 = mean(0.5, 1.0) - mean(0, 0)
    assert signed_macro_means([("x", 1.0), ("y", -1.0)], "g")(res)[0] == pytest.approx(0.75)
    assert signed_macro_means([("y", 1.0)], "g")(res)[0] == pytest.approx(0.25)  # alone it keeps row 3: (0 + 0.5) / 2


def test_pivot_rows_one_row_per_unit():
    rows = [{"item": "b", "mode": "text", "score": 1.0, "subset": "s1"},
            {"item": "a", "mode": "img", "score": 0.0, "subset": "s2"},
            {"item": "a", "mode": "text", "score": 0.5, "subset": "s2"}]
    keys, cols, why = pivot_rows(rows, Unit("item", "mode", ("score",), ("subset",)))
    assert keys == ["a", "b"] and why == {}
    assert cols["score@text"].tolist() == [0.5, 1.0]
    assert cols["score@img"][0] == 0.0 and np.isnan(cols["score@img"][1])
    assert cols["subset"].tolist() == ["s2", "s1"]
    _, _, why = pivot_rows([{"id": "x", "score": 1}], Unit("item", "mode"))
    assert "no 'item'/'mode' field (sample x)" in why["*"]


def test_columns_from_log_and_verification_name_what_is_missing():
    decls = declare(SPECS, acc=mean("correct"), rate=mean("unparsed"))
    rows = [{"id": "0", "scores": {"correct": True}}, {"id": "1", "scores": {"correct": False}}]
    cols, missing = columns_from_log(decls, rows)
    assert cols["correct"].tolist() == [1.0, 0.0] and "no field 'unparsed' (sample 0)" in missing["unparsed"]
    ok, why = verified(decls, cols, {"acc": {"value": 0.5}, "rate": {"value": 0.0}}, missing)
    assert [d.name for d in ok] == ["acc"] and "no field 'unparsed'" in why["rate"]
    _, why = verified(decls, cols, {"acc": {"value": 0.25}}, missing)
    assert why["acc"] == "the per-sample scores give 0.5, not the recorded 0.25"


def test_paired_intervals_of_identical_runs_and_of_a_constant_shift():
    a = {"c": np.array([1.0, 0.0, 1.0, 0.0, 1.0])}
    b = {"c": np.array([1.0, 1.0, 1.0, 1.0, 1.0])}
    rows = np.arange(5)
    decls = declare(SPECS, acc=mean("c"))
    assert paired_intervals(decls, a, rows, decls, a, rows, resamples=100, seed=0, level=0.95)["acc"] == (0.0, 0.0)
    lo, hi = paired_intervals(decls, a, rows, decls, b, rows, resamples=300, seed=0, level=0.95)["acc"]
    assert 0.0 <= lo < 0.4 < hi <= 1.0
    with pytest.raises(ValueError, match="different metrics"):
        paired_intervals(decls, a, rows, declare(SPECS, rate=mean("c")), b, rows, resamples=10, seed=0, level=0.9)
