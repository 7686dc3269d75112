"""Bayesian fits (NUTS, MAP, ADVI), prediction intervals and CLV over posterior draws.

Layers: (1) NUTS on the CDNOW sample against the maximum-likelihood fit;
(2) MAP with flat priors equals the MLE; (3) the fast log-posterior equals the
PyMC model's log-density (one likelihood); (4) mocked posteriors (hand-built
InferenceData with known draws) make the prediction and interval tests exact and
fast; (5) simulate-and-cover studies are marked slow.
"""

from __future__ import annotations

import json
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

from clvmodels import customer_lifetime_value
from clvmodels.exceptions import ConvergenceWarning
from clvmodels.inference import bayes
from clvmodels.inference.draws import reduce_draws
from clvmodels.models.base import clone
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.persistence import load
from clvmodels.priors import Prior

try:  # written by another helper; supported when present
    from clvmodels.models.pareto_nbd import ParetoNBDModel
except ImportError:  # pragma: no cover
    ParetoNBDModel = None

needs_pareto = pytest.mark.skipif(ParetoNBDModel is None, reason="no ParetoNBDModel")


# ----------------------------------------------------------------------------
# Fixtures: one NUTS fit per model for the module
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nuts_bgnbd(_cdnow_summary_cached):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # the default run must converge
        return BetaGeoModel(method="nuts").fit(_cdnow_summary_cached.copy(), random_state=11)


@pytest.fixture(scope="module")
def nuts_gamma_gamma(_cdnow_summary_cached):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return GammaGammaModel(method="nuts").fit(_cdnow_summary_cached.copy(), random_state=12)


def _check_against_mle(model, mle, well_identified):
    """Posterior means near the MLE.

    The ``well_identified`` parameters are within 3% of the MLE. The others
    (CDNOW: BG/NBD ``a, b``, Gamma-Gamma ``v``, Pareto/NBD ``s, beta``; posterior
    sd 25-70% of the mean) have right-skewed posteriors whose mean lies above the
    mode (the MLE, under flat priors) by about sd^2 / mean, i.e. 5-10% here, with
    any correct sampler; for them the check is in posterior standard deviations.
    The posterior medians of every parameter are within 3% of the MLE (measured:
    at most 1.7% on CDNOW with the default priors).
    """
    post = model.idata_.posterior
    names = model.param_names()
    mean = pd.Series({n: float(post[n].mean()) for n in names})
    median = pd.Series({n: float(post[n].median()) for n in names})
    sd = pd.Series({n: float(post[n].std()) for n in names})
    for n in well_identified:
        assert abs(mean[n] / mle.params_[n] - 1) < 0.03, n
    assert np.all(np.abs(median / mle.params_ - 1) < 0.03), (median / mle.params_).to_dict()
    z = (mean - mle.params_) / sd
    assert np.all(np.abs(z) < 0.5), z.to_dict()
    # the posterior spread matches the asymptotic standard errors
    np.testing.assert_allclose(sd, mle.standard_errors_, rtol=0.35)


def _check_diagnostics(model):
    diag = model.diagnostics_
    assert diag["max_rhat"] <= 1.01
    assert diag["min_ess_bulk"] >= 400
    assert diag["divergences"] == 0
    assert model.converged_
    table = model.summary()
    assert {"estimate", "standard_error", "lower 95%", "upper 95%", "r_hat", "ess_bulk",
            "ess_tail"} <= set(table.columns)
    assert np.all(table["r_hat"] <= 1.01)
    assert np.all(table["lower 95%"] < table["estimate"])
    assert np.all(table["estimate"] < table["upper 95%"])


def test_nuts_bgnbd_posterior_matches_mle(nuts_bgnbd, fitted_bgnbd):
    model = nuts_bgnbd
    _check_diagnostics(model)
    _check_against_mle(model, fitted_bgnbd, ["r", "alpha"])
    assert model.inference_["sampler"] in bayes.NUTS_SAMPLERS
    assert model.idata_.posterior.sizes == {"chain": 2, "draw": 1000}
    assert {"posterior", "sample_stats", "observed_data", "constant_data"} <= set(
        model.idata_.groups())
    # compressed rows: the observed data has one row per distinct history
    assert model.idata_.observed_data["purchases"].shape == (model.n_rows_, 2)
    assert float(model.idata_.constant_data["weight"].sum()) == 2357
    # params_ / cov_ are the posterior mean and covariance
    draws = model.sample_parameters(2000, random_state=0)
    np.testing.assert_allclose(np.sort(draws.to_numpy(), axis=0),
                               np.sort(model._posterior_draws(), axis=0))
    np.testing.assert_allclose(model.params_, model._posterior_draws().mean(axis=0))
    np.testing.assert_allclose(model.cov_, np.cov(model._posterior_draws(), rowvar=False))
    # the MLE is kept, the log-likelihood is the true one at the posterior mean
    np.testing.assert_allclose(model.mle_params_, fitted_bgnbd.params_, rtol=1e-8)
    assert model.log_likelihood_ == pytest.approx(-9582.4, abs=1.0)
    # credible intervals are the posterior quantiles
    ci = model.confidence_intervals(0.9)
    np.testing.assert_allclose(ci["lower"], np.quantile(model._posterior_draws(), 0.05, axis=0))


