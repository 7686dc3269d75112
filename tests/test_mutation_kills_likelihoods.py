"""The likelihood formulas against independent computations: the papers' formulas
written with raw gamma and beta functions, numerical integrals, finite differences
of the values for the analytic gradients, and lifetimes (mutants of
clvmodels/likelihoods/ that the model tests let through; see tests/mutation/README.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy import special as sp

from clvmodels.likelihoods import beta_geo as bg
from clvmodels.likelihoods import gamma_gamma as gg
from clvmodels.likelihoods import modified_beta_geo as mbg
from clvmodels.likelihoods import pareto_nbd as pnbd
from clvmodels.likelihoods import shifted_beta_geo as sbg

# Histories (x, t_x, T): one-time buyers, recent and lapsed repeat buyers.
X = np.array([0.0, 0.0, 1.0, 2.0, 5.0, 7.0, 3.0, 12.0])
TX = np.array([0.0, 0.0, 2.0, 30.0, 36.0, 10.0, 38.0, 35.5])
T = np.array([5.0, 38.0, 20.0, 38.0, 38.0, 39.0, 38.5, 36.0])
BG_PARAMS = [(0.243, 4.414, 0.793, 2.426), (1.7, 0.9, 2.3, 0.6), (0.5, 12.0, 0.3, 5.0)]
PNBD_PARAMS = [(0.55, 10.58, 0.61, 11.67),   # alpha < beta, series
               (0.9, 30.0, 1.4, 4.0),        # alpha > beta
               (0.4, 2.0, 0.8, 200.0),       # kappa > 16: quadrature
               (1.2, 300.0, 0.5, 3.0)]


def _finite_difference(func, params, step=1e-6):
    """Central differences of ``func(*params)`` in each parameter (relative step)."""
    params = np.asarray(params, dtype=float)
    out = []
    for i in range(len(params)):
        h = step * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        out.append((func(*up) - func(*down)) / (2 * h))
    return np.array(out)


# --------------------------------------------------------------------------- BG/NBD


def _bg_direct(x, t_x, T, r, alpha, a, b):
    """FHL eq. 6 with raw functions."""
    common = sp.gamma(r + x) * alpha ** r / sp.gamma(r)
    first = sp.beta(a, b + x) / sp.beta(a, b) * common / (alpha + T) ** (r + x)
    second = np.where(x > 0, sp.beta(a + 1, np.maximum(b + x - 1, 1e-9)) / sp.beta(a, b)
                      * common / (alpha + t_x) ** (r + x), 0.0)
    return np.log(first + second)


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bg_loglik_is_fhl_equation_6(params):
    np.testing.assert_allclose(bg.loglik(X, TX, T, *params), _bg_direct(X, TX, T, *params),
                               rtol=1e-10)


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bg_gradients_are_the_derivatives_of_the_values(params):
    for func, grad in ((lambda *p: bg.loglik_count_terms(X, *p),
                        lambda *p: bg.loglik_count_terms_grad(X, *p)),
                       (lambda *p: bg.loglik_timing_terms(X, TX, T, *p),
                        lambda *p: bg.loglik_timing_terms_grad(X, TX, T, *p))):
        values, grads = grad(*params)
        np.testing.assert_allclose(values, func(*params), rtol=1e-12)
        np.testing.assert_allclose(grads, _finite_difference(func, params), rtol=1e-5,
                                   atol=1e-8)


def _bg_alive_direct(x, t_x, T, r, alpha, a, b):
    return 1.0 / (1.0 + np.where(x > 0, a / np.maximum(b + x - 1, 1e-9)
                                 * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0))


def _bg_expected_direct(t, r, alpha, a, b):
    """FHL eq. 9 with scipy's hyp2f1."""
    z = t / (alpha + t)
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                                    * sp.hyp2f1(r, b, a + b - 1, z))


@pytest.mark.parametrize("params", BG_PARAMS)
def test_bg_predictions_are_the_papers_formulas(params):
    r, alpha, a, b = params
    np.testing.assert_allclose(bg.probability_alive(X, TX, T, *params),
                               _bg_alive_direct(X, TX, T, *params), rtol=1e-12)
    for t in (0.5, 10.0, 52.0):
        np.testing.assert_allclose(bg.expected_purchases(t, *params),
                                   _bg_expected_direct(t, *params), rtol=1e-8)
        # FHL eq. 10: P(alive) x eq. 9 with the posterior parameters.
        np.testing.assert_allclose(
            bg.conditional_expected_purchases(t, X, TX, T, *params),
            _bg_alive_direct(X, TX, T, *params)
            * _bg_expected_direct(t, r + X, alpha + T, a, b + X), rtol=1e-8)
        # FHL eq. 8 summed by hand.
        n = np.arange(6.0)
        q = t / (alpha + t)
        nb = sp.gamma(r + n) / (sp.gamma(r) * sp.factorial(n)) * (1 - q) ** r * q ** n
        tail = np.array([1 - sum(nb[:k]) for k in range(6)])
        direct = (sp.beta(a, b + n) / sp.beta(a, b) * nb
                  + np.where(n > 0, sp.beta(a + 1, b + np.maximum(n, 1) - 1) / sp.beta(a, b)
                             * tail, 0.0))
        np.testing.assert_allclose(bg.probability_of_purchases(n, t, *params), direct,
                                   rtol=1e-8, atol=1e-14)
    assert bg.expected_purchases(0.0, *params) == 0.0


def test_bg_probability_alive_later_integrates_the_dropout_over_the_posterior():
    """P(alive at T + t) = P(alive at T) E[exp(-lambda p t)] with the posterior
    Gamma(r + x, alpha + T) and Beta(a, b + x): the expectation by quadrature."""
    r, alpha, a, b = BG_PARAMS[0]
    for x, t_x, T_, t in ((0.0, 0.0, 20.0, 10.0), (4.0, 15.0, 30.0, 26.0)):
        shape, rate = r + x, alpha + T_

        def inner(p):
            # E over lambda of exp(-lambda p t): the Gamma's Laplace transform.
            return (rate / (rate + p * t)) ** shape * sp.beta(a, b + x) ** -1 \
                * p ** (a - 1) * (1 - p) ** (b + x - 1)

        later, _ = integrate.quad(inner, 0, 1, epsabs=1e-13, epsrel=1e-11)
        expected = bg.probability_alive(x, t_x, T_, *BG_PARAMS[0]) * later
        got = bg.probability_alive_at(t, x, t_x, T_, *BG_PARAMS[0])
        assert got == pytest.approx(expected, rel=1e-8)


