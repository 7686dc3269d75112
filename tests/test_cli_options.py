"""Every option of the command line has an effect that a test would see vanish.

The commands run in-process through typer's runner (the same code path as the
``clvmodels`` script, without a new interpreter per run). Expected values come
from the fitted models' own predictions combined by hand (the discount sum),
from the published formula of the baseline, or from a second run that differs
in one option only.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import clvmodels
from clvmodels.cli import app

DAYS_PER_WEEK = 7.0
DAYS_PER_MONTH = 365.25 / 12
DAYS_PER_YEAR = 365.25


def run(*args: str):
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == 0, (done.stdout, done.stderr, done.exception)
    return done


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """BG/NBD + Gamma-Gamma fitted by ``clvmodels fit`` on the CDNOW sample (weeks)."""
    folder = tmp_path_factory.mktemp("models")
    run("fit", "cdnow:sample", "-o", str(folder))
    return folder, clvmodels.load(folder / "purchases.json"), clvmodels.load(folder / "spend.json")


@pytest.fixture(scope="module")
def weekly_summary():
    tx = clvmodels.datasets.load_cdnow("sample")
    return clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")


def predict(tmp_path, models, name: str, *options: str) -> pd.DataFrame:
    folder = models[0]
    out = tmp_path / f"{name}.csv"
    run("predict", "cdnow:sample", "--models", str(folder), "-o", str(out), *options)
    return pd.read_csv(out).set_index("customer_id")


@pytest.fixture(scope="module")
def default_run(models, tmp_path_factory):
    return predict(tmp_path_factory.mktemp("default"), models, "default")


# ---------------------------------------------------------------------------
# fit


def test_fit_model_option_chooses_the_purchase_model(tmp_path):
    run("fit", "cdnow:sample", "-o", str(tmp_path), "--model", "mbgnbd", "--time-unit", "M")
    model = clvmodels.load(tmp_path / "purchases.json")
    assert type(model).__name__ == "ModifiedBetaGeoModel"
    assert model.time_unit_ == "M"


# ---------------------------------------------------------------------------
# predict


def test_predict_defaults_are_52_weeks_undiscounted(default_run, models, weekly_summary):
    _, bg, gg = models
    out = default_run.loc[weekly_summary.index]
    assert (out["horizon"] == 52).all() and (out["time_unit"] == "W").all()
    np.testing.assert_allclose(out["expected_purchases"],
                               bg.expected_purchases(weekly_summary, t=52), rtol=1e-9)
    # Undiscounted, margin 1: CLV = expected purchases x expected spend.
    np.testing.assert_allclose(out["clv"], out["expected_purchases"] * out["expected_spend"],
                               rtol=1e-9)
    np.testing.assert_allclose(out["expected_spend"], gg.expected_spend(weekly_summary),
                               rtol=1e-9)


def test_discount_rate_discounts_each_week(tmp_path, models, weekly_summary, default_run):
    _, bg, gg = models
    out = predict(tmp_path, models, "d20", "--discount-rate", "0.2").loc[weekly_summary.index]
    cumulative = np.column_stack([np.zeros(len(weekly_summary))] + [
        bg.expected_purchases(weekly_summary, t=k).to_numpy() for k in range(1, 53)])
    factors = 1.2 ** (-np.arange(1, 53) * DAYS_PER_WEEK / DAYS_PER_YEAR)
    expected = (np.diff(cumulative, axis=1) * factors).sum(axis=1) \
        * gg.expected_spend(weekly_summary).to_numpy()
    np.testing.assert_allclose(out["clv"], expected, rtol=1e-8)
    undiscounted = default_run.loc[weekly_summary.index, "clv"]
    assert (out["clv"] < undiscounted).all()
    # The purchases are undiscounted whatever the rate.
    np.testing.assert_allclose(out["expected_purchases"],
                               default_run.loc[weekly_summary.index, "expected_purchases"])


def test_discount_period_sets_the_period_of_the_rate(tmp_path, models, weekly_summary):
    _, bg, gg = models
    yearly = predict(tmp_path, models, "y", "--discount-rate", "0.01", "--horizon", "1")
    monthly = predict(tmp_path, models, "m", "--discount-rate", "0.01", "--horizon", "1",
                      "--discount-period", "M")
    # One week: the whole CLV falls at its end, discounted by 1.01 ** -(weeks per period).
    base = (bg.expected_purchases(weekly_summary, t=1) * gg.expected_spend(weekly_summary))
    np.testing.assert_allclose(yearly.loc[base.index, "clv"],
                               base * 1.01 ** (-DAYS_PER_WEEK / DAYS_PER_YEAR), rtol=1e-9)
    np.testing.assert_allclose(monthly.loc[base.index, "clv"],
                               base * 1.01 ** (-DAYS_PER_WEEK / DAYS_PER_MONTH), rtol=1e-9)


def test_margin_scales_the_clv_and_its_bounds_exactly(tmp_path, models, default_run):
    half = predict(tmp_path, models, "half", "--margin", "0.35")
    for col in ("clv", "clv_lower", "clv_upper"):
        np.testing.assert_allclose(half[col], 0.35 * default_run[col], rtol=1e-12)
    np.testing.assert_allclose(half["expected_spend"], default_run["expected_spend"])


def test_horizon_and_time_unit_set_the_prediction_window(tmp_path, models, weekly_summary):
    _, bg, _ = models
    out = predict(tmp_path, models, "months", "--horizon", "12", "--time-unit", "M")
    assert (out["horizon"] == 12).all() and (out["time_unit"] == "M").all()
    # The summary is in months ...
    np.testing.assert_allclose(out.loc[weekly_summary.index, "T"],
                               weekly_summary["T"] * DAYS_PER_WEEK / DAYS_PER_MONTH, rtol=1e-9)
    # ... and 12 months are 52.18 weeks of the weekly model.
    np.testing.assert_allclose(out.loc[weekly_summary.index, "expected_purchases"],
                               bg.expected_purchases(weekly_summary,
                                                     t=DAYS_PER_YEAR / DAYS_PER_WEEK),
                               rtol=1e-8)
    short = predict(tmp_path, models, "short", "--horizon", "4")
    np.testing.assert_allclose(short.loc[weekly_summary.index, "expected_purchases"],
                               bg.expected_purchases(weekly_summary, t=4), rtol=1e-9)


def test_interval_option_sets_the_width_and_zero_drops_the_bounds(tmp_path, models, default_run):
    none = predict(tmp_path, models, "none", "--interval", "0")
    assert "clv_lower" not in none and "clv_upper" not in none
    np.testing.assert_allclose(none["clv"], default_run["clv"], rtol=1e-12)
    narrow = predict(tmp_path, models, "narrow", "--interval", "0.5")
    width90 = default_run["clv_upper"] - default_run["clv_lower"]
    width50 = narrow["clv_upper"] - narrow["clv_lower"]
    positive = width90 > 0
    assert positive.sum() > 2000
    assert (width50[positive] < width90[positive]).all()


def test_seed_changes_the_interval_draws_only(tmp_path, models, default_run):
    other = predict(tmp_path, models, "seed", "--seed", "5")
    np.testing.assert_allclose(other["clv"], default_run["clv"], rtol=1e-12)
    assert not np.allclose(other["clv_lower"], default_run["clv_lower"], rtol=1e-9)


def test_predict_without_models_fits_the_named_model(tmp_path, default_run):
    out = tmp_path / "fresh.csv"
    run("predict", "cdnow:sample", "-o", str(out), "--model", "mbgnbd")
    fresh = pd.read_csv(out).set_index("customer_id")
    assert (fresh["model"] == "ModifiedBetaGeoModel + GammaGammaModel").all()
    assert not np.allclose(fresh["expected_purchases"], default_run["expected_purchases"])


# ---------------------------------------------------------------------------
# Column names, formats, observation end and returns (shared by the commands)


@pytest.fixture(scope="module")
def custom_log(tmp_path_factory):
    """The CDNOW sample with other column names, %Y%m%d dates and one return."""
    tx = clvmodels.datasets.load_cdnow("sample")
    log = pd.DataFrame({"cid": tx["customer_id"], "when": tx["date"].dt.strftime("%Y%m%d"),
                        "spend": tx["amount"]})
    ret = pd.DataFrame({"cid": [tx["customer_id"].iloc[0]], "when": ["19970102"],
                        "spend": [-1.0]})
    path = tmp_path_factory.mktemp("log") / "log.csv"
    pd.concat([log, ret], ignore_index=True).to_csv(path, index=False)
    return path


def test_summary_column_format_and_returns_options(tmp_path, custom_log, weekly_summary):
    out = tmp_path / "s.csv"
    common = ["summary", str(custom_log), "-o", str(out), "--customer-id", "cid",
              "--datetime", "when", "--amount", "spend", "--datetime-format", "%Y%m%d",
              "--time-unit", "W"]
    refused = CliRunner().invoke(app, common)
    assert refused.exit_code == 2 and "negative" in refused.stderr
    run(*common, "--returns", "drop")
    # CSV ids are read as text, so the file is sorted as text: align on the ids.
    written = pd.read_csv(out, index_col=0).loc[weekly_summary.index]
    pd.testing.assert_series_equal(written["frequency"], weekly_summary["frequency"],
                                   check_names=False, check_index_type=False)
    np.testing.assert_allclose(written["T"], weekly_summary["T"], rtol=1e-12)
    np.testing.assert_allclose(written["monetary_value"], weekly_summary["monetary_value"],
                               rtol=1e-12)


def test_summary_time_unit_observation_end_and_calibration_end(tmp_path, weekly_summary):
    days = tmp_path / "days.csv"
    run("summary", "cdnow:sample", "-o", str(days), "--time-unit", "D")
    by_day = pd.read_csv(days, index_col=0)
    np.testing.assert_allclose(by_day["T"], weekly_summary["T"] * 7, rtol=1e-12)

    early = tmp_path / "early.csv"
    run("summary", "cdnow:sample", "-o", str(early), "--observation-end", "1997-12-31",
        "--time-unit", "D")
    first = clvmodels.datasets.load_cdnow("sample").groupby("customer_id")["date"].min()
    assert (pd.read_csv(early, index_col=0)["T"]
            == (pd.Timestamp("1997-12-31") - first).dt.days).all()

    split = tmp_path / "split.csv"
    run("summary", "cdnow:sample", "-o", str(split), "--calibration-end", "1997-09-30",
        "--time-unit", "W")
    frame = pd.read_csv(split, index_col=0)
    assert {"frequency_holdout", "revenue_holdout", "duration_holdout"} <= set(frame.columns)
    assert "frequency_holdout" not in by_day
    assert (frame["duration_holdout"] == (pd.Timestamp("1998-06-30")
                                          - pd.Timestamp("1997-09-30")).days / 7).all()
    assert frame["T"].max() == pytest.approx(272 / 7)


# ---------------------------------------------------------------------------
# baseline: the printed figures follow the formula


def _figures(stdout: str) -> dict[str, str]:
    return dict(re.findall(r"│ (\w+)\s*│\s*(.*?) │", stdout))


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.fixture(scope="module")
def annual_value() -> float:
    """Revenue per customer per year over the CDNOW sample's 545 observed days."""
    tx = clvmodels.datasets.load_cdnow("sample")
    span_years = (tx["date"].max() - tx["date"].min()).days / DAYS_PER_YEAR
    return tx["amount"].sum() / tx["customer_id"].nunique() / span_years


