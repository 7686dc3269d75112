r"""Discounted expected residual transactions (DERT) and the remaining lifetime.

DERT is the present value of a customer's expected future purchases over their
whole remaining lifetime (Fader, Hardie & Lee 2005, "RFM and CLV: using
iso-value curves for customer base analysis", *Journal of Marketing Research*
42(4), 415-430; below FHL). ``margin * expected spend * DERT`` is the
customer's remaining lifetime value, what
:func:`clvmodels.customer_lifetime_value` returns with ``horizon=None``.

Two discounting conventions, both from an annual (or any period's) rate ``d``:

* **steps** (``time_unit="M"`` etc., the convention of
  :func:`~clvmodels.customer_lifetime_value`): the purchases of step ``k`` (of
  length :math:`\Delta`) are discounted at the end of the step,

  .. math::
      \mathrm{DERT} = \sum_{k \ge 1} q^k\,\big(E(k\Delta) - E((k-1)\Delta)\big)
                    = (1 - q)\sum_{k \ge 1} q^k E(k\Delta),
      \qquad q = (1 + d)^{-\Delta / P},

  with :math:`E(t)` the customer's expected purchases in ``(T, T + t]``. It is the
  limit of the finite-horizon CLV as the horizon grows. The first steps are
  summed exactly; the tail (beyond 32 steps, where :math:`E` is smooth on the
  scale of a step) by the Euler-Maclaurin formula, its integral by
  Gauss-Legendre quadrature on intervals that double in length (relative error
  below 1e-8 against the plain sum in the tests).
* **continuous** (``time_unit=None``): each purchase is discounted at its own
  time by :math:`e^{-\delta t}`, :math:`\delta = \ln(1 + d) / P`:

  .. math::
      \mathrm{DERT} = \int_0^\infty e^{-\delta t}\,dE(t)
                    = \delta \int_0^\infty e^{-\delta t} E(t)\,dt .

  Pareto/NBD has a closed form (FHL eq. 2; derived in Fader, Hardie & Lee's
  technical note "Deriving an expression for DERT under the Pareto/NBD model"):
  given alive, the rate is :math:`\lambda \sim \Gamma(r + x, \alpha + T)` and the
  dropout rate :math:`\mu \sim \Gamma(s, \beta + T)`, so

  .. math::
      \mathrm{DERT} = P(\text{alive})\,\frac{r + x}{\alpha + T}\,
          \mathrm{E}\Big[\frac{1}{\delta + \mu}\Big]
        = P(\text{alive})\,\frac{r + x}{\alpha + T}\,
          \frac{z^{s}\,U(s, s; z)}{\delta},\qquad z = \delta(\beta + T),

  with :math:`U` Tricomi's confluent hypergeometric function
  (:func:`scipy.special.hyperu`). BG/NBD and MBG/NBD have none: the integral is
  computed by the same quadrature.

The two differ by where a step's purchases are discounted; with steps of length
:math:`\Delta` the step convention is about :math:`(1 - e^{-\delta\Delta}) /
(\delta\Delta)` of the continuous one (the mean discount over a step), and it
tends to the continuous one as the steps shrink.

A lifetime needs a positive discount rate: undiscounted, BG/NBD's expected
purchases are infinite when ``a <= 1``, Pareto/NBD's when ``s <= 1``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from .units import normalize_unit, unit_days

__all__ = ["dert", "lifetime_rule", "pareto_nbd_dert"]

#: Steps summed exactly before the Euler-Maclaurin tail.
EXACT_STEPS = 32
#: Steps summed exactly when that is all (a large discount per step).
MAX_PLAIN_STEPS = 64
#: The discounting reaches exp(-CUTOFF) where the sums and integrals stop.
CUTOFF = 45.0
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(12)


def _composite(start: float, first: float, cap: float, stop: float):
    """Gauss-Legendre nodes and weights on ``[start, stop]``: intervals of length
    ``min(max(a - start, first), cap)`` from ``a`` (doubling, then at most ``cap``)."""
    nodes, weights = [], []
    a = start
    while a < stop:
        length = min(max(a - start, first), cap)
        b = a + length
        nodes.append(a + (b - a) * (_GL_NODES + 1) / 2)
        weights.append((b - a) / 2 * _GL_WEIGHTS)
        a = b
    return np.concatenate(nodes), np.concatenate(weights)


def lifetime_rule(discount_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, weights)``: DERT with end-of-step discounting is
    ``sum(weights * E(steps * step_length))``.

    ``discount_factor`` is :math:`q` of one step (``0 < q < 1``). ``steps`` are
    numbers of steps (whole for the exact part, fractional quadrature nodes for
    the tail); the rule is linear in :math:`E`, so it serves every parameter
    draw.
    """
    q = float(discount_factor)
    if not 0 < q < 1:
        raise ValueError(f"The discount factor of a step must be in (0, 1), got {q!r}.")
    beta = -np.log(q)  # discounting per step
    one_minus_q = -np.expm1(-beta)
    n_plain = int(np.ceil(CUTOFF / beta))
    if n_plain <= MAX_PLAIN_STEPS:
        k = np.arange(1, n_plain + 1, dtype=float)
        return k, one_minus_q * q ** k
    # (1 - q) [sum_{k <= K} q^k E_k + sum_{k > K} F(k)], F(k) = q^k E(k Delta), with
    # sum_{k > K} F(k) = int_K^inf F - F(K) / 2 - F'(K) / 12 (Euler-Maclaurin; the
    # next term, F'''(K) / 720, is below 1e-8 of the whole for K = 32) and
    # F'(K) = q^K (-beta E_K + (E_{K+1} - E_{K-1}) / 2).
    K = EXACT_STEPS
    k_exact = np.arange(1, K + 2, dtype=float)  # up to K + 1 for the derivative
    w_exact = q ** k_exact
    w_exact[K] = 0.0
    qK = q ** K
    w_exact[K - 1] += -qK / 2 + qK * beta / 12
    w_exact[K] += -qK / 24
    w_exact[K - 2] += qK / 24
    nodes, gl = _composite(float(K), float(K), 16.0 / beta, K + CUTOFF / beta)
    steps = np.concatenate([k_exact, nodes])
    weights = one_minus_q * np.concatenate([w_exact, gl * np.exp(-beta * nodes)])
    return steps, weights


