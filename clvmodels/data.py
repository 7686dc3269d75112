"""Transaction logs -> recency/frequency/monetary (RFM) summaries.

This is the first step of every clvmodels workflow. A log (customer id, timestamp,
amount) in pandas, CSV or Parquet becomes one row per customer with the statistics
the buy-till-you-die models are fitted on.

The convention is the one of Fader, Hardie & Lee (2005) and of the published CDNOW
summary:

- purchases of one customer within one calendar day (``merge_within="D"``) are one
  purchase, their amounts summed;
- ``frequency`` is the number of purchase days after the first (repeat purchases);
- ``recency`` is the time from the first to the last purchase day;
- ``T`` is the time from the first purchase day to the end of the (calibration)
  observation period;
- ``monetary_value`` is the mean amount of the repeat purchase days, 0 when there
  is none (the first purchase is excluded, as the Gamma-Gamma model requires).

Times are fractional in the chosen unit (:mod:`clvmodels.units`).

Two engines compute the same numbers: numpy on a pandas DataFrame, and DuckDB in
SQL for files (CSV or Parquet, one or many), which never loads the whole log into
memory. Bad input raises :class:`~clvmodels.exceptions.DataError` naming the column,
the rule and the number of rows that break it; rows or customers that are left out
by design (after the observation end, born after the calibration end, returns) are
counted in a :class:`~clvmodels.exceptions.DataWarning` and in ``summary.attrs``.
"""

from __future__ import annotations

import glob
import numbers
import os
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import DataError, DataWarning
from .units import normalize_unit, unit_days

__all__ = ["ExcludedCustomers", "excluded_customers", "purchase_days", "read_transactions",
           "rfm_summary"]

#: A timestamp string that carries a UTC offset or zone ("...10:00+02:00", "...Z").
#: The patterns below run on RE2 in both engines (DuckDB's, and pyarrow's for pandas).
_TZ_PATTERN = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)? *(?:Z|UTC|[+-][0-9]{2}:?[0-9]{2})$"

#: The text timestamps read without ``datetime_format``: ISO 8601 dates, optionally
#: with a time (seconds and up to 9 decimals optional; decimals past the
#: microsecond are truncated) and a zone. Both engines take the fields from this one
#: pattern, so they read every string the same way.
_ISO_PATTERN = (r"^(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})"
                r"(?:[T ](?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])"
                r"(?::(?P<second>[0-5][0-9])(?:\.(?P<fraction>[0-9]{1,9}))?)?"
                r" *(?P<zone>Z|UTC|[+-][0-9]{2}:?[0-9]{2})?)?$")
_ISO_FIELDS = ("year", "month", "day", "hour", "minute", "second", "fraction", "zone")
#: The common case of it, naive and to the microsecond, which DuckDB casts directly.
_ISO_NAIVE_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                      r"(?:[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)?$")

#: Day and month in either order ("01/02/2020", "1.2.20"): only datetime_format says which.
_AMBIGUOUS_PATTERN = r"^[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{2,4}(?:[ T].*)?$"

#: Timestamps both engines can hold: pandas' nanosecond range, from its first whole day.
_FIRST_TIMESTAMP = np.datetime64("1677-09-22T00:00:00", "us")
_LAST_TIMESTAMP = np.datetime64("2262-04-11T23:47:16.854775", "us")
_US_PER_TICK = {"D": 86_400_000_000, "h": 3_600_000_000, "us": 1}

#: Tick resolution of each ``merge_within`` choice and its length in days.
_RESOLUTIONS = {"D": ("D", 1.0), "h": ("h", 1.0 / 24.0), None: ("us", 1.0 / 86_400e6)}

_RETURNS = ("error", "drop", "net")

#: Rules checked on every log, in the order they are reported.
_RULE_ORDER = (
    "empty", "null_ids", "missing_dates", "numeric_dates", "unparseable_dates",
    "mixed_timezones", "missing_amounts", "non_numeric_amounts", "infinite_amounts",
    "negative_amounts", "dates_out_of_range", "ambiguous_dates",
)


@dataclass(frozen=True)
class _Spec:
    """What the caller asked for, checked once and shared by both engines."""

    customer_id_col: str
    datetime_col: str
    monetary_value_col: str | None
    datetime_format: str | None
    returns: str
    time_unit: str
    resolution: str
    tick_days: float

    @property
    def columns(self) -> list[str]:
        cols = [self.customer_id_col, self.datetime_col]
        if self.monetary_value_col is not None:
            cols.append(self.monetary_value_col)
        return cols


def rfm_summary(
    transactions: pd.DataFrame | str | os.PathLike | Sequence[str | os.PathLike],
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    calibration_period_end: Any = None,
    time_unit: str = "D",
    *,
    datetime_format: str | None = None,
    returns: str = "error",
    merge_within: str | None = "D",
    engine: str | None = None,
) -> pd.DataFrame:
    """Summarise a transaction log into one RFM row per customer.

    Parameters
    ----------
    transactions
        The log: a DataFrame, or the path of a CSV or Parquet file, a glob pattern
        (``"logs/*.parquet"``) or a list of paths. Files are summarised by DuckDB
        without loading the log into pandas, so they may be larger than memory.
    customer_id_col, datetime_col, monetary_value_col
        Column names. Without ``monetary_value_col`` the monetary columns are left
        out.
    observation_period_end
        Last day observed (inclusive). Defaults to the last transaction. Later
        transactions are excluded and counted in a warning.
    calibration_period_end
        Split point for a holdout: the summary describes the calibration period up to
        this day (inclusive) and gains the columns ``frequency_holdout``,
        ``monetary_value_holdout`` (mean amount per holdout purchase day),
        ``revenue_holdout`` (total) and ``duration_holdout``. Customers whose first
        purchase is after it are excluded and counted in a warning.
    time_unit
        Unit of ``recency``, ``T`` and ``duration_holdout``: ``"h"``, ``"D"``,
        ``"W"``, ``"M"`` (30.4375 days) or ``"Y"`` (365.25 days).
    datetime_format
        ``strftime`` format of the timestamps when they are text or numbers
        (``"%Y%m%d"`` for ``19970101``); inferred when not given.
    returns
        What to do with negative amounts (returns): ``"error"`` (default) raises,
        ``"drop"`` removes those rows, ``"net"`` subtracts them from the same day's
        purchases; a day that returns cancel out entirely (net amount <= 0) is not a
        purchase. Rows and customers removed are counted in a warning.
    merge_within
        Purchases of a customer within the same ``"D"`` (calendar day, default) or
        ``"h"`` (hour) are one purchase; ``None`` keeps every distinct timestamp.
    engine
        ``"pandas"`` or ``"duckdb"``. Defaults to pandas for a DataFrame and DuckDB
        for files; both give the same numbers.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted) with ``frequency``, ``recency``, ``T`` and
        ``monetary_value`` (plus the holdout columns). ``attrs`` records the time
        unit, the period ends, the number of transactions used and the exclusions.

    Raises
    ------
    DataError
        Missing columns, null ids, missing or unparseable dates, timezone-aware
        and naive timestamps mixed, missing or non-numeric amounts, negative amounts
        (with ``returns="error"``), an empty log, an observation end before the first
        purchase, a calibration end outside the observed period.

    Examples
    --------
    >>> import clvmodels
    >>> tx = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30",
    ...                                 time_unit="W")
    >>> summary.loc[4, ["frequency", "recency", "T"]].round(2).tolist()
    [2.0, 30.43, 38.86]
    """
    spec = _make_spec(customer_id_col, datetime_col, monetary_value_col, datetime_format,
                      returns, time_unit, merge_within)
    with _open_log(transactions, spec, engine) as log:
        return _summarise(log, spec, observation_period_end, calibration_period_end)


