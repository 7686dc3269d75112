"""data.py's summaries, cleaning rules and counts on small hand-built logs whose
summaries are worked out by hand, from both engines (mutants of data.py that
test_data.py lets through; see tests/mutation/README.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels.data import excluded_customers, rfm_summary
from clvmodels.exceptions import DataError, DataWarning

ENGINES = ["pandas", "duckdb"]

#: Every count of attrs["exclusions"], all zero.
NO_EXCLUSIONS = {
    "transactions_after_observation_end": 0, "customers_after_calibration_end": 0,
    "rows_dropped_as_returns": 0, "days_cancelled_by_returns": 0,
    "customers_without_purchases": 0, "customers_after_observation_end": 0,
    "duplicate_rows_dropped": 0, "rows_without_customer_id": 0,
    "zero_amount_rows_dropped": 0, "amounts_rounded": 0, "return_rows_netted": 0,
    "return_amount_netted_by_order": 0, "return_amount_netted_by_day": 0,
    "return_rows_unmatched": 0, "return_amount_unmatched": 0,
}
NO_NOTES = {"duplicate_rows_kept": 0, "zero_amount_rows_kept": 0,
            "extreme_monetary_customers": 0, "extreme_monetary_threshold": None}


def _log(rows, order=False) -> pd.DataFrame:
    columns = ["id", "ts", "amount"] + (["order"] if order else [])
    frame = pd.DataFrame(rows, columns=columns)
    frame["ts"] = pd.to_datetime(frame["ts"], format="ISO8601")
    return frame


def _summary(tx, *args, **kwargs):
    """rfm_summary without its DataWarning (the counts are asserted from attrs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return rfm_summary(tx, "id", "ts", "amount", *args, **kwargs)


def _expected(rows, columns, index_name="id") -> pd.DataFrame:
    ids = [r[0] for r in rows]
    frame = pd.DataFrame([r[1:] for r in rows], columns=columns,
                         index=pd.Index(ids, name=index_name))
    for col in ("frequency", "frequency_holdout"):
        if col in frame:
            frame[col] = frame[col].astype(np.int64)
    return frame.astype({c: float for c in frame if not c.startswith("frequency")})


def _check(summary, expected):
    assert list(summary.columns) == list(expected.columns)
    assert [str(i) for i in summary.index] == [str(i) for i in expected.index]
    assert summary.index.name == expected.index.name
    for col in expected:
        assert summary[col].to_numpy().tolist() == pytest.approx(
            expected[col].to_numpy().tolist(), rel=1e-12, abs=1e-12), col
    assert summary["frequency"].dtype == np.int64


# --------------------------------------------------------------------------- summary and split

#: a: two lines on Jan 1 (one purchase of 15), Jan 5, Jan 10 (holdout);
#: b: one purchase; c: Jan 8 and Jan 12 (holdout, on the observation end);
#: d: first purchase on Jan 11, after the calibration end;
#: e: first purchase on the calibration end itself (T = 0).
LOG_A = [
    ("a", "2024-01-01 09:00", 10.0), ("a", "2024-01-01 17:30", 5.0), ("a", "2024-01-05", 20.0),
    ("a", "2024-01-10", 30.0), ("b", "2024-01-03", 7.5), ("c", "2024-01-08", 12.0),
    ("c", "2024-01-12", 8.0), ("d", "2024-01-11", 4.0), ("e", "2024-01-09", 2.0),
]
HOLDOUT_COLS = ["frequency", "recency", "T", "monetary_value", "frequency_holdout",
                "monetary_value_holdout", "revenue_holdout", "duration_holdout"]


@pytest.mark.parametrize("engine", ENGINES)
def test_calibration_and_holdout_by_hand(engine):
    tx = _log(LOG_A)
    s = _summary(tx, observation_period_end="2024-01-12", calibration_period_end="2024-01-09",
                 time_unit="D", engine=engine)
    _check(s, _expected([
        ("a", 1, 4.0, 8.0, 20.0, 1, 30.0, 30.0, 3.0),
        ("b", 0, 0.0, 6.0, 0.0, 0, 0.0, 0.0, 3.0),
        ("c", 0, 0.0, 1.0, 0.0, 1, 8.0, 8.0, 3.0),
        ("e", 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 3.0),
    ], HOLDOUT_COLS))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "customers_after_calibration_end": 1}
    assert s.attrs["notes"] == NO_NOTES
    assert s.attrs["n_transactions"] == 9
    assert s.attrs["observation_period_end"] == "2024-01-12"
    assert s.attrs["calibration_period_end"] == "2024-01-09"
    assert s.attrs["time_unit"] == "D" and s.attrs["merge_within"] == "D"
    assert s.attrs["include_first_transaction"] is False
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {"d": "first purchase after the calibration end"}
    assert out["in_calibration_period"].to_dict() == {"d": False}
    # Named and typed like the frame of a summary without exclusions.
    assert out.index.name == "id"
    assert out["reason"].dtype == object and out["in_calibration_period"].dtype == bool


