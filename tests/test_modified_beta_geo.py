"""MBG/NBD: published values, agreement with lifetimes, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels.likelihoods import modified_beta_geo as mbg
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel

PUBLISHED = {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}  # BTYDplus, CDNOW sample


@st.composite
def histories(draw, max_frequency=300):
    T = draw(st.floats(0.01, 500))
    x = draw(st.integers(0, max_frequency))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, 1.0)) * T
    return float(x), t_x, T


PARAMS = st.fixed_dictionaries({
    "r": st.floats(0.05, 20), "alpha": st.floats(0.05, 200),
    "a": st.floats(0.05, 20), "b": st.floats(0.05, 50),
})


def test_fit_reproduces_the_published_cdnow_estimates(fitted_mbgnbd):
    for name, value in PUBLISHED.items():
        assert round(fitted_mbgnbd.params_[name], 3) == value
    assert fitted_mbgnbd.converged_
    assert np.all(np.isfinite(fitted_mbgnbd.standard_errors_))
    assert fitted_mbgnbd.log_likelihood_ == pytest.approx(-9582.13, abs=0.01)


@pytest.fixture(scope="module")
def lifetimes_mbgnbd(_cdnow_summary_cached):
    from lifetimes import ModifiedBetaGeoFitter

    s = _cdnow_summary_cached
    return ModifiedBetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])


def test_predictions_equal_lifetimes_given_the_same_parameters(fitted_mbgnbd, cdnow_summary):
    from lifetimes import ModifiedBetaGeoFitter

    ref = ModifiedBetaGeoFitter()
    ref.params_ = fitted_mbgnbd.params_.copy()
    x, tx, T = (cdnow_summary[c] for c in ("frequency", "recency", "T"))
    for t in (1.0, 39.0, 78.0, 520.0):
        np.testing.assert_allclose(
            fitted_mbgnbd.expected_purchases(cdnow_summary, t).to_numpy(),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T), rtol=1e-6)
    np.testing.assert_allclose(fitted_mbgnbd.probability_alive(cdnow_summary).to_numpy(),
                               ref.conditional_probability_alive(x, tx, T), rtol=1e-6)
    ts = np.array([0.5, 1, 10, 39, 78, 520])
    np.testing.assert_allclose(fitted_mbgnbd.expected_purchases_new_customer(ts).to_numpy(),
                               ref.expected_number_of_purchases_up_to_time(ts), rtol=1e-6)
    for n in range(0, 8):
        assert fitted_mbgnbd.probability_of_purchases(39, n) == pytest.approx(
            ref.probability_of_n_purchases_up_to_time(39, n), rel=1e-6)


def test_log_likelihood_at_least_that_of_lifetimes(fitted_mbgnbd, lifetimes_mbgnbd, cdnow_summary):
    data = [cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    theirs = mbg.loglik(*data, *lifetimes_mbgnbd.params_[["r", "alpha", "a", "b"]]).sum()
    assert fitted_mbgnbd.log_likelihood_ >= theirs - 1e-9


@settings(max_examples=150, deadline=None)
@given(PARAMS, histories())
def test_probability_alive_is_a_probability(params, history):
    p = mbg.probability_alive(*history, **params)
    assert 0.0 <= p <= 1.0


@settings(max_examples=100, deadline=None)
@given(PARAMS, histories(max_frequency=50), st.floats(0.01, 200))
def test_expected_purchases_start_at_zero_and_grow(params, history, t):
    ts = np.array([0.0, t / 4, t / 2, t])
    e = mbg.conditional_expected_purchases(ts, *history, **params)
    assert e[0] == 0.0 and np.all(np.isfinite(e))
    assert np.all(np.diff(e) >= -1e-12 * np.abs(e[1:]))
    u = mbg.expected_purchases(ts, **params)
    assert u[0] == 0.0 and np.all(np.diff(u) >= -1e-12 * np.abs(u[1:]))


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({"r": st.floats(0.1, 5), "alpha": st.floats(1, 50),
                              "a": st.floats(0.1, 5), "b": st.floats(0.1, 10)}),
       st.floats(0.1, 20), histories(max_frequency=20))
def test_purchase_probabilities_sum_to_one(params, t, history):
    n = np.arange(0, 3000)
    pmf = mbg.probability_of_purchases(n, t, **params)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * pmf).sum() == pytest.approx(mbg.expected_purchases(t, **params), rel=1e-6)
    cond = mbg.conditional_probability_of_purchases(n, t, *history, **params)
    assert cond.sum() == pytest.approx(1.0, abs=1e-9)
    assert (n * cond).sum() == pytest.approx(
        mbg.conditional_expected_purchases(t, *history, **params), rel=1e-6, abs=1e-10)


def test_refit_in_days_changes_parameters_consistently(fitted_mbgnbd, cdnow_summary):
    days = cdnow_summary.copy()
    days[["recency", "T"]] = days[["recency", "T"]] * 7
    days.attrs["time_unit"] = "D"
    model = ModifiedBetaGeoModel().fit(days)
    for name in ("r", "a", "b"):
        assert model.params_[name] == pytest.approx(fitted_mbgnbd.params_[name], rel=1e-5)
    assert model.params_["alpha"] == pytest.approx(7 * fitted_mbgnbd.params_["alpha"], rel=1e-5)
    np.testing.assert_allclose(model.probability_alive(days).to_numpy(),
                               fitted_mbgnbd.probability_alive(cdnow_summary).to_numpy(),
                               rtol=1e-5)


def test_extreme_customers_give_finite_predictions():
    model = ModifiedBetaGeoModel().with_parameters(
        {"r": 0.52, "alpha": 6.2 * 7 * 24, "a": 0.89, "b": 1.6}, time_unit="h")
    hours = pd.DataFrame({"frequency": [0, 1000, 5000], "recency": [0.0, 2.3e6, 10.0],
                          "T": [2.4e6, 2.4e6, 2.4e6]})
    hours.attrs["time_unit"] = "h"
    for t in (1.0, 24 * 365.0 * 50):
        e = model.expected_purchases(hours, t)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all(np.isfinite(model.probability_alive(hours)))
