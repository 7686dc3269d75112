"""The formula baseline: customer lifetime value as the business literature teaches it.

    average order value (AOV) = revenue / orders
    purchase frequency        = orders / customers, per period
    customer value            = AOV x purchase frequency
    customer lifespan         = 1 / churn rate (or given, or 3 years for a young shop)
    CLV                       = customer value x lifespan x margin - acquisition cost
    LTV:CAC                   = CLV / acquisition cost
    affordable cost per click = CLV x conversion rate

:func:`formula_clv` computes these aggregates from a transaction log.
:class:`BaselineModel` applies the same formula customer by customer with the
``fit`` / ``expected_purchases`` / ``expected_spend`` shape of the probabilistic
models, so a backtest can set it beside them. :func:`rfm_segments` scores customers
1..bins on recency, frequency and monetary value, and :func:`cohort_retention`
builds the cohort table and the churn rate the lifespan formula uses.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .._checks import check_summary
from ..data import purchase_days
from ..exceptions import DataError, DataWarning
from ..units import normalize_unit, unit_days
from .base import BaseModel, summary_time_unit

__all__ = [
    "SETTINGS",
    "BaselineModel",
    "CohortRetention",
    "FormulaCLV",
    "LifespanEstimate",
    "cohort_retention",
    "estimate_lifespan",
    "formula_clv",
    "rfm_segments",
]

#: Lifespan assumed when the history is too short to estimate churn, in years.
DEFAULT_LIFESPAN_YEARS = 3.0

#: The two settings of the lifespan estimate (see :func:`estimate_lifespan`).
SETTINGS = ("noncontractual", "contractual")

#: A payment counts as late (a gap, or a churn) only when it is this much later than
#: one billing period: calendar months last 28 to 31 days, a month unit 30.44.
BILLING_GRACE = 0.1


def check_setting(setting) -> str:
    """``setting`` if it is one of :data:`SETTINGS`, else a :class:`DataError`."""
    if setting not in SETTINGS:
        raise DataError(
            f"Unknown setting {setting!r}: use 'noncontractual' (shops: customers leave "
            "without telling you) or 'contractual' (subscriptions: cancellations are "
            "observed).", rule="unknown_setting", n_rows=0, examples=[setting])
    return setting


def _as_days(value, name: str) -> float:
    """A duration given as a unit code (``"M"``, ``"Y"``, ...) or a number of days."""
    if isinstance(value, str):
        return unit_days(value)
    days = float(value)
    if not np.isfinite(days) or days <= 0:
        raise ValueError(f"{name} must be a time unit ('W', 'M', 'Y') or a positive number "
                         f"of days, got {value!r}.")
    return days


@dataclass(frozen=True)
class LifespanEstimate:
    """How long a customer stays, and how that was estimated.

    Attributes
    ----------
    setting
        ``"noncontractual"`` or ``"contractual"``.
    lifespan_days
        Expected lifespan in days.
    source
        One line saying which estimate was used.
    n_customers
        Customers the estimate rests on (non-contractual: those active in the
        window before last; contractual: every subscriber).
    n_events
        Non-contractual: of those, how many bought again in the last window;
        contractual: subscribers whose payments stopped.
    rate
        Non-contractual: the retention over one window; contractual: the churn per
        billing period. NaN when the default was used.
    window_days
        The retention window (non-contractual) or the billing period (contractual).
    is_default
        Whether the 3-year default was used because the log is too short.
    """

    setting: str
    lifespan_days: float
    source: str
    n_customers: int
    n_events: int
    rate: float
    window_days: float
    is_default: bool

    def lifespan_in(self, unit: str) -> float:
        """The lifespan in ``unit``."""
        return self.lifespan_days / unit_days(unit)


def estimate_lifespan(frequency, recency, T, *, setting: str = "noncontractual",
                      window="Y", billing_period="M", stacklevel: int = 2) -> LifespanEstimate:
    r"""The customer lifespan of a customer base, from each customer's first and last purchase.

    ``frequency`` (repeat purchase days), ``recency`` and ``T`` (days from the
    first purchase to the last one and to the end of observation) are arrays in
    **days**. :func:`formula_clv`, :class:`BaselineModel` and
    :func:`cohort_retention` all call this function, so they agree on the same data.

    ``setting="noncontractual"`` (shops). Nobody says they left, so a month
    without a purchase is no evidence of churn: most customers of a shop do not buy
    every month. The lifespan is "the time a customer typically keeps buying before
    becoming inactive for good", measured on a ``window`` that spans the purchase
    cycle (default one year). The customers *active in the window before last*
    (first purchase before the last window, last purchase in the window before
    last or later) are the base; the share of them who buy again in the last
    window is the retention :math:`r` over one window, and the lifespan is
    :math:`-w / \ln r`, the mean of an exponential lifetime that keeps a share
    :math:`r` of customers over a window :math:`w` (the textbook :math:`w / (1 -
    r)` counts whole windows and overstates the lifespan by about half a window).
    When the log is shorter than two windows, or no base customer is lost or
    kept, the lifespan is the rule of thumb of 3 years, with a warning.

    ``setting="contractual"`` (subscriptions). A subscriber churns when their
    payments stop: the last payment is more than one ``billing_period`` (plus a
    10% grace, calendar months being uneven) before the end of observation. After
    each payment a subscriber either pays again or leaves; the churn per billing
    period is the number of churned subscribers divided by the number of such
    observed decisions (all payments except the last of each subscriber still
    paying), and the lifespan is :math:`1 / \text{churn}` billing periods
    (monthly churn 2% -> 50 months). Without any churn the lifespan is the
    3-year default, with a warning.

    Parameters
    ----------
    frequency, recency, T
        Per customer, durations in days.
    setting
        ``"noncontractual"`` (default) or ``"contractual"``; anything else is a
        :class:`~clvmodels.DataError`.
    window
        Non-contractual retention window: a unit (``"M"``, ``"Y"``; default a year)
        or a number of days.
    billing_period
        Contractual billing period: a unit (default ``"M"``) or a number of days.

    Returns
    -------
    LifespanEstimate
    """
    setting = check_setting(setting)
    x = np.asarray(frequency, dtype=float)
    rec = np.asarray(recency, dtype=float)
    T = np.asarray(T, dtype=float)
    default_days = DEFAULT_LIFESPAN_YEARS * unit_days("Y")

    def default(reason: str, n_customers: int, n_events: int, w: float) -> LifespanEstimate:
        warnings.warn(
            f"{reason}: the lifespan is the 3-year rule of thumb for a young business. "
            "Pass lifespan= or churn_rate= if you know better"
            + (", or a shorter window=." if setting == "noncontractual" else "."),
            DataWarning, stacklevel=stacklevel + 2)
        return LifespanEstimate(setting, default_days, "3-year default (" + reason.lower()
                                + ")", n_customers, n_events, float("nan"), w, True)

    if setting == "noncontractual":
        w = _as_days(window, "window")
        if len(T) == 0 or T.max() < 2 * w:
            return default(f"The log covers less than two retention windows of {w:g} days",
                           0, 0, w)
        silent = T - rec
        base = (T > w) & (silent <= 2 * w)
        kept = base & (silent <= w)
        n_base, n_kept = int(base.sum()), int(kept.sum())
        if n_base == 0 or n_kept == 0 or n_kept == n_base:
            return default(f"Of the {n_base:,} customers active in the window before last, "
                           f"{n_kept:,} bought again in the last window, so retention cannot "
                           "be measured", n_base, n_kept, w)
        r = n_kept / n_base
        return LifespanEstimate(
            setting, float(-w / np.log(r)),
            f"retention over {w:g}-day windows: {n_kept:,} of {n_base:,} customers active "
            f"in the window before last bought again in the last one ({r:.1%}); "
            "lifespan = -window / ln(retention)", n_base, n_kept, float(r), w, False)

    b = _as_days(billing_period, "billing_period")
    churned = (T - rec) > b * (1 + BILLING_GRACE)
    payments = x + 1.0
    decisions = float(payments.sum() - (~churned).sum())
    n_churned = int(churned.sum())
    if n_churned == 0 or decisions <= 0:
        return default(f"None of the {len(T):,} subscribers has stopped paying", len(T), 0, b)
    churn = n_churned / decisions
    return LifespanEstimate(
        setting, float(b / churn),
        f"churn per {b:g}-day billing period from observed ends: {n_churned:,} of "
        f"{len(T):,} subscribers stopped paying ({churn:.2%} per period); lifespan = 1 / churn",
        len(T), n_churned, float(churn), b, False)


def _median_gap_days(frequency, recency) -> float:
    """Median over repeat customers of their mean time between purchases (days)."""
    x = np.asarray(frequency, dtype=float)
    rec = np.asarray(recency, dtype=float)
    rep = x > 0
    return float(np.median(rec[rep] / x[rep])) if rep.any() else float("nan")


def _warn_short_lifespan(lifespan_days: float, gap_days: float, setting: str,
                         stacklevel: int) -> None:
    if np.isfinite(gap_days) and lifespan_days < gap_days:
        warnings.warn(
            f"The lifespan ({lifespan_days:.1f} days) is shorter than the median time "
            f"between a customer's purchases ({gap_days:.1f} days): the formula assumes "
            "customers leave before they would buy again. Check the setting (a shop is "
            f"'noncontractual'; this is {setting!r}), that the retention window covers "
            "several purchase cycles, and that the log is long enough; or pass lifespan=.",
            DataWarning, stacklevel=stacklevel + 1)


def _warn_contractual_gaps(n_gaps: int, n_customers: int, billing_days: float,
                           stacklevel: int, *, lower_bound: bool = False) -> None:
    if n_gaps:
        warnings.warn(
            f"{'At least ' if lower_bound else ''}{n_gaps:,} of {n_customers:,} subscribers "
            f"have a gap between payments longer than one billing period ({billing_days:g} "
            "days + 10%). In the contractual setting payments should be regular: check the "
            "billing_period, whether these are paused or re-activated subscriptions, or use "
            "setting='noncontractual'.", DataWarning, stacklevel=stacklevel + 1)


def _customer_arrays(days: pd.DataFrame, cid: str, dt: str, end) -> tuple:
    """``(frequency, recency, T, longest gap)`` per customer of purchase days, in days."""
    g = days.groupby(cid, sort=False)[dt]
    first, last, n = g.min(), g.max(), g.size()
    gaps = days[dt].diff().where(days[cid].eq(days[cid].shift()))
    longest = gaps.groupby(days[cid], sort=False).max().reindex(first.index)
    one_day = pd.Timedelta(days=1)
    return ((n - 1).to_numpy(dtype=float), ((last - first) / one_day).to_numpy(dtype=float),
            ((end - first) / one_day).to_numpy(dtype=float),
            (longest / one_day).to_numpy(dtype=float, na_value=0.0))


@dataclass(frozen=True)
class FormulaCLV:
    """The aggregate formula CLV and the figures it is built from.

    Rates are per ``period``; ``lifespan`` is in periods. ``lifespan_source`` says
    how the lifespan was obtained and ``lifespan_customers`` on how many customers
    the estimate rests (0 when given or defaulted).
    """

    period: str
    customers: int
    orders: int
    revenue: float
    average_order_value: float
    purchase_frequency: float
    customer_value: float
    churn_rate: float
    lifespan: float
    lifespan_source: str
    margin: float
    acquisition_cost: float
    clv: float
    ltv_cac: float
    max_cost_per_click: float | None
    setting: str = "noncontractual"
    lifespan_customers: int = 0

    @classmethod
    def from_values(
        cls,
        average_order_value: float,
        purchase_frequency: float,
        lifespan: float,
        *,
        margin: float = 1.0,
        acquisition_cost: float = 0.0,
        conversion_rate: float | None = None,
        period: str = "Y",
        customers: int = 0,
        orders: int = 0,
        revenue: float = 0.0,
        lifespan_source: str = "given",
        setting: str = "noncontractual",
        lifespan_customers: int = 0,
    ) -> "FormulaCLV":
        """Apply the formula to figures the user already has."""
        if lifespan <= 0:
            raise ValueError(f"lifespan must be positive, got {lifespan}.")
        customer_value = average_order_value * purchase_frequency
        clv = customer_value * lifespan * margin - acquisition_cost
        return cls(
            period=normalize_unit(period), customers=customers, orders=orders,
            revenue=revenue, average_order_value=average_order_value,
            purchase_frequency=purchase_frequency, customer_value=customer_value,
            churn_rate=1.0 / lifespan, lifespan=lifespan, lifespan_source=lifespan_source,
            margin=margin, acquisition_cost=acquisition_cost, clv=clv,
            ltv_cac=clv / acquisition_cost if acquisition_cost > 0 else float("inf"),
            max_cost_per_click=clv * conversion_rate if conversion_rate is not None else None,
            setting=check_setting(setting), lifespan_customers=lifespan_customers,
        )

    def to_series(self) -> pd.Series:
        return pd.Series(asdict(self), name="formula_clv")


def formula_clv(
    transactions,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str,
    *,
    period: str = "Y",
    margin: float = 1.0,
    acquisition_cost: float = 0.0,
    lifespan: float | None = None,
    churn_rate: float | None = None,
    conversion_rate: float | None = None,
    setting: str = "noncontractual",
    window="Y",
    billing_period="M",
    observation_period_end=None,
    **summary_kwargs,
) -> FormulaCLV:
    """The aggregate formula CLV of a transaction log.

    Orders are purchase days (same-day purchases merged, as in :func:`rfm_summary`);
    purchase frequency is orders per customer per ``period``, over the observed span.
    The lifespan (in ``period`` units) is, in order of preference: ``lifespan``;
    ``1 / churn_rate`` (``churn_rate`` per ``period``); otherwise estimated by
    :func:`estimate_lifespan` in the given ``setting`` (``"noncontractual"``:
    retention over a ``window``, default a year; ``"contractual"``: churn per
    ``billing_period`` from the subscribers whose payments stopped), with the
    3-year default and a warning when the log is too short. The same estimator
    serves :class:`BaselineModel`, so both give the same lifespan on the same data.

    Warns (:class:`~clvmodels.exceptions.DataWarning`) when the lifespan is
    shorter than the median time between a customer's purchases, when the CLV is
    negative, and (contractual) when subscribers have gaps between payments longer
    than a billing period.

    Examples
    --------
    >>> import warnings
    >>> from clvmodels.datasets import load_cdnow
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")  # 18 months: the 3-year default
    ...     f = formula_clv(load_cdnow("sample"), "customer_id", "date", "amount",
    ...                     margin=0.3, acquisition_cost=10.0)
    >>> round(f.average_order_value, 2), f.lifespan
    (36.45, 3.0)
    """
    period = normalize_unit(period)
    setting = check_setting(setting)
    days = purchase_days(transactions, customer_id_col, datetime_col, monetary_value_col,
                         observation_period_end, **summary_kwargs)
    customers = int(days[customer_id_col].nunique())
    orders = len(days)
    revenue = float(days["amount"].sum())
    observed = days[datetime_col].max() - days.groupby(customer_id_col)[datetime_col].min().min()
    span = max(observed / pd.Timedelta(days=1), 1.0) / unit_days(period)
    purchase_frequency = orders / customers / span
    end = (pd.Timestamp(observation_period_end) if observation_period_end is not None
           else days[datetime_col].max())
    freq, rec, T, longest = _customer_arrays(days, customer_id_col, datetime_col, end)
    source, n_used = "given", 0
    if lifespan is None and churn_rate is not None:
        lifespan, source = 1.0 / churn_rate, "1 / churn_rate"
    if setting == "contractual":
        b = _as_days(billing_period, "billing_period")
        _warn_contractual_gaps(int((longest > b * (1 + BILLING_GRACE)).sum()), customers, b, 2)
    if lifespan is None:
        est = estimate_lifespan(freq, rec, T, setting=setting, window=window,
                                billing_period=billing_period, stacklevel=2)
        lifespan, source, n_used = est.lifespan_in(period), est.source, est.n_customers
    _warn_short_lifespan(lifespan * unit_days(period), _median_gap_days(freq, rec), setting, 2)
    result = FormulaCLV.from_values(
        revenue / orders, purchase_frequency, lifespan, margin=margin,
        acquisition_cost=acquisition_cost, conversion_rate=conversion_rate, period=period,
        customers=customers, orders=orders, revenue=revenue, lifespan_source=source,
        setting=setting, lifespan_customers=n_used,
    )
    if result.clv < 0:
        warnings.warn(
            f"The formula CLV is negative ({result.clv:.2f}): the margin earned over the "
            f"lifespan ({result.customer_value * result.lifespan * margin:.2f}) does not cover "
            f"the acquisition cost ({acquisition_cost:g}). Check that margin is a fraction "
            "(0.3, not 30), that acquisition_cost is per customer, and the lifespan "
            f"({result.lifespan:.3g} {period}: {source}).", DataWarning, stacklevel=2)
    return result


# ---------------------------------------------------------------------------
# Per customer


class BaselineModel(BaseModel):
    """The formula CLV applied to each customer, in the shape of the other models.

    Each customer buys at their past repeat rate ``frequency / T`` and spends their
    past average (the population average for customers with no repeat purchase),
    while the customer base churns at a constant rate: a customer is still active
    after time ``u`` with probability ``exp(-u / lifespan)``. Hence

    ``E[purchases in (0, t]] = rate x lifespan x (1 - exp(-t / lifespan))``,

    which tends to the formula's ``rate x lifespan`` as ``t`` grows.

    Parameters
    ----------
    lifespan
        Expected customer lifespan in ``lifespan_unit``. Overrides ``churn_rate``.
    churn_rate
        Churn per ``lifespan_unit``; lifespan = 1 / churn.
    lifespan_unit
        Unit of ``lifespan`` and ``churn_rate`` (default years).
    setting
        When neither is given, the lifespan is estimated from the summary by
        :func:`estimate_lifespan` (the estimator of :func:`formula_clv`, which
        gives the same lifespan on the same data): ``"noncontractual"`` (default,
        retention over ``window``) or ``"contractual"`` (churn per
        ``billing_period`` from the observed ends of payments).
    window, billing_period
        A time unit (``"M"``, ``"Y"``) or a number of days; see
        :func:`estimate_lifespan`.

    Attributes
    ----------
    lifespan_ : float
        In the summary's time unit (``time_unit_``).
    lifespan_source_ : str
        Which estimate was used.
    lifespan_estimate_ : LifespanEstimate or None
        The estimate (customers it rests on, retention or churn), None when given.
    """

    def __init__(self, lifespan: float | None = None, churn_rate: float | None = None,
                 lifespan_unit: str = "Y", setting: str = "noncontractual", window="Y",
                 billing_period="M") -> None:
        self.lifespan = lifespan
        self.churn_rate = churn_rate
        self.lifespan_unit = lifespan_unit
        self.setting = setting
        self.window = window
        self.billing_period = billing_period

    def fit(self, summary: pd.DataFrame, time_unit: str | None = None) -> "BaselineModel":
        """Estimate the population lifespan and average spend from a summary."""
        check_setting(self.setting)
        has_money = "monetary_value" in summary.columns
        check_summary(summary, ("frequency", "recency", "T")
                      + (("monetary_value",) if has_money else ()))
        self.time_unit_ = normalize_unit(time_unit or summary_time_unit(summary))
        day = unit_days(self.time_unit_)
        to_model = unit_days(self.lifespan_unit) / day
        freq = summary["frequency"].to_numpy(dtype=float)
        rec = summary["recency"].to_numpy(dtype=float)
        T = summary["T"].to_numpy(dtype=float)
        estimate = None
        if self.lifespan is not None:
            lifespan, source = self.lifespan * to_model, "given"
        elif self.churn_rate is not None:
            lifespan, source = to_model / self.churn_rate, "1 / churn_rate"
        else:
            if self.setting == "contractual":
                b = _as_days(self.billing_period, "billing_period")
                # The summary keeps only the mean gap: a mean above the period means a gap.
                mean_gap = np.divide(rec * day, freq, out=np.zeros(len(freq)), where=freq > 0)
                _warn_contractual_gaps(int((mean_gap > b * (1 + BILLING_GRACE)).sum()),
                                       len(freq), b, 2, lower_bound=True)
            estimate = estimate_lifespan(freq, rec * day, T * day, setting=self.setting,
                                         window=self.window, billing_period=self.billing_period,
                                         stacklevel=2)
            lifespan, source = estimate.lifespan_days / day, estimate.source
        _warn_short_lifespan(lifespan * day, _median_gap_days(freq, rec * day), self.setting, 2)
        self.lifespan_ = float(lifespan)
        self.lifespan_source_ = source
        self.lifespan_estimate_ = estimate
        repeaters = freq > 0
        if has_money:
            money = summary["monetary_value"].to_numpy(dtype=float)
            self.mean_spend_ = float(money[repeaters].mean()) if repeaters.any() else 0.0
        else:
            self.mean_spend_ = 1.0
        self.params_ = pd.Series({"lifespan": self.lifespan_, "mean_spend": self.mean_spend_})
        self.n_customers_ = len(summary)
        return self

    # -- predictions -------------------------------------------------------

    def _rate(self, summary: pd.DataFrame) -> np.ndarray:
        freq = summary["frequency"].to_numpy(dtype=float)
        T = summary["T"].to_numpy(dtype=float)
        return np.divide(freq, T, out=np.zeros(len(freq)), where=T > 0)

    def expected_purchases(self, summary: pd.DataFrame, t: float) -> pd.Series:
        """Expected purchases of each customer in the next ``t`` time units."""
        self._check_fitted()
        check_summary(summary, ("frequency", "recency", "T"))
        L = self.lifespan_
        value = self._rate(summary) * L * -np.expm1(-np.asarray(t, dtype=float) / L)
        return pd.Series(value, index=summary.index, name="expected_purchases")

    def probability_alive(self, summary: pd.DataFrame) -> pd.Series:
        """Chance each customer is still active: ``exp(-(T - recency) / lifespan)``."""
        self._check_fitted()
        check_summary(summary, ("frequency", "recency", "T"))
        silent = (summary["T"] - summary["recency"]).to_numpy(dtype=float)
        return pd.Series(np.exp(-silent / self.lifespan_), index=summary.index,
                         name="probability_alive")

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        """Each customer's past average spend; the population's for new customers."""
        self._check_fitted()
        check_summary(summary, ("frequency", "monetary_value"))
        money = summary["monetary_value"].to_numpy(dtype=float)
        repeat = summary["frequency"].to_numpy() > 0
        return pd.Series(np.where(repeat, money, self.mean_spend_), index=summary.index,
                         name="expected_spend")

    def customer_lifetime_value(self, summary: pd.DataFrame, *, margin: float = 1.0,
                                acquisition_cost: float = 0.0) -> pd.Series:
        """The formula per customer: spend x rate x lifespan x margin - acquisition cost."""
        self._check_fitted()
        check_summary(summary, ("frequency", "recency", "T", "monetary_value"))
        value = (self.expected_spend(summary).to_numpy() * self._rate(summary)
                 * self.lifespan_ * margin - acquisition_cost)
        return pd.Series(value, index=summary.index, name="clv")


# ---------------------------------------------------------------------------
# Segments and cohorts


def rfm_segments(summary: pd.DataFrame, bins: int = 3, labels=None) -> pd.DataFrame:
    """Score customers 1..``bins`` on recency, frequency and monetary value.

    A score is one plus the number of the value's quantiles (at 1/bins, 2/bins,
    ...) that the value exceeds, so tied customers share a score and a higher score
    is better. R is scored on the time since the last purchase, ``T - recency``
    (shorter is better). The segment is the mean of the three scores, rounded: with
    3 bins the labels are ``low`` (total 3-4), ``middle`` (5-7) and ``top`` (8-9).

    Returns
    -------
    pandas.DataFrame
        ``r_score, f_score, m_score, rfm_score`` (the total) and ``segment``, indexed
        like ``summary``.
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, got {bins}.")
    columns = ("frequency", "recency", "T", "monetary_value")
    check_summary(summary, columns)
    if labels is None:
        labels = ["low", "middle", "top"] if bins == 3 else [str(i) for i in range(1, bins + 1)]
    if len(labels) != bins:
        raise ValueError(f"labels must have {bins} entries, got {len(labels)}.")
    levels = np.arange(1, bins) / bins

    def score(values: pd.Series) -> np.ndarray:
        v = values.to_numpy(dtype=float)
        edges = np.quantile(v, levels)
        return 1 + (v[:, None] > edges[None, :]).sum(axis=1)

    r = score(-(summary["T"] - summary["recency"]))
    f = score(summary["frequency"])
    m = score(summary["monetary_value"])
    total = r + f + m
    # The mean score rounded (never a tie: total / 3 is never an odd half).
    segment = np.asarray(labels, dtype=object)[np.rint(total / 3).astype(int) - 1]
    return pd.DataFrame({"r_score": r, "f_score": f, "m_score": m, "rfm_score": total,
                         "segment": segment}, index=summary.index)


