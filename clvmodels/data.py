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
import re
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

__all__ = ["ExcludedCustomers", "customer_ids", "excluded_customers", "purchase_days",
           "read_transactions", "rfm_summary"]

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
_DUPLICATES = ("keep", "drop")
_ZERO_AMOUNTS = ("keep", "drop")
_MISSING_IDS = ("error", "drop")

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
    # Cleaning options of real logs (returns, duplicates, zero amounts, missing ids).
    order_id_col: str | None = None
    duplicates: str = "keep"
    zero_amounts: str = "keep"
    missing_ids: str = "error"
    money_decimals: int = 2
    memory_limit: str | None = None
    include_first_transaction: bool = False
    log_spend: bool = False

    @property
    def columns(self) -> list[str]:
        cols = [self.customer_id_col, self.datetime_col]
        if self.monetary_value_col is not None:
            cols.append(self.monetary_value_col)
        if self.order_id_col is not None:
            cols.append(self.order_id_col)
        return cols

    @property
    def text_columns(self) -> list[str]:
        """CSV columns read as text, exactly as written: ids, timestamps, order ids."""
        cols = [self.customer_id_col, self.datetime_col]
        if self.order_id_col is not None:
            cols.append(self.order_id_col)
        return cols

    @property
    def money_scale(self) -> float:
        """Amounts times this are whole cents (with ``money_decimals=2``)."""
        return 10.0 ** self.money_decimals


def rfm_summary(
    transactions: pd.DataFrame | str | os.PathLike | Sequence[str | os.PathLike],
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    calibration_period_end: Any = None,
    time_unit: str = "W",
    *,
    datetime_format: str | None = None,
    returns: str = "error",
    merge_within: str | None = "D",
    engine: str | None = None,
    order_id_col: str | None = None,
    duplicates: str = "keep",
    zero_amounts: str = "keep",
    missing_ids: str = "error",
    money_decimals: int = 2,
    memory_limit: str | None = None,
    include_first_transaction: bool = False,
    log_spend: bool = False,
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
        ``"W"`` (default, as in every clvmodels entry point and CLI command; it was
        days in earlier versions: pass ``time_unit="D"`` for those numbers), ``"M"``
        (30.4375 days) or ``"Y"`` (365.25 days).
    datetime_format
        ``strftime`` format of the timestamps when they are text or numbers
        (``"%Y%m%d"`` for ``19970101``); inferred when not given.
    returns
        What to do with negative amounts (returns): ``"error"`` (default) raises;
        ``"drop"`` removes those rows (the purchases they cancel still count);
        ``"net"`` nets each return against the customer's earlier purchases: first
        the positive lines of the same order (``order_id_col``), then the most
        recent purchase day on or before the return, the remainder against the
        preceding days in turn. A day refunded to zero is not a purchase; what is
        left of a return larger than everything bought before it is dropped and
        counted. Netting is done in whole cents (``money_decimals``), so the result
        is the same for any row order and both engines.
    merge_within
        Purchases of a customer within the same ``"D"`` (calendar day, default) or
        ``"h"`` (hour) are one purchase; ``None`` keeps every distinct timestamp.
    engine
        ``"pandas"`` or ``"duckdb"``. Defaults to pandas for a DataFrame and DuckDB
        for files; both give the same numbers.
    order_id_col
        Optional order (invoice) id column: with ``returns="net"`` a negative line
        nets first against the positive lines of the same order id.
    duplicates
        Rows identical in every column of the log: ``"keep"`` (default, counted in
        ``attrs["notes"]``) or ``"drop"`` (counted in ``attrs["exclusions"]``).
    zero_amounts
        Rows whose amount rounds to 0 at ``money_decimals``: ``"keep"`` (default,
        counted in ``attrs["notes"]``; a day of only such rows is a purchase of 0)
        or ``"drop"``.
    missing_ids
        Rows without a customer id: ``"error"`` (default) raises a ``DataError``,
        ``"drop"`` removes them and counts them.
    money_decimals
        Decimals of the currency (2: cents). Every amount is rounded to it (half
        away from zero) and summed in whole units of ``10**-money_decimals``, so
        the sums are exact: the same for any row order and both engines. Rows with
        more decimals are counted in ``attrs["exclusions"]["amounts_rounded"]``; a
        customer whose amounts add up to 2**53 units or more (90 trillion at 2
        decimals) is refused (``amount_sum_overflow``).
    include_first_transaction
        ``True`` counts the first purchase day in ``frequency`` and
        ``monetary_value`` (the mean over every purchase day), as lifetimes'
        option of the same name, for descriptive use; ``recency``, ``T`` and the
        holdout columns are unchanged and ``attrs["include_first_transaction"]``
        says so. The models need repeat purchases and refuse such a summary.
    log_spend
        ``True`` adds ``log_spend_sum``: the sum, over the customer's repeat
        purchase days of the calibration period, of the log of the day's spend
        (amounts of the same day are added first, as everywhere in the summary);
        0 for customers without repeat purchases and NaN for customers with a
        repeat day whose spend is 0 (its log does not exist). It is what
        :class:`~clvmodels.models.gamma_gamma_individual.GammaGammaIndividualModel`
        needs besides ``frequency`` and ``monetary_value``. Each day's log is
        rounded to 1e-9 and the rounded values are summed as integers, so the
        column is the same for any row order and every engine (Spark too:
        :func:`clvmodels.spark.rfm_summary`). Needs ``monetary_value_col``; follows
        ``include_first_transaction``.
    memory_limit
        The most memory the DuckDB engine holds (``"4GB"``, ``"500MB"``); beyond
        it, DuckDB works from temporary files. Default: an eighth of the machine's
        memory, at least 1 GB (:func:`default_memory_limit`), leaving room for the
        summary in pandas and the models. Not used by the pandas engine.

    Returns
    -------
    pandas.DataFrame
        Indexed by customer id (sorted) with ``frequency``, ``recency``, ``T`` and
        ``monetary_value`` (plus the holdout columns). ``attrs`` records the time
        unit, the period ends, the number of transactions used, ``exclusions``
        (what each cleaning rule dropped or changed), ``notes`` (what was kept but
        is noteworthy: duplicates, zero amounts, customers with an extreme
        ``monetary_value``) and the customers left out, read with
        :func:`excluded_customers`.

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
                      returns, time_unit, merge_within, order_id_col=order_id_col,
                      duplicates=duplicates, zero_amounts=zero_amounts,
                      missing_ids=missing_ids, money_decimals=money_decimals,
                      memory_limit=memory_limit,
                      include_first_transaction=include_first_transaction,
                      log_spend=log_spend)
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
    order_id_col: str | None = None,
    duplicates: str = "keep",
    zero_amounts: str = "keep",
    missing_ids: str = "error",
    money_decimals: int = 2,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """The validated log as purchase days: one row per customer and day.

    The rows :func:`rfm_summary` counts, with the same checks, merging and
    treatment of returns: columns ``customer_id_col``, ``datetime_col`` (the start
    of the day, or hour) and ``amount`` (the day's total; 1.0 per purchase day
    without ``monetary_value_col``), sorted by customer and time. Transactions after
    ``observation_period_end`` are excluded and counted in a warning. Takes the
    cleaning options of :func:`rfm_summary` (``returns``, ``order_id_col``,
    ``duplicates``, ``zero_amounts``, ``missing_ids``, ``money_decimals``,
    ``memory_limit``) and
    applies the same rules; the counts are in ``attrs["exclusions"]`` and
    ``attrs["notes"]``, the customers left out in :func:`excluded_customers`.
    """
    spec = _make_spec(customer_id_col, datetime_col, monetary_value_col, datetime_format,
                      returns, "D", merge_within, order_id_col=order_id_col,
                      duplicates=duplicates, zero_amounts=zero_amounts,
                      missing_ids=missing_ids, money_decimals=money_decimals,
                      memory_limit=memory_limit)
    with _open_log(transactions, spec, engine) as log:
        obs_tick, _ = _validate(log, spec, observation_period_end)
        d = log.days(obs_tick)
    excluded = _excluded_frame(d.info, obs_tick, spec)
    exclusions, notes = _rule_counts_report(d.counts, excluded, spec)
    _warn_exclusions(exclusions, spec, caller="purchase_days", stacklevel=3, notes=notes)
    out = pd.DataFrame({
        customer_id_col: np.asarray(d.ids)[d.codes],
        datetime_col: d.ticks.astype(f"datetime64[{spec.resolution}]"),
        "amount": d.cents / spec.money_scale,
    })
    out.attrs.update(exclusions=exclusions, notes=notes)
    if len(excluded):
        out.attrs["excluded_customers"] = ExcludedCustomers(excluded)
    return out


