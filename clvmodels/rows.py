"""Rows of float columns: hashing, exact grouping and fingerprints (a leaf module).

Fitting compresses identical customer histories into weighted rows, predictions
evaluate formulas once per distinct row, and a fitted model keeps a fingerprint
of the rows it saw. All three use the helpers here; this module imports nothing
from clvmodels, so the model, inference and persistence modules can all use it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["compress", "fingerprint", "group_rows", "row_hashes", "worth_grouping"]

_U64 = np.uint64


def _mix64(u: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    u = (u ^ (u >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    u = (u ^ (u >> _U64(27))) * _U64(0x94D049BB133111EB)
    return u ^ (u >> _U64(31))


def row_hashes(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row of float columns (deterministic across runs)."""
    h = np.full(len(arrays[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            bits = (np.ascontiguousarray(a, dtype=np.float64) + 0.0).view(np.uint64)  # -0 -> 0
            h ^= bits
            h *= _U64(0xFF51AFD7ED558CCD)
            h ^= h >> _U64(29)
    return _mix64(h)


def group_rows(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Exact grouping of identical rows: ``(codes, first)``.

    ``codes[i]`` is the group of row ``i`` (in order of first appearance) and
    ``first[g]`` the first row of group ``g``. Rows are grouped by a 64-bit hash,
    then checked column by column; in the (astronomically rare) case of a hash
    collision pandas' exact groupby is used instead.
    """
    n = len(arrays[0])
    codes, uniques = pd.factorize(row_hashes(arrays))
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    if not all(np.array_equal(a[first][codes], a) for a in arrays):  # pragma: no cover
        frame = pd.DataFrame({f"c{i}": a for i, a in enumerate(arrays)})
        codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        first = np.empty(int(codes.max()) + 1, dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return codes, first


def worth_grouping(arrays: Sequence[np.ndarray], sample: int = 100_000,
                   max_distinct: float = 0.9) -> bool:
    """Whether grouping identical rows will pay: always for small data; for large
    data, when a random sample of ``sample`` rows has at most ``max_distinct``
    distinct rows (continuous ages do not repeat, whole days do)."""
    n = len(arrays[0])
    if n <= 2 * sample:
        return True
    rows = np.random.default_rng(0).choice(n, size=sample, replace=False)
    distinct = len(pd.unique(row_hashes([a[rows] for a in arrays])))
    return distinct <= max_distinct * sample


def compress(arrays: list[np.ndarray], weights: np.ndarray):
    """Merge identical rows, summing their weights (when that pays): ``(arrays, weights)``."""
    if not worth_grouping(arrays):
        return [np.ascontiguousarray(a, dtype=float) for a in arrays], weights
    codes, first = group_rows(arrays)
    cw = np.bincount(codes, weights=weights, minlength=len(first))
    return [a[first] for a in arrays], cw


def fingerprint(data: list[np.ndarray], weights: np.ndarray) -> dict:
    """Number of customers and a hash of the multiset of (row, weight).

    Order-independent and additive over identical rows, so a summary, its
    row permutations and its compressed form (rows with weights) share it.
    """
    h = row_hashes(data)
    w = np.round(np.asarray(weights, dtype=float) * 1e6).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        total = np.sum(h * w, dtype=np.uint64)
    n = float(weights.sum())
    digest = hashlib.sha256(np.uint64(total).tobytes() + repr(n).encode()).hexdigest()
    return {"n_customers": int(round(n)) if n.is_integer() else n, "sha256": digest}
