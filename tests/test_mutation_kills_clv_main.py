"""customer_lifetime_value and _predictive_bounds, value by value: the remaining
lifetime, discrete models, argument ranges, unit conversion, predictive bounds as
order statistics of the exact purchase-count distribution (mutants of clv.py's two
big functions that the other tests let through; see tests/mutation/README.md)."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvmodels.clv import customer_lifetime_value
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel


def _summary(rows, unit="W"):
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"],
                         index=pd.Index([f"c{i}" for i in range(len(rows))], name="id"))
    frame.attrs["time_unit"] = unit
    return frame


SUMMARY = _summary([(0, 0.0, 30.0, 0.0), (2, 20.0, 30.0, 12.0), (5, 28.0, 30.0, 40.0),
                    (1, 3.0, 52.0, 8.0)])
FREQ = SUMMARY["frequency"].to_numpy()
SPEND = 10.0 + SUMMARY["monetary_value"].to_numpy()


class Rate:
    """``rate * (1 + frequency)`` purchases per unit of the summary; draws a grid."""

    def __init__(self, rate):
        self.rate = rate

    def expected_purchases(self, summary, t):
        return pd.Series(self.rate * t * (1.0 + summary["frequency"]), index=summary.index)

    def sample_parameters(self, n, random_state=None):
        return pd.DataFrame({"rate": np.linspace(0.1, 1.0, n)})

    def with_parameters(self, row):
        return Rate(float(row["rate"]))


class FixedRate:
    """The same purchases without parameter draws."""

    def __init__(self, rate):
        self.rate = rate

    def expected_purchases(self, summary, t):
        return Rate(self.rate).expected_purchases(summary, t)


class Opportunities(Rate):
    """A model of transaction opportunities: ``t`` counts its periods."""

    uses_time = False

    def with_parameters(self, row):
        return Opportunities(float(row["rate"]))


class DailyRate(Rate):
    """A model fitted in days: ``t`` is in days whatever the summary's unit."""

    time_unit_ = "D"


class Spend:
    def __init__(self, factor=1.0):
        self.factor = factor

    def expected_spend(self, summary):
        return self.factor * (10.0 + summary["monetary_value"])

    def sample_parameters(self, n, random_state=None):
        return pd.DataFrame({"factor": np.linspace(0.5, 1.5, n)})

    def with_parameters(self, row):
        return Spend(float(row["factor"]))


class FixedSpend:
    def expected_spend(self, summary):
        return 10.0 + summary["monetary_value"]


# --------------------------------------------------------------------------- the remaining lifetime

def test_lifetime_value_is_the_discounted_sum_over_every_step():
    """E(t) = c t: each step adds c purchases, discounted by d**k, so
    DERT = c * sum_k d**k = c * d / (1 - d)."""
    out = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=None,
                                  time_unit="W", discount_rate=0.02, margin=0.3)
    d = 1 / 1.02
    dert = 0.5 * (1.0 + FREQ) * d / (1 - d)
    assert list(out.columns) == ["dert", "expected_spend", "clv"]
    np.testing.assert_allclose(out["dert"], dert, rtol=1e-6)
    np.testing.assert_allclose(out["clv"], 0.3 * SPEND * dert, rtol=1e-6)
    # Steps of two weeks with a weekly rate: c = 2 * 0.5 per step, d = 1.02**-2.
    two = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=None,
                                  time_unit="D", discount_rate=0.02, discount_period="W")
    d = 1.02 ** -(1 / 7)
    np.testing.assert_allclose(two["dert"], 0.5 / 7 * (1.0 + FREQ) * d / (1 - d), rtol=1e-6)


def test_lifetime_of_a_model_of_opportunities_sums_whole_periods():
    out = customer_lifetime_value(Opportunities(0.25), FixedSpend(), SUMMARY, horizon=None,
                                  time_unit="W", discount_rate=0.1)
    d = 1 / 1.1
    np.testing.assert_allclose(out["dert"], 0.25 * (1.0 + FREQ) * d / (1 - d), rtol=1e-10)


