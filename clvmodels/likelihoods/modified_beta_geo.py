r"""MBG/NBD (modified beta-geometric / NBD) formulas.

Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of
models for customer base analysis", *International Journal of Research in
Marketing* 24(3), 201-209 (below: BDF), with the corrections of Wagner & Hoppe
(2008), "Erratum on the MBG/NBD model", *IJRM* 25(3), 225-226.

Same assumptions as the BG/NBD (:mod:`clvmodels.likelihoods.beta_geo`) except that
a customer may also drop out at time 0, right after the first purchase, so a
customer without repeat purchases is not certainly alive.

Every prediction reduces to the BG/NBD formulas of a customer known to be alive:
after a history ``(x, t_x, T)`` an alive customer has survived ``x + 1`` dropout
opportunities, so its posterior is :math:`\lambda \sim \mathrm{Gamma}(r+x, \alpha+T)`,
:math:`p \sim \mathrm{Beta}(a, b+x+1)`; a new customer is alive after its first
purchase with probability :math:`b/(a+b)` and then has :math:`p \sim \mathrm{Beta}(a, b+1)`.
"""

from __future__ import annotations

import numpy as np

from . import beta_geo as _bg
from ._math import NUMPY, hyp2f1_scaled
from ._random import Family, _bcast, _purchases_until, _shape, scalar_draws

__all__ = [
    "FAMILY",
    "conditional_expected_purchases",
    "conditional_probability_of_purchases",
    "expected_purchases",
    "expected_purchases_if_alive",
    "loglik",
    "loglik_count_terms",
    "loglik_count_terms_grad",
    "loglik_timing_terms",
    "loglik_timing_terms_grad",
    "probability_alive",
    "probability_of_purchases",
    "random",
]


def loglik_count_terms(x, r, alpha, a, b, xp=NUMPY):
    r"""Terms of the MBG/NBD log-likelihood that depend on ``x`` only.

    :math:`\ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha + \ln B(a, b+x+1) - \ln B(a, b)`
    (BDF appendix, eq. A2).
    """
    return (
        xp.gammaln(r + x) - xp.gammaln(r) + r * xp.log(alpha)
        + xp.betaln(a, b + x + 1.0) - xp.betaln(a, b)
    )


def loglik_timing_terms(x, t_x, T, r, alpha, a, b, xp=NUMPY):
    r"""Terms of the MBG/NBD log-likelihood that depend on ``t_x`` and ``T``.

    .. math::
        -(r+x)\ln(\alpha+T) + \mathrm{softplus}\Big(\ln\frac{a}{b+x}
            + (r+x)\ln\frac{\alpha+T}{\alpha+t_x}\Big)
    """
    log_T = xp.log(alpha + T)
    d = xp.log(a) - xp.log(b + x) + (r + x) * (log_T - xp.log(alpha + t_x))
    return xp.softplus(d) - (r + x) * log_T


def loglik_count_terms_grad(x, r, alpha, a, b):
    r""":func:`loglik_count_terms` and its gradient in ``(r, alpha, a, b)`` (numpy).

    As for the BG/NBD (:func:`clvmodels.likelihoods.beta_geo.loglik_count_terms_grad`)
    with :math:`b+x+1` in place of :math:`b+x`:

    .. math::
        \partial_r = \psi(r+x) - \psi(r) + \ln\alpha, \quad
        \partial_\alpha = r/\alpha, \quad
        \partial_a = \psi(a+b) - \psi(a+b+x+1), \quad
        \partial_b = \psi(b+x+1) - \psi(b) + \psi(a+b) - \psi(a+b+x+1)

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(4, n)``.
    """
    return _bg._count_terms_grad(x, r, alpha, a, b, 1.0)


def loglik_timing_terms_grad(x, t_x, T, r, alpha, a, b):
    r""":func:`loglik_timing_terms` and its gradient in ``(r, alpha, a, b)`` (numpy).

    With :math:`d` the argument of the softplus, :math:`s = \mathrm{expit}(d)`
    (for every customer, ``x = 0`` included), :math:`A = 1/(\alpha+T)` and
    :math:`A_x = 1/(\alpha+t_x)`:

    .. math::
        \partial_r = -\ln(\alpha+T) + s\,\ln\frac{\alpha+T}{\alpha+t_x}, \quad
        \partial_\alpha = -(r+x)A + s\,(r+x)(A - A_x), \quad
        \partial_a = s/a, \quad
        \partial_b = -s/(b+x)

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(4, n)``.
    """
    x = np.asarray(x, dtype=float)
    return _bg._timing_terms_grad(x, t_x, T, r, alpha, a, b + x)


def loglik(x, t_x, T, r, alpha, a, b, xp=NUMPY):
    r"""Per-customer MBG/NBD log-likelihood (BDF eq. A2, log-sum-exp form).

    .. math::
        L = \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)}\Big[
            \frac{B(a, b+x+1)}{B(a, b)}(\alpha+T)^{-(r+x)}
          + \frac{B(a+1, b+x)}{B(a, b)}(\alpha+t_x)^{-(r+x)}\Big]

    The second term is present for every customer, including ``x = 0`` (a
    dropout right after the first purchase).
    """
    return loglik_count_terms(x, r, alpha, a, b, xp) + loglik_timing_terms(
        x, t_x, T, r, alpha, a, b, xp
    )


