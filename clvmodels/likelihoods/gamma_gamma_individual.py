r"""Gamma-Gamma model fitted on every repeat transaction's value.

The model of :mod:`clvmodels.likelihoods.gamma_gamma` (Fader & Hardie 2013,
"The Gamma-Gamma Model of Monetary Value", http://brucehardie.com/notes/025/;
below: FH), with the likelihood of the individual amounts instead of their mean,
as PyMC-Marketing's ``GammaGammaModelIndividual``. Transaction values are
:math:`z_j \sim \mathrm{Gamma}(p, \nu)` (rate :math:`\nu`), the rate varies
across customers as :math:`\nu \sim \mathrm{Gamma}(q, \gamma)`; ``v`` stands for
:math:`\gamma` (money units). Integrating :math:`\nu` out (FH section 2):

.. math::
    L_i = \frac{\prod_j z_j^{p-1}}{\Gamma(p)^x}\,\frac{\gamma^q}{\Gamma(q)}\,
          \frac{\Gamma(px+q)}{(\gamma + \sum_j z_j)^{px+q}}

It depends on the data through :math:`x`, :math:`\sum_j z_j = x\bar z` and
:math:`\sum_j \ln z_j` only. The likelihood below takes the last one as the *gap*
:math:`g = \sum_j \ln z_j - x\ln\bar z \le 0` (Jensen), which does not change
when money is rescaled, so the optimiser can rescale amounts like every other
model's (``monetary_value`` is a money column, ``g`` is unit-free). In an RFM
summary a "transaction" is a purchase day: the amounts of one day are added.
"""

from __future__ import annotations

import numpy as np
from scipy import special as _sp

from ._math import NUMPY
from ._random import Family, _bcast, _shape, scalar_draws
from .gamma_gamma import expected_spend, population_mean_spend

__all__ = [
    "FAMILY", "expected_spend", "log_spend_gap", "loglik", "loglik_amount_terms",
    "loglik_amount_terms_grad", "loglik_count_terms", "loglik_count_terms_grad",
    "population_mean_spend", "random",
]


def log_spend_gap(x, m, log_spend_sum):
    r""":math:`g = \sum_j \ln z_j - x \ln \bar z` from a summary's ``frequency``,
    ``monetary_value`` and ``log_spend_sum`` (0 where ``x = 0``)."""
    x = np.asarray(x, dtype=float)
    has = x > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(has, np.asarray(log_spend_sum, float)
                        - x * np.log(np.where(has, m, 1.0)), 0.0)


def loglik_count_terms(x, p, q, v, xp=NUMPY):
    r"""Terms that depend on ``x`` only:
    :math:`\ln\Gamma(px+q) - x\ln\Gamma(p) - \ln\Gamma(q) + q\ln\gamma`."""
    return xp.gammaln(p * x + q) - x * xp.gammaln(p) - xp.gammaln(q) + q * xp.log(v)


def loglik_amount_terms(x, m, g, p, q, v, xp=NUMPY):
    r"""Terms that depend on the amounts:
    :math:`(p-1)(g + x\ln\bar z) - (px+q)\ln(\gamma + x\bar z)`."""
    return (p - 1.0) * (g + x * xp.log(m)) - (p * x + q) * xp.log(v + x * m)


def loglik_count_terms_grad(x, p, q, v):
    r""":func:`loglik_count_terms` and its gradient in ``(p, q, v)`` (numpy):
    :math:`\partial_p = x(\psi(px+q) - \psi(p))`,
    :math:`\partial_q = \psi(px+q) - \psi(q) + \ln\gamma`, :math:`\partial_\gamma = q/\gamma`."""
    x = np.asarray(x, dtype=float)
    pxq = p * x + q
    values = _sp.gammaln(pxq) - x * _sp.gammaln(p) - _sp.gammaln(q) + q * np.log(v)
    psi = _sp.digamma(pxq)
    grads = np.empty((3,) + np.shape(values))
    grads[0] = x * (psi - _sp.digamma(p))
    grads[1] = psi - _sp.digamma(q) + np.log(v)
    grads[2] = q / v
    return values, grads


def loglik_amount_terms_grad(x, m, g, p, q, v):
    r""":func:`loglik_amount_terms` and its gradient in ``(p, q, v)`` (numpy):
    :math:`\partial_p = g + x\ln\bar z - x\ln(\gamma + x\bar z)`,
    :math:`\partial_q = -\ln(\gamma + x\bar z)`,
    :math:`\partial_\gamma = -(px+q)/(\gamma + x\bar z)`."""
    x = np.asarray(x, dtype=float)
    log_sum_z = g + x * np.log(m)
    v_xm = v + x * m
    log_v_xm = np.log(v_xm)
    values = (p - 1.0) * log_sum_z - (p * x + q) * log_v_xm
    grads = np.empty((3,) + np.shape(values))
    grads[0] = log_sum_z - x * log_v_xm
    grads[1] = -log_v_xm
    grads[2] = -(p * x + q) / v_xm
    return values, grads


def loglik(x, m, g, p, q, v, xp=NUMPY):
    r"""Per-customer log-density of the ``x`` repeat amounts (module docstring):

    .. math::
        \ln L = (p-1)\sum_j\ln z_j - x\ln\Gamma(p) + q\ln\gamma - \ln\Gamma(q)
                + \ln\Gamma(px+q) - (px+q)\ln(\gamma + x\bar z)

    with :math:`\sum_j \ln z_j = g + x\ln\bar z`. Requires ``x > 0``, ``m > 0``.
    """
    return loglik_count_terms(x, p, q, v, xp) + loglik_amount_terms(x, m, g, p, q, v, xp)


@scalar_draws
def random(p, q, v, x, weight=None, rng=None, size=None):
    r"""Simulate ``(monetary_value, log_spend_sum)`` of customers with ``x`` repeat
    amounts: :math:`\nu \sim \mathrm{Gamma}(q, \gamma)` (rate), then ``x`` amounts
    :math:`\sim \mathrm{Gamma}(p, \nu)`; last axis: their mean and the sum of their
    logs, ``(0, 0)`` where ``x = 0`` (the summary's columns)."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, p, q, v, x)
    p, q, v, x = _bcast(shape, p, q, v, x)
    nu = rng.gamma(q, 1.0 / v)
    x_int = np.rint(x).astype(np.int64)
    m = np.zeros(shape)
    s = np.zeros(shape)
    for k in np.unique(x_int[x_int > 0]):
        rows = x_int == k
        z = rng.gamma(p[rows][:, None], 1.0 / nu[rows][:, None], size=(int(rows.sum()), int(k)))
        with np.errstate(divide="ignore"):
            m[rows] = z.mean(axis=1)
            s[rows] = np.log(z).sum(axis=1)
    return np.stack([m, s], axis=-1)


#: The Bayesian engine's view of the model: ``monetary_value`` and ``log_spend_sum``
#: given ``frequency``. A fit hands the log-likelihood the gap (:func:`log_spend_gap`)
#: in the ``log_spend_sum`` place; :func:`random` simulates the summary's own columns,
#: as prior and posterior predictive checks compare them with the summary.
FAMILY = Family("spend", ("monetary_value", "log_spend_sum"), ("frequency",), random)