def test_bg_conditional_pmf_mixes_a_dead_and_an_alive_customer():
    params = BG_PARAMS[0]
    r, alpha, a, b = params
    x, t_x, T_, t = 3.0, 20.0, 38.0, 30.0
    alive = bg.probability_alive(x, t_x, T_, *params)
    n = np.arange(5.0)
    new = bg.probability_of_purchases(n, t, r + x, alpha + T_, a, b + x)
    expected = alive * new + np.where(n == 0, 1 - alive, 0.0)
    np.testing.assert_allclose(bg.conditional_probability_of_purchases(n, t, x, t_x, T_,
                                                                         *params),
                               expected, rtol=1e-12)


# --------------------------------------------------------------------------- MBG/NBD


def _mbg_direct(x, t_x, T, r, alpha, a, b):
    """Batislam, Denizel & Filiztekin (2007) eq. 3 with raw functions."""
    common = sp.gamma(r + x) * alpha ** r / sp.gamma(r)
    return np.log(sp.beta(a, b + x + 1) / sp.beta(a, b) * common / (alpha + T) ** (r + x)
                  + sp.beta(a + 1, b + x) / sp.beta(a, b) * common / (alpha + t_x) ** (r + x))


@pytest.mark.parametrize("params", BG_PARAMS)
def test_mbg_loglik_gradients_and_predictions(params):
    r, alpha, a, b = params
    np.testing.assert_allclose(mbg.loglik(X, TX, T, *params), _mbg_direct(X, TX, T, *params),
                               rtol=1e-10)
    for func, grad in ((lambda *p: mbg.loglik_count_terms(X, *p),
                        lambda *p: mbg.loglik_count_terms_grad(X, *p)),
                       (lambda *p: mbg.loglik_timing_terms(X, TX, T, *p),
                        lambda *p: mbg.loglik_timing_terms_grad(X, TX, T, *p))):
        values, grads = grad(*params)
        np.testing.assert_allclose(values, func(*params), rtol=1e-12)
        np.testing.assert_allclose(grads, _finite_difference(func, params), rtol=1e-5,
                                   atol=1e-8)
    alive = 1.0 / (1.0 + a / (b + X) * ((alpha + T) / (alpha + TX)) ** (r + X))
    np.testing.assert_allclose(mbg.probability_alive(X, TX, T, *params), alive, rtol=1e-12)
    from lifetimes import ModifiedBetaGeoFitter

    ref = ModifiedBetaGeoFitter()
    ref.params_ = pd.Series(dict(zip(["r", "alpha", "a", "b"], params)))
    for t in (1.0, 26.0):
        np.testing.assert_allclose(mbg.expected_purchases(t, *params),
                                   ref.expected_number_of_purchases_up_to_time(t), rtol=1e-8)
        np.testing.assert_allclose(
            mbg.conditional_expected_purchases(t, X, TX, T, *params),
            ref.conditional_expected_number_of_purchases_up_to_time(t, X, TX, T), rtol=1e-8)


def test_mbg_purchase_probabilities():
    params = BG_PARAMS[0]
    r, alpha, a, b = params
    n = np.arange(6.0)
    for t in (5.0, 40.0):
        q = t / (alpha + t)
        nb = sp.gamma(r + n) / (sp.gamma(r) * sp.factorial(n)) * (1 - q) ** r * q ** n
        tail = np.array([1 - sum(nb[:k]) for k in range(6)])
        # Alive at 0 with probability b / (a + b), then BG/NBD with b + 1.
        direct = (sp.beta(a, b + n + 1) / sp.beta(a, b) * nb
                  + sp.beta(a + 1, b + n) / sp.beta(a, b) * tail)
        np.testing.assert_allclose(mbg.probability_of_purchases(n, t, *params), direct,
                                   rtol=1e-8)
    x, t_x, T_ = 2.0, 10.0, 30.0
    alive = mbg.probability_alive(x, t_x, T_, *params)
    got = mbg.conditional_probability_of_purchases(n, 20.0, x, t_x, T_, *params)
    expected = alive * bg.probability_of_purchases(n, 20.0, r + x, alpha + T_, a, b + x + 1) \
        + np.where(n == 0, 1 - alive, 0.0)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    later = mbg.probability_alive_at(15.0, x, t_x, T_, *params)
    assert later == pytest.approx(
        alive * bg.probability_alive_at(15.0, 0.0, 0.0, 0.0, r + x, alpha + T_, a, b + x + 1),
        rel=1e-10)


# --------------------------------------------------------------------------- Gamma-Gamma

GG_X = np.array([1.0, 2.0, 5.0, 14.0])
GG_M = np.array([30.0, 12.5, 80.0, 3.0])
GG_PARAMS = [(6.25, 3.74, 15.44), (1.2, 0.7, 2.0), (20.0, 8.0, 300.0)]


@pytest.mark.parametrize("params", GG_PARAMS)
def test_gamma_gamma_density_gradients_and_expectation(params):
    p, q, v = params
    # FH eq. 3 with raw functions.
    px = p * GG_X
    direct = (sp.gammaln(px + q) - sp.gammaln(px) - sp.gammaln(q) + q * np.log(v)
              + (px - 1) * np.log(GG_M) + px * np.log(GG_X) - (px + q) * np.log(v + GG_X * GG_M))
    np.testing.assert_allclose(gg.loglik(GG_X, GG_M, *params), direct, rtol=1e-10)
    for func, grad in ((lambda *a: gg.loglik_count_terms(GG_X, *a),
                        lambda *a: gg.loglik_count_terms_grad(GG_X, *a)),
                       (lambda *a: gg.loglik_amount_terms(GG_X, GG_M, *a),
                        lambda *a: gg.loglik_amount_terms_grad(GG_X, GG_M, *a))):
        values, grads = grad(*params)
        np.testing.assert_allclose(values, func(*params), rtol=1e-12)
        np.testing.assert_allclose(grads, _finite_difference(func, params), rtol=1e-5,
                                   atol=1e-8)
    # FH eq. 5 as the weighted mean of the population mean and the observed mean.
    weight = (q - 1) / (p * GG_X + q - 1)
    expected = weight * p * v / (q - 1) + (1 - weight) * GG_M if q > 1 else None
    if expected is not None:
        np.testing.assert_allclose(gg.expected_spend(GG_X, GG_M, *params), expected,
                                   rtol=1e-12)
        assert gg.population_mean_spend(p, q, v) == pytest.approx(p * v / (q - 1), rel=1e-12)
        # Without repeat purchases: the population mean, whatever m says.
        assert gg.expected_spend(0.0, 99.0, p, q, v) == pytest.approx(p * v / (q - 1))
    else:
        assert np.isnan(gg.population_mean_spend(p, q, v))
        assert np.isnan(gg.expected_spend(0.0, 0.0, p, q, v))
        # p x + q - 1 > 0 for the repeat buyers: still defined.
        np.testing.assert_allclose(gg.expected_spend(GG_X, GG_M, *params),
                                   p * (v + GG_X * GG_M) / (p * GG_X + q - 1), rtol=1e-12)