def probability_alive(x, t_x, T, r, alpha, a, b):
    r"""P(alive at T | x, t_x, T): BDF appendix eq. A5 (Wagner & Hoppe 2008).

    .. math::
        P = \Big[1 + \frac{a}{b+x}\Big(\frac{\alpha+T}{\alpha+t_x}\Big)^{r+x}\Big]^{-1}
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = np.log(a) - np.log(b + x) + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
        return NUMPY.expit(-d)


def probability_alive_at(t, x, t_x, T, r, alpha, a, b):
    r"""P(alive at T + t | x, t_x, T), ``t >= 0``: as for BG/NBD
    (:func:`clvmodels.likelihoods.beta_geo.probability_alive_at`), but a customer
    alive at T has survived ``x + 1`` dropout chances, so :math:`p \sim
    \mathrm{Beta}(a, b+x+1)`:

    .. math::
        P = P(	ext{alive at } T)\;{}_2F_1\Big(r+x, a; a+b+x+1; -rac{t}{lpha+T}\Big).
    """
    t, x, t_x, T = (np.asarray(v, dtype=float) for v in (t, x, t_x, T))
    w = t / (alpha + T + t)
    later = hyp2f1_scaled(a + b + 1 - r, a, a + b + x + 1, w, a,
                          log1mz=np.log(alpha + T) - np.log(alpha + T + t))
    return probability_alive(x, t_x, T, r, alpha, a, b) * later


def conditional_expected_purchases(t, x, t_x, T, r, alpha, a, b):
    r"""E[X(T, T+t) | x, t_x, T]: Wagner & Hoppe (2008), eq. for E(Y(t) | x, t_x, T).

    .. math::
        E = \frac{\frac{a+b+x}{a-1}\Big[1 - \big(\frac{\alpha+T}{\alpha+T+t}\big)^{r+x}
            {}_2F_1\big(r+x, b+x+1; a+b+x; \frac{t}{\alpha+T+t}\big)\Big]}
            {1 + \frac{a}{b+x}\big(\frac{\alpha+T}{\alpha+t_x}\big)^{r+x}}

    computed as P(alive) times the BG/NBD expectation of an alive customer with
    parameters ``(r+x, alpha+T, a, b+x+1)``.
    """
    return probability_alive(x, t_x, T, r, alpha, a, b) * expected_purchases_if_alive(
        t, x, T, r, alpha, a, b)


def expected_purchases_if_alive(t, x, T, r, alpha, a, b):
    """E[X(T, T+t) | alive at T, x, T]: the BG/NBD expectation of an alive
    customer with posterior parameters ``(r+x, alpha+T, a, b+x+1)``."""
    return _bg.expected_purchases_alive(t, r + x, alpha + T, a, b + x + 1.0)


def expected_purchases(t, r, alpha, a, b):
    r"""Unconditional E[X(t)] for a new customer: BDF eq. 6 (as corrected).

    .. math::
        E[X(t)] = \frac{b}{a-1}\Big[1 - \Big(\frac{\alpha}{\alpha+t}\Big)^r
            {}_2F_1\Big(r, b+1; a+b; \frac{t}{\alpha+t}\Big)\Big]

    i.e. :math:`b/(a+b)` (alive after the first purchase) times the BG/NBD
    expectation with ``b + 1``.
    """
    return b / (a + b) * _bg.expected_purchases_alive(t, r, alpha, a, b + 1.0)


def probability_of_purchases(n, t, r, alpha, a, b):
    r"""Unconditional P(X(t) = n) for a new customer: BDF eq. 5 (as corrected).

    .. math::
        P(X(t)=n) = \frac{a}{a+b}\delta_{n=0}
            + \frac{b}{a+b}\,P_8(n; t, r, \alpha, a, b+1)

    with :math:`P_8` the BG/NBD probability (FHL eq. 8) of an alive customer.
    """
    n = np.asarray(n, dtype=float)
    alive = _bg.probability_of_purchases_alive(n, t, r, alpha, a, b + 1.0)
    return b / (a + b) * alive + np.where(n == 0, a / (a + b), 0.0)


def conditional_probability_of_purchases(n, t, x, t_x, T, r, alpha, a, b):
    r"""P(X(T, T+t) = n | x, t_x, T).

    .. math::
        P = (1 - P_{alive})\,\delta_{n=0} + P_{alive}\,P_8(n; t, r+x, \alpha+T, a, b+x+1)
    """
    p_alive = probability_alive(x, t_x, T, r, alpha, a, b)
    n = np.asarray(n, dtype=float)
    alive = _bg.probability_of_purchases_alive(n, t, r + x, alpha + T, a, b + x + 1.0)
    return p_alive * alive + np.where(n == 0, 1.0 - p_alive, 0.0)


@scalar_draws
def random(r, alpha, a, b, T, weight=None, rng=None, size=None):
    r"""As :func:`clvmodels.likelihoods.beta_geo.random` for the MBG/NBD (Batislam et al. 2007): the
    customer may also drop out right after the first purchase."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, r, alpha, a, b, T)
    r, alpha, a, b, T = _bcast(shape, r, alpha, a, b, T)
    lam = rng.gamma(r, 1.0 / alpha)
    p = np.clip(rng.beta(a, b), 1e-300, 1.0)
    x, t_x = _purchases_until(rng, lam, T, rng.geometric(p) - 1)
    return np.stack([x.astype(float), t_x], axis=-1)


#: The Bayesian engine's view of the model: ``(frequency, recency)`` given ``T``.
FAMILY = Family("purchases", ("frequency", "recency"), ("T",), random)
