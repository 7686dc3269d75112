"""Per-customer predictions over parameter draws, reduced chunk by chunk.

A prediction with uncertainty is a function of the customer's history and of the
parameters, evaluated for every customer and every parameter draw (posterior
draws of a Bayesian fit, asymptotic normal draws of a maximum-likelihood fit).
For a million customers and 4,000 draws that is 32 GB of float64, so
:func:`reduce_draws` never forms it: it

1. finds the distinct histories (customers with the same history get the same
   prediction) and sorts them, so that neighbouring histories share the
   expensive parts of the formulas;
2. evaluates the function on blocks of distinct histories, a block holding at
   most ``max_bytes`` of values, and reduces each block at once to the mean
   and the equal-tailed quantiles over the draws;
3. expands the per-history results to the customers.

Memory is the block plus three numbers per customer and column, whatever the
number of draws. Only ``return_draws=True`` materialises every draw of every
customer (the caller asked for it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..rows import group_rows, worth_grouping

__all__ = ["DrawSummary", "interval_quantiles", "reduce_draws"]

#: Default size of a block of values (customers x draws x columns), in bytes.
MAX_BYTES = 64 * 2**20


def interval_quantiles(interval: float) -> tuple[float, float]:
    """The quantiles bounding a central (equal-tailed) interval, e.g. 0.9 -> (0.05, 0.95)."""
    if isinstance(interval, bool) or not 0 < float(interval) < 1:
        raise ValueError(f"interval must be between 0 and 1 (e.g. 0.9), got {interval!r}.")
    return (1.0 - float(interval)) / 2.0, (1.0 + float(interval)) / 2.0


@dataclass
class DrawSummary:
    """Per-customer results of :func:`reduce_draws` (arrays of shape ``(customers, k)``).

    ``lower``/``upper`` are ``None`` without an interval, ``draws`` (shape
    ``(customers, k, n_draws)``) is ``None`` unless asked for; ``n_undefined``
    counts the (customer, column, draw) values that were NaN (left out of the
    mean and quantiles of that customer).
    """

    mean: np.ndarray
    lower: np.ndarray | None
    upper: np.ndarray | None
    draws: np.ndarray | None
    n_undefined: int


def _groups(columns: Sequence[np.ndarray]):
    """``(codes, first)`` of the distinct rows, sorted lexicographically by the
    columns (first column slowest), or ``None`` when grouping does not pay."""
    n = len(columns[0])
    if n < 2 or not worth_grouping(columns):
        return None
    codes, first = group_rows(columns)
    if len(first) > 0.9 * n:
        return None
    order = np.lexsort([c[first] for c in reversed(columns)])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[codes], first[order]


def reduce_draws(
    columns: Sequence[np.ndarray],
    func: Callable[[list[np.ndarray], np.ndarray], np.ndarray],
    draws: np.ndarray,
    *,
    interval: float | None = None,
    return_draws: bool = False,
    max_bytes: int = MAX_BYTES,
    group: bool = True,
) -> DrawSummary:
    """Mean (and equal-tailed interval) over parameter draws of a per-customer function.

    Parameters
    ----------
    columns
        Per-customer arrays (e.g. frequency, recency, T), all of one length.
    func
        ``func(block_columns, draws) -> values`` with ``values`` of shape
        ``(rows, n_draws, k)``: the prediction of each row of the block for
        each draw (``draws`` has shape ``(n_draws, n_params)``).
    draws
        Parameter draws, one row per draw.
    interval
        Central probability of the interval (e.g. 0.9: the 5% and 95%
        quantiles over the draws, linear interpolation as ``numpy.quantile``).
    return_draws
        Also keep every value (shape ``(customers, k, n_draws)``).
    max_bytes
        Size of a block of values; the peak memory is a small multiple of it.
    group
        Evaluate once per distinct row of ``columns``.

    Returns
    -------
    DrawSummary
    """
    draws = np.atleast_2d(np.asarray(draws, dtype=float))
    n_draws = draws.shape[0]
    grouping = _groups(columns) if (group and columns) else None
    if grouping is None:
        codes, rows = None, [np.asarray(c) for c in columns]
    else:
        codes, first = grouping
        rows = [np.asarray(c)[first] for c in columns]
    n_rows = len(rows[0]) if rows else 1
    qs = interval_quantiles(interval) if interval is not None else None

    mean = lower = upper = kept = undefined = None
    start, block = 0, None
    while start < n_rows:
        if block is None:  # size the blocks on the first one
            block = max(1, min(n_rows, 64))
        stop = min(n_rows, start + block)
        part = [c[start:stop] for c in rows]
        values = np.asarray(func(part, draws), dtype=float)
        if values.ndim == 2:
            values = values[:, :, None]
        if values.shape[:2] != (stop - start, n_draws):
            raise ValueError(f"func returned shape {values.shape}, expected "
                             f"({stop - start}, {n_draws}, k).")
        k = values.shape[2]
        if mean is None:
            mean = np.empty((n_rows, k))
            if qs is not None:
                lower, upper = np.empty((n_rows, k)), np.empty((n_rows, k))
            if return_draws:
                kept = np.empty((n_rows, k, n_draws))
        bad = np.isnan(values)
        n_bad = int(bad.sum())
        if n_bad:
            if undefined is None:
                undefined = np.zeros(n_rows, dtype=np.int64)
            undefined[start:stop] = bad.sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            if n_bad:
                with warnings.catch_warnings():  # all-NaN rows give NaN, as intended
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean[start:stop] = np.nanmean(values, axis=1)
                    if qs is not None:
                        q = np.nanquantile(values, qs, axis=1)
            else:
                mean[start:stop] = values.mean(axis=1)
                if qs is not None:
                    q = np.quantile(values, qs, axis=1)
        if qs is not None:
            lower[start:stop], upper[start:stop] = q[0], q[1]
        if return_draws:
            kept[start:stop] = np.swapaxes(values, 1, 2)
        per_row = n_draws * k * 8
        block = max(1, int(max_bytes // per_row))
        start = stop

    def expand(a):
        return None if a is None else (a if codes is None else a[codes])

    n_undefined = 0 if undefined is None else int(expand(undefined).sum())
    return DrawSummary(expand(mean), expand(lower), expand(upper), expand(kept), n_undefined)
