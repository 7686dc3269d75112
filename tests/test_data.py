"""Transactions -> RFM summary: the published CDNOW summary, both engines, bad input."""

from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import DataError, rfm_summary
from clvmodels.data import purchase_days
from clvmodels.exceptions import DataWarning

LIFETIMES_DATA = Path(str(resources.files("lifetimes") / "datasets"))
CAL_END, OBS_END = "1997-09-30", "1998-06-30"


@pytest.fixture(scope="module")
def sample():
    return clvmodels.datasets.load_cdnow("sample")


@pytest.fixture(scope="module")
def master():
    return clvmodels.datasets.load_cdnow("master")


def test_bundled_cdnow_matches_the_published_files(sample, master):
    assert sample.shape == (6919, 4) and sample["customer_id"].nunique() == 2357
    assert master.shape == (69659, 4) and master["customer_id"].nunique() == 23570
    assert list(sample.columns) == ["customer_id", "date", "quantity", "amount"]
    raw = pd.read_csv(LIFETIMES_DATA / "CDNOW_sample.txt", sep=r"\s+", header=None)
    np.testing.assert_array_equal(sample["amount"], raw[4])
    assert sample["date"].min() == pd.Timestamp("1997-01-01")
    assert master["date"].max() == pd.Timestamp("1998-06-30")


def test_reproduces_the_published_cdnow_summary(sample):
    summary = rfm_summary(sample, "customer_id", "date", "amount",
                          observation_period_end=OBS_END, calibration_period_end=CAL_END,
                          time_unit="W")
    published = pd.read_csv(LIFETIMES_DATA / "cdnow_customers_summary_with_transactions.csv")
    # The published file numbers customers 1..2357 in the order they appear in the log.
    ours = summary.loc[sample["customer_id"].drop_duplicates().to_numpy()]
    assert len(ours) == len(published) == 2357
    np.testing.assert_array_equal(ours["frequency"], published["x"])
    np.testing.assert_array_equal(ours["recency"].round(2), published["t_x"])
    np.testing.assert_array_equal(ours["T"].round(2), published["T"])
    # zbar is published to 2 decimals; half-cent ties may round either way.
    np.testing.assert_allclose(ours["monetary_value"], published["zbar"], atol=0.005 + 1e-9)
    assert (ours["duration_holdout"] == 39.0).all()
    assert ours["frequency"].dtype == np.int64
    assert summary.index.name == "customer_id"


def test_holdout_columns_against_a_direct_count(sample):
    summary = rfm_summary(sample, "customer_id", "date", "amount",
                          calibration_period_end=CAL_END, time_unit="W")
    hold = sample[sample["date"] > CAL_END]
    daily = hold.groupby(["customer_id", "date"])["amount"].sum().reset_index()
    freq = daily.groupby("customer_id").size().reindex(summary.index, fill_value=0)
    revenue = daily.groupby("customer_id")["amount"].sum().reindex(summary.index, fill_value=0)
    np.testing.assert_array_equal(summary["frequency_holdout"], freq)
    np.testing.assert_allclose(summary["revenue_holdout"], revenue, rtol=1e-12)
    mean = np.where(freq > 0, revenue / freq.clip(lower=1), 0.0)
    np.testing.assert_allclose(summary["monetary_value_holdout"], mean, rtol=1e-12)


def test_agrees_with_lifetimes(sample):
    from lifetimes.utils import summary_data_from_transaction_data

    theirs = summary_data_from_transaction_data(
        sample, "customer_id", "date", "amount", observation_period_end=OBS_END, freq="D")
    ours = rfm_summary(sample, "customer_id", "date", "amount",
                       observation_period_end=OBS_END, time_unit="D")
    theirs = theirs.loc[ours.index]
    np.testing.assert_array_equal(ours["frequency"], theirs["frequency"])
    np.testing.assert_allclose(ours["recency"], theirs["recency"])
    np.testing.assert_allclose(ours["T"], theirs["T"])
    np.testing.assert_allclose(ours["monetary_value"], theirs["monetary_value"], rtol=1e-12)


@pytest.mark.parametrize("unit,days", [("h", 1 / 24), ("D", 1), ("W", 7), ("M", 30.4375),
                                       ("Y", 365.25)])
def test_time_units_scale_recency_and_T(sample, unit, days):
    in_days = rfm_summary(sample, "customer_id", "date", "amount", time_unit="D")
    other = rfm_summary(sample, "customer_id", "date", "amount", time_unit=unit)
    np.testing.assert_allclose(other["T"] * days, in_days["T"], rtol=1e-12)
    np.testing.assert_allclose(other["recency"] * days, in_days["recency"], rtol=1e-12)
    assert other.attrs["time_unit"] == unit


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False,
                                  rtol=1e-12, atol=0)
    assert a.attrs == b.attrs