def test_nuts_gamma_gamma_posterior_matches_mle(nuts_gamma_gamma, fitted_gamma_gamma):
    _check_diagnostics(nuts_gamma_gamma)
    _check_against_mle(nuts_gamma_gamma, fitted_gamma_gamma, ["p", "q"])
    assert nuts_gamma_gamma.idata_.observed_data["spend"].shape == (nuts_gamma_gamma.n_rows_,)
    assert nuts_gamma_gamma.n_customers_ == 946


@pytest.mark.slow
@needs_pareto
def test_nuts_pareto_nbd_posterior_matches_mle(cdnow_summary):
    mle = ParetoNBDModel().fit(cdnow_summary)
    model = ParetoNBDModel(method="nuts").fit(cdnow_summary, random_state=3)
    _check_diagnostics(model)
    # s and beta: posterior sd 40-70% of the mean, strongly skewed
    post = model.idata_.posterior
    for n in ("r", "alpha"):
        assert abs(float(post[n].mean()) / mle.params_[n] - 1) < 0.03
    for n in ("s", "beta"):  # the posterior median is near the MLE
        assert abs(float(post[n].median()) / mle.params_[n] - 1) < 0.25


@pytest.mark.slow
def test_nutpie_and_pymc_samplers_agree(cdnow_summary, nuts_bgnbd):
    """Our whitened nutpie sampler against PyMC's NUTS on the PyMC model itself."""
    other = BetaGeoModel(method="nuts").fit(cdnow_summary, random_state=5, nuts_sampler="pymc")
    assert other.inference_["sampler"] == "pymc"
    a, b = nuts_bgnbd._posterior_draws(), other._posterior_draws()
    se = np.sqrt(a.var(axis=0) / 1000 + b.var(axis=0) / 1000)  # conservative MC error
    assert np.all(np.abs(a.mean(axis=0) - b.mean(axis=0)) < 4 * se)
    np.testing.assert_allclose(a.std(axis=0), b.std(axis=0), rtol=0.1)


def test_short_run_warns_with_advice(cdnow_summary):
    with pytest.warns(ConvergenceWarning, match="What to do"):
        model = BetaGeoModel(method="nuts").fit(cdnow_summary, draws=30, tune=30,
                                                random_state=0)
    assert not model.converged_
    assert model.diagnostics_["min_ess_bulk"] < 400


# ----------------------------------------------------------------------------
# MAP, ADVI
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, GammaGammaModel])
def test_map_with_flat_priors_is_the_mle(cls, cdnow_summary):
    mle = cls().fit(cdnow_summary)
    via_api = cls(method="map", priors="flat").fit(cdnow_summary)
    np.testing.assert_allclose(via_api.params_, mle.params_, rtol=1e-4)
    # started far from the MLE, the MAP optimiser still lands on it
    model = cls(method="map", priors="flat")
    data, w, unit, *_ = model._data_for_fit(cdnow_summary, None, None)
    factors = np.array([1.5, 0.6, 1.3, 0.8])[:len(mle.params_)]
    bayes.fit_bayesian(model, data, w, unit, start=mle.params_.to_numpy() * factors)
    np.testing.assert_allclose(model.params_, mle.params_, rtol=1e-4)
    # Laplace covariance = delta-method covariance when the priors are flat
    np.testing.assert_allclose(model.cov_log_, mle.cov_log_, rtol=0.02, atol=1e-8)
    assert not hasattr(model, "idata_")


