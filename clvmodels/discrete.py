"""Discrete-period summaries of a transaction log, for the BG/BB model.

:func:`discrete_summary` turns a log into one row per customer with the
transaction opportunities of Fader, Hardie & Shang (2010): the period of the
customer's first transaction is period 0, every later period up to the
calibration end is one opportunity, and an opportunity counts as a transaction
when the customer bought at least once in it. It reads the log through
:func:`clvmodels.purchase_days`, so the checks, cleaning options and exclusion
counts are those of :func:`clvmodels.rfm_summary`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from .data import purchase_days
from .exceptions import DataError, DataWarning

__all__ = ["PERIODS", "discrete_summary"]

#: Period lengths: years, quarters, months, weeks (Monday to Sunday), days.
PERIODS = ("Y", "Q", "M", "W", "D")


def _period_codes(dates, period: str) -> np.ndarray:
    """Consecutive integers, one per period (the pandas ``Period`` ordinals)."""
    values = np.asarray(dates, dtype="datetime64[ns]")
    if period == "Y":
        return values.astype("datetime64[Y]").astype(np.int64)
    if period in ("Q", "M"):
        months = values.astype("datetime64[M]").astype(np.int64)
        return months // 3 if period == "Q" else months
    days = values.astype("datetime64[D]").astype(np.int64)
    return (days + 3) // 7 if period == "W" else days  # 1970-01-01 was a Thursday


def discrete_summary(transactions, customer_id_col: str, datetime_col: str,
                     period: str = "Y", calibration_period_end: Any = None,
                     **options) -> pd.DataFrame:
    """One row per customer: ``frequency``, ``recency``, ``n_periods``, ``first_period``.

    Parameters
    ----------
    transactions
        A transaction log (what :func:`clvmodels.purchase_days` reads: a
        DataFrame, a file path or a glob).
    customer_id_col, datetime_col
        Columns of the customer id and the transaction time.
    period
        Length of a transaction opportunity: ``"Y"`` (calendar years), ``"Q"``,
        ``"M"``, ``"W"`` (Monday to Sunday) or ``"D"``.
    calibration_period_end
        Last day observed (default: the day of the last transaction). Its period
        counts as an opportunity observed in full, so end the calibration on the
        last day of a period; otherwise a :class:`~clvmodels.exceptions.DataWarning`
        says so. Transactions after it are excluded and counted, as in
        :func:`~clvmodels.purchase_days`.
    **options
        The cleaning options of :func:`clvmodels.purchase_days` (``returns``,
        ``duplicates``, ``missing_ids``, ``engine``, ...).

    Returns
    -------
    DataFrame indexed by customer id (sorted) with ``frequency`` (periods after
    the first with at least one transaction), ``recency`` (the last of them,
    counted from the first period; 0 if none), ``n_periods`` (periods from the
    first to the calibration end) and ``first_period`` (a pandas ``Period``).
    ``attrs``: ``period``, ``calibration_period_end`` and the exclusion counts
    of :func:`~clvmodels.purchase_days` (``exclusions``, ``notes``).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels import discrete_summary
    >>> log = pd.DataFrame({"id": [1, 1, 1, 2, 3],
    ...                     "date": pd.to_datetime(["2020-03-01", "2020-07-01", "2022-05-01",
    ...                                             "2021-01-01", "2023-02-01"])})
    >>> discrete_summary(log, "id", "date", "Y", calibration_period_end="2023-12-31")
    ... # doctest: +NORMALIZE_WHITESPACE
        frequency  recency  n_periods first_period
    id
    1           1        2          3         2020
    2           0        0          2         2021
    3           0        0          0         2023
    """
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}, got {period!r}.")
    if "monetary_value_col" in options or "observation_period_end" in options:
        raise TypeError("discrete_summary counts periods with a transaction: it takes no "
                        "monetary_value_col, and the end is calibration_period_end.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        days = purchase_days(transactions, customer_id_col, datetime_col, None,
                             calibration_period_end, **options)
    for w in caught:  # the exclusion counts, issued again at the caller's line
        warnings.warn(w.message, w.category, stacklevel=2)
    if len(days) == 0:
        raise DataError("The log has no transaction up to the calibration end.",
                        column=datetime_col, rule="empty", n_rows=0)
    end = (pd.Timestamp(calibration_period_end) if calibration_period_end is not None
           else pd.Timestamp(days[datetime_col].max()))
    end_code = int(_period_codes([end], period)[0])
    if int(_period_codes([end.normalize() + pd.Timedelta(days=1)], period)[0]) == end_code:
        warnings.warn(
            f"calibration_period_end {end.date()} is not the last day of its period "
            f"({period!r}): that period counts as an opportunity of every customer, but "
            "transactions after the end are not seen, so some customers look inactive in "
            "it. End the calibration on the last day of a period.",
            DataWarning, stacklevel=2)
    codes = _period_codes(days[datetime_col], period)
    frame = pd.DataFrame({"id": days[customer_id_col].to_numpy(), "code": codes,
                          "date": days[datetime_col].to_numpy()})
    per_customer = frame.groupby("id", sort=True).agg(
        first=("code", "min"), last=("code", "max"), periods=("code", "nunique"),
        first_date=("date", "min"))
    first = per_customer["first"].to_numpy()
    out = pd.DataFrame({
        "frequency": per_customer["periods"].to_numpy(dtype=np.int64) - 1,
        "recency": (per_customer["last"].to_numpy() - first).astype(np.int64),
        "n_periods": (end_code - first).astype(np.int64),
        "first_period": pd.PeriodIndex(per_customer["first_date"], freq=period),
    }, index=pd.Index(per_customer.index, name=customer_id_col))
    out.attrs.update(days.attrs)
    out.attrs.update(period=period, calibration_period_end=str(end.date()))
    return out
