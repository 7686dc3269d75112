"""Retention and churn KPIs of a transaction log, per calendar period.

The dashboard the business literature starts from: for each period (month by
default) the active customers, the new ones, how many of last period's active
customers came back (retention) and the order and revenue figures.
:func:`kpis` works on the validated purchase days of
:func:`clvmodels.purchase_days` (same-day purchases merged, as in the RFM
summary), so its orders are the summary's purchase days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .data import purchase_days
from .units import normalize_unit

__all__ = ["KPI_COLUMNS", "kpis"]

#: The columns of :func:`kpis`, in order.
KPI_COLUMNS = (
    "active_customers", "new_customers", "returning_customers", "retained_customers",
    "retention_rate", "churn_rate", "repeat_purchase_rate", "orders", "revenue",
    "orders_per_customer", "average_order_value", "revenue_per_customer", "complete",
)


def kpis(transactions, customer_id_col: str, datetime_col: str,
         monetary_value_col: str | None = None, period: str = "M", *,
         observation_period_end=None, **summary_kwargs) -> pd.DataFrame:
    """One row per calendar ``period`` (``"D"``, ``"W"``, ``"M"``, ``"Y"``) of the log.

    Columns
    -------
    active_customers
        Customers with at least one purchase in the period.
    new_customers
        Customers whose first purchase is in the period.
    returning_customers
        Active customers who are not new.
    retained_customers, retention_rate, churn_rate
        Of the customers active in the previous period, how many are active again in
        this one, that share, and one minus it (NaN in the first period). In a shop
        (non-contractual) this measures repeat activity from one period to the next,
        not customers lost for good: a customer who skips a month is not gone (see
        :func:`clvmodels.models.baseline.estimate_lifespan` for the lifespan).
    repeat_purchase_rate
        Share of the period's active customers who have bought on at least two
        days by the end of the period (customers no longer one-time buyers).
    orders, revenue
        Purchase days and their total amount in the period.
    orders_per_customer, average_order_value, revenue_per_customer
        ``orders / active_customers``, ``revenue / orders``,
        ``revenue / active_customers``.
    complete
        Whether the period ended before the end of observation (the last period
        is usually partial: compare it with care).

    Examples
    --------
    >>> import clvmodels
    >>> table = clvmodels.kpis(clvmodels.datasets.load_cdnow("sample"), "customer_id",
    ...                        "date", "amount", period="M")
    >>> int(table["new_customers"].sum())  # every customer is new once
    2357
    """
    period = normalize_unit(period)
    if period == "h":
        raise ValueError("kpis works in days, weeks, months or years, not hours.")
    days = purchase_days(transactions, customer_id_col, datetime_col, monetary_value_col,
                         observation_period_end, **summary_kwargs)
    codes, _ = pd.factorize(days[customer_id_col])
    p = days[datetime_col].dt.to_period(period).array.asi8
    frame = pd.DataFrame({"id": codes, "p": p, "amount": days["amount"].to_numpy(float)})
    first = frame.groupby("id")["p"].transform("min")
    # The period of each customer's second purchase day (never for one-time buyers).
    rank = frame.sort_values(["id", "p"], kind="stable").groupby("id").cumcount()
    second_of = pd.Series(np.iinfo(np.int64).max, index=np.unique(codes))
    at_two = frame.loc[rank.index[rank.to_numpy() == 1]]
    second_of[at_two["id"].to_numpy()] = at_two["p"].to_numpy()
    second = second_of.reindex(frame["id"]).to_numpy()
    periods = np.arange(p.min(), p.max() + 1)
    by_p = frame.groupby("p")
    orders = by_p.size().reindex(periods, fill_value=0)
    revenue = by_p["amount"].sum().reindex(periods, fill_value=0.0)
    active = frame.assign(first=first, second=second).drop_duplicates(["id", "p"])
    n_active = active.groupby("p").size().reindex(periods, fill_value=0)
    n_new = active[active["p"] == active["first"]].groupby("p").size().reindex(
        periods, fill_value=0)
    repeat = active[active["second"] <= active["p"]].groupby("p").size().reindex(
        periods, fill_value=0)
    span = int(p.max() - p.min() + 2)
    key = active["id"].to_numpy() * span + (active["p"].to_numpy() - p.min())
    came_back = np.isin(key - 1, key)
    retained = active[came_back].groupby("p").size().reindex(periods, fill_value=0)
    previous = n_active.shift(1)
    end = (pd.Timestamp(observation_period_end) if observation_period_end is not None
           else days[datetime_col].max())
    index = pd.PeriodIndex.from_ordinals(periods, freq=period)
    with np.errstate(divide="ignore", invalid="ignore"):
        retention = (retained / previous).where(previous > 0)
        table = pd.DataFrame({
            "active_customers": n_active.to_numpy(),
            "new_customers": n_new.to_numpy(),
            "returning_customers": (n_active - n_new).to_numpy(),
            "retained_customers": retained.to_numpy(),
            "retention_rate": retention.to_numpy(dtype=float),
            "churn_rate": 1.0 - retention.to_numpy(dtype=float),
            "repeat_purchase_rate": (repeat / n_active).to_numpy(dtype=float),
            "orders": orders.to_numpy(),
            "revenue": revenue.to_numpy(dtype=float),
            "orders_per_customer": (orders / n_active).to_numpy(dtype=float),
            "average_order_value": (revenue / orders).to_numpy(dtype=float),
            "revenue_per_customer": (revenue / n_active).to_numpy(dtype=float),
            "complete": index.end_time < end,
        }, index=index)
    table.index.name = "period"
    return table
