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

# The summary and the duck-typed spend models of the first round of kill tests.
from test_mutation_kills_clv import SUMMARY, FixedSpend, Spend, _summary  # noqa: E402


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


# --------------------------------------------------------------------------- predictive bounds

def _posterior(model, n_chains=2, n_draws=10):
    """The model as a 'NUTS fit' whose posterior draws all equal its estimates."""
    names = type(model).param_names()
    values = model._params_tuple()
    fit = type(model)(method="nuts").with_parameters(dict(zip(names, values)), time_unit="W")
    fit.idata_ = az.from_dict(posterior={
        n: np.full((n_chains, n_draws), v) for n, v in zip(names, values)})
    return fit


def _order_statistic_mean(pmf, j, n):
    """E[X_(j)] of n independent counts with this PMF: the sum over k >= 0 of
    P(X_(j) > k) = P(fewer than j of the n are <= k)."""
    return stats.binom.cdf(j - 1, n, np.cumsum(pmf)).sum()


# (model, parameters, customer (x, t_x, T, m)): a frequent buyer, and new customers who
# drop out after few purchases (where MBG/NBD's extra dropout chance matters).
SCENARIOS = {
    "bgnbd_frequent": (BetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                       (200, 29.9, 30.0, 40.0)),
    "bgnbd_posterior": (BetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                        (200, 29.9, 30.0, 40.0)),
    "bgnbd_dropout": (BetaGeoModel, {"r": 8.0, "alpha": 2.0, "a": 2.0, "b": 0.5},
                      (0, 0.0, 1.0, 0.0)),
    "mbgnbd_dropout": (ModifiedBetaGeoModel, {"r": 8.0, "alpha": 2.0, "a": 2.0, "b": 0.5},
                       (0, 0.0, 1.0, 0.0)),
}
GG = {"p": 1e4, "q": 2e6, "v": 2000.0}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_predictive_bounds_are_order_statistics_of_the_first_step(name):
    """Ten simulations per customer: the bounds are order statistics of the simulated
    values, whose distribution the exact PMF gives. A discount of 1e6 per week makes
    the second week's purchases worth 1e-6 of the first's, so value / (amount x d)
    is the count of the first week; the mean over 2,000 identical customers is compared
    with E[X_(j)] of that count. Each amount averages p (v + x m) / (q + p x) (FH 2013)."""
    cls, params, row = SCENARIOS[name]
    model = cls().with_parameters(params, time_unit="W")
    if name.endswith("posterior"):
        model = _posterior(model)
    x, _, _, m = row
    amount = GG["p"] * (GG["v"] + x * m) / (GG["q"] + GG["p"] * x)
    n_customers, n_sims, rate = 2000, 10, 1e6
    pmf = model.conditional_probability_of_purchases(_summary([row]), 1.0,
                                                     np.arange(300)).to_numpy()[0]
    many = _summary([row] * n_customers)
    gg = GammaGammaModel().with_parameters(GG)
    # interval 0.95: the lowest and highest of 10; 0.5: the 3rd, and 5 further up: the 7th.
    for seed, (interval, j_low, j_high) in enumerate(((0.95, 1, 10), (0.5, 3, 7))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = customer_lifetime_value(model, gg, many, horizon=2, time_unit="W",
                                          discount_rate=rate, interval=interval,
                                          interval_kind="predictive", n_simulations=n_sims,
                                          random_state=seed)
        for column, j in (("clv_predictive_lower", j_low), ("clv_predictive_upper", j_high)):
            counts = out[column].to_numpy() * (1 + rate) / amount
            exact = _order_statistic_mean(pmf, j, n_sims)
            se = max(counts.std(), 0.3) / np.sqrt(n_customers)
            assert abs(counts.mean() - exact) < 4 * se, (column, j, counts.mean(), exact)


def test_predictive_bounds_with_cash_flows_and_a_discount_period():
    model = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                           time_unit="W")
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    kw = dict(horizon=6, time_unit="W", discount_rate=0.1, discount_period="Y")
    expected, flows = customer_lifetime_value(model, gg, SUMMARY, cash_flows=True, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = customer_lifetime_value(model, gg, SUMMARY, cash_flows=True, interval=0.8,
                                      interval_kind="predictive", n_simulations=50,
                                      random_state=1, **kw)
    assert isinstance(out, tuple) and len(out) == 2
    table, predictive_flows = out
    pd.testing.assert_frame_equal(predictive_flows, flows)
    np.testing.assert_allclose(table["clv"], expected["clv"], rtol=1e-12)
    np.testing.assert_allclose(flows["discount_factor"].iloc[:6],
                               1.1 ** (-np.arange(1, 7) * 7 / 365.25), rtol=1e-12)
    assert (table["clv_predictive_upper"] >= table["clv_predictive_lower"]).all()
    assert (table["clv_predictive_upper"] > 0).any()


def test_a_posterior_of_identical_draws_gives_the_plug_in_clv():
    model = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                           time_unit="W")
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    plain = customer_lifetime_value(model, gg, SUMMARY, horizon=5, time_unit="W",
                                    discount_rate=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no covariance for intervals: none are asked for
        out = customer_lifetime_value(_posterior(model), gg, SUMMARY, horizon=5,
                                      time_unit="W", discount_rate=0.05, random_state=0)
    assert list(out.columns) == ["expected_purchases", "expected_spend", "clv"]
    assert out.index.equals(SUMMARY.index)
    pd.testing.assert_frame_equal(out, plain, rtol=1e-10)
    # The remaining lifetime: DERT of the identical draws is the plug-in DERT.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = customer_lifetime_value(model, gg, SUMMARY, horizon=None, time_unit="W",
                                        discount_rate=0.05)
        out = customer_lifetime_value(_posterior(model), gg, SUMMARY, horizon=None,
                                      time_unit="W", discount_rate=0.05, random_state=0)
    pd.testing.assert_frame_equal(out, plain, rtol=1e-10)


