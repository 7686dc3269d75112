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
from clvmodels.models.pareto_nbd import ParetoNBDModel

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


def test_lifetime_of_daily_steps_with_an_annual_rate():
    """An annual rate over daily steps discounts each step by d = 1.1**(-1 / 365.25):
    the sum reaches 1e-12 of its rest only after 137,000 whole steps, so a continuous
    model's lifetime needs the quadrature of the tail; DERT = c d / (1 - d) with
    c = 0.5 / 7 (1 + x) purchases per day."""
    out = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=None,
                                  time_unit="D", discount_rate=0.1, discount_period="Y")
    d = 1.1 ** (-1 / 365.25)
    np.testing.assert_allclose(out["dert"], 0.5 / 7 * (1.0 + FREQ) * d / (1 - d), rtol=1e-6)


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


def test_a_model_of_opportunities_refuses_steps_of_another_length_by_name():
    summary = SUMMARY.copy()
    summary.attrs["period"] = "W"
    with pytest.raises(ValueError, match="^Opportunities counts transaction opportunities, "
                                         "one per period of its summary \\('W'\\)"):
        customer_lifetime_value(Opportunities(0.25), FixedSpend(), summary, horizon=3,
                                time_unit="D")


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
    for n_draws in (1, 1.5, 2.5, True):
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
    return stats.binom.cdf(j - 1, n, np.minimum(np.cumsum(pmf), 1.0)).sum()


def _upper_bound_mean(pmf, n, j, c):
    """E of the upper bound of n simulated counts whose lower bound is X_(j): the c-th
    value from the lowest one equal to X_(j) (positive values are distinct: their
    amounts are continuous), so X_(j + c - 1) if X_(j) > 0 and X_(c) if X_(j) = 0, i.e.
    at least j of the n are 0. The sum over k of P(bound > k), where X_(m) > k when
    at most m - 1 counts are <= k: (N0, N1) zeros and counts in 1..k are multinomial."""
    p0 = pmf[0]
    n0 = np.arange(n + 1)[:, None]
    n1 = np.arange(n + 1)[None, :]
    total = 0.0
    for F in np.minimum(np.cumsum(pmf), 1.0):
        share = 0.0 if p0 >= 1 else min(max((F - p0) / (1 - p0), 0.0), 1.0)
        prob = stats.binom.pmf(n0, n, p0) * stats.binom.pmf(n1, n - n0, share)
        low_is_positive = n0 <= j - 1
        at_most = np.where(low_is_positive, j + c - 2, c - 1)
        total += prob[(n0 + n1 <= at_most) & (n1 <= n - n0)].sum()
    return total


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
    # About 45 purchases a week if alive, so the count is mostly that of the purchases
    # before the dropout: Geometric(p), p ~ Beta(a, b + x + 1) for MBG/NBD (the extra
    # chance to drop out at the first purchase), E[1 / p] = 1 + b + 1 here.
    "mbgnbd_fast_buyer": (ModifiedBetaGeoModel, {"r": 50.0, "alpha": 1.0, "a": 2.0, "b": 2.0},
                          (0, 0.0, 0.001, 0.0)),
    # One repeat purchase of 2,000: the mean amount p (v + m) / (q + p) reads it.
    "bgnbd_one_repeat": (BetaGeoModel, {"r": 8.0, "alpha": 2.0, "a": 2.0, "b": 0.5},
                         (1, 0.9, 1.0, 2000.0)),
    # s = 0.005: many dropout rates mu underflow to 0 (a lifetime of 1 / 0), silently.
    "pareto_slow_dropout": (ParetoNBDModel, {"r": 8.0, "alpha": 2.0, "s": 0.005, "beta": 1.0},
                            (2, 0.8, 1.0, 30.0)),
}
GG = {"p": 1e4, "q": 2e6, "v": 2000.0}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_predictive_bounds_are_order_statistics_of_the_first_step(name):
    """Ten simulations per customer: the bounds are order statistics of the simulated
    values, whose distribution the exact PMF gives. A discount of 1e6 per week makes
    the second week's purchases worth 1e-6 of the first's, so value / (amount x d)
    is the count of the first week; the mean over 2,000 identical customers is compared
    with E[X_(j)] of that count. Each amount averages p (v + x m) / (q + p x) (FH 2013).
    Plug-in models warn of nothing: the simulation silences its own floating-point
    warnings (dropout rates that underflow to 0)."""
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
    # interval 0.95: from the lowest of 10, 10 values: the highest; 0.5: from the 3rd
    # (the 0.25 quantile), 5 values (half of them).
    for seed, (interval, j_low, c) in enumerate(((0.95, 1, 10), (0.5, 3, 5))):
        with warnings.catch_warnings():
            # The posterior's CLV draws the spend model too, which has no covariance.
            warnings.simplefilter("ignore" if name.endswith("posterior") else "error")
            out = customer_lifetime_value(model, gg, many, horizon=2, time_unit="W",
                                          discount_rate=rate, interval=interval,
                                          interval_kind="predictive", n_simulations=n_sims,
                                          random_state=seed)
        for column, exact in (
                ("clv_predictive_lower", _order_statistic_mean(pmf, j_low, n_sims)),
                ("clv_predictive_upper", _upper_bound_mean(pmf, n_sims, j_low, c))):
            counts = out[column].to_numpy() * (1 + rate) / amount
            se = max(counts.std(), 0.3) / np.sqrt(n_customers)
            assert abs(counts.mean() - exact) < 4 * se, (column, counts.mean(), exact)


