"""The report's "Customer base" section: KPIs, cohort retention, stages, formula inputs.

A :class:`~clvmodels.backtest.BacktestResult` holds summaries, not the
transaction log, so the section has two sources:

* :func:`customer_base` on the log (KPIs per period, the cohort retention heat
  map, the formula CLV and its inputs, stages at the log's end and their
  migration from an earlier date), passed to
  :func:`~clvmodels.report.write_report` as ``customer_base=``;
* otherwise :func:`customer_base_from_result`: the stages of the customers of the
  last calibration summary and the baseline's lifespan, if the backtest fitted
  one; the section says what passing the log would add.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from ..kpis import kpis as _kpis
from ..models.baseline import CohortRetention, FormulaCLV, cohort_retention, formula_clv
from ..stages import lifecycle_stages, stage_counts, stage_migration, stages_at

__all__ = ["CustomerBase", "customer_base", "customer_base_from_result",
           "customer_base_section", "cohort_heatmap"]

#: The rule of thumb: a customer should be worth at least three times their cost.
LTV_CAC_TARGET = 3.0


@dataclass
class CustomerBase:
    """What the "Customer base" section shows (any part may be missing)."""

    kpis: pd.DataFrame | None = None
    retention: CohortRetention | None = None
    formula: FormulaCLV | None = None
    stages: pd.Series | None = None
    migration: pd.DataFrame | None = None
    stage_dates: tuple | None = None
    note: str = ""


def customer_base(transactions, customer_id_col: str, datetime_col: str,
                  monetary_value_col: str, *, period: str = "M", setting: str = "noncontractual",
                  window="Y", billing_period="M", margin: float = 1.0,
                  acquisition_cost: float = 0.0, conversion_rate: float | None = None,
                  migration_from=None, **log_kwargs) -> CustomerBase:
    """Everything the section shows, from a transaction log.

    ``migration_from``: the earlier date of the stage migration (default: one
    ``window`` (a year) before the end of the log, or its middle if shorter).
    The formula CLV is computed with yearly rates.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = _kpis(transactions, customer_id_col, datetime_col, monetary_value_col, period,
                      **log_kwargs)
        retention = cohort_retention(transactions, customer_id_col, datetime_col, period,
                                     setting=setting, window=window,
                                     billing_period=billing_period, **log_kwargs)
        formula = formula_clv(transactions, customer_id_col, datetime_col, monetary_value_col,
                              margin=margin, acquisition_cost=acquisition_cost,
                              conversion_rate=conversion_rate, setting=setting, window=window,
                              billing_period=billing_period, **log_kwargs)
        dates = pd.to_datetime(transactions[datetime_col]) if isinstance(
            transactions, pd.DataFrame) else None
        stages = migration = stage_dates = None
        if dates is not None:
            end, start = dates.max(), dates.min()
            before = (pd.Timestamp(migration_from) if migration_from is not None
                      else max(end - pd.Timedelta(days=365.25), start + (end - start) / 2))
            stage_kw = {"setting": setting, "billing_period": billing_period}
            stages = stages_at(transactions, customer_id_col, datetime_col, end, **stage_kw)
            earlier = stages_at(transactions, customer_id_col, datetime_col, before, **stage_kw)
            migration = stage_migration(earlier, stages)
            stage_dates = (before, end)
    note = " ".join(dict.fromkeys(str(w.message) for w in caught))
    return CustomerBase(table, retention, formula, stages, migration, stage_dates, note)


def customer_base_from_result(result) -> CustomerBase:
    """What the section can show from a backtest result alone: the stages of the
    last cutoff's customers and the baseline's lifespan."""
    if not result.summaries:
        return CustomerBase(note="The result holds no summary.")
    cutoff = max(result.summaries)
    summary = result.summaries[cutoff]
    stages = lifecycle_stages(summary)
    note = ""
    for (name, cut), fitted in result.fitted.items():
        model = getattr(fitted, "transaction_model_", fitted)
        if cut == cutoff and hasattr(model, "lifespan_source_"):
            note = (f"Baseline {name!r}: lifespan {model.lifespan_:.3g} "
                    f"{result.time_unit} ({model.lifespan_source_}).")
            break
    return CustomerBase(stages=stages, stage_dates=(None, cutoff), note=note)


def cohort_heatmap(retention: CohortRetention):
    """A heat map of the cohort retention table (a matplotlib Figure)."""
    from .plots import FIGURE_WIDTH, _figure

    table = retention.table
    height = min(2.0 + 0.28 * len(table), 9.0)
    fig = _figure(FIGURE_WIDTH, height)
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(table.to_numpy(dtype=float)), aspect="auto",
                      cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(range(len(table)), [str(p) for p in table.index])
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_xlabel(f"{retention.period} since the first purchase")
    ax.set_ylabel("cohort")
    fig.colorbar(image, ax=ax, label="share of the cohort active")
    return fig


