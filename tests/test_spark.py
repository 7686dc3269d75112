"""clvmodels.spark in Spark local mode: the same numbers as the pandas engine.

Summaries (CDNOW, messy invoice logs with every cleaning rule, text dates and
amounts, hourly ticks) equal :func:`clvmodels.rfm_summary` exactly, attrs and
left-out customers included, for any row order and partitioning; fits on the
compressed rows equal fits on the pandas summary; scoring equals
:func:`clvmodels.predict_clv`; bad input raises the pandas engine's DataError.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("pyspark")

import clvmodels  # noqa: E402
from clvmodels import DataError, rfm_summary  # noqa: E402
from clvmodels import spark as cs  # noqa: E402
from clvmodels.data import excluded_customers  # noqa: E402
from clvmodels.exceptions import DataWarning  # noqa: E402
from clvmodels.export import predict_clv  # noqa: E402

from messy_logs import messy_log  # noqa: E402

# pyspark's own notices about pandas 3 (it works; they are not clvmodels' warnings).
pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]

CLEAN = dict(returns="net", order_id_col="invoice", duplicates="drop", zero_amounts="drop",
             missing_ids="drop")

few = settings(max_examples=2, deadline=None,
               suppress_health_check=[HealthCheck.too_slow,
                                      HealthCheck.function_scoped_fixture])


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return function(*args, **kwargs)


def _to_spark(spark, frame: pd.DataFrame, partitions: int = 3, seed: int = 0):
    """The log as a Spark DataFrame, rows shuffled and spread over ``partitions``."""
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return spark.createDataFrame(shuffled).repartition(partitions)


def _assert_same_summary(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Bit for bit: values, dtypes, index, attrs and the customers left out.

    (The left-out customers' index is text in both, but the pandas engine keeps
    an object dtype where ids were missing, as in tests/test_retail_logs.py.)
    """
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs
    pd.testing.assert_frame_equal(excluded_customers(a), excluded_customers(b),
                                  check_exact=True, check_index_type=False)


@pytest.fixture(scope="session")
def cdnow():
    return clvmodels.datasets.load_cdnow("sample")


@pytest.fixture(scope="session")
def cdnow_summary(spark, cdnow):
    """CDNOW in Spark: rows shuffled over 5 partitions, with a holdout period."""
    return _quiet(cs.summary_sdf, _to_spark(spark, cdnow, 5, 12345), "customer_id", "date",
                  "amount", calibration_period_end="1997-09-30", time_unit="W")


def test_cdnow_summary_equals_the_pandas_engine(cdnow, cdnow_summary):
    expected = _quiet(rfm_summary, cdnow, "customer_id", "date", "amount",
                      calibration_period_end="1997-09-30", time_unit="W")
    got = cdnow_summary.to_pandas()
    _assert_same_summary(got, expected)
    assert len(got) == cdnow["customer_id"].nunique() == 2357
    assert got.attrs["notes"]["duplicate_rows_kept"] > 0  # the counts are real
    assert "frequency_holdout" in got and got["revenue_holdout"].sum() > 0


def test_include_first_transaction_equals_the_pandas_engine(spark, cdnow):
    from clvmodels import spark as clv_spark

    expected = _quiet(rfm_summary, cdnow, "customer_id", "date", "amount",
                      calibration_period_end="1997-09-30", include_first_transaction=True)
    got = _quiet(clv_spark.rfm_summary, _to_spark(spark, cdnow), "customer_id", "date",
                 "amount", calibration_period_end="1997-09-30",
                 include_first_transaction=True)
    _assert_same_summary(got, expected)
    assert got.attrs["include_first_transaction"] is True


@few
@given(seed=st.integers(0, 2**32 - 1), shuffle=st.integers(0, 2**31 - 1))
def test_messy_log_with_every_cleaning_rule_equals_the_pandas_engine(spark, seed, shuffle):
    log, truth = messy_log(seed)
    kwargs = dict(observation_period_end=truth.observation_end,
                  calibration_period_end=truth.observation_end - pd.Timedelta(days=90), **CLEAN)
    with pytest.warns(DataWarning) as record:
        expected = rfm_summary(log, "customer_id", "date", "amount", **kwargs)
    with pytest.warns(DataWarning) as spark_record:
        got = cs.rfm_summary(_to_spark(spark, log, 4, shuffle), "customer_id", "date", "amount",
                             **kwargs)
    _assert_same_summary(got, expected)

    def messages(caught):
        return [str(w.message) for w in caught if issubclass(w.category, DataWarning)]

    assert len(messages(spark_record)) == 1  # one warning with every count
    assert messages(spark_record) == messages(record)
    ex = got.attrs["exclusions"]
    assert ex["rows_without_customer_id"] == truth.missing_id_rows > 0
    assert ex["duplicate_rows_dropped"] == truth.duplicate_rows > 0
    assert ex["return_rows_netted"] == truth.return_rows_netted
    assert ex["days_cancelled_by_returns"] == truth.days_cancelled
    assert not excluded_customers(got).empty


