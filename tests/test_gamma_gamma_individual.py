"""GammaGammaIndividualModel: the Gamma-Gamma model fitted on every repeat amount."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats
from scipy.special import gammaln

import clvmodels
from clvmodels import DataError, GammaGammaIndividualModel, GammaGammaModel
from clvmodels.exceptions import DataWarning
from clvmodels.likelihoods import gamma_gamma as gg_formulas
from clvmodels.likelihoods import gamma_gamma_individual as formulas


def _quiet_summary(log, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return clvmodels.rfm_summary(log, "customer_id", "date", "amount", log_spend=True,
                                     **kwargs)


@pytest.fixture(scope="module")
def cdnow():
    log = clvmodels.datasets.load_cdnow("sample")
    return log, _quiet_summary(log, calibration_period_end="1997-09-30", time_unit="W")


def _direct_loglik(z, p, q, v):
    """log of the integral over nu of prod_j Gamma(z_j | p, rate nu) * Gamma(nu | q, rate v),
    by quadrature in log(nu) around the posterior mean of nu."""
    def log_joint(u):
        nu = np.exp(u)
        return (np.sum(stats.gamma.logpdf(z, p, scale=1.0 / nu))
                + stats.gamma.logpdf(nu, q, scale=1.0 / v) + u)  # + u: d nu = nu du

    centre = np.log((p * len(z) + q) / (v + np.sum(z)))
    shift = log_joint(centre)
    width = 40.0 / np.sqrt(p * len(z) + q)
    value, _ = integrate.quad(lambda u: np.exp(log_joint(u) - shift), centre - width,
                              centre + width, points=[centre], limit=400, epsabs=0,
                              epsrel=1e-11)
    return np.log(value) + shift


@settings(max_examples=40, deadline=None)
@given(z=st.lists(st.floats(0.05, 500.0), min_size=1, max_size=8),
       p=st.floats(0.3, 8.0), q=st.floats(0.5, 8.0), v=st.floats(0.5, 100.0))
def test_loglik_is_the_integral_of_the_per_transaction_gamma_densities(z, p, q, v):
    z = np.array(z)
    x, m = len(z), z.mean()
    g = formulas.log_spend_gap(x, m, np.log(z).sum())
    assert formulas.loglik(x, m, g, p, q, v) == pytest.approx(_direct_loglik(z, p, q, v),
                                                              rel=1e-7, abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(z=st.lists(st.floats(0.05, 500.0), min_size=1, max_size=8),
       p=st.floats(0.3, 8.0), q=st.floats(0.5, 8.0), v=st.floats(0.5, 100.0))
def test_loglik_is_the_mean_density_times_the_dirichlet_of_the_shares(z, p, q, v):
    # Given nu the sum S is Gamma(px, nu) and the shares z/S are Dirichlet(p, ..., p),
    # independent of S; the mean m = S/x has the density of GammaGammaModel's likelihood.
    z = np.array(z)
    x, m = len(z), z.mean()
    S = z.sum()
    dirichlet = gammaln(p * x) - x * gammaln(p) + (p - 1.0) * np.sum(np.log(z / S))
    # Density of z from those of S = x m (the mean's density over x) and of the shares.
    jacobian = -np.log(x) - (x - 1.0) * np.log(S)
    expected = gg_formulas.loglik(x, m, p, q, v) + dirichlet + jacobian
    g = formulas.log_spend_gap(x, m, np.log(z).sum())
    assert formulas.loglik(x, m, g, p, q, v) == pytest.approx(expected, rel=1e-9, abs=1e-9)


def gradient_rows(x, m, g, theta):
    """``(gradient function, plain function, data)`` of both parts of the likelihood."""
    return ((formulas.loglik_count_terms_grad, formulas.loglik_count_terms, (x,)),
            (formulas.loglik_amount_terms_grad, formulas.loglik_amount_terms, (x, m, g)))


def assert_gradients_are_central_differences(grad_fn, plain, data, theta, *, step,
                                             values_rtol, rtol, atol):
    """``grad_fn`` returns ``plain``'s values and, per parameter, central differences of
    relative ``step``; returns the gradients."""
    values, grads = grad_fn(*data, *theta)
    np.testing.assert_allclose(values, plain(*data, *theta), rtol=values_rtol)
    for k in range(len(theta)):
        h = np.zeros(len(theta))
        h[k] = step * theta[k]
        numeric = (plain(*data, *(theta + h)) - plain(*data, *(theta - h))) / (2 * h[k])
        np.testing.assert_allclose(grads[k], numeric, rtol=rtol, atol=atol)
    return grads


def test_analytic_gradients_equal_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.integers(1, 20, 50).astype(float)
    m = rng.gamma(2.0, 20.0, 50)
    g = -rng.gamma(1.0, 0.3, 50) * x
    theta = np.array([2.5, 3.5, 12.0])
    for grad_fn, plain, data in gradient_rows(x, m, g, theta):
        assert_gradients_are_central_differences(grad_fn, plain, data, theta, step=1e-6,
                                                 values_rtol=1e-12, rtol=1e-6, atol=1e-6)


def test_fit_maximises_a_hand_written_likelihood_of_the_raw_amounts(cdnow):
    log, summary = cdnow
    model = GammaGammaIndividualModel().fit(summary)
    # The repeat purchase days of the calibration period, from the log itself.
    cal = log[log["date"] <= "1997-09-30"].assign(day=lambda f: f["date"].dt.floor("D"))
    days = cal.groupby(["customer_id", "day"])["amount"].sum().reset_index()
    days = days.sort_values(["customer_id", "day"])
    z = days[days.groupby("customer_id").cumcount() > 0]
    per = z.groupby("customer_id")["amount"].agg(
        x="size", total="sum", logs=lambda a: np.log(a).sum())

    def nll(theta):
        p, q, v = np.exp(theta)
        ll = ((p - 1) * per["logs"] - per["x"] * gammaln(p) + q * np.log(v) - gammaln(q)
              + gammaln(p * per["x"] + q) - (p * per["x"] + q) * np.log(v + per["total"]))
        return -ll.sum()

    res = optimize.minimize(nll, np.log([1.0, 1.0, 10.0]), method="Nelder-Mead",
                            options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20_000})
    np.testing.assert_allclose(model.params_.to_numpy(), np.exp(res.x), rtol=1e-4)
    assert model.log_likelihood_ == pytest.approx(-res.fun, abs=1e-3)
    assert model.n_customers_ == len(per)
    # The CDNOW figures (README): per transaction p is lower and better determined.
    mean = GammaGammaModel().fit(summary)
    assert model.params_["p"] < mean.params_["p"]
    assert model.standard_errors_["p"] < mean.standard_errors_["p"] / 5
    assert model.population_mean_spend() == pytest.approx(mean.population_mean_spend(),
                                                          rel=0.02)


def test_simulated_amounts_recover_the_parameters():
    truth = dict(p=4.0, q=6.0, v=50.0)
    log = clvmodels.simulate.beta_geo(4000, r=1.5, alpha=10.0, a=0.5, b=3.0,
                                      observation_length=150, time_unit="D", spend=truth,
                                      random_state=5)
    summary = _quiet_summary(log.assign(amount=log["amount"].round(2).clip(lower=0.01)),
                             merge_within=None, time_unit="D")
    model = GammaGammaIndividualModel().fit(summary)
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name


def test_money_units_change_v_and_the_log_likelihood_by_the_jacobian(cdnow):
    _, summary = cdnow
    x = summary["frequency"]
    in_cents = summary.assign(monetary_value=summary["monetary_value"] * 100,
                              log_spend_sum=summary["log_spend_sum"] + x * np.log(100.0))
    a = GammaGammaIndividualModel().fit(summary)
    b = GammaGammaIndividualModel().fit(in_cents)
    np.testing.assert_allclose(b.params_.to_numpy(), a.params_.to_numpy() * [1, 1, 100],
                               rtol=1e-5)
    assert b.log_likelihood_ == pytest.approx(a.log_likelihood_ - x.sum() * np.log(100.0),
                                              abs=1e-4)


def test_predictions_and_clv_are_those_of_gamma_gamma_with_the_same_parameters(cdnow, tmp_path):
    _, summary = cdnow
    model = GammaGammaIndividualModel().fit(summary)
    same = GammaGammaModel().fit(summary).with_parameters(model.params_)
    pd.testing.assert_series_equal(model.expected_spend(summary), same.expected_spend(summary))
    # FH eq. 5 by hand for one repeat customer.
    row = summary[summary["frequency"] > 0].iloc[0]
    p, q, v = model.params_
    x, m = row["frequency"], row["monetary_value"]
    assert model.expected_spend(summary)[row.name] == pytest.approx(
        p * (v + x * m) / (p * x + q - 1))
    bg = clvmodels.BetaGeoModel().fit(summary)
    clv = clvmodels.customer_lifetime_value(bg, model, summary, 12, "W", discount_rate=0.01)
    pd.testing.assert_frame_equal(
        clv, clvmodels.customer_lifetime_value(bg, same, summary, 12, "W", discount_rate=0.01))
    assert clv["clv"].sum() > 0
    path = tmp_path / "spend.json"
    model.save(path)
    loaded = clvmodels.load(path)
    assert type(loaded) is GammaGammaIndividualModel
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    pd.testing.assert_series_equal(loaded.expected_spend(summary), model.expected_spend(summary))


def test_a_summary_without_the_column_names_the_option(cdnow):
    _, summary = cdnow
    with pytest.raises(DataError, match=r"log_spend=True") as err:
        GammaGammaIndividualModel().fit(summary.drop(columns="log_spend_sum"))
    assert err.value.column == "log_spend_sum" and err.value.rule == "missing_columns"


def test_zero_spend_days_are_refused_or_excluded_and_counted(cdnow):
    _, summary = cdnow
    repeat = summary.index[summary["frequency"] > 0]
    broken = summary.copy()
    broken.loc[repeat[:3], "log_spend_sum"] = np.nan
    with pytest.raises(DataError, match="3 customer") as err:
        GammaGammaIndividualModel().fit(broken)
    assert err.value.rule == "non_positive_spend" and err.value.n_rows == 3
    with pytest.warns(DataWarning, match="3 customer"):
        model = GammaGammaIndividualModel(nonpositive_spend="exclude").fit(broken)
    assert model.exclusions_ == {"nonpositive_spend": 3}
    assert model.n_customers_ == len(repeat) - 3
    kept = GammaGammaIndividualModel().fit(summary.drop(index=repeat[:3]))
    np.testing.assert_allclose(model.params_, kept.params_, rtol=1e-6)


def test_log_spend_from_another_summary_is_refused(cdnow):
    _, summary = cdnow
    repeat = summary.index[summary["frequency"] > 0]
    broken = summary.copy()
    broken.loc[repeat[:2], "log_spend_sum"] += 50.0
    with pytest.raises(DataError, match="same rfm_summary") as err:
        GammaGammaIndividualModel().fit(broken)
    assert err.value.rule == "inconsistent_log_spend" and err.value.n_rows == 2


def test_random_simulates_the_amounts_the_likelihood_describes():
    from scipy.special import digamma

    rng = np.random.default_rng(0)
    x = np.full(20_000, 3.0)
    out = formulas.random(2.0, 5.0, 8.0, x, rng=rng)
    m, s = out[:, 0], out[:, 1]
    assert np.all(s <= x * np.log(m) + 1e-12)  # Jensen, draw by draw
    # E[mean amount] = p v / (q - 1) = 4; E[log z] = psi(p) - E[log nu] = psi(p) - psi(q)
    # + log v.
    assert m.mean() == pytest.approx(4.0, rel=0.03)
    assert s.mean() == pytest.approx(3 * (digamma(2.0) - digamma(5.0) + np.log(8.0)),
                                     rel=0.02)
    # The gap's mean given any nu: 3 (psi(p) - psi(3p) + log 3).
    g = formulas.log_spend_gap(x, m, s)
    assert g.mean() == pytest.approx(3 * (digamma(2.0) - digamma(6.0) + np.log(3.0)),
                                     rel=0.02)


def test_posterior_predictive_simulates_the_summarys_columns(cdnow):
    _, summary = cdnow
    model = GammaGammaIndividualModel().fit(summary)
    idata = model.posterior_predictive(summary, n_draws=50, random_state=2)
    sim = idata.posterior_predictive["spend"]
    observed = idata.observed_data["spend"]
    # Same columns, same scale: the mean log spend per repeat day agrees.
    x = summary.loc[summary["frequency"] > 0, "frequency"].to_numpy(float)
    sim_logs = sim.sel(column="log_spend_sum").mean(("chain", "draw")).to_numpy()
    obs_logs = observed.sel(column="log_spend_sum").to_numpy()
    assert sim_logs.sum() / x.sum() == pytest.approx(obs_logs.sum() / x.sum(), rel=0.05)


def test_clone_refit_and_unfitted_use(cdnow):
    from clvmodels.exceptions import NotFittedError
    from clvmodels.models.base import clone

    _, summary = cdnow
    model = GammaGammaIndividualModel(nonpositive_spend="exclude", tol=1e-9)
    with pytest.raises(NotFittedError):
        model.expected_spend(summary)
    fitted = model.fit(summary)
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "params_")
    pd.testing.assert_series_equal(twin.fit(summary).params_, fitted.params_)


def test_map_with_flat_priors_is_the_maximum_likelihood_fit(cdnow):
    _, summary = cdnow
    mle = GammaGammaIndividualModel().fit(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bayes = GammaGammaIndividualModel(method="map", priors="flat").fit(summary)
    np.testing.assert_allclose(bayes.params_.to_numpy(), mle.params_.to_numpy(), rtol=1e-3)


def test_compare_refuses_the_mean_and_the_per_transaction_likelihoods_together(cdnow):
    # Their log-likelihoods are densities of different data (one mean per customer
    # against every amount): an AIC across them would mean nothing.
    _, summary = cdnow
    with pytest.raises(ValueError, match="not fitted on the same data"):
        clvmodels.compare([GammaGammaModel().fit(summary),
                           GammaGammaIndividualModel().fit(summary)])


def test_spend_covariates_are_recovered_from_individual_amounts():
    # v_i = v * exp(spend_coef * web_i): web customers spend exp(0.6) times more per purchase.
    rng = np.random.default_rng(11)
    n, p, q, v, coef = 3000, 3.0, 5.0, 40.0, 0.6
    web = rng.integers(0, 2, n).astype(float)
    nu = rng.gamma(q, 1.0 / (v * np.exp(coef * web)))
    x = rng.integers(1, 8, n)
    amounts = [rng.gamma(p, 1.0 / nu_i, size=k) for nu_i, k in zip(nu, x)]
    summary = pd.DataFrame({
        "frequency": x.astype(float),
        "monetary_value": [a.mean() for a in amounts],
        "log_spend_sum": [np.log(a).sum() for a in amounts],
        "web": web,
    })
    model = GammaGammaIndividualModel(spend_covariates=["web"]).fit(summary)
    truth = {"p": p, "q": q, "v": v, "spend_coef[web]": coef}
    for name, value in truth.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name], name
    # Each customer's expected spend is the plain model's with that customer's own v.
    plain = GammaGammaIndividualModel(initial_params=dict(p=1.0, q=1.0, v=1.0)).fit(summary)
    params = model.params_
    for flag in (0.0, 1.0):
        plain.params_ = pd.Series({"p": params["p"], "q": params["q"],
                                   "v": params["v"] * np.exp(params["spend_coef[web]"] * flag)})
        rows = summary[summary["web"] == flag].head(5)
        np.testing.assert_allclose(model.expected_spend(rows).to_numpy(),
                                   plain.expected_spend(rows).to_numpy(), rtol=1e-12)
        # Predictions read frequency, monetary_value and the covariates, not log_spend_sum.
        np.testing.assert_allclose(
            model.expected_spend(rows.drop(columns="log_spend_sum")).to_numpy(),
            plain.expected_spend(rows).to_numpy(), rtol=1e-12)
