"""customer_lifetime_value, value by value: intervals of duck-typed models computed by
hand, posterior means, predictive bounds against the exact purchase distribution
(mutants of clv.py that the CLV tests let through; see tests/mutation/README.md)."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

from clvmodels.clv import customer_lifetime_value
from clvmodels.exceptions import ClvModelsWarning
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel


def _summary(rows, unit="W"):
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T", "monetary_value"],
                         index=pd.Index([f"c{i}" for i in range(len(rows))], name="id"))
    frame.attrs["time_unit"] = unit
    return frame


SUMMARY = _summary([(0, 0.0, 30.0, 0.0), (2, 20.0, 30.0, 12.0), (5, 28.0, 30.0, 40.0),
                    (1, 3.0, 52.0, 8.0)])


class Rate:
    """Purchases at a constant rate per week; draws are a fixed grid of rates."""

    def __init__(self, rate, fail_above=None, grid=(0.1, 1.0)):
        self.rate = rate
        self.fail_above = fail_above
        self.grid = grid

    def expected_purchases(self, summary, t):
        if self.fail_above is not None and self.rate > self.fail_above:
            raise ValueError("no defined value")
        # Reversed order: the CLV aligns by customer id.
        return pd.Series(self.rate * t * (1.0 + summary["frequency"]),
                         index=summary.index)[::-1]

    def sample_parameters(self, n, random_state=None):
        return pd.DataFrame({"rate": np.linspace(*self.grid, n)})

    def with_parameters(self, row):
        return Rate(float(row["rate"]), self.fail_above, self.grid)


class Spend:
    """A fixed spend per customer; draws scale it by a fixed grid of factors."""

    def __init__(self, factor=1.0, sampled=True):
        self.factor = factor
        if not sampled:
            self.sample_parameters = None
            del self.sample_parameters

    def expected_spend(self, summary):
        return self.factor * (10.0 + summary["monetary_value"])

    def sample_parameters(self, n, random_state=None):
        return pd.DataFrame({"factor": np.linspace(0.5, 1.5, n)})

    def with_parameters(self, row):
        return Spend(float(row["factor"]))


class FixedSpend:
    def expected_spend(self, summary):
        return 10.0 + summary["monetary_value"]


def test_interval_of_duck_typed_models_is_the_quantile_of_the_draws():
    out = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=4, time_unit="W",
                                  interval=0.8, n_draws=11, margin=0.5)
    spend = 10.0 + SUMMARY["monetary_value"].to_numpy()
    scale = 0.5 * spend * 4 * (1.0 + SUMMARY["frequency"].to_numpy())
    rates = np.linspace(0.1, 1.0, 11)
    np.testing.assert_allclose(out["clv"], scale * 0.5, rtol=1e-12)
    np.testing.assert_allclose(out["expected_purchases"],
                               2.0 * (1.0 + SUMMARY["frequency"].to_numpy()), rtol=1e-12)
    np.testing.assert_allclose(out["expected_spend"], spend, rtol=1e-12)
    np.testing.assert_allclose(out["clv_lower"], scale * np.quantile(rates, 0.1), rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"], scale * np.quantile(rates, 0.9), rtol=1e-12)
    assert list(out.index) == list(SUMMARY.index)


def test_both_duck_models_are_drawn_jointly():
    out = customer_lifetime_value(Rate(0.5), Spend(), SUMMARY, horizon=2, time_unit="W",
                                  interval=0.5, n_draws=5)
    spend = 10.0 + SUMMARY["monetary_value"].to_numpy()
    per_draw = (np.linspace(0.1, 1.0, 5) * np.linspace(0.5, 1.5, 5))[:, None] * (
        spend * 2 * (1.0 + SUMMARY["frequency"].to_numpy()))
    np.testing.assert_allclose(out["clv_lower"], np.quantile(per_draw, 0.25, axis=0),
                               rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"], np.quantile(per_draw, 0.75, axis=0),
                               rtol=1e-12)


def test_draws_without_a_defined_value_are_counted_and_left_out():
    with pytest.warns(ClvModelsWarning, match=r"^4 parameter draw\(s\)"):
        out = customer_lifetime_value(Rate(0.5, fail_above=0.65), FixedSpend(), SUMMARY,
                                      horizon=1, time_unit="W", interval=0.5, n_draws=10)
    spend = 10.0 + SUMMARY["monetary_value"].to_numpy()
    kept = np.linspace(0.1, 1.0, 10)[:6]
    scale = spend * (1.0 + SUMMARY["frequency"].to_numpy())
    np.testing.assert_allclose(out["clv_lower"], scale * np.quantile(kept, 0.25), rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"], scale * np.quantile(kept, 0.75), rtol=1e-12)
    with pytest.warns(ClvModelsWarning, match=r"^10 parameter draw\(s\)"):
        none = customer_lifetime_value(Rate(0.5, 0.6, grid=(0.7, 1.0)), FixedSpend(), SUMMARY,
                                       horizon=1, time_unit="W", interval=0.5, n_draws=10)
    assert none["clv_lower"].isna().all() and none["clv_upper"].isna().all()


def test_a_model_returning_too_few_values_is_refused():
    class Short(Rate):
        def expected_purchases(self, summary, t):
            return np.ones(len(summary) - 1)

    with pytest.raises(ValueError, match="expected_purchases returned 3 values for 4"):
        customer_lifetime_value(Short(1.0), FixedSpend(), SUMMARY, horizon=1, time_unit="W")


def test_cash_flows_of_a_duck_model():
    clv, flows = customer_lifetime_value(Rate(0.5), FixedSpend(), SUMMARY, horizon=3,
                                         time_unit="W", discount_rate=0.1, margin=2.0,
                                         cash_flows=True)
    assert list(flows.columns) == ["id", "period", "expected_purchases", "cash_flow",
                                   "discount_factor", "discounted_cash_flow"]
    c1 = flows[flows["id"] == "c1"]
    assert c1["period"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(c1["expected_purchases"], [1.5] * 3, rtol=1e-12)
    np.testing.assert_allclose(c1["cash_flow"], [2 * 22.0 * 1.5] * 3, rtol=1e-12)
    np.testing.assert_allclose(c1["discount_factor"], 1.1 ** -np.arange(1.0, 4.0), rtol=1e-12)
    np.testing.assert_allclose(c1["discounted_cash_flow"].sum(), clv.loc["c1", "clv"],
                               rtol=1e-12)


@pytest.fixture(scope="module")
def mocked_posterior():
    """A BG/NBD 'NUTS fit' with 40 posterior draws near the CDNOW estimates (weeks)."""
    rng = np.random.default_rng(5)
    base = np.array([0.243, 4.41, 0.793, 2.43])
    draws = base * np.exp(rng.normal(0, 0.1, (2, 20, 4)))
    names = BetaGeoModel.param_names()
    model = BetaGeoModel(method="nuts").with_parameters(
        dict(zip(names, draws.reshape(-1, 4).mean(axis=0))), time_unit="W")
    model.idata_ = az.from_dict(posterior={n: draws[..., i] for i, n in enumerate(names)})
    return model, draws.reshape(-1, 4)


def test_a_bayesian_fit_averages_every_posterior_draw(mocked_posterior):
    model, draws = mocked_posterior
    out = customer_lifetime_value(model, FixedSpend(), SUMMARY, horizon=3, time_unit="W",
                                  discount_rate=0.05, random_state=0)
    factors = 1.05 ** -np.arange(1.0, 4.0)
    per_draw = []
    for row in draws:
        one = model.with_parameters(dict(zip(model.param_names(), row)), time_unit="W")
        cumulative = np.column_stack([np.zeros(len(SUMMARY))] + [
            one.expected_purchases(SUMMARY, t=k).to_numpy() for k in (1, 2, 3)])
        per_draw.append((np.diff(cumulative, axis=1) * factors).sum(axis=1))
    spend = 10.0 + SUMMARY["monetary_value"].to_numpy()
    np.testing.assert_allclose(out["clv"], spend * np.mean(per_draw, axis=0), rtol=1e-9)
    # Expected purchases: the posterior mean over the whole horizon, undiscounted.
    total = [model.with_parameters(dict(zip(model.param_names(), row)), time_unit="W")
             .expected_purchases(SUMMARY, t=3).to_numpy() for row in draws]
    np.testing.assert_allclose(out["expected_purchases"], np.mean(total, axis=0), rtol=1e-9)


def test_a_model_without_covariance_gives_nan_bounds_and_the_plug_in_value():
    bg = BetaGeoModel().with_parameters({"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43},
                                        time_unit="W")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = customer_lifetime_value(bg, FixedSpend(), SUMMARY, horizon=5, time_unit="W",
                                      interval=0.9, n_draws=10, random_state=0)
        plain = customer_lifetime_value(bg, FixedSpend(), SUMMARY, horizon=5, time_unit="W")
    assert out["clv_lower"].isna().all() and out["clv_upper"].isna().all()
    np.testing.assert_allclose(out["clv"], plain["clv"], rtol=1e-12)


# --------------------------------------------------------------------------- predictive bounds

GG_CONSTANT = {"p": 1e6, "q": 1e6, "v": 25.0}  # every amount is 25 (to 0.3%)


def _gamma_gamma_constant():
    return GammaGammaModel().with_parameters(GG_CONSTANT)


MODELS = {
    "bgnbd": (BetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8}),
    "mbgnbd": (ModifiedBetaGeoModel, {"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8}),
    "pareto_nbd": (ParetoNBDModel, {"r": 0.8, "alpha": 6.0, "s": 0.7, "beta": 9.0}),
}
CUSTOMERS = [(3, 20.0, 30.0, 25.0), (0, 0.0, 10.0, 0.0), (8, 29.0, 30.0, 25.0)]


def _exact_bounds(pmf, interval):
    """The interval rule on the exact distribution of the purchase count, and the
    distance of its two targets from a step of the distribution function.

    Values of customers without a purchase tie at 0: when the lower bound is 0,
    nothing lies below it and the upper bound is the ``interval`` quantile. Other
    values are sums of amounts that vary a little, so they do not tie, and the
    upper bound is the ``(1 + interval) / 2`` quantile.
    """
    cdf = np.cumsum(pmf)
    lo_q = (1 - interval) / 2
    lower = int(np.argmax(cdf >= lo_q))
    target = interval if lower == 0 else lo_q + interval
    upper = int(np.argmax(cdf >= target))
    margin = min(np.min(np.abs(cdf - lo_q)), np.min(np.abs(cdf - target)))
    return lower, upper, margin


@pytest.mark.parametrize("name", sorted(MODELS))
def test_predictive_bounds_are_the_quantiles_of_the_purchase_count(name):
    """With every amount equal (25), no discount and a margin, the bounds are 25 x
    margin x the bounds of the exact distribution of the purchase count."""
    cls, params = MODELS[name]
    model = cls().with_parameters(params, time_unit="W")
    gg = _gamma_gamma_constant()
    for i, row in enumerate(CUSTOMERS):
        one = _summary([row])
        pmf = model.conditional_probability_of_purchases(one, 26.0, np.arange(200)).to_numpy()[0]
        for interval in np.arange(0.5, 0.95, 0.01):
            lower, upper, margin = _exact_bounds(pmf, interval)
            if margin > 0.015:  # far from a step: 4 standard errors of 20,000 simulations
                break
        else:  # pragma: no cover - the customers are chosen so that this never happens
            raise AssertionError(f"no interval away from a step for customer {i}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = customer_lifetime_value(model, gg, one, horizon=26, time_unit="W",
                                          margin=0.5, interval=interval,
                                          interval_kind="predictive", n_simulations=20000,
                                          random_state=i)
        assert out["clv_predictive_lower"].iloc[0] == pytest.approx(12.5 * lower, rel=0.01,
                                                                    abs=1e-9)
        assert out["clv_predictive_upper"].iloc[0] == pytest.approx(12.5 * upper, rel=0.01,
                                                                    abs=1e-9)


def test_predictive_bounds_of_one_step_are_discounted_once():
    model = BetaGeoModel().with_parameters(MODELS["bgnbd"][1], time_unit="W")
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    kw = dict(horizon=1, time_unit="Y", interval=0.8, interval_kind="predictive",
              n_simulations=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = customer_lifetime_value(model, gg, SUMMARY, random_state=4, **kw)
        discounted = customer_lifetime_value(model, gg, SUMMARY, random_state=4,
                                             discount_rate=0.25, margin=3.0, **kw)
    assert (plain["clv_predictive_upper"] > 0).sum() == 3
    np.testing.assert_allclose(discounted["clv_predictive_upper"],
                               plain["clv_predictive_upper"] * 3.0 / 1.25, rtol=1e-12)
    np.testing.assert_allclose(discounted["clv_predictive_lower"],
                               plain["clv_predictive_lower"] * 3.0 / 1.25, rtol=1e-12)
    np.testing.assert_allclose(discounted["clv"], plain["clv"] * 3.0 / 1.25, rtol=1e-12)


def test_predictive_bounds_need_enough_simulations_and_known_models():
    model = BetaGeoModel().with_parameters(MODELS["bgnbd"][1], time_unit="W")
    with pytest.raises(ValueError, match="n_simulations must be at least 10, got 9"):
        customer_lifetime_value(model, _gamma_gamma_constant(), SUMMARY, horizon=2,
                                time_unit="W", interval=0.8, interval_kind="predictive",
                                n_simulations=9)
    customer_lifetime_value(model, _gamma_gamma_constant(), SUMMARY, horizon=2,
                            time_unit="W", interval=0.8, interval_kind="predictive",
                            n_simulations=10)
    with pytest.raises(ValueError, match="Predictive CLV intervals need"):
        customer_lifetime_value(model, FixedSpend(), SUMMARY, horizon=2, time_unit="W",
                                interval=0.8, interval_kind="predictive")


def test_a_clvmodels_purchase_model_with_a_drawn_duck_spend_model():
    """The path for spend models without vectorised draws: the purchase model's
    asymptotic draws (as sample_parameters gives them) paired with the spend draws."""
    from clvmodels.datasets import load_cdnow
    from clvmodels.data import rfm_summary

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = rfm_summary(load_cdnow("sample"), "customer_id", "date", "amount",
                              time_unit="W").iloc[:300]
        bg = BetaGeoModel().fit(summary)
    part = SUMMARY
    out = customer_lifetime_value(bg, Spend(), part, horizon=3, time_unit="W", interval=0.6,
                                  n_draws=7, random_state=11)
    draws = bg.sample_parameters(7, random_state=np.random.default_rng(11))
    factors = np.linspace(0.5, 1.5, 7)
    spend = 10.0 + part["monetary_value"].to_numpy()
    values = []
    for (_, row), factor in zip(draws.iterrows(), factors):
        one = bg.with_parameters(row, time_unit="W")
        values.append(factor * spend * one.expected_purchases(part, t=3).to_numpy())
    np.testing.assert_allclose(out["clv_lower"], np.quantile(values, 0.2, axis=0), rtol=1e-9)
    np.testing.assert_allclose(out["clv_upper"], np.quantile(values, 0.8, axis=0), rtol=1e-9)


def test_cash_flows_of_an_unnamed_index_are_keyed_by_customer_id():
    unnamed = SUMMARY.copy()
    unnamed.index.name = None
    _, flows = customer_lifetime_value(Rate(0.5), FixedSpend(), unnamed, horizon=2,
                                       time_unit="W", cash_flows=True)
    assert flows.columns[0] == "customer_id"
    assert flows["customer_id"].tolist() == ["c0", "c0", "c1", "c1", "c2", "c2", "c3", "c3"]


def test_predictive_bounds_refuse_a_duck_purchase_model():
    with pytest.raises(ValueError, match="Predictive CLV intervals need"):
        customer_lifetime_value(Rate(0.5), _gamma_gamma_constant(), SUMMARY, horizon=2,
                                time_unit="W", interval=0.8, interval_kind="predictive")


def test_a_spend_model_returning_too_few_values_is_refused(mocked_posterior):
    class Short:
        def expected_spend(self, summary):
            return np.ones(len(summary) - 1)

    model, _ = mocked_posterior
    for purchases in (model, Rate(0.5)):  # vectorised and generic paths
        with pytest.raises(ValueError, match="expected_spend returned 3 values for 4"):
            customer_lifetime_value(purchases, Short(), SUMMARY, horizon=2, time_unit="W")


def test_no_bounds_when_the_purchase_model_has_no_covariance_even_if_spend_has():
    bg = BetaGeoModel().with_parameters({"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43},
                                        time_unit="W")
    gg = GammaGammaModel().with_parameters({"p": 6.25, "q": 3.74, "v": 15.44})
    gg.cov_log_ = pd.DataFrame(np.eye(3) * 0.01, index=gg.cov_log_.index,
                               columns=gg.cov_log_.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = customer_lifetime_value(bg, gg, SUMMARY, horizon=5, time_unit="W",
                                      interval=0.9, n_draws=10, random_state=0)
    assert out["clv_lower"].isna().all() and out["clv_upper"].isna().all()
    assert out["clv"].notna().all()