def test_a_bayesian_spend_model_averages_its_draws():
    """A plug-in purchase model with a spend posterior: CLV is purchases times the
    mean over the 6 posterior draws of each draw's expected spend."""
    model = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                           time_unit="W")
    draws = np.array([[6.0, 4.0, 15.0], [5.0, 3.0, 12.0], [7.0, 5.0, 20.0],
                      [6.5, 3.5, 14.0], [5.5, 4.5, 18.0], [6.2, 3.8, 16.0]])
    gg = GammaGammaModel(method="nuts").with_parameters(
        dict(zip("pqv", draws.mean(axis=0))))
    gg.idata_ = az.from_dict(posterior={n: draws[:, i].reshape(2, 3)
                                        for i, n in enumerate("pqv")})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = customer_lifetime_value(model, gg, SUMMARY, horizon=4, time_unit="W",
                                      random_state=0)
    spend = np.mean([GammaGammaModel().with_parameters(dict(zip("pqv", row)))
                     .expected_spend(SUMMARY).to_numpy() for row in draws], axis=0)
    purchases = model.expected_purchases(SUMMARY, t=4).to_numpy()
    np.testing.assert_allclose(out["expected_spend"], spend, rtol=1e-9)
    np.testing.assert_allclose(out["clv"], spend * purchases, rtol=1e-9)


def test_random_spend_draws_follow_the_seed():
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    gg.cov_log_ = pd.DataFrame(np.eye(3) * 0.01, index=gg.cov_log_.index,
                               columns=gg.cov_log_.columns)
    runs = [customer_lifetime_value(Rate(0.5), gg, SUMMARY, horizon=2, time_unit="W",
                                    interval=0.8, n_draws=20, random_state=seed)
            for seed in (3, 3, 4)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    assert not np.allclose(runs[0]["clv_lower"], runs[2]["clv_lower"])


def test_a_horizon_must_be_a_whole_finite_number():
    for horizon in (True, np.inf, np.nan, 0, 2.5):
        with pytest.raises(ValueError, match="horizon must be a whole number of steps"):
            customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=horizon,
                                    time_unit="W")