@dataclass(frozen=True)
class CohortRetention:
    """Cohort retention: the share of each cohort still active in each later period.

    ``table`` has one row per cohort (the period of the first purchase) and one
    column per periods-since-first-purchase (0, 1, ...); only complete periods are
    shown, later ones are NaN. Non-contractual: the share of the cohort that buys
    in that period (a heat map of repeat buying, not a survival curve: a customer
    who skips a period is not lost). Contractual: the share still subscribed, a
    subscriber being active from the first payment to the last and, if they have
    not churned (see :func:`estimate_lifespan`), up to the end of observation.

    ``lifespan`` (in periods) and ``churn_rate = 1 / lifespan`` (per period) come
    from :func:`estimate_lifespan` in the ``setting``: never from "no purchase next
    period". ``lifespan_source`` says which estimate was used and
    ``lifespan_customers`` on how many customers it rests.
    """

    period: str
    table: pd.DataFrame
    cohort_sizes: pd.Series
    churn_rate: float
    lifespan: float = float("nan")
    lifespan_source: str = ""
    lifespan_customers: int = 0
    setting: str = "noncontractual"


def cohort_retention(
    transactions,
    customer_id_col: str,
    datetime_col: str,
    period: str = "M",
    *,
    setting: str = "noncontractual",
    window="Y",
    billing_period="M",
    observation_period_end=None,
    **summary_kwargs,
) -> CohortRetention:
    """Build the cohort x period retention table and the churn rate per ``period``.

    ``setting``, ``window`` and ``billing_period`` are those of
    :func:`estimate_lifespan` (the lifespan estimate :func:`formula_clv` uses).
    """
    setting = check_setting(setting)
    days = purchase_days(transactions, customer_id_col, datetime_col,
                         observation_period_end=observation_period_end, **summary_kwargs)
    end = (pd.Timestamp(observation_period_end) if observation_period_end is not None
           else days[datetime_col].max())
    freq, rec, T, longest = _customer_arrays(days, customer_id_col, datetime_col, end)
    if setting == "contractual":
        b = _as_days(billing_period, "billing_period")
        _warn_contractual_gaps(int((longest > b * (1 + BILLING_GRACE)).sum()), len(T), b, 2)
    est = estimate_lifespan(freq, rec, T, setting=setting, window=window,
                            billing_period=billing_period, stacklevel=2)
    churned = (T - rec) > est.window_days * (1 + BILLING_GRACE)
    return _retention_from_days(days, customer_id_col, datetime_col, period, est,
                                churned if setting == "contractual" else None)


