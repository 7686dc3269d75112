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

``horizon=None`` is the customer's remaining lifetime: the same sum to
:math:`H = \infty`, i.e. ``margin * expected_spend * DERT`` with DERT, the
discounted expected residual transactions, in this end-of-step convention
(:mod:`clvmodels.dert`: exact over the first steps, the tail by the
Euler-Maclaurin formula; it needs ``discount_rate > 0``).

The models are duck-typed: any ``transaction_model`` with
``expected_purchases(summary, t)`` (a Series of expected purchases in
``(T, T + t]``, ``t`` in its ``time_unit_`` or the summary's unit) and any
``spend_model`` with ``expected_spend(summary)`` work.

Uncertainty: with Bayesian fits (``method="nuts"`` or ``"advi"``) the CLV of a
customer is a posterior distribution. The purchase and spend models are fitted
independently, so their posteriors are independent and a joint draw is a pair
(purchase-model draw, spend-model draw); CLV is computed for every pair, and
``clv`` is its posterior mean and ``clv_lower``/``clv_upper`` its equal-tailed
quantiles, so the interval carries both uncertainties. Maximum-likelihood fits
use asymptotic normal draws of both models for the interval and the plug-in
estimate for ``clv``. The draws are reduced block by block over the distinct
customer histories (:mod:`clvmodels.inference.draws`): memory does not grow
with customers x draws.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .exceptions import ClvModelsWarning
from .inference.draws import MAX_BYTES, reduce_draws
from .models.base import summary_time_unit
from .units import TIME_UNITS, normalize_unit, unit_days

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


#: Joint posterior draws used by default for the CLV of Bayesian fits.
MAX_DEFAULT_POSTERIOR_DRAWS = 1000


def _has_posterior(model) -> bool:
    return bool(getattr(model, "_has_posterior", lambda: False)())


def _n_posterior(model) -> int:
    return len(model._posterior_draws()) if _has_posterior(model) else 0


def _vectorised(transaction_model, spend_model) -> bool:
    """Whether both models evaluate many parameter draws at once."""
    buys = hasattr(transaction_model, "_purchases_draws_function") and hasattr(
        transaction_model, "sample_parameters")
    spends = hasattr(spend_model, "_spend_draws_function") or not hasattr(
        spend_model, "sample_parameters")
    return buys and spends


def _clv_over_draws(transaction_model, spend_model, summary, times, weights, margin,
                    n_draws, interval, rng, max_bytes, count_weights=None):
    """CLV, purchases and spend over joint parameter draws, reduced per customer.

    Returns the :class:`~clvmodels.inference.draws.DrawSummary` of the columns
    ``(clv, expected_purchases, expected_spend)``; ``count_weights`` turn the
    cumulative purchases into the second column (default: the last time's).
    """
    tm, sm = transaction_model, spend_model
    index, (x, T, t_x, *zt) = tm._history_columns(summary)  # zt: covariates
    tm_draws, tm_sampled = _model_draws(tm, n_draws, rng)
    k1 = tm_draws.shape[1]
    sampled = tm_sampled
    if hasattr(sm, "_spend_draws_function"):
        _, (x_s, m, *zs), spend_of = sm._spend_draws_function(summary)
        sm_draws, sm_sampled = _model_draws(sm, n_draws, rng)
        sampled = sampled and sm_sampled
        fixed = False
    else:  # a spend model without uncertainty is held fixed
        m = _aligned(sm.expected_spend(summary), summary.index, "expected_spend")
        sm_draws = np.zeros((n_draws, 0))
        fixed = True
        zs = []
    draws = np.column_stack([tm_draws, sm_draws])
    cumulative = tm._purchases_draws_function(times)
    if count_weights is None:
        count_weights = np.eye(len(times))[-1]
    combine = np.column_stack([weights, count_weights])

    def func(cols, d):
        x_, T_, tx_, m_ = cols[:4]
        zt_, zs_ = cols[4:4 + len(zt)], cols[4 + len(zt):]
        both = cumulative([x_, T_, tx_, *zt_], d[:, :k1]) @ combine      # (rows, draws, 2)
        if fixed:
            spend = np.broadcast_to(m_[:, None], both.shape[:2])
        else:
            spend = spend_of([x_, m_, *zs_], d[:, k1:])
        return np.stack([margin * spend * both[..., 0], both[..., 1], spend], axis=-1)

    work = 4 * len(times) + 12  # float64 temporaries per row and draw
    res = reduce_draws([x, T, t_x, m, *zt, *zs], func, draws, interval=interval,
                       max_bytes=max(1, int(max_bytes * 3 / work)))
    if not sampled and interval is not None:  # a model without finite covariance
        res.lower = np.full_like(res.mean, np.nan)
        res.upper = np.full_like(res.mean, np.nan)
    return res


def _model_draws(model, n_draws: int, rng) -> tuple[np.ndarray, bool]:
    """``(draws, sampled)``: parameter draws of a model, or its estimate repeated
    (``sampled`` False, with the model's warning) when it has no finite covariance."""
    if hasattr(model, "_parameter_draws"):
        draws = model._parameter_draws(n_draws, rng, stacklevel=5)
        if draws is None:
            return np.tile(np.asarray(model._params_tuple(), dtype=float), (n_draws, 1)), False
        return draws, True
    return model.sample_parameters(n_draws, random_state=rng).to_numpy(dtype=float), True


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
    horizon: int | None,
    time_unit: str,
    discount_rate: float = 0.0,
    margin: float = 1.0,
    discount_period: str | None = None,
    cash_flows: bool = False,
    interval: float | None = None,
    n_draws: int | None = None,
    random_state=None,
    interval_kind: str = "expected",
    n_simulations: int = 1000,
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
        ``None``: the customer's remaining lifetime (every step to infinity,
        same discounting; needs ``discount_rate > 0``): CLV is then
        ``margin * expected_spend * dert`` and the column ``dert`` (discounted
        expected residual transactions, :func:`clvmodels.dert` with these steps)
        replaces ``expected_purchases``, which can be infinite. No
        ``cash_flows`` and no predictive interval then.
    time_unit
        Length of a step: ``"h", "D", "W", "M"`` (30.4375 days) or ``"Y"``.
        Converted to the transaction model's ``time_unit_``. A model of
        transaction opportunities (:class:`~clvmodels.BetaGeoBetaBinomModel`) has
        no time unit: a step is one of its periods, ``time_unit`` must be the
        summary's period (``summary.attrs["period"]`` of
        :func:`clvmodels.discrete_summary`), ``horizon`` counts periods and
        ``horizon=None`` sums whole periods until the discounted rest is below
        1e-12 (equal to the model's DERT, FHS eq. 14); the spend model reads the
        summary's ``monetary_value`` (the mean value of the repeat transactions).
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
        ``interval`` range (equal-tailed quantiles) of CLV over ``n_draws`` joint
        draws of BOTH models' parameters: posterior draws of Bayesian fits,
        draws from the fitted asymptotic distribution of maximum-likelihood
        fits. A model without ``sample_parameters`` (e.g. a formula baseline) is
        held fixed.
    n_draws
        Number of joint parameter draws. Default: when a model is a NUTS or ADVI
        fit, its posterior draws, at most 1,000 of them (a random subset; the
        other model contributes as many draws, paired at random), else 200.
        With 1,000 draws the Monte Carlo error of the interval bounds is about
        2% of the interval's width. The cost is ``n_draws`` times that of the
        point estimate (about 25 s for 23,570 CDNOW customers, 52 weekly steps
        and 1,000 draws on 2 cores).
    random_state
        Seed or ``numpy.random.Generator`` for the draws.
    interval_kind
        ``"expected"`` (default): ``clv_lower``/``clv_upper`` bound the *expected*
        CLV over parameter draws (how sure the model is of the mean).
        ``"predictive"``: ``clv_predictive_lower``/``clv_predictive_upper`` bound
        the value the customer will really bring, from the ``(1 - interval) / 2``
        quantile of ``n_simulations`` simulated futures per customer up to where
        at least ``interval`` of them lie (alive or not, their
        purchase rate and dropout drawn given their history, their purchases
        over the horizon, each amount from the Gamma-Gamma model given their
        past spend, discounted at the end of its step; posterior draws of
        Bayesian fits mixed in). BG/NBD, MBG/NBD or Pareto/NBD with Gamma-Gamma.
    n_simulations
        Simulated futures per customer of a predictive interval.

    Returns
    -------
    DataFrame indexed by customer id with columns ``expected_purchases``
    (undiscounted, over the whole horizon), ``expected_spend``, ``clv`` (and
    ``clv_lower``, ``clv_upper``). With a NUTS or ADVI fit among the models the
    three are posterior means over the joint draws; otherwise plug-in
    estimates. With ``horizon=None``, ``dert`` instead of ``expected_purchases``.
    With ``cash_flows=True`` a tuple
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
    lifetime = horizon is None
    if not lifetime and (isinstance(horizon, bool) or not np.isfinite(horizon)
                         or int(horizon) != horizon or horizon < 1):
        raise ValueError(f"horizon must be a whole number of steps >= 1 (or None: the "
                         f"remaining lifetime), got {horizon!r}.")
    horizon = None if lifetime else int(horizon)
    discrete = getattr(transaction_model, "uses_time", True) is False
    if discrete:  # a model of transaction opportunities (BG/BB): steps are its periods
        step, exponent = _discrete_steps(transaction_model, summary, time_unit,
                                         discount_period)
    else:
        step_unit = normalize_unit(time_unit)
        period_unit = (normalize_unit(discount_period) if discount_period is not None
                       else step_unit)
        # A step is this many discount periods.
        exponent = unit_days(step_unit) / unit_days(period_unit)
    if not np.isfinite(discount_rate) or discount_rate <= -1:
        raise ValueError(f"discount_rate must be finite and > -1, got {discount_rate!r}.")
    if not np.isfinite(margin):
        raise ValueError(f"margin must be finite, got {margin!r}.")
    if interval is not None and not 0 < interval < 1:
        raise ValueError(f"interval must be between 0 and 1 (e.g. 0.9), got {interval!r}.")
    if not isinstance(summary, pd.DataFrame):
        raise TypeError("summary must be an RFM summary DataFrame.")
    if interval_kind not in ("expected", "predictive"):
        raise ValueError(f"interval_kind must be 'expected' or 'predictive', got "
                         f"{interval_kind!r}.")

    if not discrete:
        model_unit = (getattr(transaction_model, "time_unit_", None)
                      or summary_time_unit(summary))
        step = unit_days(step_unit) / unit_days(model_unit)
    if lifetime:
        if not discount_rate > 0:
            raise ValueError(
                "horizon=None (the remaining lifetime) needs a discount_rate > 0: undiscounted, "
                f"a lifetime's expected purchases can be infinite; got {discount_rate!r}.")
        if cash_flows:
            raise ValueError("cash_flows=True needs a finite horizon (one row per step); "
                             "horizon=None has infinitely many steps.")
        if interval_kind == "predictive" and interval is not None:
            raise ValueError("A predictive interval simulates a finite horizon; pass a horizon "
                             "or interval_kind='expected' with horizon=None.")
        from .dert import lifetime_rule

        per_step = (1.0 + discount_rate) ** (-exponent)
        k, weights = _whole_steps_rule(per_step) if discrete else lifetime_rule(per_step)
        times = k * step
        count_weights, count_name = weights, "dert"
    else:
        k = np.arange(1, horizon + 1, dtype=float)
        times = k * step
        discount = (1.0 + discount_rate) ** (-k * exponent)
        # CLV = margin * spend * sum_k (E_k - E_{k-1}) d_k = margin * spend * sum_k E_k w_k
        # with w_k = d_k - d_{k+1} (d_{H+1} = 0): one product with the cumulative values.
        weights = discount - np.append(discount[1:], 0.0)
        count_weights, count_name = np.eye(horizon)[-1], "expected_purchases"

    if interval_kind == "predictive" and interval is not None:
        rng = np.random.default_rng(random_state) if not isinstance(
            random_state, np.random.Generator) else random_state
        out = customer_lifetime_value(
            transaction_model, spend_model, summary, horizon, time_unit, discount_rate,
            margin, discount_period, cash_flows, None, n_draws, rng)
        table = out[0] if cash_flows else out
        table["clv_predictive_lower"], table["clv_predictive_upper"] = _predictive_bounds(
            transaction_model, spend_model, summary, times, discount, margin, interval,
            int(n_simulations), rng)
        return out

    purchases = _purchases_kernel(transaction_model, summary)
    spending = _spend_kernel(spend_model, summary)
    combine = np.column_stack([weights, count_weights])

    def clv_values(tm_params, sm_params):
        both = purchases(times, tm_params, combine)
        spend = spending(sm_params)
        return both[:, 1], spend, margin * spend * both[:, 0]

    bayesian = _has_posterior(transaction_model) or _has_posterior(spend_model)
    if n_draws is None:
        n_posterior = max(_n_posterior(transaction_model), _n_posterior(spend_model))
        n_draws = min(n_posterior, MAX_DEFAULT_POSTERIOR_DRAWS) if n_posterior else 200
    if isinstance(n_draws, bool) or int(n_draws) != n_draws or n_draws < 2:
        raise ValueError(f"n_draws must be a whole number >= 2, got {n_draws!r}.")
    n_draws = int(n_draws)
    rng = np.random.default_rng(random_state) if not isinstance(
        random_state, np.random.Generator) else random_state

    if (bayesian or interval is not None) and _vectorised(transaction_model, spend_model):
        res = _clv_over_draws(transaction_model, spend_model, summary, times, weights, margin,
                              n_draws, interval, rng, MAX_BYTES, count_weights)
        if res.n_undefined:
            warnings.warn(
                f"{res.n_undefined} (customer, draw) value(s) gave no defined CLV (e.g. a "
                "Gamma-Gamma draw with q <= 1 for a customer without repeat purchases) and "
                "were left out of the mean and interval.", ClvModelsWarning, stacklevel=2)
        if bayesian:
            total, spend, value = res.mean[:, 1], res.mean[:, 2], res.mean[:, 0]
        else:
            total, spend, value = clv_values(_params(transaction_model), _params(spend_model))
        result = pd.DataFrame(
            {count_name: total, "expected_spend": spend, "clv": value},
            index=summary.index,
        )
        if interval is not None:
            result["clv_lower"] = res.lower[:, 0]
            result["clv_upper"] = res.upper[:, 0]
        if not cash_flows:
            return result
        return result, _flows(summary, purchases, times, transaction_model, margin, spend,
                              discount, horizon)

    total, spend, value = clv_values(_params(transaction_model), _params(spend_model))
    result = pd.DataFrame(
        {count_name: total, "expected_spend": spend, "clv": value},
        index=summary.index,
    )

    if interval is not None:
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
    return result, _flows(summary, purchases, times, transaction_model, margin, spend, discount,
                          horizon)


def _discrete_steps(model, summary, time_unit, discount_period) -> tuple[float, float]:
    """``(step, exponent)`` of a model of transaction opportunities (BG/BB): a step is
    one of its periods, which ``time_unit`` must name (``summary.attrs["period"]`` when
    :func:`clvmodels.discrete_summary` recorded it), and lasts ``exponent`` discount
    periods (1 unless ``discount_period`` differs)."""
    name = type(model).__name__
    period = summary.attrs.get("period")
    if period is not None and time_unit != period and not (
            period in TIME_UNITS and _same_unit(time_unit, period)):
        raise ValueError(
            f"{name} counts transaction opportunities, one per period of its summary "
            f"({period!r}); CLV steps cannot be another length: pass time_unit={period!r} "
            f"(the horizon is then a number of {period!r} periods), got {time_unit!r}.")
    if discount_period is None or discount_period == time_unit or _same_unit(
            discount_period, time_unit):
        return 1.0, 1.0
    try:
        return 1.0, unit_days(time_unit) / unit_days(discount_period)
    except ValueError:
        raise ValueError(
            f"discount_period={discount_period!r} cannot be converted to the {name}'s "
            f"period {time_unit!r}: pass the discount rate per period (discount_period="
            "None).") from None


def _same_unit(a, b) -> bool:
    try:
        return normalize_unit(a) == normalize_unit(b)
    except ValueError:
        return False


#: A lifetime over whole periods stops where the discounted rest is below this
#: (a customer makes at most one transaction per period).
_WHOLE_STEPS_TAIL = 1e-12


def _whole_steps_rule(discount_factor: float) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, weights)`` of the lifetime of a model with at most one transaction per
    step (BG/BB): whole steps ``1..K``, with ``K`` where the rest,
    ``sum_{k > K} q**k <= q**(K+1) / (1 - q)``, is below :data:`_WHOLE_STEPS_TAIL`."""
    q = float(discount_factor)
    n = int(np.ceil(np.log(_WHOLE_STEPS_TAIL * (1.0 - q)) / np.log(q)))
    if n > 100_000:
        raise ValueError(
            f"A discount factor of {q:.6g} per period needs {n:,} periods to sum a lifetime; "
            "pass a larger discount_rate or a finite horizon.")
    k = np.arange(1, n + 1, dtype=float)
    discount = q ** k
    return k, discount - np.append(discount[1:], 0.0)


def _predictive_bounds(tm, sm, summary, times, discount, margin, interval, n_sims, rng):
    """Quantiles of each customer's simulated, discounted value over the horizon.

    Given the history, a customer is alive with P(alive); then their purchase rate
    is Gamma(r + x, alpha + T) and their dropout Beta(a, b + x) per purchase
    (BG/NBD; b + x + 1 for MBG/NBD) or an exponential lifetime with a
    Gamma(s, beta + T) rate (Pareto/NBD); each amount is Gamma(p, nu) with
    nu ~ Gamma(q + p x, v + x zbar) (Gamma-Gamma, FH 2013 eq. 4). One parameter
    draw per simulation for Bayesian fits, the estimates otherwise. With
    covariates (:mod:`clvmodels.covariates`) each customer simulates with their
    own parameters (``alpha_i``, ``a_i``, ``b_i``, ``beta_i``, ``v_i``, from every
    draw's coefficients).
    """
    from .likelihoods import beta_geo, modified_beta_geo, pareto_nbd

    formulas = getattr(tm, "formulas", None)
    if formulas not in (beta_geo, modified_beta_geo, pareto_nbd) or not hasattr(
            sm, "params_") or type(sm).param_names() != ["p", "q", "v"]:
        raise ValueError("Predictive CLV intervals need a BG/NBD, MBG/NBD or Pareto/NBD "
                         "purchase model with a Gamma-Gamma spend model; use "
                         "interval_kind='expected' for other models.")
    if n_sims < 10:
        raise ValueError(f"n_simulations must be at least 10, got {n_sims}.")
    _, (x, t_x, T, *zt) = tm._arrays(summary, ("frequency", "recency", "T",
                                               *getattr(tm, "covariate_columns", list)()))
    _, (xs, m, *zs) = sm._arrays(summary, ("frequency", "monetary_value",
                                           *getattr(sm, "covariate_columns", list)()))
    m = np.where(xs > 0, m, 0.0)

    def draws(model):
        if model._has_posterior():
            return model._prediction_draws(n_sims, rng)
        return np.tile(np.asarray(model._params_tuple()), (n_sims, 1))

    P_all, G_all = list(draws(tm).T), list(draws(sm).T)  # (parameters, simulations)
    horizon = float(times[-1])
    lo_q = (1 - interval) / 2
    lower = np.empty(len(x))
    upper = np.empty(len(x))
    chunk = max(1, 2_000_000 // n_sims)
    for start in range(0, len(x), chunk):
        sl = slice(start, start + chunk)
        X, TX, TT = (a[sl, None] for a in (x, t_x, T))
        shape = (len(X), n_sims)
        # Each customer's parameters (covariates: rows x simulations).
        P = tm._row_params(P_all, [z[sl, None] for z in zt])
        G = sm._row_params(G_all, [z[sl, None] for z in zs])
        with np.errstate(all="ignore"):
            alive = rng.random(shape) < formulas.probability_alive(X, TX, TT, *P)
            r, alpha = P[0], P[1]
            lam = rng.gamma(r + X, 1.0 / (alpha + TT))
            if formulas is pareto_nbd:
                s_, beta = P[2], P[3]
                mu = rng.gamma(np.broadcast_to(s_, shape), 1.0 / (beta + TT))
                end = np.minimum(rng.exponential(1.0 / mu), horizon)
                n = np.where(alive, rng.poisson(lam * end), 0)
                total, length = n, end
            else:
                a, b = P[2], P[3]
                extra = 1.0 if formulas is modified_beta_geo else 0.0
                k = rng.geometric(rng.beta(np.broadcast_to(a, shape), b + X + extra))
                total = np.where(alive, rng.poisson(lam * horizon), 0)
                n = np.minimum(total, k)
                length = np.full(shape, horizon)
        # Purchase times: the first n of `total` uniform arrivals on (0, length].
        cell = np.repeat(np.arange(n.size), total.ravel())
        u = rng.random(len(cell)) * np.repeat(length.ravel(), total.ravel())
        order = np.lexsort((u, cell))
        cell, u = cell[order], u[order]
        first = np.searchsorted(cell, np.arange(n.size))
        keep = (np.arange(len(cell)) - first[cell]) < n.ravel()[cell]
        cell, u = cell[keep], u[keep]
        p, q, v = G[0], G[1], G[2]
        XS, M = xs[sl, None], m[sl, None]
        nu = rng.gamma(np.broadcast_to(q + p * XS, shape), 1.0 / (v + XS * M)).ravel()
        amount = rng.gamma(np.broadcast_to(p, shape).ravel()[cell], 1.0 / nu[cell])
        step = np.minimum(np.searchsorted(times, u, side="left"), len(times) - 1)
        value = np.bincount(cell, weights=amount * discount[step], minlength=n.size)
        value = np.sort(margin * value.reshape(shape), axis=1)
        # From the (1 - interval) / 2 quantile up to where at least ``interval`` of
        # the simulations lie: when that quantile is 0 (no purchase: most
        # customers), nothing is lost below it and the upper end need not reach the
        # (1 + interval) / 2 quantile.
        rows = np.arange(len(value))
        low = value[:, max(int(np.ceil(lo_q * n_sims)) - 1, 0)]
        below = (value < low[:, None]).sum(axis=1)
        top = np.minimum(below + int(np.ceil(interval * n_sims)) - 1, n_sims - 1)
        lower[sl], upper[sl] = low, value[rows, top]
    return lower, upper


def _flows(summary, purchases, times, transaction_model, margin, spend, discount, horizon):
    """Long table of the expected cash flow of every customer and step (plug-in
    purchases per step; ``spend`` as in the CLV table)."""
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
    return flows
