"""Pareto/NBD formulas: published values, lifetimes, quadrature oracles, properties."""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import minimize
from scipy.special import gammaln
from scipy.stats import gamma as gamma_dist

from clvmodels.likelihoods import pareto_nbd as P
from clvmodels.likelihoods._math import NUMPY

# CLVTools' estimates on the CDNOW sample (REFERENCES.md).
CLVTOOLS = (0.55315, 10.57633, 0.60625, 11.67150)
# Fader & Hardie's rounded estimates used for the published P(alive) example.
FH_EXAMPLE = (0.5534, 10.5802, 0.6061, 11.6562)


def _dataset(name: str) -> str:
    import lifetimes

    return os.path.join(os.path.dirname(lifetimes.__file__), "datasets", name)


@pytest.fixture(scope="module")
def published():
    """The published CDNOW summary (x, t_x, T in weeks rounded to 2 decimals)."""
    d = pd.read_csv(_dataset("cdnow_customers_summary_with_transactions.csv"))
    return d["x"].to_numpy(float), d["t_x"].to_numpy(float), d["T"].to_numpy(float)


@pytest.fixture(scope="module")
def exact():
    """The same summary computed from the transactions in exact weeks (same-day
    purchases merged, calibration end 1997-09-30), as CLVTools uses."""
    tr = pd.read_csv(_dataset("CDNOW_sample.txt"), sep=r"\s+", header=None,
                     names=["cid", "sid", "date", "n", "amount"])
    tr["date"] = pd.to_datetime(tr["date"].astype(str), format="%Y%m%d")
    tr = tr[tr["date"] <= "1997-09-30"]
    days = tr.drop_duplicates(["cid", "date"]).groupby("cid")["date"].agg(["min", "max", "count"])
    x = (days["count"] - 1).to_numpy(float)
    t_x = ((days["max"] - days["min"]).dt.days / 7.0).to_numpy()
    T = ((pd.Timestamp("1997-09-30") - days["min"]).dt.days / 7.0).to_numpy()
    return x, t_x, T


def _compressed(x, t_x, T):
    u = pd.DataFrame({"x": x, "t": t_x, "T": T}).value_counts().reset_index()
    return (u["x"].to_numpy(float), u["t"].to_numpy(float), u["T"].to_numpy(float),
            u["count"].to_numpy(float))


def _lifetimes_loglik(params, x, t_x, T):
    from lifetimes import ParetoNBDFitter

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return ParetoNBDFitter._conditional_log_likelihood(
            params, np.atleast_1d(x), np.atleast_1d(t_x), np.atleast_1d(T))


def _lifetimes_fitter(params):
    from lifetimes import ParetoNBDFitter

    f = ParetoNBDFitter()
    f.params_ = pd.Series(dict(zip(["r", "alpha", "s", "beta"], params)))
    return f


# ---------------------------------------------------------------- oracles

def loglik_oracle(x, t_x, T, r, alpha, s, beta):
    """FH05 eq. 18 with the death-time integral done by adaptive quadrature."""
    log_c = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    log_alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    if T <= t_x:
        return log_c + log_alive
    log_at = -(r + x) * np.log(alpha + t_x) - (s + 1) * np.log(beta + t_x)

    def g(tau):  # integrand divided by its value at t_x
        return np.exp(-(r + x) * np.log1p((tau - t_x) / (alpha + t_x))
                      - (s + 1) * np.log1p((tau - t_x) / (beta + t_x)))

    scale = min((alpha + t_x) / (r + x), (beta + t_x) / (s + 1))
    pts = [p for p in t_x + scale * np.array([1e-3, 1e-2, 0.1, 1, 10, 100, 1e3]) if p < T]
    integral = quad(g, t_x, T, points=pts or None, epsabs=0, epsrel=1e-13, limit=1000)[0]
    return log_c + np.logaddexp(log_alive, np.log(s) + log_at + np.log(integral))