def purchase_days(
    transactions,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    *,
    datetime_format: str | None = None,
    returns: str = "error",
    merge_within: str | None = "D",
    engine: str | None = None,
) -> pd.DataFrame:
    """The validated log as purchase days: one row per customer and day.

    The rows :func:`rfm_summary` counts, with the same checks, merging and
    treatment of returns: columns ``customer_id_col``, ``datetime_col`` (the start
    of the day, or hour) and ``amount`` (the day's total; 1.0 per purchase day
    without ``monetary_value_col``), sorted by customer and time. Transactions after
    ``observation_period_end`` are excluded and counted in a warning.
    """
    spec = _make_spec(customer_id_col, datetime_col, monetary_value_col, datetime_format,
                      returns, "D", merge_within)
    with _open_log(transactions, spec, engine) as log:
        obs_tick, _ = _validate(log, spec, observation_period_end)
        d = log.days(obs_tick)
    _warn_exclusions({"transactions_after_observation_end": d.n_after_end,
                      "rows_dropped_as_returns": d.n_return_rows_dropped,
                      "days_cancelled_by_returns": d.n_days_cancelled,
                      "customers_without_purchases": d.n_customers_seen - len(np.unique(d.codes))},
                     spec, caller="purchase_days", stacklevel=3)
    return pd.DataFrame({
        customer_id_col: np.asarray(d.ids)[d.codes],
        datetime_col: d.ticks.astype(f"datetime64[{spec.resolution}]"),
        "amount": d.amounts,
    })


def _make_spec(customer_id_col, datetime_col, monetary_value_col, datetime_format, returns,
               time_unit, merge_within) -> _Spec:
    if returns not in _RETURNS:
        raise ValueError(f"returns must be one of {_RETURNS}, got {returns!r}.")
    if merge_within not in _RESOLUTIONS:
        raise ValueError(f"merge_within must be 'D', 'h' or None, got {merge_within!r}.")
    resolution, tick_days = _RESOLUTIONS[merge_within]
    return _Spec(customer_id_col, datetime_col, monetary_value_col, datetime_format, returns,
                 normalize_unit(time_unit), resolution, tick_days)


def _open_log(transactions, spec: _Spec, engine: str | None) -> "_Log":
    is_frame = isinstance(transactions, pd.DataFrame)
    if engine is None:
        engine = "pandas" if is_frame else "duckdb"
    if engine == "pandas":
        frame = transactions if is_frame else read_transactions(transactions, spec.columns)
        return _PandasLog(frame, spec)
    if engine == "duckdb":
        return _DuckDBLog(transactions, spec)
    raise ValueError(f"engine must be 'pandas' or 'duckdb', got {engine!r}.")