def test_gamma_gamma_expectation_is_nan_exactly_where_it_does_not_exist():
    # p x + q - 1 = 0.5 * 1 + 0.5 - 1 = 0: no mean.
    out = gg.expected_spend(np.array([1.0, 2.0]), np.array([10.0, 10.0]), 0.5, 0.5, 4.0)
    assert np.isnan(out[0]) and out[1] == pytest.approx(0.5 * (4.0 + 20.0) / 0.5)
    assert np.isnan(gg.population_mean_spend(2.0, 1.0, 3.0))


# --------------------------------------------------------------------------- shifted BG


@pytest.mark.parametrize("alpha, beta", [(0.668, 3.806), (3.0, 1.5), (1.0, 0.4)])
def test_shifted_beta_geometric_formulas_as_sums(alpha, beta):
    t = np.arange(0.0, 400.0)
    # S(t) = prod of retention rates; P(T = t) = S(t - 1) - S(t).
    retention = (beta + t[1:] - 1) / (alpha + beta + t[1:] - 1)
    surv = np.concatenate([[1.0], np.cumprod(retention)])
    np.testing.assert_allclose(sbg.survival(t, alpha, beta), surv, rtol=1e-10)
    np.testing.assert_allclose(sbg.retention_rate(t[1:], alpha, beta), retention, rtol=1e-12)
    churn_t = np.arange(1.0, 8.0)
    values = sbg.loglik(churn_t, np.ones(7), 10, alpha, beta)
    np.testing.assert_allclose(values, np.log(surv[:7] - surv[1:8]), rtol=1e-10)
    stayed = sbg.loglik(churn_t, np.zeros(7), 10, alpha, beta)
    np.testing.assert_allclose(stayed, np.log(surv[1:8]), rtol=1e-10)
    for churned in (np.ones(7), np.zeros(7), np.array([1, 0, 1, 0, 0, 1, 1.0])):
        vals, grads = sbg.loglik_grad(churn_t, churned, 10, alpha, beta)
        np.testing.assert_allclose(vals, sbg.loglik(churn_t, churned, 10, alpha, beta),
                                   rtol=1e-12)
        fd = _finite_difference(lambda a, b: sbg.loglik(churn_t, churned, 10, a, b),
                                [alpha, beta])
        np.testing.assert_allclose(grads, fd, rtol=1e-5, atol=1e-9)
    assert sbg.expected_lifetime(alpha, beta, horizon=12) == pytest.approx(surv[:12].sum(),
                                                                           rel=1e-10)
    d = 0.1
    np.testing.assert_allclose(sbg.discounted_expected_lifetime(alpha, beta, d),
                               sum(surv[k] / (1 + d) ** k for k in range(400)), rtol=1e-9)
    for n in (1.0, 5.0):
        k = np.arange(0, 300)
        later = sbg.survival(n + 1 + k, alpha, beta) / sbg.survival(n, alpha, beta)
        np.testing.assert_allclose(sbg.discounted_expected_residual_lifetime(n, alpha, beta, d),
                                   np.sum(later / (1 + d) ** k), rtol=1e-9)


def test_shifted_beta_geometric_mean_lifetime():
    assert sbg.expected_lifetime(3.0, 1.5) == pytest.approx(3.5 / 2.0, rel=1e-12)
    assert sbg.expected_lifetime(1.5, 0.7) == pytest.approx(1.2 / 0.5, rel=1e-12)
    assert sbg.expected_lifetime(1.0, 1.5) == np.inf
    assert sbg.expected_lifetime(0.5, 1.5) == np.inf
    np.testing.assert_allclose(sbg.expected_lifetime(np.array([2.0, 4.0]), np.array([1.0, 3.0]),
                                                     horizon=3),
                               [sbg.survival(np.arange(3.0), 2.0, 1.0).sum(),
                                sbg.survival(np.arange(3.0), 4.0, 3.0).sum()], rtol=1e-12)


# --------------------------------------------------------------------------- Pareto/NBD


