"""The ``penalizer=`` of maximum-likelihood fits: lifetimes' ``penalizer_coef``.

A penalised fit minimises

.. math::
    -\\frac{1}{N}\\sum_i w_i \\log L_i(\\theta) + \\lambda \\sum_k \\tilde\\theta_k^2

(``N`` the number of customers, ``lambda`` the ``penalizer``), exactly lifetimes'
definition (``BetaGeoFitter``, ``ModifiedBetaGeoFitter``, ``GammaGammaFitter``:
``-ll.sum() / weights.sum() + penalizer_coef * sum(params ** 2)``). The penalty is
on the parameters themselves, not on their logarithms, so it pulls every
parameter towards 0; ``tilde theta`` are the parameters in lifetimes' units:

* purchase models (BG/NBD, MBG/NBD, Pareto/NBD): durations measured in units
  of the longest customer age ``max(T)`` (lifetimes divides recency and T by
  ``T.max()`` before fitting), so ``alpha`` and ``beta`` enter as
  ``alpha / max(T)``; the penalty does not depend on the time unit.
* Gamma-Gamma: amounts in the summary's own currency units, as lifetimes (a
  penalty on ``v`` in cents is 10,000 times the one in dollars).
* the shifted-beta-geometric model: its parameters have no unit.
* covariate coefficients (:mod:`clvmodels.covariates`): the coefficient
  itself, ``lambda * gamma ** 2`` per customer, as in L2-regularised
  regression (ridge): it pulls each coefficient towards 0, i.e. towards the
  model without that covariate. Its size depends on the covariate's scale
  (a covariate in thousands has a coefficient a thousand times smaller, which
  the penalty barely touches): centre and scale covariates before penalising.

Penalised estimates are not maximum-likelihood estimates: ``log_likelihood_``
is the (unpenalised) log-likelihood at them, the covariance comes from the
Hessian of the penalised objective, and :func:`clvmodels.compare` offers no
likelihood-ratio test for them. lifetimes' ``ParetoNBDFitter`` divides the total
log-likelihood by the *mean* weight instead (a penalty about N times weaker);
clvmodels uses the same per-customer definition for every model.

Bayesian fits refuse a penalizer: their priors play that role.
"""

from __future__ import annotations

import numpy as np

from .mle import L2Penalty

__all__ = ["check_penalizer", "lifetimes_penalty"]


def _coef(model) -> float:
    value = getattr(model, "penalizer", 0.0)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"penalizer must be a number >= 0, got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"penalizer must be a finite number >= 0, got {value!r}.")
    return value


def check_penalizer(model, method: str) -> None:
    """Refuse an invalid ``penalizer`` and any penalizer on a Bayesian fit."""
    coef = _coef(model)
    if coef > 0 and method != "mle":
        raise ValueError(
            f"penalizer={coef:g} applies to maximum-likelihood fits only; "
            f"{type(model).__name__}(method={method!r}) is Bayesian, and its priors play the "
            "role of a penalty: pass penalizer=0 and, to pull the estimates in more, "
            "tighter priors (priors={...}, see clvmodels.priors).")


def lifetimes_penalty(model, data, weights, shift) -> L2Penalty | None:
    """The :class:`~clvmodels.inference.mle.L2Penalty` of ``model.penalizer`` for a fit
    on ``data`` (arrays in the user's units, in ``model.data_columns`` order), or None.

    ``shift`` is what the model adds to its log-parameters (user units) to get the
    optimiser's rescaled ones.
    """
    coef = _coef(model)
    if coef == 0:
        return None
    log_scale = 0.0
    times = [data[list(model.data_columns).index(c)] for c in model.time_columns
             if c in model.data_columns]
    if times:
        longest = float(np.max(times[-1]))  # T
        if longest > 0:
            log_scale = -np.log(longest)
    # log(lifetimes' parameter) = log(user parameter) + time_power * log(1 / max T)
    #                            = theta (optimiser) - shift + time_power * log_scale.
    powers = np.array([p.time_power for p in model.parameters], dtype=float)
    offset = -np.asarray(shift, dtype=float) + powers * log_scale
    positive = model._positive()
    return L2Penalty(coef, offset, float(np.sum(weights)),
                     None if positive.all() else positive)
