"""clvmodels.discrete_summary: transaction opportunities per period for BG/BB."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels import BetaGeoBetaBinomModel, DataError, discrete_summary
from clvmodels.datasets import load_donations
from clvmodels.exceptions import DataWarning


def _log_of(rows: pd.DataFrame, first_year: int = 1995) -> pd.DataFrame:
    """A donation log with exactly the histories of ``rows`` (weights expanded):
    a first gift in ``first_year``, then ``frequency`` gifts in distinct later years,
    the last in year ``recency``, some years with two gifts."""
    records = []
    donor = 0
    for row in rows.itertuples():
        for _ in range(int(row.weights)):
            donor += 1
            years = [0]
            if row.frequency:
                years += list(range(1, int(row.frequency))) + [int(row.recency)]
            for k, year in enumerate(years):
                day = pd.Timestamp(first_year + year, 1 + (donor + k) % 12, 15)
                records.append((donor, day))
                if donor % 7 == 0:  # a second gift in the same year counts once
                    records.append((donor, day + pd.Timedelta(days=3)))
    return pd.DataFrame(records, columns=["donor", "date"])


def test_donations_round_trip_through_a_log():
    rows = load_donations()
    log = _log_of(rows)
    summary = discrete_summary(log, "donor", "date", "Y", calibration_period_end="2001-12-31")
    assert len(summary) == 11104
    assert set(summary["n_periods"]) == {6}
    counts = summary.groupby(["frequency", "recency"]).size().sort_index()
    expected = rows.set_index(["frequency", "recency"])["weights"].sort_index()
    pd.testing.assert_series_equal(counts, expected, check_names=False)
    model = BetaGeoBetaBinomModel().fit(summary)
    assert model.params_.round(4).tolist() == [1.2035, 0.7497, 0.6567, 2.7834]
    assert (summary["first_period"] == pd.Period("1995", freq="Y")).all()
    assert summary.attrs["period"] == "Y"


def test_hand_example_in_months():
    log = pd.DataFrame({"c": ["a", "a", "a", "b", "b"],
                        "t": pd.to_datetime(["2024-01-31", "2024-01-02", "2024-03-01",
                                             "2024-02-10", "2024-02-20"])})
    out = discrete_summary(log, "c", "t", "M", calibration_period_end="2024-04-30")
    assert out.loc["a", ["frequency", "recency", "n_periods"]].tolist() == [1, 2, 3]
    assert out.loc["b", ["frequency", "recency", "n_periods"]].tolist() == [0, 0, 2]
    weeks = discrete_summary(log, "c", "t", "W", calibration_period_end="2024-03-03")
    # 2024-01-02 (Tue) and 2024-03-01 (Fri) are 8 weeks apart (Monday-Sunday weeks);
    # 2024-01-31 is in week 4.
    assert weeks.loc["a", ["frequency", "recency", "n_periods"]].tolist() == [2, 8, 8]


def test_a_calibration_end_inside_a_period_warns():
    log = pd.DataFrame({"c": [1, 1], "t": pd.to_datetime(["2020-05-01", "2021-05-01"])})
    with pytest.warns(DataWarning, match="not the last day of its period"):
        discrete_summary(log, "c", "t", "Y", calibration_period_end="2021-06-30")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        discrete_summary(log, "c", "t", "Y", calibration_period_end="2021-12-31")


def test_bad_arguments():
    log = pd.DataFrame({"c": [1], "t": pd.to_datetime(["2020-05-01"])})
    with pytest.raises(ValueError, match="period must be one of"):
        discrete_summary(log, "c", "t", "fortnight")
    with pytest.raises(DataError) as err:
        discrete_summary(log.assign(t=["not a date"]), "c", "t", "Y")
    assert err.value.column == "t"


logs = st.lists(st.tuples(st.integers(0, 15), st.integers(0, 2000)), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(records=logs, period=st.sampled_from(["Y", "Q", "M", "W", "D"]), seed=st.integers(0, 99))
def test_properties_any_log(records, period, seed):
    log = pd.DataFrame({"c": [r[0] for r in records],
                        "t": pd.Timestamp("2019-01-01")
                        + pd.to_timedelta([r[1] for r in records], unit="D")})
    end = "2024-12-31"
    out = discrete_summary(log, "c", "t", period, calibration_period_end=end)
    # Nothing is lost: one row per customer of the log.
    assert sorted(out.index) == sorted(set(log["c"]))
    # The rules of the model hold, so it accepts the summary.
    assert np.all((0 <= out["frequency"]) & (out["frequency"] <= out["recency"])
                  & (out["recency"] <= out["n_periods"]))
    assert np.all((out["frequency"] > 0) | (out["recency"] == 0))
    BetaGeoBetaBinomModel()._validate(out, BetaGeoBetaBinomModel.data_columns, fitting=True)
    # Frequency counts distinct periods after the first, per customer.
    periods = log.assign(p=log["t"].dt.to_period(period))
    distinct = periods.groupby("c")["p"].nunique() - 1
    pd.testing.assert_series_equal(out["frequency"], distinct.astype(np.int64),
                                   check_names=False, check_index_type=False)
    # Any row order gives the same summary.
    shuffled = log.sample(frac=1.0, random_state=seed)
    pd.testing.assert_frame_equal(
        discrete_summary(shuffled, "c", "t", period, calibration_period_end=end), out)


def test_both_engines_agree():
    pytest.importorskip("duckdb")
    rng = np.random.default_rng(4)
    log = pd.DataFrame({"c": rng.integers(0, 300, 3000),
                        "t": pd.Timestamp("2018-01-01")
                        + pd.to_timedelta(rng.integers(0, 2500, 3000), unit="D")})
    a = discrete_summary(log, "c", "t", "Q", calibration_period_end="2024-12-31",
                         engine="pandas")
    b = discrete_summary(log, "c", "t", "Q", calibration_period_end="2024-12-31",
                         engine="duckdb")
    pd.testing.assert_frame_equal(a, b)