def _euler_integral(kappa, m, e):
    """I(kappa, m, e) = m int_0^1 (1-u)^(m-1) (1 + kappa u)^(-e) du by quadrature."""
    value, _ = integrate.quad(lambda u: m * (1 - u) ** (m - 1) * (1 + kappa * u) ** -e, 0, 1,
                              epsabs=0, epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize("kappa, m, e", [
    (0.0, 2.0, 1.5), (0.3, 1.5, 0.8), (3.0, 4.0, 2.0), (15.9, 2.5, 1.1), (16.1, 2.5, 1.1),
    (40.0, 3.0, 1.7), (900.0, 6.0, 2.5), (5.0, 40.0, 30.0), (12.0, 150.0, 140.0),
])
def test_log_hyp_integral_is_eulers_integral(kappa, m, e):
    got = pnbd.log_hyp_integral(kappa, m, e)
    assert got == pytest.approx(np.log(_euler_integral(kappa, m, e)), rel=1e-9, abs=1e-11)
    value, *grads = pnbd._log_I_numpy(np.array([kappa]), np.array([m]), np.array([e]),
                                      grad=True)
    assert value[0] == pytest.approx(got, rel=1e-12, abs=1e-14)
    fd = _finite_difference(lambda k, m_, e_: np.log(_euler_integral(k, m_, e_)),
                            [max(kappa, 1e-3), m, e], step=1e-5)
    if kappa > 0:
        np.testing.assert_allclose([g[0] for g in grads], fd, rtol=1e-4, atol=1e-9)


def test_log_hyp_integral_of_many_repeated_rows_equals_the_rows_one_by_one():
    rng = np.random.default_rng(0)
    kappa = rng.choice([0.5, 3.0, 20.0, 300.0], 3000)
    m = rng.choice([2.0, 7.5], 3000)
    e = m * 0.6
    many = pnbd.log_hyp_integral(kappa, m, e)
    single = np.array([pnbd.log_hyp_integral(k, a, b) for k, a, b in
                       zip(kappa[:50], m[:50], e[:50])])
    np.testing.assert_allclose(many[:50], single, rtol=1e-13)
    for k in (0.5, 3.0, 20.0, 300.0):
        for a in (2.0, 7.5):
            sel = (kappa == k) & (m == a)
            np.testing.assert_allclose(many[sel], np.log(_euler_integral(k, a, 0.6 * a)),
                                       rtol=1e-9)


def _pnbd_direct(x, t_x, T, r, alpha, s, beta):
    """FH05 eq. 18 by integrating the individual likelihood over the death time:
    L = E_lambda,mu[lambda^x e^{-lambda T} e^{-mu T}]
        + int_{t_x}^T E[lambda^x e^{-lambda tau} mu e^{-mu tau}] dtau."""
    def lam_moment(tau):  # E[lambda^x e^{-lambda tau}], lambda ~ Gamma(r, alpha)
        return sp.gamma(r + x) / sp.gamma(r) * alpha ** r / (alpha + tau) ** (r + x)

    def mu_density(tau):  # E[mu e^{-mu tau}]
        return s * beta ** s / (beta + tau) ** (s + 1)

    alive = lam_moment(T) * (beta / (beta + T)) ** s
    died, _ = integrate.quad(lambda tau: lam_moment(tau) * mu_density(tau), t_x, T,
                             epsabs=0, epsrel=1e-12, limit=200)
    return np.log(alive + died)


@pytest.mark.parametrize("params", PNBD_PARAMS)
def test_pareto_nbd_loglik_is_the_integral_over_the_death_time(params):
    direct = [_pnbd_direct(x, t, T_, *params) for x, t, T_ in zip(X, TX, T)]
    np.testing.assert_allclose(pnbd.loglik(X, TX, T, *params), direct, rtol=1e-9)
    np.testing.assert_allclose(pnbd.loglik_count_terms(X, *params)
                               + pnbd.loglik_timing_terms(X, TX, T, *params), direct, rtol=1e-9)


@pytest.mark.parametrize("params", PNBD_PARAMS)
def test_pareto_nbd_predictions_equal_lifetimes(params):
    from lifetimes import ParetoNBDFitter

    ref = ParetoNBDFitter()
    ref.params_ = pd.Series(dict(zip(["r", "alpha", "s", "beta"], params)))
    np.testing.assert_allclose(pnbd.probability_alive(X, TX, T, *params),
                               ref.conditional_probability_alive(X, TX, T), rtol=1e-7)
    for t in (4.0, 39.0):
        np.testing.assert_allclose(
            pnbd.conditional_expected_purchases(t, X, TX, T, *params),
            ref.conditional_expected_number_of_purchases_up_to_time(t, X, TX, T), rtol=1e-6)
        assert pnbd.expected_purchases(t, *params) == pytest.approx(
            float(ref.expected_number_of_purchases_up_to_time(t)), rel=1e-8)
        assert pnbd.expected_purchases_new_customer(t, *params) == pytest.approx(
            float(ref.expected_number_of_purchases_up_to_time(t)), rel=1e-8)


@pytest.mark.parametrize("params", PNBD_PARAMS[:3])
def test_pareto_nbd_purchase_probabilities_by_integration(params):
    r, alpha, s, beta = params
    t = 20.0

    def nb(n, tau):  # P(N(tau) = n) for lambda ~ Gamma(r, alpha)
        return np.exp(sp.gammaln(r + n) - sp.gammaln(r) - sp.gammaln(n + 1)
                      + r * np.log(alpha / (alpha + tau)) + n * np.log(tau / (alpha + tau)))

    for n in range(4):
        alive = nb(n, t) * (beta / (beta + t)) ** s
        died, _ = integrate.quad(
            lambda tau: nb(n, tau) * s * beta ** s / (beta + tau) ** (s + 1), 0, t,
            epsabs=0, epsrel=1e-11, limit=200)
        assert pnbd.probability_of_purchases(n, t, *params) == pytest.approx(alive + died,
                                                                             rel=1e-7)
    # The conditional PMF: a customer dead at T buys nothing; an alive one buys as a
    # new customer with the posterior parameters (r + x, alpha + T, s, beta + T).
    x, t_x, T_ = 3.0, 20.0, 38.0
    p_alive = pnbd.probability_alive(x, t_x, T_, *params)
    n = np.arange(4.0)
    new = pnbd.probability_of_purchases(n, t, r + x, alpha + T_, s, beta + T_)
    expected = p_alive * new + np.where(n == 0, 1 - p_alive, 0.0)
    np.testing.assert_allclose(pnbd.conditional_probability_of_purchases(n, t, x, t_x, T_,
                                                                          *params),
                               expected, rtol=1e-7)
    assert pnbd.probability_no_purchase(t, x, t_x, T_, *params) == pytest.approx(expected[0],
                                                                                rel=1e-9)
    # P(alive at T + t): alive at T and a lifetime beyond t under Gamma(s, beta + T).
    later = pnbd.probability_alive_at(t, x, t_x, T_, *params)
    assert later == pytest.approx(p_alive * ((beta + T_) / (beta + T_ + t)) ** s, rel=1e-10)


# --------------------------------------------------------------------------- engines, warnings


def test_each_likelihood_is_the_same_graph_on_the_pytensor_engine():
    """Every term is written against the namespace it is given (no silent numpy)."""
    import pytensor
    import pytensor.tensor as pt

    from clvmodels.likelihoods._math import pytensor_namespace

    xp = pytensor_namespace()
    x, t_x, T_, m = (pt.dvector(n) for n in ("x", "t_x", "T", "m"))
    theta = pt.dvector("theta")
    cases = [
        (bg.loglik(x, t_x, T_, *(theta[i] for i in range(4)), xp=xp), (X, TX, T),
         lambda *p: bg.loglik(X, TX, T, *p), BG_PARAMS[1]),
        (mbg.loglik(x, t_x, T_, *(theta[i] for i in range(4)), xp=xp), (X, TX, T),
         lambda *p: mbg.loglik(X, TX, T, *p), BG_PARAMS[1]),
        (pnbd.loglik(x, t_x, T_, *(theta[i] for i in range(4)), xp=xp), (X, TX, T),
         lambda *p: pnbd.loglik(X, TX, T, *p), PNBD_PARAMS[1]),
        (gg.loglik(x, m, *(theta[i] for i in range(3)), xp=xp), (GG_X, GG_M),
         lambda *p: gg.loglik(GG_X, GG_M, *p), GG_PARAMS[0]),
    ]
    for graph, data, numpy_value, params in cases:
        inputs = [x, t_x, T_] if len(data) == 3 else [x, m]
        fn = pytensor.function([*inputs, theta], graph, on_unused_input="ignore")
        np.testing.assert_allclose(fn(*data, np.array(params)), numpy_value(*params),
                                   rtol=1e-10)
    churn = pt.dvector("churned")
    fn = pytensor.function([x, churn, theta], sbg.loglik(x, churn, 10, theta[0], theta[1],
                                                         xp=xp))
    t = np.array([1.0, 3.0, 5.0])
    churned = np.array([1.0, 0.0, 1.0])
    np.testing.assert_allclose(fn(t, churned, np.array([0.7, 3.8])),
                               sbg.loglik(t, churned, 10, 0.7, 3.8), rtol=1e-12)


def test_undefined_expectations_are_nan_without_numpy_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(gg.population_mean_spend(2.0, 1.0, 3.0))
        assert np.isnan(gg.population_mean_spend(2.0, 0.5, 3.0))
        out = gg.expected_spend(np.array([0.0, 1.0]), np.array([0.0, 5.0]), 0.5, 0.5, 4.0)
        assert np.isnan(out[0]) and np.isnan(out[1])
        assert sbg.expected_lifetime(1.0, 2.0) == np.inf


def test_spend_of_customers_without_repeat_purchases_ignores_their_mean():
    """A one-time buyer's mean spend may be missing: it does not enter the estimate."""
    p, q, v = GG_PARAMS[0]
    out = gg.expected_spend(np.array([0.0, 0.0, 0.0]), np.array([np.nan, np.inf, 50.0]), p, q, v)
    np.testing.assert_allclose(out, [p * v / (q - 1)] * 3, rtol=1e-12)


# --------------------------------------------------------------------------- far horizons, t = 0


def _alive_later_by_quadrature(t, rate, shape, a, b):
    """E[(rate / (rate + p t))^shape] for p ~ Beta(a, b) (the Gamma's Laplace
    transform averaged over the dropout probability), integrated in u = log p so
    that horizons far beyond the data (p t ~ rate at tiny p) stay accurate."""
    def integrand(u):
        return np.exp(a * u + (b - 1) * np.log1p(-np.exp(u)) - sp.betaln(a, b)
                      - shape * np.log1p(np.exp(u) * t / rate))

    value, _ = integrate.quad(integrand, -200.0, 0.0, points=[np.log(rate / t)], epsabs=0,
                              epsrel=1e-12, limit=200)
    return value


@pytest.mark.parametrize("t", [5.0, 1e6, 1e12])
def test_bg_and_mbg_alive_later_hold_at_far_horizons(t):
    """P(alive at T + t) = P(alive at T) E[exp(-lambda p t)], to 1e-9 even a
    trillion periods ahead, where 1 - w = (alpha + T) / (alpha + T + t) must come
    from its logarithm rather than from 1 - w."""
    r, alpha, a, b = BG_PARAMS[0]
    x, t_x, T_ = 4.0, 15.0, 30.0
    shape, rate = r + x, alpha + T_
    got = bg.probability_alive_at(t, x, t_x, T_, *BG_PARAMS[0])
    expected = bg.probability_alive(x, t_x, T_, *BG_PARAMS[0]) * _alive_later_by_quadrature(
        t, rate, shape, a, b + x)
    assert got == pytest.approx(expected, rel=1e-9, abs=0)
    # MBG/NBD: alive at T after x + 1 dropout chances, p ~ Beta(a, b + x + 1).
    got = mbg.probability_alive_at(t, x, t_x, T_, *BG_PARAMS[0])
    expected = mbg.probability_alive(x, t_x, T_, *BG_PARAMS[0]) * _alive_later_by_quadrature(
        t, rate, shape, a, b + x + 1)
    assert got == pytest.approx(expected, rel=1e-9, abs=0)


def test_purchase_probabilities_over_no_time_without_numpy_warnings():
    """Over a window of length 0 nobody buys: P(0) = 1, P(n > 0) = 0, with no
    log(0) or 0 * inf warning on the way."""
    import warnings

    n = np.arange(4.0)
    x, t_x, T_ = 2.0, 10.0, 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for module, params in ((bg, BG_PARAMS[0]), (mbg, BG_PARAMS[1]), (pnbd, PNBD_PARAMS[0])):
            np.testing.assert_allclose(module.probability_of_purchases(n, 0.0, *params),
                                       [1.0, 0.0, 0.0, 0.0], atol=1e-15)
            np.testing.assert_allclose(
                module.conditional_probability_of_purchases(n, 0.0, x, t_x, T_, *params),
                [1.0, 0.0, 0.0, 0.0], atol=1e-15)


# --------------------------------------------------------------------------- simulators


def _z(sample, expected):
    return (np.mean(sample) - expected) / (np.std(sample) / np.sqrt(len(sample)))


@pytest.mark.parametrize("module, params", [(bg, BG_PARAMS[0]), (mbg, BG_PARAMS[1]),
                                            (pnbd, PNBD_PARAMS[0])])
def test_the_bayesian_engines_simulators_follow_the_models(module, params):
    """``random`` (what PyMC draws from) against the closed forms: the mean number
    of repeat purchases by T (eq. 9 of each paper), the shares of 0, 1 and 2 repeat
    purchases (eq. 8), and recency against clvmodels.simulate's own generator."""
    n = 40_000
    ages = np.full(n, 39.0)
    out = module.random(*params, ages, rng=np.random.default_rng(1))
    assert out.shape == (n, 2)
    freq, rec = out[:, 0], out[:, 1]
    assert abs(_z(freq, float(module.expected_purchases(39.0, *params)))) < 4
    for k in range(3):
        p = float(module.probability_of_purchases(k, 39.0, *params))
        assert abs(np.mean(freq == k) - p) < 4 * np.sqrt(p * (1 - p) / n), k
    assert np.all(freq == np.round(freq)) and np.all((rec > 0) == (freq > 0))
    assert np.all((rec >= 0) & (rec <= 39.0))
    from clvmodels import simulate

    generator = {bg: simulate.beta_geo_summary, mbg: simulate.modified_beta_geo_summary,
                 pnbd: simulate.pareto_nbd_summary}[module]
    other = generator(n, *params, T=39.0, time_unit="W", random_state=2)["recency"].to_numpy()
    se = np.sqrt(rec.var() / n + other.var() / n)
    assert abs(rec.mean() - other.mean()) < 4 * se
    # One draw of `size` customers of one age.
    assert module.random(*params, 39.0, rng=3, size=5).shape == (5, 2)


def _bg_expected_by_quadrature(t, r, alpha, a, b):
    """E[X(t)] of an alive BG/NBD customer as E_p[(1 - E_lambda[exp(-lambda p t)]) / p]
    (given lambda and p, a customer buys (1 - exp(-lambda p t)) / p times in
    expectation), p ~ Beta(a, b), integrated in u = log p."""
    def integrand(u):
        p = np.exp(u)
        return (-np.expm1(-r * np.log1p(p * t / alpha)) / p
                * np.exp(a * u + (b - 1) * np.log1p(-p) - sp.betaln(a, b)))

    points = [np.log(alpha / t)] if t > alpha else None  # where p t reaches alpha
    value, _ = integrate.quad(integrand, -200.0, 0.0, points=points, epsabs=0, epsrel=1e-12,
                              limit=200)
    return value


@pytest.mark.parametrize("params", [(0.243, 4.414, 1.0, 2.4),   # a = 1: removable singularity
                                    (0.5, 3.0, 0.4, 0.6),       # a + b = 1: the pole's limit
                                    (2.0, 5.0, 0.3, 2.0),       # a < 1: (1 - z)^(a - 1) grows
                                    (1.7, 0.9, 2.3, 0.6)])
def test_bg_expected_purchases_at_its_singular_points(params):
    """FHL eq. 9 has a removable singularity at a = 1 and a cancelled pole at
    a + b = 1: there too the expectation is the integral over the dropout
    probability, without warnings, up to horizons where 1 - t / (alpha + t) must
    come from its logarithm. At a = 1 the formula is evaluated at a = 1 + 1e-7,
    which costs about 1e-6 relative accuracy at a trillion periods."""
    import warnings

    rel = 3e-6 if params[2] == 1.0 else 1e-10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for t in (1.0, 30.0, 1e4, 1e8, 1e12):
            assert bg.expected_purchases(t, *params) == pytest.approx(
                _bg_expected_by_quadrature(t, *params), rel=rel)
        assert bg.expected_purchases(0.0, *params) == 0.0


# --------------------------------------------------------------------------- Pareto/NBD edges


def _pnbd_expected_by_quadrature(t, r, alpha, s, beta):
    """FH05 eq. 27 from its story: E[lambda] E[min(tau, t)], E[min(tau, t) | mu] =
    (1 - exp(-mu t)) / mu, mu ~ Gamma(s, beta), integrated in log mu."""
    def integrand(u):
        mu = np.exp(u)
        return (-np.expm1(-mu * t) / mu) * np.exp(s * u - mu * beta + s * np.log(beta)
                                                   - sp.gammaln(s))

    value, _ = integrate.quad(integrand, -400.0, np.log(50.0 / beta), epsabs=0, epsrel=1e-12,
                              limit=400)
    return r / alpha * value


@pytest.mark.parametrize("s", [1.0, 1.0 + 1e-9, 0.61, 0.3, 2.5])
def test_pareto_nbd_expected_purchases_across_s_and_horizons(s):
    """FH05 eq. 27 is 0/0 at s = 1 (limit r beta / alpha log(1 + t / beta)); for
    s < 1 and very long horizons its bracket grows as t^(1 - s)."""
    r, alpha, beta = 0.55, 10.58, 11.67
    for t in (0.01, 1.0, 52.0, 1e4):
        assert pnbd.expected_purchases(t, r, alpha, s, beta) == pytest.approx(
            _pnbd_expected_by_quadrature(t, r, alpha, s, beta), rel=1e-8)
    for t in (1e20, 1e30):  # (1 - s) log(1 + t / beta) > 30: the logarithmic branch
        if s == 1.0:
            expected = r * beta / alpha * np.log1p(t / beta)
        else:
            expected = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
        assert pnbd.expected_purchases(t, r, alpha, s, beta) == pytest.approx(expected,
                                                                              rel=1e-9)
    import warnings

    with warnings.catch_warnings():  # log(0) of the empty horizon stays silent
        warnings.simplefilter("error")
        np.testing.assert_array_equal(
            pnbd.expected_purchases(np.array([0.0, 1e-300]), r, alpha, s, beta)[:1], [0.0])


@pytest.mark.parametrize("params", PNBD_PARAMS)
def test_pareto_nbd_no_purchase_over_short_and_long_horizons(params):
    """P(X(t) = 0) as alive-without-purchase plus died-before-buying, the death-time
    integral by quadrature, for horizons short enough for the Gauss-Legendre branch
    and long ones (difference of Phi values), and for customers after a history."""
    r, alpha, s, beta = params

    def zero(t, r_, alpha_, beta_):
        alive = (alpha_ / (alpha_ + t)) ** r_ * (beta_ / (beta_ + t)) ** s
        died, _ = integrate.quad(lambda tau: (alpha_ / (alpha_ + tau)) ** r_ * s
                                 * beta_ ** s / (beta_ + tau) ** (s + 1), 0, t,
                                 epsabs=0, epsrel=1e-12, limit=200)
        return alive + died

    for t in (1e-3, 0.3, 2.0, 40.0, 400.0):
        assert pnbd.probability_of_purchases(0, t, *params) == pytest.approx(
            zero(t, r, alpha, beta), rel=1e-9)
        x, t_x, T_ = 3.0, 20.0, 38.0
        p_alive = pnbd.probability_alive(x, t_x, T_, *params)
        expected = 1 - p_alive + p_alive * zero(t, r + x, alpha + T_, beta + T_)
        assert pnbd.probability_no_purchase(t, x, t_x, T_, *params) == pytest.approx(
            expected, rel=1e-9)


def test_pareto_nbd_pmf_of_many_rows_equals_the_rows_one_by_one():
    """The purchase PMF is computed in blocks of 8,192 rows: 9,000 rows give the
    values of the same rows in two calls below a block, and of the rows alone."""
    params = PNBD_PARAMS[0]
    rng = np.random.default_rng(5)
    n = rng.integers(1, 6, 9000).astype(float)   # every row goes through the blocks
    t = rng.choice([4.0, 39.0], 9000)
    many = pnbd.probability_of_purchases(n, t, *params)
    halves = np.concatenate([pnbd.probability_of_purchases(n[:4500], t[:4500], *params),
                             pnbd.probability_of_purchases(n[4500:], t[4500:], *params)])
    np.testing.assert_allclose(many, halves, rtol=1e-13)
    for i in (0, 8191, 8192, 8999):
        assert many[i] == pytest.approx(float(pnbd.probability_of_purchases(n[i], t[i],
                                                                            *params)),
                                        rel=1e-13)
    grid = pnbd.probability_of_purchases(np.arange(3.0)[:, None], np.array([[1.0, 5.0]]),
                                         *params)
    assert grid.shape == (3, 2) and grid[0, 0] == pytest.approx(
        float(pnbd.probability_of_purchases(0, 1.0, *params)), rel=1e-13)
    # Scalars in, a scalar out (a float, not a 0-d array).
    one = pnbd.probability_of_purchases(2, 4.0, *params)
    assert isinstance(one, float)
    assert one == pytest.approx(pnbd.probability_of_purchases(np.array([2.0]),
                                                              np.array([4.0]), *params)[0],
                                rel=1e-14)


def test_pareto_nbd_alive_is_one_when_the_last_purchase_is_at_the_end():
    for params in PNBD_PARAMS:
        np.testing.assert_allclose(pnbd.probability_alive(X, T, T, *params), 1.0, rtol=1e-12)
        assert np.all(pnbd.probability_alive(X, TX, T, *params) <= 1.0)


# --------------------------------------------------------------------------- the math namespace


def test_the_pytensor_namespace_computes_what_the_numpy_one_does(monkeypatch):
    """Every shared name gives the same numbers on both engines (logaddexp also far
    in the tails, where log(exp(a) + exp(b)) would overflow or underflow). The
    namespace is built on first use: the test starts without it."""
    import pytensor
    import pytensor.tensor as pt

    from clvmodels.likelihoods import _math
    from clvmodels.likelihoods._math import NUMPY, pytensor_namespace

    monkeypatch.setattr(_math, "_PYTENSOR", None)
    xp = pytensor_namespace()
    assert xp is pytensor_namespace()  # built once
    assert (xp.name, NUMPY.name) == ("pytensor", "numpy")
    assert repr(NUMPY) == "MathNamespace('numpy')"
    assert repr(xp) == "MathNamespace('pytensor')"
    a, b, c, z, u, v = (pt.dvector(n) for n in "abczuv")
    unary = ("log", "exp", "log1p", "expm1", "sqrt", "abs", "gammaln", "digamma", "softplus",
             "expit")
    binary = ("maximum", "minimum", "logaddexp")
    outputs = ([getattr(xp, name)(a) for name in unary]
               + [getattr(xp, name)(u, v) for name in binary]
               + [xp.sum(a), xp.max(a), xp.arange(3), xp.expand_dims(a, 0),
                  xp.betaln(a, b), xp.hyp2f1(a, b, c, z), xp.betainc(a, b, z),
                  xp.where(z > 0.5, a, b)])
    fn = pytensor.function([a, b, c, z, u, v], outputs)  # one compilation
    args = [np.array([0.5, 1.5, 7.5]), np.array([1.0, 2.5, 0.3]), np.array([2.0, 4.0, 9.0]),
            np.array([0.2, 0.7, 0.95])]
    tails = [np.array([1000.0, -1000.0, 0.3]), np.array([999.0, -1001.0, 1.7])]
    got = fn(*args, *tails)
    for name, value in zip(unary, got):
        np.testing.assert_allclose(value, getattr(NUMPY, name)(args[0]), rtol=1e-8,
                                   err_msg=name)
    for name, value in zip(binary, got[len(unary):]):
        np.testing.assert_allclose(value, getattr(NUMPY, name)(*tails), rtol=1e-12,
                                   err_msg=name)
    total, top, steps, expanded, beta, hyp, inc, where = got[-8:]
    assert total == pytest.approx(NUMPY.sum(args[0])) and top == NUMPY.max(args[0])
    np.testing.assert_array_equal(steps, NUMPY.arange(3))
    np.testing.assert_array_equal(expanded, NUMPY.expand_dims(args[0], 0))
    assert xp.inf == NUMPY.inf == np.inf
    np.testing.assert_allclose(beta, NUMPY.betaln(args[0], args[1]), rtol=1e-10)
    np.testing.assert_allclose(hyp, NUMPY.hyp2f1(*args), rtol=1e-10)
    np.testing.assert_allclose(inc, NUMPY.betainc(args[0], args[1], args[3]), rtol=1e-10)
    np.testing.assert_allclose(where, [1.0, 1.5, 7.5])
    assert np.logaddexp(1000.0, 999.0) == pytest.approx(1000.0 + np.log1p(np.exp(-1.0)))


def test_scaled_hypergeometric_function_falls_back_to_eulers_transformation():
    """(1 - z)^399 2F1(200, 200; 1; z) overflows as written (2F1 ~ 1e1197); by
    Euler's transformation it is 2F1(-199, -199; 1; z) = sum_k C(199, k)^2 z^k, a
    finite sum of positive terms."""
    import warnings

    from clvmodels.likelihoods._math import hyp2f1_scaled

    k = np.arange(200.0)
    for z in (0.999, 0.9):
        log_c = sp.gammaln(200.0) - sp.gammaln(k + 1) - sp.gammaln(200.0 - k)
        expected = np.exp(sp.logsumexp(2 * log_c + k * np.log(z)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = hyp2f1_scaled(200.0, 200.0, 1.0, np.array([z, 0.3]), 399.0)
            assert got[0] == pytest.approx(expected, rel=1e-9)
            # One more power of 1 - z: the transformed form keeps (1 - z)^1.
            assert hyp2f1_scaled(200.0, 200.0, 1.0, z, 400.0) == pytest.approx(
                (1 - z) * expected, rel=1e-9)
            # The finite entry is the product as written.
            assert got[1] == pytest.approx((0.7 ** 399) * sp.hyp2f1(200, 200, 1, 0.3),
                                           rel=1e-12)
    # log(1 - z) given: used instead of log1p(-z).
    assert hyp2f1_scaled(0.5, 1.0, 2.0, 0.25, 2.0, log1mz=np.log(0.5)) == pytest.approx(
        0.25 * sp.hyp2f1(0.5, 1.0, 2.0, 0.25), rel=1e-14)


def test_scaled_hypergeometric_function_counts_what_stays_undefined():
    from clvmodels.exceptions import ConvergenceWarning
    from clvmodels.likelihoods._math import hyp2f1_scaled

    with pytest.warns(ConvergenceWarning, match="not finite for 2 value"):
        out = hyp2f1_scaled(0.5, 1.0, 2.0, np.array([np.nan, 0.25, np.nan]), 1.0)
    assert np.isnan(out[0]) and np.isnan(out[2])
    assert out[1] == pytest.approx(0.75 * sp.hyp2f1(0.5, 1.0, 2.0, 0.25), rel=1e-14)


@pytest.mark.parametrize("module, params", [(bg, BG_PARAMS[0]), (mbg, BG_PARAMS[1]),
                                            (pnbd, PNBD_PARAMS[0])])
def test_simulators_broadcast_parameter_draws_and_follow_the_seed(module, params):
    """The Bayesian engine passes arrays of parameter draws: each parameter
    broadcasts against the customers' ages, (draws, customers, 2) comes back, and
    the same seed gives the same customers."""
    ages = np.full(5, 39.0)
    for i in range(4):
        drawn = list(params)
        drawn[i] = np.array([params[i], 2 * params[i], 0.5 * params[i]])[:, None]
        out = module.random(*drawn, ages, rng=11)
        assert out.shape == (3, 5, 2), i
        assert np.all(out[..., 1] <= 39.0) and np.all(out[..., 0] == np.round(out[..., 0]))
    many = np.full(50, 39.0)
    first = module.random(*params, many, rng=4)
    assert np.count_nonzero(first[:, 1]) > 5  # repeat buyers, so recencies to compare
    np.testing.assert_array_equal(first, module.random(*params, many, rng=4))
    assert not np.array_equal(module.random(*params, np.full(50, 39.0), rng=4),
                              module.random(*params, np.full(50, 39.0), rng=5))


@pytest.mark.parametrize("module", [bg, mbg, pnbd])
def test_customers_who_never_drop_out_keep_buying(module):
    """Beta(a, b) (BG/NBD, MBG/NBD) or Gamma(s, beta) (Pareto/NBD's dropout rate)
    with a tiny shape draws dropout probabilities or rates that underflow to 0:
    those customers never drop out and buy as Poisson processes, without a
    division-by-zero warning."""
    import warnings

    r, alpha, b = 50.0, 10.0, 2.0   # rates near 5 purchases per period
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = module.random(r, alpha, 1e-4, b, np.full(4000, 10.0), rng=0)
    assert np.all(np.isfinite(out))
    # Nearly everyone keeps the Gamma(50, 10) rate for 10 periods: about 50 purchases.
    assert abs(_z(out[:, 0], r / alpha * 10.0)) < 4


def test_alive_at_the_boundary_b_zero_without_numpy_warnings():
    """b -> 0 makes the dropout certain (p ~ Beta(a, 0) is 1): a customer who had
    one dropout chance and bought nothing since is dead (the posterior of p after
    the chance is still the prior's point mass), computed without a
    divide-by-zero warning."""
    import warnings

    r, alpha, a = 0.5, 4.0, 0.8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # MBG/NBD: a chance right after the first purchase.
        assert mbg.probability_alive(0.0, 0.0, 10.0, r, alpha, a, 0.0) == 0.0
        # BG/NBD: a chance after each repeat purchase only.
        np.testing.assert_array_equal(
            bg.probability_alive(np.array([0.0, 1.0]), np.array([0.0, 5.0]), 10.0,
                                 r, alpha, a, 0.0), [1.0, 0.0])


def test_pareto_nbd_pmf_rows_of_very_different_scales_do_not_interact():
    """Each row's death-time integral is summed in log space around its own
    largest term: a row whose terms are e^-1390 (offset by a coefficient of
    e^+1380) keeps its value next to an ordinary row."""
    n, t = np.array([1.0, 1000.0]), np.array([4.0, 1000.0])
    r, alpha = np.array([0.5, 1000.0]), np.array([10.0, 1000.0])
    s, beta = np.array([0.61, 0.61]), np.array([11.67, 1000.0])
    both = pnbd.probability_of_purchases(n, t, r, alpha, s, beta)
    for i in range(2):
        alone = pnbd.probability_of_purchases(n[i], t[i], r[i], alpha[i], s[i], beta[i])
        assert both[i] == pytest.approx(float(alone), rel=1e-12)
    # The same value by the integral over the death time (note 012).
    def nb(tau):
        return np.exp(sp.gammaln(r[1] + n[1]) - sp.gammaln(r[1]) - sp.gammaln(n[1] + 1)
                      + r[1] * np.log(alpha[1] / (alpha[1] + tau))
                      + n[1] * np.log(tau / (alpha[1] + tau)))

    alive = nb(t[1]) * (beta[1] / (beta[1] + t[1])) ** s[1]
    died, _ = integrate.quad(lambda tau: nb(tau) * s[1] * beta[1] ** s[1]
                             / (beta[1] + tau) ** (s[1] + 1), 0, t[1], epsabs=0,
                             epsrel=1e-12, limit=400, points=[t[1] / 2])
    assert both[1] == pytest.approx(alive + died, rel=1e-8)


@pytest.mark.parametrize("a, b, c, z", [
    (5.3, 0.2, 5.5, 0.999),    # c - a - b = 0, c + a - b not an integer
    (3.3, 0.05, 3.35, 0.999),
    (4.2, 0.05, 5.25, 0.999),  # c - a - b = 1: scipy returns NaN here
    (2.7, 0.3, 4.0, 0.9999),
])
def test_hypergeometric_function_at_integer_c_minus_a_minus_b(a, b, c, z):
    """Where c - a - b is an integer scipy's hyp2f1 is wrong or NaN near z = 1;
    clvmodels' value is Euler's integral (A&S 15.3.1) by quadrature."""
    from clvmodels.likelihoods._math import NUMPY

    value, _ = integrate.quad(lambda u: u ** (b - 1) * (1 - u) ** (c - b - 1)
                              * (1 - z * u) ** (-a), 0, 1, limit=1000, epsabs=0,
                              epsrel=1e-13, points=[0.5, 0.9, 0.99, 0.999])
    expected = value * sp.gamma(c) / (sp.gamma(b) * sp.gamma(c - b))
    assert NUMPY.hyp2f1(a, b, c, z) == pytest.approx(expected, rel=1e-8)
    # Broadcast with an ordinary value (z = 0.3 is left to scipy).
    both = NUMPY.hyp2f1(a, b, c, np.array([z, 0.3]))
    assert both[0] == pytest.approx(expected, rel=1e-8)
    assert both[1] == pytest.approx(sp.hyp2f1(a, b, c, 0.3), rel=1e-14)
