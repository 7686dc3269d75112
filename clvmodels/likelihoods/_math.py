"""A small math namespace shared by the numpy and pytensor engines.

Every clvmodels likelihood and prediction formula is written once, against a
namespace ``xp`` offering the functions below. With :data:`NUMPY` the formula
computes numbers (maximum likelihood, predictions); with
:func:`pytensor_namespace` the same formula builds a pytensor graph (exact
gradients for the optimiser, PyMC models), so the two engines cannot drift apart.

Names offered by both namespaces
--------------------------------
``log, exp, log1p, expm1, sqrt, abs, maximum, minimum, where`` (``where(cond, a, b)``),
``gammaln, betaln, digamma, hyp2f1, betainc`` (regularised incomplete beta
:math:`I_x(a, b)`), ``softplus`` (:math:`\\log(1 + e^x)`, stable),
``logaddexp`` (stable for large arguments), ``expit``, ``sum``, ``max``, ``arange``,
``expand_dims``, ``inf``,
``name`` (``"numpy"`` or ``"pytensor"``).
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
from scipy import special as _sp

from ..exceptions import ConvergenceWarning

__all__ = ["NUMPY", "MathNamespace", "hyp2f1_scaled", "pytensor_namespace"]


class MathNamespace(SimpleNamespace):
    """A named bundle of math functions (see the module docstring)."""

    def __repr__(self) -> str:
        return f"MathNamespace({self.name!r})"


def _np_softplus(x):
    # log(1 + e^x) = logaddexp(0, x), exact in both tails.
    return np.logaddexp(0.0, x)


#: Shift of ``a`` around an integer ``c - a - b`` (see :func:`_hyp2f1`).
_INTEGER_GAP_SHIFT = 1e-5


def _hyp2f1(a, b, c, z):
    """``scipy.special.hyp2f1`` for ``0 <= z < 1``, also where ``c - a - b`` is an integer.

    Near ``z = 1`` scipy evaluates through the connection formula, whose
    degenerate (logarithmic) case at integer ``c - a - b`` it gets wrong: for
    example ``hyp2f1(4, 0.05, 4.05, 0.9973)`` returns -0.699 instead of 1.313,
    and ``c - a - b = 1`` can give NaN close to 1. BG/NBD predictions meet this
    case when ``r = a - 1``. There the function is evaluated at ``a +- 1e-5``
    and averaged: the error of the average is of order 1e-10 relative (the
    function is smooth in ``a``), checked against the Euler integral.
    """
    a, b, c, z = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (a, b, c, z)))
    out = np.array(_sp.hyp2f1(a, b, c, z), dtype=float)
    gap = c - a - b
    degenerate = (np.abs(gap - np.round(gap)) < 1e-9) & (z > 0.5)
    if degenerate.any():
        ad, bd, cd, zd = a[degenerate], b[degenerate], c[degenerate], z[degenerate]
        out[degenerate] = 0.5 * (_sp.hyp2f1(ad + _INTEGER_GAP_SHIFT, bd, cd, zd)
                                 + _sp.hyp2f1(ad - _INTEGER_GAP_SHIFT, bd, cd, zd))
    return out


NUMPY = MathNamespace(
    name="numpy",
    log=np.log,
    exp=np.exp,
    log1p=np.log1p,
    expm1=np.expm1,
    sqrt=np.sqrt,
    abs=np.abs,
    maximum=np.maximum,
    minimum=np.minimum,
    where=np.where,
    gammaln=_sp.gammaln,
    betaln=_sp.betaln,
    digamma=_sp.digamma,
    hyp2f1=_hyp2f1,
    betainc=_sp.betainc,
    softplus=_np_softplus,
    logaddexp=np.logaddexp,
    expit=_sp.expit,
    sum=np.sum,
    max=np.max,
    arange=np.arange,
    expand_dims=np.expand_dims,
    inf=np.inf,
)

_PYTENSOR: MathNamespace | None = None


def pytensor_namespace() -> MathNamespace:
    """The same names on ``pytensor.tensor`` (imported on first use).

    ``logaddexp`` is rebuilt from ``softplus`` because ``pytensor``'s own
    ``logaddexp`` is ``log(exp(a) + exp(b))``, which underflows for the
    likelihoods of frequent buyers.
    """
    global _PYTENSOR
    if _PYTENSOR is None:
        import pytensor.tensor as pt
        from pytensor.tensor import special as ps

        def logaddexp(a, b):
            hi = pt.maximum(a, b)
            return hi + pt.softplus(-pt.abs(a - b))

        _PYTENSOR = MathNamespace(
            name="pytensor",
            log=pt.log,
            exp=pt.exp,
            log1p=pt.log1p,
            expm1=pt.expm1,
            sqrt=pt.sqrt,
            abs=pt.abs,
            maximum=pt.maximum,
            minimum=pt.minimum,
            where=pt.switch,
            gammaln=pt.gammaln,
            betaln=ps.betaln,
            digamma=pt.digamma,
            hyp2f1=pt.hyp2f1,
            betainc=pt.betainc,
            softplus=pt.softplus,
            logaddexp=logaddexp,
            expit=pt.sigmoid,
            sum=pt.sum,
            max=pt.max,
            arange=pt.arange,
            expand_dims=pt.expand_dims,
            inf=np.inf,
        )
    return _PYTENSOR


def hyp2f1_scaled(a, b, c, z, power, log1mz=None):
    r""":math:`(1-z)^{power}\,{}_2F_1(a, b; c; z)` for ``0 <= z < 1`` (numpy).

    The prediction formulas of the beta-geometric models multiply a Gauss
    hypergeometric function that can overflow by a power of :math:`1-z` that
    can underflow. The product is evaluated as written; where that is not
    finite, Euler's transformation
    :math:`{}_2F_1(a, b; c; z) = (1-z)^{c-a-b}\,{}_2F_1(c-a, c-b; c; z)`
    (Abramowitz & Stegun 15.3.3) gives a second evaluation. A
    :class:`~clvmodels.exceptions.ConvergenceWarning` is issued if neither is
    finite.

    Parameters
    ----------
    a, b, c, z, power
        Broadcastable arrays.
    log1mz
        :math:`\log(1 - z)` if known more precisely than ``log1p(-z)``.
    """
    a, b, c, z, power = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (a, b, c, z, power))
    )
    if log1mz is None:
        log1mz = np.log1p(-z)
    log1mz = np.broadcast_to(np.asarray(log1mz, dtype=float), z.shape)
    with np.errstate(all="ignore"):
        out = np.exp(power * log1mz) * _hyp2f1(a, b, c, z)
        bad = ~np.isfinite(out)
        if bad.any():
            ab, bb, cb, zb = a[bad], b[bad], c[bad], z[bad]
            alt = np.exp((power[bad] + cb - ab - bb) * log1mz[bad]) * _hyp2f1(
                cb - ab, cb - bb, cb, zb
            )
            out = np.array(out, copy=True)
            out[bad] = alt
            n_bad = int((~np.isfinite(alt)).sum())
            if n_bad:
                warnings.warn(
                    f"The Gauss hypergeometric function is not finite for {n_bad} "
                    "value(s) even after Euler's transformation; those predictions "
                    "are NaN. This happens for extreme parameter values (check the fit).",
                    ConvergenceWarning,
                    stacklevel=3,
                )
    return out