@pytest.mark.parametrize("engine", ENGINES)
def test_an_earlier_observation_end_drops_later_rows_and_customers(engine):
    tx = _log(LOG_A + [("f", "2024-01-12", 3.0)])
    s = _summary(tx, observation_period_end="2024-01-11", calibration_period_end="2024-01-09",
                 time_unit="D", engine=engine)
    _check(s, _expected([
        ("a", 1, 4.0, 8.0, 20.0, 1, 30.0, 30.0, 2.0),
        ("b", 0, 0.0, 6.0, 0.0, 0, 0.0, 0.0, 2.0),
        ("c", 0, 0.0, 1.0, 0.0, 0, 0.0, 0.0, 2.0),
        ("e", 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 2.0),
    ], HOLDOUT_COLS))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "transactions_after_observation_end": 2,
        "customers_after_calibration_end": 1, "customers_after_observation_end": 1}
    assert s.attrs["n_transactions"] == 8
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {"d": "first purchase after the calibration end",
                                       "f": "first transaction after the observation end"}
    assert out["in_calibration_period"].to_dict() == {"d": False, "f": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_without_holdout_in_weeks(engine):
    tx = _log(LOG_A)
    s = _summary(tx, time_unit="W", engine=engine)  # observation end: Jan 12
    _check(s, _expected([
        ("a", 2, 9 / 7, 11 / 7, 25.0),
        ("b", 0, 0.0, 9 / 7, 0.0),
        ("c", 1, 4 / 7, 4 / 7, 8.0),
        ("d", 0, 0.0, 1 / 7, 0.0),
        ("e", 0, 0.0, 3 / 7, 0.0),
    ], ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["calibration_period_end"] == s.attrs["observation_period_end"] == "2024-01-12"
    assert s.attrs["exclusions"] == NO_EXCLUSIONS
    assert len(excluded_customers(s)) == 0 and "excluded_customers" not in s.attrs


@pytest.mark.parametrize("engine", ENGINES)
def test_include_first_transaction_counts_the_first_day(engine):
    tx = _log(LOG_A)
    s = _summary(tx, observation_period_end="2024-01-12", calibration_period_end="2024-01-09",
                 time_unit="D", engine=engine, include_first_transaction=True)
    _check(s, _expected([
        ("a", 2, 4.0, 8.0, 17.5, 1, 30.0, 30.0, 3.0),
        ("b", 1, 0.0, 6.0, 7.5, 0, 0.0, 0.0, 3.0),
        ("c", 1, 0.0, 1.0, 12.0, 1, 8.0, 8.0, 3.0),
        ("e", 1, 0.0, 0.0, 2.0, 0, 0.0, 0.0, 3.0),
    ], HOLDOUT_COLS))
    assert s.attrs["include_first_transaction"] is True


@pytest.mark.parametrize("engine", ENGINES)
def test_without_amounts_there_are_no_money_columns(engine):
    tx = _log(LOG_A)[["id", "ts"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        s = rfm_summary(tx, "id", "ts", observation_period_end="2024-01-12",
                        calibration_period_end="2024-01-09", time_unit="D", engine=engine)
    _check(s, _expected([
        ("a", 1, 4.0, 8.0, 1, 3.0), ("b", 0, 0.0, 6.0, 0, 3.0), ("c", 0, 0.0, 1.0, 1, 3.0),
        ("e", 0, 0.0, 0.0, 0, 3.0),
    ], ["frequency", "recency", "T", "frequency_holdout", "duration_holdout"]))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "customers_after_calibration_end": 1}


@pytest.mark.parametrize("engine", ENGINES)
def test_merge_within_hour_and_exact_timestamps(engine):
    tx = _log([("a", "2024-01-01 10:05", 1.0), ("a", "2024-01-01 10:40", 2.0),
               ("a", "2024-01-01 13:00", 4.0), ("a", "2024-01-02 13:00", 8.0),
               ("b", "2024-01-01 23:59", 5.0), ("b", "2024-01-02 00:01", 6.0)])
    hours = _summary(tx, merge_within="h", time_unit="h", engine=engine)
    # Observation end: the hour of the last row (Jan 2, 13:00).
    _check(hours, _expected([("a", 2, 27.0, 27.0, 6.0), ("b", 1, 1.0, 14.0, 6.0)],
                            ["frequency", "recency", "T", "monetary_value"]))
    assert hours.attrs["merge_within"] == "h"
    assert hours.attrs["observation_period_end"] == "2024-01-02T13"
    exact = _summary(tx, merge_within=None, time_unit="h", engine=engine)
    _check(exact, _expected(
        [("a", 3, 27 - 5 / 60, 27 - 5 / 60, 14 / 3), ("b", 1, 2 / 60, 13 + 1 / 60, 6.0)],
        ["frequency", "recency", "T", "monetary_value"]))
    assert exact.attrs["merge_within"] is None
    days = _summary(tx, time_unit="D", engine=engine)
    _check(days, _expected([("a", 1, 1.0, 1.0, 8.0), ("b", 1, 1.0, 1.0, 6.0)],
                           ["frequency", "recency", "T", "monetary_value"]))


# --------------------------------------------------------------------------- cleaning options

LOG_B = [
    ("a", "2024-01-01", 10.0), ("a", "2024-01-01", 10.0),  # an exact duplicate
    ("a", "2024-01-04", 0.004),                            # rounds to 0
    ("a", "2024-01-06", 3.333),                            # more than 2 decimals
    ("b", "2024-01-03", 0.0),                              # only a zero amount
    ("c", "2024-01-20", 5.0),                              # after the observation end
]


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicates_and_zero_amounts_kept_are_noted(engine):
    s = _summary(_log(LOG_B), observation_period_end="2024-01-10", time_unit="D",
                 engine=engine)
    _check(s, _expected([("a", 2, 5.0, 9.0, 1.665), ("b", 0, 0.0, 7.0, 0.0)],
                        ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "transactions_after_observation_end": 1,
        "customers_after_observation_end": 1, "amounts_rounded": 2}
    assert s.attrs["notes"] == {**NO_NOTES, "duplicate_rows_kept": 1,
                                "zero_amount_rows_kept": 2}
    assert s.attrs["n_transactions"] == 5
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {"c": "first transaction after the observation end"}
    assert out["in_calibration_period"].to_dict() == {"c": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_duplicates_zero_amounts_and_missing_ids_dropped_are_counted(engine):
    tx = _log(LOG_B + [(None, "2024-01-02", 5.0), (None, "2024-01-02", 6.0)])
    s = _summary(tx, observation_period_end="2024-01-10", time_unit="D", engine=engine,
                 duplicates="drop", zero_amounts="drop", missing_ids="drop")
    _check(s, _expected([("a", 1, 5.0, 9.0, 3.33)],
                        ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "transactions_after_observation_end": 1,
        "customers_after_observation_end": 1, "customers_without_purchases": 1,
        "duplicate_rows_dropped": 1, "rows_without_customer_id": 2,
        "zero_amount_rows_dropped": 2, "amounts_rounded": 1}
    assert s.attrs["notes"] == NO_NOTES
    assert s.attrs["n_transactions"] == 2
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {"b": "no purchase left after dropping zero amounts",
                                       "c": "first transaction after the observation end"}
    assert out["in_calibration_period"].to_dict() == {"b": True, "c": False}


@pytest.mark.parametrize("engine", ENGINES)
def test_only_duplicates_dropped(engine):
    tx = _log([("a", "2024-01-01", 1.0), ("a", "2024-01-01", 1.0), ("a", "2024-01-01", 1.0),
               ("a", "2024-01-02", 2.0), ("b", "2024-01-02", 2.0), ("b", "2024-01-02", 2.5)])
    kept = _summary(tx, time_unit="D", engine=engine)
    assert kept.attrs["notes"]["duplicate_rows_kept"] == 2
    assert kept.attrs["exclusions"]["duplicate_rows_dropped"] == 0
    assert kept.attrs["n_transactions"] == 6
    dropped = _summary(tx, time_unit="D", engine=engine, duplicates="drop")
    _check(dropped, _expected([("a", 1, 1.0, 1.0, 2.0), ("b", 0, 0.0, 0.0, 0.0)],
                              ["frequency", "recency", "T", "monetary_value"]))
    assert dropped.attrs["exclusions"] == {**NO_EXCLUSIONS, "duplicate_rows_dropped": 2}
    assert dropped.attrs["notes"]["duplicate_rows_kept"] == 0
    assert dropped.attrs["n_transactions"] == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_ids_dropped_without_other_changes(engine):
    tx = _log([("a", "2024-01-01", 1.0), (None, "2024-01-03", 1.0), ("a", "2024-01-02", 2.0)])
    s = _summary(tx, time_unit="D", engine=engine, missing_ids="drop")
    _check(s, _expected([("a", 1, 1.0, 1.0, 2.0)],
                        ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "rows_without_customer_id": 1}
    assert s.attrs["observation_period_end"] == "2024-01-02"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_log_of_only_missing_ids_is_refused(engine):
    tx = _log([(None, "2024-01-01", 1.0), (None, "2024-01-02", 2.0)])
    tx["id"] = tx["id"].astype(object)
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine, missing_ids="drop")
    assert info.value.column == "id" and info.value.n_rows == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_zero_amounts_round_at_the_money_decimals(engine):
    # 0.005 rounds half away from zero to 0.01: not a zero amount; 0.0049 is.
    # b has only a return: not a customer left out for zero amounts.
    tx = _log([("a", "2024-01-01", 1.0), ("a", "2024-01-02", 0.005), ("a", "2024-01-03", 0.0049),
               ("a", "2024-01-04", -0.004), ("b", "2024-01-02", -1.0)])
    s = _summary(tx, time_unit="D", engine=engine, zero_amounts="drop", returns="drop")
    _check(s, _expected([("a", 1, 1.0, 3.0, 0.01)],
                        ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "zero_amount_rows_dropped": 2,
                                     "amounts_rounded": 1, "rows_dropped_as_returns": 1,
                                     "customers_without_purchases": 1}
    assert excluded_customers(s)["reason"].to_dict() == {"b": "only returns, no purchase"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_zero_amount_is_not_a_return(engine):
    tx = _log([("a", "2024-01-01", 0.0), ("a", "2024-01-02", 2.0)])
    s = _summary(tx, time_unit="D", engine=engine)  # returns="error" does not fire
    _check(s, _expected([("a", 1, 1.0, 1.0, 2.0)],
                        ["frequency", "recency", "T", "monetary_value"]))
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1


# --------------------------------------------------------------------------- exact cents

@pytest.mark.parametrize("engine", ENGINES)
def test_amounts_round_half_away_from_zero_to_whole_cents(engine):
    # 0.125 and 0.375 are exact in binary: half a cent each, rounded up to 13 and 38.
    tx = _log([("a", "2024-01-01", 1.0), ("a", "2024-01-02", 0.125), ("a", "2024-01-03", 0.375),
               ("a", "2024-01-04", 0.1 + 0.2), ("a", "2024-01-05", 12.3456)])
    s = _summary(tx, time_unit="D", engine=engine)
    assert s.loc["a", "frequency"] == 4
    assert s.loc["a", "monetary_value"] == pytest.approx((0.13 + 0.38 + 0.30 + 12.35) / 4,
                                                         abs=1e-12)
    # 0.1 + 0.2 is float noise, not a third decimal.
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "amounts_rounded": 3}


@pytest.mark.parametrize("engine", ENGINES)
def test_money_decimals_zero_and_three(engine):
    tx = _log([("a", "2024-01-01", 1.0), ("a", "2024-01-02", 2.5), ("a", "2024-01-03", 10.4),
               ("b", "2024-01-01", 3.0), ("b", "2024-01-03", 0.0625)])
    whole = _summary(tx, time_unit="D", engine=engine, money_decimals=0)
    assert whole["monetary_value"].tolist() == [6.5, 0.0]  # (3 + 10) / 2; b's 0.0625 -> 0
    assert whole.attrs["exclusions"]["amounts_rounded"] == 3
    assert whole.attrs["notes"]["zero_amount_rows_kept"] == 1
    milli = _summary(tx, time_unit="D", engine=engine, money_decimals=3)
    assert milli["monetary_value"].tolist() == pytest.approx([6.45, 0.063], abs=1e-12)
    assert milli.attrs["exclusions"]["amounts_rounded"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_sums_beyond_exact_cents_are_refused(engine):
    big = 2.0 ** 52  # whole units at money_decimals=0
    ok = _log([("a", "2024-01-01", big), ("a", "2024-01-02", big - 1)])
    s = _summary(ok, time_unit="D", engine=engine, money_decimals=0)
    assert s.loc["a", "monetary_value"] == big - 1
    bad = _log([("a", "2024-01-01", big), ("a", "2024-01-02", big), ("b", "2024-01-01", 1.0),
                ("c", "2024-01-01", big), ("c", "2024-01-03", big), ("c", "2024-01-04", 1.0)])
    with pytest.raises(DataError) as info:
        _summary(bad, time_unit="D", engine=engine, money_decimals=0)
    assert info.value.rule == "amount_sum_overflow"
    assert info.value.column == "amount" and info.value.n_rows == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_count_towards_the_exact_sum_limit(engine):
    big = 2.0 ** 52
    tx = _log([("a", "2024-01-01", big), ("a", "2024-01-02", -big)])
    with pytest.raises(DataError) as info:
        _summary(tx, time_unit="D", engine=engine, money_decimals=0, returns="net")
    assert info.value.rule == "amount_sum_overflow" and info.value.n_rows == 1


# --------------------------------------------------------------------------- returns

#: 1: o1 on Jan 1 (two lines, 15), o2 on Jan 2 (8), a return of 4.25 against o1 and one
#:    of 10 against o3 (never bought: netted against days, Jan 2 then Jan 1) on Jan 3,
#:    o4 on Jan 5 (6, untouched);
#: 2: 5 on Jan 2, a return of 7 on Jan 4 (5 netted, 2 unmatched);
#: 3: only a return; 4: 3 on Jan 1 and a return of two lines of 0.50 on Jan 6;
#: 5: a return on Jan 2 before its only purchase (Jan 4): unmatched.
LOG_R = [
    (1, "2024-01-01", 10.0, "o1"), (1, "2024-01-01", 5.0, "o1"), (1, "2024-01-02", 8.0, "o2"),
    (1, "2024-01-03", -4.25, "o1"), (1, "2024-01-03", -10.0, "o3"), (1, "2024-01-05", 6.0, "o4"),
    (2, "2024-01-02", 5.0, None), (2, "2024-01-04", -7.0, None),
    (3, "2024-01-03", -2.5, None),
    (4, "2024-01-01", 3.0, "o5"), (4, "2024-01-06", -0.5, "o9"), (4, "2024-01-06", -0.5, "o9"),
    (5, "2024-01-02", -3.0, None), (5, "2024-01-04", 6.0, None),
]
RFM = ["frequency", "recency", "T", "monetary_value"]


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_netted_by_order_then_by_day(engine):
    tx = _log(LOG_R, order=True)
    s = _summary(tx, time_unit="D", engine=engine, returns="net", order_id_col="order")
    # Customer 1 keeps Jan 1 (15 - 4.25 - 2 = 8.75) and Jan 5 (6); Jan 2 is refunded to 0.
    _check(s, _expected([(1, 1, 4.0, 5.0, 6.0), (4, 0, 0.0, 5.0, 0.0), (5, 0, 0.0, 2.0, 0.0)],
                        RFM))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "days_cancelled_by_returns": 2, "customers_without_purchases": 2,
        "return_rows_netted": 5, "return_amount_netted_by_order": 4.25,
        "return_amount_netted_by_day": 16.0, "return_rows_unmatched": 2,
        "return_amount_unmatched": 7.5}
    assert s.attrs["n_transactions"] == 14
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {2: "all purchases cancelled by returns",
                                       3: "only returns, no purchase"}
    assert out["in_calibration_period"].to_dict() == {2: True, 3: True}


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_without_order_ids_net_against_the_latest_day_first(engine):
    tx = _log(LOG_R, order=True).drop(columns="order")
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    # Customer 1's 14.25 on Jan 3: all of Jan 2 (8), then 6.25 of Jan 1 (15 -> 8.75).
    _check(s, _expected([(1, 1, 4.0, 5.0, 6.0), (4, 0, 0.0, 5.0, 0.0), (5, 0, 0.0, 2.0, 0.0)],
                        RFM))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "days_cancelled_by_returns": 2, "customers_without_purchases": 2,
        "return_rows_netted": 5, "return_amount_netted_by_day": 20.25,
        "return_rows_unmatched": 2, "return_amount_unmatched": 7.5}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_partial_return_leaves_the_rest_of_the_day(engine):
    tx = _log([(1, "2024-01-01", 10.0), (1, "2024-01-03", 20.0), (1, "2024-01-04", -5.25),
               (1, "2024-01-06", 1.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    _check(s, _expected([(1, 2, 5.0, 5.0, (14.75 + 1.0) / 2)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "return_rows_netted": 1,
                                     "return_amount_netted_by_day": 5.25}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_return_larger_than_the_latest_day_takes_the_earlier_ones(engine):
    tx = _log([(1, "2024-01-01", 10.0), (1, "2024-01-02", 4.0), (1, "2024-01-03", 3.0),
               (1, "2024-01-03", -5.0), (1, "2024-01-05", 2.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    # 3 from Jan 3 (cancelled), 2 from Jan 2 (4 -> 2); Jan 1 untouched.
    _check(s, _expected([(1, 2, 4.0, 4.0, 2.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "days_cancelled_by_returns": 1,
                                     "return_rows_netted": 1, "return_amount_netted_by_day": 5.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_in_the_holdout_net_against_calibration_days(engine):
    tx = _log([(1, "2024-01-01", 10.0), (1, "2024-01-03", 4.0), (1, "2024-01-06", -4.0),
               (1, "2024-01-08", 7.0), (2, "2024-01-02", 1.0), (2, "2024-01-07", 2.0),
               (2, "2024-01-08", -0.5)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net",
                 calibration_period_end="2024-01-04")
    # 1: Jan 3 refunded (no longer a repeat purchase); 2: the holdout day Jan 7 takes it.
    _check(s, _expected([(1, 0, 0.0, 3.0, 0.0, 1, 7.0, 7.0, 4.0),
                         (2, 0, 0.0, 2.0, 0.0, 1, 1.5, 1.5, 4.0)], HOLDOUT_COLS))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "days_cancelled_by_returns": 1,
                                     "return_rows_netted": 2, "return_amount_netted_by_day": 4.5}


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_dropped_are_counted_and_their_purchases_kept(engine):
    tx = _log(LOG_R, order=True)
    s = _summary(tx, time_unit="D", engine=engine, returns="drop", order_id_col="order")
    _check(s, _expected([(1, 2, 4.0, 5.0, 7.0), (2, 0, 0.0, 4.0, 0.0), (4, 0, 0.0, 5.0, 0.0),
                         (5, 0, 0.0, 2.0, 0.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "rows_dropped_as_returns": 7,
                                     "customers_without_purchases": 1}
    assert s.attrs["n_transactions"] == 7
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {3: "only returns, no purchase"}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_return_on_the_calibration_end_keeps_the_customer_in_it(engine):
    tx = _log([(1, "2024-01-01", 3.0), (1, "2024-01-09", 1.0), (2, "2024-01-05", -1.0),
               (2, "2024-01-08", 5.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="drop",
                 calibration_period_end="2024-01-05")
    assert list(s.index) == [1]
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {2: "first purchase after the calibration end"}
    # Customer 2 had a row (a return) in the calibration period.
    assert out["in_calibration_period"].to_dict() == {2: True}
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "customers_after_calibration_end": 1,
                                     "rows_dropped_as_returns": 1}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_return_after_the_observation_end_is_not_counted(engine):
    tx = _log([(1, "2024-01-01", 3.0), (1, "2024-01-02", 2.0), (1, "2024-01-09", -2.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="drop",
                 observation_period_end="2024-01-05")
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "transactions_after_observation_end": 1}
    _check(s, _expected([(1, 1, 1.0, 4.0, 2.0)], RFM))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_return_of_an_order_takes_its_latest_day_first(engine):
    # 4 of o1 on Jan 2, then 2 of its 10 on Jan 1; o2's 1 on Jan 2 is untouched.
    tx = _log([(1, "2024-01-01", 10.0, "o1"), (1, "2024-01-02", 4.0, "o1"),
               (1, "2024-01-02", 1.0, "o2"), (1, "2024-01-03", -6.0, "o1")], order=True)
    s = _summary(tx, time_unit="D", engine=engine, returns="net", order_id_col="order")
    _check(s, _expected([(1, 1, 1.0, 2.0, 1.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "return_rows_netted": 1,
                                     "return_amount_netted_by_order": 6.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_of_an_order_are_netted_before_those_without(engine):
    # Both returns want the 5 of Jan 1: the one of the same order takes it.
    tx = _log([(1, "2024-01-01", 5.0, "o1"), (1, "2024-01-02", -5.0, None),
               (1, "2024-01-02", -5.0, "o1"), (1, "2024-01-03", 2.0, "o2")], order=True)
    s = _summary(tx, time_unit="D", engine=engine, returns="net", order_id_col="order")
    _check(s, _expected([(1, 0, 0.0, 0.0, 0.0)], RFM))  # Jan 1 cancelled: Jan 3 is first
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "days_cancelled_by_returns": 1, "return_rows_netted": 1,
        "return_amount_netted_by_order": 5.0, "return_rows_unmatched": 1,
        "return_amount_unmatched": 5.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_earlier_returns_are_netted_first(engine):
    # Jan 2's return can only take Jan 1 (all 10); Jan 4's takes Jan 3's 5 and no more.
    # Netted latest first, Jan 4's would take both days and leave Jan 2's unmatched.
    tx = _log([(1, "2024-01-01", 10.0), (1, "2024-01-02", -10.0), (1, "2024-01-03", 5.0),
               (1, "2024-01-04", -15.0), (1, "2024-01-05", 7.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    _check(s, _expected([(1, 0, 0.0, 0.0, 0.0)], RFM))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "days_cancelled_by_returns": 2, "return_rows_netted": 2,
        "return_amount_netted_by_day": 15.0, "return_amount_unmatched": 10.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_zero_amount_day_untouched_by_returns_stays_a_purchase(engine):
    tx = _log([(1, "2024-01-01", 10.0), (1, "2024-01-02", 0.0), (1, "2024-01-03", -1.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    _check(s, _expected([(1, 1, 1.0, 2.0, 0.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "return_rows_netted": 1,
                                     "return_amount_netted_by_day": 1.0}
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_returns_of_one_cent(engine):
    # 1: 0.99 of a 1.00 day returned leaves a purchase of 0.01; 2: 1 cent more than
    # bought is unmatched; 3: a return of 1 cent, and one rounding to 0 cents that nets
    # nothing and is no unmatched row.
    tx = _log([(1, "2024-01-01", 0.5), (1, "2024-01-02", 1.0), (1, "2024-01-02", -0.99),
               (2, "2024-01-01", 1.0), (2, "2024-01-03", -1.01),
               (3, "2024-01-01", 2.0), (3, "2024-01-02", 1.0), (3, "2024-01-03", -0.01),
               (3, "2024-01-02", -0.004)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    _check(s, _expected([(1, 1, 1.0, 2.0, 0.01), (3, 1, 1.0, 2.0, 0.99)], RFM))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "days_cancelled_by_returns": 1, "customers_without_purchases": 1,
        "return_rows_netted": 4, "return_amount_netted_by_day": 2.0,
        "return_amount_unmatched": 0.01, "amounts_rounded": 1}
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_a_customer_with_only_returns_alone_among_the_netted(engine):
    tx = _log([(1, "2024-01-01", 1.0), (1, "2024-01-03", 2.0), (2, "2024-01-02", -1.5)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net")
    _check(s, _expected([(1, 1, 2.0, 2.0, 2.0)], RFM))
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "customers_without_purchases": 1, "return_rows_unmatched": 1,
        "return_amount_unmatched": 1.5}
    assert excluded_customers(s)["reason"].to_dict() == {2: "only returns, no purchase"}


# --------------------------------------------------------------------------- row order and rules

@pytest.mark.parametrize("engine", ENGINES)
def test_any_row_order_gives_the_same_summary_and_counts(engine):
    tx = _log(LOG_R, order=True)
    first = _summary(tx, time_unit="D", engine=engine, returns="net", order_id_col="order")
    for seed in range(3):
        shuffled = tx.sample(frac=1.0, random_state=seed)
        again = _summary(shuffled, time_unit="D", engine=engine, returns="net",
                         order_id_col="order")
        pd.testing.assert_frame_equal(first, again)
        assert again.attrs["exclusions"] == first.attrs["exclusions"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("amounts,rule,n_rows", [
    ([1.0, -0.0001, 2.0, np.inf], "infinite_amounts", 1),
    ([1.0, -2.0, -3.0, 2.0], "negative_amounts", 2),
    ([1.0, np.nan, np.nan, np.nan], "missing_amounts", 3),
])
def test_amount_rules_count_their_rows(engine, amounts, rule, n_rows):
    tx = _log([(1, "2024-01-01", 0.0), (1, "2024-01-02", 0.0), (2, "2024-01-01", 0.0),
               (2, "2024-01-03", 0.0)])
    tx["amount"] = amounts
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine)
    assert info.value.rule == rule and info.value.column == "amount"
    assert info.value.n_rows == n_rows


@pytest.mark.parametrize("engine", ENGINES)
def test_numbers_as_text_amounts_are_read(engine):
    tx = _log([(1, "2024-01-01", 0.0), (1, "2024-01-02", 0.0)])
    tx["amount"] = pd.array(["1.50", "2.25"], dtype=object)
    s = _summary(tx, time_unit="D", engine=engine)
    _check(s, _expected([(1, 1, 1.0, 1.0, 2.25)], RFM))


def test_text_amounts_report_only_the_bad_ones():
    tx = _log([(1, "2024-01-01", 0.0), (1, "2024-01-02", 0.0), (1, "2024-01-03", 0.0)])
    tx["amount"] = pd.array(["1.50", None, "x"], dtype=object)
    with pytest.raises(DataError) as info:
        _summary(tx)
    # The missing amount is reported first, on its own count.
    assert info.value.rule == "missing_amounts" and info.value.n_rows == 1
    tx["amount"] = pd.array(["1.50", "y", "x"], dtype=object)
    with pytest.raises(DataError) as info:
        _summary(tx)
    assert info.value.rule == "non_numeric_amounts" and info.value.n_rows == 2
    assert info.value.examples == [(1, pd.Timestamp("2024-01-02"), "y"),
                                   (1, pd.Timestamp("2024-01-03"), "x")]


@pytest.mark.parametrize("engine", ENGINES)
def test_calibration_end_on_the_edges_of_the_period(engine):
    tx = _log([(1, "2024-01-01", 1.0), (1, "2024-01-03", 2.0), (2, "2024-01-03", 4.0)])
    on_first = _summary(tx, time_unit="D", engine=engine, calibration_period_end="2024-01-01")
    _check(on_first, _expected([(1, 0, 0.0, 0.0, 0.0, 1, 2.0, 2.0, 2.0)], HOLDOUT_COLS))
    on_last = _summary(tx, time_unit="D", engine=engine, calibration_period_end="2024-01-03")
    _check(on_last, _expected([(1, 1, 2.0, 2.0, 2.0, 0, 0.0, 0.0, 0.0),
                               (2, 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0.0)], HOLDOUT_COLS))
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine, calibration_period_end="2023-12-31")
    assert info.value.rule == "calibration_end_before_first_purchase"
    assert info.value.column == "ts"
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine, calibration_period_end="2024-01-04")
    assert info.value.rule == "calibration_end_after_observation_end"
    on_obs = _summary(tx, time_unit="D", engine=engine, observation_period_end="2024-01-01")
    _check(on_obs, _expected([(1, 0, 0.0, 0.0, 0.0)], RFM))
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine, observation_period_end="2023-12-31")
    assert info.value.rule == "observation_end_before_first_purchase"
    assert info.value.column == "ts"


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value", ["not a date", pd.NaT])
def test_a_bad_period_end_is_refused(engine, value):
    tx = _log([(1, "2024-01-01", 1.0)])
    with pytest.raises(DataError) as info:
        _summary(tx, engine=engine, observation_period_end=value)
    assert info.value.rule == "bad_period_end"


@pytest.mark.parametrize("engine", ENGINES)
def test_timezone_aware_period_ends_are_taken_in_utc(engine):
    tx = _log([(1, "2024-01-01", 1.0), (1, "2024-01-02", 2.0), (1, "2024-01-03", 4.0)])
    s = _summary(tx, time_unit="D", engine=engine,
                 calibration_period_end=pd.Timestamp("2024-01-02 23:00", tz="Etc/GMT+2"))
    # 23:00 at UTC-2 is Jan 3, 01:00 UTC: Jan 3 is in the calibration period.
    _check(s, _expected([(1, 2, 2.0, 2.0, 3.0, 0, 0.0, 0.0, 0.0)], HOLDOUT_COLS))


@pytest.mark.parametrize("engine", ENGINES)
def test_a_calibration_period_without_any_purchase_left(engine):
    # Customer 1's only calibration purchase is refunded; 2 buys in the holdout only.
    tx = _log([(1, "2024-01-01", 5.0), (1, "2024-01-02", -5.0), (1, "2024-01-05", 3.0),
               (2, "2024-01-04", 2.0)])
    s = _summary(tx, time_unit="D", engine=engine, returns="net",
                 calibration_period_end="2024-01-03")
    assert len(s) == 0 and list(s.columns) == HOLDOUT_COLS
    assert s["frequency"].dtype == np.int64 and s["frequency_holdout"].dtype == np.int64
    assert s.attrs["exclusions"] == {
        **NO_EXCLUSIONS, "customers_after_calibration_end": 2, "days_cancelled_by_returns": 1,
        "return_rows_netted": 1, "return_amount_netted_by_day": 5.0}
    out = excluded_customers(s)
    assert out["reason"].to_dict() == {1: "first purchase after the calibration end",
                                       2: "first purchase after the calibration end"}
    assert out["in_calibration_period"].to_dict() == {1: True, 2: False}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_huge_amount_is_refused_without_numpy_warnings(engine):
    # 1e307 times 100 overflows to inf: the amount is refused, with no RuntimeWarning.
    tx = _log([(1, "2024-01-01", 1e307), (1, "2024-01-02", 1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(DataError) as info:
            _summary(tx, engine=engine)
    assert info.value.rule == "amount_sum_overflow" and info.value.n_rows == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_orders_of_one_day_are_one_purchase_after_netting(engine):
    # Customer 2 (not the first with returns) buys two orders on Jan 1: one purchase day.
    tx = _log([(1, "2024-01-01", 5.0, "o1"), (1, "2024-01-02", -1.0, None),
               (2, "2024-01-01", 3.0, "o2"), (2, "2024-01-01", 4.0, "o3"),
               (2, "2024-01-03", -1.0, None), (2, "2024-01-04", 2.0, "o4")], order=True)
    s = _summary(tx, time_unit="D", engine=engine, returns="net", order_id_col="order")
    _check(s, _expected([(1, 0, 0.0, 3.0, 0.0), (2, 1, 3.0, 3.0, 2.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "return_rows_netted": 2,
                                     "return_amount_netted_by_day": 2.0}


@pytest.mark.parametrize("engine", ENGINES)
def test_a_zero_amount_is_not_dropped_as_a_return(engine):
    tx = _log([("a", "2024-01-01", 1.0), ("a", "2024-01-02", 0.0), ("a", "2024-01-03", -0.5)])
    s = _summary(tx, time_unit="D", engine=engine, returns="drop")
    _check(s, _expected([("a", 1, 1.0, 2.0, 0.0)], RFM))
    assert s.attrs["exclusions"] == {**NO_EXCLUSIONS, "rows_dropped_as_returns": 1}
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1
    assert s.attrs["n_transactions"] == 2


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value,match", [
    ("not a date", r"^calibration_period_end='not a date' is not a date"),
    (pd.NaT, r"^calibration_period_end is missing \(NaT\)"),
])
def test_a_bad_calibration_end_is_named(engine, value, match):
    tx = _log([(1, "2024-01-01", 1.0), (1, "2024-01-03", 2.0)])
    with pytest.raises(DataError, match=match) as info:
        _summary(tx, engine=engine, calibration_period_end=value)
    assert info.value.rule == "bad_period_end"
