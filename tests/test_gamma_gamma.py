"""Gamma-Gamma: published values, agreement with lifetimes, assumptions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels.exceptions import DataError, ModelAssumptionWarning
from clvmodels.likelihoods import gamma_gamma as gg
from clvmodels.models.gamma_gamma import GammaGammaModel


def test_fit_reproduces_the_published_cdnow_estimates(fitted_gamma_gamma):
    est = fitted_gamma_gamma.params_
    assert round(est["p"], 2) == 6.25
    assert round(est["q"], 2) == 3.74
    # The note prints 15.44 for 15.4477 (lifetimes and CLVTools find 15.4477 too).
    assert est["v"] == pytest.approx(15.44, abs=0.01)
    assert round(fitted_gamma_gamma.log_likelihood_, 2) == -4055.92
    assert fitted_gamma_gamma.n_customers_ == 946


def test_unrounded_cdnow_summary_reproduces_the_note_exactly(cdnow_rfm_summary):
    model = GammaGammaModel().fit(cdnow_rfm_summary)
    assert model.params_.round(2).tolist() == [6.25, 3.74, 15.44]
    assert round(model.log_likelihood_, 2) == -4055.92


def test_published_expected_spend_of_the_first_ten_customers(fitted_gamma_gamma, cdnow_summary):
    got = fitted_gamma_gamma.expected_spend(cdnow_summary).head(10).round(2).tolist()
    assert got == [24.66, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    assert fitted_gamma_gamma.population_mean_spend() == pytest.approx(35.17, abs=0.005)


def test_agrees_with_lifetimes(fitted_gamma_gamma, cdnow_summary):
    from lifetimes import GammaGammaFitter

    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    ref = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    data = [repeat["frequency"].to_numpy(float), repeat["monetary_value"].to_numpy(float)]
    theirs = gg.loglik(*data, *ref.params_[["p", "q", "v"]]).sum()
    assert fitted_gamma_gamma.log_likelihood_ >= theirs - 1e-9
    ref.params_ = fitted_gamma_gamma.params_.copy()
    np.testing.assert_allclose(
        fitted_gamma_gamma.expected_spend(cdnow_summary).to_numpy(),
        ref.conditional_expected_average_profit(cdnow_summary["frequency"],
                                                cdnow_summary["monetary_value"]).to_numpy(),
        rtol=1e-10)
    # lifetimes' diagonal standard errors are right (its off-diagonals are not).
    np.testing.assert_allclose(fitted_gamma_gamma.standard_errors_.to_numpy(),
                               ref.fit(repeat["frequency"], repeat["monetary_value"])
                               .standard_errors_.to_numpy(), rtol=1e-3)


def test_rescaling_money_changes_only_v(fitted_gamma_gamma, cdnow_summary):
    cents = cdnow_summary.copy()
    cents["monetary_value"] = cents["monetary_value"] * 100
    model = GammaGammaModel().fit(cents)
    assert model.params_["p"] == pytest.approx(fitted_gamma_gamma.params_["p"], rel=1e-5)
    assert model.params_["q"] == pytest.approx(fitted_gamma_gamma.params_["q"], rel=1e-5)
    assert model.params_["v"] == pytest.approx(100 * fitted_gamma_gamma.params_["v"], rel=1e-5)
    np.testing.assert_allclose(model.expected_spend(cents),
                               100 * fitted_gamma_gamma.expected_spend(cdnow_summary), rtol=1e-5)


def test_zero_spend_of_a_repeat_customer_is_refused(cdnow_summary):
    bad = cdnow_summary.copy()
    bad.loc[bad.index[:3], "monetary_value"] = 0.0
    with pytest.raises(DataError) as err:
        GammaGammaModel().fit(bad)
    assert err.value.column == "monetary_value"
    assert err.value.n_rows == 2  # customer 3 has no repeat purchase: its 0 is fine
    assert "monetary_value" in str(err.value)


def test_zero_spend_customers_can_be_excluded_with_a_warning(cdnow_summary,
                                                             fitted_gamma_gamma):
    from clvmodels.exceptions import DataWarning

    bad = cdnow_summary.copy()
    bad.loc[1, "monetary_value"] = 0.0  # customer 1 has 2 repeat purchases
    with pytest.warns(DataWarning, match="1 customer"):
        model = GammaGammaModel(nonpositive_spend="exclude").fit(bad)
    assert model.n_customers_ == 945
    assert model.params_["p"] == pytest.approx(fitted_gamma_gamma.params_["p"], rel=0.05)
    spend = model.expected_spend(bad)
    assert 0 < spend.loc[1] < model.population_mean_spend()
    with pytest.raises(ValueError, match="nonpositive_spend"):
        GammaGammaModel(nonpositive_spend="drop").fit(bad)


def test_correlated_spend_and_frequency_warns():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, 2000)
    nu = rng.gamma(4.0, 1 / 15.0, 2000)
    m = rng.gamma(6.0 * x, 1.0 / (nu * x)) * x   # spend grows with frequency
    summary = pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary_value": m})
    model = GammaGammaModel()
    assert model.spend_frequency_correlation(summary) > 0.3
    with pytest.warns(ModelAssumptionWarning, match="independent"):
        model.fit(summary)
    assert model.spend_frequency_correlation_ > 0.3


def test_cdnow_passes_the_independence_check(cdnow_summary):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ModelAssumptionWarning)
        model = GammaGammaModel().fit(cdnow_summary)
    assert abs(model.spend_frequency_correlation_) < 0.3


def test_q_below_one_explains_that_the_mean_does_not_exist(cdnow_summary):
    model = GammaGammaModel().with_parameters({"p": 2.0, "q": 0.8, "v": 10.0})
    with pytest.raises(ValueError, match="q = 0.8"):
        model.population_mean_spend()
    with pytest.raises(ValueError, match="population mean"):
        model.expected_spend(cdnow_summary)
    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    assert np.all(np.isfinite(model.expected_spend(repeat)))


def test_heavy_tailed_spend_warns_about_q():
    rng = np.random.default_rng(1)
    n = 2000
    x = rng.integers(1, 4, n)
    nu = rng.gamma(0.6, 1 / 2.0, n)   # q = 0.6 < 1
    m = rng.gamma(3.0 * x, 1.0 / (nu * x))
    summary = pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary_value": m})
    with pytest.warns(ModelAssumptionWarning, match="q ="):
        model = GammaGammaModel().fit(summary)
    assert model.params_["q"] < 1


@settings(max_examples=100, deadline=None)
@given(st.floats(0.1, 50), st.floats(1.01, 50), st.floats(0.01, 1e4),
       st.integers(0, 1000), st.floats(0.01, 1e5))
def test_expected_spend_lies_between_the_customer_and_population_means(p, q, v, x, m):
    e = gg.expected_spend(x, m, p, q, v)
    pop = gg.population_mean_spend(p, q, v)
    if x == 0:
        assert e == pytest.approx(pop)
    else:
        assert min(m, pop) * (1 - 1e-12) <= e <= max(m, pop) * (1 + 1e-12)


def test_simulated_parameters_are_recovered():
    rng = np.random.default_rng(7)
    n = 20_000
    p, q, v = 6.0, 4.0, 15.0
    x = rng.integers(1, 10, n)
    nu = rng.gamma(q, 1 / v, n)
    m = rng.gamma(p * x, 1.0 / (nu * x))
    summary = pd.DataFrame({"frequency": x, "recency": 1.0, "T": 2.0, "monetary_value": m})
    model = GammaGammaModel().fit(summary)
    for name, true in {"p": p, "q": q, "v": v}.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert abs(est - true) < 4 * se
