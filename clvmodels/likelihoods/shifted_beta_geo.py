r"""Shifted-beta-geometric (sBG) formulas: contractual retention.

Fader & Hardie (2007), "How to project customer retention", *Journal of
Interactive Marketing* 21(1), 76-90 (below: FH07); Fader & Hardie (2010),
"Customer-base valuation in a contractual setting: the perils of ignoring
heterogeneity", *Marketing Science* 29(1), 85-93 (below: FH10).

Assumptions (FH07 section 3): at the end of each period a subscriber renews
with probability :math:`1 - \theta` and cancels with probability
:math:`\theta`, the same every period for one subscriber; :math:`\theta \sim
\mathrm{Beta}(\alpha, \beta)` across subscribers. The period ``T`` in which a
subscriber leaves (``T = 1``: they did not renew after the first period) is
then shifted-beta-geometric:

.. math::
    P(T = t) = \frac{B(\alpha + 1, \beta + t - 1)}{B(\alpha, \beta)}, \qquad
    S(t) = P(T > t) = \frac{B(\alpha, \beta + t)}{B(\alpha, \beta)}

(FH07 eqs. 5 and 7) and the retention rate from period ``t - 1`` to ``t`` is
:math:`r(t) = (\beta + t - 1) / (\alpha + \beta + t - 1)` (eq. 8).

A subscriber's data are ``t`` and ``churned``: with ``churned = 1`` they left in
period ``t`` (``t >= 1``); with ``churned = 0`` they are still subscribed after
``t`` periods (``t >= 0``). Survivor counts ``n_0, ..., n_k`` of a cohort are the
rows ``(t, 1)`` with weight ``n_{t-1} - n_t`` for ``t = 1..k`` and ``(k, 0)``
with weight ``n_k`` (FH07 eq. 9).

The log-likelihood is written against a math namespace ``xp``
(:mod:`clvmodels.likelihoods._math`) so the maximum-likelihood and PyMC engines
share it; the prediction formulas are numpy and broadcast over parameter draws.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp

from ._math import NUMPY
from ._random import Family, _bcast, _shape, scalar_draws

__all__ = [
    "FAMILY",
    "discounted_expected_lifetime",
    "discounted_expected_residual_lifetime",
    "expected_lifetime",
    "loglik",
    "loglik_grad",
    "retention_rate",
    "survival",
    "random",
]


def loglik(t, churned, horizon, alpha, beta, xp=NUMPY):
    r"""Log-likelihood of one subscriber (FH07 eq. 9, one term).

    ``churned``: :math:`\ln P(T = t)`; else :math:`\ln S(t)`. ``horizon`` (the
    periods the subscriber could have been observed) does not enter the
    likelihood; the random generator uses it.
    """
    left = xp.betaln(alpha + 1.0, beta + xp.maximum(t - 1.0, 0.0))
    stayed = xp.betaln(alpha, beta + t)
    return xp.where(churned > 0, left, stayed) - xp.betaln(alpha, beta)


def loglik_grad(t, churned, horizon, alpha, beta):
    r""":func:`loglik` and its gradient in ``(alpha, beta)`` (numpy), from
    :math:`\partial_a \ln B(a, b) = \psi(a) - \psi(a + b)`."""
    t = np.asarray(t, dtype=float)
    left = np.asarray(churned) > 0
    a = np.where(left, alpha + 1.0, alpha)
    b = np.where(left, beta + np.maximum(t - 1.0, 0.0), beta + t)
    values = _sp.betaln(a, b) - _sp.betaln(alpha, beta)
    psi_ab, psi_all = _sp.digamma(alpha + beta), _sp.digamma(a + b)
    grads = np.empty((2,) + values.shape)
    grads[0] = _sp.digamma(a) - psi_all - _sp.digamma(alpha) + psi_ab
    grads[1] = _sp.digamma(b) - psi_all - _sp.digamma(beta) + psi_ab
    return values, grads


def survival(t, alpha, beta):
    r"""Share of a cohort still subscribed after ``t`` periods, :math:`S(t)` (FH07 eq. 7)."""
    return np.exp(_sp.betaln(alpha, beta + t) - _sp.betaln(alpha, beta))


def retention_rate(t, alpha, beta):
    r"""Retention from period ``t - 1`` to ``t`` (``t >= 1``), :math:`(\beta + t - 1) /
    (\alpha + \beta + t - 1)` (FH07 eq. 8): it rises with ``t`` as the subscribers
    most likely to leave are gone."""
    return (beta + t - 1.0) / (alpha + beta + t - 1.0)


def expected_lifetime(alpha, beta, horizon=None):
    r"""Expected number of periods a new subscriber pays for.

    Without ``horizon``, :math:`E[T] = (\alpha + \beta - 1) / (\alpha - 1)`, infinite
    when :math:`\alpha \le 1` (a heavy tail of loyal subscribers). With it, the
    expected periods paid within the first ``horizon`` periods,
    :math:`\sum_{t=0}^{h-1} S(t)`.
    """
    if horizon is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(alpha > 1, (alpha + beta - 1.0) / np.maximum(alpha - 1.0, 1e-300),
                            np.inf)
    t = np.arange(int(horizon), dtype=float)
    return survival(t, np.expand_dims(alpha, -1), np.expand_dims(beta, -1)).sum(axis=-1)


def discounted_expected_residual_lifetime(t, alpha, beta, discount_rate):
    r"""DERL of a subscriber still active after ``t`` periods (FH10 eq. 6 with
    ``n - 1 = t`` renewals): the expected discounted number of their future
    payments, the next one (at the coming renewal) undiscounted,

    .. math::
        \mathrm{DERL} = \frac{\beta + t}{\alpha + \beta + t}\;
        {}_2F_1\Big(1, \beta + t + 1; \alpha + \beta + t + 1; \frac{1}{1 + d}\Big).
    """
    z = 1.0 / (1.0 + discount_rate)
    return ((beta + t) / (alpha + beta + t)
            * _sp.hyp2f1(1.0, beta + t + 1.0, alpha + beta + t + 1.0, z))


def discounted_expected_lifetime(alpha, beta, discount_rate):
    r"""Discounted expected lifetime of a new subscriber, first payment included
    (FH10 eq. 4): :math:`{}_2F_1(1, \beta; \alpha + \beta; 1 / (1 + d))`."""
    return _sp.hyp2f1(1.0, beta, alpha + beta, 1.0 / (1.0 + discount_rate))


@scalar_draws
def random(alpha, beta, horizon, weight=None, rng=None, size=None):
    r"""Simulate ``(t, churned)`` of shifted-beta-geometric subscribers observed for
    ``horizon`` periods (Fader & Hardie 2007): :math:`\theta \sim \mathrm{Beta}(\alpha,
    \beta)`, the period of churn :math:`T \sim \mathrm{Geometric}(\theta)`; ``(T, 1)``
    if :math:`T \le` ``horizon``, else ``(horizon, 0)``."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, alpha, beta, horizon)
    alpha, beta, horizon = _bcast(shape, alpha, beta, horizon)
    theta = np.clip(rng.beta(alpha, beta), 1e-300, 1.0)
    lifetime = rng.geometric(theta).astype(float)
    churned = lifetime <= horizon
    return np.stack([np.where(churned, lifetime, horizon), churned.astype(float)], axis=-1)


#: The Bayesian engine's view of the model: ``(t, churned)`` given ``horizon``.
FAMILY = Family("subscriptions", ("t", "churned"), ("horizon",), random)
