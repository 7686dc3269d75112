"""customer_lifetime_value: agreement with lifetimes, units, discounting, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels.clv import customer_lifetime_value
from clvmodels.units import convert


def test_equals_lifetimes_when_conventions_match(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary):
    # lifetimes steps in months of the model's unit; with everything in months both
    # compute the same sum.
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    months = cdnow_summary.copy()
    months[["recency", "T"]] = convert(months[["recency", "T"]], "W", "M")
    months.attrs["time_unit"] = "M"
    params = fitted_bgnbd.params_.copy()
    params["alpha"] = convert(params["alpha"], "W", "M")
    bg_m = fitted_bgnbd.with_parameters(params, time_unit="M")
    ours = customer_lifetime_value(bg_m, fitted_gamma_gamma, months, horizon=12, time_unit="M",
                                   discount_rate=0.01)
    ref_bg = BetaGeoFitter()
    ref_bg.params_ = params
    ref_bg.predict = ref_bg.conditional_expected_number_of_purchases_up_to_time
    ref_gg = GammaGammaFitter()
    ref_gg.params_ = fitted_gamma_gamma.params_.copy()
    theirs = ref_gg.customer_lifetime_value(
        ref_bg, months["frequency"], months["recency"], months["T"], months["monetary_value"],
        time=12, discount_rate=0.01, freq="M")
    np.testing.assert_allclose(ours["clv"].to_numpy(), theirs.to_numpy(), rtol=1e-6)


def test_undiscounted_clv_is_purchases_times_spend(fitted_bgnbd, fitted_gamma_gamma,
                                                   cdnow_summary):
    out = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, horizon=52,
                                  time_unit="W", margin=0.3)
    expected = fitted_bgnbd.expected_purchases(cdnow_summary, 52)
    spend = fitted_gamma_gamma.expected_spend(cdnow_summary)
    np.testing.assert_allclose(out["expected_purchases"], expected, rtol=1e-12)
    np.testing.assert_allclose(out["expected_spend"], spend, rtol=1e-12)
    np.testing.assert_allclose(out["clv"], 0.3 * expected * spend, rtol=1e-10)
    assert out.index.equals(cdnow_summary.index)
    assert list(out.columns) == ["expected_purchases", "expected_spend", "clv"]


def test_steps_are_converted_to_the_model_unit(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary):
    # 12 months of 30.4375 days = 365.25 days = 52.178... weeks (no 30-day months).
    out = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 12, "M")
    weeks = 365.25 / 7
    np.testing.assert_allclose(out["expected_purchases"],
                               fitted_bgnbd.expected_purchases(cdnow_summary, weeks), rtol=1e-12)
    yearly = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 1, "Y")
    np.testing.assert_allclose(yearly["clv"], out["clv"], rtol=1e-12)


def test_discount_rate_is_converted_exactly_between_periods(fitted_bgnbd, fitted_gamma_gamma,
                                                            cdnow_summary):
    annual = 0.12
    monthly = (1 + annual) ** (1 / 12) - 1
    a = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 24, "M",
                                discount_rate=annual, discount_period="Y")
    b = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 24, "M",
                                discount_rate=monthly)
    np.testing.assert_allclose(a["clv"], b["clv"], rtol=1e-12)
    undiscounted = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 24,
                                           "M")
    assert np.all(a["clv"] < undiscounted["clv"])


def test_cash_flows_in_long_format_add_up(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary):
    out, flows = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 6, "M",
                                         discount_rate=0.02, cash_flows=True)
    assert len(flows) == 6 * len(cdnow_summary)
    assert list(flows.columns) == ["customer_id", "period", "expected_purchases", "cash_flow",
                                   "discount_factor", "discounted_cash_flow"]
    per_customer = flows.groupby("customer_id", sort=False)["discounted_cash_flow"].sum()
    np.testing.assert_allclose(per_customer.to_numpy(), out["clv"].to_numpy(), rtol=1e-12)
    purchases = flows.groupby("customer_id", sort=False)["expected_purchases"].sum()
    np.testing.assert_allclose(purchases.to_numpy(), out["expected_purchases"].to_numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(flows.loc[flows["period"] == 3, "discount_factor"], 1.02 ** -3)


class ConstantRate:
    """A duck-typed purchase model: Poisson purchases at one rate per week."""

    time_unit_ = "W"

    def __init__(self, rate):
        self.rate = rate

    def expected_purchases(self, summary, t):
        return pd.Series(self.rate * t, index=summary.index)


class ObservedSpend:
    def expected_spend(self, summary):
        return summary["monetary_value"].where(summary["frequency"] > 0, 10.0)


def test_any_objects_with_the_two_methods_work(cdnow_summary):
    out = customer_lifetime_value(ConstantRate(0.5), ObservedSpend(), cdnow_summary, 4, "W",
                                  discount_rate=0.1)
    spend = ObservedSpend().expected_spend(cdnow_summary)
    factor = sum(0.5 / 1.1 ** k for k in range(1, 5))
    np.testing.assert_allclose(out["clv"], spend * factor, rtol=1e-12)


def test_input_is_not_mutated(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary):
    before = cdnow_summary.copy()
    customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, 3, "M",
                            interval=0.8, n_draws=20, random_state=1, cash_flows=True)
    pd.testing.assert_frame_equal(cdnow_summary, before)
    assert cdnow_summary.attrs == {"time_unit": "W"}


def test_interval_reflects_both_models_uncertainty(fitted_bgnbd, fitted_gamma_gamma,
                                                   cdnow_summary):
    kw = dict(horizon=12, time_unit="M", interval=0.9, n_draws=300)
    both = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary,
                                   random_state=0, **kw)
    again = customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary,
                                    random_state=0, **kw)
    pd.testing.assert_frame_equal(both, again)
    assert np.mean((both["clv_lower"] <= both["clv"]) & (both["clv"] <= both["clv_upper"])) > 0.99

    class FixedSpend:  # no sample_parameters: held fixed
        def expected_spend(self, summary):
            return fitted_gamma_gamma.expected_spend(summary)

    only_purchases = customer_lifetime_value(fitted_bgnbd, FixedSpend(), cdnow_summary,
                                             random_state=0, **kw)
    width_both = (both["clv_upper"] - both["clv_lower"]).median()
    width_one = (only_purchases["clv_upper"] - only_purchases["clv_lower"]).median()
    assert width_both > 1.2 * width_one


def test_bad_arguments_are_refused(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary):
    for kw in ({"horizon": 0}, {"horizon": 2.5}, {"interval": 1.5}, {"discount_rate": -1.0},
               {"time_unit": "m"}):
        args = {"horizon": 3, "time_unit": "M", **kw}
        with pytest.raises(ValueError):
            customer_lifetime_value(fitted_bgnbd, fitted_gamma_gamma, cdnow_summary, **args)
    with pytest.raises(ValueError, match="parameter uncertainty"):
        customer_lifetime_value(ConstantRate(0.5), ObservedSpend(), cdnow_summary, 3, "M",
                                interval=0.9)
