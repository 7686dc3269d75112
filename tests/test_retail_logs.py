"""Real retail logs: returns netted against earlier purchases, duplicates, zero prices,
missing ids, overflowing sums, customers left out and spend outliers.

The generator (tests/messy_logs.py) builds a messy invoice log with a known clean
truth; after the documented cleaning, both engines must give the truth's summary
for any row order, and every rule must count exactly what it did.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import DataError, rfm_summary
from clvmodels.data import excluded_customers, purchase_days
from clvmodels.exceptions import DataWarning

from messy_logs import START, messy_log

CLEAN = dict(returns="net", order_id_col="invoice", duplicates="drop", zero_amounts="drop",
             missing_ids="drop")
ENGINES = ("pandas", "duckdb")


def _quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return rfm_summary(*args, **kwargs)


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_index_type=False,
                                  rtol=1e-12, atol=0)
    assert a.attrs == b.attrs
    pd.testing.assert_frame_equal(excluded_customers(a), excluded_customers(b),
                                  check_index_type=False)


def _truth_summary(truth, **kwargs):
    """The truth's summary: the clean purchase days through the plain path (no rule fires)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)  # the wholesale customers are noted
        return rfm_summary(truth.days, "customer_id", "date", "amount",
                           observation_period_end=truth.observation_end, **kwargs)