def log_i_oracle(kappa, m, e):
    """log 2F1(e, 1; m+1; -kappa) = log int_0^inf e^{-w}(1+kappa(1-e^{-w/m}))^{-e} dw."""
    def f(ell):
        w = np.exp(ell)
        return np.exp(ell - w - e * np.log1p(-kappa * np.expm1(-w / m)))

    knee = -m * np.log1p(-1 / kappa) if kappa > 1 else m
    lo = min(np.log(knee), np.log(m), 0.0, np.log(min(1.0, knee / e))) - 45
    pts = np.linspace(lo, 4.0, 300)
    total = sum(quad(f, pts[i], pts[i + 1], epsabs=0, epsrel=2e-14, limit=200)[0]
                for i in range(len(pts) - 1))
    return np.log(total + np.exp(lo))


def pmf_oracle(n, t, r, alpha, s, beta):
    """Note 012: alive with n purchases at t, or dead at tau < t after n purchases."""
    def nb(tau):
        if tau == 0:
            return 1.0 if n == 0 else 0.0
        return np.exp(gammaln(r + n) - gammaln(r) - gammaln(n + 1)
                      + r * np.log(alpha / (alpha + tau)) + n * np.log(tau / (alpha + tau)))

    alive = nb(t) * (beta / (beta + t)) ** s
    dead = quad(lambda tau: nb(tau) * s * beta**s / (beta + tau) ** (s + 1), 0, t,
                epsabs=0, epsrel=1e-12, limit=500)[0]
    return alive + dead


# ---------------------------------------------------------------- published values

def test_cdnow_loglik_clvtools(exact, published):
    # CLVTools: -9594.976 at its estimates, on exact (transaction) weeks.
    assert P.loglik(*exact, *CLVTOOLS).sum() == pytest.approx(-9594.976, abs=5e-4)
    # The published summary rounds t_x and T to 2 decimals: -9594.974 there.
    assert P.loglik(*published, *CLVTOOLS).sum() == pytest.approx(-9594.974, abs=5e-4)


def test_fader_hardie_p_alive_and_expected_purchases():
    p_alive = P.probability_alive(26, 30.86, 31.0, *FH_EXAMPLE)
    assert round(float(p_alive), 4) == 0.9979
    e52 = P.conditional_expected_purchases(52.0, 26, 30.86, 31.0, *FH_EXAMPLE)
    assert round(float(e52), 2) == 25.45


def test_mle_reproduces_published_estimates(exact):
    x, t_x, T, w = _compressed(*exact)

    def nll(theta):
        return -np.dot(w, P.loglik(x, t_x, T, *np.exp(theta)))

    res = minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-6})
    res = minimize(nll, res.x, method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 4000})
    est = np.exp(res.x)
    # Fader & Hardie: r = 0.553, alpha = 10.578, s = 0.606, beta = 11.669, LL -9595.0
    assert np.round(est, 3).tolist() == [0.553, 10.578, 0.606, 11.669]
    assert round(-res.fun, 1) == -9595.0
    # Standard errors from the Hessian in log-parameters (delta method).
    h = 1e-4
    H = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * h, np.eye(4)[j] * h
            H[i, j] = (nll(res.x + ei + ej) - nll(res.x + ei - ej)
                       - nll(res.x - ei + ej) + nll(res.x - ei - ej)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(H) * np.outer(est, est)))
    np.testing.assert_allclose(se, [0.0476, 0.8427, 0.1873, 6.2105], rtol=1e-3)


# ---------------------------------------------------------------- lifetimes

@pytest.mark.parametrize("params", [CLVTOOLS, (0.55, 12.0, 0.6, 5.0), (0.55, 2.0, 0.6, 50.0),
                                    (0.55, 50.0, 0.6, 2.0), (2.0, 1.0, 0.3, 1.0)])
def test_agrees_with_lifetimes(published, params):
    x, t_x, T = published
    np.testing.assert_allclose(P.loglik(x, t_x, T, *params),
                               _lifetimes_loglik(params, x, t_x, T), rtol=1e-10, atol=1e-10)
    lf = _lifetimes_fitter(params)
    np.testing.assert_allclose(P.probability_alive(x, t_x, T, *params),
                               lf.conditional_probability_alive(x, t_x, T), rtol=1e-9)
    for t in (1.0, 39.0, 52.0):
        np.testing.assert_allclose(
            P.conditional_expected_purchases(t, x, t_x, T, *params),
            lf.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T), rtol=1e-9)
    t = np.array([0.5, 10.0, 78.0])
    np.testing.assert_allclose(P.expected_purchases(t, *params),
                               lf.expected_number_of_purchases_up_to_time(t), rtol=1e-12)


