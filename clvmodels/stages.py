"""Lifecycle stages: every customer labelled ``new``, ``active``, ``at_risk`` or
``lapsed`` (``churned`` in the contractual setting) at a date.

Rules (documented parameters, all durations compared in days):

* **new**: the first purchase is at most ``new_within`` before the date (default
  90 days), whatever happened since.
* **non-contractual, by the customer's own rhythm** (no model): a customer's
  typical gap is their mean time between purchases, ``recency / frequency``
  (customers with one purchase get the median gap of the repeat customers). With
  ``silence = T - recency`` (time since the last purchase): ``active`` while the
  silence is at most ``at_risk_after`` typical gaps (default 1.5), ``at_risk`` up
  to ``lapsed_after`` gaps (default 3), ``lapsed`` beyond. A customer who buys
  every week is at risk after 11 silent days, one who buys twice a year after 9
  months.
* **non-contractual, with a fitted model** (``model=`` with
  ``probability_alive``, e.g. BG/NBD): ``active`` when P(alive) is at least
  ``alive_threshold`` (default 0.7), ``at_risk`` when at least
  ``lapsed_threshold`` (default 0.3), ``lapsed`` below.
* **contractual**: ``churned`` when the last payment is more than one
  ``billing_period`` (+10% grace, as in
  :func:`clvmodels.models.baseline.estimate_lifespan`) before the date, else
  ``active`` (or ``new``): a subscription is paid or it is not, so ``at_risk`` is
  not used.

:func:`lifecycle_stages` labels the customers of an RFM summary (its
observation end is the date); :func:`stages_at` builds the summary of a log at a
date; :func:`stage_counts` and :func:`stage_migration` count them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._checks import check_summary
from .data import rfm_summary
from .models.baseline import BILLING_GRACE, _as_days, check_setting
from .models.base import summary_time_unit
from .units import unit_days

__all__ = ["STAGES", "lifecycle_stages", "stage_counts", "stage_migration", "stages_at"]

#: The stage labels, in order (``churned`` is the contractual ``lapsed``).
STAGES = ("new", "active", "at_risk", "lapsed", "churned")


def lifecycle_stages(summary: pd.DataFrame, *, setting: str = "noncontractual", model=None,
                     new_within=90.0, at_risk_after: float = 1.5, lapsed_after: float = 3.0,
                     alive_threshold: float = 0.7, lapsed_threshold: float = 0.3,
                     billing_period="M") -> pd.Series:
    """The lifecycle stage of each customer of ``summary`` at its observation end.

    Parameters
    ----------
    summary
        RFM summary (``frequency, recency, T`` in ``summary.attrs["time_unit"]``).
    setting
        ``"noncontractual"`` (default) or ``"contractual"``.
    model
        Optional fitted purchase model with ``probability_alive(summary)``: the
        non-contractual stages then follow P(alive) thresholds.
    new_within
        A customer is ``new`` when their first purchase is at most this long ago: a
        unit (``"M"``) or a number of days (default 90).
    at_risk_after, lapsed_after
        Silence, in typical gaps, after which a customer is at risk / lapsed.
    alive_threshold, lapsed_threshold
        P(alive) limits of ``active`` and ``at_risk`` when a model is given.
    billing_period
        Contractual billing period: a unit (default ``"M"``) or days.

    Returns
    -------
    Series
        Categorical with the categories of :data:`STAGES`, indexed like ``summary``
        (every customer labelled: none is dropped).
    """
    setting = check_setting(setting)
    check_summary(summary, ("frequency", "recency", "T"))
    if not 0 < at_risk_after <= lapsed_after:
        raise ValueError("Need 0 < at_risk_after <= lapsed_after, got "
                         f"{at_risk_after} and {lapsed_after}.")
    if not 0 <= lapsed_threshold <= alive_threshold <= 1:
        raise ValueError("Need 0 <= lapsed_threshold <= alive_threshold <= 1.")
    day = unit_days(summary_time_unit(summary))
    x = summary["frequency"].to_numpy(dtype=float)
    rec = summary["recency"].to_numpy(dtype=float) * day
    T = summary["T"].to_numpy(dtype=float) * day
    silence = T - rec
    if setting == "contractual":
        b = _as_days(billing_period, "billing_period")
        label = np.where(silence > b * (1 + BILLING_GRACE), "churned", "active")
    elif model is not None:
        alive = np.asarray(model.probability_alive(summary), dtype=float).reshape(-1)
        label = np.select([alive >= alive_threshold, alive >= lapsed_threshold],
                          ["active", "at_risk"], "lapsed")
    else:
        repeat = x > 0
        gap = np.divide(rec, x, out=np.zeros(len(x)), where=repeat)
        typical = np.median(gap[repeat]) if repeat.any() else np.inf
        gap = np.where(repeat & (gap > 0), gap, typical)
        label = np.select([silence <= at_risk_after * gap, silence <= lapsed_after * gap],
                          ["active", "at_risk"], "lapsed")
    label = np.where(T <= _as_days(new_within, "new_within"), "new", label)
    return pd.Series(pd.Categorical(label, categories=list(STAGES)), index=summary.index,
                     name="stage")


def stage_counts(stages: pd.Series) -> pd.Series:
    """Customers per stage (every stage of the setting, zeros included)."""
    counts = stages.value_counts(sort=False).reindex(list(STAGES), fill_value=0)
    used = "churned" if counts["churned"] else "lapsed"
    return counts.drop([s for s in ("lapsed", "churned") if s != used]).rename("customers")


def stages_at(transactions, customer_id_col: str, datetime_col: str, date, **kwargs) -> pd.Series:
    """The stage of every customer who had bought by ``date``, from a transaction log.

    ``kwargs`` go to :func:`lifecycle_stages` (``setting``, thresholds, ``model``) or,
    for ``datetime_format`` and ``returns``, to :func:`clvmodels.rfm_summary`.
    """
    log_kw = {k: kwargs.pop(k) for k in ("datetime_format", "returns", "engine") if k in kwargs}
    frame = transactions
    if isinstance(frame, pd.DataFrame):
        when = pd.to_datetime(frame[datetime_col])
        frame = frame[when <= pd.Timestamp(date)]
    summary = rfm_summary(frame, customer_id_col, datetime_col, observation_period_end=date,
                          time_unit="D", **log_kw)
    return lifecycle_stages(summary, **kwargs)


def stage_migration(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """Migration matrix between the stages at two dates: customers by (stage before,
    stage after). Customers absent from ``before`` (acquired in between) are in the
    row ``"not yet a customer"``; nobody is left out."""
    prior = before.reindex(after.index).astype(object).fillna("not yet a customer")
    rows = [s for s in (*STAGES, "not yet a customer") if (prior == s).any()]
    cols = [s for s in STAGES if (after == s).any()]
    table = pd.crosstab(prior.rename("before"), after.astype(object).rename("after"))
    return table.reindex(index=rows, columns=cols, fill_value=0)
