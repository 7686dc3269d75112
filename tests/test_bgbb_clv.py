"""customer_lifetime_value with the BG/BB model: steps are its periods (opportunities)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import betaln

import clvmodels


@pytest.fixture(scope="module")
def models():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = clvmodels.datasets.load_donations()
        bgbb = clvmodels.BetaGeoBetaBinomModel().fit(rows, weights="weights")
        log = clvmodels.datasets.load_cdnow("sample")
        spend = clvmodels.GammaGammaModel(nonpositive_spend="exclude").fit(
            clvmodels.rfm_summary(log, "customer_id", "date", "amount", time_unit="W"))
    # The donors' histories with a mean donation of their repeat years.
    summary = rows.drop(columns="weights").assign(
        monetary_value=np.where(rows["frequency"] > 0, 20.0 + 3.0 * rows["frequency"], 0.0))
    summary.attrs["period"] = "Y"
    return bgbb, spend, summary


def _per_period(bgbb, summary, k):
    """E[transaction at opportunity n + k | history]: alive at n (the model's P(alive)),
    then p ~ Beta(alpha + x, beta + n - x) and survival (1 - theta)**k with
    theta ~ Beta(gamma, delta + n) (Fader, Hardie & Shang 2010, section 3)."""
    a, b, g, d = bgbb.params_[["alpha", "beta", "gamma", "delta"]]
    x, n = summary["frequency"].to_numpy(float), summary["n_periods"].to_numpy(float)
    alive = bgbb.probability_alive(summary).to_numpy()
    return alive * (a + x) / (a + b + n) * np.exp(betaln(g, d + n + k) - betaln(g, d + n))


def test_finite_horizon_is_the_discounted_sum_of_each_periods_transactions(models):
    bgbb, spend, summary = models
    rate, margin, horizon = 0.1, 0.3, 5
    clv = clvmodels.customer_lifetime_value(bgbb, spend, summary, horizon, "Y",
                                            discount_rate=rate, margin=margin)
    per = np.column_stack([_per_period(bgbb, summary, k) for k in range(1, horizon + 1)])
    discount = 1.1 ** -np.arange(1, horizon + 1)
    value = spend.expected_spend(summary).to_numpy()
    np.testing.assert_allclose(clv["expected_purchases"], per.sum(axis=1), rtol=1e-10)
    np.testing.assert_allclose(clv["clv"], margin * value * (per @ discount), rtol=1e-10)
    assert (clv["clv"] > 0).all()


def test_lifetime_equals_the_models_dert(models):
    bgbb, spend, summary = models
    clv = clvmodels.customer_lifetime_value(bgbb, spend, summary, None, "Y",
                                            discount_rate=0.1)
    dert = bgbb.discounted_expected_residual_transactions(summary, 0.1)  # FHS eq. 14
    np.testing.assert_allclose(clv["dert"], dert, rtol=1e-10)
    np.testing.assert_allclose(clv["clv"], dert * spend.expected_spend(summary), rtol=1e-10)


def test_discount_period_converts_and_cash_flows_add_up(models):
    bgbb, spend, summary = models
    # 1% a month is 1.01**12 a year.
    monthly = clvmodels.customer_lifetime_value(bgbb, spend, summary, 4, "Y",
                                                discount_rate=0.01, discount_period="M")
    yearly = clvmodels.customer_lifetime_value(bgbb, spend, summary, 4, "Y",
                                               discount_rate=1.01 ** 12 - 1)
    np.testing.assert_allclose(monthly["clv"], yearly["clv"], rtol=1e-12)
    clv, flows = clvmodels.customer_lifetime_value(bgbb, spend, summary, 4, "Y",
                                                   discount_rate=0.1, cash_flows=True)
    assert flows["period"].max() == 4
    total = flows.groupby(summary.index.name or "customer_id", sort=False)[
        "discounted_cash_flow"].sum()
    np.testing.assert_allclose(total.to_numpy(), clv["clv"].to_numpy(), rtol=1e-10)


def test_interval_brackets_the_estimate(models):
    bgbb, spend, summary = models
    clv = clvmodels.customer_lifetime_value(bgbb, spend, summary, 5, "Y", discount_rate=0.1,
                                            interval=0.9, random_state=1)
    assert (clv["clv_lower"] < clv["clv"]).all() and (clv["clv"] < clv["clv_upper"]).all()


def test_steps_of_another_length_are_refused(models):
    bgbb, spend, summary = models
    with pytest.raises(ValueError, match=r"pass time_unit='Y'"):
        clvmodels.customer_lifetime_value(bgbb, spend, summary, 12, "M", discount_rate=0.01)
    with pytest.raises(ValueError, match="Predictive CLV intervals"):
        clvmodels.customer_lifetime_value(bgbb, spend, summary, 5, "Y", interval=0.9,
                                          interval_kind="predictive")


def test_a_summary_without_a_recorded_period_takes_time_unit_as_the_period(models):
    bgbb, spend, summary = models
    bare = summary.copy()
    bare.attrs = {}
    pd.testing.assert_frame_equal(
        clvmodels.customer_lifetime_value(bgbb, spend, bare, 3, "Y", discount_rate=0.1),
        clvmodels.customer_lifetime_value(bgbb, spend, summary, 3, "Y", discount_rate=0.1))