def test_lifetime_refuses_what_it_cannot_give():
    kw = dict(horizon=None, time_unit="W")
    for rate in (0.0, -0.01):
        with pytest.raises(ValueError, match="needs a discount_rate > 0"):
            customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, discount_rate=rate, **kw)
    with pytest.raises(ValueError, match="cash_flows=True needs a finite horizon"):
        customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, discount_rate=0.5,
                                cash_flows=True, **kw)
    with pytest.raises(ValueError, match="A predictive interval simulates a finite horizon"):
        customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, discount_rate=0.5,
                                interval=0.8, interval_kind="predictive", **kw)
    # A discount rate of 1.5 is fine; so are the expected interval and a predictive
    # kind without an interval.
    d = 1 / 2.5
    out = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, discount_rate=1.5,
                                  interval=0.5, n_draws=5, **kw)
    rates = np.quantile(np.linspace(0.1, 1.0, 5), [0.25, 0.75])
    scale = SPEND * (1.0 + FREQ) * d / (1 - d)
    np.testing.assert_allclose(out["clv"], 0.5 * scale, rtol=1e-6)
    np.testing.assert_allclose(out["clv_lower"], rates[0] * scale, rtol=1e-6)
    np.testing.assert_allclose(out["clv_upper"], rates[1] * scale, rtol=1e-6)
    plain = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, discount_rate=1.5,
                                    interval_kind="predictive", **kw)
    np.testing.assert_allclose(plain["clv"], 0.5 * scale, rtol=1e-6)


# --------------------------------------------------------------------------- steps and units

def test_a_model_of_opportunities_counts_periods_discounted_in_another_unit():
    out = customer_lifetime_value(Opportunities(0.25), FixedSpend(), SUMMARY, horizon=3,
                                  time_unit="W", discount_rate=0.01, discount_period="D")
    factors = 1.01 ** (-7.0 * np.arange(1, 4))
    np.testing.assert_allclose(out["clv"], SPEND * 0.25 * (1.0 + FREQ) * factors.sum(),
                               rtol=1e-12)
    np.testing.assert_allclose(out["expected_purchases"], 0.75 * (1.0 + FREQ), rtol=1e-12)


def test_steps_are_converted_to_the_summary_unit_of_a_model_without_one():
    out = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=14, time_unit="D")
    np.testing.assert_allclose(out["expected_purchases"], 0.5 * 2 * (1.0 + FREQ), rtol=1e-12)
    np.testing.assert_allclose(out["clv"], SPEND * 0.5 * 2 * (1.0 + FREQ), rtol=1e-12)


def test_steps_are_converted_to_the_model_unit_before_the_summary_unit():
    out = customer_lifetime_value(DailyRate(0.5), FixedSpend(), SUMMARY, horizon=2,
                                  time_unit="W")
    np.testing.assert_allclose(out["expected_purchases"], 0.5 * 14 * (1.0 + FREQ), rtol=1e-12)


# --------------------------------------------------------------------------- argument ranges

def test_interval_and_draws_ranges():
    kw = dict(horizon=1, time_unit="W")
    for interval in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="interval must be between 0 and 1"):
            customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, interval=interval, **kw)
    for n_draws in (1, 1.5, True):
        with pytest.raises(ValueError, match="n_draws must be a whole number >= 2"):
            customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, interval=0.5,
                                    n_draws=n_draws, **kw)
    two = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, interval=0.5, n_draws=2,
                                  **kw)
    scale = SPEND * (1.0 + FREQ)
    np.testing.assert_allclose(two["clv_lower"], scale * np.quantile([0.1, 1.0], 0.25))
    # Default: 200 draws without a posterior.
    default = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, interval=0.5, **kw)
    np.testing.assert_allclose(default["clv_lower"],
                               scale * np.quantile(np.linspace(0.1, 1.0, 200), 0.25),
                               rtol=1e-12)


def test_a_fixed_purchase_model_with_drawn_spend():
    out = customer_lifetime_value(FixedRate(0.5), Spend(), SUMMARY, horizon=2,
                                  time_unit="W", interval=0.5, n_draws=5)
    scale = 0.5 * 2 * (1.0 + FREQ) * SPEND
    np.testing.assert_allclose(out["clv_lower"],
                               scale * np.quantile(np.linspace(0.5, 1.5, 5), 0.25), rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"],
                               scale * np.quantile(np.linspace(0.5, 1.5, 5), 0.75), rtol=1e-12)
