"""BG/BB (Fader, Hardie & Shang 2010): published values, lifetimes, properties,
simulate-and-recover, the API of every model, and the Bayesian dispatch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import special as sp

import clvmodels
from clvmodels import BetaGeoBetaBinomModel, DataError, NotFittedError
from clvmodels.datasets import load_donations
from clvmodels.likelihoods import beta_geo_beta_binom as bgbb
from clvmodels.models.base import clone
from clvmodels.persistence import load

lifetimes = pytest.importorskip("lifetimes")

PUBLISHED = {"alpha": 1.2035, "beta": 0.7497, "gamma": 0.6567, "delta": 2.7834}


@pytest.fixture(scope="module")
def donations():
    return load_donations()


@pytest.fixture(scope="module")
def fitted(donations):
    return BetaGeoBetaBinomModel().fit(donations, weights="weights")


def _lifetimes_with(params):
    fitter = lifetimes.BetaGeoBetaBinomFitter()
    fitter.params_ = pd.Series(list(params), index=["alpha", "beta", "gamma", "delta"])
    return fitter


def _rows(donations):
    return (donations["frequency"].to_numpy(float), donations["recency"].to_numpy(float),
            donations["n_periods"].to_numpy(float))


# ---------------------------------------------------------------------- published values
def test_reproduces_the_published_donations_fit(fitted):
    assert fitted.params_.round(4).to_dict() == PUBLISHED
    assert round(fitted.log_likelihood_, 1) == -33225.6
    assert fitted.n_customers_ == 11104
    assert fitted.fit_status_ == "converged"
    assert np.all(np.isfinite(fitted.standard_errors_))


def test_lifetimes_finds_the_same_maximum(donations, fitted):
    x, t_x, n = _rows(donations)
    theirs = lifetimes.BetaGeoBetaBinomFitter().fit(x, t_x, n, weights=donations["weights"])
    np.testing.assert_allclose(fitted.params_.to_numpy(), theirs.params_.to_numpy(),
                               rtol=1e-4)


def test_row_level_and_compressed_fits_agree(donations, fitted):
    rows = donations.loc[donations.index.repeat(donations["weights"])]
    rows = rows.drop(columns="weights").sample(frac=1.0, random_state=3)
    model = BetaGeoBetaBinomModel().fit(rows.reset_index(drop=True))
    np.testing.assert_allclose(model.params_, fitted.params_, rtol=1e-6)
    assert model.log_likelihood_ == pytest.approx(fitted.log_likelihood_, rel=1e-10)
    assert model.data_fingerprint_ == fitted.data_fingerprint_


# ---------------------------------------------------------------------- lifetimes, 1e-6
@pytest.mark.parametrize("m", [0, 1, 2, 5, 10])
def test_predictions_equal_lifetimes_on_the_donations(donations, fitted, m):
    x, t_x, n = _rows(donations)
    theirs = _lifetimes_with(fitted.params_)
    alive = fitted.probability_alive(donations, t=m if m else None).to_numpy()
    np.testing.assert_allclose(alive, theirs.conditional_probability_alive(m, x, t_x, n),
                               rtol=1e-6)
    if m:
        expected = fitted.expected_purchases(donations, m).to_numpy()
        np.testing.assert_allclose(
            expected, theirs.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n),
            rtol=1e-6)


def test_unconditional_distribution_equals_lifetimes(donations, fitted):
    # lifetimes' expected_number_of_transactions_in_first_n_periods is eq. 7 times
    # the number of donors, for the frequencies present in its data.
    theirs = lifetimes.BetaGeoBetaBinomFitter().fit(*_rows(donations),
                                                   weights=donations["weights"])
    theirs.params_ = pd.Series(fitted.params_.to_numpy(), index=theirs.params_.index)
    table = theirs.expected_number_of_transactions_in_first_n_periods(6)["model"]
    ours = fitted.probability_of_purchases(6, table.index.to_numpy()) * 11104
    np.testing.assert_allclose(ours.to_numpy(), table.to_numpy(), rtol=1e-6)


histories = st.integers(0, 30).flatmap(lambda n: st.integers(0, n).flatmap(
    lambda t_x: st.tuples(st.just(n), st.just(t_x),
                          st.integers(1 if t_x else 0, t_x) if t_x else st.just(0))))
positive = st.floats(0.05, 20.0)


@settings(max_examples=60, deadline=None)
@given(history=histories, params=st.tuples(positive, positive, positive, positive),
       m=st.integers(0, 12))
def test_formulas_equal_lifetimes_for_any_history(history, params, m):
    assume(abs(params[2] - 1.0) > 1e-3)  # lifetimes divides by gamma - 1 (NaN at 1)
    n, t_x, x = (np.array([float(v)]) for v in history)
    # lifetimes adds 1e-15 to the sum of unnormalised beta functions: compare where
    # that guard is below 1e-9 of the likelihood.
    unnormalised = bgbb.loglik(x, t_x, n, *params)[0] + sp.betaln(*params[:2]) \
        + sp.betaln(*params[2:])
    assume(unnormalised > np.log(1e-15) + np.log(1e9))
    theirs = _lifetimes_with(params)
    np.testing.assert_allclose(bgbb.loglik(x, t_x, n, *params),
                               theirs._loglikelihood(params, x, t_x, n), rtol=1e-6,
                               atol=1e-9)
    np.testing.assert_allclose(bgbb.probability_alive_at(float(m), x, t_x, n, *params),
                               theirs.conditional_probability_alive(m, x, t_x, n), rtol=1e-6)
    np.testing.assert_allclose(
        bgbb.conditional_expected_purchases(float(m), x, t_x, n, *params),
        theirs.conditional_expected_number_of_purchases_up_to_time(m, x, t_x, n),
        rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------- properties
def _explicit_alive_sum(n, t, gamma, delta):
    return sum(np.exp(sp.betaln(gamma, delta + n + j) - sp.betaln(gamma, delta))
               for j in range(1, int(t) + 1))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), t=st.integers(0, 40), gamma=st.one_of(
    st.floats(0.05, 20.0), st.floats(1 - 1e-7, 1 + 1e-7)), delta=st.floats(0.05, 20.0))
def test_closed_form_of_the_alive_opportunities_is_the_sum(n, t, gamma, delta):
    closed = bgbb._alive_opportunities(float(n), float(t), gamma, delta)
    assert closed == pytest.approx(_explicit_alive_sum(n, t, gamma, delta), rel=1e-7, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(history=histories, params=st.tuples(positive, positive, positive, positive),
       t=st.integers(0, 15))
def test_purchase_distribution_sums_to_one_and_has_the_expected_mean(history, params, t):
    n, t_x, x = (np.array([float(v)]) for v in history)
    k = np.arange(t + 1, dtype=float)
    pmf = bgbb.conditional_probability_of_purchases(k, float(t), x, t_x, n, *params)
    assert np.all(pmf >= -1e-15)
    assert pmf.sum() == pytest.approx(1.0, abs=1e-9)
    mean = bgbb.conditional_expected_purchases(float(t), x, t_x, n, *params)[0]
    assert float(np.sum(k * pmf)) == pytest.approx(mean, rel=1e-7, abs=1e-12)
    new = bgbb.probability_of_purchases(k, float(t), *params)
    assert new.sum() == pytest.approx(1.0, abs=1e-9)
    assert float(np.sum(k * new)) == pytest.approx(
        float(bgbb.expected_purchases(float(t), *params)), rel=1e-7, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(history=histories, params=st.tuples(positive, positive, positive, positive))
def test_alive_probabilities_fall_and_purchases_grow_with_the_horizon(history, params):
    n, t_x, x = (np.array([float(v)]) for v in history)
    horizons = np.arange(0.0, 20.0)
    alive = np.array([bgbb.probability_alive_at(h, x, t_x, n, *params)[0] for h in horizons])
    assert np.all((alive >= 0) & (alive <= 1 + 1e-12))
    assert np.all(np.diff(alive) <= 1e-12)
    expected = np.array([bgbb.conditional_expected_purchases(h, x, t_x, n, *params)[0]
                         for h in horizons])
    assert expected[0] == 0.0
    assert np.all(np.diff(expected) >= -1e-12)


@settings(max_examples=30, deadline=None)
@given(history=histories, params=st.tuples(st.floats(0.2, 5.0), st.floats(0.2, 5.0),
                                           st.floats(0.2, 5.0), st.floats(0.2, 5.0)),
       d=st.floats(0.05, 0.5))
def test_dert_is_the_discounted_sum_of_expected_transactions(history, params, d):
    n, t_x, x = (np.array([float(v)]) for v in history)
    horizon = np.arange(0.0, 601.0)
    cumulative = bgbb.conditional_expected_purchases(horizon, x, t_x, n, *params)
    discounted = float(np.sum(np.diff(cumulative) / (1 + d) ** horizon[1:]))
    dert = float(bgbb.discounted_expected_residual_transactions(d, x, t_x, n, *params)[0])
    assert dert == pytest.approx(discounted, rel=1e-6, abs=1e-12)


def test_gradient_equals_the_automatic_derivative_of_the_one_formula():
    import pytensor
    import pytensor.tensor as pt

    from clvmodels.likelihoods._math import pytensor_namespace

    rng = np.random.default_rng(0)
    n = rng.integers(0, 12, 50).astype(float)
    t_x = np.floor(rng.uniform(0, 1, 50) * (n + 1))
    x = np.where(t_x > 0, np.ceil(rng.uniform(0, 1, 50) * t_x), 0.0)
    theta = pt.dvector("theta")
    total = pt.sum(bgbb.loglik(x, t_x, n, *[theta[i] for i in range(4)],
                               xp=pytensor_namespace()))
    fn = pytensor.function([theta], [total, pt.grad(total, theta)])
    params = np.array([1.2, 0.75, 0.66, 2.8])
    value, grad = fn(params)
    ours, grads = bgbb.loglik_grad(x, t_x, n, *params)
    assert ours.sum() == pytest.approx(float(value), rel=1e-10)
    np.testing.assert_allclose(grads.sum(axis=1), grad, rtol=1e-8)


def test_horizons_are_whole_periods(fitted, donations):
    with pytest.raises(ValueError, match="whole numbers of periods"):
        fitted.expected_purchases(donations, 2.5)


@pytest.mark.parametrize("change, column, rule", [
    ({"frequency": 3, "recency": 2}, "frequency", "frequency_above_recency"),
    ({"recency": 7}, "recency", "recency_after_n_periods"),
    ({"frequency": 0, "recency": 2}, "recency", "recency_without_repeat"),
    ({"n_periods": 6.5}, "n_periods", "not_whole"),
])
def test_bad_rows_raise_a_data_error_naming_column_and_rule(donations, change, column, rule):
    bad = donations.copy()
    for key, value in change.items():
        bad[key] = bad[key].astype(float)
        bad.loc[5, key] = value
    with pytest.raises(DataError) as err:
        BetaGeoBetaBinomModel().fit(bad, weights="weights")
    assert err.value.column == column and err.value.rule == rule and err.value.n_rows == 1


# ---------------------------------------------------------------------- recovery
def test_simulate_and_recover():
    truth = {"alpha": 1.5, "beta": 0.8, "gamma": 0.5, "delta": 3.0}
    sim = bgbb.random(*truth.values(), 8.0, rng=np.random.default_rng(11), size=(40_000,))
    summary = pd.DataFrame({"frequency": sim[:, 0], "recency": sim[:, 1], "n_periods": 8.0})
    model = BetaGeoBetaBinomModel().fit(summary)
    z = (model.params_ - pd.Series(truth)) / model.standard_errors_
    assert np.all(np.abs(z) < 3.5), z.to_dict()
    # The simulated histories obey the model's own rules.
    assert np.all(sim[:, 0] <= sim[:, 1]) and np.all(sim[:, 1] <= 8)


# ---------------------------------------------------------------------- API
def test_api_clone_unfitted_save_load_and_intervals(fitted, donations, tmp_path):
    copy = clone(fitted)
    assert type(copy) is BetaGeoBetaBinomModel and not copy.is_fitted()
    with pytest.raises(NotFittedError):
        copy.probability_alive(donations)
    fitted.save(tmp_path / "bgbb.json")
    loaded = load(tmp_path / "bgbb.json")
    pd.testing.assert_series_equal(loaded.params_, fitted.params_)
    pd.testing.assert_series_equal(loaded.expected_purchases(donations, 5),
                                   fitted.expected_purchases(donations, 5))
    assert loaded.data_fingerprint(donations, "weights") == fitted.data_fingerprint_
    band = fitted.probability_alive(donations, t=1, interval=0.9, n_draws=300, random_state=1)
    point = fitted.probability_alive(donations, t=1)
    assert np.all((band["lower"] <= point) & (point <= band["upper"]))
    assert np.all(band["upper"] - band["lower"] > 0)
    dert = fitted.discounted_expected_residual_transactions(donations, 0.1, interval=0.9,
                                                            n_draws=300, random_state=1)
    plain = fitted.discounted_expected_residual_transactions(donations, 0.1)
    assert np.all((dert["lower"] <= plain) & (plain <= dert["upper"]))


def test_the_model_is_exported_and_registered():
    assert clvmodels.BetaGeoBetaBinomModel is BetaGeoBetaBinomModel
    assert clvmodels.persistence.MODEL_REGISTRY["BetaGeoBetaBinomModel"] is BetaGeoBetaBinomModel


# ---------------------------------------------------------------------- Bayesian
def test_map_with_flat_priors_is_the_maximum_likelihood_fit(donations, fitted):
    model = BetaGeoBetaBinomModel(method="map", priors="flat").fit(donations,
                                                                  weights="weights")
    np.testing.assert_allclose(model.params_, fitted.params_, rtol=1e-4)


def test_the_pymc_model_uses_the_same_likelihood(donations, fitted):
    from clvmodels.inference import bayes

    x, t_x, n = _rows(donations)
    w = donations["weights"].to_numpy(float)
    pm_model = bayes.build_pymc_model(fitted, [x, t_x, n], w, priors={
        k: "flat" for k in fitted.param_names()})
    point = {f"{k}_log__": np.log(v) for k, v in fitted.params_.items()}
    logp = pm_model.compile_logp(jacobian=False)(point)
    assert float(logp) == pytest.approx(fitted.log_likelihood_, rel=1e-9)


def test_simulate_module_draws_customers_the_model_recovers():
    donors = clvmodels.simulate.beta_geo_beta_binom(30_000, 1.2, 0.75, 0.66, 2.8,
                                                   n_periods=[6, 9] * 15_000, random_state=5)
    assert donors["n_periods"].value_counts().to_dict() == {6: 15_000, 9: 15_000}
    model = BetaGeoBetaBinomModel().fit(donors)
    z = (model.params_ - pd.Series([1.2, 0.75, 0.66, 2.8], index=model.params_.index)) \
        / model.standard_errors_
    assert np.all(np.abs(z) < 3.5), z.to_dict()
    with pytest.raises(ValueError, match="whole numbers"):
        clvmodels.simulate.beta_geo_beta_binom(10, 1, 1, 1, 1, n_periods=2.5)


def test_posterior_predictive_reproduces_the_observed_frequencies():
    donors = clvmodels.simulate.beta_geo_beta_binom(500, 1.2, 0.75, 0.66, 2.8, n_periods=6,
                                                   random_state=1)
    model = BetaGeoBetaBinomModel().fit(donors)
    pp = model.posterior_predictive(donors, n_draws=50, random_state=1)
    simulated = pp.posterior_predictive["purchases"].sel(column="frequency")
    assert simulated.shape == (1, 50, 500)
    assert float(simulated.mean()) == pytest.approx(donors["frequency"].mean(), rel=0.05)
    recency = pp.posterior_predictive["purchases"].sel(column="recency")
    assert bool((simulated <= recency).all()) and bool((recency <= 6).all())


@pytest.mark.slow
def test_nuts_posterior_is_centred_on_the_maximum_likelihood_fit(donations, fitted):
    model = BetaGeoBetaBinomModel(method="nuts").fit(donations, weights="weights", draws=500,
                                                    tune=500, chains=2, random_state=1)
    z = (model.params_ - fitted.params_) / fitted.standard_errors_
    assert np.all(np.abs(z) < 0.5), z.to_dict()
    assert model.converged_