def test_predictive_bounds_of_covariate_models_use_each_customers_parameters():
    """Covariates (log-links): web customers have alpha / 10 (ten times the purchase
    rate) and v * 3 (three times the amount). Each customer's simulated first-week
    counts follow the plain models set to their own parameters: the same order
    statistics as above, for 1,000 customers with web = 1 and 1,000 without."""
    base = {"r": 8.0, "alpha": 2.0, "a": 2.0, "b": 0.5}
    model = BetaGeoModel(purchase_covariates=["web"]).with_parameters(
        {**base, "purchase_coef[web]": np.log(10.0)}, time_unit="W")
    gg = GammaGammaModel(spend_covariates=["web"]).with_parameters(
        {**GG, "spend_coef[web]": np.log(3.0)})
    row, n_sims, rate = (0, 0.0, 1.0, 0.0), 10, 1e6
    many = _summary([row] * 2000)
    web = np.arange(2000) % 2 == 1
    many["web"] = web.astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = customer_lifetime_value(model, gg, many, horizon=2, time_unit="W",
                                      discount_rate=rate, interval=0.95,
                                      interval_kind="predictive", n_simulations=n_sims,
                                      random_state=3)
    for group, alpha, v in ((web, 0.2, 6000.0), (~web, 2.0, 2000.0)):
        plain = BetaGeoModel().with_parameters({**base, "alpha": alpha}, time_unit="W")
        pmf = plain.conditional_probability_of_purchases(_summary([row]), 1.0,
                                                         np.arange(300)).to_numpy()[0]
        amount = GG["p"] * v / GG["q"]  # x = 0: p v / q
        for column, j in (("clv_predictive_lower", 1), ("clv_predictive_upper", n_sims)):
            counts = out.loc[group, column].to_numpy() * (1 + rate) / amount
            exact = _order_statistic_mean(pmf, j, n_sims)
            se = max(counts.std(), 0.3) / np.sqrt(group.sum())
            assert abs(counts.mean() - exact) < 4 * se, (column, alpha, counts.mean(), exact)


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


# --------------------------------------------------------------------------- defaults and seeds

def _gg_with_covariance():
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    gg.cov_log_ = pd.DataFrame(np.eye(3) * 0.01, index=gg.cov_log_.index,
                               columns=gg.cov_log_.columns)
    return gg


def test_the_defaults_are_200_draws_and_1000_simulations():
    """The documented defaults: without a posterior 200 parameter draws, and 1,000
    simulated futures per customer; with the same seed a call that names them gives
    the same bounds (random spend draws: their quantiles depend on their number)."""
    gg = _gg_with_covariance()
    kw = dict(horizon=2, time_unit="W", interval=0.8, random_state=7)
    pd.testing.assert_frame_equal(
        customer_lifetime_value(Rate(0.5), gg, SUMMARY, **kw),
        customer_lifetime_value(Rate(0.5), gg, SUMMARY, n_draws=200, **kw))
    model = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                           time_unit="W")
    plain = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    kw = dict(kw, interval_kind="predictive")
    default = customer_lifetime_value(model, plain, SUMMARY, **kw)
    pd.testing.assert_frame_equal(
        default, customer_lifetime_value(model, plain, SUMMARY, n_simulations=1000, **kw))
    assert (default["clv_predictive_upper"] > 0).any()


def _varied_posterior(model, n_chains=2, n_draws=20, seed=0):
    """The model as a 'NUTS fit' with 40 different posterior draws around its estimates."""
    names = type(model).param_names()
    values = np.asarray(model._params_tuple())
    fit = type(model)(method="nuts").with_parameters(dict(zip(names, values)), time_unit="W")
    scale = np.exp(np.random.default_rng(seed).normal(0.0, 0.3, (n_chains, n_draws,
                                                                 len(names))))
    fit.idata_ = az.from_dict(posterior={n: v * scale[..., i]
                                         for i, (n, v) in enumerate(zip(names, values))})
    return fit