def test_map_moves_towards_an_informative_prior(cdnow_summary, fitted_bgnbd):
    strong = {"a": Prior("LogNormal", mu=np.log(3.0), sigma=0.05)}
    model = BetaGeoModel(method="map", priors=strong).fit(cdnow_summary)
    assert model.params_["a"] == pytest.approx(3.0, rel=0.1)
    assert abs(model.params_["r"] / fitted_bgnbd.params_["r"] - 1) < 0.1
    # MAP fits predict with asymptotic draws (Laplace), like MLE fits
    out = model.expected_purchases(cdnow_summary.head(10), 10, interval=0.9, n_draws=200,
                                   random_state=0)
    assert list(out.columns) == ["mean", "lower", "upper"]


def test_advi_is_close_to_nuts(cdnow_summary, nuts_bgnbd):
    model = BetaGeoModel(method="advi").fit(cdnow_summary, random_state=0, draws=500)
    assert model.idata_.posterior.sizes == {"chain": 1, "draw": 500}
    nuts_mean = nuts_bgnbd.params_
    np.testing.assert_allclose(model.params_, nuts_mean, rtol=0.1)
    np.testing.assert_allclose(model.standard_errors_, nuts_bgnbd.standard_errors_, rtol=0.3)


# ----------------------------------------------------------------------------
# One likelihood: the sampler's log-density is the PyMC model's
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [BetaGeoModel, GammaGammaModel])
def test_fast_log_posterior_equals_the_pymc_model(cls, cdnow_summary):
    import pytensor

    model = cls(method="nuts")
    data, w, unit, *_ = model._data_for_fit(cdnow_summary, None, None)
    model._fit_arrays(data, w, unit)
    pm_model = bayes.build_pymc_model(model, data, w)
    density = bayes.LogPosterior(model, pm_model, data, w, reference=model.params_.to_numpy())
    names = model.param_names()
    value_vars = [pm_model.rvs_to_values[pm_model[n]] for n in names]
    logp = pm_model.logp(jacobian=True)
    fn = pytensor.function(value_vars, [logp, *pytensor.grad(logp, value_vars)])
    rng = np.random.default_rng(0)
    for _ in range(3):
        psi = np.log(model.params_.to_numpy()) + rng.normal(0, 0.2, len(names))
        value, grad = density(psi)
        ref = fn(*psi)
        assert value == pytest.approx(float(ref[0]), rel=1e-9)
        np.testing.assert_allclose(grad, np.array(ref[1:], dtype=float), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", [BetaGeoModel, GammaGammaModel])
def test_numba_loop_equals_the_compiled_likelihood(cls, cdnow_summary, monkeypatch):
    """Large data use a parallel numba loop generated from the same formula."""
    model = cls()
    data, w, unit, *_ = model._data_for_fit(cdnow_summary, None, None)
    model._fit_arrays(data, w, unit)
    priors = bayes.model_priors(model, data, w)
    prior = bayes._numpy_prior_function(priors, model.param_names())
    compiled = bayes.LogPosterior(model, None, data, w, prior_function=prior,
                                  reference=model.params_.to_numpy())
    monkeypatch.setattr(bayes, "NUMBA_MIN_ROWS", 1)
    looped = bayes.LogPosterior(model, None, data, w, prior_function=prior,
                                reference=model.params_.to_numpy())
    assert compiled._kernel is None and looped._kernel is not None
    for shift in (0.0, 0.3, -0.2):
        psi = np.log(model.params_.to_numpy()) + shift
        a, b = compiled(psi), looped(psi)
        assert a[0] == pytest.approx(b[0], rel=1e-11)
        np.testing.assert_allclose(a[1], b[1], rtol=1e-8, atol=1e-7)


def test_weights_multiply_the_log_density(cdnow_summary):
    """The weighted CustomDist is the row-level model: compressed == uncompressed."""
    model = BetaGeoModel()
    model.fit(cdnow_summary)
    cols = [cdnow_summary[c].to_numpy(float) for c in ("frequency", "recency", "T")]
    full = bayes.build_pymc_model(model, cols, np.ones(len(cdnow_summary)))
    data, w, *_ = model._data_for_fit(cdnow_summary, None, None)
    compressed = bayes.build_pymc_model(model, data, w)
    assert len(w) < len(cdnow_summary)
    point = {f"{n}_log__": np.log(v) for n, v in model.params_.items()}
    a = full.compile_logp()(point)
    b = compressed.compile_logp()(point)
    assert float(a) == pytest.approx(float(b), rel=1e-10)


# ----------------------------------------------------------------------------
# Priors and predictive checks
# ----------------------------------------------------------------------------

def test_prior_predictive_has_the_right_shape(cdnow_summary):
    model = BetaGeoModel(method="nuts")  # need not be fitted
    idata = model.prior_predictive(cdnow_summary, draws=40, random_state=0, max_customers=500)
    sim = idata.prior_predictive["purchases"]
    assert sim.shape == (1, 40, 500, 2)
    assert list(sim.coords["column"].values) == ["frequency", "recency"]
    freq = sim.sel(column="frequency").to_numpy()
    rec = sim.sel(column="recency").to_numpy()
    T = cdnow_summary["T"].reindex(sim.coords["row"].values).to_numpy()
    assert np.all(freq >= 0) and np.all(freq == np.round(freq))
    assert np.all(rec >= 0) and np.all(rec <= T[None, None, :] + 1e-9)
    assert np.all((freq > 0) | (rec == 0))
    assert set(idata.prior.data_vars) == {"r", "alpha", "a", "b"}
    # Each draw's customers buy as the BG/NBD with that draw's parameters says: the
    # mean simulated frequency follows E[X(T)] of a new customer (FHL 2005, eq. 7)
    # across prior draws spanning orders of magnitude.
    simulated = freq[0].mean(axis=1)
    expected = np.array([
        np.mean(BetaGeoModel().with_parameters(
            {n: float(idata.prior[n].values[0, j]) for n in ("r", "alpha", "a", "b")},
            time_unit="W").expected_purchases_new_customer(T))
        for j in range(40)])
    assert expected.max() / expected.min() > 100
    assert np.corrcoef(simulated, expected)[0, 1] > 0.999
    assert simulated.sum() == pytest.approx(expected.sum(), rel=0.05)
    again = model.prior_predictive(cdnow_summary, draws=40, random_state=0, max_customers=500)
    np.testing.assert_array_equal(sim, again.prior_predictive["purchases"])


def test_prior_predictive_of_spend_and_flat_priors(cdnow_summary):
    idata = GammaGammaModel().prior_predictive(cdnow_summary, draws=10, random_state=1)
    assert idata.prior_predictive["spend"].shape == (1, 10, 946)
    assert np.all(idata.prior_predictive["spend"].to_numpy() > 0)
    with pytest.raises(ValueError, match="flat"):
        BetaGeoModel(priors="flat").prior_predictive(cdnow_summary, draws=5)


def test_posterior_predictive_runs(nuts_bgnbd, cdnow_summary):
    ppc = nuts_bgnbd.posterior_predictive(cdnow_summary, n_draws=30, random_state=0)
    sim = ppc.posterior_predictive["purchases"]
    assert sim.shape == (1, 30, 2357, 2)
    # the fitted model reproduces the mean number of repeat purchases
    freq = sim.sel(column="frequency").to_numpy()
    assert float(freq.mean()) == pytest.approx(cdnow_summary["frequency"].mean(), rel=0.1)
    # ... the share of customers without repeat purchases (1,411 of 2,357) ...
    observed_zero = (cdnow_summary["frequency"] == 0).mean()
    assert observed_zero == pytest.approx(1411 / 2357)
    assert float((freq == 0).mean()) == pytest.approx(observed_zero, abs=0.03)
    # ... and each customer keeps their own T: recency never exceeds it.
    rec = sim.sel(column="recency").to_numpy()
    T = cdnow_summary["T"].reindex(sim.coords["row"].values).to_numpy()
    assert np.all(rec <= T[None, None, :] + 1e-9) and np.all((freq > 0) | (rec == 0))
    assert float(rec.max()) > 0.95 * T.max()


@pytest.mark.parametrize("random, params, design", [
    (bayes.random_beta_geo, (0.243, 4.414, 0.793, 2.426), "T"),
    (bayes.random_modified_beta_geo, (0.525, 6.183, 0.891, 1.614), "T"),
    (bayes.random_gamma_gamma, (6.25, 3.74, 15.44), "x"),
])
def test_random_generators_follow_the_model(random, params, design):
    """Data simulated by the CustomDist generators give back their parameters."""
    rng = np.random.default_rng(0)
    n = 40_000
    if design == "T":
        T = rng.uniform(20, 40, n)
        sim = random(*params, T, rng=rng, size=(n,))
        summary = pd.DataFrame({"frequency": sim[:, 0], "recency": sim[:, 1], "T": T})
        cls = BetaGeoModel if random is bayes.random_beta_geo else ModifiedBetaGeoModel
    else:
        x = rng.integers(1, 8, n).astype(float)
        summary = pd.DataFrame({"frequency": x, "monetary_value": random(*params, x, rng=rng,
                                                                         size=(n,))})
        cls = GammaGammaModel
    summary.attrs["time_unit"] = "W"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = cls().fit(summary)
    z = (fit.params_ - np.array(params)) / fit.standard_errors_
    assert np.all(np.abs(z) < 4), z.to_dict()


@needs_pareto
def test_pareto_generator_follows_the_model():
    rng = np.random.default_rng(1)
    n = 8_000
    params = (0.553, 10.578, 0.606, 11.669)
    T = rng.uniform(20, 40, n)
    sim = bayes.random_pareto_nbd(*params, T, rng=rng, size=(n,))
    summary = pd.DataFrame({"frequency": sim[:, 0], "recency": sim[:, 1], "T": T})
    summary.attrs["time_unit"] = "W"
    fit = ParetoNBDModel().fit(summary)
    z = (fit.params_ - np.array(params)) / fit.standard_errors_
    assert np.all(np.abs(z) < 4), z.to_dict()


def test_priors_are_validated_and_kept_by_clone():
    model = BetaGeoModel(method="nuts", priors={"r": Prior("Gamma", alpha=2.0, beta=4.0),
                                                "b": "flat"})
    copy = clone(model)
    assert copy.get_params()["method"] == "nuts"
    assert copy.get_params()["priors"] == model.priors
    assert copy.priors is not model.priors
    from clvmodels.priors import resolve_priors

    resolved = resolve_priors(model.priors, model.param_names(), {"alpha": 30.0})
    assert resolved["r"] == Prior("Gamma", alpha=2.0, beta=4.0)
    assert resolved["b"] == "flat"
    assert resolved["alpha"] == Prior("LogNormal", mu=np.log(30.0), sigma=2.0)
    with pytest.raises(ValueError, match="unknown parameters"):
        resolve_priors({"s": "flat"}, model.param_names(), {})
    with pytest.raises(ValueError, match="must be"):
        resolve_priors({"r": 3.0}, model.param_names(), {})
    with pytest.raises(ValueError, match="method"):
        BetaGeoModel(method="gibbs").fit(pd.DataFrame({"frequency": [1.0], "recency": [1.0],
                                                       "T": [2.0]}))


@pytest.mark.parametrize("prior", [
    Prior("LogNormal", mu=0.3, sigma=2.0), Prior("Gamma", alpha=2.0, beta=3.0),
    Prior("HalfNormal", sigma=2.0), Prior("Exponential", lam=0.5),
    Prior("Exponential", scale=3.0), Prior("Weibull", alpha=2.0, beta=1.5),
    Prior("HalfCauchy", beta=2.0), Prior("HalfFlat"),
])
def test_plain_python_prior_densities_match_pymc(prior):
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    x = pt.dscalar("x")
    logp = pm.logp(prior._class().dist(**prior.params), x)
    fn = pytensor.function([x], [logp, pytensor.grad(logp, x)])
    for theta in (0.05, 1.3, 7.0):
        value, derivative = prior.log_density(theta)
        ref_value, ref_derivative = fn(theta)
        assert value == pytest.approx(float(ref_value), rel=1e-6, abs=1e-9)
        assert derivative == pytest.approx(float(ref_derivative), rel=1e-6, abs=1e-9)
    assert Prior("StudentT", nu=3.0).log_density(1.0) is None  # left to PyMC


def test_callable_priors_work(cdnow_summary):
    import pymc as pm

    model = BetaGeoModel(method="map", priors={"r": lambda name: pm.Gamma(name, 2.0, 4.0)})
    model.fit(cdnow_summary)
    assert model.params_["r"] == pytest.approx(0.243, rel=0.05)


# ----------------------------------------------------------------------------
# Save / load
# ----------------------------------------------------------------------------

def test_save_load_round_trip_of_a_nuts_fit(nuts_bgnbd, cdnow_summary, tmp_path):
    path = tmp_path / "model.json"
    nuts_bgnbd.save(path)
    assert path.exists() and (tmp_path / "model.nc").exists()
    doc = json.loads(path.read_text())
    assert doc["init_params"]["method"] == "nuts" and doc["idata_file"] == "model.nc"
    loaded = load(path)
    assert type(loaded) is BetaGeoModel and loaded.method == "nuts"
    np.testing.assert_array_equal(loaded._posterior_draws(), nuts_bgnbd._posterior_draws())
    pd.testing.assert_series_equal(loaded.params_, nuts_bgnbd.params_)
    assert loaded.inference_["sampler"] == nuts_bgnbd.inference_["sampler"]
    assert loaded.diagnostics_["max_rhat"] == nuts_bgnbd.diagnostics_["max_rhat"]
    pd.testing.assert_frame_equal(loaded.summary(), nuts_bgnbd.summary())
    head = cdnow_summary.head(50)
    pd.testing.assert_frame_equal(loaded.expected_purchases(head, 10, interval=0.8),
                                  nuts_bgnbd.expected_purchases(head, 10, interval=0.8))
    assert loaded.data_fingerprint(cdnow_summary) == nuts_bgnbd.data_fingerprint_


def test_save_load_keeps_prior_objects(cdnow_summary, tmp_path):
    priors = {"p": Prior("Gamma", alpha=5.0, beta=1.0)}
    model = GammaGammaModel(method="map", priors=priors).fit(cdnow_summary)
    model.save(tmp_path / "gg.json")
    assert not (tmp_path / "gg.nc").exists()  # MAP: no posterior draws
    loaded = load(tmp_path / "gg.json")
    assert loaded.priors == priors and loaded.method == "map"
    pd.testing.assert_series_equal(loaded.params_, model.params_)


# ----------------------------------------------------------------------------
# Mocked posteriors: exact prediction / interval tests
# ----------------------------------------------------------------------------

def _mocked(model_cls, mle, n_chains=2, n_draws=50, seed=0, **init):
    """A model whose posterior is a hand-built InferenceData with known draws."""
    rng = np.random.default_rng(seed)
    names = model_cls.param_names()
    draws = np.exp(np.log(mle.params_.to_numpy()) + rng.normal(0, 0.05, (n_chains * n_draws,
                                                                           len(names))))
    model = model_cls(method="nuts", **init).with_parameters(
        dict(zip(names, draws.mean(axis=0))), time_unit=getattr(mle, "time_unit_", None))
    model.idata_ = az.from_dict(posterior={
        n: draws[:, i].reshape(n_chains, n_draws) for i, n in enumerate(names)})
    return model, draws


def _per_draw(model, draws, predict):
    """``predict(model_with_parameters)`` for every draw, stacked as (customers, draws)."""
    cols = [np.asarray(predict(model.with_parameters(dict(zip(model.param_names(), d)))),
                       dtype=float) for d in draws]
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("method, args", [
    ("expected_purchases", (10,)),
    ("expected_purchases", ([5, 20],)),
    ("probability_alive", ()),
    ("probability_of_no_purchase", (8,)),
    ("conditional_probability_of_purchases", (8, [0, 2])),
])
def test_mocked_posterior_intervals_are_the_draw_quantiles(method, args, fitted_bgnbd,
                                                          cdnow_summary):
    model, draws = _mocked(BetaGeoModel, fitted_bgnbd)
    head = cdnow_summary.iloc[::20]
    per_draw = _per_draw(model, draws, lambda m: getattr(m, method)(head, *args))
    mean = getattr(model, method)(head, *args)  # posterior mean by default
    np.testing.assert_allclose(np.asarray(mean, dtype=float), per_draw.mean(axis=-1),
                               rtol=1e-10)
    out = getattr(model, method)(head, *args, interval=0.9)
    lower, upper = np.quantile(per_draw, [0.05, 0.95], axis=-1)
    if per_draw.ndim == 2:
        assert list(out.columns) == ["mean", "lower", "upper"]
        np.testing.assert_allclose(out["lower"], lower, rtol=1e-10)
        np.testing.assert_allclose(out["upper"], upper, rtol=1e-10)
        np.testing.assert_allclose(out["mean"], per_draw.mean(axis=-1), rtol=1e-10)
    else:
        labels = out.columns.get_level_values(0).unique()
        for j, label in enumerate(labels):
            np.testing.assert_allclose(out[(label, "lower")], lower[:, j], rtol=1e-10)
            np.testing.assert_allclose(out[(label, "upper")], upper[:, j], rtol=1e-10)
    drawn = getattr(model, method)(head, *args, return_draws=True)
    assert drawn.dims[0] == "customer_id" and drawn.dims[-1] == "draw"
    np.testing.assert_allclose(drawn.to_numpy(), per_draw, rtol=1e-10)
    assert drawn.sizes["draw"] == 100


def test_mocked_posterior_spend_and_new_customers(fitted_gamma_gamma, fitted_bgnbd,
                                                  cdnow_summary):
    spend, draws = _mocked(GammaGammaModel, fitted_gamma_gamma, seed=1)
    head = cdnow_summary.head(40)
    per_draw = _per_draw(spend, draws, lambda m: m.expected_spend(head))
    out = spend.expected_spend(head, interval=0.5)
    np.testing.assert_allclose(out["mean"], per_draw.mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(out["lower"], np.quantile(per_draw, 0.25, axis=1), rtol=1e-12)

    model, draws = _mocked(BetaGeoModel, fitted_bgnbd, seed=2)
    ref = np.array([model.with_parameters(dict(zip(model.param_names(), d)))
                    .expected_purchases_new_customer(39) for d in draws])
    out = model.expected_purchases_new_customer([39], interval=0.9)
    assert out.loc[39.0, "mean"] == pytest.approx(ref.mean(), rel=1e-12)
    assert out.loc[39.0, "upper"] == pytest.approx(np.quantile(ref, 0.95), rel=1e-12)
    assert model.expected_purchases_new_customer(39) == pytest.approx(ref.mean(), rel=1e-12)
    probs = model.probability_of_purchases(39, [0, 1], interval=0.9)
    assert list(probs.index) == [0, 1]


def test_subsets_of_draws_and_mle_intervals(fitted_bgnbd, cdnow_summary):
    model, draws = _mocked(BetaGeoModel, fitted_bgnbd, n_draws=100)
    head = cdnow_summary.head(30)
    a = model.expected_purchases(head, 10, n_draws=50, random_state=3)
    b = model.expected_purchases(head, 10, n_draws=50, random_state=3)
    pd.testing.assert_series_equal(a, b)
    assert not np.allclose(a, model.expected_purchases(head, 10))
    # maximum likelihood: the default is unchanged (plug-in Series), intervals use
    # asymptotic draws
    plug_in = fitted_bgnbd.expected_purchases(head, 10)
    assert isinstance(plug_in, pd.Series) and plug_in.name == "expected_purchases"
    out = fitted_bgnbd.expected_purchases(head, 10, interval=0.9, random_state=0)
    assert np.all(out["lower"] <= plug_in) and np.all(plug_in <= out["upper"])
    np.testing.assert_allclose(out["mean"], plug_in, rtol=0.02)
    ref = fitted_bgnbd.sample_parameters(1000, random_state=0)
    per_draw = np.stack([fitted_bgnbd.with_parameters(row).expected_purchases(head, 10)
                         for _, row in ref.iterrows()], axis=1)
    np.testing.assert_allclose(out["upper"], np.quantile(per_draw, 0.95, axis=1), rtol=1e-10)
    with pytest.raises(ValueError, match="interval"):
        fitted_bgnbd.probability_alive(head, interval=1.2)


def test_chunked_reduction_equals_unchunked():
    rng = np.random.default_rng(0)
    n = 5000
    cols = [rng.integers(0, 5, n).astype(float), rng.integers(0, 30, n).astype(float)]
    draws = rng.gamma(2.0, 1.0, (300, 2))

    def func(block, d):
        x, y = block
        return np.stack([x[:, None] * d[None, :, 0] + np.sqrt(y[:, None] * d[None, :, 1]),
                         np.where(x[:, None] > 3, np.nan, y[:, None] * d[None, :, 0])], axis=-1)

    whole = reduce_draws(cols, func, draws, interval=0.8, return_draws=True,
                         max_bytes=2**40, group=False)
    small = reduce_draws(cols, func, draws, interval=0.8, return_draws=True, max_bytes=10_000)
    for field in ("mean", "lower", "upper", "draws"):
        np.testing.assert_allclose(getattr(small, field), getattr(whole, field), rtol=1e-12,
                                   equal_nan=True)
    assert small.n_undefined == whole.n_undefined > 0
    direct = np.stack([func(cols, draws[j:j + 1])[:, 0, :] for j in range(len(draws))], axis=-1)
    np.testing.assert_allclose(whole.draws, direct, rtol=1e-12)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.testing.assert_allclose(whole.upper, np.nanquantile(direct, 0.9, axis=-1),
                                   rtol=1e-12)


# ----------------------------------------------------------------------------
# Customer lifetime value over posterior draws
# ----------------------------------------------------------------------------

def test_clv_of_bayesian_models_averages_joint_draws(fitted_bgnbd, fitted_gamma_gamma,
                                                    cdnow_summary):
    tm, _ = _mocked(BetaGeoModel, fitted_bgnbd, n_draws=20, seed=3)
    sm, _ = _mocked(GammaGammaModel, fitted_gamma_gamma, n_draws=20, seed=4)
    head = cdnow_summary.head(60)
    kw = dict(horizon=6, time_unit="M", discount_rate=0.01)
    out = customer_lifetime_value(tm, sm, head, interval=0.9, random_state=5, **kw)
    # the same pairs, one plug-in CLV per pair
    rng = np.random.default_rng(5)
    td = tm.sample_parameters(40, random_state=rng)
    sd = sm.sample_parameters(40, random_state=rng)
    per_pair = np.stack([
        customer_lifetime_value(tm.with_parameters(td.iloc[j]), sm.with_parameters(sd.iloc[j]),
                                head, **kw)["clv"].to_numpy() for j in range(40)], axis=1)
    np.testing.assert_allclose(out["clv"], per_pair.mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(out["clv_lower"], np.quantile(per_pair, 0.05, axis=1),
                               rtol=1e-10)
    np.testing.assert_allclose(out["clv_upper"], np.quantile(per_pair, 0.95, axis=1),
                               rtol=1e-10)
    # without an interval the point value is still the posterior mean
    point = customer_lifetime_value(tm, sm, head, random_state=5, **kw)
    np.testing.assert_allclose(point["clv"], out["clv"], rtol=1e-12)
    assert list(point.columns) == ["expected_purchases", "expected_spend", "clv"]


def test_clv_uses_at_most_a_thousand_posterior_draws_by_default(fitted_bgnbd,
                                                                fitted_gamma_gamma,
                                                                cdnow_summary):
    tm, _ = _mocked(BetaGeoModel, fitted_bgnbd, n_draws=600, seed=1)  # 1,200 draws
    sm, _ = _mocked(GammaGammaModel, fitted_gamma_gamma, n_draws=600, seed=2)
    head = cdnow_summary.head(30)
    kw = dict(horizon=3, time_unit="M", interval=0.8)
    default = customer_lifetime_value(tm, sm, head, random_state=7, **kw)
    thousand = customer_lifetime_value(tm, sm, head, n_draws=1000, random_state=7, **kw)
    every = customer_lifetime_value(tm, sm, head, n_draws=1200, random_state=7, **kw)
    pd.testing.assert_frame_equal(default, thousand)
    assert not np.allclose(default["clv_lower"], every["clv_lower"], rtol=1e-12)


def test_clv_interval_carries_spend_uncertainty(nuts_bgnbd, nuts_gamma_gamma, cdnow_summary):
    head = cdnow_summary.iloc[::10]
    both = customer_lifetime_value(nuts_bgnbd, nuts_gamma_gamma, head, 12, "M", interval=0.9,
                                   random_state=0)

    class FixedSpend:
        def expected_spend(self, summary):
            return nuts_gamma_gamma.expected_spend(summary)

    only = customer_lifetime_value(nuts_bgnbd, FixedSpend(), head, 12, "M", interval=0.9,
                                   random_state=0)
    width_both = (both["clv_upper"] - both["clv_lower"]).median()
    width_one = (only["clv_upper"] - only["clv_lower"]).median()
    assert width_both > 1.1 * width_one
    assert np.all((both["clv_lower"] <= both["clv"]) & (both["clv"] <= both["clv_upper"]))


# ----------------------------------------------------------------------------
# Calibration: simulate with known parameters, check coverage (slow)
# ----------------------------------------------------------------------------

@pytest.mark.slow
def test_ninety_percent_intervals_cover_the_truth():
    """Repeated simulations from known BG/NBD parameters: the 90% central posterior
    intervals contain the true value in about 90% of them."""
    truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    hits, n_sims = [], 30
    for i in range(n_sims):
        rng = np.random.default_rng(100 + i)
        T = rng.uniform(26.0, 39.0, 3000).round(0)
        sim = bayes.random_beta_geo(*truth.values(), T, rng=rng, size=(3000,))
        summary = pd.DataFrame({"frequency": sim[:, 0], "recency": sim[:, 1], "T": T})
        summary.attrs["time_unit"] = "W"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BetaGeoModel(method="nuts").fit(summary, draws=500, tune=500,
                                                    random_state=i)
        ci = model.confidence_intervals(0.9)
        hits.append([(ci.loc[n, "lower"] <= v <= ci.loc[n, "upper"]) for n, v in truth.items()])
    coverage = np.mean(hits, axis=0)
    assert np.all(coverage >= 0.75), dict(zip(truth, coverage))
    assert np.mean(hits) >= 0.82
