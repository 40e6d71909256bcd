"""Metrics declared once: a spec, the per-sample quantities, an aggregation; one rule for the rest.

A task declares each metric it can recompute from per-sample quantities as a :class:`Declared`:
its :class:`~mmharness.task.MetricSpec` (direction, range, chance, official or not) and an
:class:`Aggregate` (which per-sample columns it needs and how they aggregate: :func:`mean`,
:func:`mean_finite`, :func:`macro_mean`, :func:`signed_macro_means`, or any vectorised function of the columns, such as
MacroStd from the per-(class, subgroup) counts). From that one declaration the core derives:

* the value, the percentile-bootstrap CI and the standard error, by :func:`score_declared`, with
  one rule for every task (below);
* the paired bootstrap difference of two runs (``mmh compare``), by :func:`paired_intervals`, with
  the columns read back from the per-sample logs by :func:`columns_from_log`;
* the leaderboard cell, which reads the value and the spec recorded in the results.

**The rule.** The value is the aggregate on the scored samples (the identity resample). Resamples
are drawn by :func:`mmharness.metrics.bootstrap.bootstrap_samples` (``seed``, ``resamples``: the
same index draws for every metric of a task, so metrics computed together or apart get the same
intervals). The CI is the percentile interval of the finite resample values
(:func:`~mmharness.metrics.bootstrap.percentile_interval`); the standard error is the sample
standard deviation (``ddof=1``) of the finite resample values, None when fewer than two are
finite. A metric whose value is not finite (e.g. a mean over an empty subgroup) is not reported;
:class:`DeclaredScores` lists it under ``undefined``.

**Aggregates** are vectorised over resamples: ``aggregate(res)`` gets a :class:`Resample` (the
columns under an int index array of shape ``(r, n)``) and returns shape ``(r,)``. Work shared by
several metrics (e.g. the cell counts behind four MacroStd variants) goes through
:meth:`Resample.shared`, computed once per batch of resamples.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..task import MetricSpec, MetricValue, ScoreContext
from .bootstrap import bootstrap_samples, percentile_interval

Columns = Mapping[str, np.ndarray]


class Resample:
    """The per-sample columns under one batch of resample indices.

    ``idx`` is an int array ``(r, n)`` of indices into the columns (the identity resample is
    ``arange(n)[None, :]``). ``res[name]`` is ``columns[name][idx]`` (computed once per name);
    ``res.full(name)`` is the unresampled column (for quantities fixed by the data, such as the set
    of groups); :meth:`shared` memoises work common to several aggregates."""

    def __init__(self, columns: Columns, idx: np.ndarray):
        self.columns = columns
        self.idx = idx
        self._taken: dict[str, np.ndarray] = {}
        self._shared: dict[Any, Any] = {}

    @property
    def r(self) -> int:
        """Number of resamples in this batch."""
        return int(self.idx.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        got = self._taken.get(name)
        if got is None:
            got = self._taken[name] = np.asarray(self.columns[name])[self.idx]
        return got

    def full(self, name: str) -> np.ndarray:
        """The column ``name`` over all samples, not resampled."""
        return np.asarray(self.columns[name])

    def shared(self, key: Any, compute: Callable[["Resample"], Any]) -> Any:
        """``compute(self)``, once per ``key`` for this batch of resamples."""
        if key not in self._shared:
            self._shared[key] = compute(self)
        return self._shared[key]


@dataclass(frozen=True)
class Aggregate:
    """How per-sample columns become one number: ``needs`` (the column names, each a per-sample
    score field of the task's sample log, or ``gold``), ``fn(res) -> (r,)`` vectorised over
    resamples, and ``describe`` (one line, for task cards and error messages)."""

    needs: tuple[str, ...]
    fn: Callable[[Resample], np.ndarray]
    describe: str

    def __call__(self, res: Resample) -> np.ndarray:
        return self.fn(res)


@dataclass(frozen=True)
class Declared:
    """One declared metric: its spec and its aggregate. ``name`` is the spec's."""

    spec: MetricSpec
    aggregate: Aggregate

    @property
    def name(self) -> str:
        return self.spec.name


def _float(res: Resample, name: str) -> np.ndarray:
    return res.shared(("float", name), lambda r: r[name].astype(np.float64, copy=False))


def mean(column: str) -> Aggregate:
    """The mean of a numeric (or boolean) per-sample column."""
    return Aggregate((column,), lambda res: _float(res, column).mean(axis=1), f"mean of {column}")


def mean_finite(column: str) -> Aggregate:
    """The mean of a numeric column over its finite entries (NaN marks a row without the quantity,
    e.g. a unit without that view)."""

    def fn(res: Resample) -> np.ndarray:
        v = _float(res, column)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.nansum(v, axis=1) / np.isfinite(v).sum(axis=1)

    return Aggregate((column,), fn, f"mean of the finite {column}")


def group_codes(res: Resample, by: str, order: Sequence[str] = (), key: Callable[[Any], str] = str
                ) -> tuple[np.ndarray, list[str]]:
    """The group of every row of the full column ``by`` (``key`` of its value) as an int code, and
    the groups: those of ``order`` present in the data, then any others sorted. Fixed by the data,
    so computed once per batch of resamples."""

    def compute(r: Resample):
        keys = [key(v) for v in r.full(by).tolist()]
        present = set(keys)
        groups = [g for g in order if g in present] + sorted(present - set(order))
        pos = {g: j for j, g in enumerate(groups)}
        return np.asarray([pos[k] for k in keys], dtype=np.int64), groups

    return res.shared(("group_codes", by, tuple(order), key), compute)


def group_sums(res: Resample, values: np.ndarray, counted: np.ndarray, by: str, order: Sequence[str] = (),
               key: Callable[[Any], str] = str) -> tuple[np.ndarray, np.ndarray]:
    """Per resample and group (:func:`group_codes`): the sum of ``values`` and the number of rows
    where ``counted`` (both full-length per-row arrays; ``values`` must be 0 where not counted),
    shapes ``(r, k)``."""
    code, groups = group_codes(res, by, order, key)
    k = len(groups)
    offs = (np.arange(res.r)[:, None] * k + code[res.idx]).reshape(-1)
    sums = np.bincount(offs, weights=values[res.idx].reshape(-1), minlength=res.r * k).reshape(res.r, k)
    counts = np.bincount(offs, weights=counted[res.idx].reshape(-1).astype(np.float64),
                         minlength=res.r * k).reshape(res.r, k)
    return sums, counts


def mean_of_group_means(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The unweighted mean, over the groups with a row (count > 0), of each group's mean
    ``sums / counts``; NaN where no group has one. Last axis: groups."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no group at all
        return np.nanmean(np.where(counts > 0, sums / counts, np.nan), axis=-1)


def macro_mean(column: str, by: str, order: Sequence[str] = (), key: Callable[[Any], str] = str) -> Aggregate:
    """The unweighted mean over the groups of ``by`` (:func:`group_codes`) of the mean of the
    finite ``column`` values within each group (groups absent from a resample are left out of that
    resample's mean)."""

    def fn(res: Resample) -> np.ndarray:
        v = res.full(column).astype(np.float64)
        ok = np.isfinite(v)
        return mean_of_group_means(*group_sums(res, np.where(ok, v, 0.0), ok, by, order, key))

    return Aggregate((column, by), fn, f"mean over {by} of the mean of {column}")


def custom(needs: Sequence[str], fn: Callable[[Resample], np.ndarray], describe: str) -> Aggregate:
    """Any vectorised function of the columns ``needs``."""
    return Aggregate(tuple(needs), fn, describe)


def declare(specs: Sequence[MetricSpec], **aggregates: Aggregate) -> tuple[Declared, ...]:
    """Pair each aggregate with the spec of the same name, in the order the aggregates are given
    (the order of the results). A name without a spec is a programming error (ValueError); specs
    without an aggregate are metrics the task computes another way (not recomputable from
    per-sample quantities)."""
    by_name = {s.name: s for s in specs}
    unknown = sorted(set(aggregates) - set(by_name))
    if unknown:
        raise ValueError(f"aggregates for metric(s) without a MetricSpec: {unknown}")
    return tuple(Declared(by_name[name], agg) for name, agg in aggregates.items())


@dataclass
class DeclaredScores:
    """What :func:`score_declared` returns: the values (name -> MetricValue, in declaration order)
    and the names whose value is not finite on these samples (not reported)."""

    values: dict[str, MetricValue] = field(default_factory=dict)
    undefined: list[str] = field(default_factory=list)


def _stack(decls: Sequence[Declared], columns: Columns) -> Callable[[np.ndarray], np.ndarray]:
    def stat(idx: np.ndarray) -> np.ndarray:
        res = Resample(columns, idx)
        return np.stack([np.asarray(d.aggregate(res), dtype=np.float64) for d in decls], axis=-1)

    return stat


def _n_rows(columns: Columns, decls: Sequence[Declared]) -> int:
    sizes = {name: len(columns[name]) for d in decls for name in d.aggregate.needs}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"per-sample columns of different lengths: {sizes}")
    return next(iter(sizes.values()), 0)


def reproduces(got: float, want: float) -> bool:
    """Whether an aggregate's value ``got`` reproduces the value ``want`` recorded or computed
    another way: finite and within 1e-9 + 1e-7 * |want| (summation order may differ)."""
    return math.isfinite(got) and abs(got - want) <= 1e-9 + 1e-7 * abs(want)


def interval_and_stderr(dist: np.ndarray, level: float) -> tuple[tuple[float, float] | None, float | None]:
    """The one rule: percentile interval and ``ddof=1`` standard deviation of the finite values
    of a bootstrap distribution ``(R,)`` (None, None when nothing is finite)."""
    ci = percentile_interval(dist, level)
    fin = dist[np.isfinite(dist)]
    return ci, (float(np.std(fin, ddof=1)) if fin.size > 1 else None)


def score_declared(decls: Sequence[Declared], columns: Columns, ctx: ScoreContext,
                   values: Mapping[str, float] | None = None) -> DeclaredScores:
    """Value, CI and standard error of every declared metric on ``columns`` (one row per scored
    sample, or per :class:`Unit`), by the rule in the module docstring. ``ctx`` gives the seed, the
    number of resamples (0: no CI, no standard error) and the CI level. ``values``: the value of a
    metric whose official computation is not its aggregate (PixelWorld's official pipeline); the
    aggregate then gives the interval, and must reproduce that value on the identity resample
    (relative tolerance 1e-7), else the metric gets no interval."""
    out = DeclaredScores()
    if not decls:
        return out
    n = _n_rows(columns, decls)
    if n < 1:
        out.undefined = [d.name for d in decls]
        return out
    stat = _stack(decls, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point = stat(np.arange(n, dtype=np.int64)[None, :])[0]
        dist = (bootstrap_samples(stat, n, resamples=ctx.bootstrap_resamples, seed=ctx.seed)
                if ctx.bootstrap_resamples > 0 else None)
    for j, d in enumerate(decls):
        v = float(point[j])
        given = (values or {}).get(d.name)
        agrees = True
        if given is not None:
            agrees = reproduces(v, given)
            v = float(given)
        if not math.isfinite(v):
            out.undefined.append(d.name)
            continue
        ci, se = interval_and_stderr(dist[:, j], ctx.ci_level) if dist is not None and agrees else (None, None)
        out.values[d.name] = MetricValue(v, ci=ci, ci_level=ctx.ci_level if ci is not None else None, stderr=se)
    return out


def signed_macro_means(terms: Sequence[tuple[str, float]], by: str, order: Sequence[str] = ()) -> Aggregate:
    """sum_j sign_j * (mean over the groups of ``by`` of the mean of column_j within the group),
    over the rows where every term's column is finite (a paired difference when two terms have
    signs +1 and -1: the same rows enter both). Groups follow ``order``, then any others sorted;
    a group without a row in a resample is left out of that resample's mean."""
    cols = tuple(c for c, _ in terms)

    def fn(res: Resample) -> np.ndarray:
        vals = [res.full(c).astype(np.float64) for c in cols]
        ok = np.logical_and.reduce([np.isfinite(v) for v in vals])
        total = np.zeros(res.r)
        for (_, sign), v in zip(terms, vals):
            total = total + sign * mean_of_group_means(*group_sums(res, np.where(ok, v, 0.0), ok, by, order))
        return total

    desc = " ".join(f"{'+' if sg > 0 else '-'} mean over {by} of {c}" for c, sg in terms).lstrip("+ ")
    return Aggregate(cols + (by,), fn, desc)


@dataclass(frozen=True)
class Unit:
    """The resampling unit of a task whose samples are several views of one item (PixelWorld: one
    sample per item and input mode; SNARE yes/no: one per item and option). Per-sample rows are
    grouped by their ``key`` field (one row per unit, in sorted key order); each field of
    ``spread_fields`` becomes one column per value of the ``spread`` field (``score@text``,
    ``score@img``; NaN where a unit lacks that view), and each of ``shared_fields`` (the same in every
    view, e.g. the sub-task) is taken from the unit's first row."""

    key: str
    spread: str
    spread_fields: tuple[str, ...] = ()
    shared_fields: tuple[str, ...] = ()


def pivot_rows(rows: Sequence[Mapping[str, Any]], unit: Unit) -> tuple[list[str], dict[str, np.ndarray], dict[str, str]]:
    """Per-sample rows (flat dicts: a sample log row's ``scores``, or the task's own per-sample
    records) as one row per unit: ``(unit keys, columns, why a column is missing)``."""
    by_key: dict[str, dict[str, Mapping[str, Any]]] = {}
    why: dict[str, str] = {}
    for r in rows:
        if unit.key not in r or unit.spread not in r:
            why["*"] = f"a per-sample row has no {unit.key!r}/{unit.spread!r} field (sample {r.get('id')})"
            return [], {}, why
        by_key.setdefault(str(r[unit.key]), {})[str(r[unit.spread])] = r
    keys = sorted(by_key)
    views = sorted({v for d in by_key.values() for v in d})
    cols: dict[str, np.ndarray] = {}
    for f in unit.spread_fields:
        for v in views:
            cols[f"{f}@{v}"] = np.asarray([np.nan if (x := by_key[k].get(v, {}).get(f)) is None else float(x)
                                           for k in keys], dtype=np.float64)
    for f in unit.shared_fields:
        cols[f] = np.asarray([str(next(iter(by_key[k].values())).get(f)) for k in keys])
    return keys, cols, why


def columns_from_log(decls: Sequence[Declared], rows: Sequence[dict]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The columns the declarations need, read from per-sample log rows (``scores[name]``, else the
    row's own field, e.g. ``gold``; booleans as 0/1, None as NaN), and for each column that some
    row lacks, why it is unavailable."""
    cols: dict[str, np.ndarray] = {}
    why: dict[str, str] = {}
    for name in dict.fromkeys(n for d in decls for n in d.aggregate.needs):
        vals = []
        for r in rows:
            s = r.get("scores") if isinstance(r.get("scores"), dict) else {}
            if name in s:
                v = s[name]
            elif name in r:
                v = r[name]
            else:
                why[name] = f"the per-sample log has no field {name!r} (sample {r.get('id')})"
                break
            vals.append(np.nan if v is None else (float(v) if isinstance(v, bool) else v))
        else:
            arr = np.asarray(vals)
            if arr.dtype == object:  # mixed types: compare as strings
                arr = np.asarray([str(v) for v in vals])
            cols[name] = arr
    return cols, why


def verified(decls: Sequence[Declared], columns: Columns, recorded: Mapping[str, Any], missing: Mapping[str, str]
             ) -> tuple[list[Declared], dict[str, str]]:
    """The declarations that reproduce the ``recorded`` values (name -> ``{"value": ...}``) on
    ``columns``, and for the others why not (a missing column, or the value they give)."""
    ok: list[Declared] = []
    why: dict[str, str] = {}
    n = next((len(v) for v in columns.values()), 0)
    ident = np.arange(n, dtype=np.int64)[None, :]
    for d in decls:
        if d.name not in recorded:
            continue
        lacking = [missing[c] for c in d.aggregate.needs if c in missing]
        if lacking:
            why[d.name] = lacking[0]
            continue
        rec = (recorded[d.name] or {}).get("value")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            got = float(np.asarray(d.aggregate(Resample(columns, ident)), dtype=np.float64).reshape(-1)[0]) \
                if n else math.nan
        if rec is None or not reproduces(got, rec):
            why[d.name] = f"the per-sample scores give {got:.6g}, not the recorded {rec}"
            continue
        ok.append(d)
    return ok, why


def paired_intervals(decls_a: Sequence[Declared], cols_a: Columns, rows_a: np.ndarray,
                     decls_b: Sequence[Declared], cols_b: Columns, rows_b: np.ndarray, *,
                     resamples: int, seed: int, level: float) -> dict[str, tuple[float, float] | None]:
    """Percentile interval of the paired bootstrap difference B - A of each declared metric.

    ``decls_a`` and ``decls_b`` name the same metrics in the same order (each run's own
    declarations, built from its own task options); ``rows_a[i]`` and ``rows_b[i]`` are the rows of
    the i-th common item in each run's columns, and a resample of items applies to both runs. None
    where no resampled difference is finite."""
    if [d.name for d in decls_a] != [d.name for d in decls_b]:
        raise ValueError("paired_intervals: the two runs' declarations name different metrics")
    if not decls_a:
        return {}
    sa, sb = _stack(decls_a, cols_a), _stack(decls_b, cols_b)

    def stat(idx: np.ndarray) -> np.ndarray:
        return sb(rows_b[idx]) - sa(rows_a[idx])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        dist = bootstrap_samples(stat, len(rows_a), resamples=resamples, seed=seed)
    return {d.name: percentile_interval(dist[:, j], level) for j, d in enumerate(decls_a)}
