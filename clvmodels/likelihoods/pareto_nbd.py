r"""Pareto/NBD formulas: log-likelihood, P(alive), expected purchases, purchase PMF.

Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are they and
what will they do next?", *Management Science* 33(1), 1-24 (below: SMC); Fader &
Hardie (2005), "A note on deriving the Pareto/NBD model and related expressions"
(below: FH05; equation numbers as in that note).

Assumptions (SMC section 2): while alive a customer buys as a Poisson process with
rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; the lifetime is exponential
with rate :math:`\mu \sim \mathrm{Gamma}(s, \beta)`; :math:`\lambda` and :math:`\mu`
vary independently across customers. ``alpha`` and ``beta`` are durations in the
time unit of ``t_x`` and ``T``.

How the formulas are computed
-----------------------------
FH05 eq. 18 writes the likelihood of a history ``(x, t_x, T)`` as

.. math::
    L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\Big[
        \frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + \frac{s}{r+s+x}A_0\Big],

with :math:`A_0` a difference of two Gauss hypergeometric functions (FH05 eqs. 19-20,
one form for :math:`\alpha \ge \beta` and one for :math:`\alpha < \beta`). With
:math:`m = r+s+x` and

.. math::
    \Phi(t; p, q) = m\int_t^\infty(\alpha+\tau)^{-p}(\beta+\tau)^{-q}\,d\tau
    \qquad (p + q = m + 1),

:math:`A_0 = \Phi(t_x; r+x, s+1) - \Phi(T; r+x, s+1)` (the integral over the death
time in ``(t_x, T]``). Integrating the first term by parts removes the difference:

.. math::
    L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\Big[
        \frac{r+x}{m}\,\Phi(T; r+x+1, s) + \frac{s}{m}\,\Phi(t_x; r+x, s+1)\Big],

a sum of two positive terms, evaluated with ``logaddexp`` (no cancellation, for any
``t_x <= T``). Substituting :math:`y = ((\max+t)/(\max+\tau))^m` (max/min of
:math:`\alpha, \beta` and :math:`A = \alpha+t`, :math:`B = \beta+t`):

.. math::
    \Phi(t; p, q) = A^{-p} B^{-q} \max(A, B)\;
        I\Big(\frac{|\alpha-\beta|}{\min(A, B)},\, m,\, e\Big),
    \qquad e = q \text{ if } \alpha \ge \beta \text{ else } p,

    I(\kappa, m, e) = {}_2F_1(e, 1; m+1; -\kappa)
        = \mathrm{E}\big[(1+\kappa U)^{-e}\big],\ U \sim \mathrm{Beta}(1, m),

so :math:`0 < I \le 1` for every input (it replaces the hypergeometric terms of
FH05 eqs. 19-20, which overflow for large ``x`` and lose accuracy near argument 1).
:math:`I` is computed

* for :math:`\kappa \le 16` by its Pfaff-transformed series (Abramowitz & Stegun
  15.3.4) :math:`I = (1+\kappa)^{-1}\sum_n \frac{(m+1-e)_n}{(m+1)_n}\zeta^n`,
  :math:`\zeta = \kappa/(1+\kappa) \le 16/17`: positive terms, each smaller than
  :math:`\zeta^n`, truncated when the tail is below :math:`10^{-16}` of the sum
  (a dozen terms for typical data, at most 704);
* for :math:`\kappa > 16` (parameters with :math:`\max(\alpha,\beta) > 17\min(\alpha,\beta)`
  and customers with small ``t``) by quadrature of Euler's integral (A&S 15.3.1)
  after :math:`u = 1 - e^{-w/m}`:
  :math:`I = \int_0^\infty e^{-w}\,(1 + \kappa(1 - e^{-w/m}))^{-e}\,dw`, with
  Gauss-Legendre on ``[0, w1]`` (``w1`` the first scale of the integrand),
  Gauss-Legendre panels in ``log w`` on ``[w1, 1]`` and Gauss-Laguerre on
  ``[1, inf)``; relative error below 1e-10 for :math:`\kappa \le 10^4`, finite
  beyond.

Both engines share this implementation: with numpy it is called directly; with
pytensor it is an Op (:func:`log_hyp_integral`) whose ``perform`` is the same numpy
code and whose gradient is the exact partial derivatives computed alongside
(forward-mode differentiation through the series, the differentiated integrand on
the quadrature nodes). The rest of the likelihood is written once against the math
namespace ``xp``. No ``hyp2f1`` call is made.

The prediction formulas (numpy, broadcasting, so they accept arrays of parameter
draws) use the same :math:`\Phi`: P(alive) is FH05 section 5
(:math:`(\alpha+T)^{-(r+x)}(\beta+T)^{-s}` over the bracket above), conditional
expected purchases FH05 eq. 41, unconditional expected purchases FH05 eq. 27, the
purchase PMF Fader & Hardie's "Deriving an expression for P(X(t) = x) under the
Pareto/NBD model" (note 012) as alive-part plus an integral over the death time,
the conditional PMF their "Deriving the conditional PMF of the Pareto/NBD model"
(note 028).
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
    "expected_purchases",
    "expected_purchases_new_customer",
    "log_hyp_integral",
    "loglik",
    "loglik_count_terms",
    "loglik_timing_terms",
    "probability_alive",
    "probability_no_purchase",
    "probability_of_purchases",
    "random",
]

# ----------------------------------------------------------------------------
# I(kappa, m, e) = 2F1(e, 1; m + 1; -kappa)
# ----------------------------------------------------------------------------

#: Largest kappa evaluated by the series (zeta = kappa / (1 + kappa) <= 16/17). A
#: term costs about 0.2 us per row and a quadrature about 10 us per row, so the
#: series is cheaper up to several hundred terms.
_KAPPA_SERIES = 16.0
#: Numbers of series terms used; rows are grouped by the terms they need,
#: ceil((37 + ln(1/(1-zeta))) / -ln(zeta)) (657 at zeta = 16/17).
_SERIES_BINS = (6, 12, 24, 48, 96, 192, 384, 704)

# Quadrature nodes of the kappa > 16 branch (see the module docstring).
_HEAD_X, _HEAD_W = _sp.roots_legendre(10)
_MID_PANELS = 5
_MID_X, _MID_W = _sp.roots_legendre(12)
_TAIL_X, _TAIL_W = _sp.roots_laguerre(40)


def _mid_nodes():
    """Panel-relative nodes in [0, 1] and weights for ``_MID_PANELS`` panels."""
    base = (_MID_X + 1.0) / 2.0
    nodes = np.concatenate([(p + base) / _MID_PANELS for p in range(_MID_PANELS)])
    weights = np.tile(_MID_W / 2.0 / _MID_PANELS, _MID_PANELS)
    return nodes, weights


_MID_U, _MID_WU = _mid_nodes()


def _series_sum(zeta, c, d, n_terms, grad):
    """The Pfaff series summed over ``n_terms`` terms (in place, no allocation per
    term) and, with ``grad``, the sums giving its partial derivatives.

    Returns ``total``, ``s_zeta = sum_n n t_n / zeta``, ``s_c = sum_n t_n C_n`` and
    ``s_d = sum_n t_n D_n`` with :math:`C_n = \\sum_{k<n} 1/(c+k)` and
    :math:`D_n = \\sum_{k<n} 1/(d+k)`, since :math:`\\partial\\ln t_n/\\partial e = -C_n`
    and :math:`\\partial\\ln t_n/\\partial m = C_n - D_n`. The products
    :math:`t_n C_n = \\partial t_n/\\partial c` follow their own recurrence: at ``c = 0``
    (``e = m + 1``) :math:`t_n = 0` and :math:`C_n = \\infty` for ``n >= 1``, their
    product is finite.
    """
    term = np.ones_like(zeta)
    total = np.ones_like(zeta)
    cn = np.empty_like(zeta)
    dn = np.empty_like(zeta)
    if not grad:
        for n in range(n_terms):
            np.add(d, n, out=dn)
            np.add(c, n, out=cn)
            cn /= dn
            term *= cn
            term *= zeta
            total += term
        return total, None, None, None
    s_zeta, s_c, s_d = np.zeros_like(zeta), np.zeros_like(zeta), np.zeros_like(zeta)
    term_c, d_sum = np.zeros_like(zeta), np.zeros_like(zeta)
    tmp = np.empty_like(zeta)
    for n in range(n_terms):
        np.add(d, n, out=dn)
        np.add(c, n, out=cn)
        term_c *= cn       # dt_{n+1}/dc = (dt_n/dc (c+n) + t_n) zeta / (d+n)
        term_c += term
        term_c *= zeta
        term_c /= dn
        s_c += term_c
        term *= cn         # t_{n+1} = t_n (c+n)/(d+n) zeta
        term /= dn
        np.multiply(term, n + 1.0, out=tmp)
        s_zeta += tmp      # (n+1) t_{n+1} / zeta
        term *= zeta
        total += term
        np.reciprocal(dn, out=dn)
        d_sum += dn
        np.multiply(term, d_sum, out=tmp)
        s_d += tmp
    return total, s_zeta, s_c, s_d


def _zeta_cuts():
    """Largest zeta served by each entry of ``_SERIES_BINS`` (tail below 1e-16)."""
    def need(z):
        return (37.0 - np.log1p(-z)) / -np.log(z)
    cuts = []
    for cap in _SERIES_BINS:
        lo, hi = 1e-300, 1.0 - 1e-12
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if need(mid) <= cap else (lo, mid)
        cuts.append(lo)
    return np.array(cuts)


_ZETA_CUTS = _zeta_cuts()


def _series(kappa, m, e, grad):
    r"""log I by the Pfaff series (0 <= kappa <= 16), and optionally its partials.

    :math:`I = (1+\kappa)^{-1}\sum_n t_n` with :math:`t_{n+1} = t_n\rho_n\zeta`,
    :math:`\rho_n = (c+n)/(d+n)`, ``c = m + 1 - e``, ``d = m + 1``; the
    derivatives are carried along the terms (forward-mode differentiation). Rows
    are grouped by the number of terms they need (the neglected tail, below
    :math:`\zeta^{N+1}/(1-\zeta)`, under :math:`10^{-16}` of the sum), so that small
    :math:`\kappa` costs few terms.
    """
    zeta = kappa / (1.0 + kappa)
    c = m + 1.0 - e
    d = m + 1.0
    group = np.searchsorted(_ZETA_CUTS, np.abs(zeta)).astype(np.int8)
    order = np.argsort(group, kind="stable")
    counts = np.bincount(group, minlength=len(_SERIES_BINS))
    z_s, c_s, d_s = zeta[order], c[order], d[order]
    sums = [np.empty_like(zeta) for _ in range(4 if grad else 1)]
    start = 0
    for cap, count in zip(_SERIES_BINS, counts):
        if count:
            sl = slice(start, start + count)
            out = _series_sum(z_s[sl], c_s[sl], d_s[sl], cap, grad)
            for target, value in zip(sums, out):
                target[sl] = value
            start += count
    total = np.empty_like(zeta)
    total[order] = sums[0]
    log_i = np.log(total) - np.log1p(kappa)
    if not grad:
        return log_i
    s_zeta, s_c, s_d = (np.empty_like(zeta) for _ in range(3))
    s_zeta[order], s_c[order], s_d[order] = sums[1], sums[2], sums[3]
    d_kappa = s_zeta / total / (1.0 + kappa) ** 2 - 1.0 / (1.0 + kappa)
    return log_i, d_kappa, (s_c - s_d) / total, -s_c / total


def _quadrature(kappa, m, e, grad):
    """log I by quadrature (kappa > 1), and optionally its partials.

    The partials are quadratures of the differentiated integrand on the same nodes.
    Arrays of one shape; nodes on a new last axis.
    """
    k, mm, ee = kappa[..., None], m[..., None], e[..., None]
    # First scale of the integrand: e^{-w (1 + e kappa / m)} near 0, and the distance
    # to its singularity at w = -m log(1 + 1/kappa).
    w1 = np.minimum(1.0 / (1.0 + e * kappa / m), m * np.log1p(1.0 / kappa))[..., None]
    log_w1 = np.log(w1)
    # Tail: Gauss-Laguerre after w = 1 + y / rho, rho the decay rate at w = 1.
    rho = 1.0 + e * kappa * np.exp(-1.0 / m) / (m * (1.0 - kappa * np.expm1(-1.0 / m)))
    log_rho = np.log(rho)[..., None]
    rows = w1.shape[:-1]
    nodes = np.concatenate([
        (_HEAD_X + 1.0) / 2.0 * w1,
        np.exp(log_w1 * (1.0 - _MID_U)),
        1.0 + _TAIL_X / rho[..., None],
    ], axis=-1)
    log_weights = np.concatenate([
        np.broadcast_to(np.log(_HEAD_W / 2.0) + log_w1, rows + _HEAD_X.shape),
        np.log(_MID_WU) + np.log(-log_w1) + log_w1 * (1.0 - _MID_U),
        np.broadcast_to(np.log(_TAIL_W) + _TAIL_X - log_rho, rows + _TAIL_X.shape),
    ], axis=-1)
    u = -np.expm1(-nodes / mm)
    log1p_ku = np.log1p(k * u)
    f = np.exp(log_weights - nodes - ee * log1p_ku)
    total = np.sum(f, axis=-1)
    log_i = np.log(total)
    if not grad:
        return log_i
    inv = 1.0 / (1.0 + k * u)
    d_kappa = np.sum(f * (-ee * u * inv), axis=-1) / total
    du_dm = -(nodes / mm**2) * (1.0 - u)
    d_m = np.sum(f * (-ee * k * inv * du_dm), axis=-1) / total
    d_e = np.sum(f * (-log1p_ku), axis=-1) / total
    return log_i, d_kappa, d_m, d_e


def _distinct(kappa, m, e):
    """Codes of the distinct ``(kappa, m, e)`` rows and the index of one row per code.

    Summaries repeat these triples a lot (all customers with the same frequency
    and age share the ``T`` term), so the work is done once per distinct triple.
    Each column is factorised (hashing, linear time), the codes are combined into
    one integer key and the keys are compacted with a lookup table. Returns
    ``None`` when the rows are mostly distinct.
    """
    import pandas as pd

    n = kappa.size
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for col in (kappa, m, e):
        codes, uniques = pd.factorize(col, sort=False)
        if size * len(uniques) > 8 * n + 1024:  # keep the key dense: compact it first
            key, first_keys = pd.factorize(key, sort=False)
            size = len(first_keys)
        key = key * len(uniques) + codes
        size *= len(uniques)
    if size > 8 * n + 1024:
        key, uniques = pd.factorize(key, sort=False)
        size = len(uniques)
    first = np.full(size, -1, dtype=np.intp)
    first[key[::-1]] = np.arange(n - 1, -1, -1)
    present = first >= 0
    n_unique = int(present.sum())
    if n_unique > 0.7 * n:
        return None
    compact = np.cumsum(present) - 1
    return compact[key], first[present]


def _log_I_numpy(kappa, m, e, grad=False):
    """log I (and partials) for numpy arrays: series, quadrature where kappa > 16,
    once per distinct (kappa, m, e)."""
    kappa, m, e = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (kappa, m, e)))
    shape = kappa.shape
    kappa, m, e = (np.ravel(v) for v in (kappa, m, e))
    expand = None
    if kappa.size >= 1024:
        found = _distinct(kappa, m, e)
        if found is not None:
            expand, first = found
            kappa, m, e = kappa[first], m[first], e[first]
    with np.errstate(all="ignore"):
        far = kappa > _KAPPA_SERIES
        outs = _series(np.where(far, 0.0, kappa), m, e, grad)
        outs = [np.asarray(o, dtype=float) for o in (outs if grad else (outs,))]
        if np.any(far):
            idx = np.flatnonzero(far)
            step = 4096  # bounded memory: rows x nodes per chunk
            for i in range(0, idx.size, step):
                sub = idx[i:i + step]
                vals = _quadrature(kappa[sub], m[sub], e[sub], grad)
                for o, v in zip(outs, vals if grad else (vals,)):
                    o[sub] = v
    if expand is not None:
        outs = [o[expand] for o in outs]
    outs = [o.reshape(shape) for o in outs]
    if shape == ():
        outs = [o[()] for o in outs]
    return tuple(outs) if grad else outs[0]


def _make_op_class():
    """Build the pytensor Op class (pytensor is imported on first use only)."""
    import pytensor.tensor as pt
    from pytensor.gradient import DisconnectedType, grad_not_implemented
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class LogHypIntegral(Op):
        """``(kappa, m, e) -> (log I, d log I/d kappa, d/d m, d/d e)`` (clvmodels).

        ``perform`` is :func:`_log_I_numpy`, so the numpy and pytensor engines share
        one implementation; the gradient uses the partials computed alongside
        (first derivatives only: enough for the optimiser, whose Hessian is a
        difference of gradients, and for NUTS). Inputs must have one shape.
        """

        __props__ = ()

        def make_node(self, kappa, m, e):
            inputs = [pt.as_tensor_variable(v) for v in (kappa, m, e)]
            if any(v.type.dtype != "float64" for v in inputs):
                raise TypeError("LogHypIntegral takes float64 inputs.")
            return Apply(self, inputs, [inputs[0].type() for _ in range(4)])

        def perform(self, node, inputs, output_storage):
            vals = _log_I_numpy(*inputs, grad=True)
            for storage, v in zip(output_storage, vals):
                storage[0] = np.asarray(v, dtype="float64")

        def infer_shape(self, fgraph, node, shapes):
            return [shapes[0]] * 4

        def L_op(self, inputs, outputs, output_grads):
            g = output_grads[0]
            for other in output_grads[1:]:
                if not isinstance(other.type, DisconnectedType):
                    return [grad_not_implemented(self, i, inp, "second derivatives of log I")
                            for i, inp in enumerate(inputs)]
            if isinstance(g.type, DisconnectedType):
                return [pt.zeros_like(inp) for inp in inputs]
            return [g * outputs[1], g * outputs[2], g * outputs[3]]

    LogHypIntegral.__module__ = __name__
    LogHypIntegral.__qualname__ = "LogHypIntegral"
    return LogHypIntegral


_OP_CLASS = None


def __getattr__(name):
    # The Op class is created on first use (module-level name, so that graphs
    # holding it can be pickled, e.g. by PyMC's multiprocess sampler).
    global _OP_CLASS
    if name == "LogHypIntegral":
        if _OP_CLASS is None:
            _OP_CLASS = _make_op_class()
        return _OP_CLASS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def log_hyp_integral(kappa, m, e, xp=NUMPY):
    r""":math:`\log {}_2F_1(e, 1; m+1; -\kappa)`, the core of every Pareto/NBD formula.

    :math:`I(\kappa, m, e) = {}_2F_1(e, 1; m+1; -\kappa) = m\int_0^1(1-u)^{m-1}
    (1+\kappa u)^{-e}du` (Euler's integral, A&S 15.3.1) lies in ``(0, 1]``. Series
    for :math:`\kappa \le 16`, quadrature beyond (module docstring).

    With the pytensor namespace this is a pytensor Op whose ``perform`` is the same
    numpy code and whose gradient is the exact partial derivatives computed
    alongside (forward mode through the series; the differentiated integrand on
    the quadrature nodes). An unrolled series would be a graph of hundreds of
    nodes that pytensor takes minutes to compile.

    Parameters
    ----------
    kappa
        :math:`\kappa \ge 0` (tiny negative values, as produced at
        :math:`\alpha = \beta`, are fine).
    m, e
        :math:`m > 0`, :math:`0 < e \le m + 1`.
    xp
        Math namespace (numpy or pytensor).

    Examples
    --------
    >>> round(float(log_hyp_integral(0.0, 2.0, 1.5)), 12)
    0.0
    """
    if getattr(xp, "name", "numpy") != "pytensor":
        return _log_I_numpy(kappa, m, e)
    import pytensor.tensor as pt

    args = pt.broadcast_arrays(*(pt.as_tensor_variable(v).astype("float64")
                                 for v in (kappa, m, e)))
    return __getattr__("LogHypIntegral")()(*args)[0]


# ----------------------------------------------------------------------------
# Likelihood
# ----------------------------------------------------------------------------

def _log_phi(t, p, q, m, alpha, beta, xp):
    r"""log Phi(t; p, q) (module docstring), with p + q = m + 1."""
    A = alpha + t
    B = beta + t
    ge = alpha >= beta
    # Signed kappa on each branch: at alpha == beta both forms agree, and keeping
    # the sign (not |alpha - beta|) keeps the pytensor gradient exact there.
    kappa = xp.where(ge, (alpha - beta) / B, (beta - alpha) / A)
    e = xp.where(ge, q, p)
    log_a, log_b = xp.log(A), xp.log(B)
    log_max = xp.where(ge, log_a, log_b)
    return -p * log_a - q * log_b + log_max + log_hyp_integral(kappa, m, e, xp)


def loglik_count_terms(x, r, alpha, s, beta, xp=NUMPY):
    r"""Terms of the log-likelihood that depend on ``x`` only (FH05 eq. 18):
    :math:`\ln\Gamma(r+x) - \ln\Gamma(r) + r\ln\alpha + s\ln\beta`."""
    return xp.gammaln(r + x) - xp.gammaln(r) + r * xp.log(alpha) + s * xp.log(beta)


def loglik_timing_terms(x, t_x, T, r, alpha, s, beta, xp=NUMPY):
    r"""log of the bracket of FH05 eq. 18, rewritten as two positive terms.

    .. math::
        \log\Big[\frac{r+x}{m}\Phi(T; r+x+1, s) + \frac{s}{m}\Phi(t_x; r+x, s+1)\Big],
        \quad m = r + s + x

    (module docstring for :math:`\Phi` and the derivation).
    """
    a = r + x
    m = r + s + x
    alive = xp.log(a) - xp.log(m) + _log_phi(T, a + 1.0, s, m, alpha, beta, xp)
    died = xp.log(s) - xp.log(m) + _log_phi(t_x, a, s + 1.0, m, alpha, beta, xp)
    return xp.logaddexp(alive, died)


def loglik(x, t_x, T, r, alpha, s, beta, xp=NUMPY):
    r"""Per-customer Pareto/NBD log-likelihood, FH05 eq. 18.

    .. math::
        L = \frac{\Gamma(r+x)\alpha^r\beta^s}{\Gamma(r)}\Big[
            \frac{1}{(\alpha+T)^{r+x}(\beta+T)^s} + \frac{s}{r+s+x}A_0\Big]

    evaluated in the cancellation-free form of the module docstring: no ``hyp2f1``,
    no branching on data values (works on pytensor graphs, differentiable).

    Parameters
    ----------
    x, t_x, T
        Frequency, recency and age (arrays or scalars, one time unit).
    r, alpha, s, beta
        Model parameters (``alpha``, ``beta`` in the time unit of ``t_x``, ``T``).
    xp
        Math namespace: :data:`~clvmodels.likelihoods._math.NUMPY` or
        :func:`~clvmodels.likelihoods._math.pytensor_namespace`.

    Returns
    -------
    The log-likelihood of each customer.

    Examples
    --------
    >>> round(float(loglik(2, 30.43, 38.86, 0.55, 10.58, 0.61, 11.67)), 6)
    -9.561981
    """
    return loglik_count_terms(x, r, alpha, s, beta, xp) + loglik_timing_terms(
        x, t_x, T, r, alpha, s, beta, xp
    )


# ----------------------------------------------------------------------------
# Predictions (numpy, broadcasting)
# ----------------------------------------------------------------------------

def _f(v):
    return np.asarray(v, dtype=float)


def _log_alive_kernel(x, T, r, alpha, s, beta):
    """log[(alpha+T)^{-(r+x)} (beta+T)^{-s}]."""
    return -(r + x) * np.log(alpha + T) - s * np.log(beta + T)


def probability_alive(x, t_x, T, r, alpha, s, beta):
    r"""P(alive at T | x, t_x, T): FH05 section 5 (SMC's P(Alive)).

    .. math::
        P = \frac{(\alpha+T)^{-(r+x)}(\beta+T)^{-s}}
                 {(\alpha+T)^{-(r+x)}(\beta+T)^{-s} + \frac{s}{r+s+x}A_0}

    with the denominator in the form of :func:`loglik_timing_terms`. Equal to 1
    when ``t_x == T``.
    """
    x, t_x, T = _f(x), _f(t_x), _f(T)
    with np.errstate(all="ignore"):
        log_p = _log_alive_kernel(x, T, r, alpha, s, beta) - loglik_timing_terms(
            x, t_x, T, r, alpha, s, beta)
        return np.minimum(np.exp(log_p), 1.0)


def probability_alive_at(t, x, t_x, T, r, alpha, s, beta):
    r"""P(alive at T + t | x, t_x, T), ``t >= 0``. Given alive at T the dropout
    rate is :math:`\mu \sim \mathrm{Gamma}(s, eta+T)`, and an exponential
    lifetime survives t more with probability :math:`e^{-\mu t}`:

    .. math::
        P = P(	ext{alive at } T)\Big(rac{eta+T}{eta+T+t}\Big)^{s}
    """
    t, T = _f(t), _f(T)
    with np.errstate(all="ignore"):
        later = np.exp(-s * np.log1p(t / (beta + T)))
    return probability_alive(x, t_x, T, r, alpha, s, beta) * later


def _log_growth(s, y):
    r"""log of :math:`g = (1 - e^{-(s-1)y})/(s-1)` for ``y >= 0`` (``g = y`` at ``s = 1``).

    :math:`g = \mathrm{expm1}(z)/(1-s)` with :math:`z = (1-s)y`: both factors are
    accurate near ``s = 1`` and the result is monotone in ``y``; for large positive
    ``z`` (``s < 1``, long horizons) its logarithm is used.
    """
    s, y = np.broadcast_arrays(np.asarray(s, dtype=float), np.asarray(y, dtype=float))
    one_minus_s = 1.0 - s
    z = one_minus_s * y
    big = z > 30.0
    safe = np.where(one_minus_s == 0.0, 1.0, one_minus_s)
    direct = np.log(np.expm1(np.where(big, 0.0, z)) / safe)
    large = z + np.log1p(-np.exp(-np.where(big, z, 30.0))) - np.log(np.abs(safe))
    return np.where(one_minus_s == 0.0, np.log(y), np.where(big, large, direct))


def expected_purchases(t, r, alpha, s, beta):
    r"""E[X(t)] for a new customer (unconditional): FH05 eq. 27.

    .. math::
        E[X(t)] = \frac{r\beta}{\alpha(s-1)}\Big[1 - \Big(\frac{\beta}{\beta+t}\Big)^{s-1}\Big]

    written as :math:`\frac{r\beta}{\alpha}\,g(s, \ln(1 + t/\beta))` with
    :math:`g(s, y) = (1 - e^{-(s-1)y})/(s-1) = \mathrm{expm1}((1-s)y)/(1-s)`, so that
    ``s = 1`` (where the published form is 0/0) gives the limit
    :math:`\frac{r\beta}{\alpha}\ln(1 + t/\beta)`.
    """
    t = _f(t)
    with np.errstate(all="ignore"):
        y = np.log1p(t / beta)
        out = np.exp(np.log(r) - np.log(alpha) + np.log(beta) + _log_growth(s, y))
        return np.where(t > 0, out, 0.0)


def expected_purchases_new_customer(t, r, alpha, s, beta):
    """Alias of :func:`expected_purchases` (unconditional E[X(t)], FH05 eq. 27)."""
    return expected_purchases(t, r, alpha, s, beta)


def conditional_expected_purchases(t, x, t_x, T, r, alpha, s, beta):
    r"""E[X(T, T+t) | x, t_x, T]: FH05 eq. 41.

    .. math::
        E = P_{alive}\,\frac{(r+x)(\beta+T)}{(\alpha+T)(s-1)}
            \Big[1 - \Big(\frac{\beta+T}{\beta+T+t}\Big)^{s-1}\Big]

    (a customer alive at ``T`` is a new customer with parameters
    ``(r+x, alpha+T, s, beta+T)``); ``s = 1`` is handled as in
    :func:`expected_purchases`.
    """
    p_alive = probability_alive(x, t_x, T, r, alpha, s, beta)
    return p_alive * expected_purchases(t, r + _f(x), alpha + _f(T), s, beta + _f(T))


def _log_finite_integral(t0, t1, p, q, alpha, beta):
    r"""log of :math:`\int_{t_0}^{t_1}(\alpha+\tau)^{-p}(\beta+\tau)^{-q}d\tau`, t0 <= t1.

    A difference of :math:`\Phi` values for long intervals; Gauss-Legendre on short
    ones, where the integrand changes by less than a factor :math:`e^{1/2}` and the
    difference would cancel.
    """
    m = p + q - 1.0
    with np.errstate(all="ignore"):
        hi = _log_phi(t0, p, q, m, alpha, beta, NUMPY)
        lo = _log_phi(t1, p, q, m, alpha, beta, NUMPY)
        diff = hi + np.log(-np.expm1(lo - hi)) - np.log(m)
        length = t1 - t0
        near = np.minimum(alpha, beta) + t0
        x, w = _HEAD_X, _HEAD_W
        tau = t0[..., None] + (x + 1.0) / 2.0 * length[..., None]
        vals = np.exp(-p[..., None] * np.log(alpha[..., None] + tau)
                      - q[..., None] * np.log(beta[..., None] + tau))
        gl = np.log(length / 2.0 * np.sum(w * vals, axis=-1))
        # GL where the integrand changes by less than e^{0.5} over the interval.
        return np.where(length * (p + q) <= 0.5 * near, gl, diff)


def _probability_zero(t, r, alpha, s, beta):
    r"""P(X(t) = 0) for a new customer (note 012 with ``x = 0``).

    :math:`(\frac{\alpha}{\alpha+t})^r(\frac{\beta}{\beta+t})^s + s\,\alpha^r\beta^s
    \int_0^t(\alpha+\tau)^{-r}(\beta+\tau)^{-(s+1)}d\tau` (alive without purchase,
    or dead before a first purchase).
    """
    t, r, alpha, s, beta = np.broadcast_arrays(*(_f(v) for v in (t, r, alpha, s, beta)))
    with np.errstate(all="ignore"):
        log_ab = r * np.log(alpha) + s * np.log(beta)
        alive = log_ab - r * np.log(alpha + t) - s * np.log(beta + t)
        dead = np.log(s) + log_ab + _log_finite_integral(
            np.zeros_like(t), t, r, s + 1.0, alpha, beta)
        out = np.exp(np.logaddexp(alive, np.where(t > 0, dead, -np.inf)))
        return np.minimum(out, 1.0)


# Tanh-sinh nodes on (0, 1) for the death-time integral of the PMF.
_DE_H = 1.0 / 24.0
_DE_T = np.arange(-4.0, 4.0 + _DE_H / 2, _DE_H)
_DE_SINH = np.pi / 2.0 * np.sinh(_DE_T)
_DE_U = 0.5 * (1.0 + np.tanh(_DE_SINH))               # nodes in (0, 1)
_DE_LOG_U = -np.logaddexp(0.0, -2.0 * _DE_SINH)        # log u, accurate near 0
_DE_LOG_1MU = -np.logaddexp(0.0, 2.0 * _DE_SINH)       # log(1 - u), accurate near 1
_DE_LOG_W = (np.log(_DE_H) + np.log(np.pi / 2.0) + np.log(np.cosh(_DE_T))
             + _DE_LOG_U + _DE_LOG_1MU + np.log(2.0))   # log of du/dt * h


def probability_of_purchases(n, t, r, alpha, s, beta):
    r"""P(X(t) = n) for a new customer: Fader & Hardie, note 012.

    .. math::
        P(X(t)=n) = \mathrm{NB}\Big(n; r, \frac{\alpha}{\alpha+t}\Big)
            \Big(\frac{\beta}{\beta+t}\Big)^s
          + \int_0^t \mathrm{NB}\Big(n; r, \frac{\alpha}{\alpha+\tau}\Big)
            \frac{s\beta^s}{(\beta+\tau)^{s+1}}d\tau

    (alive at ``t`` with ``n`` purchases, or dead at :math:`\tau < t` after ``n``).
    With :math:`y = \tau/(\alpha+\tau)` the integral is
    :math:`\frac{\Gamma(r+n)}{\Gamma(r)n!}\frac{s\alpha}{\beta}\int_0^{y_t}
    y^n(1-y)^{r+s-1}(1+\frac{\alpha-\beta}{\beta}y)^{-(s+1)}dy`, computed by
    tanh-sinh quadrature in log space (the note's finite sum of hypergeometric
    terms alternates in sign and cancels for large ``n``); for ``n = 0`` the
    integral is :math:`s\alpha^r\beta^s\int_0^t(\alpha+\tau)^{-r}(\beta+\tau)^{-(s+1)}d\tau`,
    a difference of :math:`\Phi` values (Gauss-Legendre for short horizons).
    """
    n, t, r, alpha, s, beta = np.broadcast_arrays(*(_f(v) for v in (n, t, r, alpha, s, beta)))
    shape = n.shape
    n, t, r, alpha, s, beta = (np.ravel(v) for v in (n, t, r, alpha, s, beta))
    with np.errstate(all="ignore"):
        log_coef = _sp.gammaln(r + n) - _sp.gammaln(r) - _sp.gammaln(n + 1.0)
        log_pt = np.log(alpha) - np.log(alpha + t)           # log alpha/(alpha+t)
        log_qt = np.log(t) - np.log(alpha + t)               # log t/(alpha+t) = log y_t
        alive = (log_coef + r * log_pt + np.where(n > 0, n * log_qt, 0.0)
                 + s * (np.log(beta) - np.log(beta + t)))
        out = np.where(n == 0, _probability_zero(t, r, alpha, s, beta), np.exp(alive))
        rows = np.flatnonzero((n > 0) & (t > 0))
        for i in range(0, rows.size, 8192):  # bounded memory: rows x nodes per chunk
            k = rows[i:i + 8192]
            out[k] = np.exp(np.logaddexp(alive[k], _log_death_integral(
                n[k], log_coef[k], log_pt[k], t[k], r[k], alpha[k], s[k], beta[k])))
        out = np.where(t > 0, out, (n == 0).astype(float))
    return out.reshape(shape)[()] if shape == () else out.reshape(shape)


def _log_death_integral(n, log_coef, log_pt, t, r, alpha, s, beta):
    """log of the death-time term of :func:`probability_of_purchases` (1-D arrays)."""
    yt = (t / (alpha + t))[:, None]
    log_yt = np.log(yt)
    log_y = log_yt + _DE_LOG_U
    # log(1 - y) = log((1 - y_t) + y_t (1 - u)), exact near y = 1.
    log_1my = np.logaddexp(log_pt[:, None], log_yt + _DE_LOG_1MU)
    kp = ((alpha - beta) / beta)[:, None]
    log_terms = (n[:, None] * log_y + (r + s - 1.0)[:, None] * log_1my
                 - (s + 1.0)[:, None] * np.log1p(kp * yt * _DE_U) + _DE_LOG_W + log_yt)
    top = np.max(log_terms, axis=-1, keepdims=True)
    log_int = top[:, 0] + np.log(np.sum(np.exp(log_terms - top), axis=-1))
    return log_coef + np.log(s) + np.log(alpha) - np.log(beta) + log_int


def probability_no_purchase(t, x, t_x, T, r, alpha, s, beta):
    r"""P(no purchase in (T, T+t] | x, t_x, T).

    A customer dead at ``T`` buys nothing; one alive at ``T`` is a new customer with
    parameters ``(r+x, alpha+T, s, beta+T)`` (the factorisation behind FH05 eq. 41):

    .. math::
        P = 1 - P_{alive} + P_{alive}\,P(X'(t) = 0),

    :math:`P(X'(t)=0)` from note 012 with ``x = 0``:
    :math:`(\frac{\alpha'}{\alpha'+t})^{r'}(\frac{\beta'}{\beta'+t})^s + s\alpha'^{r'}\beta'^s
    \int_0^t(\alpha'+\tau)^{-r'}(\beta'+\tau)^{-(s+1)}d\tau`.
    """
    return conditional_probability_of_purchases(0, t, x, t_x, T, r, alpha, s, beta)


def conditional_probability_of_purchases(n, t, x, t_x, T, r, alpha, s, beta):
    r"""P(X(T, T+t) = n | x, t_x, T): Fader & Hardie, note 028.

    A customer alive at ``T`` has the posterior rates of a new customer with
    parameters ``(r+x, alpha+T, s, beta+T)``:

    .. math::
        P = (1 - P_{alive})\,\delta_{n=0}
            + P_{alive}\,P(X(t) = n;\ r+x, \alpha+T, s, \beta+T)

    with :func:`probability_alive` and :func:`probability_of_purchases`.
    """
    x, t_x, T, n = _f(x), _f(t_x), _f(T), _f(n)
    p_alive = probability_alive(x, t_x, T, r, alpha, s, beta)
    alive = probability_of_purchases(n, t, r + x, alpha + T, s, beta + T)
    return p_alive * alive + np.where(n == 0, 1.0 - p_alive, 0.0)


@scalar_draws
def random(r, alpha, s, beta, T, weight=None, rng=None, size=None):
    r"""Simulate ``(frequency, recency)`` of Pareto/NBD customers (Schmittlein,
    Morrison & Colombo 1987): :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`,
    lifetime :math:`\tau \sim \mathrm{Exp}(\mu)`, :math:`\mu \sim
    \mathrm{Gamma}(s, \beta)`; ``x ~ Poisson(lambda min(tau, T))``, the last purchase
    the largest of ``x`` uniform times on ``(0, min(tau, T))``."""
    rng = np.random.default_rng(rng)
    shape = _shape(size, r, alpha, s, beta, T)
    r, alpha, s, beta, T = _bcast(shape, r, alpha, s, beta, T)
    lam = rng.gamma(r, 1.0 / alpha)
    mu = rng.gamma(s, 1.0 / beta)
    with np.errstate(divide="ignore", over="ignore"):
        window = np.minimum(rng.exponential(1.0, shape) / mu, T)
    x = rng.poisson(np.minimum(lam * window, 1e12))
    t_x = np.zeros(shape)
    has = x > 0
    t_x[has] = window[has] * rng.beta(x[has], 1.0)
    return np.stack([x.astype(float), t_x], axis=-1)


#: The Bayesian engine's view of the model: ``(frequency, recency)`` given ``T``; the
#: likelihood uses a numpy Op (hypergeometric function), so it has no JAX form.
FAMILY = Family("purchases", ("frequency", "recency"), ("T",), random, jax=False)
