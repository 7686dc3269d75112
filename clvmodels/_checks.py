"""Checks shared by the models: a summary must obey the RFM rules before a fit."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from .exceptions import DataError

__all__ = ["check_summary", "fail_rows", "finite_numbers"]


def fail_rows(mask, values, *, column: str, rule: str, what: str) -> None:
    """Raise a :class:`DataError` if any row of ``mask`` is true.

    ``what`` completes the sentence "N rows of column 'c' ...".
    """
    mask = np.asarray(mask, dtype=bool)
    n_bad = int(mask.sum())
    if n_bad:
        examples = pd.Series(values)[mask].head(5).tolist()
        raise DataError(
            f"{n_bad} row(s) of column {column!r} {what}.",
            column=column, rule=rule, n_rows=n_bad, examples=examples,
        )


def finite_numbers(values: pd.Series, name: str) -> np.ndarray:
    """``values`` as floats; a :class:`DataError` naming ``name`` if they are not
    numbers or some are missing, NaN or infinite."""
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        raise DataError(f"Column {name!r} must be numeric, got dtype {values.dtype}.",
                        column=name, rule="not_numeric", n_rows=len(values))
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    fail_rows(~np.isfinite(arr), values, column=name, rule="not_finite",
              what="are missing, NaN or infinite")
    return arr


def check_summary(
    summary: pd.DataFrame,
    columns: Iterable[str] = ("frequency", "recency", "T"),
    *,
    positive_monetary: bool = False,
) -> None:
    """Validate an RFM summary before a model uses it.

    Checks that the columns exist and are numeric and finite, that frequency is a
    non-negative whole number, that ``0 <= recency <= T``, that a customer with no
    repeat purchase has recency 0, and (``positive_monetary``) that the monetary
    value of customers with repeat purchases is positive.
    """
    if not isinstance(summary, pd.DataFrame):
        raise DataError(
            f"Expected an RFM summary DataFrame, got {type(summary).__name__}; "
            "build one with clvmodels.rfm_summary(...).",
            rule="not_a_dataframe",
        )
    columns = list(columns)
    missing = [c for c in columns if c not in summary.columns]
    if missing:
        raise DataError(
            f"The summary lacks column(s) {missing}; it has {list(summary.columns)}. "
            "Build it with clvmodels.rfm_summary(...) or rename the columns.",
            column=missing[0], rule="missing_columns",
        )
    if len(summary) == 0:
        raise DataError("The summary has no customers.", rule="empty")
    if summary.attrs.get("include_first_transaction"):
        raise DataError(
            "The summary counts the first purchase in frequency and monetary_value "
            "(rfm_summary(include_first_transaction=True)); the models and the formula "
            "baseline need repeat purchases: build it with include_first_transaction=False.",
            column="frequency", rule="first_transaction_included", n_rows=len(summary))
    for col in columns:
        values = summary[col]
        arr = finite_numbers(values, col)
        fail_rows(arr < 0, values, column=col, rule="negative", what="are negative")
    if "frequency" in columns:
        freq = summary["frequency"].to_numpy(dtype=float)
        fail_rows(freq != np.round(freq), summary["frequency"], column="frequency",
                  rule="not_whole", what="are not whole numbers of repeat purchases")
    if {"recency", "T"} <= set(columns):
        rec = summary["recency"].to_numpy(dtype=float)
        T = summary["T"].to_numpy(dtype=float)
        fail_rows(rec > T * (1 + 1e-9) + 1e-12, summary["recency"], column="recency",
                  rule="recency_after_T", what="are larger than T (recency must be <= T)")
        if "frequency" in columns:
            freq = summary["frequency"].to_numpy(dtype=float)
            fail_rows((freq == 0) & (rec > 0), summary["recency"], column="recency",
                      rule="recency_without_repeat",
                      what="are positive for customers with frequency 0 (must be 0)")
    if positive_monetary:
        money = summary["monetary_value"].to_numpy(dtype=float)
        repeat = summary["frequency"].to_numpy(dtype=float) > 0 if "frequency" in summary else True
        fail_rows(repeat & (money <= 0), summary["monetary_value"], column="monetary_value",
                  rule="non_positive_spend",
                  what="are zero or negative for customers with repeat purchases "
                       "(the spend model needs positive amounts)")
