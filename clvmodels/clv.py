r"""Customer lifetime value from a purchase model and a spend model.

.. math::
    \mathrm{CLV}_i = \text{margin}\times E[\text{spend}_i]\times
        \sum_{k=1}^{H} \frac{E[X_i(T_i, T_i + k\Delta)] - E[X_i(T_i, T_i + (k-1)\Delta)]}
                            {(1 + d)^{k\Delta / P}}

over ``H = horizon`` steps of length :math:`\Delta` (``time_unit``), a discount
rate ``d`` per period ``P`` (``discount_period``, default one step) and cash flows
discounted at the end of the step in which they fall, as in Fader, Hardie & Lee
(2005), "RFM and CLV: using iso-value curves for customer base analysis",
*Journal of Marketing Research* 42(4), 415-430 (discrete-time approximation of
their DERT). Period lengths come from :mod:`clvmodels.units` (a month is 30.4375
days), so a monthly rate over weekly steps is converted exactly.

The models are duck-typed: any ``transaction_model`` with
``expected_purchases(summary, t)`` (a Series of expected purchases in
``(T, T + t]``, ``t`` in its ``time_unit_`` or the summary's unit) and any
``spend_model`` with ``expected_spend(summary)`` work.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .exceptions import ClvModelsWarning
from .models.base import summary_time_unit
from .units import normalize_unit, unit_days

__all__ = ["customer_lifetime_value"]


def _aligned(values, index: pd.Index, what: str) -> np.ndarray:
    """Model output as a float array in the order of ``index``."""
    if isinstance(values, (pd.Series, pd.DataFrame)):
        if not values.index.equals(index):
            values = values.reindex(index)
        arr = values.to_numpy(dtype=float)
    else:
        arr = np.asarray(values, dtype=float)
    if arr.shape[0] != len(index):
        raise ValueError(f"{what} returned {arr.shape[0]} values for {len(index)} customers.")
    return arr


def _purchases_kernel(model, summary: pd.DataFrame):
    """``f(times, params, combine=None)``: cumulative expected purchases (customers, times),
    or their product with ``combine``.

    clvmodels' own models prepare the histories once (fast for parameter draws);
    any other model is called through ``expected_purchases(summary, t)``.
    """
    if hasattr(model, "_purchases_kernel"):
        index, kernel = model._purchases_kernel(summary)
        if not index.equals(summary.index):  # pragma: no cover - defensive
            raise ValueError("expected_purchases changed the order of the customers.")
        return kernel

    def generic(times, m, combine=None):
        cols = [_aligned(m.expected_purchases(summary, float(t)), summary.index,
                         "expected_purchases") for t in times]
        values = np.column_stack(cols)
        return values if combine is None else values @ combine

    return generic


def _spend_kernel(model, summary: pd.DataFrame):
    if hasattr(model, "_spend_kernel"):
        return model._spend_kernel(summary)[1]
    return lambda m: _aligned(m.expected_spend(summary), summary.index, "expected_spend")


def _params(model):
    return model._params_tuple() if hasattr(model, "_params_tuple") else model


def _draws(model, n_draws: int, rng) -> list | None:
    """Parameter draws (tuples for clvmodels models, model copies otherwise)."""
    if not hasattr(model, "sample_parameters"):
        return None
    draws = model.sample_parameters(n_draws, random_state=rng)
    if hasattr(model, "_params_tuple"):
        return [tuple(row) for row in draws.to_numpy(dtype=float)]
    return [model.with_parameters(row) for _, row in draws.iterrows()]


def customer_lifetime_value(
    transaction_model,
    spend_model,
    summary: pd.DataFrame,
    horizon: int,
    time_unit: str,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    discount_period: str | None = None,
    cash_flows: bool = False,
    interval: float | None = None,
    n_draws: int = 200,
    random_state=None,
):
    """Expected, discounted value of each customer over a horizon.

    Parameters
    ----------
    transaction_model
        Fitted purchase model with ``expected_purchases(summary, t)``
        (e.g. :class:`~clvmodels.models.beta_geo.BetaGeoModel`).
    spend_model
        Fitted spend model with ``expected_spend(summary)``
        (e.g. :class:`~clvmodels.models.gamma_gamma.GammaGammaModel`).
    summary
        RFM summary of the customers (not modified).
    horizon
        Number of steps of ``time_unit`` to add up (e.g. 12 with ``"M"``: a year).
    time_unit
        Length of a step: ``"h", "D", "W", "M"`` (30.4375 days) or ``"Y"``.
        Converted to the transaction model's ``time_unit_``.
    discount_rate
        Discount rate per ``discount_period`` (0.01 = 1 %). Cash flows are
        discounted at the end of their step by
        ``(1 + discount_rate) ** (-elapsed / discount_period)``.
    margin
        Share of spend that is profit (multiplies spend).
    discount_period
        Unit the rate refers to (e.g. ``"Y"`` for an annual rate with monthly
        steps); default ``time_unit``.
    cash_flows
        Also return the expected cash flow of every customer and step.
    interval
        If given (e.g. 0.9), add ``clv_lower`` and ``clv_upper``: the central
        ``interval`` range of CLV over ``n_draws`` draws of BOTH models'
        parameters from their fitted (asymptotic) distributions. A model without
        ``sample_parameters`` (e.g. a formula baseline) is held fixed.
    n_draws
        Number of parameter draws for ``interval``. The cost is ``n_draws``
        times that of the point estimate.
    random_state
        Seed or ``numpy.random.Generator`` for the draws.

    Returns
    -------
    DataFrame indexed by customer id with columns ``expected_purchases``
    (undiscounted, over the whole horizon), ``expected_spend``, ``clv`` (and
    ``clv_lower``, ``clv_upper``). With ``cash_flows=True`` a tuple
    ``(clv, flows)`` where ``flows`` is a long DataFrame with one row per customer
    and step: the customer id, ``period`` (1..horizon), ``expected_purchases``,
    ``cash_flow``, ``discount_factor``, ``discounted_cash_flow``.

    Examples
    --------
    >>> import clvmodels
    >>> from clvmodels.models.beta_geo import BetaGeoModel
    >>> from clvmodels.models.gamma_gamma import GammaGammaModel
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> clv = customer_lifetime_value(BetaGeoModel().fit(summary),
    ...                               GammaGammaModel().fit(summary), summary,
    ...                               horizon=12, time_unit="M", discount_rate=0.01)
    >>> list(clv.columns)
    ['expected_purchases', 'expected_spend', 'clv']
    >>> float(round(clv.loc[4, "clv"], 2))  # customer 4: 2 repeat purchases in 39 weeks
    36.3
    """
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a whole number of steps >= 1, got {horizon!r}.")
    horizon = int(horizon)
    step_unit = normalize_unit(time_unit)
    period_unit = normalize_unit(discount_period) if discount_period is not None else step_unit
    if not np.isfinite(discount_rate) or discount_rate <= -1:
        raise ValueError(f"discount_rate must be finite and > -1, got {discount_rate!r}.")
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin!r}.")
    if interval is not None and not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1 (e.g. 0.9), got {interval!r}.")
    if not isinstance(summary, pd.DataFrame):
        raise TypeError("summary must be an RFM summary DataFrame.")

    model_unit = getattr(transaction_model, "time_unit_", None) or summary_time_unit(summary)
    step = unit_days(step_unit) / unit_days(model_unit)
    k = np.arange(1, horizon + 1, dtype=float)
    times = k * step
    discount = (1.0 + discount_rate) ** (-k * unit_days(step_unit) / unit_days(period_unit))

    purchases = _purchases_kernel(transaction_model, summary)
    spending = _spend_kernel(spend_model, summary)

    # CLV = margin * spend * sum_k (E_k - E_{k-1}) d_k = margin * spend * sum_k E_k w_k
    # with w_k = d_k - d_{k+1} (d_{H+1} = 0): one product with the cumulative values.
    weights = discount - np.append(discount[1:], 0.0)
    combine = np.column_stack([weights, np.eye(horizon)[-1]])

    def clv_values(tm_params, sm_params):
        both = purchases(times, tm_params, combine)
        spend = spending(sm_params)
        return both[:, 1], spend, margin * spend * both[:, 0]

    total, spend, value = clv_values(_params(transaction_model), _params(spend_model))
    result = pd.DataFrame(
        {"expected_purchases": total, "expected_spend": spend, "clv": value},
        index=summary.index,
    )

    if interval is not None:
        rng = np.random.default_rng(random_state) if not isinstance(
            random_state, np.random.Generator) else random_state
        n_draws = int(n_draws)
        if n_draws < 2:
            raise ValueError("n_draws must be at least 2.")
        tms = _draws(transaction_model, n_draws, rng)
        sms = _draws(spend_model, n_draws, rng)
        if tms is None and sms is None:
            raise ValueError(
                "interval needs parameter uncertainty, but neither model has "
                "sample_parameters()."
            )
        tms = tms or [_params(transaction_model)] * n_draws
        sms = sms or [_params(spend_model)] * n_draws
        qs = [(1 - interval) / 2, (1 + interval) / 2]
        lower = np.empty(len(summary))
        upper = np.empty(len(summary))
        chunk = max(1000, int(2e7 // n_draws))  # at most ~160 MB of draws at a time
        failed = 0
        for start in range(0, len(summary), chunk):
            if start == 0 and chunk >= len(summary):
                part, buy, spend_of = summary, purchases, spending
            else:
                part = summary.iloc[start:start + chunk]
                part.attrs = dict(summary.attrs)
                buy = _purchases_kernel(transaction_model, part)
                spend_of = _spend_kernel(spend_model, part)
            values = np.full((n_draws, len(part)), np.nan)
            ok = np.ones(n_draws, dtype=bool)
            for j in range(n_draws):
                try:
                    purchases_j = buy(times, tms[j], weights[:, None])[:, 0]
                    values[j] = margin * spend_of(sms[j]) * purchases_j
                except ValueError:
                    ok[j] = False
                    failed += 1
            if ok.any():
                lower[start:start + chunk], upper[start:start + chunk] = np.quantile(
                    values[ok], qs, axis=0)
            else:
                lower[start:start + chunk] = upper[start:start + chunk] = np.nan
        if failed:
            warnings.warn(
                f"{failed} parameter draw(s) (counted per block of customers) gave no "
                "defined CLV (e.g. a Gamma-Gamma draw with q <= 1) and were left out of "
                "the interval.",
                ClvModelsWarning, stacklevel=2,
            )
        result["clv_lower"] = lower
        result["clv_upper"] = upper

    if not cash_flows:
        return result
    n = len(summary)
    id_name = summary.index.name or "customer_id"
    steps = np.diff(purchases(times, _params(transaction_model)), axis=1, prepend=0.0)
    flow = margin * spend[:, None] * steps
    flows = pd.DataFrame({
        id_name: np.repeat(summary.index.to_numpy(), horizon),
        "period": np.tile(np.arange(1, horizon + 1), n),
        "expected_purchases": steps.ravel(),
        "cash_flow": flow.ravel(),
        "discount_factor": np.tile(discount, n),
        "discounted_cash_flow": (flow * discount).ravel(),
    })
    return result, flows
