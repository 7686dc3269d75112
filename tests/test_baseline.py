"""The formula baseline, RFM segments, cohort retention and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import DataError, NotFittedError, rfm_summary
from clvmodels.exceptions import DataWarning
from clvmodels.models.base import clone
from clvmodels.models.baseline import (
    BaselineModel,
    FormulaCLV,
    cohort_retention,
    formula_clv,
    rfm_segments,
)


@pytest.fixture(scope="module")
def master():
    return clvmodels.datasets.load_cdnow("master")


@pytest.fixture(scope="module")
def calibration(master):
    return rfm_summary(master, "customer_id", "date", "amount",
                       calibration_period_end="1997-09-30", time_unit="W")


def test_formula_from_values_follows_the_textbook():
    f = FormulaCLV.from_values(50.0, 4.0, 2.5, margin=0.2, acquisition_cost=40.0,
                               conversion_rate=0.03)
    assert f.customer_value == 200.0
    assert f.clv == pytest.approx(200.0 * 2.5 * 0.2 - 40.0)
    assert f.ltv_cac == pytest.approx(60.0 / 40.0)
    assert f.max_cost_per_click == pytest.approx(60.0 * 0.03)
    assert f.churn_rate == pytest.approx(0.4)
    with pytest.raises(ValueError, match="lifespan"):
        FormulaCLV.from_values(50.0, 4.0, 0.0)


def test_formula_clv_against_a_direct_computation(master):
    f = formula_clv(master, "customer_id", "date", "amount", period="Y", margin=0.3,
                    acquisition_cost=10.0, lifespan=2.0)
    daily = master.groupby(["customer_id", "date"])["amount"].sum()
    years = (master["date"].max() - master["date"].min()).days / 365.25
    assert f.orders == len(daily) and f.customers == 23570
    assert f.revenue == pytest.approx(master["amount"].sum())
    assert f.average_order_value == pytest.approx(daily.mean())
    assert f.purchase_frequency == pytest.approx(len(daily) / 23570 / years)
    assert f.clv == pytest.approx(f.average_order_value * f.purchase_frequency * 2.0 * 0.3 - 10)
    assert f.lifespan_source == "given"


def test_formula_clv_estimates_churn_or_defaults(master):
    # Non-contractual: retention over half-year windows (18 months hold three).
    estimated = formula_clv(master, "customer_id", "date", "amount", period="M",
                            window=182.625)
    retention = cohort_retention(master, "customer_id", "date", period="M", window=182.625)
    assert estimated.lifespan == pytest.approx(1.0 / retention.churn_rate)
    assert estimated.lifespan == pytest.approx(retention.lifespan)
    assert "retention" in estimated.lifespan_source
    with pytest.warns(DataWarning, match="3-year rule"):
        f = formula_clv(master, "customer_id", "date", "amount", period="M")
    assert f.lifespan == pytest.approx(36.0)
    given = formula_clv(master, "customer_id", "date", "amount", churn_rate=0.5)
    assert given.lifespan == 2.0


def test_cohort_retention_on_a_known_log():
    # Cohort Jan: a buys Jan, Feb, Mar; b buys Jan, Mar. Cohort Feb: c buys Feb only.
    tx = pd.DataFrame({
        "id": ["a", "a", "a", "b", "b", "c", "d"],
        "ts": pd.to_datetime(["2024-01-05", "2024-02-03", "2024-03-09", "2024-01-20",
                              "2024-03-02", "2024-02-10", "2024-04-15"]),
    })
    with pytest.warns(DataWarning, match="3-year rule"):
        result = cohort_retention(tx, "id", "ts", period="M")
    table = result.table
    # April is not over, so March is the last complete month.
    assert list(table.columns) == [0, 1, 2]
    assert table.loc[pd.Period("2024-01", "M")].tolist() == [1.0, 0.5, 1.0]
    assert table.loc[pd.Period("2024-02", "M"), 0] == 1.0
    assert table.loc[pd.Period("2024-02", "M"), 1] == 0.0
    assert np.isnan(table.loc[pd.Period("2024-02", "M"), 2])
    assert result.cohort_sizes.tolist() == [2, 1]
    # Four months are too short for a yearly retention window: the 3-year default.
    assert result.lifespan == pytest.approx(36.0)
    assert result.churn_rate == pytest.approx(1 / 36)


def test_baseline_model_predictions(calibration):
    model = BaselineModel(lifespan=2.0, lifespan_unit="Y")
    with pytest.raises(NotFittedError):
        model.expected_purchases(calibration, 10)
    model.fit(calibration)
    assert model.time_unit_ == "W"
    assert model.lifespan_ == pytest.approx(2 * 365.25 / 7)
    rate = calibration["frequency"] / calibration["T"]
    e = model.expected_purchases(calibration, 39)
    np.testing.assert_allclose(e, rate * model.lifespan_ * (1 - np.exp(-39 / model.lifespan_)))
    assert (model.expected_purchases(calibration, 0) == 0).all()
    assert (model.expected_purchases(calibration, 80) >= e).all()
    alive = model.probability_alive(calibration)
    assert ((alive > 0) & (alive <= 1)).all()
    spend = model.expected_spend(calibration)
    repeat = calibration["frequency"] > 0
    np.testing.assert_allclose(spend[repeat], calibration.loc[repeat, "monetary_value"])
    assert (spend[~repeat] == calibration.loc[repeat, "monetary_value"].mean()).all()
    clv = model.customer_lifetime_value(calibration, margin=0.5, acquisition_cost=1.0)
    np.testing.assert_allclose(clv, spend * rate * model.lifespan_ * 0.5 - 1.0)
    assert clv.index.equals(calibration.index)


def test_baseline_estimates_churn_from_a_long_summary(master):
    summary = rfm_summary(master, "customer_id", "date", "amount", time_unit="D")
    with pytest.warns(DataWarning, match="shorter than the median time"):
        model = BaselineModel(window="M").fit(summary)
    silent = (summary["T"] - summary["recency"]).to_numpy(float)
    w = 365.25 / 12
    base = (summary["T"].to_numpy(float) > w) & (silent <= 2 * w)
    r = (base & (silent <= w)).sum() / base.sum()
    assert model.lifespan_ == pytest.approx(-w / np.log(r))
    assert model.lifespan_estimate_.n_customers == base.sum()
    # A history shorter than two windows falls back to 3 years.
    with pytest.warns(DataWarning, match="3-year rule"):
        assert BaselineModel().fit(summary).lifespan_ == pytest.approx(3 * 365.25)


def test_baseline_follows_model_conventions(calibration):
    model = BaselineModel(churn_rate=0.5, lifespan_unit="Y")
    assert model.get_params()["churn_rate"] == 0.5
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not copy.is_fitted()
    model.fit(calibration)
    assert model.lifespan_ == pytest.approx(2 * 365.25 / 7)
    with pytest.raises(DataError, match="frequency"):
        model.fit(calibration.drop(columns="frequency"))
    bad = calibration.copy()
    bad.iloc[:3, bad.columns.get_loc("recency")] = -1.0
    with pytest.raises(DataError, match="3 row"):
        model.fit(bad)


def test_rfm_segments(calibration):
    seg = rfm_segments(calibration)
    assert set(seg.columns) == {"r_score", "f_score", "m_score", "rfm_score", "segment"}
    for col in ("r_score", "f_score", "m_score"):
        assert seg[col].between(1, 3).all()
    assert (seg["rfm_score"] == seg[["r_score", "f_score", "m_score"]].sum(axis=1)).all()
    expected = np.select([seg["rfm_score"] <= 4, seg["rfm_score"] <= 7], ["low", "middle"], "top")
    assert (seg["segment"] == expected).all()
    # More frequent buyers never score lower on F.
    order = calibration["frequency"].sort_values(kind="stable").index
    assert seg.loc[order, "f_score"].is_monotonic_increasing
    # Segments separate future behaviour: top customers buy most in the holdout.
    holdout = calibration["frequency_holdout"].groupby(seg["segment"]).mean()
    assert holdout["top"] > holdout["middle"] > holdout["low"]
    five = rfm_segments(calibration, bins=5)
    assert five["segment"].isin(list("12345")).all()


def test_cli_summary_and_clear_errors(tmp_path):
    out = tmp_path / "summary.parquet"
    done = subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", "summary", "cdnow:sample", "-o", str(out),
         "--calibration-end", "1997-09-30", "--time-unit", "W"],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = pd.read_parquet(out)
    assert len(written) == 2357 and "frequency_holdout" in written

    log = tmp_path / "bad.csv"
    log.write_text("customer_id,date,amount\n1,2024-01-01,5\n2,2024-01-02,-3\n")
    done = subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", "summary", str(log), "-o", str(tmp_path / "x.csv")],
        capture_output=True, text=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert errors[0].startswith("error: 1 of 2 rows of column 'amount' are negative")
    assert "Traceback" not in done.stderr


def test_cli_baseline_prints_the_formula():
    done = subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", "baseline", "cdnow:sample", "--margin", "0.3",
         "--lifespan", "2"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "error" not in done.stderr
    figures = dict(re.findall(r"│ (\w+)\s*│\s*(.*?) │", done.stdout))
    # Figures from the raw log: purchase days are orders; the span is 545 days.
    tx = clvmodels.datasets.load_cdnow("sample")
    customers = tx["customer_id"].nunique()
    orders = len(tx.drop_duplicates(["customer_id", "date"]))
    years = (tx["date"].max() - tx["date"].min()).days / 365.25
    value = tx["amount"].sum() / customers / years
    assert figures["customers"] == f"{customers}"
    assert figures["orders"] == f"{orders}"
    assert float(figures["average_order_value"]) == pytest.approx(
        tx["amount"].sum() / orders, abs=0.005)
    assert float(figures["clv"]) == pytest.approx(value * 2 * 0.3, abs=0.005)
    assert figures["lifespan_source"] == "given"