def test_where_lifetimes_fails():
    # alpha << beta with a frequent buyer: scipy's hyp2f1 (used by lifetimes) is NaN.
    case = (1000, 1.0, 39.0, 0.55, 1.0, 0.6, 500.0)
    assert np.isnan(_lifetimes_loglik(case[3:], *case[:3])[0])
    assert P.loglik(*case) == pytest.approx(loglik_oracle(*case), rel=1e-12)
    # s = 1: lifetimes' expectations divide 0 by 0; the limit is finite and continuous.
    lf = _lifetimes_fitter((0.55, 10.58, 1.0, 11.67))
    with np.errstate(all="ignore"):
        assert np.isnan(lf.conditional_expected_number_of_purchases_up_to_time(52, 5, 20.0, 30.0))
    at_one = P.conditional_expected_purchases(52, 5, 20.0, 30.0, 0.55, 10.58, 1.0, 11.67)
    near = P.conditional_expected_purchases(52, 5, 20.0, 30.0, 0.55, 10.58, 1.0 + 1e-7, 11.67)
    assert np.isfinite(at_one) and at_one == pytest.approx(near, rel=1e-6)
    assert P.expected_purchases(10.0, 0.55, 10.58, 1.0, 11.67) == pytest.approx(
        0.55 / 10.58 * 11.67 * np.log1p(10 / 11.67), rel=1e-13)


# ---------------------------------------------------------------- oracles

LOGLIK_CASES = [
    (0, 0.0, 39.0, 0.55, 10.58, 0.61, 11.67),
    (2, 30.43, 38.86, 0.55, 10.58, 0.61, 11.67),
    (26, 30.86, 31.0, 0.55, 10.58, 0.61, 11.67),
    (1000, 5.0, 10.0, 0.55, 1000.0, 0.6, 1.0),
    (300, 5.0, 10.0, 0.55, 1000.0, 0.6, 1.0),
    (50, 1.0, 39.0, 0.55, 200.0, 0.6, 1.0),
    (1000, 1.0, 39.0, 0.55, 1.0, 0.6, 500.0),
    (0, 0.0, 39.0, 2.0, 1e4, 0.3, 0.01),
    (3, 2.0, 1e5, 0.2, 3.0, 0.05, 2.0),
    (5, 1e4, 1e5, 0.8, 40.0, 2.5, 7.0),
    (1, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0),
    (7, 12.0, 20.0, 3.0, 1e-3, 0.5, 1e3),
]


@pytest.mark.parametrize("case", LOGLIK_CASES)
def test_loglik_matches_quadrature(case):
    assert P.loglik(*case) == pytest.approx(loglik_oracle(*case), rel=1e-11, abs=1e-11)


def test_log_hyp_integral_matches_quadrature():
    grid = [(k, m, e)
            for k in (1e-3, 0.5, 1.0, 2.0, 15.9, 16.1, 100.0, 1e4)
            for m in (0.02, 0.5, 10.0, 1000.0)
            for e in (0.3, 1.01, 2.0, 31.0, 1000.0) if e <= m + 1]
    k, m, e = np.array(grid).T
    got = P.log_hyp_integral(k, m, e)
    want = np.array([log_i_oracle(*row) for row in grid])
    np.testing.assert_allclose(np.exp(got - want), 1.0, atol=1e-10)
    # far beyond: finite and close
    far = P.log_hyp_integral(1e10, 3e4, 3e4)
    assert np.isfinite(far) and abs(far - log_i_oracle(1e10, 3e4, 3e4)) < 1e-4
    assert P.log_hyp_integral(0.0, 2.0, 1.5) == 0.0


def test_repeated_rows_give_the_same_values():
    rng = np.random.default_rng(3)
    k = rng.uniform(0, 20, 300)
    m = rng.uniform(0.1, 50, 300)
    e = rng.uniform(0.1, 1.0, 300) * (m + 1)
    idx = rng.integers(0, 300, 5000)  # mostly repeated rows: the distinct-row path
    full = P._log_I_numpy(k[idx], m[idx], e[idx], grad=True)
    once = P._log_I_numpy(k, m, e, grad=True)
    for a, b in zip(full, once):
        np.testing.assert_array_equal(a, b[idx])