def test_a_predictive_interval_keeps_the_expected_clv_of_its_draws_and_seed():
    """The point estimate of a predictive call is that of the same call without the
    interval: the posterior mean over the same ``n_draws`` draws (5 of 40, chosen by the
    seed); the bounds are reproducible from the seed (10 simulations: 10 of the 40
    posterior draws, chosen by the seed too)."""
    model = _varied_posterior(BetaGeoModel().with_parameters(
        {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8}, time_unit="W"))
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    kw = dict(horizon=3, time_unit="W", discount_rate=0.01, n_draws=5, random_state=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the spend model has no covariance: held fixed
        expected = customer_lifetime_value(model, gg, SUMMARY, **kw)
        runs = [customer_lifetime_value(model, gg, SUMMARY, interval=0.8,
                                        interval_kind="predictive", n_simulations=10, **kw)
                for _ in range(2)]
        every = customer_lifetime_value(model, gg, SUMMARY, **dict(kw, n_draws=40))
    pd.testing.assert_frame_equal(runs[0], runs[1])
    pd.testing.assert_frame_equal(runs[0][list(expected.columns)], expected)
    # Five draws are not the posterior mean over all 40.
    assert not np.allclose(expected["clv"], every["clv"], rtol=1e-3)


def test_a_plug_in_clv_draws_no_parameters():
    """Without an interval or a posterior the CLV is the plug-in value: no parameter
    draws, so no warning that models set by hand have no covariance."""
    model = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                           time_unit="W")
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = customer_lifetime_value(model, gg, SUMMARY, horizon=1, time_unit="W",
                                      margin=0.5)
    spend = gg.expected_spend(SUMMARY).to_numpy()
    purchases = model.expected_purchases(SUMMARY, t=1).to_numpy()
    np.testing.assert_allclose(out["clv"], 0.5 * spend * purchases, rtol=1e-12)


# --------------------------------------------------------------------------- generic path, blocks

class KernelRate:
    """A purchase model with clvmodels' fast kernel (one call per parameter draw for all
    customers) but without vectorised draws: CLV intervals take the generic path.
    ``rate * (1 + frequency)`` purchases per week; a rate <= 0 has no defined value."""

    def __init__(self, rate=0.5):
        self.rate = rate

    def _params_tuple(self):
        return (self.rate,)

    def _purchases_kernel(self, summary):
        f = summary["frequency"].to_numpy(dtype=float)
        cache = {}

        def kernel(times, params, combine=None):
            (rate,) = params
            if rate <= 0:
                raise ValueError("no defined value")
            key = (tuple(times), None if combine is None else combine.tobytes())
            if key not in cache:  # per unit rate
                base = np.outer(1.0 + f, times)
                cache[key] = base if combine is None else base @ combine
            return rate * cache[key]

        return summary.index, kernel

    def sample_parameters(self, n, random_state=None):
        return pd.DataFrame({"rate": np.linspace(-0.1, 1.0, n)})


class KernelSpend:
    """``10 + monetary_value`` through a spend kernel, without parameters."""

    def _params_tuple(self):
        return ()

    def _spend_kernel(self, summary):
        m = summary["monetary_value"].to_numpy(dtype=float)
        return summary.index, lambda params: 10.0 + m


def test_the_generic_interval_in_blocks_of_customers():
    """20,000 draws: the generic path takes blocks of 1,000 customers (at most 2e7 values
    at a time), so 1,001 customers take two blocks, the second of one customer. Each
    bound is the quantile of the defined draws (rates > 0) times the customer's
    (1 + x) spend; the draws without a value are counted once per block."""
    n = 1001
    i = np.arange(n)
    summary = _summary([(k % 5, 1.0, 2.0, 3.0 * (k % 7)) for k in i])
    rates = np.linspace(-0.1, 1.0, 20_000)
    with pytest.warns(Warning) as record:
        out = customer_lifetime_value(KernelRate(), KernelSpend(), summary, horizon=2,
                                      time_unit="W", margin=0.5, interval=0.8,
                                      n_draws=20_000)
    scale = 0.5 * 2 * (1.0 + i % 5) * (10.0 + 3.0 * (i % 7))
    low, high = np.quantile(rates[rates > 0], [0.1, 0.9])
    np.testing.assert_allclose(out["clv"], 0.5 * scale, rtol=1e-12)
    np.testing.assert_allclose(out["clv_lower"], low * scale, rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"], high * scale, rtol=1e-12)
    failed = 2 * int((rates <= 0).sum())
    assert [str(w.message).split(" ")[0] for w in record] == [str(failed)]