def test_duckdb_and_pandas_give_the_same_numbers_on_cdnow_master(master, tmp_path):
    kwargs = dict(calibration_period_end=CAL_END, time_unit="W")
    by_pandas = rfm_summary(master, "customer_id", "date", "amount", **kwargs)
    assert len(by_pandas) == 23570
    by_duckdb = rfm_summary(master, "customer_id", "date", "amount", engine="duckdb", **kwargs)
    _assert_same(by_pandas, by_duckdb)

    csv = tmp_path / "log.csv"
    master.to_csv(csv, index=False)
    # CSV ids are read as text, exactly as written (sorted as text).
    as_text = by_pandas.set_axis(by_pandas.index.astype(str)).sort_index()
    _assert_same(as_text, rfm_summary(csv, "customer_id", "date", "amount", **kwargs))
    _assert_same(as_text, rfm_summary(csv, "customer_id", "date", "amount",
                                      engine="pandas", **kwargs))

    # The log split across Parquet files, read through a glob.
    shuffled = master.sample(frac=1.0, random_state=1)
    for i, rows in enumerate(np.array_split(np.arange(len(shuffled)), 3)):
        shuffled.iloc[rows].to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    _assert_same(by_pandas, rfm_summary(str(tmp_path / "part-*.parquet"), "customer_id",
                                        "date", "amount", **kwargs))


def test_purchase_days_are_the_same_from_both_engines(master):
    a = purchase_days(master, "customer_id", "date", "amount")
    b = purchase_days(master, "customer_id", "date", "amount", engine="duckdb")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert len(a) == 67591


def test_customers_are_sorted_and_none_is_lost(master):
    summary = rfm_summary(master, "customer_id", "date", "amount")
    assert summary.index.is_monotonic_increasing
    assert set(summary.index) == set(master["customer_id"])


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_without_amount_column(sample, engine):
    with_amount = rfm_summary(sample, "customer_id", "date", "amount",
                              calibration_period_end=CAL_END, engine=engine)
    # No amount column at all (and amounts that would be refused are not read).
    log = sample.drop(columns="amount").assign(quantity=-1)
    summary = rfm_summary(log, "customer_id", "date", calibration_period_end=CAL_END,
                          engine=engine)
    assert "monetary_value" not in summary and "revenue_holdout" not in summary
    assert list(summary.columns) == ["frequency", "recency", "T", "frequency_holdout",
                                     "duration_holdout"]
    # Every other figure equals the summary with amounts, customer by customer.
    pd.testing.assert_frame_equal(summary, with_amount[summary.columns], check_like=False)
    assert len(summary) == 2357 and summary["frequency"].sum() == 2457
    assert summary["frequency_holdout"].sum() == 1882


def test_the_input_is_not_mutated(sample):
    before = sample.copy()
    rfm_summary(sample, "customer_id", "date", "amount", calibration_period_end=CAL_END)
    pd.testing.assert_frame_equal(sample, before)


# --- timestamps -----------------------------------------------------------


def test_text_and_numeric_timestamps(sample):
    expected = rfm_summary(sample, "customer_id", "date", "amount")
    as_text = sample.assign(date=sample["date"].dt.strftime("%Y-%m-%d"))
    _assert_same(expected, rfm_summary(as_text, "customer_id", "date", "amount"))
    _assert_same(expected, rfm_summary(as_text, "customer_id", "date", "amount",
                                       engine="duckdb"))
    as_number = sample.assign(date=sample["date"].dt.strftime("%Y%m%d").astype(int))
    with pytest.raises(DataError, match="holds numbers") as info:
        rfm_summary(as_number, "customer_id", "date", "amount")
    assert info.value.n_rows == len(sample)
    _assert_same(expected, rfm_summary(as_number, "customer_id", "date", "amount",
                                       datetime_format="%Y%m%d"))
    _assert_same(expected, rfm_summary(as_number, "customer_id", "date", "amount",
                                       datetime_format="%Y%m%d", engine="duckdb"))