def test_text_dates_and_amounts_to_the_microsecond_equal_the_pandas_engine(spark):
    log, truth = messy_log(11)
    log = log.dropna(subset=["customer_id"])
    text = log.assign(date=log["date"].dt.strftime("%Y-%m-%dT%H:%M:%S"),
                      amount=log["amount"].map(lambda a: f"{a:.2f}"))
    kwargs = dict(returns="drop", merge_within=None, time_unit="h")
    expected = _quiet(rfm_summary, text, "customer_id", "date", "amount", **kwargs)
    got = _quiet(cs.rfm_summary, _to_spark(spark, text, 2, 1), "customer_id", "date", "amount",
                 **kwargs)
    _assert_same_summary(got, expected)
    assert got.attrs["merge_within"] is None
    assert got.attrs["exclusions"]["rows_dropped_as_returns"] > 0


def test_datetime_format_and_timestamp_ntz_columns(spark, cdnow):
    small = cdnow[cdnow["customer_id"] < 300]
    compact = small.assign(date=small["date"].dt.strftime("%d.%m.%Y"))
    expected = _quiet(rfm_summary, compact, "customer_id", "date", "amount",
                      datetime_format="%d.%m.%Y")
    got = _quiet(cs.rfm_summary, _to_spark(spark, compact), "customer_id", "date", "amount",
                 datetime_format="%d.%m.%Y")
    _assert_same_summary(got, expected)
    # Wall-clock timestamps (timestamp_ntz, as Spark reads naive Parquet timestamps),
    # merged by the hour.
    log, _ = messy_log(4)
    log = log.dropna(subset=["customer_id"])
    ntz = _to_spark(spark, log).withColumn("date", _col("date").cast("timestamp_ntz"))
    assert dict(ntz.dtypes)["date"] == "timestamp_ntz"
    kwargs = dict(returns="net", merge_within="h", time_unit="D")
    _assert_same_summary(_quiet(cs.rfm_summary, ntz, "customer_id", "date", "amount", **kwargs),
                         _quiet(rfm_summary, log, "customer_id", "date", "amount", **kwargs))


def _col(name):
    from pyspark.sql import functions as F  # noqa: N812

    return F.col(name)


# ---------------------------------------------------------------------------
# Bad input: the pandas engine's DataError, counted in Spark


def _same_error(spark, frame, **kwargs):
    with pytest.raises(DataError) as expected:
        rfm_summary(frame, "customer_id", "date", "amount", **kwargs)
    with pytest.raises(DataError) as got:
        cs.rfm_summary(_to_spark(spark, frame), "customer_id", "date", "amount", **kwargs)
    for attr in ("rule", "column", "n_rows"):
        assert getattr(got.value, attr) == getattr(expected.value, attr)
    # The same message; the same example rows (Spark has no row order; None for NaN).
    assert str(got.value).split(" Examples:")[0] == str(expected.value).split(" Examples:")[0]

    def shown(examples):
        return sorted(repr(tuple(None if pd.isna(v) else v for v in row)) for row in examples)

    assert shown(got.value.examples) == shown(expected.value.examples)
    return got.value


def test_bad_input_raises_the_same_data_errors_with_counts(spark):
    good = pd.DataFrame({"customer_id": ["a", "a", "b", "c", "c", "d"],
                         "date": ["2024-01-01", "2024-01-03", "2024-01-02", "2024-02-01",
                                  "2024-02-05 10:00", "2024-03-01"],
                         "amount": [10.0, 5.5, 3.0, 8.0, 1.25, 4.0]})
    null_ids = good.assign(customer_id=["a", None, "b", None, None, "d"])
    err = _same_error(spark, null_ids)
    assert (err.rule, err.n_rows, err.column) == ("null_ids", 3, "customer_id")
    bad_dates = good.assign(date=["2024-01-01", "yesterday", "2024-13-02", "2024-02-01",
                                  "2024-02-01", "01/02/2024"])
    err = _same_error(spark, bad_dates)
    assert (err.rule, err.n_rows) == ("unparseable_dates", 2)
    negative = good.assign(amount=[10.0, -5.5, 3.0, -8.0, 1.25, 4.0])
    err = _same_error(spark, negative)
    assert (err.rule, err.n_rows, err.column) == ("negative_amounts", 2, "amount")
    text_amounts = good.assign(amount=["10", "5,5", "3", "abc", "1.25", "4"])
    err = _same_error(spark, text_amounts)
    assert (err.rule, err.n_rows) == ("non_numeric_amounts", 2)
    assert sorted(map(str, (e[2] for e in err.examples))) == ["5,5", "abc"]
    huge = good.assign(amount=[6e13, 5e13, 3.0, 8.0, 1.25, 4.0])  # 1.1e16 cents > 2**53
    err = _same_error(spark, huge)
    assert (err.rule, err.n_rows) == ("amount_sum_overflow", 1)
    mixed = good.assign(date=["2024-01-01T10:00+02:00"] * 3 + ["2024-02-01"] * 3)
    err = _same_error(spark, mixed)
    assert (err.rule, err.n_rows) == ("mixed_timezones", 3)


