r"""BG/BB formulas: discrete-time, non-contractual repeat transactions.

Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
noncontractual setting", *Marketing Science* 29(6), 1086-1108 (below: FHS).

Assumptions (FHS section 2): after a first transaction (period 0) a customer has
one transaction opportunity per period (a year of donations, a yearly event).
While alive, they transact at each opportunity with probability :math:`p`; at
the start of each opportunity an alive customer dies with probability
:math:`\theta` (and stays dead); :math:`p \sim \mathrm{Beta}(\alpha, \beta)` and
:math:`\theta \sim \mathrm{Beta}(\gamma, \delta)`, independent across customers.

A customer's data are ``x`` (``frequency``: opportunities with a transaction among
the ``n``), ``t_x`` (``recency``: the opportunity of the last one, 0 if ``x = 0``)
and ``n`` (``n_periods``: opportunities observed). The likelihood (FHS eq. 5) is

.. math::
    L = \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n)}{B(\gamma, \delta)}
      + \sum_{i=0}^{n - t_x - 1}
        \frac{B(\alpha + x, \beta + t_x - x + i)}{B(\alpha, \beta)}
        \frac{B(\gamma + 1, \delta + t_x + i)}{B(\gamma, \delta)}

(alive through opportunity ``n``, or dead from opportunity ``t_x + i + 1``). It is
written once against a math namespace ``xp``, in log space (a log-sum-exp of the
terms), so the maximum-likelihood and PyMC engines share it; the prediction
formulas are numpy and broadcast over parameter draws. Horizons ``t`` are whole
numbers of periods.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp

from ._math import NUMPY
from ._random import Family, _bcast, _shape, scalar_draws

__all__ = [
    "FAMILY",
    "conditional_expected_purchases",
    "conditional_probability_of_purchases",
    "discounted_expected_residual_transactions",
    "expected_purchases",
    "loglik",
    "loglik_grad",
    "probability_alive",
    "probability_alive_at",
    "probability_of_purchases",
    "random",
]


def _terms(x, t_x, n, alpha, beta, gamma, delta, xp):
    """Log of the "alive" term (rows) and of the "dead from ``t_x + i + 1``" terms
    (rows x i, with the mask ``i < n - t_x``) of the likelihood."""
    base = xp.betaln(alpha, beta) + xp.betaln(gamma, delta)
    alive = xp.betaln(alpha + x, beta + n - x) + xp.betaln(gamma, delta + n) - base
    gap = n - t_x
    i = xp.arange(xp.max(gap) + 1.0)  # at least one column; masked beyond the gap

    def e(v):
        return xp.expand_dims(v, -1)

    dead = (xp.betaln(e(alpha + x), e(beta + t_x - x) + i)
            + xp.betaln(e(gamma + 1.0), e(delta + t_x) + i) - e(base))
    return alive, dead, i < e(gap)


def loglik(x, t_x, n, alpha, beta, gamma, delta, xp=NUMPY):
    """Log-likelihood of each customer (FHS eq. 5), a log-sum-exp of its terms."""
    alive, dead, mask = _terms(x, t_x, n, alpha, beta, gamma, delta, xp)
    top = xp.maximum(alive, xp.max(xp.where(mask, dead, xp.expand_dims(alive, -1)), axis=-1))
    total = xp.exp(alive - top) + xp.sum(
        xp.where(mask, xp.exp(dead - xp.expand_dims(top, -1)), 0.0), axis=-1)
    return top + xp.log(total)


def loglik_grad(x, t_x, n, alpha, beta, gamma, delta):
    r""":func:`loglik` and its gradient in ``(alpha, beta, gamma, delta)`` (numpy):
    each term's share of the likelihood times the derivative of its log, with
    :math:`\partial_a \ln B(a, b) = \psi(a) - \psi(a + b)`."""
    x, t_x, n = (np.asarray(v, dtype=float) for v in (x, t_x, n))
    alive, dead, mask = _terms(x, t_x, n, alpha, beta, gamma, delta, NUMPY)
    values = loglik(x, t_x, n, alpha, beta, gamma, delta)
    w_alive = np.exp(alive - values)
    w_dead = np.where(mask, np.exp(dead - values[:, None]), 0.0)
    psi = _sp.digamma
    i = np.arange(dead.shape[-1], dtype=float)[None, :]
    xx, tx = x[:, None], t_x[:, None]
    d_ab = psi(alpha + beta)
    d_gd = psi(gamma + delta)
    grads = np.empty((4,) + values.shape)
    # alpha, beta: the transaction process, the same in every term but for the length
    grads[0] = (w_alive * (psi(alpha + x) - psi(alpha + beta + n))
                + np.sum(w_dead * (psi(alpha + xx) - psi(alpha + beta + tx + i)), axis=-1)
                - psi(alpha) + d_ab)
    grads[1] = (w_alive * (psi(beta + n - x) - psi(alpha + beta + n))
                + np.sum(w_dead * (psi(beta + tx - xx + i) - psi(alpha + beta + tx + i)),
                         axis=-1)
                - psi(beta) + d_ab)
    # gamma, delta: the dropout process
    grads[2] = (w_alive * (psi(gamma) - psi(gamma + delta + n))
                + np.sum(w_dead * (psi(gamma + 1.0) - psi(gamma + 1.0 + delta + tx + i)),
                         axis=-1)
                - psi(gamma) + d_gd)
    grads[3] = (w_alive * (psi(delta + n) - psi(gamma + delta + n))
                + np.sum(w_dead * (psi(delta + tx + i) - psi(gamma + 1.0 + delta + tx + i)),
                         axis=-1)
                - psi(delta) + d_gd)
    return values, grads


# ----------------------------------------------------------------------------
# Predictions (numpy; broadcast over customers, parameter draws and horizons)
# ----------------------------------------------------------------------------

def _periods(t) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t != np.round(t)) or np.any(t < 0):
        raise ValueError("BG/BB horizons are finite whole numbers of periods (transaction "
                         f"opportunities) >= 0, got {np.unique(t)[:5].tolist()}.")
    return t


def probability_alive(x, t_x, n, alpha, beta, gamma, delta):
    r"""P(alive at opportunity ``n`` | x, t_x, n): the first term of the likelihood
    over the likelihood (FHS eq. 10 with no periods ahead)."""
    return probability_alive_at(0.0, x, t_x, n, alpha, beta, gamma, delta)


def probability_alive_at(t, x, t_x, n, alpha, beta, gamma, delta):
    r"""P(alive at opportunity ``n + t`` | x, t_x, n) (FHS eq. 10; ``t = 1`` is the
    paper's "alive in period n + 1"):

    .. math::
        \frac{B(\alpha + x, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n + t)}{B(\gamma, \delta)} \Big/ L
    """
    t = _periods(t)
    ll = loglik(x, t_x, n, alpha, beta, gamma, delta)
    log_alive = (_sp.betaln(alpha + x, beta + n - x) - _sp.betaln(alpha, beta)
                 + _sp.betaln(gamma, delta + n + t) - _sp.betaln(gamma, delta))
    return np.exp(log_alive - ll)


def _alive_opportunities(n, t, gamma, delta):
    r""":math:`\sum_{j=1}^{t} B(\gamma, \delta + n + j) / B(\gamma, \delta)`: the
    expected number of the opportunities ``n + 1 .. n + t`` at which a customer
    alive at ``n`` (before the update on ``\theta``) is still alive, in the closed
    form of FHS eq. 13,

    .. math::
        \frac{\delta}{\gamma - 1} \frac{\Gamma(\gamma + \delta)}{\Gamma(1 + \delta)}
        \Big[\frac{\Gamma(1 + \delta + n)}{\Gamma(\gamma + \delta + n)}
           - \frac{\Gamma(1 + \delta + n + t)}{\Gamma(\gamma + \delta + n + t)}\Big].

    The bracket is a difference of exponentials of log-gamma differences, taken
    with ``expm1``. For ``gamma`` within 1e-3 of 1 those differences cancel, so
    each :math:`\ln\Gamma(a) - \ln\Gamma(a + \gamma - 1)` is integrated from
    the digamma function instead (Simpson's rule, exact to 1e-15 there); at
    ``gamma = 1`` the value is :math:`\delta [\psi(1 + \delta + n + t) - \psi(1 +
    \delta + n)]`.
    """
    g1 = gamma - 1.0
    near = np.abs(g1) < 1e-3
    lead = (_sp.gammaln(gamma + delta) - _sp.gammaln(1.0 + delta)
            + _sp.gammaln(1.0 + delta + n) - _sp.gammaln(gamma + delta + n))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        def d(k):
            return _sp.gammaln(1.0 + delta + k) - _sp.gammaln(gamma + delta + k)

        far = delta / np.where(near, 1.0, g1) * np.exp(lead) * -np.expm1(d(n + t) - d(n))

        def mean_digamma(a):  # the mean of psi over (a, a + gamma - 1)
            return (_sp.digamma(a) + 4.0 * _sp.digamma(a + 0.5 * g1)
                    + _sp.digamma(a + g1)) / 6.0

        spread = mean_digamma(1.0 + delta + n + t) - mean_digamma(1.0 + delta + n)
        z = -g1 * spread
        ratio = np.where(z == 0.0, 1.0, np.expm1(z) / np.where(z == 0.0, 1.0, z))
        close = delta * np.exp(lead) * spread * ratio
    return np.where(near, close, far)


def conditional_expected_purchases(t, x, t_x, n, alpha, beta, gamma, delta):
    r"""Expected transactions at the next ``t`` opportunities, ``n + 1 .. n + t``,
    given ``x, t_x, n`` (FHS eq. 13):

    .. math::
        \frac{1}{L} \frac{B(\alpha + x + 1, \beta + n - x)}{B(\alpha, \beta)}
        \sum_{j=1}^{t} \frac{B(\gamma, \delta + n + j)}{B(\gamma, \delta)}
    """
    t = _periods(t)
    ll = loglik(x, t_x, n, alpha, beta, gamma, delta)
    lead = _sp.betaln(alpha + x + 1.0, beta + n - x) - _sp.betaln(alpha, beta) - ll
    return np.exp(lead) * _alive_opportunities(n, t, gamma, delta)


def expected_purchases(t, alpha, beta, gamma, delta):
    r"""Expected transactions of a new customer at opportunities ``1 .. t`` (FHS
    eq. 9): :math:`\frac{\alpha}{\alpha + \beta} \sum_{j=1}^{t}
    B(\gamma, \delta + j) / B(\gamma, \delta)`."""
    t = _periods(t)
    return alpha / (alpha + beta) * _alive_opportunities(0.0, t, gamma, delta)


def conditional_probability_of_purchases(k, t, x, t_x, n, alpha, beta, gamma, delta):
    r"""P(``k`` transactions at the next ``t`` opportunities | x, t_x, n).

    A customer dead by ``n`` makes none. One alive at ``n`` lives on for ``l`` of
    the ``t`` opportunities (dies at the start of ``n + l + 1``, or ``l = t``) and
    transacts at a beta-binomial number of them; over the posterior of
    :math:`(p, \theta)` given the history,

    .. math::
        P(X = k) = [k = 0]\,(1 - P_{alive}) + \frac{1}{L} \Big[
        \sum_{l=k}^{t-1} \binom{l}{k} \frac{B(\alpha + x + k, \beta + n - x + l - k)}
        {B(\alpha, \beta)} \frac{B(\gamma + 1, \delta + n + l)}{B(\gamma, \delta)}
        + \binom{t}{k} \frac{B(\alpha + x + k, \beta + n - x + t - k)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n + t)}{B(\gamma, \delta)} \Big]

    (with ``x = t_x = n = 0`` it is FHS eq. 7, the new customer's distribution).
    """
    k = np.asarray(k, dtype=float)
    t = _periods(t)
    ll = loglik(x, t_x, n, alpha, beta, gamma, delta)
    p_alive = probability_alive(x, t_x, n, alpha, beta, gamma, delta)
    b_ab = _sp.betaln(alpha, beta)
    b_gd = _sp.betaln(gamma, delta)

    def log_choose(m):
        return _sp.gammaln(m + 1.0) - _sp.gammaln(k + 1.0) - _sp.gammaln(np.maximum(m - k, 0) + 1.0)

    with np.errstate(invalid="ignore"):
        last = (log_choose(t) + _sp.betaln(alpha + x + k, beta + n - x + np.maximum(t - k, 0))
                - b_ab + _sp.betaln(gamma, delta + n + t) - b_gd - ll)
        total = np.where(k <= t, np.exp(last), 0.0)
        for lived in range(int(np.max(t)) if np.size(t) else 0):
            term = (log_choose(float(lived))
                    + _sp.betaln(alpha + x + k, beta + n - x + np.maximum(lived - k, 0))
                    - b_ab + _sp.betaln(gamma + 1.0, delta + n + lived) - b_gd - ll)
            total = total + np.where((k <= lived) & (lived < t), np.exp(term), 0.0)
    return total + np.where(k == 0, 1.0 - p_alive, 0.0)


def probability_of_purchases(k, t, alpha, beta, gamma, delta):
    """P(``k`` transactions at the first ``t`` opportunities) of a new customer (FHS eq. 7)."""
    zero = np.zeros(1)
    return conditional_probability_of_purchases(k, t, zero, zero, zero,
                                                alpha, beta, gamma, delta)


def discounted_expected_residual_transactions(discount_rate, x, t_x, n, alpha, beta, gamma,
                                              delta):
    r"""DERT: the expected transactions at opportunities ``n + 1, n + 2, ...``, the
    one at ``n + j`` discounted by :math:`(1 + d)^{-j}` (FHS eq. 14):

    .. math::
        \frac{1}{L} \frac{B(\alpha + x + 1, \beta + n - x)}{B(\alpha, \beta)}
        \frac{B(\gamma, \delta + n + 1)}{(1 + d)\, B(\gamma, \delta)}\;
        {}_2F_1\Big(1, \delta + n + 1; \gamma + \delta + n + 1; \frac{1}{1 + d}\Big)
    """
    d = np.asarray(discount_rate, dtype=float)
    ll = loglik(x, t_x, n, alpha, beta, gamma, delta)
    lead = (_sp.betaln(alpha + x + 1.0, beta + n - x) - _sp.betaln(alpha, beta)
            + _sp.betaln(gamma, delta + n + 1.0) - _sp.betaln(gamma, delta) - ll)
    return (np.exp(lead) / (1.0 + d)
            * _sp.hyp2f1(1.0, delta + n + 1.0, gamma + delta + n + 1.0, 1.0 / (1.0 + d)))


@scalar_draws
def random(alpha, beta, gamma, delta, n_periods, weight=None, rng=None, size=None):
    r"""Simulate ``(frequency, recency)`` of BG/BB customers with ``n_periods``
    opportunities (FHS section 2): :math:`p \sim \mathrm{Beta}(\alpha, \beta)`,
    :math:`\theta \sim \mathrm{Beta}(\gamma, \delta)`; at each opportunity an alive
    customer first dies with probability :math:`\theta`, else transacts with
    probability :math:`p`. ``weight`` is ignored. Returns ``size + (2,)`` values."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, alpha, beta, gamma, delta, n_periods)
    alpha, beta, gamma, delta, n_periods = _bcast(shape, alpha, beta, gamma, delta, n_periods)
    p = rng.beta(alpha, beta)
    theta = np.clip(rng.beta(gamma, delta), 1e-300, 1.0)
    lifetime = rng.geometric(theta) - 1  # opportunities lived before dying
    x = np.zeros(shape)
    t_x = np.zeros(shape)
    for i in range(1, int(np.max(n_periods, initial=0)) + 1):
        buys = (i <= lifetime) & (i <= n_periods) & (rng.random(shape) < p)
        x += buys
        t_x = np.where(buys, float(i), t_x)
    return np.stack([x, t_x], axis=-1)


#: The Bayesian engine's view of the model: ``(frequency, recency)`` given ``n_periods``.
FAMILY = Family("purchases", ("frequency", "recency"), ("n_periods",), random)