def read_transactions(source, columns: Sequence[str] | None = None, *,
                      text_columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a CSV or Parquet log (one file, a glob or a list) into pandas via DuckDB.

    Parameters
    ----------
    source
        A path, a glob pattern or a list of paths.
    columns
        The columns to read (all when not given), in the order :func:`rfm_summary`
        takes them: customer id, timestamp, amount.
    text_columns
        CSV columns read as text exactly as written, never typed by a guess: ids
        such as ``00123`` stay distinct from ``123``, and timestamps are parsed and
        checked by :func:`rfm_summary` the same way for every source. Defaults to
        the first two of ``columns`` (customer id and timestamp). Parquet columns
        keep the file's own types.

    Raises
    ------
    DataError
        A file that cannot be read (empty, a directory, corrupt) or lacks a column.
    """
    if text_columns is None:
        text_columns = list(columns[:2]) if columns is not None else []
    log = _DuckDBLog(source, None, columns=columns, text_columns=text_columns)
    with log:
        return log.con.sql("SELECT * FROM src").df()


class ExcludedCustomers:
    """The customers a summary leaves out, kept in ``summary.attrs["excluded_customers"]``.

    ``frame`` is indexed by customer id (named like the summary's index) with the
    columns ``reason`` (text) and ``in_calibration_period`` (whether the customer
    bought in the calibration period, so that a per-customer export keeps a row
    for them). The holder is shared, not copied, when pandas copies ``attrs``
    (pandas deep-copies attrs on every operation), and compares by identity, so
    it never slows down or breaks operations on the summary.
    """

    __slots__ = ("frame",)

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return self

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return f"ExcludedCustomers({len(self.frame)} customers)"


def excluded_customers(summary: pd.DataFrame) -> pd.DataFrame:
    """The customers ``summary`` leaves out, with the reason (see :class:`ExcludedCustomers`).

    An empty frame when none were left out (or the summary was not built by
    :func:`rfm_summary`).
    """
    holder = summary.attrs.get("excluded_customers")
    if holder is None:
        index = pd.Index([], name=summary.index.name, dtype=summary.index.dtype)
        return pd.DataFrame({"reason": pd.Series([], dtype=object, index=index),
                             "in_calibration_period": pd.Series([], dtype=bool, index=index)})
    return holder.frame.copy()


# ---------------------------------------------------------------------------
# The shared pipeline


def _validate(log: "_Log", spec: _Spec, observation_period_end) -> tuple[int, int]:
    """Check the log's rules; return the observation end and first purchase as ticks."""
    log.check_columns()
    _raise_first_problem(log.rule_counts(), log, spec)
    first_tick, last_tick = log.tick_range()
    obs_tick = last_tick if observation_period_end is None else _to_tick(
        observation_period_end, spec, "observation_period_end")
    if obs_tick < first_tick:
        raise DataError(
            f"observation_period_end ({_tick_to_str(obs_tick, spec)}) is before the first "
            f"purchase in column {spec.datetime_col!r} ({_tick_to_str(first_tick, spec)}).",
            column=spec.datetime_col, rule="observation_end_before_first_purchase",
        )
    return obs_tick, first_tick


def _summarise(log: "_Log", spec: _Spec, observation_period_end, calibration_period_end):
    obs_tick, first_tick = _validate(log, spec, observation_period_end)
    cal_tick = obs_tick
    if calibration_period_end is not None:
        cal_tick = _to_tick(calibration_period_end, spec, "calibration_period_end")
        if cal_tick > obs_tick:
            raise DataError(
                f"calibration_period_end ({_tick_to_str(cal_tick, spec)}) is after "
                f"observation_period_end ({_tick_to_str(obs_tick, spec)}).",
                rule="calibration_end_after_observation_end",
            )
        if cal_tick < first_tick:
            raise DataError(
                f"calibration_period_end ({_tick_to_str(cal_tick, spec)}) is before the first "
                f"purchase in column {spec.datetime_col!r} ({_tick_to_str(first_tick, spec)}): "
                "the calibration period would hold no customer.",
                column=spec.datetime_col, rule="calibration_end_before_first_purchase",
            )

    result = log.summarise(obs_tick, cal_tick, holdout=calibration_period_end is not None)
    summary = _finish(result, spec, obs_tick, cal_tick, calibration_period_end is not None)

    exclusions = {
        "transactions_after_observation_end": result.n_after_end,
        "customers_after_calibration_end": result.n_born_after_calibration,
        "rows_dropped_as_returns": result.n_return_rows_dropped,
        "days_cancelled_by_returns": result.n_days_cancelled,
        "customers_without_purchases": result.n_customers_without_purchase,
    }
    summary.attrs.update(
        time_unit=spec.time_unit,
        observation_period_end=_tick_to_str(obs_tick, spec),
        calibration_period_end=_tick_to_str(cal_tick, spec),
        merge_within={"D": "D", "h": "h", "us": None}[spec.resolution],
        n_transactions=int(result.n_rows_used),
        exclusions=exclusions,
    )
    _warn_exclusions(exclusions, spec)
    return summary


@dataclass
class _Result:
    """What an engine computed: per-customer arrays in ticks, plus counts."""

    ids: Any
    frequency: np.ndarray
    first_tick: np.ndarray
    last_tick: np.ndarray
    repeat_amount: np.ndarray | None
    frequency_holdout: np.ndarray | None
    revenue_holdout: np.ndarray | None
    n_rows_used: int
    n_after_end: int
    n_born_after_calibration: int
    n_return_rows_dropped: int
    n_days_cancelled: int
    n_customers_without_purchase: int


@dataclass
class _Days:
    """Purchase days: customer codes into ``ids``, ticks and day amounts, plus counts."""

    ids: Any
    codes: np.ndarray
    ticks: np.ndarray
    amounts: np.ndarray
    n_rows_used: int
    n_after_end: int
    n_return_rows_dropped: int
    n_days_cancelled: int
    n_customers_seen: int


def _finish(r: _Result, spec: _Spec, obs_tick: int, cal_tick: int, holdout: bool):
    scale = spec.tick_days / unit_days(spec.time_unit)
    frequency = np.asarray(r.frequency, dtype=np.int64)
    data = {
        "frequency": frequency,
        "recency": (np.asarray(r.last_tick) - np.asarray(r.first_tick)) * scale,
        "T": (cal_tick - np.asarray(r.first_tick)) * scale,
    }
    if spec.monetary_value_col is not None:
        data["monetary_value"] = np.divide(
            r.repeat_amount, frequency, out=np.zeros(len(frequency)), where=frequency > 0)
    if holdout:
        fh = np.asarray(r.frequency_holdout, dtype=np.int64)
        data["frequency_holdout"] = fh
        if spec.monetary_value_col is not None:
            data["monetary_value_holdout"] = np.divide(
                r.revenue_holdout, fh, out=np.zeros(len(fh)), where=fh > 0)
            data["revenue_holdout"] = np.asarray(r.revenue_holdout, dtype=float)
        data["duration_holdout"] = np.full(len(fh), (obs_tick - cal_tick) * scale)
    # The ids' own type, inferred alike from both engines (text ids: str in pandas 3).
    index = pd.Index(np.asarray(r.ids), name=spec.customer_id_col)
    return pd.DataFrame(data, index=index)


def _raise_first_problem(counts: dict, log: "_Log", spec: _Spec) -> None:
    dt, amt, cid = spec.datetime_col, spec.monetary_value_col, spec.customer_id_col
    n = counts["rows"]
    messages = {
        "empty": (None, "The transaction log has no rows."),
        "null_ids": (cid, f"{{k}} of {n} rows have a missing customer id in column {cid!r}."),
        "missing_dates": (dt, f"{{k}} of {n} rows have a missing timestamp in column {dt!r}."),
        "numeric_dates": (dt, f"Column {dt!r} holds numbers, not timestamps ({{k}} rows); "
                              "pass datetime_format (e.g. '%Y%m%d' for 19970101) or convert it."),
        "unparseable_dates": (dt, f"{{k}} of {n} rows of column {dt!r} cannot be read as "
                                  "timestamps" + (
                                      f" in the format {spec.datetime_format!r}."
                                      if spec.datetime_format else
                                      ": without datetime_format, timestamps must be ISO 8601 "
                                      "text (YYYY-MM-DD, optionally with a time HH:MM[:SS[.f]] "
                                      "and a zone such as Z or +02:00); pass datetime_format "
                                      "(e.g. '%d.%m.%Y %H:%M') if they use another format.")),
        "mixed_timezones": (dt, f"Column {dt!r} mixes timezone-aware and naive timestamps: "
                                f"{{k}} rows carry a zone or UTC offset and "
                                f"{counts.get('naive_dates', 0)} do not. Localise the naive ones "
                                "(or strip the zones) so all rows mean the same clock."),
        "missing_amounts": (amt, f"{{k}} of {n} rows have a missing amount in column {amt!r}."),
        "non_numeric_amounts": (amt, f"{{k}} of {n} rows of column {amt!r} are not numbers."),
        "infinite_amounts": (amt, f"{{k}} of {n} rows of column {amt!r} are infinite."),
        "negative_amounts": (amt, f"{{k}} of {n} rows of column {amt!r} are negative (returns?); "
                                  "pass returns='drop' to remove them or returns='net' to net them "
                                  "against the same day's purchases."),
        "dates_out_of_range": (dt, f"{{k}} of {n} rows of column {dt!r} are outside the "
                                   "supported range 1677-09-22 to 2262-04-11. Placeholder dates "
                                   "such as 9999-12-31 or 1900-01-01 must be removed or replaced "
                                   "first: they are not a customer's history."),
        "ambiguous_dates": (dt, f"{{k}} of {n} rows of column {dt!r} are dates like 01/02/2020 "
                                "whose day and month order is ambiguous; pass datetime_format, "
                                "e.g. '%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)."),
    }
    for rule in _RULE_ORDER:
        k = counts.get(rule, 0)
        if rule == "empty":
            if n == 0:
                raise DataError(messages[rule][1], rule=rule, n_rows=0)
            continue
        if rule == "negative_amounts" and spec.returns != "error":
            continue
        if k:
            column, message = messages[rule]
            raise DataError(message.format(k=k), column=column, rule=rule, n_rows=int(k),
                            examples=log.examples(rule))


def _warn_exclusions(exclusions: dict, spec: _Spec, caller: str = "rfm_summary",
                     stacklevel: int = 4) -> None:
    """One warning counting what was excluded (``stacklevel`` points at the user's call)."""
    phrases = {
        "transactions_after_observation_end": "transactions after the observation end",
        "customers_after_calibration_end":
            "customers whose first purchase is after the calibration end",
        "rows_dropped_as_returns": f"rows with a negative {spec.monetary_value_col!r} (returns)",
        "days_cancelled_by_returns": "purchase days cancelled out by returns",
        "customers_without_purchases": "customers left with no purchase after returns",
    }
    parts = [f"{v} {phrases[k]}" for k, v in exclusions.items() if v]
    if parts:
        warnings.warn(
            f"{caller} excluded " + "; ".join(parts)
            + ". The counts are in summary.attrs['exclusions'].",
            DataWarning, stacklevel=stacklevel,
        )


def _to_naive_utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _to_tick(value, spec: _Spec, name: str) -> int:
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name}={value!r} is not a date: {err}", rule="bad_period_end") from None
    if ts is pd.NaT:
        raise DataError(f"{name} is missing (NaT).", rule="bad_period_end")
    return int(np.datetime64(_to_naive_utc(ts)).astype(f"datetime64[{spec.resolution}]")
               .astype(np.int64))


def _tick_to_str(tick: int, spec: _Spec) -> str:
    return str(np.datetime64(int(tick), spec.resolution))


# ---------------------------------------------------------------------------
# The pandas engine


class _Log:
    """One engine's view of a log; see :class:`_PandasLog` and :class:`_DuckDBLog`."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _PandasLog(_Log):
    def __init__(self, frame: pd.DataFrame, spec: _Spec) -> None:
        self.frame = frame
        self.spec = spec

    def check_columns(self) -> None:
        _check_frame(self.frame, self.spec)
        spec, frame = self.spec, self.frame
        self.ids = frame[spec.customer_id_col]
        self.raw_dates = frame[spec.datetime_col]
        self.raw_amounts = frame[spec.monetary_value_col] if spec.monetary_value_col else None

    def rule_counts(self) -> dict:
        spec = self.spec
        counts: dict[str, int] = {"rows": len(self.frame)}
        if counts["rows"] == 0:
            return counts
        counts["null_ids"] = int(self.ids.isna().sum())
        self._parse_dates(counts)
        if self.raw_amounts is not None:
            raw = self.raw_amounts
            if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
                amounts = raw.astype("float64")
                self._bad_amount = pd.Series(False, index=raw.index)
            else:
                amounts = pd.to_numeric(raw, errors="coerce").astype("float64")
                self._bad_amount = amounts.isna() & raw.notna()
            counts["missing_amounts"] = int(raw.isna().sum())
            counts["non_numeric_amounts"] = int(self._bad_amount.sum())
            values = amounts.to_numpy(dtype=float, na_value=np.nan)
            counts["infinite_amounts"] = int(np.isinf(values).sum())
            counts["negative_amounts"] = int((values < 0).sum())
            self.amounts = values
        else:
            self.amounts = np.ones(len(self.frame))
        return counts

    def _parse_dates(self, counts: dict) -> None:
        spec, raw = self.spec, self.raw_dates
        counts["missing_dates"] = int(raw.isna().sum())
        n_dates = int(raw.notna().sum())
        self._aware = None
        self._ambiguous = np.zeros(len(raw), dtype=bool)
        if pd.api.types.is_datetime64_any_dtype(raw):
            naive = raw.dt.tz_convert("UTC").dt.tz_localize(None) if raw.dt.tz else raw
            values = naive.to_numpy().astype("datetime64[us]")
            ok = ~np.isnat(values)
            us = np.where(ok, values.astype(np.int64), 0)
        elif pd.api.types.is_numeric_dtype(raw) and spec.datetime_format is None:
            counts["numeric_dates"] = n_dates
            return
        else:
            text = _arrow_text(raw)
            aware = _re2_matches(text, _TZ_PATTERN)
            n_aware = int(aware.sum())
            counts["mixed_timezones"] = n_aware if 0 < n_aware < n_dates else 0
            counts["naive_dates"] = n_dates - n_aware
            self._aware = aware
            us, ok = _parse_text_dates(text, spec.datetime_format, utc=n_aware > 0)
            unread = ~ok & raw.notna().to_numpy(dtype=bool)
            if spec.datetime_format is None and unread.any():
                self._ambiguous = _re2_matches(text, _AMBIGUOUS_PATTERN) & unread
            counts["ambiguous_dates"] = int(self._ambiguous.sum())
        present = raw.notna().to_numpy(dtype=bool)
        bad = present & ~ok & ~self._ambiguous
        counts["unparseable_dates"] = int(bad.sum())
        self._bad_date = bad
        out = ok & ((us < _FIRST_TIMESTAMP.astype(np.int64))
                    | (us > _LAST_TIMESTAMP.astype(np.int64)))
        counts["dates_out_of_range"] = int(out.sum())
        self._out_of_range = out
        self.ticks = np.floor_divide(us, _US_PER_TICK[spec.resolution])

    def examples(self, rule: str) -> list:
        spec = self.spec
        masks = {
            "null_ids": lambda: self.ids.isna(),
            "missing_dates": lambda: self.raw_dates.isna(),
            "numeric_dates": lambda: self.raw_dates.notna(),
            "unparseable_dates": lambda: self._bad_date,
            "mixed_timezones": lambda: pd.Series(self._aware, index=self.frame.index),
            "missing_amounts": lambda: self.raw_amounts.isna(),
            "non_numeric_amounts": lambda: self._bad_amount,
            "infinite_amounts": lambda: pd.Series(np.isinf(self.amounts), index=self.frame.index),
            "negative_amounts": lambda: pd.Series(self.amounts < 0, index=self.frame.index),
            "dates_out_of_range": lambda: self._out_of_range,
            "ambiguous_dates": lambda: self._ambiguous,
        }
        mask = np.asarray(masks[rule](), dtype=bool)
        rows = self.frame.loc[mask, spec.columns].head(5)
        return [tuple(row) for row in rows.itertuples(index=False)]

    def tick_range(self) -> tuple[int, int]:
        return int(self.ticks.min()), int(self.ticks.max())

    def days(self, obs_tick: int) -> "_Days":
        """Purchase days up to the observation end: merged, returns handled."""
        spec = self.spec
        ticks, amounts = self.ticks, self.amounts
        keep = ticks <= obs_tick
        n_after_end = int((~keep).sum())
        n_return_rows = 0
        if spec.returns == "drop":
            negative = amounts < 0
            n_return_rows = int((negative & keep).sum())
            keep &= ~negative
        codes_all, uniques = pd.factorize(self.ids, sort=True)
        n_customers_seen = len(np.unique(codes_all[ticks <= obs_tick]))
        codes, ticks, amounts = codes_all[keep], ticks[keep], amounts[keep]

        # One row per customer-day (or hour): sort, then reduce runs.
        order = np.lexsort((ticks, codes))
        codes, ticks, amounts = codes[order], ticks[order], amounts[order]
        new_day = np.ones(len(codes), dtype=bool)
        new_day[1:] = (codes[1:] != codes[:-1]) | (ticks[1:] != ticks[:-1])
        starts = np.flatnonzero(new_day)
        day_code, day_tick = codes[starts], ticks[starts]
        day_amount = np.add.reduceat(amounts, starts) if len(starts) else amounts[:0]
        n_cancelled = 0
        if spec.returns == "net" and len(starts):
            has_return = np.logical_or.reduceat(amounts < 0, starts)
            cancelled = has_return & (day_amount <= 0)
            n_cancelled = int(cancelled.sum())
            day_code, day_tick, day_amount = (
                day_code[~cancelled], day_tick[~cancelled], day_amount[~cancelled])
        return _Days(uniques, day_code, day_tick, day_amount, int(keep.sum()), n_after_end,
                     n_return_rows, n_cancelled, n_customers_seen)

    def summarise(self, obs_tick: int, cal_tick: int, holdout: bool) -> _Result:
        spec = self.spec
        d = self.days(obs_tick)
        uniques, day_code, day_tick, day_amount = d.ids, d.codes, d.ticks, d.amounts

        # Calibration statistics per customer.
        cal = day_tick <= cal_tick
        c_code, c_tick, c_amount = day_code[cal], day_tick[cal], day_amount[cal]
        first = np.ones(len(c_code), dtype=bool)
        first[1:] = c_code[1:] != c_code[:-1]
        cstart = np.flatnonzero(first)
        cend = np.append(cstart[1:], len(c_code)) - 1
        repeat_amount = np.where(first, 0.0, c_amount)
        cust_codes = c_code[cstart]

        # Customers seen before the observation end but with no purchase day left.
        n_with_days = len(np.unique(day_code))

        freq_h = rev_h = None
        if holdout:
            position = np.full(len(uniques), -1, dtype=np.int64)
            position[cust_codes] = np.arange(len(cust_codes))
            h_pos = position[day_code[~cal]]
            in_cohort = h_pos >= 0
            freq_h = np.bincount(h_pos[in_cohort], minlength=len(cust_codes))
            rev_h = np.bincount(h_pos[in_cohort], weights=day_amount[~cal][in_cohort],
                                minlength=len(cust_codes))
        return _Result(
            ids=uniques[cust_codes],
            frequency=np.diff(np.append(cstart, len(c_code))) - 1,
            first_tick=c_tick[cstart],
            last_tick=c_tick[cend],
            repeat_amount=(np.add.reduceat(repeat_amount, cstart)
                           if spec.monetary_value_col else None),
            frequency_holdout=freq_h,
            revenue_holdout=rev_h,
            n_rows_used=d.n_rows_used,
            n_after_end=d.n_after_end,
            n_born_after_calibration=n_with_days - len(cust_codes),
            n_return_rows_dropped=d.n_return_rows_dropped,
            n_days_cancelled=d.n_days_cancelled,
            n_customers_without_purchase=d.n_customers_seen - n_with_days,
        )


def _arrow_text(values: pd.Series):
    """Values as Arrow text, blanks trimmed at both ends like DuckDB's ``trim``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        try:
            values = values.astype("Int64")  # numbers such as 19970101, never 19970101.0
        except (TypeError, ValueError):
            pass  # fractions: not dates in any format, reported as unparseable
    text = values.astype("string").to_numpy(dtype=object, na_value=None)
    return pc.utf8_trim(pa.array(text, type=pa.string()), " ")


def _re2_matches(text, pattern: str) -> np.ndarray:
    """Rows of Arrow ``text`` where RE2 finds ``pattern`` (as DuckDB's regexp_matches)."""
    import pyarrow.compute as pc

    found = pc.match_substring_regex(text, pattern).fill_null(False)
    return found.to_numpy(zero_copy_only=False).astype(bool)


def _parse_text_dates(text, fmt: str | None, utc: bool) -> tuple[np.ndarray, np.ndarray]:
    """Parse timestamps given as Arrow text (see :func:`_arrow_text`), aware ones to UTC.

    Returns microseconds since 1970 (naive UTC) and whether each row was read.
    Without ``fmt`` only ISO 8601 text (:data:`_ISO_PATTERN`) is read, field by
    field, so any year 0000-9999 is read exactly (never wrapped) and the range is
    checked by the caller.
    """
    if fmt is None:
        return _parse_iso(text)
    series = pd.Series(text.to_pandas(), dtype="string")
    parsed = pd.to_datetime(series, format=fmt, errors="coerce", utc=utc)
    if utc:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    values = parsed.to_numpy().astype("datetime64[us]")
    ok = ~np.isnat(values)
    us = np.where(ok, values.astype(np.int64), 0)
    # pandas < 3 cannot hold dates outside its nanosecond range: read those here,
    # so that they are reported as out of range rather than as unparseable.
    retry = np.flatnonzero(~ok & series.notna().to_numpy(dtype=bool))
    if len(retry):
        import datetime as _dt

        epoch = _dt.datetime(1970, 1, 1)
        for i in retry:
            try:
                when = _dt.datetime.strptime(str(series.iloc[i]), fmt)
            except ValueError:
                continue
            if when.tzinfo is not None:
                when = when.astimezone(_dt.timezone.utc).replace(tzinfo=None)
            us[i] = (when - epoch) // _dt.timedelta(microseconds=1)
            ok[i] = True
    return us, ok


def _parse_iso(text) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 Arrow text -> microseconds since 1970 (UTC for zoned rows), a read mask.

    The fields come from RE2 on :data:`_ISO_PATTERN`, as in the DuckDB engine
    (:func:`_iso_sql`); the arithmetic is exact for every year.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    naive = pc.match_substring_regex(text, _ISO_NAIVE_PATTERN)
    if pc.all(pc.or_kleene(naive, pc.is_null(text))).as_py() is not False:
        # The common case: naive text whose fields sit at fixed places.
        matched = naive.fill_null(False).to_numpy(zero_copy_only=False).astype(bool)
        places = {"year": (0, 4), "month": (5, 7), "day": (8, 10), "hour": (11, 13),
                  "minute": (14, 16), "second": (17, 19), "fraction": (20, 29)}

        def raw_field(name: str):
            return pc.utf8_slice_codeunits(text, *places[name]) if name in places else \
                pa.nulls(len(text), pa.string())
    else:
        parts = pc.extract_regex(text, _ISO_PATTERN)  # null where the text does not match
        matched = parts.is_valid().to_numpy(zero_copy_only=False).astype(bool)

        def raw_field(name: str):
            return pc.struct_field(parts, name)

    def field(name: str, pad: bool = False) -> np.ndarray:
        values = pc.fill_null(raw_field(name), "")
        if pad:  # decimals -> microseconds, digits past the sixth truncated
            values = pc.utf8_rpad(pc.utf8_slice_codeunits(values, 0, 6), 6, "0")
        values = pc.if_else(pc.equal(values, ""), "0", values)
        return pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False)

    year, month, day = field("year"), field("month"), field("day")
    hour, minute, second = field("hour"), field("minute"), field("second")
    fraction = field("fraction", pad=True)
    zone = pc.fill_null(raw_field("zone"), "")
    # Proleptic Gregorian calendar, as DuckDB and numpy use it.
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    valid_month = (month >= 1) & (month <= 12)
    last_day = month_days[np.where(valid_month, month, 0)] + ((month == 2) & leap)
    ok = matched & valid_month & (day >= 1) & (day <= last_day)
    # Days since 1970-01-01 (H. Hinnant's days_from_civil).
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * np.where(month > 2, month - 3, month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146_097 + doe - 719_468
    # Offsets "+HH:MM", "+HHMM", "-HH:MM"; "Z" and "UTC" are 0 (minutes east of UTC).
    sign = pc.utf8_slice_codeunits(zone, 0, 1)
    signed = pc.is_in(sign, pa.array(["+", "-"])).to_numpy(zero_copy_only=False).astype(bool)
    offset = np.zeros(len(year), dtype=np.int64)
    if signed.any():
        def digits(start: int, stop: int | None) -> np.ndarray:
            values = pc.utf8_slice_codeunits(zone, start, stop)
            values = pc.if_else(pc.equal(values, ""), "0", values)
            return pc.cast(pc.if_else(pa.array(signed), values, "0"), pa.int64()).to_numpy(
                zero_copy_only=False)

        minutes = digits(1, 3) * 60 + digits(-2, None)
        negative = pc.equal(sign, "-").to_numpy(zero_copy_only=False).astype(bool)
        offset = np.where(signed, np.where(negative, -minutes, minutes), 0)
    us = ((days * 86_400 + hour * 3_600 + minute * 60 + second) * 1_000_000 + fraction
          - offset * 60_000_000)
    return np.where(ok, us, 0), ok


def _check_columns(wanted: Sequence[str], present: Sequence[str]) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise DataError(
            f"The transaction log has no column(s) {missing}; its columns are "
            f"{list(present)}.",
            column=missing[0], rule="missing_columns",
        )


# ---------------------------------------------------------------------------
# The DuckDB engine


def _source_paths(source) -> list[str]:
    items = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    paths: list[str] = []
    for item in items:
        item = os.fspath(item)
        matched = sorted(glob.glob(item)) if glob.has_magic(item) else [item]
        if not matched or not all(os.path.exists(p) for p in matched):
            raise FileNotFoundError(f"No transaction log at {item!r}.")
        paths.extend(matched)
    for path in paths:
        if os.path.isdir(path):
            raise DataError(f"{path!r} is a folder, not a transaction log file; pass the "
                            "files in it, e.g. 'folder/*.parquet'.", rule="unreadable_file")
        if os.path.getsize(path) == 0:
            raise DataError(f"The file {path!r} is empty (0 bytes): not even a header row.",
                            rule="empty_file", n_rows=0)
    return paths


def _is_read_error(err: BaseException, reading: bool = False) -> bool:
    """Whether DuckDB failed on the files' content (not on clvmodels' own SQL)."""
    import duckdb

    if reading:  # only the files' schema was asked for: any DuckDB error is theirs
        return isinstance(err, duckdb.Error)
    kinds = (duckdb.IOException, duckdb.InvalidInputException, duckdb.ConversionException)
    return isinstance(err, kinds) or type(err) is duckdb.Error


def _unreadable(paths: Sequence[str], err: BaseException) -> DataError:
    shown = repr(paths[0]) if len(paths) == 1 else f"{len(paths)} files ({paths[0]!r}, ...)"
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return DataError(f"Cannot read the transaction log {shown}: {reason}. Check that it is "
                     "a complete CSV file with a header row, or a valid Parquet file.",
                     rule="unreadable_file")


def _check_frame(frame: pd.DataFrame, spec: _Spec) -> None:
    """Checks of a DataFrame log that come before any engine looks at its rows."""
    _check_columns(spec.columns, list(frame.columns))
    for col in dict.fromkeys(spec.columns):
        n = int((frame.columns == col).sum())
        if n > 1:
            raise DataError(
                f"The DataFrame has {n} columns named {col!r}: it is not clear which one "
                "to use. Drop or rename the duplicates first, e.g. "
                "frame.loc[:, ~frame.columns.duplicated()].",
                column=col, rule="duplicate_columns")
    ids = frame[spec.customer_id_col]
    if ids.dtype != object:
        return
    kinds = ids.dropna().map(type).map(_id_kind)
    counts = kinds.value_counts()
    if len(counts) > 1:
        col = spec.customer_id_col
        shown = ", ".join(f"{k} {kind}" for kind, k in counts.items())
        firsts = ids.dropna()[~kinds.duplicated()].head(5).tolist()
        raise DataError(
            f"Column {col!r} mixes customer ids of different types ({shown}): 1 and '1' "
            "would be two customers here but one in a CSV file or an export. Convert the "
            f"ids to one type first, e.g. frame[{col!r}] = frame[{col!r}].astype(str).",
            column=col, rule="mixed_id_types", n_rows=int(counts.iloc[1:].sum()),
            examples=firsts)


def _id_kind(kind: type) -> str:
    if issubclass(kind, str):
        return "str"
    if issubclass(kind, (bool, np.bool_)):
        return "bool"
    if issubclass(kind, numbers.Integral):
        return "int"
    if issubclass(kind, numbers.Real):
        return "float"
    return kind.__name__


def _iso_sql(text: str) -> tuple[str, str]:
    """SQL reading ISO 8601 text field by field, exactly as :func:`_parse_iso` does.

    Returns the expression of the fields (computed once per row, as ``_iso``) and
    the timestamp built from them.
    """
    fields = ", ".join(_sql_str(f) for f in _ISO_FIELDS)
    parts = f"regexp_extract({text}, {_sql_str(_ISO_PATTERN)}, [{fields}])"
    p = "_iso"
    clock = " || ':' || ".join(f"coalesce(nullif({p}.{f}, ''), '00')"
                               for f in ("hour", "minute", "second"))
    canonical = (f"{p}.year || '-' || {p}.month || '-' || {p}.day || ' ' || {clock} "
                 f"|| '.' || left({p}.fraction || '000000', 6)")
    zone = f"{p}.zone"
    offset = (f"CASE WHEN left({zone}, 1) IN ('+', '-') THEN "
              f"(CASE WHEN left({zone}, 1) = '-' THEN -1 ELSE 1 END) * "
              f"(TRY_CAST(substr({zone}, 2, 2) AS INTEGER) * 60 "
              f"+ TRY_CAST(right({zone}, 2) AS INTEGER)) ELSE 0 END")
    # The fields are only extracted (slower) from text that is not the common case.
    parts = (f"CASE WHEN NOT regexp_matches({text}, {_sql_str(_ISO_NAIVE_PATTERN)}) "
             f"THEN {parts} END")
    return parts, (f"CASE WHEN {p} IS NULL THEN TRY_CAST({text} AS TIMESTAMP) "
                   f"WHEN {p}.year <> '' THEN "
                   f"TRY_CAST({canonical} AS TIMESTAMP) - to_minutes({offset}) END")


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _DuckDBLog(_Log):
    """A log summarised in SQL; the rows never come into Python."""

    def __init__(self, source, spec: _Spec | None, columns: Sequence[str] | None = None,
                 text_columns: Sequence[str] = ()) -> None:
        import duckdb

        self.spec = spec
        self.paths: list[str] = []
        is_frame = isinstance(source, pd.DataFrame)
        if is_frame and spec is not None:
            _check_frame(source, spec)  # in Python, before DuckDB converts the values
        if not is_frame:
            paths = _source_paths(source)
            kinds = {Path(p).suffix.lower() for p in paths}
            if not (kinds <= {".parquet", ".pq"} or kinds <= {".csv", ".txt", ".gz", ".tsv"}):
                raise ValueError(
                    f"Cannot tell the format of {paths[0]!r}: use a .csv or .parquet file.")
        self.con = duckdb.connect()
        spill = Path(tempfile.gettempdir()) / "clvmodels-duckdb"
        self.con.execute(f"SET temp_directory = {_sql_str(str(spill))}")
        if is_frame:
            self.con.register("src", source)
            return
        self.paths = paths
        listed = "[" + ", ".join(_sql_str(p) for p in paths) + "]"
        if spec is not None:
            text_columns = [spec.customer_id_col, spec.datetime_col]
        try:
            if kinds <= {".parquet", ".pq"}:
                reader = f"read_parquet({listed}, union_by_name = true)"
            else:
                reader = f"read_csv({listed}, header = true, union_by_name = true)"
                # Ids and timestamps as written: never typed by DuckDB's guess.
                present = self._describe(reader)
                typed = [c for c in dict.fromkeys(text_columns) if c in present]
                if typed:
                    types = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in typed)
                    reader = reader[:-1] + f", types = {{{types}}})"
            present = self._describe(reader)
            if columns is not None:
                _check_columns(columns, present)
            wanted = "*" if columns is None else ", ".join(_ident(c) for c in columns)
            self.con.execute(f"CREATE VIEW src AS SELECT {wanted} FROM {reader}")
        except Exception as err:
            self.con.close()
            if isinstance(err, DataError) or not _is_read_error(err, reading=True):
                raise
            raise _unreadable(paths, err) from err

    def _describe(self, reader: str) -> list[str]:
        """The columns DuckDB finds in the files (reads their schema or sniffs the CSV)."""
        return [row[0] for row in self.con.execute(
            f"DESCRIBE SELECT * FROM {reader}").fetchall()]

    def __exit__(self, exc_type, exc, tb):
        self.con.close()
        if exc is not None and self.paths and _is_read_error(exc):
            raise _unreadable(self.paths, exc) from exc
        return False

    def _types(self) -> dict[str, str]:
        rows = self.con.execute("DESCRIBE src").fetchall()
        return {name: str(kind) for name, kind, *_ in rows}

    def check_columns(self) -> None:
        spec = self.spec
        types = self._types()
        _check_columns(spec.columns, list(types))
        cid, dt = _ident(spec.customer_id_col), _ident(spec.datetime_col)
        dtype = types[spec.datetime_col].upper()
        self.numeric_dates = False
        ambiguous, iso_parts = "FALSE", "NULL"
        if dtype.startswith("TIMESTAMP WITH TIME ZONE"):
            ts, aware = f"timezone('UTC', {dt})", "TRUE"
        elif dtype.startswith(("TIMESTAMP", "DATE")):
            ts, aware = f"CAST({dt} AS TIMESTAMP)", "FALSE"
        elif any(dtype.startswith(k) for k in ("BIGINT", "INTEGER", "HUGEINT", "DOUBLE",
                                                "UBIGINT", "UINTEGER", "DECIMAL", "FLOAT")):
            self.numeric_dates = spec.datetime_format is None
            fmt = _sql_str(spec.datetime_format or "%Y%m%d")
            ts, aware = f"try_strptime(CAST(CAST({dt} AS BIGINT) AS VARCHAR), {fmt})", "FALSE"
        else:
            text = f"trim(CAST({dt} AS VARCHAR))"
            aware = f"regexp_matches({text}, {_sql_str(_TZ_PATTERN)})"
            if spec.datetime_format:
                fmt = _sql_str(spec.datetime_format)
                naive_ts = f"try_strptime({text}, {fmt})"
                aware_ts = f"timezone('UTC', try_strptime({text}, {fmt}))"
                ts = f"CASE WHEN {aware} THEN {aware_ts} ELSE {naive_ts} END"
            else:
                iso_parts, ts = _iso_sql(text)
                ambiguous = f"regexp_matches({text}, {_sql_str(_AMBIGUOUS_PATTERN)})"
        if spec.monetary_value_col:
            amt_col = _ident(spec.monetary_value_col)
            amt = f"TRY_CAST({amt_col} AS DOUBLE)"
        else:
            amt_col, amt = "1.0", "1.0"
        tick = {
            "D": "(CAST(ts AS DATE) - DATE '1970-01-01')",
            "h": "date_diff('hour', TIMESTAMP '1970-01-01', date_trunc('hour', ts))",
            "us": "epoch_us(ts)",
        }[spec.resolution]
        self.con.execute(
            f"""CREATE VIEW typed AS
            SELECT *, {tick} AS tick FROM (
                SELECT {cid} AS cid, {dt} AS raw_date, {aware} AS aware, {ts} AS ts,
                       {amt_col} AS raw_amount, {amt} AS amount, {ambiguous} AS ambiguous
                FROM (SELECT *, {iso_parts} AS _iso FROM src))"""
        )

    #: SQL condition of each rule on the ``typed`` view.
    _RULES = {
        "null_ids": "cid IS NULL",
        "missing_dates": "raw_date IS NULL",
        "numeric_dates": "raw_date IS NOT NULL",
        "unparseable_dates": "raw_date IS NOT NULL AND ts IS NULL AND NOT ambiguous",
        "mixed_timezones": "raw_date IS NOT NULL AND aware",
        "missing_amounts": "raw_amount IS NULL",
        "non_numeric_amounts": "raw_amount IS NOT NULL AND amount IS NULL",
        "infinite_amounts": "isinf(amount)",
        "negative_amounts": "amount < 0",
        "dates_out_of_range": (f"ts < TIMESTAMP '{_FIRST_TIMESTAMP}' "
                               f"OR ts > TIMESTAMP '{_LAST_TIMESTAMP}'"),
        "ambiguous_dates": "raw_date IS NOT NULL AND ts IS NULL AND ambiguous",
    }

    def rule_counts(self) -> dict:
        rules = dict(self._RULES)
        if not self.numeric_dates:
            rules.pop("numeric_dates")
        selects = ", ".join(f"count(*) FILTER (WHERE {cond}) AS {name}"
                            for name, cond in rules.items())
        row = self.con.execute(
            f"SELECT count(*) AS rows, count(*) FILTER (WHERE raw_date IS NOT NULL AND NOT aware)"
            f" AS naive_dates, {selects} FROM typed").fetchone()
        counts = dict(zip(["rows", "naive_dates", *rules], (int(v) for v in row)))
        if self.numeric_dates:
            for rule in ("unparseable_dates", "mixed_timezones", "dates_out_of_range",
                         "ambiguous_dates"):
                counts[rule] = 0
        n_aware = counts["mixed_timezones"]
        n_dates = counts["rows"] - counts["missing_dates"]
        counts["mixed_timezones"] = n_aware if 0 < n_aware < n_dates else 0
        return counts

    def examples(self, rule: str) -> list:
        spec = self.spec
        amount = "raw_amount" if spec.monetary_value_col else None
        cols = ", ".join(c for c in ("cid", "raw_date", amount) if c)
        rows = self.con.execute(
            f"SELECT {cols} FROM typed WHERE {self._RULES[rule]} LIMIT 5").fetchall()
        return [tuple(r) for r in rows]

    def tick_range(self) -> tuple[int, int]:
        lo, hi = self.con.execute("SELECT min(tick), max(tick) FROM typed").fetchone()
        return int(lo), int(hi)

    def _make_days(self, obs_tick: int) -> dict:
        """Create the ``days`` table (merged purchase days) and return the counts."""
        spec, con = self.spec, self.con
        drop = spec.returns == "drop"
        n_after, n_return_rows, n_seen = con.execute(
            f"""SELECT count(*) FILTER (WHERE tick > {obs_tick}),
                       count(*) FILTER (WHERE tick <= {obs_tick} AND amount < 0),
                       count(DISTINCT cid) FILTER (WHERE tick <= {obs_tick})
                FROM typed""").fetchone()
        row_filter = f"tick <= {obs_tick}" + (" AND amount >= 0" if drop else "")
        cancel = "has_return AND amount <= 0" if spec.returns == "net" else "FALSE"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE days AS
            SELECT cid, tick, sum(amount) AS amount, bool_or(amount < 0) AS has_return
            FROM typed WHERE {row_filter} GROUP BY cid, tick""")
        (n_cancelled,) = con.execute(f"SELECT count(*) FROM days WHERE {cancel}").fetchone()
        con.execute(f"DELETE FROM days WHERE {cancel}")
        (n_used,) = con.execute(f"SELECT count(*) FROM typed WHERE {row_filter}").fetchone()
        return dict(n_rows_used=int(n_used), n_after_end=int(n_after),
                    n_return_rows_dropped=int(n_return_rows) if drop else 0,
                    n_days_cancelled=int(n_cancelled), n_customers_seen=int(n_seen))

    def days(self, obs_tick: int) -> _Days:
        counts = self._make_days(obs_tick)
        frame = self.con.execute("SELECT cid, tick, amount FROM days ORDER BY cid, tick").df()
        codes, ids = pd.factorize(frame["cid"], sort=True)
        return _Days(ids, codes, frame["tick"].to_numpy(dtype=np.int64),
                     frame["amount"].to_numpy(dtype=float), **counts)

    def summarise(self, obs_tick: int, cal_tick: int, holdout: bool) -> _Result:
        spec, con = self.spec, self.con
        counts = self._make_days(obs_tick)
        holdout_cols = ""
        if holdout:
            holdout_cols = f""",
                count(*) FILTER (WHERE tick > {cal_tick}) AS frequency_holdout,
                coalesce(sum(amount) FILTER (WHERE tick > {cal_tick}), 0) AS revenue_holdout"""
        frame = con.execute(
            f"""WITH per AS (
                SELECT cid, tick, amount, min(tick) OVER (PARTITION BY cid) AS first_tick
                FROM days)
            SELECT cid,
                count(*) FILTER (WHERE tick <= {cal_tick}) - 1 AS frequency,
                min(tick) AS first_tick,
                max(tick) FILTER (WHERE tick <= {cal_tick}) AS last_tick,
                coalesce(sum(amount) FILTER (WHERE tick <= {cal_tick} AND tick > first_tick), 0)
                    AS repeat_amount{holdout_cols}
            FROM per GROUP BY cid ORDER BY cid""").df()
        n_with_days = len(frame)
        frame = frame[frame["first_tick"] <= cal_tick]
        return _Result(
            ids=frame["cid"].to_numpy(),
            frequency=frame["frequency"].to_numpy(),
            first_tick=frame["first_tick"].to_numpy(dtype=np.int64),
            last_tick=frame["last_tick"].to_numpy(dtype=np.int64),
            repeat_amount=(frame["repeat_amount"].to_numpy(dtype=float)
                           if spec.monetary_value_col else None),
            frequency_holdout=frame["frequency_holdout"].to_numpy() if holdout else None,
            revenue_holdout=frame["revenue_holdout"].to_numpy(dtype=float) if holdout else None,
            n_rows_used=counts["n_rows_used"],
            n_after_end=counts["n_after_end"],
            n_born_after_calibration=n_with_days - len(frame),
            n_return_rows_dropped=counts["n_return_rows_dropped"],
            n_days_cancelled=counts["n_days_cancelled"],
            n_customers_without_purchase=counts["n_customers_seen"] - n_with_days,
        )