def _make_spec(customer_id_col, datetime_col, monetary_value_col, datetime_format, returns,
               time_unit, merge_within, *, order_id_col=None, duplicates="keep",
               zero_amounts="keep", missing_ids="error", money_decimals=2,
               memory_limit=None, include_first_transaction=False,
               log_spend=False) -> _Spec:
    for name, value, allowed in (("returns", returns, _RETURNS),
                                 ("duplicates", duplicates, _DUPLICATES),
                                 ("zero_amounts", zero_amounts, _ZERO_AMOUNTS),
                                 ("missing_ids", missing_ids, _MISSING_IDS)):
        if value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}.")
    if merge_within not in _RESOLUTIONS:
        raise ValueError(f"merge_within must be 'D', 'h' or None, got {merge_within!r}.")
    if isinstance(money_decimals, bool) or not isinstance(money_decimals, (int, np.integer)) \
            or not 0 <= money_decimals <= 6:
        raise ValueError(f"money_decimals must be an integer from 0 to 6, got {money_decimals!r}.")
    if not isinstance(include_first_transaction, (bool, np.bool_)):
        raise ValueError("include_first_transaction must be True or False, "
                         f"got {include_first_transaction!r}.")
    if not isinstance(log_spend, (bool, np.bool_)):
        raise ValueError(f"log_spend must be True or False, got {log_spend!r}.")
    if log_spend and monetary_value_col is None:
        raise ValueError("log_spend=True needs monetary_value_col: log_spend_sum is the sum "
                         "of the logs of the repeat purchase days' amounts.")
    if memory_limit is not None and not (isinstance(memory_limit, str) and re.fullmatch(
            r"\s*\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*", memory_limit, re.IGNORECASE)):
        raise ValueError(f"memory_limit must be a size such as '4GB' or '500MB', "
                         f"got {memory_limit!r}.")
    resolution, tick_days = _RESOLUTIONS[merge_within]
    return _Spec(customer_id_col, datetime_col, monetary_value_col, datetime_format, returns,
                 normalize_unit(time_unit), resolution, tick_days, order_id_col=order_id_col,
                 duplicates=duplicates, zero_amounts=zero_amounts, missing_ids=missing_ids,
                 money_decimals=int(money_decimals), memory_limit=memory_limit,
                 include_first_transaction=bool(include_first_transaction),
                 log_spend=bool(log_spend))