def test_timezone_aware_timestamps_are_converted_to_utc():
    tx = pd.DataFrame({
        "id": [1, 1, 2],
        "ts": ["2024-01-01 23:30:00+02:00", "2024-01-03 01:00:00+02:00",
               "2024-01-02 12:00:00Z"],
        "amount": [1.0, 2.0, 3.0],
    })
    for engine in ("pandas", "duckdb"):
        s = rfm_summary(tx, "id", "ts", "amount", engine=engine, time_unit="D")
        # 23:30 at +02:00 is 21:30 UTC on Jan 1; 01:00 at +02:00 is 23:00 UTC on Jan 2.
        assert s.loc[1, "recency"] == 1.0
        assert s.loc[1, "T"] == 1.0
    aware = tx.assign(ts=pd.to_datetime(tx["ts"], utc=True).dt.tz_convert("Europe/Berlin"))
    _assert_same(rfm_summary(tx, "id", "ts", "amount"), rfm_summary(aware, "id", "ts", "amount"))


def test_mixed_aware_and_naive_timestamps_are_refused():
    tx = pd.DataFrame({"id": [1, 2, 3], "ts": ["2024-01-01 10:00:00+01:00",
                                                "2024-01-02 10:00:00", "2024-01-03"],
                       "amount": [1.0, 1.0, 1.0]})
    for engine in ("pandas", "duckdb"):
        with pytest.raises(DataError, match="mixes timezone-aware and naive") as info:
            rfm_summary(tx, "id", "ts", "amount", engine=engine)
        assert info.value.column == "ts" and info.value.n_rows == 1


def test_merge_within_hour_and_none():
    tx = pd.DataFrame({"id": [1, 1, 1], "ts": pd.to_datetime(
        ["2024-01-01 10:05", "2024-01-01 10:40", "2024-01-01 13:00"]), "amount": [1.0, 2, 3]})
    assert rfm_summary(tx, "id", "ts", "amount")["frequency"].iloc[0] == 0
    by_hour = rfm_summary(tx, "id", "ts", "amount", merge_within="h", time_unit="h")
    assert by_hour["frequency"].iloc[0] == 1 and by_hour["recency"].iloc[0] == 3.0
    exact = rfm_summary(tx, "id", "ts", "amount", merge_within=None, time_unit="h")
    assert exact["frequency"].iloc[0] == 2
    assert exact["recency"].iloc[0] == pytest.approx(175 / 60)
    _assert_same(exact, rfm_summary(tx, "id", "ts", "amount", merge_within=None,
                                    time_unit="h", engine="duckdb"))


# --- bad input: one test per rule -----------------------------------------

GOOD = pd.DataFrame({
    "id": [1, 1, 2, 3, 3],
    "ts": pd.to_datetime(["2024-01-01", "2024-01-05", "2024-01-02", "2024-01-03",
                          "2024-01-09"]),
    "amount": [10.0, 12.0, 5.0, 7.0, 8.0],
})


