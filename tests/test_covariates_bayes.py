"""Static covariates with Bayesian fits (MAP, NUTS), the penalizer, MBG/NBD covariates
and predictive CLV intervals (clvmodels.covariates)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clvmodels import (BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel,
                       simulate)
from clvmodels.clv import customer_lifetime_value
from clvmodels.inference import bayes
from clvmodels.inference.bayes import model_priors
from clvmodels.likelihoods import beta_geo as bg
from clvmodels.likelihoods import gamma_gamma as gg
from clvmodels.persistence import load
from clvmodels.priors import DEFAULT_COEFFICIENT_PRIOR, NUMPY_DENSITIES, Prior

BG_TRUE = {"purchase_coef[web]": 0.7, "dropout_coef_a[age]": 0.5,
           "dropout_coef_b[age]": -0.5}
BG_COVS = {"purchase_covariates": ["web"], "dropout_covariates": ["age"]}


def _covariates(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"web": (rng.random(n) < 0.5).astype(float),
                         "age": rng.standard_normal(n)})


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


@pytest.fixture(scope="module")
def bg_data():
    """1,500 BG/NBD customers with a binary purchase and a normal dropout covariate."""
    n = 1500
    T = np.random.default_rng(11).uniform(20, 60, n)
    return simulate.beta_geo_summary(n, r=0.8, alpha=5.0, a=0.8, b=2.5, T=T, random_state=2,
                                     time_unit="W", covariates=_covariates(n, 1),
                                     coefficients=BG_TRUE)


@pytest.fixture(scope="module")
def bg_mle(bg_data):
    return _quiet(BetaGeoModel(**BG_COVS).fit, bg_data)


@pytest.fixture(scope="module")
def bg_nuts(bg_data):
    model = BetaGeoModel(method="nuts", **BG_COVS)
    return _quiet(model.fit, bg_data, draws=200, tune=200, chains=2, random_state=1)


# ---------------------------------------------------------------------- priors
def test_coefficients_get_normal_priors_by_default_and_can_be_overridden(bg_data):
    model = BetaGeoModel(method="map", **BG_COVS)
    data = [bg_data[c].to_numpy(dtype=float) for c in model.data_columns]
    priors = model_priors(model, data, np.ones(len(bg_data)))
    assert priors["purchase_coef[web]"] == Prior("Normal", mu=0.0, sigma=1.0)
    assert priors["dropout_coef_b[age]"] == DEFAULT_COEFFICIENT_PRIOR
    assert priors["r"].distribution == "LogNormal"  # the positive ones keep theirs
    tight = Prior("Normal", mu=0.3, sigma=0.01)
    model.priors = {"purchase_coef[web]": tight}
    assert model_priors(model, data, np.ones(len(bg_data)))["purchase_coef[web]"] == tight
    model.priors = "flat"
    flat = model_priors(model, data, np.ones(len(bg_data)))
    assert flat["purchase_coef[web]"] == Prior("Flat") and flat["r"] == "flat"


@pytest.mark.parametrize("t", [-2.5, -0.3, 0.0, 1.7])
def test_numpy_normal_density_matches_scipy(t):
    value, derivative = NUMPY_DENSITIES["Normal"][1](t, mu=0.4, sigma=1.3)
    assert value == pytest.approx(stats.norm.logpdf(t, 0.4, 1.3), rel=1e-12)
    h = 1e-6
    numeric = (stats.norm.logpdf(t + h, 0.4, 1.3) - stats.norm.logpdf(t - h, 0.4, 1.3)) / (2 * h)
    assert derivative == pytest.approx(numeric, rel=1e-6, abs=1e-8)


# ---------------------------------------------------------------------- MAP
def test_map_with_flat_priors_equals_the_mle_coefficients_included(bg_data, bg_mle):
    model = _quiet(BetaGeoModel(method="map", priors="flat", **BG_COVS).fit, bg_data)
    assert list(model.params_.index) == list(bg_mle.params_.index)
    np.testing.assert_allclose(model.params_.to_numpy(), bg_mle.params_.to_numpy(),
                               rtol=1e-4, atol=1e-5)
    # The Laplace covariance is the MLE's (coefficients on their own scale).
    np.testing.assert_allclose(model.standard_errors_.to_numpy(),
                               bg_mle.standard_errors_.to_numpy(), rtol=2e-3)
    assert model.params_["dropout_coef_b[age]"] < 0


def test_map_of_pareto_nbd_and_gamma_gamma_with_flat_priors_equals_the_mle():
    n = 800
    covs = _covariates(n, 5)
    T = np.random.default_rng(6).uniform(20, 60, n)
    data = simulate.pareto_nbd_summary(
        n, r=0.8, alpha=5.0, s=0.8, beta=10.0, T=T, random_state=3, time_unit="W",
        covariates=covs, coefficients={"purchase_coef[web]": 0.6, "dropout_coef[age]": 0.4,
                                       "spend_coef[age]": 0.3},
        spend={"p": 6.0, "q": 4.0, "v": 15.0})
    kw = {"purchase_covariates": ["web"], "dropout_covariates": ["age"]}
    mle = _quiet(ParetoNBDModel(**kw).fit, data)
    mp = _quiet(ParetoNBDModel(method="map", priors="flat", **kw).fit, data)
    np.testing.assert_allclose(mp.params_.to_numpy(), mle.params_.to_numpy(), rtol=1e-4,
                               atol=1e-5)
    repeat = data[data["frequency"] > 0]
    mle = _quiet(GammaGammaModel(spend_covariates=["age"]).fit, repeat)
    mp = _quiet(GammaGammaModel(spend_covariates=["age"], method="map", priors="flat").fit,
                repeat)
    np.testing.assert_allclose(mp.params_.to_numpy(), mle.params_.to_numpy(), rtol=1e-4,
                               atol=1e-5)


def test_map_follows_a_tight_prior_on_a_coefficient(bg_data, bg_mle):
    prior = {"purchase_coef[web]": Prior("Normal", mu=0.2, sigma=1e-3)}
    model = _quiet(BetaGeoModel(method="map", priors=prior, **BG_COVS).fit, bg_data)
    assert bg_mle.params_["purchase_coef[web]"] > 0.5
    assert model.params_["purchase_coef[web]"] == pytest.approx(0.2, abs=5e-3)


# ---------------------------------------------------------------------- NUTS
def test_nuts_posterior_holds_the_coefficients_near_the_mle(bg_nuts, bg_mle):
    names = bg_mle.param_names()
    assert list(bg_nuts.params_.index) == names
    for name in names:
        assert name in bg_nuts.idata_.posterior.data_vars
    z = (bg_nuts.params_ - bg_mle.params_) / bg_nuts.standard_errors_
    assert (z.abs() < 3).all(), z
    for name, true in BG_TRUE.items():  # and the simulated truth within 4 sd
        assert abs(bg_nuts.params_[name] - true) < 4 * bg_nuts.standard_errors_[name], name
    draws = bg_nuts.idata_.posterior["dropout_coef_b[age]"].to_numpy()
    assert (draws < 0).mean() > 0.9  # sampled on their own scale, negative values kept
    ci = bg_nuts.confidence_intervals(0.9)
    assert ci.loc["dropout_coef_b[age]", "upper"] < 0


def _hand_clv(draws, spend_params, rows, steps, rate):
    """CLV of ``rows`` (with web, age) averaged over BG/NBD ``draws``: per-customer
    parameters by the documented links, weekly steps discounted at ``rate``."""
    p, q, v, c_spend = spend_params
    out = []
    for _, row in rows.iterrows():
        v_i = v * math.exp(c_spend * row["web"])
        spend = float(gg.expected_spend(row["frequency"], row["monetary_value"], p, q, v_i))
        total = 0.0
        for d in draws:
            r, alpha, a, b, c_web, c_a, c_b = d
            alpha_i = alpha * math.exp(-c_web * row["web"])
            a_i, b_i = a * math.exp(c_a * row["age"]), b * math.exp(c_b * row["age"])
            cum = [float(bg.conditional_expected_purchases(
                t, row["frequency"], row["recency"], row["T"], r, alpha_i, a_i, b_i))
                for t in range(steps + 1)]
            total += sum((cum[k] - cum[k - 1]) * spend / (1 + rate) ** k
                         for k in range(1, steps + 1))
        out.append(total / len(draws))
    return np.array(out)


def test_posterior_draws_clv_equals_a_hand_computation(bg_data, bg_nuts):
    summary = bg_data.iloc[:4].copy()
    summary["monetary_value"] = [0.0, 20.0, 35.0, 12.0]
    summary.loc[summary["frequency"] == 0, "monetary_value"] = 0.0
    spend = GammaGammaModel(spend_covariates=["web"]).with_parameters(
        {"p": 6.0, "q": 4.0, "v": 15.0, "spend_coef[web]": 0.4})
    result = _quiet(customer_lifetime_value, bg_nuts, spend, summary, horizon=5,
                    time_unit="W", discount_rate=0.02, random_state=0)
    draws = bg_nuts._posterior_draws()
    assert len(draws) == 400  # every posterior draw, each used once
    expected = _hand_clv(draws, (6.0, 4.0, 15.0, 0.4), summary, 5, 0.02)
    np.testing.assert_allclose(result["clv"].to_numpy(), expected, rtol=1e-8)
    # The covariates matter: the same history without them gives other values.
    no_links = np.column_stack([draws[:, :4], np.zeros((len(draws), 3))])
    plain = _hand_clv(no_links, (6.0, 4.0, 15.0, 0.0), summary, 5, 0.02)
    assert np.max(np.abs(plain - expected) / expected) > 0.05


def test_save_load_keeps_the_posterior_of_the_coefficients(bg_data, bg_nuts, tmp_path):
    path = tmp_path / "bg.json"
    bg_nuts.save(path)
    loaded = load(path)
    pd.testing.assert_series_equal(loaded.params_, bg_nuts.params_)
    for name in BG_TRUE:
        np.testing.assert_array_equal(loaded.idata_.posterior[name].to_numpy(),
                                      bg_nuts.idata_.posterior[name].to_numpy())
    summary = bg_data.iloc[:20]
    a = bg_nuts.expected_purchases(summary, 10, interval=0.8)
    b = loaded.expected_purchases(summary, 10, interval=0.8)
    pd.testing.assert_frame_equal(a, b)


def test_posterior_predictive_simulates_each_customer_with_their_covariates(bg_data, bg_nuts):
    ppc = bg_nuts.posterior_predictive(bg_data, n_draws=40, random_state=3)
    freq = ppc.posterior_predictive["purchases"].sel(column="frequency")
    sim = freq.mean(dim=("chain", "draw")).to_numpy()
    web = bg_data["web"].to_numpy() > 0
    observed = bg_data["frequency"].to_numpy()
    # The simulated purchases follow each group's observed purchases (a model
    # simulating without the covariates would give both groups the same mean).
    for group in (web, ~web):
        assert sim[group].mean() == pytest.approx(observed[group].mean(), rel=0.12)
    assert sim[web].mean() / sim[~web].mean() > 1.4
    prior = bg_nuts.prior_predictive(bg_data, draws=300, random_state=4, max_customers=200)
    coef = prior.prior["purchase_coef[web]"].to_numpy().ravel()
    assert abs(coef.mean()) < 0.2 and 0.85 < coef.std() < 1.15  # Normal(0, 1)
    assert (coef < 0).any()


# ---------------------------------------------------------------------- penalizer
def _penalised_nll(z, data, penalizer, coefficients=True):
    """lifetimes' penalised mean negative log-likelihood of BG/NBD with covariates,
    written out: ``z`` = (log r, log alpha, log a, log b, coefficients); alpha enters
    the penalty in units of max(T), the coefficients as they are."""
    r, alpha, a, b = np.exp(z[:4])
    c_web, c_a, c_b = z[4:]
    x, t_x, T = (data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    web, age = data["web"].to_numpy(), data["age"].to_numpy()
    ll = bg.loglik(x, t_x, T, r, alpha * np.exp(-c_web * web), a * np.exp(c_a * age),
                   b * np.exp(c_b * age))
    penalty = r ** 2 + (alpha / T.max()) ** 2 + a ** 2 + b ** 2
    if coefficients:
        penalty = penalty + c_web ** 2 + c_a ** 2 + c_b ** 2
    return -np.mean(ll) + penalizer * penalty


@pytest.mark.parametrize("penalizer", [0.002, 0.02])
def test_penalised_fit_with_covariates_equals_a_direct_minimisation(bg_data, bg_mle, penalizer):
    from scipy import optimize

    model = _quiet(BetaGeoModel(penalizer=penalizer, **BG_COVS).fit, bg_data)
    z0 = np.concatenate([np.log(bg_mle.params_.to_numpy()[:4]), bg_mle.params_.to_numpy()[4:]])
    res = optimize.minimize(_penalised_nll, z0, args=(bg_data, penalizer), method="BFGS",
                            options={"gtol": 1e-10, "maxiter": 5000})
    expected = np.concatenate([np.exp(res.x[:4]), res.x[4:]])
    np.testing.assert_allclose(model.params_.to_numpy(), expected, rtol=1e-4, atol=1e-5)
    # The coefficients are penalised: without their terms the minimum is elsewhere.
    other = optimize.minimize(_penalised_nll, z0, args=(bg_data, penalizer, False),
                              method="BFGS", options={"gtol": 1e-10, "maxiter": 5000})
    assert np.max(np.abs(other.x[4:] - res.x[4:])) > 1e-3
    assert model.summary()["penalizer"].eq(penalizer).all()


# ---------------------------------------------------------------------- MBG/NBD
@pytest.fixture(scope="module")
def mbg_data():
    n = 4000
    T = np.random.default_rng(21).uniform(20, 60, n)
    return simulate.modified_beta_geo_summary(n, r=0.8, alpha=5.0, a=0.8, b=2.5, T=T,
                                              random_state=22, time_unit="W",
                                              covariates=_covariates(n, 23),
                                              coefficients=BG_TRUE)


def test_mbg_zero_coefficients_equal_the_plain_model(mbg_data):
    plain = _quiet(ModifiedBetaGeoModel().fit, mbg_data)
    zero = ModifiedBetaGeoModel(**BG_COVS).with_parameters(
        {**plain.params_, **dict.fromkeys(BG_TRUE, 0.0)}, time_unit="W")
    s = mbg_data.iloc[:300]
    pd.testing.assert_series_equal(zero.probability_alive(s), plain.probability_alive(s))
    pd.testing.assert_frame_equal(zero.expected_purchases(s, [5, 10]),
                                  plain.expected_purchases(s, [5, 10]))
    pd.testing.assert_frame_equal(zero.conditional_probability_of_purchases(s, 10, [0, 2]),
                                  plain.conditional_probability_of_purchases(s, 10, [0, 2]))
    data = [mbg_data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "web",
                                                        "age")]
    theta = zero._to_theta(zero.params_.to_numpy())
    np.testing.assert_array_equal(
        zero.likelihood.loglik(*data, *np.exp(theta)),
        ModifiedBetaGeoModel.likelihood.loglik(*data[:3], *plain.params_.to_numpy()))


def test_mbg_recovers_known_coefficients_and_predicts_per_customer(mbg_data):
    model = _quiet(ModifiedBetaGeoModel(**BG_COVS).fit, mbg_data)
    assert model.param_names() == ["r", "alpha", "a", "b", *BG_TRUE]
    assert model.fit_status_ == "converged"
    for name, true in BG_TRUE.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert 0 < se < abs(true) / 2
        assert abs(est - true) < 3 * se and np.sign(est) == np.sign(true), (name, est, se)
    p = model.params_
    for i in (3, 17):
        row = mbg_data.iloc[[i]]
        web, age = row["web"].iloc[0], row["age"].iloc[0]
        own = ModifiedBetaGeoModel().with_parameters({
            "r": p["r"], "alpha": p["alpha"] * np.exp(-p["purchase_coef[web]"] * web),
            "a": p["a"] * np.exp(p["dropout_coef_a[age]"] * age),
            "b": p["b"] * np.exp(p["dropout_coef_b[age]"] * age)}, time_unit="W")
        assert model.expected_purchases(row, 10).iloc[0] == pytest.approx(
            own.expected_purchases(row, 10).iloc[0], rel=1e-12)
        assert model.probability_alive(row).iloc[0] == pytest.approx(
            own.probability_alive(row).iloc[0], rel=1e-12)


# ---------------------------------------------------------------------- predictive CLV
@pytest.mark.parametrize("purchase_model", ["bg", "pareto"])
def test_predictive_clv_interval_simulates_each_customer_with_their_own_parameters(
        bg_data, purchase_model):
    summary = pd.concat([bg_data.iloc[:3], bg_data[bg_data["frequency"] > 2].iloc[:3]])
    summary["monetary_value"] = np.where(summary["frequency"] > 0, 25.0, 0.0)
    spend = {"p": 6.0, "q": 4.0, "v": 15.0}
    spend_coef = {"spend_coef[web]": 0.5}
    if purchase_model == "bg":
        cls, params, coefs = BetaGeoModel, {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5}, BG_TRUE
        kw = BG_COVS

        def own(row):
            return {"r": 0.8, "alpha": 5.0 * np.exp(-0.7 * row["web"]),
                    "a": 0.8 * np.exp(0.5 * row["age"]), "b": 2.5 * np.exp(-0.5 * row["age"])}
    else:
        cls, params = ParetoNBDModel, {"r": 0.8, "alpha": 5.0, "s": 0.8, "beta": 10.0}
        coefs = {"purchase_coef[web]": 0.7, "dropout_coef[age]": 0.5}
        kw = {"purchase_covariates": ["web"], "dropout_covariates": ["age"]}

        def own(row):
            return {"r": 0.8, "alpha": 5.0 * np.exp(-0.7 * row["web"]), "s": 0.8,
                    "beta": 10.0 * np.exp(-0.5 * row["age"])}
    tm = cls(**kw).with_parameters({**params, **coefs}, time_unit="W")
    sm = GammaGammaModel(spend_covariates=["web"]).with_parameters({**spend, **spend_coef})
    options = {"horizon": 8, "time_unit": "W", "discount_rate": 0.01, "interval": 0.8,
               "interval_kind": "predictive", "n_simulations": 400}
    bounds = []
    for i in range(len(summary)):
        one = summary.iloc[[i]]
        row = one.iloc[0]
        got = _quiet(customer_lifetime_value, tm, sm, one, random_state=7, **options)
        plain_tm = cls().with_parameters(own(row), time_unit="W")
        plain_sm = GammaGammaModel().with_parameters(
            {**spend, "v": 15.0 * np.exp(0.5 * row["web"])})
        ref = _quiet(customer_lifetime_value, plain_tm, plain_sm,
                     one[["frequency", "recency", "T", "monetary_value"]], random_state=7,
                     **options)
        for col in ("clv", "clv_predictive_lower", "clv_predictive_upper"):
            assert got[col].iloc[0] == pytest.approx(ref[col].iloc[0], rel=1e-9), (i, col)
        bounds.append(got["clv_predictive_upper"].iloc[0])
    assert len(set(np.round(bounds, 6))) > 2  # the customers differ
    # All customers at once: each row keeps its own parameters (web customers with
    # the same history buy more and spend more, so their upper bounds are higher).
    many = pd.concat([summary.iloc[[-1]]] * 200, ignore_index=True)
    many["web"] = np.repeat([0.0, 1.0], 100)
    many.attrs = dict(summary.attrs)
    both = _quiet(customer_lifetime_value, tm, sm, many, random_state=1, **options)
    web = many["web"].to_numpy() > 0
    assert (both.loc[web, "clv_predictive_upper"].mean()
            > 1.1 * both.loc[~web, "clv_predictive_upper"].mean())


def test_advi_with_covariates_centres_on_the_mle(bg_data, bg_mle):
    model = _quiet(BetaGeoModel(method="advi", **BG_COVS).fit, bg_data, draws=500,
                   random_state=2, sampler_kwargs={"n": 3000})
    assert list(model.idata_.posterior.data_vars) == bg_mle.param_names()
    z = (model.params_ - bg_mle.params_) / bg_mle.standard_errors_
    assert (z.abs() < 1).all(), z
    assert (model.idata_.posterior["dropout_coef_b[age]"].to_numpy() < 0).mean() > 0.9


# ---------------------------------------------------------------------- log-posterior
def _fit_data(model, summary):
    data, weights, _, _, _ = model._data_for_fit(summary, None, None)
    return data, weights


def test_pymc_model_and_log_posterior_agree_with_covariates(bg_data, bg_mle):
    """The PyMC model (used by PyMC's sampler, priors PyMC evaluates and predictive
    checks) and the sampler's log-posterior give the same density at a point with a
    negative coefficient."""
    data, weights = _fit_data(bg_mle, bg_data)
    point = bg_mle.params_.to_numpy() * np.array([1.1, 0.9, 1.05, 0.95, 1.2, 0.8, 1.3])
    assert point[-1] < 0
    pm_model = bayes.build_pymc_model(bg_mle, data, weights)
    values = {}
    for rv, (name, value, positive) in zip(pm_model.free_RVs, zip(
            bg_mle.param_names(), point, bg_mle._positive())):
        key = pm_model.rvs_to_values[rv].name
        values[key] = np.log(value) if positive else value
        assert key == (f"{name}_log__" if positive else name)
    pm_value = float(pm_model.compile_logp(jacobian=False)(values))
    priors = bayes.model_priors(bg_mle, data, weights)
    prior = bayes._numpy_prior_function(priors, bg_mle.param_names(), bg_mle._positive())
    density = bayes.LogPosterior(bg_mle, None, data, weights, jacobian=False,
                                 reference=bg_mle.params_.to_numpy(), prior_function=prior,
                                 kernel=False)
    value, _ = density(bg_mle._to_theta(point))
    assert value == pytest.approx(pm_value, rel=1e-9)
    # The compiled prior of the PyMC model equals the numpy one.
    compiled = bayes._prior_function(pm_model, bg_mle.param_names(), bg_mle._positive())
    psi = bg_mle._to_theta(point)
    np.testing.assert_allclose(compiled(psi)[0], prior(psi)[0], rtol=1e-8)
    np.testing.assert_allclose(compiled(psi)[1], prior(psi)[1], rtol=1e-8, atol=1e-10)


def test_parallel_kernel_of_large_data_agrees_with_covariates(bg_data, bg_mle, monkeypatch):
    """From NUMBA_MIN_ROWS distinct rows on (every customer, with a continuous
    covariate) NUTS evaluates the likelihood by the numba loop: same value and gradient."""
    data, weights = _fit_data(bg_mle, bg_data.iloc[:300])
    ref = bg_mle.params_.to_numpy()
    priors = bayes.model_priors(bg_mle, data, weights)
    prior = bayes._numpy_prior_function(priors, bg_mle.param_names(), bg_mle._positive())
    plain = bayes.LogPosterior(bg_mle, None, data, weights, reference=ref,
                               prior_function=prior, kernel=False)
    monkeypatch.setattr(bayes, "NUMBA_MIN_ROWS", 10)
    fast = bayes.LogPosterior(bg_mle, None, data, weights, reference=ref,
                              prior_function=prior, kernel=True)
    assert fast._kernel is not None
    psi = bg_mle._to_theta(ref) + np.array([0.05, -0.05, 0.1, 0.0, 0.2, -0.3, 0.1])
    v1, g1 = plain(psi)
    v2, g2 = fast(psi)
    assert v2 == pytest.approx(v1, rel=1e-10)
    np.testing.assert_allclose(g2, g1, rtol=1e-7, atol=1e-8)
    # The log-Jacobian counts the positive parameters only.
    no_jac = bayes.LogPosterior(bg_mle, None, data, weights, reference=ref, jacobian=False,
                                prior_function=prior, kernel=False)
    assert v1 - no_jac(psi)[0] == pytest.approx(psi[:4].sum(), rel=1e-12)
    np.testing.assert_allclose(g1 - no_jac(psi)[1], [1, 1, 1, 1, 0, 0, 0])


def test_export_of_a_posterior_scores_each_customer_with_their_covariates(bg_data, bg_nuts):
    from clvmodels import predict_clv

    summary = bg_data.iloc[:4].copy()
    summary["monetary_value"] = np.where(summary["frequency"] > 0, 20.0, 0.0)
    spend = GammaGammaModel(spend_covariates=["web"]).with_parameters(
        {"p": 6.0, "q": 4.0, "v": 15.0, "spend_coef[web]": 0.4})
    table = _quiet(predict_clv, summary, bg_nuts, spend, horizon=5, time_unit="W",
                   discount_rate=0.02, interval=None, random_state=0)
    by_id = table.set_index("customer_id").loc[summary.index]
    expected = _hand_clv(bg_nuts._posterior_draws(), (6.0, 4.0, 15.0, 0.4), summary, 5, 0.02)
    np.testing.assert_allclose(by_id["clv"].to_numpy(), expected, rtol=1e-8)
    np.testing.assert_allclose(by_id["expected_purchases"].to_numpy(),
                               bg_nuts.expected_purchases(summary, 5).to_numpy(), rtol=1e-10)


def test_gamma_gamma_posterior_predictive_uses_the_spend_covariates():
    rng = np.random.default_rng(11)
    n, p, q, v, coef = 1000, 3.0, 5.0, 40.0, 0.6
    web = rng.integers(0, 2, n).astype(float)
    nu = rng.gamma(q, 1.0 / (v * np.exp(coef * web)))
    x = rng.integers(1, 8, n)
    summary = pd.DataFrame({"frequency": x.astype(float),
                            "monetary_value": [rng.gamma(p, 1.0 / nu_i, size=k).mean()
                                               for nu_i, k in zip(nu, x)],
                            "web": web})
    model = _quiet(GammaGammaModel(spend_covariates=["web"]).fit, summary)
    ppc = model.posterior_predictive(summary, n_draws=20, random_state=1)
    sim = ppc.posterior_predictive["spend"].mean(dim=("chain", "draw")).to_numpy()
    observed = summary["monetary_value"].to_numpy()
    for group in (web > 0, web == 0):
        assert sim[group].mean() == pytest.approx(observed[group].mean(), rel=0.1)
    assert sim[web > 0].mean() / sim[web == 0].mean() > 1.5  # exp(0.6) = 1.8
