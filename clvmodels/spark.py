"""Apache Spark: RFM summaries, fits and CLV scoring for logs in a Spark cluster.

For users whose transaction log is a Spark DataFrame (``pip install clvmodels[spark]``;
clvmodels must also be installed on the executors). The same journey as on one
machine, with the heavy steps in Spark and only small frames on the driver:

1. :func:`summary_sdf` computes the RFM summary in Spark with the convention and
   the numbers of :func:`clvmodels.rfm_summary` (same-day merge, ticks, time units,
   holdout columns, amounts summed exactly in whole cents, the same cleaning
   options and the same :class:`~clvmodels.DataError` rules with counts, raised on
   the driver). It returns a :class:`SparkSummary`: the Spark DataFrame, the
   ``attrs`` of the pandas summary and :meth:`SparkSummary.to_pandas`.
   :func:`rfm_summary` returns the pandas summary directly.
2. :func:`compress` aggregates the distinct ``(frequency, recency, T)`` rows with
   their counts in Spark and collects only those; :func:`fit` fits any clvmodels
   model on them (the model's own ``fit`` with ``weights``).
3. :func:`score` scores every customer with :func:`clvmodels.export.predict_clv`
   in ``mapInPandas``, the fitted models broadcast as their JSON files (the format
   of :func:`clvmodels.persistence.save_model`); the result is a Spark DataFrame
   with the export's columns, written by :func:`write_clv` (Parquet, Delta, ...).

What reaches the driver: a handful of counts; the customers the summary leaves
out (with the reason) and, with ``returns="net"``, the rows of the customers who
have returns (netted by :func:`clvmodels.data._net_returns`, the code of the other
engines); the compressed fit rows; a few quantiles for the RFM segments and
lifecycle stages. Never the log and never one row per customer, unless you ask
for the pandas summary.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import data as _data
from .units import DEFAULT_TIME_UNIT, unit_days
from .exceptions import DataError

__all__ = ["SparkSummary", "compress", "fit", "rfm_summary", "score", "summary_sdf",
           "to_pandas", "write_clv"]

#: Extra checked on import of the functions that need Spark.
_INSTALL_HINT = "clvmodels.spark needs pyspark: pip install 'clvmodels[spark]'."


def _spark():
    try:
        from pyspark.sql import functions as F  # noqa: N812
    except ImportError as err:  # pragma: no cover - the extra is installed in CI
        raise ImportError(_INSTALL_HINT) from err
    return F


# ---------------------------------------------------------------------------
# The summary


@dataclass
class SparkSummary:
    """An RFM summary kept in Spark.

    Attributes
    ----------
    frame
        The Spark DataFrame: the customer id column, then ``frequency, recency, T``
        (and ``monetary_value``, the holdout columns), one row per customer, in no
        particular order.
    attrs
        What ``clvmodels.rfm_summary(...).attrs`` holds: time unit, period ends,
        ``n_transactions``, ``exclusions``, ``notes`` and the customers left out
        (``excluded_customers``, a small frame on the driver).
    """

    frame: Any
    attrs: dict = field(default_factory=dict)

    @property
    def customer_id_col(self) -> str:
        return self.frame.columns[0]

    def to_pandas(self) -> pd.DataFrame:
        """Collect the summary: the same DataFrame as :func:`clvmodels.rfm_summary`."""
        return to_pandas(self)


def to_pandas(summary: SparkSummary) -> pd.DataFrame:
    """Collect a :class:`SparkSummary` to the pandas summary (indexed by id, sorted).

    One row per customer comes to the driver: use it when the summary fits in
    memory (a million customers take about 50 MB).
    """
    sdf = summary.frame
    cid = sdf.columns[0]
    frame = sdf.toPandas()
    frame = frame.sort_values(cid, kind="stable", ignore_index=True)
    index = pd.Index(np.asarray(frame[cid].to_numpy()), name=cid)
    out = frame.drop(columns=cid).set_axis(index)
    for col in ("frequency", "frequency_holdout"):
        if col in out:
            out[col] = out[col].astype(np.int64)
    for col in out.columns.difference(["frequency", "frequency_holdout"]):
        out[col] = out[col].astype(float)
    out.attrs.update(summary.attrs)
    return out


def rfm_summary(sdf, customer_id_col: str, datetime_col: str,
                monetary_value_col: str | None = None, observation_period_end: Any = None,
                calibration_period_end: Any = None, time_unit: str = DEFAULT_TIME_UNIT,
                **options) -> pd.DataFrame:
    """:func:`clvmodels.rfm_summary` of a Spark DataFrame, computed in Spark.

    Takes the arguments of :func:`clvmodels.rfm_summary` (except ``engine``) and
    returns the same pandas DataFrame, attrs included, for any row order and
    partitioning. See :func:`summary_sdf` to keep the summary in Spark.
    """
    options.setdefault("_stacklevel", 4)
    return summary_sdf(sdf, customer_id_col, datetime_col, monetary_value_col,
                       observation_period_end, calibration_period_end, time_unit,
                       **options).to_pandas()


def summary_sdf(
    sdf,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str | None = None,
    observation_period_end: Any = None,
    calibration_period_end: Any = None,
    time_unit: str = DEFAULT_TIME_UNIT,
    *,
    datetime_format: str | None = None,
    returns: str = "error",
    merge_within: str | None = "D",
    order_id_col: str | None = None,
    duplicates: str = "keep",
    zero_amounts: str = "keep",
    missing_ids: str = "error",
    money_decimals: int = 2,
    include_first_transaction: bool = False,
    log_spend: bool = False,
    _stacklevel: int = 3,
) -> SparkSummary:
    """The RFM summary of a Spark DataFrame log, kept in Spark.

    Parameters are those of :func:`clvmodels.rfm_summary`: the same convention
    (purchases of a customer within one ``merge_within`` are one purchase,
    ``frequency`` counts repeat purchase days, ``recency`` and ``T`` in
    ``time_unit``, ``monetary_value`` the mean repeat amount summed exactly in whole
    units of ``10**-money_decimals``), the same cleaning options, the same
    ``DataError`` rules (counted in Spark, raised on the driver with up to five
    example rows) and the same ``DataWarning``.

    Column types: Spark ``timestamp`` columns are instants and are read in UTC
    (like timezone-aware columns of the other engines); ``timestamp_ntz`` and
    ``date`` columns are read as they are; text and numbers are parsed by the
    code of the pandas engine (ISO 8601 without ``datetime_format``). Amounts may be
    numbers, decimals or text.

    Returns
    -------
    SparkSummary
        ``frame`` (Spark DataFrame, one row per customer), ``attrs`` (as the pandas
        summary's) and ``to_pandas()``.

    Raises
    ------
    DataError
        As :func:`clvmodels.rfm_summary`.
    """
    _spark()
    spec = _data._make_spec(customer_id_col, datetime_col, monetary_value_col,
                            datetime_format, returns, time_unit, merge_within,
                            order_id_col=order_id_col, duplicates=duplicates,
                            zero_amounts=zero_amounts, missing_ids=missing_ids,
                            money_decimals=money_decimals,
                            include_first_transaction=include_first_transaction,
                            log_spend=log_spend)
    log = _SparkLog(sdf, spec)
    try:
        return _summarise(log, spec, observation_period_end, calibration_period_end,
                          _stacklevel + 1)
    finally:
        log.release()


def _summarise(log: "_SparkLog", spec, observation_period_end, calibration_period_end,
               stacklevel: int) -> SparkSummary:
    """:func:`clvmodels.data._summarise` with the customers' rows left in Spark."""
    obs_tick, first_tick = _data._validate(log, spec, observation_period_end)
    cal_tick = _data._calibration_tick(calibration_period_end, spec, obs_tick, first_tick)
    holdout = calibration_period_end is not None
    counts = log.make_days(obs_tick)
    frame = log.summary_frame(obs_tick, cal_tick, holdout)
    excluded = _data._excluded_frame(log.excluded_info(obs_tick, cal_tick), cal_tick, spec)
    frame = log.keep(frame)
    exclusions, notes = _data._rule_counts_report(counts, excluded, spec)
    notes.update(_extreme_monetary(frame, spec))  # computes the summary before release()
    attrs = dict(
        time_unit=spec.time_unit,
        observation_period_end=_data._tick_to_str(obs_tick, spec),
        calibration_period_end=_data._tick_to_str(cal_tick, spec),
        merge_within={"D": "D", "h": "h", "us": None}[spec.resolution],
        include_first_transaction=spec.include_first_transaction,
        n_transactions=int(counts["n_rows_used"]),
        exclusions=exclusions,
        notes=notes,
    )
    if len(excluded):
        attrs["excluded_customers"] = _data.ExcludedCustomers(excluded)
    _data._warn_exclusions(exclusions, spec, notes=notes, stacklevel=stacklevel)
    return SparkSummary(frame, attrs)


def _extreme_monetary(frame, spec) -> dict:
    """:func:`clvmodels.data._extreme_monetary` by Spark's exact percentiles."""
    F = _spark()
    out = {"extreme_monetary_customers": 0, "extreme_monetary_threshold": None}
    if spec.monetary_value_col is None:
        frame.count()  # computes the cached summary
        return out
    mv = F.col("monetary_value")
    repeat = (F.col("frequency") > 0) & (mv > 0)
    # One pass over the whole (cached) summary, which it computes.
    n, quartiles = frame.agg(
        F.count_if(repeat), F.percentile(F.when(repeat, F.log(mv)), F.array(
            F.lit(0.25), F.lit(0.75)))).first()
    if n < 10:
        return out
    q1, q3 = quartiles
    threshold = round(float(np.exp(q3 + 3.0 * (q3 - q1))), spec.money_decimals)
    out["extreme_monetary_customers"] = int(frame.where(repeat & (mv > threshold)).count())
    out["extreme_monetary_threshold"] = threshold
    return out


#: Spark type names of numbers (amounts cast to double; dates need datetime_format).
_NUMERIC = ("byte", "short", "integer", "long", "float", "double", "decimal")


class _SparkLog(_data._Log):
    """A log summarised in Spark; only counts and small frames reach the driver.

    Implements the engine interface :func:`clvmodels.data._validate` uses
    (``check_columns``, ``apply_row_options``, ``rule_counts``, ``examples``,
    ``tick_range``), then ``make_days``, ``summary_frame`` and ``excluded_info``.
    """

    def __init__(self, sdf, spec) -> None:
        self.src = sdf
        self.spec = spec
        self._cached = []

    def release(self) -> None:
        """Drop the intermediate frames cached while summarising."""
        for frame in self._cached:
            frame.unpersist()
        self._cached = []

    def keep(self, frame):
        """Cache the summary itself: its users read it several times."""
        from pyspark import StorageLevel

        return frame.persist(StorageLevel.MEMORY_AND_DISK)

    def _persist(self, frame):
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self._cached.append(frame)
        return frame

    # -- columns and types
    def check_columns(self) -> None:
        F = _spark()
        spec, src = self.spec, self.src
        _data._check_columns(spec.columns, list(src.columns))
        for col in dict.fromkeys(spec.columns):
            n = list(src.columns).count(col)
            if n > 1:
                raise DataError(
                    f"The DataFrame has {n} columns named {col!r}: it is not clear which one "
                    "to use. Drop or rename the duplicates first.",
                    column=col, rule="duplicate_columns")
        types = dict(src.dtypes)
        cid = F.col(_quote(spec.customer_id_col))
        id_type = types[spec.customer_id_col]
        null_id = cid.isNull() | (F.isnan(cid) if id_type in ("float", "double") else F.lit(False))
        raw_date = F.col(_quote(spec.datetime_col))
        dtype = types[spec.datetime_col]
        self.numeric_dates = False
        aware = ambiguous = F.lit(False)
        if dtype == "timestamp":  # an instant: its UTC day, like aware columns elsewhere
            us, aware = F.unix_micros(raw_date), F.lit(True)
        elif dtype == "timestamp_ntz":
            us = F.expr(f"timestampdiff(MICROSECOND, TIMESTAMP_NTZ'1970-01-01 00:00:00', "
                        f"{_quote(spec.datetime_col)})")
        elif dtype == "date":
            us = F.unix_date(raw_date).cast("long") * F.lit(86_400_000_000)
        elif dtype.startswith(_NUMERIC) and spec.datetime_format is None:
            self.numeric_dates = True
            us = F.lit(None).cast("long")
        else:  # text (or numbers with datetime_format): the pandas engine's parser
            parsed = _date_parser(spec.datetime_format)(raw_date)
            us = F.when(parsed["ok"], parsed["us"])
            aware, ambiguous = parsed["aware"], parsed["ambiguous"]
        if spec.monetary_value_col is not None:
            raw_amount = F.col(_quote(spec.monetary_value_col))
            a_type = types[spec.monetary_value_col]
            if a_type == "string":
                amount = _amount_parser()(raw_amount)
                missing = raw_amount.isNull()
                bad = raw_amount.isNotNull() & (amount.isNull() | F.isnan(amount))
            else:
                amount = raw_amount.cast("double")
                missing = raw_amount.isNull() | F.isnan(amount)
                bad = F.lit(False)
        else:
            raw_amount = amount = F.lit(1.0)
            missing = bad = F.lit(False)
        oid = F.col(_quote(spec.order_id_col)) if spec.order_id_col else F.lit(None).cast("string")
        per_tick = _data._US_PER_TICK[spec.resolution]
        self._raw_columns = [spec.customer_id_col, spec.datetime_col] + (
            [spec.monetary_value_col] if spec.monetary_value_col else [])
        typed = self.src.select(
            cid.alias("cid"), null_id.alias("null_id"), raw_date.isNull().alias("no_date"),
            us.alias("us"), aware.alias("aware"), ambiguous.alias("ambiguous"),
            missing.alias("no_amount"), bad.alias("bad_amount"), amount.alias("amount"),
            oid.alias("oid"), *[F.col(_quote(c)).alias(f"_raw{i}") for i, c in
                                 enumerate(self._raw_columns)])
        tick = F.expr(f"(us - pmod(us, {per_tick}L)) div {per_tick}L")  # floor division
        self.typed = typed.withColumn("tick", tick)

    def _rules(self) -> dict:
        F = _spark()
        c = F.col
        first = int(_data._FIRST_TIMESTAMP.astype(np.int64))
        last = int(_data._LAST_TIMESTAMP.astype(np.int64))
        parsed = c("us").isNotNull()
        present = ~c("no_date")
        rules = {
            "null_ids": c("null_id"),
            "missing_dates": c("no_date"),
            "numeric_dates": present,
            "unparseable_dates": present & ~parsed & ~c("ambiguous"),
            "mixed_timezones": present & c("aware"),
            "missing_amounts": c("no_amount"),
            "non_numeric_amounts": c("bad_amount"),
            "infinite_amounts": c("amount").isin(float("inf"), float("-inf")),
            "negative_amounts": c("amount") < 0,
            "dates_out_of_range": parsed & ((c("us") < first) | (c("us") > last)),
            "ambiguous_dates": present & ~parsed & c("ambiguous"),
        }
        if not self.numeric_dates:
            rules.pop("numeric_dates")
        return rules

    def rule_counts(self) -> dict:
        """Every rule's count and the range of the ticks, in one pass over the log."""
        F = _spark()
        rules = self._rules()
        row = self.typed.agg(
            F.count("*").alias("rows"),
            F.count_if(~F.col("no_date") & ~F.col("aware")).alias("naive_dates"),
            *[F.count_if(cond).alias(name) for name, cond in rules.items()],
            F.min("tick").alias("_first_tick"), F.max("tick").alias("_last_tick")).first()
        self._tick_range = (row["_first_tick"], row["_last_tick"])
        counts = {k: int(v or 0) for k, v in row.asDict().items() if not k.startswith("_")}
        return _data._settle_date_counts(counts, self.numeric_dates)

    def examples(self, rule: str) -> list:
        cols = [f"_raw{i}" for i in range(len(self._raw_columns))]
        rows = self.typed.where(self._rules()[rule]).select(*cols).limit(5).collect()
        return [tuple(r) for r in rows]

    def tick_range(self) -> tuple[int, int]:
        lo, hi = self._tick_range  # found by rule_counts
        return int(lo), int(hi)

    def apply_row_options(self) -> dict:
        """Count exact duplicate rows; drop them and rows without an id as asked.

        One pass: the distinct rows with their multiplicity give the number of rows,
        of duplicates and of rows without an id (before and after dropping duplicates).
        """
        F = _spark()
        spec, src = self.spec, self.src
        cid = F.col(_quote(spec.customer_id_col))
        is_float = dict(src.dtypes)[spec.customer_id_col] in ("float", "double")
        missing = cid.isNull() | (F.isnan(cid) if is_float else F.lit(False))
        grouped = src.groupBy(*[F.col(_quote(c)) for c in src.columns]).agg(
            F.count("*").alias("_clv_n"))
        row = grouped.agg(
            F.sum("_clv_n").alias("rows"), F.count("*").alias("distinct"),
            F.sum(F.when(missing, F.col("_clv_n"))).alias("null_rows"),
            F.count_if(missing).alias("null_distinct")).first()
        n_rows, n_distinct = int(row["rows"] or 0), int(row["distinct"])
        counts = {"duplicate_rows": n_rows - n_distinct, "rows_without_customer_id": 0}
        drop_duplicates = spec.duplicates == "drop" and n_rows > n_distinct
        frame = src.distinct() if drop_duplicates else src
        if spec.missing_ids == "drop":
            n_null = int((row["null_distinct"] if spec.duplicates == "drop"
                          else row["null_rows"]) or 0)
            counts["rows_without_customer_id"] = n_null
            if n_null:
                frame = frame.where(~missing)
                n_left = (n_distinct if spec.duplicates == "drop" else n_rows) - n_null
                _data._refuse_no_ids_left(n_left, counts, spec)
        if frame is not src:
            self.src = frame
            self.check_columns()
        return counts

    # -- purchase days
    def make_days(self, obs_tick: int) -> dict:
        """Merge the kept rows into purchase days (cents); return the counts."""
        F = _spark()
        spec, c = self.spec, F.col
        scale = spec.money_scale
        has_amount = spec.monetary_value_col is not None
        amount = c("amount")
        scaled = F.abs(amount) * F.lit(scale)
        cents = (F.signum(amount) * _floor(scaled + F.lit(0.5))) if has_amount else F.lit(1.0)
        zero = (_floor(scaled + F.lit(0.5)) == 0) if has_amount else F.lit(False)
        rounded = (F.abs(scaled - _floor(scaled + F.lit(0.5)))
                   > F.lit(1e-6) * F.greatest(F.lit(1.0), scaled)) if has_amount else F.lit(False)
        seen = c("tick") <= obs_tick
        keep = seen & ~zero if spec.zero_amounts == "drop" else seen
        used = keep & (amount >= 0) if spec.returns == "drop" else keep
        rows = self.typed.select("cid", "tick", "amount", "oid", cents.alias("cents"),
                                 seen.alias("seen"), zero.alias("zero"), keep.alias("keep"),
                                 used.alias("used"), rounded.alias("rounded"))
        rows = self._persist(rows)
        agg = rows.agg(
            F.count_if(~c("seen")).alias("n_after_end"),
            F.count_if(c("seen") & c("zero")).alias("n_zero_rows"),
            F.count_if(c("keep") & (c("amount") < 0)).alias("n_negative_rows"),
            F.count_if(c("used") & c("rounded")).alias("n_rounded_rows"),
            F.count_if(c("used")).alias("n_rows_used"),
            F.sum(F.when(c("used"), F.abs(c("cents")))).alias("gross")).first()
        counts = {k: int(agg[k]) for k in ("n_after_end", "n_zero_rows", "n_negative_rows",
                                           "n_rounded_rows")}
        counts.update(self.row_counts)
        kept = rows.where(c("used")).select("cid", "tick", "amount", "oid", "cents")
        # Customers whose amounts add up beyond exact sums (data._check_exact_sums).
        if agg["gross"] is not None and not agg["gross"] < _data._EXACT_CENTS:
            n_over = kept.groupBy("cid").agg(F.sum(F.abs(c("cents"))).alias("g")) \
                .where(~(c("g") < _data._EXACT_CENTS)).count()
            _data._refuse_overflow(int(n_over), spec)
        plain = kept
        netted_days = None
        if spec.returns == "net":
            netted_ids = kept.where(c("amount") < 0).select("cid").distinct()
            plain = kept.join(netted_ids, "cid", "left_anti")
            # Only the customers with returns come to the driver, netted by the
            # shared implementation of the other engines.
            netted = kept.join(netted_ids, "cid", "left_semi") \
                .select("cid", "tick", "amount", "oid").toPandas()
            if len(netted):
                codes, ids = pd.factorize(netted["cid"], sort=True)
                orders = netted["oid"].to_numpy() if spec.order_id_col else None
                n_code, n_tick, n_cents, net_counts = _data._net_returns(
                    codes, netted["tick"].to_numpy(dtype=np.int64),
                    netted["amount"].to_numpy(dtype=float), orders, spec)
                counts.update(net_counts)
                local = pd.DataFrame({"cid": np.asarray(ids)[n_code],
                                      "tick": np.asarray(n_tick, dtype=np.int64),
                                      "cents": np.asarray(n_cents, dtype=float)})
                from pyspark.sql.types import DoubleType, LongType, StructField, StructType

                schema = StructType([self.typed.schema["cid"], StructField("tick", LongType()),
                                     StructField("cents", DoubleType())])
                netted_days = self.src.sparkSession.createDataFrame(local, schema=schema)
        days = plain.groupBy("cid", "tick").agg(F.sum("cents").alias("cents"))
        if netted_days is not None:
            days = days.unionByName(netted_days)
        self.days = self._persist(days)
        self.rows = rows
        counts["n_rows_used"] = int(agg["n_rows_used"])
        self._obs_tick = obs_tick
        return counts

    def summary_frame(self, obs_tick: int, cal_tick: int, holdout: bool):
        """The summary as a Spark DataFrame (the columns of the pandas summary)."""
        F = _spark()
        spec, c = self.spec, F.col
        in_cal = c("tick") <= cal_tick
        aggs = [F.count_if(in_cal).alias("n_cal"), F.min("tick").alias("first_tick"),
                F.max(F.when(in_cal, c("tick"))).alias("last_tick"),
                F.sum(F.when(in_cal, c("cents"))).alias("cal_cents"),
                F.min_by("cents", "tick").alias("first_cents")]
        if spec.log_spend:
            # The fixed-point logs of the pandas and DuckDB engines (data._log_fixed),
            # computed by the same numpy code in a pandas UDF and summed as longs.
            lg = _log_fixed_udf()(c("cents"))
            bad = F.when(c("cents") <= 0, F.lit(1)).otherwise(F.lit(0)).cast("long")
            aggs += [F.coalesce(F.sum(F.when(in_cal, lg)), F.lit(0)).cast("long").alias("cal_log"),
                     F.coalesce(F.sum(F.when(in_cal, bad)), F.lit(0)).cast("long")
                     .alias("cal_bad"),
                     F.min_by(lg, "tick").alias("first_log"),
                     F.min_by(bad, "tick").alias("first_bad")]
        if holdout:
            aggs += [F.count_if(~in_cal).alias("frequency_holdout"),
                     F.coalesce(F.sum(F.when(~in_cal, c("cents"))), F.lit(0.0))
                     .alias("revenue_cents")]
        per = self.days.groupBy("cid").agg(*aggs).where(c("first_tick") <= cal_tick)
        tscale = spec.tick_days / unit_days(spec.time_unit)
        money = spec.money_scale
        first = spec.include_first_transaction
        frequency = (c("n_cal") - (0 if first else 1)).cast("long")
        cols = [c("cid").alias(spec.customer_id_col), frequency.alias("frequency"),
                ((c("last_tick") - c("first_tick")) * F.lit(tscale)).alias("recency"),
                ((F.lit(cal_tick) - c("first_tick")) * F.lit(tscale)).alias("T")]
        if spec.monetary_value_col is not None:
            repeat = ((c("cal_cents") if first else c("cal_cents") - c("first_cents"))
                      / F.lit(money))
            cols.append(F.when(frequency > 0, repeat / frequency).otherwise(F.lit(0.0))
                        .alias("monetary_value"))
        if spec.log_spend:
            log_sum = c("cal_log") if first else c("cal_log") - c("first_log")
            bad_sum = c("cal_bad") if first else c("cal_bad") - c("first_bad")
            per_day = int(np.floor(spec.money_decimals * np.log(10.0) / _data._LOG_UNIT + 0.5))
            fixed = (log_sum - frequency * F.lit(per_day)).cast("double") * F.lit(_data._LOG_UNIT)
            cols.append(F.when(bad_sum > 0, F.lit(float("nan")))
                        .when(frequency == 0, F.lit(0.0)).otherwise(fixed)
                        .alias("log_spend_sum"))
        if holdout:
            fh = c("frequency_holdout").cast("long")
            cols.append(fh.alias("frequency_holdout"))
            if spec.monetary_value_col is not None:
                revenue = c("revenue_cents") / F.lit(money)
                cols += [F.when(fh > 0, revenue / fh).otherwise(F.lit(0.0))
                         .alias("monetary_value_holdout"),
                         revenue.alias("revenue_holdout")]
            cols.append(F.lit(float((obs_tick - cal_tick) * tscale)).alias("duration_holdout"))
        return per.select(*cols)

    def excluded_info(self, obs_tick: int, cal_tick: int) -> pd.DataFrame:
        """The ``info`` rows (see ``data._INFO_COLUMNS``) of the customers left out."""
        F = _spark()
        spec, c = self.spec, F.col
        zero_dropped = (F.max(c("seen") & c("zero")) if spec.zero_amounts == "drop"
                        else F.lit(False))
        info = self.rows.groupBy("cid").agg(
            F.min("tick").alias("first_row_tick"),
            F.max(c("seen")).alias("seen"),
            F.coalesce(F.max(c("used") & (c("amount") >= 0)), F.lit(False))
            .alias("has_purchase_line"),
            F.coalesce(F.max(c("used") & (c("amount") < 0)), F.lit(False)).alias("has_return"),
            F.coalesce(zero_dropped, F.lit(False)).alias("zero_dropped"))
        first_day = self.days.groupBy("cid").agg(F.min("tick").alias("first_day_tick"))
        left_out = info.join(first_day, "cid", "left").where(
            ~c("seen") | c("first_day_tick").isNull() | (c("first_day_tick") > cal_tick))
        frame = left_out.toPandas()
        frame = frame.sort_values("cid", kind="stable", ignore_index=True)
        frame["first_day_tick"] = frame["first_day_tick"].astype(float)
        frame["first_row_tick"] = frame["first_row_tick"].astype(np.int64)
        for col in ("seen", "has_purchase_line", "has_return", "zero_dropped"):
            frame[col] = frame[col].astype(bool)
        index = pd.Index(np.asarray(frame["cid"].to_numpy()))
        return frame.set_axis(index)[list(_data._INFO_COLUMNS)]


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _floor(x):
    """``floor`` of a double as a double (Spark's ``floor`` returns a long)."""
    return x - (x % 1.0)


def _date_parser(fmt: str | None):
    """A pandas UDF reading text (or numbers with ``fmt``) as the pandas engine does."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("us long, ok boolean, aware boolean, ambiguous boolean")
    def parse(raw: pd.Series) -> pd.DataFrame:
        from clvmodels import data

        text = data._arrow_text(raw)
        aware = data._re2_matches(text, data._TZ_PATTERN)
        us, ok = data._parse_text_dates(text, fmt, utc=bool(aware.any()))
        present = raw.notna().to_numpy(dtype=bool)
        ambiguous = np.zeros(len(raw), dtype=bool)
        unread = ~ok & present
        if fmt is None and unread.any():
            ambiguous = data._re2_matches(text, data._AMBIGUOUS_PATTERN) & unread
        return pd.DataFrame({"us": np.asarray(us, dtype=np.int64), "ok": ok & present,
                             "aware": aware & present, "ambiguous": ambiguous})

    return parse


def _log_fixed_udf():
    """A pandas UDF of :func:`clvmodels.data._log_fixed` (day cents -> fixed-point log)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("long")
    def log_fixed(cents: pd.Series) -> pd.Series:
        from clvmodels import data

        return pd.Series(data._log_fixed(cents.to_numpy(dtype=float)))

    return log_fixed


def _amount_parser():
    """A pandas UDF reading text amounts as the pandas engine does (``pd.to_numeric``)."""
    from pyspark.sql.functions import pandas_udf

    @pandas_udf("double")
    def parse(raw: pd.Series) -> pd.Series:
        return pd.to_numeric(raw, errors="coerce").astype("float64")

    return parse


# ---------------------------------------------------------------------------
# Fitting on the compressed summary


def _frame_and_attrs(summary):
    if isinstance(summary, SparkSummary):
        return summary.frame, dict(summary.attrs)
    return summary, {}


def compress(summary, columns=("frequency", "recency", "T")) -> pd.DataFrame:
    """Distinct rows of ``columns`` with the number of customers, collected to the driver.

    The aggregation runs in Spark; only the distinct rows come back, 32 bytes each.
    How many there are depends on the histories, not directly on the number of
    customers: with daily ticks ``(frequency, recency, T)`` takes at most about
    (days observed)² / 2 x (distinct frequencies) values. Measured: the CDNOW log
    (23,570 customers, 78 weeks) compresses to 11,104 rows; the simulated log of
    ``benchmarks/bench_spark.py`` (customers acquired over a year, observed for two)
    to 178,575 rows for 200,000 customers and 752,355 rows (24 MB) for a million.
    ``monetary_value`` (for the Gamma-Gamma model) is continuous, so
    ``(frequency, monetary_value)`` compresses little: up to one row per repeat
    customer.

    Parameters
    ----------
    summary
        A :class:`SparkSummary` or a Spark DataFrame with the columns.
    columns
        The columns to group by.

    Returns
    -------
    pandas.DataFrame
        ``columns`` plus ``weight`` (customers per row), sorted by ``columns``, with
        the summary's ``attrs`` (time unit, period ends) but not its excluded
        customers.
    """
    F = _spark()
    sdf, attrs = _frame_and_attrs(summary)
    columns = list(columns)
    out = sdf.groupBy(*columns).agg(F.count("*").cast("double").alias("weight")).toPandas()
    out = out.sort_values(columns, kind="stable", ignore_index=True)
    for col in columns:
        out[col] = out[col].astype(np.int64 if col.startswith("frequency") else float)
    attrs.pop("excluded_customers", None)
    out.attrs.update(attrs)
    return out


def fit(model, summary, **fit_kwargs):
    """Fit ``model`` on the compressed rows of a Spark summary; returns the model.

    The distinct rows of the model's data columns (``model.data_columns``:
    ``frequency, recency, T`` for the purchase models, ``frequency,
    monetary_value`` for Gamma-Gamma) are counted in Spark (:func:`compress`) and
    passed to ``model.fit(rows, weights="weight", **fit_kwargs)``: the same code
    and the same estimates as a fit on the pandas summary.
    """
    rows = compress(summary, model.data_columns)
    return model.fit(rows, weights="weight", **fit_kwargs)


# ---------------------------------------------------------------------------
# Scoring


def _model_json(model) -> str:
    """The model's JSON file (:func:`clvmodels.persistence.save_model`) as text."""
    from .persistence import save_model

    if getattr(model, "idata_", None) is not None:
        raise ValueError("clvmodels.spark.score scores maximum-likelihood fits; a Bayesian "
                         "fit keeps its posterior in a NetCDF file: score it with "
                         "clvmodels.predict_clv on the driver, or refit with method='mle'.")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.json")
        save_model(model, path)
        with open(path, encoding="utf-8") as handle:
            return handle.read()


def _model_from_json(text: str):
    from .persistence import load

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.json")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return load(path)


def _population_statistics(sdf, time_unit: str) -> dict:
    """Quantiles of the scorable customers for the RFM segments and lifecycle stages.

    :func:`clvmodels.models.baseline.rfm_segments` scores against the tertiles of
    the population and :func:`clvmodels.stages.lifecycle_stages` uses the median gap
    between purchases; computed here once by Spark's exact percentiles.
    """
    F = _spark()
    from pyspark.sql.functions import pandas_udf

    from .export import COLUMNS, unscorable_reasons

    @pandas_udf("boolean")
    def scorable(frequency: pd.Series, recency: pd.Series, T: pd.Series,  # noqa: N803
                 monetary_value: pd.Series) -> pd.Series:
        frame = pd.DataFrame({"frequency": frequency, "recency": recency, "T": T,
                              "monetary_value": monetary_value})
        return unscorable_reasons(frame) == ""

    c = F.col
    ok = sdf.where(scorable(*[c(col) for col in COLUMNS]))
    levels = F.array(F.lit(1.0 / 3.0), F.lit(2.0 / 3.0))
    day = unit_days(time_unit)
    gap = (c("recency") * F.lit(day)) / c("frequency")
    row = ok.agg(
        F.count("*").alias("n"),
        F.percentile(-(c("T") - c("recency")), levels).alias("r"),
        F.percentile(c("frequency").cast("double"), levels).alias("f"),
        F.percentile(c("monetary_value"), levels).alias("m"),
        F.percentile(F.when(c("frequency") > 0, gap), F.lit(0.5)).alias("gap")).first()
    return {"n": int(row["n"]), "r": row["r"], "f": row["f"], "m": row["m"],
            "gap": row["gap"]}


def _segments(frame: pd.DataFrame, stats: dict) -> np.ndarray:
    """:func:`clvmodels.models.baseline.rfm_segments` against the population's tertiles."""
    def score(values, edges):
        v = np.asarray(values, dtype=float)
        return 1 + (v[:, None] > np.asarray(edges, dtype=float)[None, :]).sum(axis=1)

    total = (score(-(frame["T"] - frame["recency"]), stats["r"])
             + score(frame["frequency"], stats["f"])
             + score(frame["monetary_value"], stats["m"]))
    return np.asarray(["low", "middle", "top"], dtype=object)[np.rint(total / 3).astype(int) - 1]


def _stages(frame: pd.DataFrame, stats: dict, time_unit: str) -> np.ndarray:
    """:func:`clvmodels.stages.lifecycle_stages` (defaults) with the population's median gap."""
    day = unit_days(time_unit)
    x = frame["frequency"].to_numpy(dtype=float)
    rec = frame["recency"].to_numpy(dtype=float) * day
    T = frame["T"].to_numpy(dtype=float) * day  # noqa: N806
    silence = T - rec
    repeat = x > 0
    gap = np.divide(rec, x, out=np.zeros(len(x)), where=repeat)
    typical = stats["gap"] if stats["gap"] is not None else np.inf
    gap = np.where(repeat & (gap > 0), gap, typical)
    label = np.select([silence <= 1.5 * gap, silence <= 3.0 * gap], ["active", "at_risk"],
                      "lapsed")
    return np.where(T <= 90.0, "new", label)


def _export_schema(sdf, value_columns):
    """The Spark schema of :func:`clvmodels.export.predict_clv`'s Arrow schema."""
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StructField, StructType

    from .export import _arrow_schema

    cid = sdf.columns[0]
    arrow = _arrow_schema(pd.Index([], dtype=object), cid, value_columns)
    fields = [sdf.schema[cid]]
    fields += [StructField(f.name, from_arrow_type(f.type), True) for f in arrow
               if f.name != cid]
    return StructType(fields)


def score(
    summary,
    transaction_model,
    spend_model,
    *,
    horizon: int,
    time_unit: str,
    discount_rate: float = 0.0,
    discount_period: str | None = None,
    margin: float = 1.0,
    interval: float | None = 0.9,
    n_draws: int | None = None,
    model_name: str | None = None,
    random_state=0,
    summary_time_unit: str | None = None,
):
    """Score every customer of a Spark summary: the export table as a Spark DataFrame.

    Each partition runs :func:`clvmodels.export.predict_clv` (``mapInPandas``) with
    the fitted models, which are broadcast as their JSON files
    (:func:`clvmodels.persistence.save_model`). The columns and values are those
    of ``predict_clv`` on the whole pandas summary: the intervals use the same
    parameter draws in every partition (``random_state``), and the RFM segments and
    lifecycle stages are computed against the whole population (its tertiles and
    median purchase gap, from Spark's exact percentiles). Customers the summary
    left out who bought in the calibration period get a row with empty predictions
    and the reason, as in the export.

    Parameters
    ----------
    summary
        A :class:`SparkSummary` (or a Spark DataFrame with the id column first and
        ``frequency, recency, T, monetary_value``; then pass ``summary_time_unit``).
    transaction_model, spend_model
        Fitted maximum-likelihood models (e.g. ``BetaGeoModel``, ``GammaGammaModel``).
    horizon, time_unit, discount_rate, discount_period, margin, interval, n_draws, \
model_name, random_state
        As for :func:`clvmodels.export.predict_clv` (expected-CLV intervals).
    summary_time_unit
        Time unit of ``recency`` and ``T``; default ``summary.attrs["time_unit"]``.

    Returns
    -------
    pyspark.sql.DataFrame
        One row per customer with the export's columns (lazy: written or collected
        by the caller, e.g. :func:`write_clv`).
    """
    F = _spark()
    from .export import COLUMNS

    sdf, attrs = _frame_and_attrs(summary)
    if summary_time_unit is not None:
        attrs["time_unit"] = summary_time_unit
    data_unit = attrs.setdefault("time_unit", "D")
    cid = sdf.columns[0]
    spark = sdf.sparkSession
    rows = sdf.select(cid, *[F.col(col).cast("double") for col in COLUMNS],
                      F.lit(None).cast("string").alias("_excluded"))
    holder = attrs.pop("excluded_customers", None)
    if holder is not None:
        left = holder.frame
        left = left[left["in_calibration_period"].fillna(False).astype(bool).to_numpy()]
        if len(left):
            local = pd.DataFrame({cid: left.index.to_numpy(),
                                  **{col: np.nan for col in COLUMNS},
                                  "_excluded": left["reason"].astype(str).to_numpy()})
            from pyspark.sql.types import StructField, StructType

            nullable = StructType([StructField(f.name, f.dataType, True) for f in rows.schema])
            extra = spark.createDataFrame(local, schema=nullable)
            rows = rows.unionByName(extra)
    if model_name is None:
        names = [type(transaction_model).__name__]
        if spend_model is not transaction_model:
            names.append(type(spend_model).__name__)
        model_name = " + ".join(names)
    stats = _population_statistics(sdf, data_unit)
    value_columns = ("probability_alive", "expected_purchases", "expected_spend", "clv") + (
        ("clv_lower", "clv_upper") if interval is not None else ())
    schema = _export_schema(sdf, value_columns)
    models = spark.sparkContext.broadcast(json.dumps(
        [_model_json(transaction_model), _model_json(spend_model)]))
    settings = dict(horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
                    discount_period=discount_period, margin=margin, interval=interval,
                    n_draws=n_draws, random_state=random_state, model_name=model_name)
    names = [f.name for f in schema]
    same_model = spend_model is transaction_model
    base_attrs = {k: v for k, v in attrs.items() if k in ("time_unit", "observation_period_end",
                                                           "calibration_period_end")}

    def score_partition(chunks):
        from clvmodels.export import predict_clv
        from clvmodels.spark import _model_from_json, _segments, _stages

        tm_text, sm_text = json.loads(models.value)
        tm = _model_from_json(tm_text)
        sm = tm if same_model else _model_from_json(sm_text)
        for chunk in chunks:
            if not len(chunk):
                continue
            part = chunk.set_index(cid)[list(COLUMNS)]
            part.attrs.update(base_attrs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # counted on the driver, not per partition
                out = predict_clv(part, tm, sm, **settings)
            ok = out["unscored_reason"].isna().to_numpy()
            if ok.any():
                scored = out.loc[ok]
                out.loc[ok, "segment"] = _segments(scored, stats)
                out.loc[ok, "stage"] = _stages(scored, stats, base_attrs["time_unit"])
            excluded = chunk["_excluded"].notna().to_numpy()
            if excluded.any():
                out.loc[excluded, "unscored_reason"] = (
                    "excluded by rfm_summary: " + chunk["_excluded"][excluded].astype(str)
                ).to_numpy()
            yield out[names]

    return rows.mapInPandas(score_partition, schema)


def write_clv(sdf, path: str, format: str = "parquet", mode: str = "errorifexists",  # noqa: A002
              partition_by=None) -> str:
    """Write the scored customers (:func:`score`) where the user says; returns ``path``.

    ``format``: any Spark data source (``"parquet"``, ``"delta"`` with Delta Lake
    installed, ``"csv"``, ...); ``mode``: Spark's save mode (``"overwrite"`` to
    replace); ``partition_by``: optional columns to partition the files by.
    """
    writer = sdf.write.format(format).mode(mode)
    if partition_by:
        writer = writer.partitionBy(*([partition_by] if isinstance(partition_by, str)
                                      else partition_by))
    if format == "csv":
        writer = writer.option("header", True)
    writer.save(str(path))
    return str(path)