@pytest.mark.parametrize("n", [0, 1, 3, 10, 50])
@pytest.mark.parametrize("params", [(0.55, 10.58, 0.61, 11.67), (0.5, 2.0, 0.6, 50.0),
                                    (0.5, 50.0, 0.6, 2.0), (3.0, 0.1, 2.0, 0.05)])
def test_pmf_matches_quadrature(n, params):
    for t in (0.5, 39.0, 1000.0):
        got = P.probability_of_purchases(n, t, *params)
        assert got == pytest.approx(pmf_oracle(n, t, *params), rel=1e-10, abs=1e-300)


# ---------------------------------------------------------------- gradients

def test_partials_of_log_hyp_integral():
    rng = np.random.default_rng(0)
    n = 2000
    k = np.exp(rng.uniform(np.log(1e-3), np.log(1e4), n))
    m = np.exp(rng.uniform(np.log(0.02), np.log(3e3), n))
    e = np.where(rng.random(n) < 0.5, rng.uniform(1.0, 3.0, n), rng.uniform(0.01, 1, n) * (m + 1))
    _, dk, dm, de = P._log_I_numpy(k, m, e, grad=True)
    h = 1e-6
    for deriv, bump in ((dk, lambda s: (k * (1 + s), m, e)),
                        (dm, lambda s: (k, m * (1 + s), e)),
                        (de, lambda s: (k, m, e * (1 + s)))):
        fd = (P._log_I_numpy(*bump(h)) - P._log_I_numpy(*bump(-h))) / (2 * h)
        x = {id(dk): k, id(dm): m, id(de): e}[id(deriv)]
        np.testing.assert_allclose(deriv * x, fd, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("params", [CLVTOOLS, (0.5, 2.0, 0.6, 50.0), (0.5, 50.0, 0.6, 2.0),
                                    (1.0, 1.0, 1.0, 1.0)])
def test_pytensor_engine_value_and_gradient(published, params):
    import pytensor
    import pytensor.tensor as pt

    from clvmodels.likelihoods import pytensor_namespace

    x, t_x, T = published
    theta = pt.dvector("theta")
    p = [pt.exp(theta[i]) for i in range(4)]
    total = pt.sum(P.loglik(x, t_x, T, *p, xp=pytensor_namespace()))
    fn = pytensor.function([theta], [total, pytensor.grad(total, theta)])
    th = np.log(params)
    value, grad = fn(th)
    assert value == pytest.approx(P.loglik(x, t_x, T, *params).sum(), rel=1e-13)

    def f(v):
        return P.loglik(x, t_x, T, *np.exp(v)).sum()

    fd = np.array([(f(th + 1e-6 * np.eye(4)[i]) - f(th - 1e-6 * np.eye(4)[i])) / 2e-6
                   for i in range(4)])
    # alpha == beta (last case) is where |alpha - beta| would lose the gradient.
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-3)


# ---------------------------------------------------------------- properties

params_st = st.tuples(
    st.floats(0.01, 20), st.floats(0.01, 1e3), st.floats(0.01, 20), st.floats(0.01, 1e3))
history_st = st.tuples(st.integers(0, 500), st.floats(0.0, 1.0), st.floats(0.1, 1e4))