@pytest.mark.parametrize("options, lifespan, margin, cost", [
    (("--lifespan", "2", "--margin", "0.3"), 2.0, 0.3, 0.0),
    (("--lifespan", "2", "--margin", "0.3", "--acquisition-cost", "5"), 2.0, 0.3, 5.0),
    (("--churn-rate", "0.25"), 4.0, 1.0, 0.0),
    (("--churn-rate", "0.25", "--lifespan", "3"), 3.0, 1.0, 0.0),  # lifespan wins
])
def test_baseline_options_change_the_clv_as_the_formula_says(options, lifespan, margin, cost,
                                                             annual_value):
    figures = _figures(run("baseline", "cdnow:sample", *options).stdout)
    expected = annual_value * lifespan * margin - cost
    assert _number(figures["clv"]) == pytest.approx(expected, abs=0.006)
    assert _number(figures["lifespan"]) == pytest.approx(lifespan)
    assert _number(figures["margin"]) == pytest.approx(margin)
    assert _number(figures["acquisition_cost"]) == pytest.approx(cost)


def test_baseline_period_and_conversion_rate(annual_value):
    figures = _figures(run("baseline", "cdnow:sample", "--period", "M", "--lifespan", "24",
                           "--acquisition-cost", "10", "--conversion-rate", "0.02").stdout)
    assert figures["period"] == "M"
    clv = annual_value / 12 * 24 - 10
    assert _number(figures["customer_value"]) == pytest.approx(annual_value / 12, rel=2e-3)
    assert _number(figures["clv"]) == pytest.approx(clv, abs=0.006)
    assert _number(figures["ltv_cac"]) == pytest.approx(clv / 10, rel=1e-3)
    assert _number(figures["max_cost_per_click"]) == pytest.approx(clv * 0.02, rel=1e-3)


def test_baseline_observation_end_drops_later_purchases(annual_value):
    figures = _figures(run("baseline", "cdnow:sample", "--lifespan", "1",
                           "--observation-end", "1997-12-31").stdout)
    tx = clvmodels.datasets.load_cdnow("sample")
    kept = tx[tx["date"] <= "1997-12-31"]
    orders = len(kept.drop_duplicates(["customer_id", "date"]))
    years = (kept["date"].max() - kept["date"].min()).days / DAYS_PER_YEAR
    expected = kept["amount"].sum() / kept["customer_id"].nunique() / years
    assert _number(figures["orders"]) == orders
    assert _number(figures["clv"]) == pytest.approx(expected, abs=0.006)
    assert abs(expected - annual_value) > 5