def test_missing_column_is_a_data_error(spark):
    sdf = spark.createDataFrame(pd.DataFrame({"customer_id": [1], "when": ["2024-01-01"]}))
    with pytest.raises(DataError) as err:
        cs.rfm_summary(sdf, "customer_id", "date")
    assert err.value.rule == "missing_columns" and err.value.column == "date"


# ---------------------------------------------------------------------------
# Compressed fits and scoring


@pytest.fixture(scope="session")
def messy_summaries(spark):
    log, truth = messy_log(3, n_customers=120)
    kwargs = dict(observation_period_end=truth.observation_end, time_unit="W", **CLEAN)
    pandas_summary = _quiet(rfm_summary, log, "customer_id", "date", "amount", **kwargs)
    spark_summary = _quiet(cs.summary_sdf, _to_spark(spark, log, 3, 7), "customer_id", "date",
                           "amount", **kwargs)
    return pandas_summary, spark_summary


def test_summary_sdf_keeps_the_summary_in_spark(messy_summaries):
    expected, summary = messy_summaries
    assert isinstance(summary, cs.SparkSummary)
    assert summary.frame.columns[:4] == ["customer_id", "frequency", "recency", "T"]
    assert summary.frame.count() == len(expected)
    _assert_same_summary(summary.to_pandas(), expected)


def test_compress_counts_the_distinct_rows_in_spark(cdnow_summary):
    summary = cdnow_summary
    rows = cs.compress(summary)
    expected = (summary.to_pandas().groupby(["frequency", "recency", "T"]).size()
                .rename("weight").reset_index())
    pd.testing.assert_frame_equal(rows, expected.astype({"weight": float}), check_exact=True)
    assert rows["weight"].sum() == 2357 and len(rows) < 2357
    assert rows.attrs["time_unit"] == "W"


def test_fit_on_compressed_rows_equals_the_fit_on_the_pandas_summary(cdnow_summary):
    summary = cdnow_summary
    local = summary.to_pandas()
    bg = cs.fit(clvmodels.BetaGeoModel(), summary)
    expected = clvmodels.BetaGeoModel().fit(local)
    assert bg.data_fingerprint_ == expected.data_fingerprint_
    np.testing.assert_allclose(bg.params_, expected.params_, rtol=1e-6)
    np.testing.assert_allclose(bg.log_likelihood_, expected.log_likelihood_, rtol=1e-10)
    gg = cs.fit(clvmodels.GammaGammaModel(), summary)
    gg_expected = clvmodels.GammaGammaModel().fit(local)
    assert gg.data_fingerprint_ == gg_expected.data_fingerprint_
    np.testing.assert_allclose(gg.params_, gg_expected.params_, rtol=1e-6)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.sort_values("customer_id", ignore_index=True)
    for col in ("segment", "stage", "model", "time_unit", "unscored_reason"):
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
    return frame


def test_score_equals_predict_clv_row_for_row(messy_summaries, tmp_path):
    local, summary = messy_summaries
    bg = clvmodels.BetaGeoModel().fit(local)
    gg = clvmodels.GammaGammaModel().fit(local)
    settings_ = dict(horizon=12, time_unit="M", discount_rate=0.01, interval=0.9,
                     random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        expected = predict_clv(local, bg, gg, **settings_)
    scored = cs.score(summary, bg, gg, **settings_)
    got = scored.toPandas()
    assert list(got.columns) == list(expected.columns)
    got, expected = _sorted(got), _sorted(expected)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_exact=True)
    # Nothing lost: the customers the summary left out who bought have their row.
    left_out = got["unscored_reason"].fillna("").str.startswith("excluded by rfm_summary")
    assert left_out.sum() > 0
    assert len(got) == len(local) + left_out.sum()
    assert set(got["segment"].dropna()) == {"low", "middle", "top"}

    path = cs.write_clv(scored, str(tmp_path / "clv"), format="parquet")
    back = pd.read_parquet(path)
    assert len(back) == len(got)
    assert np.isclose(back["clv"].sum(), expected["clv"].sum(), rtol=1e-12)