@settings(max_examples=150, deadline=None)
@given(params=params_st, history=history_st)
def test_probability_alive_and_expectation_properties(params, history):
    x, frac, T = history
    t_x = 0.0 if x == 0 else frac * T
    p = P.probability_alive(x, t_x, T, *params)
    assert 0.0 <= p <= 1.0
    # Exactly 1 in theory; the two terms differ by rounding (1.8e-12 at x=500, T=2307).
    assert P.probability_alive(x, T, T, *params) == pytest.approx(1.0, abs=1e-10)
    e = P.conditional_expected_purchases(np.array([0.0, 1.0, 10.0, 100.0]), x, t_x, T, *params)
    assert e[0] == 0.0 and np.all(np.isfinite(e)) and np.all(np.diff(e) >= 0)
    ll = P.loglik(x, t_x, T, *params)
    assert np.isfinite(ll)
    # Rescaling time: recency, age, alpha, beta by c changes only the lambda^x factor.
    c = 7.0
    scaled = P.loglik(x, c * t_x, c * T, params[0], c * params[1], params[2], c * params[3])
    assert scaled == pytest.approx(ll - x * np.log(c), rel=1e-9, abs=1e-9)
    assert P.probability_alive(x, c * t_x, c * T, params[0], c * params[1], params[2],
                               c * params[3]) == pytest.approx(p, rel=1e-8, abs=1e-12)
    q = P.probability_no_purchase(np.array([1.0, 10.0]), x, t_x, T, *params)
    assert np.all((q >= 0) & (q <= 1)) and q[0] >= q[1] and q[1] >= 1 - p - 1e-12


@settings(max_examples=60, deadline=None)
@given(params=params_st, t=st.floats(0.01, 1e3))
def test_pmf_sums_to_one(params, t):
    r, alpha = params[0], params[1]
    n = np.arange(0, 4000)
    pmf = P.probability_of_purchases(n, t, *params)
    assert np.all(pmf >= 0)
    # when the mass beyond 4000 purchases is negligible (P(lambda t > 1000) tiny)
    if gamma_dist.sf(1000.0 / t, r, scale=1.0 / alpha) < 1e-14:
        assert pmf.sum() == pytest.approx(1.0, abs=1e-8)
        # the PMF's mean is the closed-form E[X(t)] (FH05 eq. 27)
        assert np.dot(n, pmf) == pytest.approx(P.expected_purchases(t, *params), rel=1e-6)


def test_extreme_inputs_stay_finite():
    x = np.array([0, 5, 1000, 1000, 0])
    t_x = np.array([0.0, 3.0, 30.0, 9e4, 0.0])
    T = np.array([40.0, 40.0, 40.0, 1e5, 1e5])
    for params in [(1e-8, 1e-8, 1e-8, 1e-8), (1e8, 1e8, 1e8, 1e8), (1e-6, 1e6, 1e3, 1e-3),
                   (100.0, 1e-4, 1e-4, 100.0), (0.55, 10.58, 0.61, 11.67)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no RuntimeWarning leaks out
            ll = P.loglik(x, t_x, T, *params)
            pa = P.probability_alive(x, t_x, T, *params)
            ex = P.conditional_expected_purchases(52.0, x, t_x, T, *params)
            q0 = P.probability_no_purchase(52.0, x, t_x, T, *params)
        assert np.all(np.isfinite(ll)), params
        assert np.all((pa >= 0) & (pa <= 1)), params
        assert np.all(np.isfinite(ex) & (ex >= 0)), params
        assert np.all((q0 >= 0) & (q0 <= 1)), params


def test_conditional_pmf_and_no_purchase(published):
    x, t_x, T = (v[:200] for v in published)
    n = np.arange(0, 400)
    pmf = P.conditional_probability_of_purchases(n[None, :], 39.0, x[:, None], t_x[:, None],
                                                 T[:, None], *CLVTOOLS)
    np.testing.assert_allclose(pmf.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(pmf @ n, P.conditional_expected_purchases(39.0, x, t_x, T,
                                                                         *CLVTOOLS), rtol=1e-6)
    np.testing.assert_allclose(P.probability_no_purchase(39.0, x, t_x, T, *CLVTOOLS), pmf[:, 0],
                               rtol=1e-14)
    # small horizons: no cancellation in P(no purchase) = 1 - O(t)
    tiny = P.probability_no_purchase(1e-9, 26, 30.86, 31.0, *FH_EXAMPLE)
    rate = P.conditional_expected_purchases(1e-9, 26, 30.86, 31.0, *FH_EXAMPLE)
    assert 1 - tiny == pytest.approx(rate, rel=1e-6)


def test_math_namespace_contract():
    # the likelihood only needs the shared namespace names
    assert P.loglik(2, 30.43, 38.86, *CLVTOOLS, xp=NUMPY) == pytest.approx(
        loglik_oracle(2, 30.43, 38.86, *CLVTOOLS), rel=1e-12)