def _retention_from_days(days: pd.DataFrame, cid: str, dt: str, period: str,
                         est: LifespanEstimate, churned=None) -> CohortRetention:
    period = normalize_unit(period)
    if period == "h":
        raise ValueError("cohort_retention works in days, weeks, months or years, not hours.")
    freq = {"D": "D", "W": "W", "M": "M", "Y": "Y"}[period]
    end = days[dt].max()
    last_complete = pd.Period(end, freq)
    if (end + pd.Timedelta(days=1)).to_period(freq) == last_complete:
        last_complete = last_complete - 1  # the last period is not over yet
    codes, _ = pd.factorize(days[cid])
    ordinal = days[dt].dt.to_period(freq).array.asi8  # period numbers
    active = pd.DataFrame({"id": codes, "p": ordinal}).drop_duplicates()
    if churned is not None:
        # Subscribed from the first payment to the last; to the end if still paying.
        g = active.groupby("id")["p"]
        lo, hi = g.min(), g.max()
        hi = hi.where(~pd.Series(np.asarray(churned), index=hi.index), last_complete.ordinal)
        lengths = (np.maximum(hi - lo, -1) + 1).to_numpy()
        ids = np.repeat(lo.index.to_numpy(), lengths)
        steps = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        active = pd.DataFrame({"id": ids, "p": np.repeat(lo.to_numpy(), lengths) + steps})
    active["cohort"] = active.groupby("id")["p"].transform("min")
    active["k"] = active["p"] - active["cohort"]
    active = active[active["p"] <= last_complete.ordinal]
    if active.empty:
        raise ValueError("The log has no complete period: no retention to measure.")
    counts = active.groupby(["cohort", "k"]).size().unstack(fill_value=0)
    sizes = counts[0]
    table = counts.div(sizes, axis=0).astype(float)
    # Periods a cohort has not yet lived through completely are unknown, not zero.
    lived = last_complete.ordinal - table.index.to_numpy()
    table = table.where(table.columns.to_numpy()[None, :] <= lived[:, None])
    table.index = pd.PeriodIndex.from_ordinals(table.index, freq=freq)
    table.index.name, table.columns.name = "cohort", "periods_since_first_purchase"
    sizes.index = table.index
    lifespan = est.lifespan_in(period)
    return CohortRetention(period=period, table=table, cohort_sizes=sizes,
                           churn_rate=float(1.0 / lifespan), lifespan=float(lifespan),
                           lifespan_source=est.source, lifespan_customers=est.n_customers,
                           setting=est.setting)
