"""Percentile bootstrap over samples, vectorised over resamples.

A *statistic* maps resample indices to values. With ``vectorized=True`` (the default) it is called
with an int64 index array of shape ``(r, n)`` (r resamples at once, each row drawn uniformly with
replacement from ``range(n)``) and must return shape ``(r,)`` or ``(r, k)`` for k statistics
computed together. With ``vectorized=False`` it is called once per resample with a 1-D index array
and returns a scalar or a length-k vector.

Resamples are drawn in chunks of at most about two million indices (memory stays small) from one
``numpy.random.default_rng(seed)`` stream, so results depend only on ``(seed, n, resamples)``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

_CHUNK_ELEMENTS = 1 << 21


def bootstrap_samples(statistic: Callable[[np.ndarray], np.ndarray], n: int, *,
                      resamples: int = 1000, seed: int = 0, vectorized: bool = True) -> np.ndarray:
    """The bootstrap distribution: ``statistic`` on ``resamples`` resamples, shape ``(R,)`` or ``(R, k)``.

    Deterministic for a given ``(seed, n, resamples)``. ``n`` must be positive.
    """
    if n < 1:
        raise ValueError("bootstrap needs at least one sample")
    if resamples < 1:
        raise ValueError("resamples must be positive")
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, _CHUNK_ELEMENTS // n))
    parts = []
    done = 0
    while done < resamples:
        r = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(r, n), dtype=np.int64)
        if vectorized:
            vals = np.asarray(statistic(idx), dtype=np.float64)
            if vals.shape[:1] != (r,):
                raise ValueError(f"vectorised statistic returned shape {vals.shape} for {r} resamples")
        else:
            vals = np.asarray([np.asarray(statistic(row), dtype=np.float64) for row in idx])
        parts.append(vals)
        done += r
    return np.concatenate(parts, axis=0)


def percentile_interval(values: np.ndarray, level: float = 0.95):
    """Percentile interval of a bootstrap distribution ``(R,)`` or ``(R, k)``.

    Non-finite values (e.g. a resample where a statistic is undefined) are ignored. For 1-D input
    returns ``(low, high)`` floats, or ``None`` if no value is finite; for 2-D input returns two
    arrays of length k (NaN where a column has no finite value).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must lie in (0, 1), got {level}")
    vals = np.asarray(values, dtype=np.float64)
    q = [(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0]
    if vals.ndim == 1:
        fin = vals[np.isfinite(vals)]
        if fin.size == 0:
            return None
        lo, hi = np.quantile(fin, q)
        return float(lo), float(hi)
    lows, highs = [], []
    for j in range(vals.shape[1]):
        res = percentile_interval(vals[:, j], level)
        lows.append(np.nan if res is None else res[0])
        highs.append(np.nan if res is None else res[1])
    return np.asarray(lows), np.asarray(highs)


def bootstrap_ci(statistic: Callable[[np.ndarray], np.ndarray], n: int, *, resamples: int = 1000,
                 seed: int = 0, level: float = 0.95, vectorized: bool = True):
    """Percentile bootstrap confidence interval of ``statistic`` over ``n`` samples.

    Returns ``(low, high)`` (floats for a scalar statistic, arrays for a vector statistic), or
    ``None`` when ``resamples == 0``. Deterministic for a given ``seed``. See the module docstring
    for the calling convention of ``statistic``.
    """
    if resamples == 0:
        return None
    dist = bootstrap_samples(statistic, n, resamples=resamples, seed=seed, vectorized=vectorized)
    return percentile_interval(dist, level)
