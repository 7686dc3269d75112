"""BG/NBD: published values, agreement with lifetimes, properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels.likelihoods import beta_geo as bg
from clvmodels.likelihoods._math import NUMPY, pytensor_namespace
from clvmodels.models.beta_geo import BetaGeoModel

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
CLVTOOLS = {"r": 0.2425945, "alpha": 4.4136019, "a": 0.7929199, "b": 2.4258881}
PARAMS = st.fixed_dictionaries({
    "r": st.floats(0.05, 20), "alpha": st.floats(0.05, 200),
    "a": st.floats(0.05, 20), "b": st.floats(0.05, 50),
})


@st.composite
def histories(draw, max_frequency=300):
    T = draw(st.floats(0.01, 500))
    x = draw(st.integers(0, max_frequency))
    t_x = 0.0 if x == 0 else draw(st.floats(0.0, 1.0)) * T
    return float(x), t_x, T


# ---------------------------------------------------------------- published values
def test_hardie_num_error_check_values():
    # Hardie, "A note on implementing the BG/NBD model in Excel" (#NUM! section).
    assert bg.loglik(0, 0.0, 40.0, 0.25, 4.0, 0.8, 2.5) == pytest.approx(-0.59947382, abs=1e-8)
    assert bg.loglik(200, 38.0, 40.0, 0.25, 4.0, 0.8, 2.5) == pytest.approx(100.7957, abs=1e-4)


def test_pytensor_engine_computes_the_same_likelihood(cdnow_summary):
    import pytensor
    import pytensor.tensor as pt

    xp = pytensor_namespace()
    x, tx, T = (pt.dvector(n) for n in ("x", "tx", "T"))
    p = pt.dvector("p")
    fn = pytensor.function([x, tx, T, p], bg.loglik(x, tx, T, p[0], p[1], p[2], p[3], xp=xp))
    data = [cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    extreme = [np.array([0.0, 200.0]), np.array([0.0, 38.0]), np.array([40.0, 40.0])]
    params = np.array(list(CLVTOOLS.values()))
    np.testing.assert_allclose(fn(*data, params), bg.loglik(*data, *params, xp=NUMPY), rtol=1e-12)
    np.testing.assert_allclose(fn(*extreme, [0.25, 4.0, 0.8, 2.5]),
                               [-0.59947382, 100.7957], atol=1e-4)


def test_fit_reproduces_the_published_cdnow_estimates(fitted_bgnbd):
    est = fitted_bgnbd.params_
    for name, value in PAPER.items():
        assert round(est[name], 3) == value
    for name, value in CLVTOOLS.items():
        assert est[name] == pytest.approx(value, rel=1e-4)
    assert round(fitted_bgnbd.log_likelihood_, 1) == -9582.4
    assert fitted_bgnbd.log_likelihood_ == pytest.approx(-9582.429, abs=5e-3)
    assert fitted_bgnbd.time_unit_ == "W"
    assert fitted_bgnbd.n_customers_ == 2357
    assert fitted_bgnbd.converged_


def test_unrounded_cdnow_summary_reproduces_clvtools(cdnow_rfm_summary):
    # CLVTools fits the summary computed from the transactions; so do we here.
    model = BetaGeoModel().fit(cdnow_rfm_summary)
    for name, value in CLVTOOLS.items():
        assert model.params_[name] == pytest.approx(value, rel=2e-5)
    assert model.log_likelihood_ == pytest.approx(-9582.429, abs=5e-4)


def test_published_conditional_expectation(fitted_bgnbd):
    one = pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86]})
    assert round(fitted_bgnbd.expected_purchases(one, 39).iloc[0], 3) == 1.226


def test_published_unconditional_expectations(fitted_bgnbd):
    t = [0.1429, 1, 3, 31.8571, 32, 78]
    got = fitted_bgnbd.expected_purchases_new_customer(t)
    np.testing.assert_allclose(got.round(4).to_numpy()[:5],
                               [0.0078, 0.0532, 0.1506, 1.0405, 1.0437])
    assert round(got.iloc[5], 3) == 1.858


def test_published_purchase_probabilities_with_rounded_parameters():
    model = BetaGeoModel().with_parameters(PAPER, time_unit="W")
    assert model.probability_of_purchases(39, 0) == pytest.approx(0.5737864, abs=5e-8)
    assert model.probability_of_purchases(2, 10) == pytest.approx(1.07869e-07, rel=1e-5)


def test_covariance_is_the_full_delta_method(fitted_bgnbd, cdnow_summary):
    # At the maximum the inverse Hessian in natural parameters equals the delta-method
    # covariance; compute the former independently by finite differences.
    data = [cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    theta = fitted_bgnbd.params_.to_numpy()

    def ll(p):
        return bg.loglik(*data, *p).sum()

    k = len(theta)
    H = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            hi, hj = 1e-4 * theta[i], 1e-4 * theta[j]
            ei, ej = np.eye(k)[i] * hi, np.eye(k)[j] * hj
            H[i, j] = (ll(theta + ei + ej) - ll(theta + ei - ej) - ll(theta - ei + ej)
                       + ll(theta - ei - ej)) / (4 * hi * hj)
    np.testing.assert_allclose(fitted_bgnbd.cov_.to_numpy(), np.linalg.inv(-H), rtol=2e-3)
    se = fitted_bgnbd.standard_errors_
    assert se["r"] == pytest.approx(0.01256, rel=1e-3)
    assert se["alpha"] == pytest.approx(0.3782, rel=1e-3)


# ---------------------------------------------------------------- agreement with lifetimes
@pytest.fixture(scope="module")
def lifetimes_bgnbd(_cdnow_summary_cached):
    from lifetimes import BetaGeoFitter

    s = _cdnow_summary_cached
    return BetaGeoFitter().fit(s["frequency"], s["recency"], s["T"])


def test_predictions_equal_lifetimes_given_the_same_parameters(fitted_bgnbd, cdnow_summary):
    from lifetimes import BetaGeoFitter

    ref = BetaGeoFitter()
    ref.params_ = fitted_bgnbd.params_.copy()
    x, tx, T = (cdnow_summary[c] for c in ("frequency", "recency", "T"))
    for t in (1.0, 39.0, 78.0, 520.0):
        np.testing.assert_allclose(
            fitted_bgnbd.expected_purchases(cdnow_summary, t).to_numpy(),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, tx, T), rtol=1e-6)
    np.testing.assert_allclose(fitted_bgnbd.probability_alive(cdnow_summary).to_numpy(),
                               ref.conditional_probability_alive(x, tx, T), rtol=1e-6)
    ts = np.array([0.5, 1, 10, 39, 78, 520])
    np.testing.assert_allclose(fitted_bgnbd.expected_purchases_new_customer(ts).to_numpy(),
                               ref.expected_number_of_purchases_up_to_time(ts), rtol=1e-6)
    for n in range(0, 8):
        assert fitted_bgnbd.probability_of_purchases(39, n) == pytest.approx(
            ref.probability_of_n_purchases_up_to_time(39, n), rel=1e-6)


def test_log_likelihood_at_least_that_of_lifetimes(fitted_bgnbd, lifetimes_bgnbd, cdnow_summary):
    data = [cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    theirs = bg.loglik(*data, *lifetimes_bgnbd.params_[["r", "alpha", "a", "b"]]).sum()
    assert fitted_bgnbd.log_likelihood_ >= theirs - 1e-9
    # lifetimes reports a rescaled mean; the true total is ours.
    assert fitted_bgnbd.log_likelihood_ == pytest.approx(theirs, abs=1e-3)


# ---------------------------------------------------------------- properties
@settings(max_examples=150, deadline=None)
@given(PARAMS, histories())
def test_probability_alive_is_a_probability(params, history):
    p = bg.probability_alive(*history, **params)
    assert 0.0 <= p <= 1.0


@settings(max_examples=100, deadline=None)
@given(PARAMS, histories(max_frequency=50), st.floats(0.01, 200))
def test_expected_purchases_start_at_zero_and_grow(params, history, t):
    ts = np.array([0.0, t / 4, t / 2, t])
    e = bg.conditional_expected_purchases(ts, *history, **params)
    assert e[0] == 0.0
    assert np.all(np.isfinite(e))
    assert np.all(np.diff(e) >= -1e-12 * np.abs(e[1:]))
    u = bg.expected_purchases(ts, **params)
    assert u[0] == 0.0 and np.all(np.diff(u) >= -1e-12 * np.abs(u[1:]))


@settings(max_examples=60, deadline=None)
@given(st.fixed_dictionaries({"r": st.floats(0.1, 5), "alpha": st.floats(1, 50),
                              "a": st.floats(0.1, 5), "b": st.floats(0.1, 10)}),
       st.floats(0.1, 20), histories(max_frequency=20))
def test_purchase_probabilities_sum_to_one(params, t, history):
    n = np.arange(0, 3000)
    assert bg.probability_of_purchases(n, t, **params).sum() == pytest.approx(1.0, abs=1e-9)
    cond = bg.conditional_probability_of_purchases(n, t, *history, **params)
    assert cond.sum() == pytest.approx(1.0, abs=1e-9)
    expected = bg.conditional_expected_purchases(t, *history, **params)
    assert (n * cond).sum() == pytest.approx(expected, rel=1e-6, abs=1e-10)


@settings(max_examples=100, deadline=None)
@given(PARAMS, histories(max_frequency=50), st.floats(0.01, 100), st.floats(0.01, 100))
def test_formulas_do_not_depend_on_the_time_unit(params, history, t, c):
    x, tx, T = history
    scaled = dict(params, alpha=params["alpha"] * c)
    np.testing.assert_allclose(bg.probability_alive(x, tx * c, T * c, **scaled),
                               bg.probability_alive(x, tx, T, **params), rtol=1e-9)
    np.testing.assert_allclose(
        bg.conditional_expected_purchases(t * c, x, tx * c, T * c, **scaled),
        bg.conditional_expected_purchases(t, x, tx, T, **params), rtol=1e-7, atol=1e-300)


def test_refit_in_days_changes_parameters_consistently(fitted_bgnbd, cdnow_summary):
    days = cdnow_summary.copy()
    days[["recency", "T"]] = days[["recency", "T"]] * 7
    days.attrs["time_unit"] = "D"
    model = BetaGeoModel().fit(days)
    assert model.time_unit_ == "D"
    for name in ("r", "a", "b"):
        assert model.params_[name] == pytest.approx(fitted_bgnbd.params_[name], rel=1e-5)
    assert model.params_["alpha"] == pytest.approx(7 * fitted_bgnbd.params_["alpha"], rel=1e-5)
    np.testing.assert_allclose(model.expected_purchases(days, 7 * 39).to_numpy(),
                               fitted_bgnbd.expected_purchases(cdnow_summary, 39).to_numpy(),
                               rtol=1e-5)
    # The density of purchase times changes with the unit: LL_days = LL_weeks - sum(x) log 7.
    shift = cdnow_summary["frequency"].sum() * np.log(7)
    assert model.log_likelihood_ == pytest.approx(fitted_bgnbd.log_likelihood_ - shift, abs=1e-4)
    # A summary in another unit than the model's is converted before predicting.
    np.testing.assert_allclose(fitted_bgnbd.expected_purchases(days, 39).to_numpy(),
                               fitted_bgnbd.expected_purchases(cdnow_summary, 39).to_numpy(),
                               rtol=1e-12)


def test_time_unit_argument_attribute_and_default(fitted_bgnbd, cdnow_summary):
    # An explicit unit wins and the data (in the summary's unit) are converted to it.
    in_days = BetaGeoModel().fit(cdnow_summary, time_unit="days")
    assert in_days.time_unit_ == "D"
    assert in_days.params_["alpha"] == pytest.approx(7 * fitted_bgnbd.params_["alpha"], rel=1e-6)
    assert in_days.data_fingerprint(cdnow_summary) == in_days.data_fingerprint_
    # Without an attribute the explicit unit is the data's; without both it is days.
    bare = cdnow_summary.copy()
    bare.attrs = {}
    weeks = BetaGeoModel().fit(bare, time_unit="weeks")
    assert weeks.time_unit_ == "W"
    np.testing.assert_allclose(weeks.params_, fitted_bgnbd.params_, rtol=1e-8)
    assert BetaGeoModel().fit(bare).time_unit_ == "D"
    with pytest.raises(ValueError, match="Unknown time unit"):
        BetaGeoModel().fit(cdnow_summary, time_unit="m")


def test_compressed_and_row_level_fits_agree(fitted_bgnbd, cdnow_summary):
    cols = ["frequency", "recency", "T"]
    grouped = cdnow_summary.groupby(cols).size().rename("n").reset_index()
    grouped.attrs["time_unit"] = "W"
    assert len(grouped) < len(cdnow_summary)
    model = BetaGeoModel().fit(grouped, weights="n")
    np.testing.assert_allclose(model.params_, fitted_bgnbd.params_, rtol=1e-8)
    assert model.log_likelihood_ == pytest.approx(fitted_bgnbd.log_likelihood_, abs=1e-8)
    assert model.n_customers_ == 2357
    assert model.data_fingerprint_ == fitted_bgnbd.data_fingerprint_
    np.testing.assert_allclose(model.standard_errors_, fitted_bgnbd.standard_errors_, rtol=1e-6)


def test_extreme_customers_give_finite_predictions():
    model = BetaGeoModel().with_parameters({"r": 0.24, "alpha": 4.4 * 7 * 24, "a": 0.79,
                                            "b": 2.4}, time_unit="h")
    hours = pd.DataFrame({
        "frequency": [0, 1, 1000, 1000, 5000, 3],
        "recency": [0.0, 1.0, 2.3e6, 10.0, 2.4e6, 2.4e6],
        "T": [2.4e6, 2.4e6, 2.4e6, 2.4e6, 2.4e6, 2.4e6],   # 1e5 days in hours
    })
    hours.attrs["time_unit"] = "h"
    for t in (1.0, 24 * 365.0, 24 * 365.0 * 50):
        e = model.expected_purchases(hours, t)
        assert np.all(np.isfinite(e)) and np.all(e >= 0)
    p = model.probability_alive(hours)
    assert np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(model.probability_of_no_purchase(hours, 24 * 30.0)))
    assert np.isfinite(bg.loglik(5000.0, 2.4e6, 2.4e6, 0.24, 740.0, 0.79, 2.4))


def simulate_bgnbd(n, T, r, alpha, a, b, seed=0):
    """Small BG/NBD simulator (FHL section 3) for tests: frequency, recency, T."""
    rng = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,))
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    x = np.zeros(n, dtype=np.int64)
    tx = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            tx[i] = t
            if rng.uniform() < p[i]:
                break
    return pd.DataFrame({"frequency": x, "recency": tx, "T": T.copy()})


def test_fit_on_hourly_data_with_extreme_ages():
    hours_per_week = 7 * 24
    rng = np.random.default_rng(3)
    T = rng.uniform(24 * 30, 2.4e6, 3000)  # up to 1e5 days, in hours
    summary = simulate_bgnbd(3000, T, 0.25, 4.4 * hours_per_week, 0.8, 2.5, seed=4)
    summary.attrs["time_unit"] = "h"
    model = BetaGeoModel().fit(summary)
    assert np.all(np.isfinite(model.params_)) and np.isfinite(model.log_likelihood_)
    assert np.all(np.isfinite(model.standard_errors_))
    assert model.params_["alpha"] / hours_per_week == pytest.approx(4.4, rel=0.3)
    e = model.expected_purchases(summary, 24 * 365.0)
    assert np.all(np.isfinite(e)) and np.all(e >= 0)


def test_interval_purchases_and_conditional_probabilities(fitted_bgnbd, cdnow_summary):
    e39 = fitted_bgnbd.expected_purchases(cdnow_summary, 39)
    e78 = fitted_bgnbd.expected_purchases(cdnow_summary, 78)
    between = fitted_bgnbd.expected_purchases(cdnow_summary, 78, t_start=39)
    np.testing.assert_allclose(between, e78 - e39, rtol=1e-12)
    pmf = fitted_bgnbd.conditional_probability_of_purchases(cdnow_summary.head(50), 39,
                                                            np.arange(200))
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose((pmf * np.arange(200)).sum(axis=1), e39.head(50), rtol=1e-6)
    p0 = fitted_bgnbd.probability_of_no_purchase(cdnow_summary.head(50), 39)
    np.testing.assert_allclose(p0, pmf[0], rtol=1e-12)


# ---------------------------------------------------------------- engine and failure paths
def test_numpy_fallback_engine_finds_the_same_optimum(fitted_bgnbd, cdnow_summary):
    from clvmodels.inference.mle import make_objective, maximize_likelihood

    data = [cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    w = np.ones(len(cdnow_summary))
    fast = make_objective(BetaGeoModel.likelihood, data, w)
    slow = make_objective(BetaGeoModel.likelihood, data, w, backend="numpy")
    theta = np.log(fitted_bgnbd.params_.to_numpy())
    v1, g1 = fast(theta + 0.1)
    v2, g2 = slow(theta + 0.1)
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-5)
    res = maximize_likelihood(slow, [np.zeros(4)])
    assert res.converged
    np.testing.assert_allclose(np.exp(res.theta), fitted_bgnbd.params_, rtol=1e-6)


def test_non_convergence_raises_with_the_result_and_advice(cdnow_summary, monkeypatch):
    import clvmodels.models.parametric as parametric
    from clvmodels.exceptions import ConvergenceError
    from clvmodels.inference.mle import MLEResult

    failed = MLEResult(np.zeros(4), 1e4, np.ones(4), None, False, "scipy result",
                       ["BFGS from start 0: failed"], 10)
    model = BetaGeoModel().fit(cdnow_summary)
    monkeypatch.setattr(parametric, "maximize_likelihood", lambda *a, **k: failed)
    with pytest.raises(ConvergenceError, match="What to try") as err:
        model.fit(cdnow_summary)
    assert err.value.result is failed
    assert "BFGS from start 0" in str(err.value)
    assert not model.is_fitted()  # the failed refit removed the previous fit
    assert not hasattr(model, "cov_")


def test_unidentified_parameters_warn_and_still_predict():
    from clvmodels.exceptions import ConvergenceWarning

    # Nobody came back: a and b do not enter the likelihood, r runs to 0.
    summary = pd.DataFrame({"frequency": 0, "recency": 0.0, "T": np.linspace(5, 50, 200)})
    with pytest.warns(ConvergenceWarning) as record:
        model = BetaGeoModel().fit(summary)
    messages = " ".join(str(w.message) for w in record)
    assert "do not identify" in messages
    assert model.standard_errors_[["a", "b"]].isna().all()
    assert np.all(np.isfinite(model.params_))
    assert np.all(model.probability_alive(summary) == 1.0)
    assert np.all(model.expected_purchases(summary, 10) < 1e-3)


def test_removable_singularities_at_a_equal_one_and_a_plus_b_equal_one():
    t = np.array([0.25, 1.0, 10.0])
    # a + b = 1: the hypergeometric pole cancels; compare with the neighbours.
    at = bg.expected_purchases(t, 1.3, 2.0, 0.95, 0.05)
    near = [bg.expected_purchases(t, 1.3, 2.0, 0.95, 0.05 + e) for e in (-1e-7, 1e-7)]
    np.testing.assert_allclose(at, np.mean(near, axis=0), rtol=1e-6)
    n = np.arange(4000)
    mean = (n * bg.probability_of_purchases(n, 1.0, 1.3, 2.0, 0.95, 0.05)).sum()
    assert mean == pytest.approx(at[1], rel=1e-6)
    # a = 1: 0/0 in (a+b+x-1)/(a-1) * [...].
    one = bg.expected_purchases(t, 0.5, 3.0, 1.0, 2.0)
    near = [bg.expected_purchases(t, 0.5, 3.0, 1.0 + e, 2.0) for e in (-1e-5, 1e-5)]
    np.testing.assert_allclose(one, np.mean(near, axis=0), rtol=1e-6)


@pytest.mark.parametrize("t", [11.5, 46.0, 500.0])
def test_expectation_where_scipy_hyp2f1_degenerates(t):
    """r = a - 1 makes c - a - b = 0 in FHL eq. 9, where scipy's hyp2f1 fails near
    z = 1 (it returned -0.699 for 1.313); compare with the Euler integral."""
    from scipy import integrate, special

    r, alpha, a, b = 0.05, 0.125, 1.05, 4.0
    A, B, C, z = a + b - 1 - r, a - 1, a + b - 1, t / (alpha + t)
    integral, _ = integrate.quad(lambda u: u ** (B - 1) * (1 - u) ** (C - B - 1)
                                 * (1 - z * u) ** (-A), 0, 1, limit=400)
    f = integral * special.gamma(C) / (special.gamma(B) * special.gamma(C - B))
    expected = C / (a - 1) * (1 - (1 - z) ** (a - 1) * f)
    assert bg.expected_purchases_alive(t, r, alpha, a, b) == pytest.approx(expected, rel=1e-7)