cases = settings(max_examples=25, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cases
@given(seed=st.integers(0, 2**32 - 1), shuffle=st.integers(0, 2**31 - 1))
def test_cleaned_messy_log_equals_the_truth_for_both_engines_and_any_order(seed, shuffle):
    log, truth = messy_log(seed)
    expected = _truth_summary(truth)
    shuffled = log.sample(frac=1.0, random_state=shuffle)
    results = []
    for engine, frame in (("pandas", log), ("duckdb", log), ("pandas", shuffled),
                          ("duckdb", shuffled)):
        with pytest.warns(DataWarning) as record:
            s = rfm_summary(frame, "customer_id", "date", "amount",
                            observation_period_end=truth.observation_end, engine=engine, **CLEAN)
        assert len(record) == 1  # one warning with every count
        results.append(s)
    s = results[0]
    assert list(s.index) == list(expected.index)
    np.testing.assert_array_equal(s["frequency"], expected["frequency"])
    np.testing.assert_array_equal(s["recency"], expected["recency"])
    np.testing.assert_array_equal(s["T"], expected["T"])
    np.testing.assert_allclose(s["monetary_value"], expected["monetary_value"], rtol=1e-12)
    for other in results[1:]:
        _assert_same(s, other)

    ex = s.attrs["exclusions"]
    assert ex["duplicate_rows_dropped"] == truth.duplicate_rows
    assert ex["rows_without_customer_id"] == truth.missing_id_rows
    assert ex["zero_amount_rows_dropped"] == truth.zero_rows
    assert ex["days_cancelled_by_returns"] == truth.days_cancelled
    assert ex["return_rows_netted"] == truth.return_rows_netted
    assert ex["return_amount_netted_by_order"] == truth.netted_by_order_cents / 100
    assert ex["return_amount_netted_by_day"] == truth.netted_by_day_cents / 100
    assert ex["return_rows_unmatched"] == truth.return_rows_unmatched
    assert ex["return_amount_unmatched"] == truth.unmatched_cents / 100
    assert ex["rows_dropped_as_returns"] == 0
    assert ex["customers_without_purchases"] == len(truth.reasons)
    # Customers left out are retrievable, with the reason.
    left_out = excluded_customers(s)
    assert left_out["reason"].to_dict() == truth.reasons
    assert left_out["in_calibration_period"].all()
    # Nothing lost: every id of the log is either summarised or left out with a reason.
    ids = set(log["customer_id"].dropna())
    assert set(s.index) | set(left_out.index) == ids
    assert not set(s.index) & set(left_out.index)
    # The wholesale customers with repeat purchases are the extreme spenders.
    repeat_wholesale = [c for c in truth.wholesale if c in s.index and s.loc[c, "frequency"] > 0]
    assert s.attrs["notes"]["extreme_monetary_customers"] == len(repeat_wholesale)


@cases
@given(seed=st.integers(0, 2**32 - 1), cal_day=st.integers(30, 300))
def test_customers_born_after_calibration_are_retrievable(seed, cal_day):
    log, truth = messy_log(seed)
    # The calibration period holds at least the first clean purchase.
    cal_end = max(START + pd.Timedelta(days=cal_day), truth.days["date"].min())
    expected = _truth_summary(truth, calibration_period_end=cal_end)
    by_engine = [_quiet(log, "customer_id", "date", "amount", calibration_period_end=cal_end,
                        observation_period_end=truth.observation_end, engine=engine, **CLEAN)
                 for engine in ENGINES]
    _assert_same(*by_engine)
    s = by_engine[0]
    assert list(s.index) == list(expected.index)
    np.testing.assert_array_equal(s["frequency_holdout"], expected["frequency_holdout"])
    np.testing.assert_allclose(s["revenue_holdout"], expected["revenue_holdout"], rtol=1e-12)
    first_day = truth.days.groupby("customer_id")["date"].min()
    late = sorted(first_day.index[first_day > cal_end])
    left_out = excluded_customers(s)
    after = left_out[left_out["reason"] == "first purchase after the calibration end"]
    assert sorted(after.index) == late
    assert s.attrs["exclusions"]["customers_after_calibration_end"] == len(late)
    in_cal = {c: truth.first_row_day[c] <= cal_end for c in left_out.index}
    assert left_out["in_calibration_period"].to_dict() == in_cal


@pytest.mark.parametrize("seed", [3, 11])
def test_purchase_days_apply_the_same_rules(seed):
    log, truth = messy_log(seed)
    for engine in ENGINES:
        with pytest.warns(DataWarning, match="exact duplicate rows"):
            days = purchase_days(log, "customer_id", "date", "amount", engine=engine,
                                 observation_period_end=truth.observation_end, **CLEAN)
        np.testing.assert_array_equal(days["customer_id"], truth.days["customer_id"])
        np.testing.assert_array_equal(days["date"], truth.days["date"])
        np.testing.assert_allclose(days["amount"], truth.days["amount"], rtol=1e-12)
        assert days.attrs["exclusions"]["days_cancelled_by_returns"] == truth.days_cancelled
        assert excluded_customers(days)["reason"].to_dict() == truth.reasons


# --- each option counts exactly what it did ----------------------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicates_keep_counts_and_drop_removes_them(engine):
    log, truth = messy_log(5)
    opts = dict(CLEAN, zero_amounts="keep", observation_period_end=truth.observation_end,
                engine=engine)
    with pytest.warns(DataWarning, match=f"{truth.duplicate_rows} exact duplicate rows were kept"):
        kept = rfm_summary(log, "customer_id", "date", "amount", **dict(opts, duplicates="keep"))
    dropped = _quiet(log, "customer_id", "date", "amount", **opts)
    assert kept.attrs["notes"]["duplicate_rows_kept"] == truth.duplicate_rows
    assert kept.attrs["exclusions"]["duplicate_rows_dropped"] == 0
    assert dropped.attrs["notes"]["duplicate_rows_kept"] == 0
    assert dropped.attrs["exclusions"]["duplicate_rows_dropped"] == truth.duplicate_rows
    assert kept.attrs["n_transactions"] - dropped.attrs["n_transactions"] == truth.duplicate_rows


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_amounts_keep_counts_and_drop_removes_them(engine):
    log, truth = messy_log(7)
    opts = dict(CLEAN, observation_period_end=truth.observation_end, engine=engine)
    kept = _quiet(log, "customer_id", "date", "amount", **dict(opts, zero_amounts="keep"))
    dropped = _quiet(log, "customer_id", "date", "amount", **opts)
    assert kept.attrs["notes"]["zero_amount_rows_kept"] == truth.zero_rows
    assert dropped.attrs["exclusions"]["zero_amount_rows_dropped"] == truth.zero_rows
    # The customer with only a zero price is a purchase of 0 when kept, left out when dropped.
    assert kept.loc["Z00001", "frequency"] == 0
    assert "Z00001" not in dropped.index
    assert excluded_customers(dropped).loc["Z00001", "reason"] == (
        "no purchase left after dropping zero amounts")


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_ids_error_names_the_option_and_drop_counts(engine):
    log, truth = messy_log(9)
    opts = dict(CLEAN, observation_period_end=truth.observation_end, engine=engine)
    with pytest.raises(DataError, match="missing_ids='drop'") as info:
        rfm_summary(log, "customer_id", "date", "amount", **dict(opts, missing_ids="error"))
    assert info.value.n_rows == truth.missing_id_rows and info.value.column == "customer_id"
    s = _quiet(log, "customer_id", "date", "amount", **opts)
    assert s.attrs["exclusions"]["rows_without_customer_id"] == truth.missing_id_rows
    only_missing = pd.DataFrame({"customer_id": [None, None], "date": [START, START],
                                 "amount": [1.0, 2.0]})
    with pytest.raises(DataError, match="All 2 rows have a missing customer id"):
        rfm_summary(only_missing, "customer_id", "date", "amount", missing_ids="drop",
                    engine=engine)


def _tx(rows):
    return pd.DataFrame(rows, columns=["id", "invoice", "day", "amount"]).assign(
        ts=lambda f: START + pd.to_timedelta(f["day"], unit="D"))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_cancellation_nets_against_its_order_else_the_most_recent_day(engine):
    tx = _tx([(1, "A", 0, 10.0), (1, "B", 4, 20.0), (1, "A", 5, -10.0)])
    by_order = _quiet(tx, "id", "ts", "amount", returns="net", order_id_col="invoice",
                      engine=engine, time_unit="D")
    by_day = _quiet(tx, "id", "ts", "amount", returns="net", engine=engine, time_unit="D")
    # Invoice A is cancelled: the first day is gone, the second keeps its 20.
    assert by_order.loc[1, ["frequency", "monetary_value", "T"]].tolist() == [0, 0.0, 1.0]
    assert by_order.attrs["exclusions"]["return_amount_netted_by_order"] == 10.0
    # Without invoices, the most recent day before the return (day 4) is reduced.
    assert by_day.loc[1, ["frequency", "monetary_value", "T"]].tolist() == [1, 10.0, 5.0]
    assert by_day.attrs["exclusions"]["return_amount_netted_by_day"] == 10.0


@pytest.mark.parametrize("engine", ENGINES)
def test_a_return_larger_than_what_was_bought_before_it(engine):
    tx = _tx([(1, None, 0, 10.0), (1, None, 2, 4.0), (1, None, 3, -16.5), (1, None, 9, 7.0),
              (2, None, 0, 5.0)])
    with pytest.warns(DataWarning) as record:
        s = rfm_summary(tx, "id", "ts", "amount", returns="net", engine=engine)
    # Days 2 and 0 are refunded, 2.50 is left over; day 9 (after the return) stays.
    assert s.loc[1, ["frequency", "recency", "T"]].tolist() == [0, 0.0, 0.0]
    ex = s.attrs["exclusions"]
    assert ex["days_cancelled_by_returns"] == 2
    assert ex["return_amount_netted_by_day"] == 14.0
    assert ex["return_amount_unmatched"] == 2.5
    assert ex["return_rows_unmatched"] == 0 and ex["return_rows_netted"] == 1
    message = str(record[0].message)
    assert "2 purchase days fully refunded" in message
    assert "2.5 of returns exceeding what was bought before them" in message


@given(parts=st.lists(st.integers(1, 10_000), min_size=2, max_size=6),
       seed=st.integers(0, 2**31 - 1))
@settings(max_examples=40, deadline=None)
def test_a_full_refund_in_cents_is_never_a_purchase(parts, seed):
    """Sums such as 0.1 + 0.2 - 0.3 are 5e-17 in floats; in cents they are 0."""
    amounts = [p / 100 for p in parts]
    rows = [(1, None, 0, a) for a in amounts] + [(1, None, 3, -a) for a in amounts]
    rows += [(1, None, 7, 1.0), (2, None, 0, 1.0)]
    tx = _tx(rows).sample(frac=1.0, random_state=seed)
    by_engine = [_quiet(tx, "id", "ts", "amount", returns="net", engine=e) for e in ENGINES]
    _assert_same(*by_engine)
    s = by_engine[0]
    assert s.loc[1, ["frequency", "T"]].tolist() == [0, 0.0]  # only day 7 is left
    assert s.attrs["exclusions"]["days_cancelled_by_returns"] == 1
    assert s.attrs["exclusions"]["return_amount_netted_by_day"] == round(sum(parts) / 100, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_drop_says_the_cancelled_purchases_still_count(engine):
    tx = _tx([(1, None, 0, 10.0), (1, None, 2, -10.0), (1, None, 4, 3.0)])
    with pytest.warns(DataWarning, match=r"1 rows with a negative 'amount'.*still count as "
                                         r"purchases.*returns='net'"):
        s = rfm_summary(tx, "id", "ts", "amount", returns="drop", engine=engine)
    assert s.loc[1, "frequency"] == 1 and s.attrs["exclusions"]["rows_dropped_as_returns"] == 1


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("returns", ["error", "net"])
def test_amounts_beyond_exact_sums_are_refused(engine, returns):
    # 2**53 cents (about 9.007e13 at 2 decimals) is the most that sums exactly.
    tx = _tx([(1, "A", 0, 1e308), (1, "A", 0, 1e308), (2, "B", 0, 1.0), (3, "C", 0, 2.0)])
    with pytest.raises(DataError, match=r"1 customers' amounts in column 'amount' add up "
                                        r"to 9\.01e\+13 or more") as info:
        rfm_summary(tx, "id", "ts", "amount", returns=returns, engine=engine)
    assert info.value.column == "amount" and info.value.rule == "amount_sum_overflow"
    assert info.value.n_rows == 1
    # Two customers over the limit only when added up over several days.
    tx = _tx([(1, None, 0, 5e13), (1, None, 3, 5e13), (2, None, 0, 4.6e13), (2, None, 1, 4.6e13),
              (3, None, 0, 8e13), (3, None, 2, 1.0)])
    if returns == "net":
        tx = pd.concat([tx, _tx([(1, None, 4, -1.0)])], ignore_index=True)
    with pytest.raises(DataError, match="2 customers' amounts") as info:
        rfm_summary(tx, "id", "ts", "amount", returns=returns, engine=engine)
    assert info.value.n_rows == 2
    # Just below the limit: summed exactly.
    tx = _tx([(1, None, 0, 1.0), (1, None, 1, 4.5e13), (1, None, 2, 4.5e13 + 0.01)])
    s = rfm_summary(tx, "id", "ts", "amount", engine=engine)
    assert s.loc[1, "monetary_value"] == (9e15 + 1) / 100 / 2


@pytest.mark.parametrize("engine", ENGINES)
def test_money_is_summed_in_whole_cents_and_rounding_is_counted(engine):
    # 0.1 + 0.2 is not 0.3 in floating point; in cents it is, in any order.
    tx = _tx([(1, None, 0, 5.0), (1, None, 1, 0.1), (1, None, 1, 0.2), (1, None, 2, 0.3),
              (2, None, 0, 1.005), (2, None, 1, 2.0049), (2, None, 1, -0.0)])
    with pytest.warns(DataWarning, match=r"2 amounts in 'amount' have more than 2 decimals "
                                         r"and were rounded to 0\.01 \(money_decimals=2\)"):
        s = rfm_summary(tx, "id", "ts", "amount", engine=engine, zero_amounts="keep")
    assert s.loc[1, "monetary_value"] == 0.3
    # 1.005 is 1.00499999... in binary (so 1.00), 2.0049 is 2.00, -0.0 is a zero line.
    assert s.loc[2, "monetary_value"] == 2.0
    assert s.attrs["exclusions"]["amounts_rounded"] == 2
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        days = purchase_days(tx, "id", "ts", "amount", engine=engine)
    assert days.loc[days["id"] == 2, "amount"].tolist() == [1.0, 2.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        s3 = rfm_summary(tx, "id", "ts", "amount", engine=engine, money_decimals=4)
    assert s3.attrs["exclusions"]["amounts_rounded"] == 0
    assert s3.loc[2, "monetary_value"] == 2.0049


def test_extreme_monetary_values_are_noted_not_changed():
    rng = np.random.default_rng(0)
    rows = [(c, None, d, float(rng.integers(10, 40))) for c in range(30) for d in (0, 5, 9)]
    rows += [(99, None, 0, 50.0), (99, None, 5, 90_000.0)]  # a wholesale buyer
    tx = _tx(rows)
    with pytest.warns(DataWarning, match="1 customers have an extreme monetary_value"):
        s = rfm_summary(tx, "id", "ts", "amount")
    assert s.attrs["notes"]["extreme_monetary_customers"] == 1
    assert s.loc[99, "monetary_value"] == 90_000.0
    logs = np.log(s.loc[s.index != 99, "monetary_value"])
    q1, q3 = np.quantile(np.append(logs, np.log(90_000.0)), [0.25, 0.75])
    assert s.attrs["notes"]["extreme_monetary_threshold"] == round(
        float(np.exp(q3 + 3 * (q3 - q1))), 2)


def test_option_values_are_checked():
    tx = _tx([(1, None, 0, 1.0)])
    for name in ("duplicates", "zero_amounts", "missing_ids"):
        with pytest.raises(ValueError, match=name):
            rfm_summary(tx, "id", "ts", "amount", **{name: "maybe"})
    with pytest.raises(ValueError, match="money_decimals"):
        rfm_summary(tx, "id", "ts", "amount", money_decimals=-1)


def test_a_csv_export_of_the_log_gives_the_same_summary(tmp_path):
    log, truth = messy_log(21)
    path = tmp_path / "invoices.csv"
    log.to_csv(path, index=False)
    opts = dict(CLEAN, observation_period_end=truth.observation_end)
    from_frame = _quiet(log, "customer_id", "date", "amount", **opts)
    for engine in ENGINES:
        from_file = _quiet(path, "customer_id", "date", "amount", engine=engine, **opts)
        _assert_same(from_frame, from_file)


@pytest.mark.parametrize("returns", ["drop", "net"])
def test_a_log_of_returns_only_leaves_no_customer_in_either_engine(returns):
    log = pd.DataFrame({"id": ["a", "b", "b"], "d": ["2020-01-01", "2020-02-01", "2020-03-01"],
                        "amt": [-5.0, -3.0, -1.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_pandas = clvmodels.rfm_summary(log, "id", "d", "amt", returns=returns,
                                          engine="pandas")
        by_duckdb = clvmodels.rfm_summary(log, "id", "d", "amt", returns=returns,
                                          engine="duckdb")
    assert len(by_pandas) == len(by_duckdb) == 0
    assert by_pandas.attrs["exclusions"] == by_duckdb.attrs["exclusions"]
    assert by_pandas.attrs["exclusions"]["customers_without_purchases"] == 2
    left_out = clvmodels.data.excluded_customers(by_pandas)
    assert sorted(left_out.index) == ["a", "b"]
