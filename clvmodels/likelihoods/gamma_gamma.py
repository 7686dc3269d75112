r"""Gamma-Gamma model of average spend per transaction.

Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value" (Hardie note
025; below: FH), building on Colombo & Jiang (1999) and Fader, Hardie & Lee (2005),
"RFM and CLV: using iso-value curves for customer base analysis", *Journal of
Marketing Research* 42(4), 415-430.

Assumptions (FH section 2): a customer's transaction values are
:math:`z_i \sim \mathrm{Gamma}(p, \nu)`; the rate varies across customers as
:math:`\nu \sim \mathrm{Gamma}(q, \gamma)`; spend is independent of the purchase
process. ``v`` stands for :math:`\gamma` and is in money units. The data of a
customer are ``x`` (number of transactions averaged, the repeat purchases) and
``m`` (their mean value, :math:`\bar z`); only customers with ``x > 0`` carry
information.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp

from ._math import NUMPY
from ._random import Family, _bcast, _shape, scalar_draws

__all__ = [
    "FAMILY",
    "expected_spend", "loglik", "loglik_amount_terms", "loglik_amount_terms_grad",
    "loglik_count_terms", "loglik_count_terms_grad", "population_mean_spend",
    "random",
]


def loglik_count_terms(x, p, q, v, xp=NUMPY):
    r"""Terms of FH eq. 3 that depend on ``x`` only:
    :math:`\ln\Gamma(px+q) - \ln\Gamma(px) - \ln\Gamma(q) + q\ln\gamma + px\ln x`."""
    px = p * x
    return xp.gammaln(px + q) - xp.gammaln(px) - xp.gammaln(q) + q * xp.log(v) + px * xp.log(x)


def loglik_amount_terms(x, m, p, q, v, xp=NUMPY):
    r"""Terms of FH eq. 3 that depend on the mean spend ``m``:
    :math:`(px-1)\ln m - (px+q)\ln(\gamma + x m)`."""
    px = p * x
    return (px - 1.0) * xp.log(m) - (px + q) * xp.log(v + x * m)


def loglik_count_terms_grad(x, p, q, v):
    r""":func:`loglik_count_terms` and its gradient in ``(p, q, v)`` (numpy).

    .. math::
        \partial_p = x\big(\psi(px+q) - \psi(px) + \ln x\big), \quad
        \partial_q = \psi(px+q) - \psi(q) + \ln\gamma, \quad
        \partial_\gamma = q/\gamma

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(3, n)``. The
    maximum-likelihood engine uses it instead of compiling the gradient of
    :func:`loglik_count_terms` (they are tested against each other).
    """
    x = np.asarray(x, dtype=float)
    px = p * x
    log_x = np.log(x)
    values = _sp.gammaln(px + q) - _sp.gammaln(px) - _sp.gammaln(q) + q * np.log(v) + px * log_x
    psi_pxq = _sp.digamma(px + q)
    grads = np.empty((3,) + np.shape(values))
    grads[0] = x * (psi_pxq - _sp.digamma(px) + log_x)
    grads[1] = psi_pxq - _sp.digamma(q) + np.log(v)
    grads[2] = q / v
    return values, grads


def loglik_amount_terms_grad(x, m, p, q, v):
    r""":func:`loglik_amount_terms` and its gradient in ``(p, q, v)`` (numpy).

    .. math::
        \partial_p = x\big(\ln m - \ln(\gamma + xm)\big), \quad
        \partial_q = -\ln(\gamma + xm), \quad
        \partial_\gamma = -(px+q)/(\gamma + xm)

    Returns ``(values, grads)`` of shapes ``(n,)`` and ``(3, n)``.
    """
    x = np.asarray(x, dtype=float)
    px = p * x
    log_m = np.log(m)
    v_xm = v + x * m
    log_v_xm = np.log(v_xm)
    values = (px - 1.0) * log_m - (px + q) * log_v_xm
    grads = np.empty((3,) + np.shape(values))
    grads[0] = x * (log_m - log_v_xm)
    grads[1] = -log_v_xm
    grads[2] = -(px + q) / v_xm
    return values, grads


def loglik(x, m, p, q, v, xp=NUMPY):
    r"""Per-customer log-density of the mean spend :math:`\bar z = m`: FH eq. 3.

    .. math::
        \ln f(m | p, q, \gamma; x) = \ln\Gamma(px+q) - \ln\Gamma(px) - \ln\Gamma(q)
            + q\ln\gamma + (px-1)\ln m + px\ln x - (px+q)\ln(\gamma + x m)

    Requires ``x > 0`` and ``m > 0``.
    """
    return loglik_count_terms(x, p, q, v, xp) + loglik_amount_terms(x, m, p, q, v, xp)


def expected_spend(x, m, p, q, v):
    r"""E[mean spend | x, m]: FH eq. 5.

    .. math::
        E(Z | p, q, \gamma, \bar z, x) = \frac{q-1}{px+q-1}\frac{p\gamma}{q-1}
            + \frac{px}{px+q-1}\bar z = \frac{p(\gamma + x\bar z)}{px+q-1}

    For ``x = 0`` this is the population mean :math:`p\gamma/(q-1)`. The
    expectation exists only when ``px + q > 1``; NaN is returned otherwise.
    """
    x = np.asarray(x, dtype=float)
    m = np.where(x > 0, np.asarray(m, dtype=float), 0.0)
    denom = p * x + q - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, p * (v + x * m) / denom, np.nan)


def population_mean_spend(p, q, v):
    r"""Mean spend per transaction in the population, :math:`p\gamma/(q-1)` (FH
    section 4), NaN when ``q <= 1`` (the mean does not exist)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(q) > 1.0, p * v / (np.asarray(q) - 1.0), np.nan)


@scalar_draws
def random(p, q, v, x, weight=None, rng=None, size=None):
    r"""Simulate the mean spend of customers with ``x`` repeat purchases (Fader &
    Hardie 2013, section 2): :math:`\nu \sim \mathrm{Gamma}(q, v)` (rate ``v``),
    the sum of ``x`` amounts :math:`\sim \mathrm{Gamma}(px, \nu)`; 0 where
    ``x = 0``."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, p, q, v, x)
    p, q, v, x = _bcast(shape, p, q, v, x)
    nu = rng.gamma(q, 1.0 / v)
    out = np.zeros(shape)
    has = x > 0
    with np.errstate(divide="ignore", over="ignore"):
        out[has] = rng.gamma(p[has] * x[has], 1.0 / nu[has]) / x[has]
    return out


#: The Bayesian engine's view of the model: ``monetary_value`` given ``frequency``.
FAMILY = Family("spend", ("monetary_value",), ("frequency",), random)