def continuous_rule(delta: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """``(times, weights)``: ``delta * int_0^inf exp(-delta t) E(t) dt`` as
    ``sum(weights * E(times))``; ``scale`` is the shortest time over which ``E`` may
    bend (``alpha`` or ``beta`` of the model: its singularities lie at ``-alpha - T``)."""
    if not delta > 0:
        raise ValueError(f"The continuous discount rate must be > 0, got {delta!r}.")
    first = min(float(scale), 16.0 / delta)
    times, w = _composite(0.0, first, 16.0 / delta, CUTOFF / delta)
    return times, delta * w * np.exp(-delta * times)


def pareto_nbd_dert(delta, x, t_x, T, r, alpha, s, beta):
    """Pareto/NBD DERT with continuous discounting at rate ``delta`` per time unit
    (FHL eq. 2; see the module docstring). Broadcasts over its arguments."""
    from .likelihoods import pareto_nbd

    z = delta * (beta + T)
    with np.errstate(all="ignore"):
        # z**s U(s, s, z) -> 1 as z grows; in logs for large z
        zu = np.exp(s * np.log(z) + np.log(special.hyperu(s, s, z)))
        return (pareto_nbd.probability_alive(x, t_x, T, r, alpha, s, beta)
                * (r + x) / (alpha + T) * zu / delta)


def _model_unit(model, discount_rate) -> str:
    """Check the rate and the model; the model's time unit."""
    if isinstance(discount_rate, bool) or not np.isfinite(discount_rate) or discount_rate <= 0:
        raise ValueError(
            "A lifetime value needs a discount_rate > 0 (the remaining lifetime has no "
            f"end; undiscounted it can be infinite), got {discount_rate!r}.")
    model._check_fitted()
    model_unit = getattr(model, "time_unit_", None)
    if model_unit is None:
        raise ValueError(f"{type(model).__name__} has no time unit: DERT needs a purchase "
                         "model (BG/NBD, MBG/NBD, Pareto/NBD).")
    return normalize_unit(model_unit)


def _time_scale(model) -> float:
    """The shortest duration parameter of the model (where E(t) may bend)."""
    params = model.params_
    durations = [float(params[p.name]) for p in getattr(model, "parameters", ())
                 if getattr(p, "time_power", 0) == 1 and p.name in params.index]
    return min(durations) if durations else 1.0


def dert(transaction_model, summary: pd.DataFrame, discount_rate: float, *,
         time_unit: str | None = None, discount_period: str | None = None) -> pd.Series:
    """Discounted expected residual transactions of every customer.

    Parameters
    ----------
    transaction_model
        A fitted BG/NBD, MBG/NBD or Pareto/NBD model (or any clvmodels purchase
        model).
    summary
        RFM summary of the customers (not modified).
    discount_rate
        Discount rate (> 0) per ``discount_period``.
    time_unit
        ``None``: continuous discounting, each purchase at its own time
        (Pareto/NBD in closed form, FHL eq. 2). A unit (``"W"``, ``"M"``, ...):
        steps of that length, purchases discounted at the end of their step,
        the convention of :func:`~clvmodels.customer_lifetime_value` (its
        ``horizon=None`` value is ``margin * expected_spend * dert(...)``).
    discount_period
        Unit the rate refers to; default ``time_unit`` (with steps) or the
        model's ``time_unit_`` (continuous).

    Returns
    -------
    Series ``dert`` indexed by customer id: plug-in values for maximum-likelihood
    fits, posterior means for NUTS and ADVI fits.

    Examples
    --------
    >>> import clvmodels
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> model = clvmodels.ParetoNBDModel().fit(summary)
    >>> value = clvmodels.dert(model, summary, 0.15, discount_period="Y")
    >>> float(round(value.loc[4], 2))  # customer 4: 2 repeat purchases in 39 weeks
    6.51
    """
    from .likelihoods import pareto_nbd

    model_unit = _model_unit(transaction_model, discount_rate)
    if time_unit is None:
        period = normalize_unit(discount_period) if discount_period else model_unit
        delta = np.log1p(discount_rate) * unit_days(model_unit) / unit_days(period)
        if getattr(transaction_model, "formulas", None) is pareto_nbd:
            return _closed_form(transaction_model, summary, delta)
        times, weights = continuous_rule(delta, _time_scale(transaction_model))
    else:
        step_unit = normalize_unit(time_unit)
        period = normalize_unit(discount_period) if discount_period else step_unit
        q = (1.0 + discount_rate) ** (-unit_days(step_unit) / unit_days(period))
        steps, weights = lifetime_rule(q)
        times = steps * unit_days(step_unit) / unit_days(model_unit)
    return _linear(transaction_model, summary, times, weights)


def _linear(model, summary, times, weights) -> pd.Series:
    """``sum_j weights_j E(times_j)`` per customer (posterior mean for NUTS/ADVI)."""
    if getattr(model, "_has_posterior", lambda: False)():
        index, cols = model._history_columns(summary)
        cumulative = model._purchases_draws_function(times)

        def func(cols, draws):
            return cumulative(cols, draws) @ weights[:, None]

        res = model._reduce(cols, func, n_draws=None, random_state=None, interval=None,
                            return_draws=False)
        return pd.Series(res.mean[:, 0], index=index, name="dert")
    index, kernel = model._purchases_kernel(summary)
    values = kernel(times, model._params_tuple(), weights[:, None])[:, 0]
    return pd.Series(values, index=index, name="dert")


def _closed_form(model, summary, delta) -> pd.Series:
    index, (x, t_x, T, *z) = model._arrays(summary, model.data_columns)  # z: covariates
    if model._has_posterior():
        index, cols = model._history_columns(summary)

        def func(cols, draws):
            X, TT, TX, *Z = (c[:, None, None] for c in cols)
            return pareto_nbd_dert(delta, X, TX, TT,
                                   *model._row_params(model._param_arrays(draws), Z))

        res = model._reduce(cols, func, n_draws=None, random_state=None, interval=None,
                            return_draws=False)
        return pd.Series(res.mean[:, 0], index=index, name="dert")
    values = pareto_nbd_dert(delta, x, t_x, T, *model._row_params(model._params_tuple(), z))
    return pd.Series(values, index=index, name="dert")
