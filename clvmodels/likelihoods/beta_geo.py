r"""BG/NBD (beta-geometric / negative binomial distribution) formulas.

Fader, Hardie & Lee (2005), "Counting your customers the easy way: an alternative
to the Pareto/NBD model", *Marketing Science* 24(2), 275-284 (below: FHL).

Assumptions (FHL section 3): while alive a customer buys as a Poisson process with
rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)` (shape ``r``, rate ``alpha``,
so ``alpha`` is a duration); after each purchase the customer drops out for good
with probability :math:`p \sim \mathrm{Beta}(a, b)`; :math:`\lambda` and :math:`p`
vary independently across customers.

A customer's history is ``x`` (repeat purchases), ``t_x`` (time of the last
purchase since the first) and ``T`` (time from the first purchase to the end of
observation), all in one time unit; ``alpha`` is in the same unit.

The log-likelihood is written against a math namespace ``xp``
(:mod:`clvmodels.likelihoods._math`) so the same code serves the numpy and the
pytensor engines. Prediction formulas are numpy functions that broadcast, so they
also accept arrays of parameter draws.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp

from ._math import NUMPY, hyp2f1_scaled
from ._random import Family, _bcast, _purchases_until, _shape, scalar_draws

__all__ = [
    "FAMILY",
    "conditional_expected_purchases",
    "conditional_probability_of_purchases",
    "expected_purchases",
    "expected_purchases_alive",
    "expected_purchases_if_alive",
    "loglik",
    "loglik_count_terms",
    "loglik_count_terms_grad",
    "loglik_timing_terms",
    "loglik_timing_terms_grad",
    "probability_alive",
    "probability_of_purchases",
    "probability_of_purchases_alive",
    "random",
]


def loglik_count_terms(x, r, alpha, a, b, xp=NUMPY):
    r"""Terms of the BG/NBD log-likelihood that depend on ``x`` only.

    :math:`\ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha + \ln B(a, b+x) - \ln B(a, b)`
    (FHL eq. 6, the factor common to both terms; Hardie's note "A Note on
    Implementing the BG/NBD Model in Excel", section "#NUM!").
    """
    return (
        xp.gammaln(r + x) - xp.gammaln(r) + r * xp.log(alpha)
        + xp.betaln(a, b + x) - xp.betaln(a, b)
    )


def loglik_timing_terms(x, t_x, T, r, alpha, a, b, xp=NUMPY):
    r"""Terms of the BG/NBD log-likelihood that depend on ``t_x`` and ``T``.

    FHL eq. 6 divided by its ``x``-only factor:

    .. math::
        -(r+x)\ln(\alpha+T) + \delta_{x>0}\,
        \mathrm{softplus}\Big(\ln\frac{a}{b+x-1} + (r+x)\ln\frac{\alpha+T}{\alpha+t_x}\Big)

    i.e. the log of the sum of the two terms of eq. 6 in log-sum-exp form, which
    stays finite for frequent buyers (Hardie's "#NUM!" note).
    """
    log_T = xp.log(alpha + T)
    d = xp.log(a) - xp.log(b + xp.maximum(x, 1.0) - 1.0) + (r + x) * (log_T - xp.log(alpha + t_x))
    return xp.where(x > 0, xp.softplus(d), 0.0) - (r + x) * log_T


def loglik_count_terms_grad(x, r, alpha, a, b):
    r""":func:`loglik_count_terms` and its gradient in ``(r, alpha, a, b)`` (numpy).

    With :math:`\psi` the digamma function:

    .. math::
        \partial_r = \psi(r+x) - \psi(r) + \ln\alpha, \quad
        \partial_\alpha = r/\alpha, \quad
        \partial_a = \psi(a+b) - \psi(a+b+x), \quad
        \partial_b = \psi(b+x) - \psi(b) + \psi(a+b) - \psi(a+b+x)

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(4, n)``. The
    maximum-likelihood engine uses it instead of compiling the gradient of
    :func:`loglik_count_terms` (they are tested against each other).
    """
    return _count_terms_grad(x, r, alpha, a, b, 0.0)


def _count_terms_grad(x, r, alpha, a, b, shift):
    """Count terms with ``B(a, b+x+shift)`` in the numerator (BG/NBD: 0, MBG/NBD: 1)."""
    x = np.asarray(x, dtype=float)
    bx = b + x + shift
    values = (_sp.gammaln(r + x) - _sp.gammaln(r) + r * np.log(alpha)
              + _sp.betaln(a, bx) - _sp.betaln(a, b))
    psi_abx = _sp.digamma(a + bx)
    psi_ab = _sp.digamma(a + b)
    grads = np.empty((4,) + np.shape(values))
    grads[0] = _sp.digamma(r + x) - _sp.digamma(r) + np.log(alpha)
    grads[1] = r / alpha
    grads[2] = psi_ab - psi_abx
    grads[3] = _sp.digamma(bx) - _sp.digamma(b) + psi_ab - psi_abx
    return values, grads


def loglik_timing_terms_grad(x, t_x, T, r, alpha, a, b):
    r""":func:`loglik_timing_terms` and its gradient in ``(r, alpha, a, b)`` (numpy).

    With :math:`d` the argument of the softplus, :math:`s = \delta_{x>0}\,
    \mathrm{expit}(d)` (the derivative of the softplus, i.e. the posterior
    probability that the customer dropped out after the last purchase),
    :math:`A = 1/(\alpha+T)` and :math:`A_x = 1/(\alpha+t_x)`:

    .. math::
        \partial_r = -\ln(\alpha+T) + s\,\ln\frac{\alpha+T}{\alpha+t_x}, \quad
        \partial_\alpha = -(r+x)A + s\,(r+x)(A - A_x), \quad
        \partial_a = s/a, \quad
        \partial_b = -s/(b+x-1)

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(4, n)``.
    """
    x = np.asarray(x, dtype=float)
    return _timing_terms_grad(x, t_x, T, r, alpha, a, b + np.maximum(x, 1.0) - 1.0, x > 0)


def _timing_terms_grad(x, t_x, T, r, alpha, a, b_x, active=None):
    """Timing terms with ``log(a / b_x)`` in the softplus, present where ``active``
    (BG/NBD: ``b_x = b + x - 1``, ``x > 0``; MBG/NBD: ``b_x = b + x``, ``None``:
    everywhere), and their gradient in ``(r, alpha, a, b)``."""
    rx = r + x
    alpha_T = alpha + T
    alpha_tx = alpha + t_x
    log_T = np.log(alpha_T)
    log_ratio = log_T - np.log(alpha_tx)
    inv_T = 1.0 / alpha_T
    inv_tx = 1.0 / alpha_tx
    d = np.log(a) - np.log(b_x) + rx * log_ratio
    soft = np.logaddexp(0.0, d)  # softplus, as NUMPY.softplus
    s = _sp.expit(d)
    if active is not None:
        soft = np.where(active, soft, 0.0)
        s = np.where(active, s, 0.0)
    values = soft - rx * log_T
    grads = np.empty((4,) + np.shape(values))
    grads[0] = s * log_ratio - log_T
    grads[1] = rx * (s * (inv_T - inv_tx) - inv_T)
    grads[2] = s / a
    grads[3] = -s / b_x
    return values, grads


def loglik(x, t_x, T, r, alpha, a, b, xp=NUMPY):
    r"""Per-customer BG/NBD log-likelihood, FHL eq. 6 (section 7 for the log form).

    .. math::
        L = \frac{B(a, b+x)}{B(a, b)}\frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+T)^{r+x}}
          + \delta_{x>0}\frac{B(a+1, b+x-1)}{B(a, b)}
            \frac{\Gamma(r+x)\alpha^r}{\Gamma(r)(\alpha+t_x)^{r+x}}

    Parameters
    ----------
    x, t_x, T
        Frequency, recency and age (arrays or scalars, one time unit).
    r, alpha, a, b
        Model parameters (``alpha`` in the time unit of ``t_x`` and ``T``).
    xp
        Math namespace: :data:`~clvmodels.likelihoods._math.NUMPY` or
        :func:`~clvmodels.likelihoods._math.pytensor_namespace`.

    Returns
    -------
    The log-likelihood of each customer (no branching on data values, so it works
    on pytensor graphs).

    Examples
    --------
    Hardie's check values (a=0.8, b=2.5, r=0.25, alpha=4, T=40):

    >>> round(float(loglik(0, 0.0, 40.0, 0.25, 4.0, 0.8, 2.5)), 8)
    -0.59947382
    """
    return loglik_count_terms(x, r, alpha, a, b, xp) + loglik_timing_terms(
        x, t_x, T, r, alpha, a, b, xp
    )


def probability_alive(x, t_x, T, r, alpha, a, b):
    r"""P(alive at T | x, t_x, T): Fader, Hardie & Lee (2008), "Computing P(alive)
    using the BG/NBD model" (Hardie note 021), eq. 1; also FHL eq. 12's denominator.

    .. math::
        P = \Big[1 + \delta_{x>0}\frac{a}{b+x-1}
            \Big(\frac{\alpha+T}{\alpha+t_x}\Big)^{r+x}\Big]^{-1}
    """
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = (
            np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0)
            + (r + x) * np.log1p((T - t_x) / (alpha + t_x))
        )
        return np.where(x > 0, NUMPY.expit(-d), 1.0)


def probability_alive_at(t, x, t_x, T, r, alpha, a, b):
    r"""P(alive at T + t | x, t_x, T), ``t >= 0``.

    Alive at T, a customer with rate :math:`\lambda` and dropout probability
    :math:`p` is still alive at T + t unless one of the Poisson(:math:`\lambda t`)
    purchases in between was followed by a dropout: probability
    :math:`e^{-\lambda p t}`. Given alive at T, :math:`\lambda \sim
    \mathrm{Gamma}(r+x, lpha+T)` and :math:`p \sim \mathrm{Beta}(a, b+x)`, so
    (Euler's integral, then Pfaff's transformation with :math:`w = t/(lpha+T+t)`)

    .. math::
        P = P(	ext{alive at } T)\;{}_2F_1\Big(r+x, a; a+b+x; -rac{t}{lpha+T}\Big)
          = P(	ext{alive at } T)\,(1-w)^{a}\,{}_2F_1(a+b-r, a; a+b+x; w).
    """
    t, x, t_x, T = (np.asarray(v, dtype=float) for v in (t, x, t_x, T))
    w = t / (alpha + T + t)
    later = hyp2f1_scaled(a + b - r, a, a + b + x, w, a,
                          log1mz=np.log(alpha + T) - np.log(alpha + T + t))
    return probability_alive(x, t_x, T, r, alpha, a, b) * later


def expected_purchases_alive(t, r, alpha, a, b):
    r"""E[X(t)] for a customer alive at time 0: FHL eq. 9.

    .. math::
        E[X(t)] = \frac{a+b-1}{a-1}\Big[1 - \Big(\frac{\alpha}{\alpha+t}\Big)^r
            {}_2F_1\Big(r, b; a+b-1; \frac{t}{\alpha+t}\Big)\Big]

    The product in brackets is evaluated after Euler's transformation,
    :math:`(1-z)^{a-1}\,{}_2F_1(a+b-1-r, a-1; a+b-1; z)`, which cannot overflow for
    large ``r`` (frequent buyers); the untransformed product is the fallback
    (see :func:`~clvmodels.likelihoods._math.hyp2f1_scaled`). At ``a = 1`` the
    formula has a removable singularity; ``a`` is then moved by 1e-7. At
    ``a + b = 1`` the function's pole cancels with the factor ``a + b - 1``
    and the limit :math:`r z (1-z)^{a-1}{}_2F_1(1-r, a; 2; z)` is used.

    With ``r -> r + x``, ``alpha -> alpha + T`` and ``b -> b + x`` this gives the
    expectation of a customer known to be alive after history ``(x, T)``, which
    is how FHL eq. 10 factorises (see :func:`conditional_expected_purchases`).
    """
    t = np.asarray(t, dtype=float)
    a = np.asarray(a, dtype=float)
    a = np.where(np.abs(a - 1.0) < 1e-7, 1.0 + np.copysign(1e-7, a - 1.0 + 1e-300), a)
    c = a + b - 1.0
    # At c = 0 (a + b = 1) the hypergeometric function has a pole cancelled by
    # the factor c; the limit is r z (1-z)^(a-1) 2F1(1-r, a; 2; z).
    at_pole = np.abs(c) < 1e-9
    c_safe = np.where(at_pole, 1.0, c)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = t / (alpha + t)
        log1mz = -np.log1p(t / alpha)
        h = hyp2f1_scaled(c_safe - r, a - 1.0, c_safe, z, a - 1.0, log1mz)
        e = c_safe / (a - 1.0) * (1.0 - h)
        if np.any(at_pole):
            limit = r * z * hyp2f1_scaled(1.0 - r, a, 2.0, z, a - 1.0, log1mz)
            e = np.where(at_pole, limit, e)
        return np.where(t > 0, e, 0.0)


def conditional_expected_purchases(t, x, t_x, T, r, alpha, a, b):
    r"""E[X(T, T+t) | x, t_x, T]: FHL eq. 10.

    Written as P(alive) (:func:`probability_alive`) times the expectation of a
    customer alive at ``T``, whose posterior is
    :math:`\lambda \sim \mathrm{Gamma}(r+x, \alpha+T)`,
    :math:`p \sim \mathrm{Beta}(a, b+x)`:

    .. math::
        E = \frac{\frac{a+b+x-1}{a-1}\Big[1 - \big(\frac{\alpha+T}{\alpha+T+t}\big)^{r+x}
            {}_2F_1\big(r+x, b+x; a+b+x-1; \frac{t}{\alpha+T+t}\big)\Big]}
            {1 + \delta_{x>0}\frac{a}{b+x-1}\big(\frac{\alpha+T}{\alpha+t_x}\big)^{r+x}}
    """
    return probability_alive(x, t_x, T, r, alpha, a, b) * expected_purchases_if_alive(
        t, x, T, r, alpha, a, b)


def expected_purchases_if_alive(t, x, T, r, alpha, a, b):
    """E[X(T, T+t) | alive at T, x, T]: the numerator of FHL eq. 10, i.e.
    :func:`expected_purchases_alive` with the posterior parameters
    ``(r+x, alpha+T, a, b+x)``. It does not depend on recency."""
    return expected_purchases_alive(t, r + x, alpha + T, a, b + x)


def expected_purchases(t, r, alpha, a, b):
    """Unconditional E[X(t)] for a new customer: FHL eq. 9
    (:func:`expected_purchases_alive`; a new BG/NBD customer is alive)."""
    return expected_purchases_alive(t, r, alpha, a, b)


def probability_of_purchases_alive(n, t, r, alpha, a, b):
    r"""P(X(t) = n) for a customer alive at time 0: FHL eq. 8.

    .. math::
        P(X(t)=n) = \frac{B(a, b+n)}{B(a, b)}\frac{\Gamma(r+n)}{\Gamma(r)\,n!}
            \Big(\frac{\alpha}{\alpha+t}\Big)^r\Big(\frac{t}{\alpha+t}\Big)^n
          + \delta_{n>0}\frac{B(a+1, b+n-1)}{B(a, b)}
            \Big[1 - \Big(\frac{\alpha}{\alpha+t}\Big)^r
            \sum_{j=0}^{n-1}\frac{\Gamma(r+j)}{\Gamma(r)\,j!}
            \Big(\frac{t}{\alpha+t}\Big)^j\Big]

    The bracket is the negative binomial survival function
    :math:`P(N \ge n) = I_{t/(\alpha+t)}(n, r)` (regularised incomplete beta), so
    no finite sum is formed; everything else is in log space.
    """
    n = np.asarray(n, dtype=float)
    t = np.asarray(t, dtype=float)
    sp = NUMPY
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_p = -np.log1p(t / alpha)            # log(alpha / (alpha + t))
        log_q = np.log(t) - np.log(alpha + t)   # log(t / (alpha + t))
        log_nb = (
            sp.gammaln(r + n) - sp.gammaln(r) - sp.gammaln(n + 1.0)
            + r * log_p + np.where(n > 0, n * log_q, 0.0)
        )
        first = np.exp(sp.betaln(a, b + n) - sp.betaln(a, b) + log_nb)
        n1 = np.maximum(n, 1.0)
        second = np.exp(sp.betaln(a + 1.0, b + n1 - 1.0) - sp.betaln(a, b)) * sp.betainc(
            n1, r, t / (alpha + t)
        )
        return first + np.where(n > 0, second, 0.0)


def probability_of_purchases(n, t, r, alpha, a, b):
    """Unconditional P(X(t) = n) for a new customer: FHL eq. 8."""
    return probability_of_purchases_alive(n, t, r, alpha, a, b)


def conditional_probability_of_purchases(n, t, x, t_x, T, r, alpha, a, b):
    r"""P(X(T, T+t) = n | x, t_x, T).

    A dead customer makes no purchase; a customer alive at ``T`` behaves as a new
    one with the posterior parameters ``(r+x, alpha+T, a, b+x)`` (the
    factorisation behind FHL eq. 10), so

    .. math::
        P = (1 - P_{alive})\,\delta_{n=0} + P_{alive}\,P_8(n; t, r+x, \alpha+T, a, b+x)

    where :math:`P_8` is FHL eq. 8 (:func:`probability_of_purchases_alive`). For
    ``n = 0`` this is the probability of no purchase in ``(T, T+t]``.
    """
    p_alive = probability_alive(x, t_x, T, r, alpha, a, b)
    n = np.asarray(n, dtype=float)
    alive = probability_of_purchases_alive(n, t, r + x, alpha + T, a, b + x)
    return p_alive * alive + np.where(n == 0, 1.0 - p_alive, 0.0)


@scalar_draws
def random(r, alpha, a, b, T, weight=None, rng=None, size=None):
    r"""Simulate ``(frequency, recency)`` of BG/NBD customers with ages ``T``
    (Fader, Hardie & Lee 2005, section 3): :math:`\lambda \sim \mathrm{Gamma}(r,
    \alpha)`, :math:`p \sim \mathrm{Beta}(a, b)`; after each repeat purchase the
    customer drops out with probability ``p``. ``weight`` is ignored (one
    customer per row). Returns an array of shape ``size + (2,)``."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, r, alpha, a, b, T)
    r, alpha, a, b, T = _bcast(shape, r, alpha, a, b, T)
    lam = rng.gamma(r, 1.0 / alpha)
    p = np.clip(rng.beta(a, b), 1e-300, 1.0)
    x, t_x = _purchases_until(rng, lam, T, rng.geometric(p))
    return np.stack([x.astype(float), t_x], axis=-1)


#: The Bayesian engine's view of the model: ``(frequency, recency)`` given ``T``.
FAMILY = Family("purchases", ("frequency", "recency"), ("T",), random)
