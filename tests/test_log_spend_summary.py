"""``rfm_summary(..., log_spend=True)``: the sum of the logs of the repeat purchase
days' spend, exact and the same for both engines and any row order."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_data_properties import _fast, _same, _summarise, logs

import clvmodels
from clvmodels import rfm_summary
from clvmodels.data import _log_fixed
from clvmodels.exceptions import DataWarning


def _quiet(source, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return rfm_summary(source, "id", "ts", "amount", **kwargs)


def _direct(log: pd.DataFrame, calibration_end=None) -> pd.Series:
    """Sum of log(day spend) over each customer's repeat days, computed in pandas."""
    days = log.assign(day=pd.to_datetime(log["ts"]).dt.floor("D"))
    if calibration_end is not None:
        days = days[days["day"] <= pd.Timestamp(calibration_end)]
    days = days.groupby(["id", "day"])["amount"].sum().reset_index().sort_values(["id", "day"])
    repeat = days[days.groupby("id").cumcount() > 0]
    return np.log(repeat["amount"]).groupby(repeat["id"]).sum()


@_fast(100)
@given(case=logs(), seed=st.integers(0, 2**32 - 1))
def test_log_spend_is_the_same_for_both_engines_and_any_row_order(case, seed):
    log, kwargs = case
    expected = _summarise(log, engine="pandas", log_spend=True, **kwargs)
    shuffled = log.sample(frac=1.0, random_state=seed)
    _same(expected, _summarise(shuffled, engine="pandas", log_spend=True, **kwargs))
    _same(expected, _summarise(shuffled, engine="duckdb", log_spend=True, **kwargs))
    if isinstance(expected, str):
        return
    # The option only adds the column.
    plain = _summarise(log, engine="pandas", **kwargs)
    _same(plain, expected.drop(columns="log_spend_sum"))
    s = expected["log_spend_sum"].to_numpy()
    freq = expected["frequency"].to_numpy()
    assert (s[freq == 0] == 0).all()
    # NaN exactly where a repeat day's spend is 0 (its log does not exist).
    undefined = np.isnan(s)
    assert not (undefined & (freq == 0)).any()
    mv = expected["monetary_value"].to_numpy()
    # log of the mean >= mean of the logs (Jensen), up to the 1e-9 rounding per day.
    ok = ~undefined & (freq > 0)
    assert (s[ok] <= freq[ok] * np.log(mv[ok]) + freq[ok] * 1e-9).all()


def test_log_spend_equals_a_direct_computation_and_is_exact_over_many_files(tmp_path):
    rng = np.random.default_rng(11)
    n = 40_000
    log = pd.DataFrame({
        "id": rng.integers(0, 300, n),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 40, n), "D"),
        "amount": rng.integers(1, 1_000_000, n) / 100,
    })
    shuffled = log.sample(frac=1.0, random_state=1)
    for i in range(8):
        shuffled.iloc[i * 5000:(i + 1) * 5000].to_parquet(tmp_path / f"part-{i:02d}.parquet",
                                                          index=False)
    kwargs = dict(observation_period_end="2024-02-15", calibration_period_end="2024-01-25",
                  log_spend=True)
    expected = _quiet(log, engine="pandas", **kwargs)
    direct = _direct(log, "2024-01-25").reindex(expected.index, fill_value=0.0)
    # Rounded to 1e-9 per day: at most half of that per day away from the float sum.
    bound = 0.5e-9 * (expected["frequency"] + 1) + 1e-11 * np.abs(direct)
    assert (np.abs(expected["log_spend_sum"] - direct) <= bound).all()
    assert (expected["frequency"] > 5).mean() > 0.5  # many days per customer
    for _ in range(3):
        _same(expected, _quiet(str(tmp_path / "*.parquet"), engine="duckdb", **kwargs))


def test_log_spend_is_in_currency_units_and_follows_the_first_transaction_option():
    log = pd.DataFrame({
        "id": [1, 1, 1, 1, 2, 3, 3],
        "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-03", "2024-01-09",
                              "2024-01-02", "2024-01-02", "2024-01-05"]),
        "amount": [5.0, 2.5, 1.5, 8.0, 3.0, 7.0, 0.0],
    })
    for engine in ("pandas", "duckdb"):
        s = _quiet(log, engine=engine, log_spend=True)
        # Customer 1: repeat days spend 4.00 (2.50 + 1.50, one day) and 8.00.
        assert s.loc[1, "log_spend_sum"] == pytest.approx(np.log(4.0) + np.log(8.0), abs=2e-9)
        assert s.loc[2, "log_spend_sum"] == 0.0
        assert np.isnan(s.loc[3, "log_spend_sum"])  # a repeat day of 0
        first = _quiet(log, engine=engine, log_spend=True, include_first_transaction=True)
        assert first.loc[1, "log_spend_sum"] == pytest.approx(np.log(160.0), abs=3e-9)
        assert first.loc[2, "log_spend_sum"] == pytest.approx(np.log(3.0), abs=1e-9)
        yen = _quiet(log.assign(amount=log["amount"] * 100), engine=engine, log_spend=True,
                     money_decimals=0)
        assert yen.loc[1, "log_spend_sum"] == pytest.approx(np.log(400.0) + np.log(800.0),
                                                            abs=2e-9)


def test_fixed_point_logs_round_half_up():
    cents = np.array([1.0, 100.0, np.e * 0 + 2.0, 0.0, -3.0])
    expected = [0, round(np.log(100.0) * 1e9), round(np.log(2.0) * 1e9), 0, 0]
    assert _log_fixed(cents).tolist() == expected


def test_log_spend_needs_an_amount_column_and_a_bool():
    log = pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2024-01-01"]), "amount": [1.0]})
    with pytest.raises(ValueError, match="log_spend=True needs monetary_value_col"):
        clvmodels.rfm_summary(log, "id", "ts", log_spend=True)
    with pytest.raises(ValueError, match="log_spend must be True or False"):
        clvmodels.rfm_summary(log, "id", "ts", "amount", log_spend="yes")
