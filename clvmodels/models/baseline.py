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
from ..exceptions import DataWarning
from ..units import normalize_unit, unit_days
from .base import BaseModel, summary_time_unit

__all__ = [
    "BaselineModel",
    "CohortRetention",
    "FormulaCLV",
    "cohort_retention",
    "formula_clv",
    "rfm_segments",
]

#: Lifespan assumed when the history is too short to estimate churn, in years.
DEFAULT_LIFESPAN_YEARS = 3.0


@dataclass(frozen=True)
class FormulaCLV:
    """The aggregate formula CLV and the figures it is built from.

    Rates are per ``period``; ``lifespan`` is in periods.
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
    observation_period_end=None,
    **summary_kwargs,
) -> FormulaCLV:
    """The aggregate formula CLV of a transaction log.

    Orders are purchase days (same-day purchases merged, as in :func:`rfm_summary`);
    purchase frequency is orders per customer per ``period``, over the observed span.
    The lifespan (in ``period`` units) is, in order of preference: ``lifespan``;
    ``1 / churn_rate`` (``churn_rate`` per ``period``); ``1 / churn`` with the
    churn estimated by :func:`cohort_retention` (monthly, converted to ``period``)
    when the log covers at least a year; otherwise a 3-year default with a warning.

    Examples
    --------
    >>> from clvmodels.datasets import load_cdnow
    >>> f = formula_clv(load_cdnow("sample"), "customer_id", "date", "amount",
    ...                 margin=0.3, acquisition_cost=10.0)
    >>> round(f.average_order_value, 2)
    36.45
    """
    period = normalize_unit(period)
    days = purchase_days(transactions, customer_id_col, datetime_col, monetary_value_col,
                         observation_period_end, **summary_kwargs)
    customers = int(days[customer_id_col].nunique())
    orders = len(days)
    revenue = float(days["amount"].sum())
    observed = days[datetime_col].max() - days.groupby(customer_id_col)[datetime_col].min().min()
    span = max(observed / pd.Timedelta(days=1), 1.0) / unit_days(period)
    purchase_frequency = orders / customers / span
    source = "given"
    if lifespan is None and churn_rate is not None:
        lifespan, source = 1.0 / churn_rate, "1 / churn_rate"
    if lifespan is None:
        if span * unit_days(period) >= 365.25:
            retention = _retention_from_days(days, customer_id_col, datetime_col, "M")
            lifespan_months = 1.0 / retention.churn_rate
            lifespan = lifespan_months * unit_days("M") / unit_days(period)
            source = "1 / monthly churn from cohort retention"
        else:
            lifespan = DEFAULT_LIFESPAN_YEARS * unit_days("Y") / unit_days(period)
            source = "3-year default (less than a year of history)"
            warnings.warn(
                "The log covers less than a year, too little to estimate churn: the "
                "lifespan defaults to 3 years. Pass lifespan= or churn_rate= to override.",
                DataWarning, stacklevel=2,
            )
    return FormulaCLV.from_values(
        revenue / orders, purchase_frequency, lifespan, margin=margin,
        acquisition_cost=acquisition_cost, conversion_rate=conversion_rate, period=period,
        customers=customers, orders=orders, revenue=revenue, lifespan_source=source,
    )


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
    inactive_after
        When neither is given, churn is estimated from the summary as churned
        customers per unit of observed customer time, a customer counting as
        churned when silent for longer than ``inactive_after`` (in the summary's
        unit). ``"auto"`` uses the 90th percentile of the customers' mean
        inter-purchase times. With less than a year of history the lifespan is
        3 years.
    """

    def __init__(self, lifespan: float | None = None, churn_rate: float | None = None,
                 lifespan_unit: str = "Y", inactive_after: float | str = "auto") -> None:
        self.lifespan = lifespan
        self.churn_rate = churn_rate
        self.lifespan_unit = lifespan_unit
        self.inactive_after = inactive_after

    def fit(self, summary: pd.DataFrame, time_unit: str | None = None) -> "BaselineModel":
        """Estimate the population lifespan and average spend from a summary."""
        has_money = "monetary_value" in summary.columns
        check_summary(summary, ("frequency", "recency", "T")
                      + (("monetary_value",) if has_money else ()))
        self.time_unit_ = normalize_unit(time_unit or summary_time_unit(summary))
        to_model = unit_days(self.lifespan_unit) / unit_days(self.time_unit_)
        freq = summary["frequency"].to_numpy(dtype=float)
        rec = summary["recency"].to_numpy(dtype=float)
        T = summary["T"].to_numpy(dtype=float)
        if self.lifespan is not None:
            lifespan, source = self.lifespan * to_model, "given"
        elif self.churn_rate is not None:
            lifespan, source = to_model / self.churn_rate, "1 / churn_rate"
        elif T.max() * unit_days(self.time_unit_) < 365.25:
            lifespan = DEFAULT_LIFESPAN_YEARS * unit_days("Y") / unit_days(self.time_unit_)
            source = "3-year default (less than a year of history)"
        else:
            lifespan, source = self._estimate_lifespan(freq, rec, T)
        self.lifespan_ = float(lifespan)
        self.lifespan_source_ = source
        repeaters = freq > 0
        if has_money:
            money = summary["monetary_value"].to_numpy(dtype=float)
            self.mean_spend_ = float(money[repeaters].mean()) if repeaters.any() else 0.0
        else:
            self.mean_spend_ = 1.0
        self.params_ = pd.Series({"lifespan": self.lifespan_, "mean_spend": self.mean_spend_})
        self.n_customers_ = len(summary)
        return self

    def _estimate_lifespan(self, freq, rec, T) -> tuple[float, str]:
        repeaters = freq > 0
        if self.inactive_after == "auto":
            if not repeaters.any():
                raise ValueError(
                    "No customer has a repeat purchase, so churn cannot be estimated: "
                    "pass lifespan= or churn_rate=.")
            threshold = float(np.quantile(rec[repeaters] / freq[repeaters], 0.9))
        else:
            threshold = float(self.inactive_after)
        churned = (T - rec) > threshold
        # Exposure: a churned customer was alive until their last purchase.
        exposure = np.where(churned, rec, T).sum()
        if churned.sum() == 0 or exposure <= 0:
            raise ValueError(
                "No customer has been silent long enough to count as churned: pass "
                "lifespan= or churn_rate=, or a smaller inactive_after.")
        return float(exposure / churned.sum()), (
            f"churned customers per unit of exposure (silent > {threshold:.3g} "
            f"{self.time_unit_})")

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
    """Cohort retention: the share of each cohort that buys in each later period.

    ``table`` has one row per cohort (the period of the first purchase) and one
    column per periods-since-first-purchase (0, 1, ...); only complete periods are
    shown. ``churn_rate`` is the mean period-to-period churn, ``1 - (customers
    active in both periods k and k+1) / (customers active in period k)``, pooled
    over cohorts and periods, so ``1 / churn_rate`` is the lifespan in periods.
    """

    period: str
    table: pd.DataFrame
    cohort_sizes: pd.Series
    churn_rate: float


def cohort_retention(
    transactions,
    customer_id_col: str,
    datetime_col: str,
    period: str = "M",
    *,
    observation_period_end=None,
    **summary_kwargs,
) -> CohortRetention:
    """Build the cohort x period retention table and the churn rate."""
    days = purchase_days(transactions, customer_id_col, datetime_col,
                         observation_period_end=observation_period_end, **summary_kwargs)
    return _retention_from_days(days, customer_id_col, datetime_col, period)


def _retention_from_days(days: pd.DataFrame, cid: str, dt: str, period: str) -> CohortRetention:
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

    # Pooled period-to-period churn over (customer active in p) -> (active in p + 1).
    within = active[active["p"] < last_complete.ordinal]
    if within.empty:
        raise ValueError("The log spans less than two complete periods: no churn to measure.")
    n = int(active["p"].max() - active["p"].min() + 2)
    key = active["id"].to_numpy() * n + (active["p"] - active["p"].min()).to_numpy()
    nxt = within["id"].to_numpy() * n + (within["p"] - active["p"].min()).to_numpy() + 1
    stayed = np.isin(nxt, key)
    return CohortRetention(period=period, table=table, cohort_sizes=sizes,
                           churn_rate=float(1.0 - stayed.mean()))