def default_memory_limit() -> str:
    """The DuckDB engine's default ``memory_limit``: an eighth of the machine's
    memory, at least 1 GB. DuckDB's own default (80%) leaves too little for the
    summary in pandas and the models: at 100M transactions DuckDB filled a quarter
    (6 GB on a 24 GB machine) while counting duplicates, and was no faster than
    with 2 GB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not on POSIX: DuckDB's own default
        return ""
    return f"{max(1024, total // 8 // 2**20)}MB"


def _open_log(transactions, spec: _Spec, engine: str | None) -> "_Log":
    is_frame = isinstance(transactions, pd.DataFrame)
    if engine is None:
        engine = "pandas" if is_frame else "duckdb"
    if engine == "pandas":
        # Every column is read: duplicates are rows identical in every column.
        frame = (transactions if is_frame
                 else read_transactions(transactions, text_columns=spec.text_columns))
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


def customer_ids(transactions, customer_id_col: str) -> pd.Index:
    """The distinct customer ids of a log, typed as every summary of it has them.

    A DataFrame's ids keep their values and type; a CSV's are text exactly as
    written (``"007"`` stays ``"007"``, as :func:`rfm_summary` reads them); a
    Parquet file's keep the file's type. Rows without an id are left out. Only the
    id column is read (by DuckDB for files), so a log too large for memory is fine.
    Give the result to :func:`clvmodels.read_attributes` (``like=``) to read
    customer attributes with ids that match the log's.

    Parameters
    ----------
    transactions
        A DataFrame, or a CSV/Parquet path, glob or list of paths.
    customer_id_col
        The customer id column.

    Returns
    -------
    pandas.Index named ``customer_id_col``, in no particular order.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"id": ["007", "012", "007"], "amount": [5.0, 3.0, 2.0]})
    >>> sorted(customer_ids(log, "id"))
    ['007', '012']
    """
    if isinstance(transactions, pd.DataFrame):
        return pd.Index(pd.unique(transactions[customer_id_col].dropna()), name=customer_id_col)
    with _DuckDBLog(transactions, None, columns=[customer_id_col],
                    text_columns=[customer_id_col]) as log:
        col = _ident(customer_id_col)
        ids = log.con.sql(f"SELECT DISTINCT {col} FROM src WHERE {col} IS NOT NULL").df()
    return pd.Index(ids.iloc[:, 0], name=customer_id_col)


class ExcludedCustomers:
    """The customers a summary leaves out, kept in ``summary.attrs["excluded_customers"]``.

    ``frame`` is indexed by customer id (named like the summary's index) with the
    columns ``reason`` (text) and ``in_calibration_period`` (whether the customer
    bought in the calibration period, so that a per-customer export keeps a row
    for them). The holder is shared, not copied, when pandas copies ``attrs``
    (pandas deep-copies attrs on every operation), so it never slows down
    operations on the summary; two holders are equal when their frames are (so
    summaries from both engines compare equal, attrs included).
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

    def __eq__(self, other) -> bool:
        if not isinstance(other, ExcludedCustomers):
            return NotImplemented
        a, b = self.frame, other.frame
        return a is b or (a.index.name == b.index.name and list(a.index) == list(b.index)
                          and a.equals(b.set_axis(a.index)))

    __hash__ = None

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
    log.row_counts = log.apply_row_options()  # duplicates and missing ids (options)
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


def _calibration_tick(calibration_period_end, spec: _Spec, obs_tick: int,
                      first_tick: int) -> int:
    """The calibration end in ticks (the observation end without one), checked
    against the observation end and the first purchase; shared by every engine."""
    if calibration_period_end is None:
        return obs_tick
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
    return cal_tick


def _summarise(log: "_Log", spec: _Spec, observation_period_end, calibration_period_end):
    obs_tick, first_tick = _validate(log, spec, observation_period_end)
    cal_tick = _calibration_tick(calibration_period_end, spec, obs_tick, first_tick)
    result = log.summarise(obs_tick, cal_tick, holdout=calibration_period_end is not None)
    summary = _finish(result, spec, obs_tick, cal_tick, calibration_period_end is not None)

    excluded = _excluded_frame(result.info, cal_tick, spec)
    exclusions, notes = _rule_counts_report(result.counts, excluded, spec)
    notes.update(_extreme_monetary(summary, spec))
    summary.attrs.update(
        time_unit=spec.time_unit,
        observation_period_end=_tick_to_str(obs_tick, spec),
        calibration_period_end=_tick_to_str(cal_tick, spec),
        merge_within={"D": "D", "h": "h", "us": None}[spec.resolution],
        include_first_transaction=spec.include_first_transaction,
        n_transactions=int(result.counts["n_rows_used"]),
        exclusions=exclusions,
        notes=notes,
    )
    if len(excluded):
        summary.attrs["excluded_customers"] = ExcludedCustomers(excluded)
    _warn_exclusions(exclusions, spec, notes=notes)
    return summary


@dataclass
class _Result:
    """What an engine computed: per-customer arrays in ticks, plus counts.

    ``repeat_amount`` and ``revenue_holdout`` are exact sums in whole cents.
    ``counts`` holds what the cleaning rules did (see :func:`_rule_counts_report`);
    ``info`` describes every customer of the log (see :func:`_excluded_frame`).
    """

    ids: Any
    frequency: np.ndarray
    first_tick: np.ndarray
    last_tick: np.ndarray
    repeat_amount: np.ndarray | None
    frequency_holdout: np.ndarray | None
    revenue_holdout: np.ndarray | None
    counts: dict
    info: pd.DataFrame
    first_amount: np.ndarray | None = None  # cents of the first purchase day
    # With ``log_spend``: sums of :func:`_log_fixed` over the repeat days (int64) and
    # the number of repeat days of 0 cents, and the same of the first day.
    repeat_log: np.ndarray | None = None
    repeat_nonpositive: np.ndarray | None = None
    first_log: np.ndarray | None = None
    first_nonpositive: np.ndarray | None = None


@dataclass
class _Days:
    """Purchase days: customer codes into ``ids``, ticks and day amounts in whole
    cents (see :func:`_to_cents`), plus counts."""

    ids: Any
    codes: np.ndarray
    ticks: np.ndarray
    cents: np.ndarray
    counts: dict
    info: pd.DataFrame


# ---------------------------------------------------------------------------
# Cleaning rules shared by both engines: returns netting, counts, left-out customers

#: Columns of the per-customer ``info`` frame both engines build (index: customer id):
#: first tick of any row, any row up to the observation end, any purchase line
#: (amount >= 0) kept, any return line kept, any zero-amount row dropped, and the
#: first purchase day left after cleaning (NaN when none).
_INFO_COLUMNS = ("first_row_tick", "seen", "has_purchase_line", "has_return", "zero_dropped",
                 "first_day_tick")

#: Why a customer is not in the summary (``excluded_customers(summary)["reason"]``).
_REASONS = {
    "after_observation": "first transaction after the observation end",
    "after_calibration": "first purchase after the calibration end",
    "cancelled": "all purchases cancelled by returns",
    "zero": "no purchase left after dropping zero amounts",
    "only_returns": "only returns, no purchase",
}

_NET_COUNT_KEYS = ("days_cancelled_by_returns", "return_rows_netted",
                   "return_amount_netted_by_order", "return_amount_netted_by_day",
                   "return_rows_unmatched", "return_amount_unmatched")


#: Sums of whole cents below this are exact in float64, whatever the order.
_EXACT_CENTS = 2.0 ** 53


def _to_cents(amounts: np.ndarray, spec: _Spec) -> np.ndarray:
    """Amounts in whole units of ``10**-money_decimals``, rounded half away from zero.

    Floats holding integers: their sums are exact (below ``_EXACT_CENTS``), hence
    the same for any row order. :func:`_cents_sql` is the same in SQL.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return np.copysign(np.floor(np.abs(amounts) * spec.money_scale + 0.5), amounts)


#: ``log_spend_sum`` is summed in whole units of this (fixed point): exact integer
#: sums are the same for any row order.
_LOG_UNIT = 1e-9


def _log_fixed(cents: np.ndarray) -> np.ndarray:
    """``round(ln(cents) / _LOG_UNIT)`` as int64 (half up), 0 where ``cents <= 0``.

    Both engines take these values from this function (DuckDB through a table of
    the distinct day amounts), so they cannot differ by the last bit of a ``log``.
    """
    cents = np.asarray(cents, dtype=float)
    positive = cents > 0
    out = np.zeros(len(cents), dtype=np.int64)
    out[positive] = np.floor(np.log(cents[positive]) / _LOG_UNIT + 0.5).astype(np.int64)
    return out


def _log_spend_sum(log_fixed, nonpositive, frequency, spec: _Spec) -> np.ndarray:
    """``log_spend_sum`` from the fixed-point sums of the logs of day cents: minus
    ``ln(10**money_decimals)`` per day (also in fixed point), NaN where a day has 0
    spend, 0 without repeat days."""
    per_day = int(np.floor(spec.money_decimals * np.log(10.0) / _LOG_UNIT + 0.5))
    fixed = np.asarray(log_fixed, dtype=np.int64) - np.asarray(frequency, np.int64) * per_day
    out = fixed.astype(float) * _LOG_UNIT
    out[np.asarray(frequency) == 0] = 0.0
    out[np.asarray(nonpositive) > 0] = np.nan
    return out


def _cents_sql(spec: _Spec) -> str:
    return f"sign(amount) * floor(abs(amount) * {spec.money_scale!r} + 0.5)"


def _rounded_mask(amounts: np.ndarray, spec: _Spec) -> np.ndarray:
    """Rows with more decimals than ``money_decimals`` (beyond float noise)."""
    if spec.monetary_value_col is None:
        return np.zeros(len(amounts), dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = np.abs(amounts) * spec.money_scale
        return np.abs(scaled - np.floor(scaled + 0.5)) > 1e-6 * np.maximum(1.0, scaled)


def _rounded_sql(spec: _Spec) -> str:
    """The same test as :func:`_rounded_mask`, in SQL on the ``amount`` column."""
    if spec.monetary_value_col is None:
        return "FALSE"
    scaled = f"(abs(amount) * {spec.money_scale!r})"
    return f"abs({scaled} - floor({scaled} + 0.5)) > 1e-6 * greatest(1.0, {scaled})"


def _zero_mask(amounts: np.ndarray, spec: _Spec) -> np.ndarray:
    """Rows whose amount rounds to 0 at ``money_decimals`` (never without an amount column)."""
    if spec.monetary_value_col is None:
        return np.zeros(len(amounts), dtype=bool)
    return _to_cents(amounts, spec) == 0


def _zero_sql(spec: _Spec) -> str:
    """The same test as :func:`_zero_mask`, in SQL on the ``amount`` column."""
    if spec.monetary_value_col is None:
        return "FALSE"
    return f"floor(abs(amount) * {spec.money_scale!r} + 0.5) = 0"


def _check_exact_sums(codes: np.ndarray, cents: np.ndarray, spec: _Spec) -> None:
    """Refuse customers whose amounts add up beyond what sums exactly."""
    gross = np.bincount(codes, weights=np.abs(cents)) if len(codes) else np.zeros(0)
    _refuse_overflow(int((~(gross < _EXACT_CENTS)).sum()), spec)


def _refuse_overflow(n_bad: int, spec: _Spec) -> None:
    if n_bad:
        col = spec.monetary_value_col
        limit = _EXACT_CENTS / spec.money_scale
        raise DataError(
            f"{n_bad} customers' amounts in column {col!r} add up to {limit:.3g} or more "
            f"(the most that sums exactly at money_decimals={spec.money_decimals}); "
            "check the unit of the amounts or remove those rows.",
            column=col, rule="amount_sum_overflow", n_rows=n_bad)


def _order_codes(orders, n: int) -> np.ndarray:
    """Sorted integer codes of the order ids (-1 for none), the same from both engines."""
    if orders is None:
        return np.full(n, -1, dtype=np.int64)
    values = pd.Series(np.asarray(orders, dtype=object))
    try:
        codes, _ = pd.factorize(values, sort=True)
    except TypeError:  # ids of several types: compare them as text
        codes, _ = pd.factorize(values.where(values.isna(), values.astype(str)), sort=True)
    return np.asarray(codes, dtype=np.int64)


def _group_lines(codes, ticks, orders, cents):
    """Sum lines per (customer, tick, order), sorted; with the number of lines."""
    order = np.lexsort((orders, ticks, codes))
    codes, ticks, orders, cents = codes[order], ticks[order], orders[order], cents[order]
    new = np.ones(len(codes), dtype=bool)
    new[1:] = (codes[1:] != codes[:-1]) | (ticks[1:] != ticks[:-1]) | (orders[1:] != orders[:-1])
    starts = np.flatnonzero(new)
    with np.errstate(over="ignore", invalid="ignore"):
        sums = np.add.reduceat(cents, starts) if len(starts) else cents[:0]
    n_lines = np.diff(np.append(starts, len(codes)))
    return codes[starts], ticks[starts], orders[starts], sums, n_lines


def _consume(remaining: np.ndarray, touched: np.ndarray, candidates, left: float):
    """Take ``left`` cents from ``remaining[candidates]`` in turn; return (left, taken)."""
    taken = 0.0
    for j in candidates:
        if left <= 0:
            break
        take = min(remaining[j], left)
        if take > 0:
            remaining[j] -= take
            left -= take
            taken += take
            touched[j] = True
    return left, taken


def _net_returns(codes, ticks, amounts, orders, spec: _Spec):
    """Net the returns (negative lines) of customers against their earlier purchases.

    The one implementation both engines use (for the customers that have returns),
    so that the result is the same for any row order and both engines. Money is
    handled in whole units of ``10**-money_decimals`` (cents), so sums are exact.

    Each return (the negative lines of one customer, tick and order, processed by
    tick, then order id, lines without an order id last) takes its amount

    1. from the positive lines of the same order id on or before the return, the
       latest day first (only with ``order_id_col``);
    2. then from the customer's purchase days on or before the return, the most
       recent first (within a day, orders by id);
    3. what is left is unmatched: dropped and counted.

    A purchase day that returns reduce to zero is no longer a purchase; a day that
    no return touched stays one even at 0 (zero-amount lines kept).

    Returns the purchase days (codes, ticks, amounts in cents) and the counts.
    """
    scale = spec.money_scale
    cents = _to_cents(np.asarray(amounts, dtype=float), spec)
    ocodes = _order_codes(orders, len(codes))
    codes, ticks = np.asarray(codes, dtype=np.int64), np.asarray(ticks, dtype=np.int64)
    neg = np.asarray(amounts) < 0
    bc, bt, bo, bamt, _ = _group_lines(codes[~neg], ticks[~neg], ocodes[~neg], cents[~neg])
    rc, rt, ro, ramt, rlines = _group_lines(codes[neg], ticks[neg], ocodes[neg], -cents[neg])

    remaining, touched = bamt.copy(), np.zeros(len(bamt), dtype=bool)
    lo_all, hi_all = np.searchsorted(bc, rc, "left"), np.searchsorted(bc, rc, "right")
    by_order = by_day = unmatched = 0.0
    rows_netted = rows_unmatched = 0
    for i in np.lexsort((ro, ro < 0, rt, rc)):
        left = float(ramt[i])
        lo, hi = lo_all[i], hi_all[i]
        eligible = lo + np.flatnonzero(bt[lo:hi] <= rt[i])  # sorted by tick, then order
        if ro[i] >= 0:
            left, taken = _consume(remaining, touched, eligible[bo[eligible] == ro[i]][::-1], left)
            by_order += taken
        if left > 0:
            history = eligible[np.lexsort((bo[eligible], -bt[eligible]))]
            left, taken = _consume(remaining, touched, history, left)
            by_day += taken
        if left > 0:
            unmatched += left
            if left == ramt[i]:
                rows_unmatched += int(rlines[i])
                continue
        rows_netted += int(rlines[i])

    new_day = np.ones(len(bc), dtype=bool)
    new_day[1:] = (bc[1:] != bc[:-1]) | (bt[1:] != bt[:-1])
    starts = np.flatnonzero(new_day)
    if len(starts):
        day_cents = np.add.reduceat(remaining, starts)
        cancelled = np.logical_or.reduceat(touched, starts) & (day_cents <= 0)
    else:
        day_cents, cancelled = remaining[:0], touched[:0]
    counts = {
        "days_cancelled_by_returns": int(cancelled.sum()),
        "return_rows_netted": rows_netted,
        "return_amount_netted_by_order": round(float(by_order) / scale, spec.money_decimals),
        "return_amount_netted_by_day": round(float(by_day) / scale, spec.money_decimals),
        "return_rows_unmatched": rows_unmatched,
        "return_amount_unmatched": round(float(unmatched) / scale, spec.money_decimals),
    }
    keep = ~cancelled
    return bc[starts][keep], bt[starts][keep], day_cents[keep], counts


def _excluded_frame(info: pd.DataFrame, cal_tick: int, spec: _Spec) -> pd.DataFrame:
    """The customers of the log the summary leaves out, with the reason.

    ``in_calibration_period``: the customer has a row (kept after the duplicate and
    missing-id options) on or before the calibration end.
    """
    no_day = info["first_day_tick"].isna().to_numpy()
    seen = info["seen"].to_numpy(dtype=bool)
    bought = info["has_purchase_line"].to_numpy(dtype=bool)
    zero = info["zero_dropped"].to_numpy(dtype=bool)
    with np.errstate(invalid="ignore"):
        late = ~no_day & (info["first_day_tick"].to_numpy(dtype=float) > cal_tick)
    # Codes first: an array of reason texts for 10M customers would take gigabytes.
    texts = np.array([_REASONS[k] for k in ("after_observation", "cancelled", "zero",
                                            "only_returns", "after_calibration")], dtype=object)
    code = np.select([~seen, no_day & bought, no_day & zero, no_day, late],
                     np.arange(len(texts)), default=-1)
    out = code >= 0
    index = info.index[out].rename(spec.customer_id_col)
    return pd.DataFrame({
        "reason": pd.Series(texts[code[out]], index=index, dtype=object),
        "in_calibration_period": pd.Series(
            info["first_row_tick"].to_numpy()[out] <= cal_tick, index=index, dtype=bool),
    })


def _rule_counts_report(counts: dict, excluded: pd.DataFrame, spec: _Spec):
    """``attrs["exclusions"]`` (what was dropped or changed) and ``attrs["notes"]``."""
    reasons = excluded["reason"].value_counts()
    n = {key: int(reasons.get(text, 0)) for key, text in _REASONS.items()}
    exclusions = {
        "transactions_after_observation_end": int(counts["n_after_end"]),
        "customers_after_calibration_end": n["after_calibration"],
        "rows_dropped_as_returns": int(counts["n_negative_rows"]) if spec.returns == "drop" else 0,
        "days_cancelled_by_returns": int(counts.get("days_cancelled_by_returns", 0)),
        "customers_without_purchases": n["cancelled"] + n["zero"] + n["only_returns"],
        "customers_after_observation_end": n["after_observation"],
        "duplicate_rows_dropped":
            int(counts["duplicate_rows"]) if spec.duplicates == "drop" else 0,
        "rows_without_customer_id": int(counts["rows_without_customer_id"]),
        "zero_amount_rows_dropped":
            int(counts["n_zero_rows"]) if spec.zero_amounts == "drop" else 0,
        "amounts_rounded": int(counts["n_rounded_rows"]),
    }
    for key in _NET_COUNT_KEYS[1:]:
        exclusions[key] = counts.get(key, 0)
    notes = {
        "duplicate_rows_kept": int(counts["duplicate_rows"]) if spec.duplicates == "keep" else 0,
        "zero_amount_rows_kept": int(counts["n_zero_rows"]) if spec.zero_amounts == "keep" else 0,
    }
    return exclusions, notes


def _extreme_monetary(summary: pd.DataFrame, spec: _Spec) -> dict:
    """Customers whose ``monetary_value`` sits far above the rest (wholesale, data errors).

    Rule: among repeat customers with a positive ``monetary_value`` (at least 10),
    those above ``exp(Q3 + 3 * IQR)`` of ``log(monetary_value)``.
    """
    out = {"extreme_monetary_customers": 0, "extreme_monetary_threshold": None}
    if spec.monetary_value_col is None:
        return out
    mv = summary["monetary_value"].to_numpy(dtype=float)
    mv = mv[(summary["frequency"].to_numpy() > 0) & (mv > 0)]
    if len(mv) < 10:
        return out
    q1, q3 = np.quantile(np.log(mv), [0.25, 0.75])
    threshold = round(float(np.exp(q3 + 3.0 * (q3 - q1))), spec.money_decimals)
    out["extreme_monetary_customers"] = int((mv > threshold).sum())
    out["extreme_monetary_threshold"] = threshold
    return out


def _finish(r: _Result, spec: _Spec, obs_tick: int, cal_tick: int, holdout: bool):
    scale = spec.tick_days / unit_days(spec.time_unit)
    frequency = np.asarray(r.frequency, dtype=np.int64)
    data = {
        "frequency": frequency,
        "recency": (np.asarray(r.last_tick) - np.asarray(r.first_tick)) * scale,
        "T": (cal_tick - np.asarray(r.first_tick)) * scale,
    }
    money = spec.money_scale
    cents = np.asarray(r.repeat_amount, dtype=float) if spec.monetary_value_col else None
    if spec.include_first_transaction:
        frequency = frequency + 1
        data["frequency"] = frequency
        if cents is not None:
            cents = cents + np.asarray(r.first_amount, dtype=float)
    if cents is not None:
        data["monetary_value"] = np.divide(
            cents / money, frequency, out=np.zeros(len(frequency)), where=frequency > 0)
    if spec.log_spend:
        log_fixed = np.asarray(r.repeat_log, dtype=np.int64)
        nonpositive = np.asarray(r.repeat_nonpositive, dtype=np.int64)
        if spec.include_first_transaction:
            log_fixed = log_fixed + np.asarray(r.first_log, dtype=np.int64)
            nonpositive = nonpositive + np.asarray(r.first_nonpositive, dtype=np.int64)
        data["log_spend_sum"] = _log_spend_sum(log_fixed, nonpositive, frequency, spec)
    if holdout:
        fh = np.asarray(r.frequency_holdout, dtype=np.int64)
        data["frequency_holdout"] = fh
        if spec.monetary_value_col is not None:
            revenue = np.asarray(r.revenue_holdout, dtype=float) / money
            data["monetary_value_holdout"] = np.divide(
                revenue, fh, out=np.zeros(len(fh)), where=fh > 0)
            data["revenue_holdout"] = revenue
        data["duration_holdout"] = np.full(len(fh), (obs_tick - cal_tick) * scale)
    # The ids' own type, inferred alike from both engines (text ids: str in pandas 3).
    index = pd.Index(np.asarray(r.ids), name=spec.customer_id_col)
    return pd.DataFrame(data, index=index)


def _raise_first_problem(counts: dict, log: "_Log", spec: _Spec) -> None:
    dt, amt, cid = spec.datetime_col, spec.monetary_value_col, spec.customer_id_col
    n = counts["rows"]
    messages = {
        "empty": (None, "The transaction log has no rows."),
        "null_ids": (cid, f"{{k}} of {n} rows have a missing customer id in column {cid!r}; "
                          "pass missing_ids='drop' to drop them (they are counted)."),
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
                                  "pass returns='net' to net them against the customer's earlier "
                                  "purchases or returns='drop' to remove them."),
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
                     stacklevel: int = 4, notes: dict | None = None) -> None:
    """One warning counting what the rules excluded, changed and noted.

    ``stacklevel`` points at the user's call.
    """
    amt, cid = spec.monetary_value_col, spec.customer_id_col
    phrases = {
        "transactions_after_observation_end": "{} transactions after the observation end",
        "customers_after_calibration_end":
            "{} customers whose first purchase is after the calibration end",
        "rows_dropped_as_returns":
            f"{{}} rows with a negative {amt!r} (returns; the purchases they cancel still "
            "count as purchases: pass returns='net' to net returns against them)",
        "days_cancelled_by_returns": "{} purchase days fully refunded by later or same-day "
                                     "returns (no longer purchases)",
        "customers_without_purchases": "{} customers left with no purchase",
        "customers_after_observation_end":
            "{} customers whose first transaction is after the observation end",
        "duplicate_rows_dropped": "{} exact duplicate rows (duplicates='drop')",
        "rows_without_customer_id": f"{{}} rows without a customer id in {cid!r} "
                                    "(missing_ids='drop')",
        "zero_amount_rows_dropped": f"{{}} rows with a zero {amt!r} (zero_amounts='drop')",
        "return_rows_unmatched": "{} return rows that match no purchase on or before them",
        "return_amount_unmatched": "{} of returns exceeding what was bought before them",
    }
    parts = [phrases[k].format(v) for k, v in exclusions.items() if v and k in phrases]
    sentences = []
    if parts:
        sentences.append(f"{caller} excluded " + "; ".join(parts) + ".")
    netted = [f"{exclusions[k]} {what}" for k, what in (
        ("return_amount_netted_by_order", "against the same order"),
        ("return_amount_netted_by_day", "against the customer's purchase days on or before "
                                        "the return"),
    ) if exclusions.get(k)]
    if netted:
        sentences.append(f"Returns ({exclusions.get('return_rows_netted', 0)} rows) were netted: "
                         + " and ".join(netted) + ".")
    if exclusions.get("amounts_rounded"):
        sentences.append(
            f"{exclusions['amounts_rounded']} amounts in {amt!r} have more than "
            f"{spec.money_decimals} decimals and were rounded to "
            f"{10.0 ** -spec.money_decimals:g} (money_decimals={spec.money_decimals}).")
    notes = notes or {}
    kept = []
    if notes.get("duplicate_rows_kept"):
        kept.append(f"{notes['duplicate_rows_kept']} exact duplicate rows were kept "
                    "(duplicates='drop' drops them)")
    if notes.get("zero_amount_rows_kept"):
        kept.append(f"{notes['zero_amount_rows_kept']} rows with a zero {amt!r} were kept "
                    "(zero_amounts='drop' drops them)")
    if notes.get("extreme_monetary_customers"):
        kept.append(f"{notes['extreme_monetary_customers']} customers have an extreme "
                    f"monetary_value (above {notes['extreme_monetary_threshold']}, "
                    "Q3 + 3 IQR of log monetary_value among repeat customers)")
    if kept:
        sentences.append("Note: " + "; ".join(kept) + ".")
    if sentences:
        where = "summary.attrs['exclusions'] and ['notes']"
        if exclusions.get("customers_without_purchases") or exclusions.get(
                "customers_after_calibration_end") or exclusions.get(
                "customers_after_observation_end"):
            where += "; the customers left out in clvmodels.data.excluded_customers(summary)"
        warnings.warn(" ".join(sentences) + f" The counts are in {where}.",
                      DataWarning, stacklevel=stacklevel)


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

    def apply_row_options(self) -> dict:
        """Count exact duplicate rows and drop them and rows without an id as asked."""
        spec, frame = self.spec, self.frame
        try:
            dup = frame.duplicated().to_numpy(dtype=bool)
        except TypeError:  # unhashable cells (lists): no row can be compared
            dup = np.zeros(len(frame), dtype=bool)
        counts = {"duplicate_rows": int(dup.sum()), "rows_without_customer_id": 0}
        if spec.duplicates == "drop" and dup.any():
            frame = frame[~dup]
        if spec.missing_ids == "drop":
            missing = frame[spec.customer_id_col].isna().to_numpy(dtype=bool)
            counts["rows_without_customer_id"] = int(missing.sum())
            if missing.any():
                frame = frame[~missing]
            _refuse_no_ids_left(len(frame), counts, spec)
        if frame is not self.frame:
            self.frame = frame
            self.check_columns()
        return counts

    def days(self, obs_tick: int) -> "_Days":
        """Purchase days up to the observation end: merged, cleaning rules applied."""
        spec = self.spec
        ticks, amounts = self.ticks, self.amounts
        codes_all, uniques = pd.factorize(self.ids, sort=True)
        n_customers = len(uniques)
        seen_row = ticks <= obs_tick
        zero = _zero_mask(amounts, spec)
        neg = amounts < 0
        keep = seen_row.copy()
        if spec.zero_amounts == "drop":
            keep &= ~zero
        counts = {"n_after_end": int((~seen_row).sum()),
                  "n_zero_rows": int((seen_row & zero).sum()),
                  "n_negative_rows": int((keep & neg).sum()), **self.row_counts}
        if spec.returns == "drop":
            keep &= ~neg
        counts["n_rounded_rows"] = int((keep & _rounded_mask(amounts, spec)).sum())
        cents = _to_cents(amounts, spec)
        _check_exact_sums(codes_all[keep], cents[keep], spec)

        def any_per_customer(mask):
            return np.bincount(codes_all[mask], minlength=n_customers) > 0

        has_return = any_per_customer(keep & neg)
        first_row = np.full(n_customers, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(first_row, codes_all, ticks)
        info = {"first_row_tick": first_row, "seen": any_per_customer(seen_row),
                "has_purchase_line": any_per_customer(keep & ~neg), "has_return": has_return,
                "zero_dropped": (any_per_customer(seen_row & zero)
                                 if spec.zero_amounts == "drop" else np.zeros(n_customers, bool))}
        netted = keep & has_return[codes_all] if spec.returns == "net" else np.zeros_like(keep)
        plain = keep & ~netted

        # Customers without returns: one row per customer-day (or hour), cents summed.
        codes, day_ticks, day_cents = codes_all[plain], ticks[plain], cents[plain]
        order = np.lexsort((day_ticks, codes))
        codes, day_ticks, day_cents = codes[order], day_ticks[order], day_cents[order]
        new_day = np.ones(len(codes), dtype=bool)
        new_day[1:] = (codes[1:] != codes[:-1]) | (day_ticks[1:] != day_ticks[:-1])
        starts = np.flatnonzero(new_day)
        day_code, day_tick = codes[starts], day_ticks[starts]
        day_amount = np.add.reduceat(day_cents, starts) if len(starts) else day_cents[:0]

        # Customers with returns (returns="net"): the shared netting.
        if netted.any():
            orders = (self.frame[spec.order_id_col].to_numpy()[netted]
                      if spec.order_id_col else None)
            n_code, n_tick, n_amount, net_counts = _net_returns(
                codes_all[netted], ticks[netted], amounts[netted], orders, spec)
            counts.update(net_counts)
            day_code = np.concatenate([day_code, n_code])
            day_tick = np.concatenate([day_tick, n_tick])
            day_amount = np.concatenate([day_amount, n_amount])
            order = np.lexsort((day_tick, day_code))
            day_code, day_tick, day_amount = day_code[order], day_tick[order], day_amount[order]
        counts["n_rows_used"] = int(keep.sum())
        first_day = np.full(n_customers, np.nan)
        np.fmin.at(first_day, day_code, day_tick.astype(float))
        info["first_day_tick"] = first_day
        return _Days(uniques, day_code, day_tick, day_amount, counts,
                     pd.DataFrame(info, index=pd.Index(uniques)))

    def summarise(self, obs_tick: int, cal_tick: int, holdout: bool) -> _Result:
        spec = self.spec
        d = self.days(obs_tick)
        uniques, day_code, day_tick, day_amount = d.ids, d.codes, d.ticks, d.cents

        # Calibration statistics per customer.
        cal = day_tick <= cal_tick
        c_code, c_tick, c_amount = day_code[cal], day_tick[cal], day_amount[cal]
        first = np.ones(len(c_code), dtype=bool)
        first[1:] = c_code[1:] != c_code[:-1]
        cstart = np.flatnonzero(first)
        cend = np.append(cstart[1:], len(c_code)) - 1 if len(cstart) else cstart
        repeat_amount = np.where(first, 0.0, c_amount)
        cust_codes = c_code[cstart]

        freq_h = rev_h = None
        if holdout:
            position = np.full(len(uniques), -1, dtype=np.int64)
            position[cust_codes] = np.arange(len(cust_codes))
            h_pos = position[day_code[~cal]]
            in_cohort = h_pos >= 0
            freq_h = np.bincount(h_pos[in_cohort], minlength=len(cust_codes))
            rev_h = np.bincount(h_pos[in_cohort], weights=day_amount[~cal][in_cohort],
                                minlength=len(cust_codes))
        repeat = np.add.reduceat(repeat_amount, cstart) if len(cstart) else repeat_amount[:0]
        logs = {}
        if spec.log_spend:
            lg = _log_fixed(c_amount)
            bad = (c_amount <= 0).astype(np.int64)

            def repeat_sum(values):
                values = np.where(first, 0, values)
                return np.add.reduceat(values, cstart) if len(cstart) else values[:0]

            logs = dict(repeat_log=repeat_sum(lg), repeat_nonpositive=repeat_sum(bad),
                        first_log=lg[cstart], first_nonpositive=bad[cstart])
        return _Result(
            ids=uniques[cust_codes],
            frequency=np.diff(np.append(cstart, len(c_code))) - 1,
            first_tick=c_tick[cstart],
            last_tick=c_tick[cend],
            repeat_amount=repeat if spec.monetary_value_col else None,
            frequency_holdout=freq_h,
            revenue_holdout=rev_h,
            counts=d.counts,
            info=d.info,
            first_amount=c_amount[cstart],
            **logs,
        )


def _refuse_no_ids_left(n_left: int, counts: dict, spec: _Spec) -> None:
    if n_left == 0 and counts["rows_without_customer_id"]:
        raise DataError(
            f"All {counts['rows_without_customer_id']} rows have a missing customer id in "
            f"column {spec.customer_id_col!r}: nothing is left after missing_ids='drop'.",
            column=spec.customer_id_col, rule="null_ids",
            n_rows=counts["rows_without_customer_id"])


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


def _settle_date_counts(counts: dict, numeric_dates: bool) -> dict:
    """The date rules' counts as the engines report them (SQL engines' shared end).

    Numeric dates (``19970101``) have no text to be unparseable, zoned, out of range
    or ambiguous; time zones are "mixed" only when some but not all dates have one.
    """
    if numeric_dates:
        for rule in ("unparseable_dates", "mixed_timezones", "dates_out_of_range",
                     "ambiguous_dates"):
            counts[rule] = 0
    n_aware = counts["mixed_timezones"]
    n_dates = counts["rows"] - counts["missing_dates"]
    counts["mixed_timezones"] = n_aware if 0 < n_aware < n_dates else 0
    return counts


class _OneThreadWhenShort:
    """A DuckDB connection whose ``execute`` retries a statement on one thread when
    DuckDB runs out of its ``memory_limit``.

    A large aggregate (counting the duplicates of 100M rows) failed with a 2.8 GB
    limit yet ran with 2 GB or 4 GB: per-thread buffers near the limit. One thread
    needs less memory (measured: 19 s instead of 9 s, no failure). The log's later
    statements stay on one thread (resetting it would replace the result the caller
    fetches). A second failure goes to the caller.
    """

    def __init__(self, con) -> None:
        self._con = con

    def execute(self, *args, **kwargs):
        import duckdb

        try:
            return self._con.execute(*args, **kwargs)
        except duckdb.OutOfMemoryException:
            self._con.execute("SET threads = 1")
            return self._con.execute(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._con, name)


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
        self.con = _OneThreadWhenShort(duckdb.connect())
        spill = Path(tempfile.gettempdir()) / "clvmodels-duckdb"
        self.con.execute(f"SET temp_directory = {_sql_str(str(spill))}")
        limit = (spec.memory_limit if spec is not None else None) or default_memory_limit()
        if limit:
            self.con.execute(f"SET memory_limit = {_sql_str(limit)}")
        if is_frame:
            self.con.register("src", source)
            return
        self.paths = paths
        listed = "[" + ", ".join(_sql_str(p) for p in paths) + "]"
        if spec is not None:
            text_columns = spec.text_columns
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
        import duckdb

        self.con.close()
        if isinstance(exc, duckdb.OutOfMemoryException):
            limit = (self.spec.memory_limit if self.spec is not None else None) \
                or default_memory_limit()
            raise MemoryError(
                f"DuckDB needed more than its memory_limit ({limit}) to summarise the log: "
                "pass a larger memory_limit= (CLI --memory-limit, e.g. 8GB), or fewer "
                f"files at a time. DuckDB said: {str(exc).splitlines()[0]}") from exc
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
            # HUGEINT, not BIGINT: %Y%m%d%H%M%S%f has 20 digits, beyond int64.
            ts, aware = f"try_strptime(CAST(CAST({dt} AS HUGEINT) AS VARCHAR), {fmt})", "FALSE"
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
                       {amt_col} AS raw_amount, {amt} AS amount, {ambiguous} AS ambiguous,
                       {_ident(spec.order_id_col) if spec.order_id_col else "NULL"} AS oid
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
        return _settle_date_counts(counts, self.numeric_dates)

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

    def apply_row_options(self) -> dict:
        """Count exact duplicate rows and drop them and rows without an id as asked.

        ``src`` is renamed ``src_all`` and ``src`` becomes the cleaned view; the
        views built on ``src`` read the cleaned rows.
        """
        spec, con = self.spec, self.con
        (n_rows,) = con.execute("SELECT count(*) FROM src").fetchone()
        # A count needs no row order: without it DuckDB needs less memory (with it,
        # it once ran out of a 2.8 GB memory_limit on 100M rows).
        con.execute("SET preserve_insertion_order = false")
        (n_distinct,) = con.execute("SELECT count(*) FROM (SELECT DISTINCT * FROM src)").fetchone()
        con.execute("SET preserve_insertion_order = true")
        counts = {"duplicate_rows": int(n_rows - n_distinct), "rows_without_customer_id": 0}
        cid = _ident(spec.customer_id_col)
        if spec.missing_ids == "drop":
            (n_null,) = con.execute(
                f"SELECT count(*) FROM (SELECT {'DISTINCT ' if spec.duplicates == 'drop' else ''}"
                f"* FROM src) WHERE {cid} IS NULL").fetchone()
            counts["rows_without_customer_id"] = int(n_null)
        distinct = spec.duplicates == "drop" and counts["duplicate_rows"] > 0
        if distinct or counts["rows_without_customer_id"]:
            con.execute("ALTER VIEW src RENAME TO src_all")
            where = f" WHERE {cid} IS NOT NULL" if counts["rows_without_customer_id"] else ""
            con.execute(f"CREATE VIEW src AS SELECT {'DISTINCT ' if distinct else ''}* "
                        f"FROM src_all{where}")
            (n_left,) = con.execute("SELECT count(*) FROM src").fetchone()
            _refuse_no_ids_left(int(n_left), counts, spec)
        return counts

    def _make_days(self, obs_tick: int) -> dict:
        """Create the ``days`` table (merged purchase days) and return the counts."""
        spec, con = self.spec, self.con
        zero = _zero_sql(spec)
        seen = f"tick <= {obs_tick}"
        keep = seen + (f" AND NOT ({zero})" if spec.zero_amounts == "drop" else "")
        used = keep + (" AND amount >= 0" if spec.returns == "drop" else "")
        cents = _cents_sql(spec)
        n_after, n_zero, n_negative, n_rounded, n_used, gross = con.execute(
            f"""SELECT count(*) FILTER (WHERE tick > {obs_tick}),
                       count(*) FILTER (WHERE {seen} AND {zero}),
                       count(*) FILTER (WHERE {keep} AND amount < 0),
                       count(*) FILTER (WHERE {used} AND {_rounded_sql(spec)}),
                       count(*) FILTER (WHERE {used}),
                       sum(abs({cents})) FILTER (WHERE {used})
                FROM typed""").fetchone()
        keep = used
        counts = {"n_after_end": int(n_after), "n_zero_rows": int(n_zero),
                  "n_negative_rows": int(n_negative), "n_rounded_rows": int(n_rounded),
                  "n_rows_used": int(n_used), **self.row_counts}
        # The kept rows are read once more: a view (at 100M rows a table would hold
        # gigabytes), except when returns are netted, which reads them three times.
        kind = "TEMP TABLE" if spec.returns == "net" else "VIEW"
        con.execute(f"CREATE OR REPLACE {kind} kept AS SELECT cid, tick, amount, "
                    f"{cents} AS cents, oid FROM typed WHERE {keep}")
        if gross is not None and not gross < _EXACT_CENTS:
            (n_over,) = con.execute(
                f"""SELECT count(*) FROM (SELECT cid FROM kept GROUP BY cid
                    HAVING NOT sum(abs(cents)) < {_EXACT_CENTS!r})""").fetchone()
            _refuse_overflow(int(n_over), spec)
        plain = ""
        if spec.returns == "net":
            con.execute("CREATE OR REPLACE TEMP TABLE netted_ids AS "
                        "SELECT DISTINCT cid FROM kept WHERE amount < 0")
            plain = "WHERE cid NOT IN (SELECT cid FROM netted_ids)"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE days AS
            SELECT cid, tick, sum(cents) AS cents FROM kept {plain} GROUP BY cid, tick""")
        if spec.returns == "net":
            rows = con.execute("SELECT cid, tick, amount, oid FROM kept "
                               "WHERE cid IN (SELECT cid FROM netted_ids)").df()
            if len(rows):
                codes, ids = pd.factorize(rows["cid"], sort=True)
                orders = rows["oid"].to_numpy() if spec.order_id_col else None
                n_code, n_tick, n_amount, net_counts = _net_returns(
                    codes, rows["tick"].to_numpy(dtype=np.int64),
                    rows["amount"].to_numpy(dtype=float), orders, spec)
                counts.update(net_counts)
                netted_days = pd.DataFrame({"cid": np.asarray(ids)[n_code], "tick": n_tick,
                                            "cents": n_amount})
                con.register("netted_days", netted_days)
                con.execute("INSERT INTO days SELECT cid, tick, cents FROM netted_days")
                con.unregister("netted_days")
        self._keep_sql = keep
        return counts

    def _customer_info(self, obs_tick: int) -> pd.DataFrame:
        """The per-customer ``info`` frame (see ``_INFO_COLUMNS``) after ``_make_days``."""
        spec, keep = self.spec, self._keep_sql
        zero_dropped = (f"bool_or(tick <= {obs_tick} AND {_zero_sql(spec)})"
                        if spec.zero_amounts == "drop" else "FALSE")
        frame = self.con.execute(
            f"""WITH info AS (
                SELECT cid, min(tick) AS first_row_tick,
                       bool_or(tick <= {obs_tick}) AS seen,
                       coalesce(bool_or({keep} AND amount >= 0), FALSE) AS has_purchase_line,
                       coalesce(bool_or({keep} AND amount < 0), FALSE) AS has_return,
                       coalesce({zero_dropped}, FALSE) AS zero_dropped
                FROM typed GROUP BY cid),
            first_day AS (SELECT cid, min(tick) AS first_day_tick FROM days GROUP BY cid)
            SELECT info.*, CAST(first_day.first_day_tick AS DOUBLE) AS first_day_tick
            FROM info LEFT JOIN first_day USING (cid) ORDER BY cid""").df()
        frame["first_day_tick"] = frame["first_day_tick"].astype(float)
        return frame.set_index("cid")[list(_INFO_COLUMNS)]

    def days(self, obs_tick: int) -> _Days:
        counts = self._make_days(obs_tick)
        frame = self.con.execute("SELECT cid, tick, cents FROM days ORDER BY cid, tick").df()
        codes, ids = pd.factorize(frame["cid"], sort=True)
        return _Days(ids, codes, frame["tick"].to_numpy(dtype=np.int64),
                     frame["cents"].to_numpy(dtype=float), counts,
                     self._customer_info(obs_tick))

    def summarise(self, obs_tick: int, cal_tick: int, holdout: bool) -> _Result:
        spec, con = self.spec, self.con
        counts = self._make_days(obs_tick)
        holdout_cols = ""
        if holdout:
            holdout_cols = f""",
                count(*) FILTER (WHERE tick > {cal_tick}) AS frequency_holdout,
                coalesce(sum(cents) FILTER (WHERE tick > {cal_tick}), 0) AS revenue_holdout"""
        table, log_cols = "days", ""
        if spec.log_spend:
            # The logs come from _log_fixed, as in the pandas engine (not DuckDB's ln).
            amounts = con.execute("SELECT DISTINCT cents FROM days WHERE cents > 0").df()
            amounts["lg"] = _log_fixed(amounts["cents"].to_numpy(dtype=float))
            con.register("day_logs", amounts)
            con.execute("""CREATE OR REPLACE TEMP TABLE days_log AS
                SELECT days.*, coalesce(day_logs.lg, 0) AS lg,
                       CAST(days.cents <= 0 AS BIGINT) AS bad
                FROM days LEFT JOIN day_logs USING (cents)""")
            con.unregister("day_logs")
            table = "days_log"
            log_cols = f""",
                    CAST(coalesce(sum(lg) FILTER (WHERE tick <= {cal_tick}), 0) AS BIGINT)
                        AS cal_log,
                    CAST(coalesce(sum(bad) FILTER (WHERE tick <= {cal_tick}), 0) AS BIGINT)
                        AS cal_bad,
                    arg_min(lg, tick) AS first_log, arg_min(bad, tick) AS first_bad"""
        frame = con.execute(
            f"""WITH per AS (
                SELECT cid,
                    count(*) FILTER (WHERE tick <= {cal_tick}) - 1 AS frequency,
                    min(tick) AS first_tick,
                    max(tick) FILTER (WHERE tick <= {cal_tick}) AS last_tick,
                    coalesce(sum(cents) FILTER (WHERE tick <= {cal_tick}), 0) AS cal_amount,
                    arg_min(cents, tick) AS first_amount{holdout_cols}{log_cols}
                FROM {table} GROUP BY cid)
            -- One row per (cid, tick) in days, so the first day's cents are exact;
            -- whole cents subtract exactly.
            SELECT *, cal_amount - first_amount AS repeat_amount FROM per ORDER BY cid""").df()
        frame = frame[frame["first_tick"] <= cal_tick]
        logs = {}
        if spec.log_spend:
            first_log = frame["first_log"].to_numpy(dtype=np.int64)
            first_bad = frame["first_bad"].to_numpy(dtype=np.int64)
            logs = dict(repeat_log=frame["cal_log"].to_numpy(dtype=np.int64) - first_log,
                        repeat_nonpositive=frame["cal_bad"].to_numpy(dtype=np.int64) - first_bad,
                        first_log=first_log, first_nonpositive=first_bad)
        return _Result(
            ids=frame["cid"].to_numpy(),
            frequency=frame["frequency"].to_numpy(),
            first_tick=frame["first_tick"].to_numpy(dtype=np.int64),
            last_tick=frame["last_tick"].to_numpy(dtype=np.int64),
            repeat_amount=(frame["repeat_amount"].to_numpy(dtype=float)
                           if spec.monetary_value_col else None),
            frequency_holdout=frame["frequency_holdout"].to_numpy() if holdout else None,
            revenue_holdout=frame["revenue_holdout"].to_numpy(dtype=float) if holdout else None,
            counts=counts,
            info=self._customer_info(obs_tick),
            first_amount=frame["first_amount"].to_numpy(dtype=float),
            **logs,
        )