def _e(value) -> str:
    return escape(str(value), quote=True)


def _frame_html(frame: pd.DataFrame, formats: dict | None = None) -> str:
    formats = formats or {}
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in [frame.index.name or "", *frame])
    rows = []
    for idx, row in frame.iterrows():
        cells = []
        for col, value in row.items():
            fmt = formats.get(col)
            if isinstance(value, (float, np.floating)) and np.isnan(value):
                text = "\u2014"
            elif fmt:
                text = fmt.format(value)
            elif isinstance(value, (int, np.integer)):
                text = f"{value:,}"
            else:
                text = str(value)
            cells.append(f'<td class="num">{_e(text)}</td>')
        rows.append(f'<tr><th scope="row">{_e(idx)}</th>{"".join(cells)}</tr>')
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
            f'{"".join(rows)}</tbody></table></div>')


def _formula_html(f: FormulaCLV) -> str:
    ratio = f.ltv_cac
    verdict = ("no acquisition cost given" if not np.isfinite(ratio) else
               f"{ratio:.1f}:1, {'above' if ratio >= LTV_CAC_TARGET else 'below'} the 3:1 "
               "rule of thumb")
    rows = [
        ("Average order value", f"{f.average_order_value:,.2f}"),
        (f"Purchase frequency (orders per customer per {f.period})",
         f"{f.purchase_frequency:,.3f}"),
        (f"Customer value per {f.period}", f"{f.customer_value:,.2f}"),
        (f"Lifespan ({f.period})", f"{f.lifespan:,.3g}"),
        ("How the lifespan was estimated", f"{f.lifespan_source} [{f.setting}; "
                                           f"{f.lifespan_customers:,} customers]"),
        ("Margin", f"{f.margin:g}"),
        ("Acquisition cost", f"{f.acquisition_cost:,.2f}"),
        ("CLV", f"{f.clv:,.2f}"),
        ("LTV:CAC", verdict),
        ("Largest affordable cost per click",
         "pass conversion_rate" if f.max_cost_per_click is None
         else f"{f.max_cost_per_click:,.2f}"),
    ]
    body = "".join(f'<tr><th scope="row">{_e(k)}</th><td>{_e(v)}</td></tr>' for k, v in rows)
    return f'<div class="scroll"><table><tbody>{body}</tbody></table></div>'


def customer_base_section(base: CustomerBase) -> str:
    """The section's HTML (``<section id="customer-base">``)."""
    out = ['<section id="customer-base"><h2>Customer base</h2>']
    if base.kpis is None:
        out.append('<p class="note">KPIs per period, the cohort heat map and the formula '
                   "inputs need the transaction log: pass "
                   "<code>customer_base=customer_base(log, ...)</code> (from "
                   "<code>clvmodels.report.customer_base</code>) to "
                   "<code>write_report</code>.</p>")
    else:
        out.append("<h3>KPIs per period</h3><p>Retention is the share of the previous "
                   "period's active customers who bought again; in a shop a customer who "
                   "skips a period is not lost, so it is not the lifespan.</p>")
        shown = base.kpis.drop(columns=["complete"]).copy()
        shown.index = shown.index.astype(str)
        pct = "{:.1%}"
        out.append(_frame_html(shown, {
            "retention_rate": pct, "churn_rate": pct, "repeat_purchase_rate": pct,
            "revenue": "{:,.0f}", "orders_per_customer": "{:.2f}",
            "average_order_value": "{:,.2f}", "revenue_per_customer": "{:,.2f}"}))
    if base.retention is not None:
        from .plots import figure_html

        out.append("<h3>Cohort retention</h3>")
        out.append(figure_html(cohort_heatmap(base.retention), "Cohort retention heat map",
                                "Share of each cohort active in each later period."))
    if base.stages is not None:
        when = base.stage_dates[1] if base.stage_dates else None
        out.append("<h3>Lifecycle stages</h3><p>Stages follow each customer's own purchase "
                   "rhythm: at risk after 1.5 typical gaps of silence, lapsed after 3; new "
                   "within 90 days of the first purchase"
                   + (f"; at {pd.Timestamp(when):%Y-%m-%d}" if when is not None else "")
                   + ".</p>")
        out.append(_frame_html(stage_counts(base.stages).to_frame()))
    if base.migration is not None:
        before, after = base.stage_dates
        out.append(f"<p>Migration from {pd.Timestamp(before):%Y-%m-%d} (rows) to "
                   f"{pd.Timestamp(after):%Y-%m-%d} (columns):</p>")
        out.append(_frame_html(base.migration))
    if base.formula is not None:
        out.append("<h3>Formula inputs</h3>")
        out.append(_formula_html(base.formula))
    if base.note:
        out.append(f'<p class="note">{_e(base.note)}</p>')
    out.append("</section>")
    return "".join(out)
