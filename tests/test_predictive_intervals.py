"""Predictive intervals of purchases: the number a customer will buy, not its mean."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import clvmodels
from clvmodels import simulate

CASES = [
    (clvmodels.BetaGeoModel, simulate.beta_geo, dict(r=0.8, alpha=40.0, a=0.8, b=2.5)),
    (clvmodels.ModifiedBetaGeoModel, simulate.modified_beta_geo,
     dict(r=0.8, alpha=40.0, a=0.8, b=2.5)),
    (clvmodels.ParetoNBDModel, simulate.pareto_nbd, dict(r=0.8, alpha=40.0, s=0.6, beta=200.0)),
]


@pytest.mark.parametrize("model_class, simulator, params", CASES,
                         ids=["bgnbd", "mbgnbd", "pareto_nbd"])
def test_90_percent_predictive_intervals_cover_90_to_95_percent(model_class, simulator,
                                                                  params):
    log = simulator(4000, **params, observation_length=730, acquisition_period=180,
                    time_unit="D", random_state=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
                                        calibration_period_end="2024-12-31",
                                        observation_period_end=log.attrs["observation_end"],
                                        time_unit="D")
        model = model_class().fit(summary)
    horizon = float(summary["duration_holdout"].iloc[0])
    actual = summary["frequency_holdout"]
    predictive = model.expected_purchases(summary, horizon, interval=0.9,
                                          interval_kind="predictive")
    covered = ((predictive["lower"] <= actual) & (actual <= predictive["upper"])).mean()
    assert 0.90 <= covered <= 0.95
    np.testing.assert_allclose(predictive["mean"], model.expected_purchases(summary, horizon))
    # The interval of the expected value covers almost nobody's actual purchases.
    expected = model.expected_purchases(summary, horizon, interval=0.9, n_draws=200,
                                        random_state=0)
    assert ((expected["lower"] <= actual) & (actual <= expected["upper"])).mean() < 0.2


def test_the_bounds_follow_the_conditional_distribution(fitted_bgnbd, _cdnow_summary_cached):
    summary = _cdnow_summary_cached.iloc[:200]
    got = fitted_bgnbd.expected_purchases(summary, 39.0, interval=0.8,
                                          interval_kind="predictive")
    counts = np.arange(400)
    pmf = fitted_bgnbd.conditional_probability_of_purchases(summary, 39.0, counts).to_numpy()
    cdf = np.cumsum(pmf, axis=1)
    for i in range(len(summary)):
        lower = int(np.argmax(cdf[i] >= 0.1 - 1e-12))
        below = cdf[i, lower - 1] if lower else 0.0
        upper = int(np.argmax(cdf[i] >= min(below + 0.8, 1.0) - 1e-12))
        assert (got["lower"].iloc[i], got["upper"].iloc[i]) == (lower, upper)
        assert cdf[i, upper] - below >= 0.8 - 1e-9  # at least 80% inside


def test_predictive_intervals_need_one_horizon(fitted_bgnbd, _cdnow_summary_cached):
    with pytest.raises(ValueError, match="one horizon"):
        fitted_bgnbd.expected_purchases(_cdnow_summary_cached, [13.0, 39.0], interval=0.9,
                                        interval_kind="predictive")
    with pytest.raises(ValueError, match="interval_kind"):
        fitted_bgnbd.expected_purchases(_cdnow_summary_cached, 13.0, interval=0.9,
                                        interval_kind="posterior")


def test_predictive_clv_intervals_cover_the_holdout_revenue():
    spend = dict(p=6.0, q=4.0, v=15.0)
    log = simulate.beta_geo(4000, r=0.8, alpha=40.0, a=0.8, b=2.5, observation_length=730,
                            acquisition_period=180, time_unit="D", random_state=12,
                            spend=spend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
                                        calibration_period_end="2024-12-31",
                                        observation_period_end=log.attrs["observation_end"],
                                        time_unit="D")
        purchases = clvmodels.BetaGeoModel().fit(summary)
        spend_model = clvmodels.GammaGammaModel().fit(summary)
    horizon = int(round(summary["duration_holdout"].iloc[0]))
    actual = summary["revenue_holdout"]
    clv = clvmodels.customer_lifetime_value(purchases, spend_model, summary, horizon=horizon,
                                            time_unit="D", interval=0.9,
                                            interval_kind="predictive", random_state=0)
    covered = ((clv["clv_predictive_lower"] <= actual)
               & (actual <= clv["clv_predictive_upper"])).mean()
    assert 0.88 <= covered <= 0.95  # 91.2% here; 90-91.5% over other seeds and models
    assert (clv["clv_predictive_lower"] <= clv["clv_predictive_upper"]).all()
    expected = clvmodels.customer_lifetime_value(purchases, spend_model, summary,
                                                 horizon=horizon, time_unit="D", interval=0.9,
                                                 random_state=0)
    np.testing.assert_allclose(clv["clv"], expected["clv"])
    assert ((expected["clv_lower"] <= actual) & (actual <= expected["clv_upper"])).mean() < 0.2


def test_the_export_names_the_kind_of_interval(fitted_bgnbd, fitted_gamma_gamma,
                                               _cdnow_summary_cached):
    summary = _cdnow_summary_cached.iloc[:300]
    predictive = clvmodels.predict_clv(summary, fitted_bgnbd, fitted_gamma_gamma, horizon=13,
                                       time_unit="W", interval_kind="predictive")
    expected = clvmodels.predict_clv(summary, fitted_bgnbd, fitted_gamma_gamma, horizon=13,
                                     time_unit="W")
    assert {"clv_predictive_lower", "clv_predictive_upper"} <= set(predictive.columns)
    assert "clv_lower" not in predictive.columns and "clv_lower" in expected.columns
    np.testing.assert_allclose(predictive["clv"], expected["clv"])
    # [0, 0] is right for a customer who buys nothing in 13 weeks with probability
    # 90% or more; the others' own futures are far more uncertain than the mean.
    width = predictive["clv_predictive_upper"] - predictive["clv_predictive_lower"]
    none = fitted_bgnbd.probability_of_no_purchase(summary, 13.0).to_numpy()
    nothing = (width == 0).to_numpy()
    assert nothing.any() and (none[nothing] >= 0.88).all()  # 0.9 up to Monte Carlo error
    assert (none[~nothing] <= 0.92).all()
    wider = width[~nothing] >= (expected["clv_upper"] - expected["clv_lower"])[~nothing]
    assert wider.all()
    with pytest.raises(ValueError, match="interval_kind"):
        clvmodels.customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, summary,
                                          horizon=13, time_unit="W", interval=0.9,
                                          interval_kind="posterior")