def _bad(**columns) -> pd.DataFrame:
    frame = GOOD.copy()
    for name, values in columns.items():
        frame[name] = values
    return frame


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("frame,rule,column,n_rows", [
    (GOOD.rename(columns={"amount": "value"}), "missing_columns", "amount", None),
    (GOOD.iloc[:0], "empty", None, 0),
    (_bad(id=pd.array([1, None, 2, None, 3], dtype="Int64")), "null_ids", "id", 2),
    (_bad(ts=pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-03", None])),
     "missing_dates", "ts", 2),
    (_bad(ts=["2024-01-01", "2024-01-02", "not a date", "2024-13-45", "2024-01-03"]),
     "unparseable_dates", "ts", 2),
    (_bad(amount=pd.array(["10", "12", "five", "7", "8"], dtype=object)),
     "non_numeric_amounts", "amount", 1),
    (_bad(amount=[10.0, np.nan, 5.0, 7.0, np.nan]), "missing_amounts", "amount", 2),
    (_bad(amount=[10.0, np.inf, 5.0, 7.0, 8.0]), "infinite_amounts", "amount", 1),
    (_bad(amount=[10.0, -12.0, 5.0, 7.0, 8.0]), "negative_amounts", "amount", 1),
])
def test_bad_input_names_column_rule_and_count(frame, rule, column, n_rows, engine):
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount", engine=engine)
    error = info.value
    assert isinstance(error, ValueError)
    assert error.rule == rule and error.column == column
    if n_rows is not None:
        assert error.n_rows == n_rows
        assert f"{n_rows} of {len(frame)} rows" in str(error) or n_rows == 0
    if column is not None:
        assert repr(column) in str(error)
    if n_rows:
        assert "Examples:" in str(error) and len(error.examples) == n_rows


def test_observation_end_before_first_purchase():
    with pytest.raises(DataError, match="before the first purchase") as info:
        rfm_summary(GOOD, "id", "ts", "amount", observation_period_end="2023-12-31")
    assert info.value.rule == "observation_end_before_first_purchase"


def test_calibration_end_after_observation_end():
    with pytest.raises(DataError, match="after observation_period_end"):
        rfm_summary(GOOD, "id", "ts", "amount", observation_period_end="2024-01-05",
                    calibration_period_end="2024-01-06")


def test_calibration_end_before_first_purchase():
    with pytest.raises(DataError, match="no customer"):
        rfm_summary(GOOD, "id", "ts", "amount", calibration_period_end="2023-06-01")


def test_exclusions_are_counted_never_silent():
    with pytest.warns(DataWarning) as record:
        s = rfm_summary(GOOD, "id", "ts", "amount", observation_period_end="2024-01-08",
                        calibration_period_end="2024-01-02")
    message = str(record[0].message)
    assert "1 transactions after the observation end" in message
    assert "1 customers whose first purchase is after the calibration end" in message
    assert list(s.index) == [1, 2]
    assert s.attrs["exclusions"]["transactions_after_observation_end"] == 1
    assert s.attrs["exclusions"]["customers_after_calibration_end"] == 1
    assert s.loc[1, "frequency_holdout"] == 1


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_returns_drop_and_net(engine):
    tx = pd.DataFrame({
        "id": [1, 1, 1, 2, 2, 3],
        "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03", "2024-01-01",
                              "2024-01-02", "2024-01-02"]),
        "amount": [10.0, 20.0, -5.0, 8.0, -8.0, -3.0],
    })
    with pytest.warns(DataWarning, match="3 rows with a negative"):
        dropped = rfm_summary(tx, "id", "ts", "amount", returns="drop", engine=engine)
    assert dropped.loc[1, "monetary_value"] == 20.0
    assert dropped.loc[2, "frequency"] == 0
    assert 3 not in dropped.index
    assert dropped.attrs["exclusions"]["customers_without_purchases"] == 1

    with pytest.warns(DataWarning, match="1 purchase days fully refunded"):
        netted = rfm_summary(tx, "id", "ts", "amount", returns="net", engine=engine)
    assert netted.loc[1, "monetary_value"] == 15.0
    # Customer 2's return on day 2 refunds the purchase of day 1: no purchase is left.
    assert 2 not in netted.index and 3 not in netted.index
    reasons = clvmodels.data.excluded_customers(netted)["reason"]
    assert reasons.to_dict() == {2: "all purchases cancelled by returns",
                                 3: "only returns, no purchase"}
    assert netted.attrs["exclusions"]["return_amount_unmatched"] == 3.0


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(FileNotFoundError):
        rfm_summary(tmp_path / "nope.csv", "id", "ts", "amount")
    (tmp_path / "log.json").write_text("{}")
    with pytest.raises(ValueError, match="csv or .parquet"):
        rfm_summary(tmp_path / "log.json", "id", "ts", "amount")


def test_csv_with_bad_amounts_is_reported_by_duckdb(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,ts,amount\n1,2024-01-01,5\n1,2024-01-02,abc\n2,2024-01-02,3\n")
    with pytest.raises(DataError, match="1 of 3 rows of column 'amount' are not numbers"):
        rfm_summary(path, "id", "ts", "amount")


# --- properties -------------------------------------------------------------

logs = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 400), st.floats(0, 1000, allow_nan=False)),
    min_size=1, max_size=40,
).map(lambda rows: pd.DataFrame({
    "id": [r[0] for r in rows],
    "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta([r[1] * 6 for r in rows], unit="h"),
    "amount": [r[2] for r in rows],
}))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs, seed=st.integers(0, 2**32 - 1), unit=st.sampled_from(["h", "D", "W"]))
def test_properties(log, seed, unit):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        s = rfm_summary(log, "id", "ts", "amount", time_unit=unit)
        shuffled = log.sample(frac=1.0, random_state=seed % 2**32)
        _assert_same(s, rfm_summary(shuffled, "id", "ts", "amount", time_unit=unit))
        cut = seed % len(log)
        # A log split in two and concatenated back is the same log.
        parts = pd.concat([shuffled.iloc[cut:], shuffled.iloc[:cut]])
        _assert_same(s, rfm_summary(parts, "id", "ts", "amount", time_unit=unit,
                                    engine="duckdb"))
    assert (s["recency"] <= s["T"]).all() and (s["recency"] >= 0).all()
    assert ((s["frequency"] == 0) == (s["recency"] == 0)).all()
    assert set(s.index) == set(log["id"])
    assert (s["frequency"] + 1).sum() == log.assign(
        day=log["ts"].dt.floor("D")).drop_duplicates(["id", "day"]).shape[0]
