"""Backtests: metrics against independent implementations, actuals, no leakage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

import clvmodels
from clvmodels.backtest import (
    METRICS,
    GradientBoostingModel,
    ModelPair,
    PastRateModel,
    backtest,
    score_predictions,
    winner_names,
)
from clvmodels.models.baseline import BaselineModel

CUTOFF = "1997-09-30"
FAST = {"baseline": ModelPair(BaselineModel()), "past_rate": ModelPair(PastRateModel())}


@pytest.fixture(scope="module")
def sample():
    return clvmodels.datasets.load_cdnow("sample")


@pytest.fixture(scope="module")
def result(sample):
    return backtest(sample, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                    models={**FAST, "gbm": GradientBoostingModel()})


def test_metrics_against_direct_computations():
    rng = np.random.default_rng(3)
    actual = rng.poisson(1.0, 500).astype(float)
    predicted = actual + rng.normal(0, 0.8, 500)
    m = score_predictions(actual, predicted, "purchases")
    assert m["mae"] == pytest.approx(np.mean(np.abs(predicted - actual)))
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)))
    assert m["bias_pct"] == pytest.approx(100 * (predicted.sum() / actual.sum() - 1))
    top = np.argsort(-predicted)[:50]
    assert m["top10_capture"] == pytest.approx(actual[top].sum() / actual.sum())
    # Gini of the gain curve: 2 x area - 1, by the trapezoid rule over customers.
    order = np.argsort(-predicted, kind="stable")
    gain = np.r_[0, np.cumsum(actual[order])] / actual.sum()
    area = np.trapezoid(gain, np.linspace(0, 1, 501))
    assert m["gini"] == pytest.approx(2 * area - 1)
    alive = score_predictions(actual, 1 / (1 + np.exp(-predicted)), "alive")
    assert alive["auc"] == pytest.approx(roc_auc_score(actual > 0, predicted))
    perfect = score_predictions(actual, actual, "purchases")
    assert perfect["mae"] == 0 and perfect["bias_pct"] == 0 and perfect["spearman"] == 1
    assert perfect["gini"] >= m["gini"]


def test_result_tables_are_tidy_and_complete(result, sample):
    metrics = result.metrics
    assert list(metrics.columns) == ["model", "cutoff", "target", "metric", "value"]
    assert set(metrics["model"]) == {"baseline", "past_rate", "gbm"}
    for target, names in METRICS.items():
        got = set(metrics.loc[metrics["target"] == target, "metric"])
        assert got == set(names)
    board = result.leaderboard()
    assert set(board.index) == {"baseline", "past_rate", "gbm"}
    assert ("purchases", "mae") in board.columns and ("alive", "auc") in board.columns
    winners = result.winners()
    assert winners[("purchases", "mae")] == board[("purchases", "mae")].idxmin()
    # baseline and past_rate rank customers alike: an exact tie on AUC.
    auc = board[("alive", "auc")]
    assert winner_names(winners[("alive", "auc")]) == [
        m for m in board.index if abs(auc[m] - auc.max()) <= 1e-6 * abs(auc.max())]
    # Every customer of the calibration cohort, for every model.
    assert len(result.predictions) == 3 * sample["customer_id"].nunique()
    assert result.failures.empty


def test_holdout_actuals_match_a_separate_computation(result, sample):
    hold = sample[sample["date"] > CUTOFF]
    per_day = hold.groupby(["customer_id", "date"])["amount"].sum()
    purchases = per_day.groupby(level=0).size()
    revenue = per_day.groupby(level=0).sum()
    pred = result.predictions[result.predictions["model"] == "baseline"].set_index("customer_id")
    np.testing.assert_array_equal(pred["actual_purchases"],
                                  purchases.reindex(pred.index, fill_value=0))
    np.testing.assert_allclose(pred["actual_revenue"], revenue.reindex(pred.index, fill_value=0))
    tracking = result.tracking[result.tracking["model"] == "baseline"]
    assert tracking["period"].tolist() == [float(w) for w in range(1, 40)]  # weekly, 39 weeks
    weeks = (per_day.reset_index()["date"] - pd.Timestamp(CUTOFF)).dt.days / 7
    assert tracking["actual"].tolist() == [float((weeks <= w).sum()) for w in range(1, 40)]
    assert tracking["actual"].iloc[-1] == purchases.sum()
    assert tracking["actual"].is_monotonic_increasing
    assert tracking["predicted"].is_monotonic_increasing


def test_gbm_sees_nothing_after_the_cutoff(sample):
    def run(log):
        res = backtest(log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                       models={"gbm": GradientBoostingModel()})
        return res.predictions.set_index("customer_id")

    first = run(sample)
    scrambled = sample.copy()
    after = scrambled["date"] > CUTOFF
    scrambled.loc[after, "amount"] = scrambled.loc[after, "amount"] * 7 + 1
    second = run(scrambled)
    np.testing.assert_allclose(first["predicted_purchases"], second["predicted_purchases"])
    np.testing.assert_allclose(first["predicted_revenue"], second["predicted_revenue"])
    assert not np.allclose(first["actual_revenue"], second["actual_revenue"])


def test_rolling_origin_carries_each_cutoff(sample):
    res = backtest(sample, "customer_id", "date", "amount",
                   cutoffs=["1997-06-30", "1997-09-30"], holdout_length=13, models=FAST)
    assert sorted(res.metrics["cutoff"].unique()) == [pd.Timestamp("1997-06-30"),
                                                      pd.Timestamp("1997-09-30")]
    for cutoff, summary in res.summaries.items():
        assert summary.attrs["calibration_period_end"] == str(cutoff.date())
        assert summary["duration_holdout"].iloc[0] == pytest.approx(13.0)
    one = res.leaderboard(cutoff="1997-06-30")
    assert set(one.index) == set(FAST)


def test_user_models_and_bad_arguments(sample):
    res = backtest(sample, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                   models={"mine": BaselineModel(lifespan=1.0)})
    assert set(res.metrics["model"]) == {"mine"}
    with pytest.raises(ValueError, match="either calibration_period_end or cutoffs"):
        backtest(sample, "customer_id", "date", "amount", models=FAST)
    with pytest.raises(TypeError, match="must be a Candidate"):
        backtest(sample, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                 models={"bad": object()})
    with pytest.raises(clvmodels.DataError, match="amount"):
        backtest(sample.drop(columns="amount"), "customer_id", "date", "amount",
                 calibration_period_end=CUTOFF, models=FAST)
