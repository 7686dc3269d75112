"""One self-contained HTML file that tells how the models of a backtest compare.

The file embeds its figures as base64 PNG and its style sheet inline; it has no
JavaScript and no external reference, so it opens offline and can be sent by
e-mail. Sections:

1. data summary per cutoff;
2. leaderboard (model x metric, the best model per metric highlighted) with a
   one-line explanation of each metric;
3. tracking of cumulative purchases into the holdout, actual vs each model;
4. calibration: mean predicted vs actual per decile of predicted purchases;
5. interval coverage: the share of customers whose holdout purchases and revenue
   fall inside each model's 90% predictive and 90% expected intervals;
6. gain and lift of holdout revenue;
7. P(alive) and expected-purchase matrices of every transaction model;
8. parameters with intervals, fit diagnostics and failed fits.

Example
-------
>>> result = backtest(tx, "customer_id", "date", "amount",
...                   calibration_period_end="1997-09-30")   # doctest: +SKIP
>>> write_report(result, "report.html", tables_dir="tables")  # doctest: +SKIP
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from ..exceptions import ClvModelsWarning
from . import plots
from .tables import (
    METRIC_INFO,
    TARGET_INFO,
    cutoffs,
    data_summary_table,
    diagnostics_table,
    format_metric,
    format_number,
    interval_coverage_table,
    model_names,
    parameter_table,
    unit_name,
    write_tables,
)

__all__ = ["render_report", "write_report"]

DEFAULT_TITLE = "Customer lifetime value: model backtest"

_CSS = """
:root { --ink: #1d2430; --muted: #5b6575; --line: #d9dee6; --soft: #f4f6f9;
        --win: #dff3e3; --win-ink: #14592a; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: var(--ink);
       font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
             "DejaVu Sans", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 28px 28px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 12px; margin-bottom: 8px; }
h1 { font-size: 28px; margin: 0 0 6px; line-height: 1.2; }
h2 { font-size: 21px; margin: 36px 0 8px; padding-top: 8px; border-top: 1px solid var(--line); }
h3 { font-size: 16px; margin: 22px 0 6px; }
p { margin: 6px 0 10px; max-width: 80ch; }
.meta { color: var(--muted); font-size: 14px; margin: 0; }
.note { color: var(--muted); font-size: 13.5px; }
nav ol { margin: 8px 0 0; padding-left: 22px; columns: 2; font-size: 14px; }
nav a { color: var(--accent); text-decoration: none; }
.headline { background: var(--soft); border-left: 4px solid var(--accent); padding: 10px 14px;
            margin: 14px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 13.5px; }
th, td { border: 1px solid var(--line); padding: 5px 9px; vertical-align: top; }
thead th { background: var(--soft); font-weight: 600; text-align: center; }
tbody th { text-align: left; font-weight: 600; background: #fbfcfd; white-space: nowrap; }
table.board { font-size: 13px; }
table.board th, table.board td { padding: 4px 6px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { text-align: left; }
td.reason { max-width: 720px; font-size: 12.5px; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.win, tbody tr:nth-child(even) td.win { background: var(--win); color: var(--win-ink);
                                         font-weight: 700; }
.swatch { display: inline-block; padding: 0 6px; background: var(--win); color: var(--win-ink);
          font-weight: 700; border: 1px solid #b9dfc2; }
dl.glossary { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px;
              font-size: 13.5px; margin: 8px 0 12px; }
dl.glossary dt { font-weight: 600; }
dl.glossary dd { margin: 0; color: var(--muted); }
figure { margin: 12px 0 20px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13.5px; margin-top: 6px; max-width: 90ch; }
footer { margin-top: 40px; border-top: 1px solid var(--line); padding-top: 10px;
         color: var(--muted); font-size: 13px; }
@media print { main { max-width: none; padding: 0; } h2 { break-before: auto; }
               figure, table { break-inside: avoid; } }
"""


# ---------------------------------------------------------------------------
# Small HTML helpers


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _date(value) -> str:
    return "\u2014" if value is None or pd.isna(value) else f"{pd.Timestamp(value):%Y-%m-%d}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]],
           caption: str | None = None) -> str:
    """A table; each cell is ``(kind, text)`` with kind ``th``, ``num``, ``text`` or
    ``reason`` (text is escaped here)."""
    out = ['<div class="scroll"><table>']
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f'<th scope="col">{_e(h)}</th>' for h in headers)
               + "</tr></thead><tbody>")
    for row in rows:
        cells = []
        for kind, text in row:
            if kind == "th":
                cells.append(f'<th scope="row">{_e(text)}</th>')
            else:
                cells.append(f'<td class="{kind}">{_e(text)}</td>')
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


_figure_html = plots.figure_html  # shared with the customer-base section


def _guarded(section: str, build: Callable[[], str]) -> str:
    """Build one model-dependent part; a failure becomes a note (and a warning)."""
    try:
        return build()
    except Exception as error:  # noqa: BLE001 - one part must not sink the whole report
        warnings.warn(f"The report's {section} could not be drawn: "
                      f"{type(error).__name__}: {error}", ClvModelsWarning, stacklevel=3)
        return (f'<p class="note">The {_e(section)} could not be drawn: '
                f"{_e(type(error).__name__)}: {_e(error)}</p>")


# ---------------------------------------------------------------------------
# Sections


def _header(result, title: str, generated: datetime) -> str:
    from .._version import __version__

    cuts = cutoffs(result)
    names = model_names(result)
    cut_text = ", ".join(_date(c) for c in cuts)
    meta = (f"Generated {generated:%Y-%m-%d %H:%M} {generated.tzname() or ''}".rstrip()
            + f" \u00b7 clvmodels {__version__}"
            + f" \u00b7 {len(names)} model{'s' if len(names) != 1 else ''}"
            + f" \u00b7 cutoff{'s' if len(cuts) != 1 else ''} {cut_text}"
            + f" \u00b7 time unit: {unit_name(result.time_unit)}")
    toc = "".join(f'<li><a href="#{anchor}">{_e(text)}</a></li>' for anchor, text in _SECTIONS)
    return (f"<header><h1>{_e(title)}</h1><p class=\"meta\">{_e(meta)}</p></header>"
            f'<nav aria-label="Contents"><ol>{toc}</ol></nav>')


_SECTIONS = (
    ("data", "Data"),
    ("leaderboard", "Leaderboard"),
    ("tracking", "Tracking into the holdout"),
    ("calibration", "Calibration vs holdout"),
    ("intervals", "Interval coverage"),
    ("gain", "Gain and lift"),
    ("matrices", "Frequency / recency matrices"),
    ("parameters", "Parameters and fit diagnostics"),
    ("customer-base", "Customer base"),
)


def _data_section(result) -> str:
    table = data_summary_table(result)
    out = ['<section id="data"><h2>Data</h2>']
    if table.empty:
        return out[0] + '<p class="note">The result holds no calibration summary.</p></section>'
    out.append("<p>Each model is fitted on the calibration period only and predicts the "
               "holdout period that follows the cutoff; the holdout is then compared with "
               "what the same customers really did.</p>")
    unit = unit_name(result.time_unit)
    labels = (
        ("Customers", lambda r: format_number(r["customers"])),
        ("Transactions in the log", lambda r: format_number(r["transactions"])),
        ("Calibration period", lambda r: f"{_date(r['calibration_start'])} to "
                                         f"{_date(r['calibration_end'])} "
                                         f"({format_number(r['calibration_length'], 3)} {unit})"),
        ("Holdout period", lambda r: f"{_date(r['holdout_start'])} to {_date(r['holdout_end'])} "
                                     f"({format_number(r['holdout_length'], 3)} {unit})"),
        ("Time unit", lambda r: f"{unit_name(r['time_unit'])} ({r['time_unit']})"),
        ("Repeat purchases, calibration", lambda r: format_number(
            r["repeat_purchases_calibration"], 6)),
        ("Repeat purchases, holdout", lambda r: format_number(r["repeat_purchases_holdout"], 6)),
        ("Revenue, holdout", lambda r: format_number(r["revenue_holdout"], 6)),
        ("Customers buying in the holdout", lambda r: f"{100 * r['share_active_holdout']:.1f}%"),
        ("Exclusions", lambda r: r["exclusions"]),
        ("Kept but flagged", lambda r: r.get("notes", "none")),
    )
    headers = ["", *(f"Cutoff {_date(c)}" for c in table["cutoff"])]
    rows = []
    for label, cell in labels:
        kind = "text" if label in ("Exclusions", "Kept but flagged", "Calibration period",
                                   "Holdout period", "Time unit") else "num"
        rows.append([("th", label), *((kind, str(cell(r))) for _, r in table.iterrows())])
    out.append(_table(headers, rows))
    out.append('<p class="note">Customers are those who made their first purchase by the '
               "cutoff. The calibration period starts at the first purchase of the oldest "
               "customer. Exclusions are rows or customers the summary left out, and "
               "customers a model left out of its fit. Kept but flagged: rows the summary kept "
               "but counted (duplicates, zero amounts) and customers whose mean spend is "
               "extreme (wholesale buyers or data errors dominate the spend model).</p>")
    out.append("</section>")
    return "".join(out)


def _recommendation_html(result) -> str:
    """The overall recommendation, shown before the per-metric winners."""
    if not hasattr(result, "recommendation"):
        return ""
    table = result.recommendation()
    if table.empty:
        return ""
    best = table.index[table["recommended"]][0]
    limit = table.attrs["bias_limit_pct"]
    text = (f"<b>Recommended: {_e(best)}</b> (mean rank {table.loc[best, 'mean_rank']:.2f} "
            "over the MAE, RMSE and absolute bias of purchases and revenue; ranks of "
            + ", ".join(f"{_e(m)} {r:.2f}" for m, r in table["mean_rank"].items()) + ").")
    biased = table[table["biased"]]
    if len(biased):
        text += (f" Not recommended because their total is off by more than {limit:g}%: "
                 + "; ".join(f"{_e(m)} (purchases {row.purchases_bias_pct:+.1f}%, revenue "
                             f"{row.revenue_bias_pct:+.1f}%)" for m, row in biased.iterrows())
                 + ".")
    if table.attrs.get("note"):
        text += " " + _e(table.attrs["note"])
    out = f'<p class="headline">{text}</p>'
    if _is_bgnbd(result, best):
        out += f'<p class="note">{_e(best)} is a BG/NBD model. {BGNBD_NOTE}</p>'
    return out


#: What a user of BG/NBD must know about one-time buyers (report and matrices).
BGNBD_NOTE = (
    "BG/NBD lets customers drop out only right after a repeat purchase, so it calls "
    "every customer without one alive (P(alive) = 1), however long ago they bought: in "
    "the export their RFM segment and lifecycle stage say more about them, and "
    "<code>probability_alive(summary, t=...)</code> gives the dropout the model expects "
    "from now on. MBG/NBD and Pareto/NBD do not have this blind spot.")


def _is_bgnbd(result, name) -> bool:
    """Whether the purchase model of ``name`` (at any cutoff) is BG/NBD."""
    for (model, _cutoff), candidate in result.fitted.items():
        if model == name:
            components = plots.fitted_components(candidate)
            purchases = components.get("purchases", components.get("model"))
            if type(purchases).__name__ == "BetaGeoModel":
                return True
    return False


def _leaderboard_section(result) -> str:
    board = result.leaderboard()
    winners = result.winners()
    n_cuts = len(cutoffs(result))
    out = ['<section id="leaderboard"><h2>Leaderboard</h2>']
    if board.empty:
        return out[0] + '<p class="note">No model was scored.</p></section>'
    out.append(_recommendation_html(result))
    wins = pd.Series(list(winners.values), dtype=object).value_counts()
    if not wins.empty:
        parts = [f"{_e(name)} on {count}" for name, count in wins.items()]
        top = str(wins.index[0])
        if top.startswith("tie: "):
            lead = (f"<b>{_e(top)}</b> (indistinguishable) on {wins.iloc[0]} of "
                    f"{len(winners)} metrics")
        else:
            lead = f"<b>{_e(top)}</b> is best on {wins.iloc[0]} of {len(winners)} metrics"
        if len(parts) > 1:
            lead += "; then " + ", ".join(parts[1:])
        out.append(f'<p class="headline">{lead}.</p>')
    for group in result.indistinguishable() if hasattr(result, "indistinguishable") else []:
        out.append('<p class="note">' + _e(", ".join(group)) + " have the same "
                   "log-likelihood to 6 significant digits at every cutoff: the data do not "
                   "tell these fits apart (typically models that collapsed to the same "
                   "no-dropout model at the edge of their parameter space), so their "
                   "differences in the leaderboard are noise and they share their places "
                   "(\u201ctie\u201d).</p>")
    averaged = (f"Averaged over {n_cuts} cutoffs. " if n_cuts > 1 else "")
    out.append(f"<p>{averaged}The best model of each metric is highlighted "
               '(<span class="swatch">like this</span>); for the bias the best is the one '
               "closest to 0. Hover a metric's name for its meaning; all are explained "
               "below the table.</p>")
    targets = list(dict.fromkeys(t for t, _ in board.columns))
    head1 = ['<th scope="col" rowspan="2">Model</th>']
    head2 = []
    for target in targets:
        metrics = [m for t, m in board.columns if t == target]
        head1.append(f'<th scope="colgroup" colspan="{len(metrics)}">'
                     f"{_e(TARGET_INFO.get(target, (target,))[0])}</th>")
        for metric in metrics:
            label, explanation, _ = METRIC_INFO.get(metric, (metric, "", "plain"))
            head2.append(f'<th scope="col" title="{_e(explanation)}">{_e(label)}</th>')
    rows = []
    for model, values in board.iterrows():
        cells = [f'<th scope="row">{_e(model)}</th>']
        for (target, metric), value in values.items():
            entry = winners.get((target, metric))
            win = entry is not None and model in result.winner_names(entry)
            cls = "num win" if win else "num"
            mark = ' title="best"' if win else ""
            cells.append(f'<td class="{cls}"{mark}>{_e(format_metric(value, metric))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    out.append('<div class="scroll"><table class="board"><thead><tr>' + "".join(head1)
               + "</tr><tr>" + "".join(head2) + "</tr></thead><tbody>" + "".join(rows)
               + "</tbody></table></div>")
    unranked = [n for n in model_names(result) if n not in board.index]
    if unranked:
        out.append('<p class="note">Not ranked because they could not be fitted: '
                   + _e(", ".join(unranked))
                   + ' (see <a href="#failures">the reasons</a>).</p>')
    unit = unit_name(result.time_unit)
    out.append("<h3>What the columns mean</h3><dl class=\"glossary\">")
    for target in targets:
        label, text = TARGET_INFO.get(target, (target, ""))
        out.append(f"<dt>{_e(label)}</dt><dd>Target: {_e(text)}.</dd>")
    used = list(dict.fromkeys(m for _, m in board.columns))
    for metric in used:
        label, explanation, _ = METRIC_INFO.get(metric, (metric, "", "plain"))
        out.append(f"<dt>{_e(label)}</dt><dd>{_e(explanation)}</dd>")
    out.append("</dl>")
    out.append(f'<p class="note">Errors are per customer over the whole holdout ({_e(unit)}); '
               "revenue is in the currency of the transaction log.</p></section>")
    return "".join(out)


def _tracking_section(result, colors) -> str:
    out = ['<section id="tracking"><h2>Tracking into the holdout</h2>']
    fig = plots.tracking_figure(result, colors)
    if fig is None:
        return out[0] + ('<p class="note">None of the models gives a cohort tracking '
                         "curve.</p></section>")
    with_curve = set(result.tracking["model"])
    without = [n for n in dict.fromkeys(result.metrics["model"]) if n not in with_curve]
    caption = ("Cumulative repeat purchases of all calibration customers after the cutoff: "
               "actual (black) and expected by each model (dashed). A curve above the black "
               "line over-forecasts.")
    if without:
        caption += " No tracking curve for: " + ", ".join(without) + "."
    out.append(_figure_html(fig, "Cumulative purchases into the holdout, actual vs models",
                            caption))
    out.append("</section>")
    return "".join(out)


def _calibration_section(result, colors) -> str:
    out = ['<section id="calibration"><h2>Calibration vs holdout</h2>']
    caption = ("Customers split into ten equal groups by their predicted number of purchases "
               "(1 = lowest). In each group: mean predicted and mean actual purchases in the "
               "holdout. A well-calibrated model's dashed line lies on the black one.")
    rolling = len(cutoffs(result)) > 1
    figures = []
    for cut in cutoffs(result):  # one panel set per cutoff of a rolling backtest
        fig = plots.calibration_figure(result, cut, "purchases", colors)
        if fig is None:
            continue
        figures.append(_figure_html(
            fig, f"Calibration at the cutoff {_date(cut)}: predicted vs actual purchases "
                 "per decile", caption + (f" Cutoff {_date(cut)}." if rolling else "")))
    if not figures:
        return out[0] + '<p class="note">No decile table to show.</p></section>'
    out.extend(figures)
    out.append("</section>")
    return "".join(out)


#: The one-line difference between the two kinds of interval, as the report says it.
INTERVAL_KINDS_TEXT = (
    "A predictive interval bounds what the customer will actually buy or spend, so "
    "about {level} of customers should fall inside it; an expected interval bounds only "
    "the model's average for the customer (how sure it is of the parameters), so it is "
    "narrow and few customers' actual values fall inside: it is not a forecast range.")


def _percent(value) -> str:
    return "\u2014" if pd.isna(value) else f"{100.0 * float(value):.1f}%"


def _intervals_section(result) -> str:
    out = ['<section id="intervals"><h2>Interval coverage</h2>']
    table = interval_coverage_table(result)
    if table.empty:
        return out[0] + ('<p class="note">No model gave per-customer intervals (BG/NBD, '
                         "MBG/NBD and Pareto/NBD do, unless the backtest ran with "
                         "<code>interval=None</code>).</p></section>")
    level = f"{100.0 * float(table['level'].iloc[0]):g}%"
    out.append(f"<p>Share of customers whose actual holdout purchases and revenue fall "
               f"inside each model's {_e(level)} intervals. "
               f"{_e(INTERVAL_KINDS_TEXT.format(level=level))}</p>")
    multi = table["cutoff"].nunique() > 1
    columns = [(target, kind) for target in ("purchases", "revenue")
               for kind in ("predictive", "expected")
               if ((table["target"] == target) & (table["kind"] == kind)).any()]
    headers = ["Model", *(["Cutoff"] if multi else []),
               *(f"{TARGET_INFO[t][0]}: {k} {level}" for t, k in columns), "Customers"]
    rows = []
    for (model, cutoff), group in table.groupby(["model", "cutoff"], sort=False):
        cells = {(r.target, r.kind): r.coverage for r in group.itertuples()}
        rows.append([("th", model), *([("num", _date(cutoff))] if multi else []),
                     *(("num", _percent(cells.get(c))) for c in columns),
                     ("num", format_number(int(group["customers"].max())))])
    out.append(_table(headers, rows))
    out.append(f'<p class="note">Predictive intervals of purchases come from each '
               "customer's probability of buying 0, 1, 2, ... times in the holdout given "
               "their history; those of revenue from simulated futures (purchases and "
               "Gamma-Gamma amounts). Purchases are whole numbers, so a predictive interval "
               f"holds at least {_e(level)} of the probability and covers a little more. "
               "Expected intervals are quantiles over parameter draws. The bounds of every "
               "customer are in <code>result.predictions</code> (the CLI's "
               "predictions.csv): <code>purchases_predictive_lower</code> ... "
               "<code>revenue_expected_upper</code>.</p>")
    out.append("</section>")
    return "".join(out)


def _gain_section(result, colors) -> str:
    out = ['<section id="gain"><h2>Gain and lift</h2>']
    cut = cutoffs(result)[-1]
    fig = plots.gain_figure(result, cut, colors)
    if fig is None:
        return out[0] + '<p class="note">No holdout revenue to rank customers by.</p></section>'
    caption = ("Customers ranked by predicted revenue: the share of the holdout revenue "
               "captured when targeting the top x% (left) and how many times better than "
               "random that is (right). Higher and further left is better; the dotted line "
               "is the best any ranking can do.")
    if len(cutoffs(result)) > 1:
        caption += f" Cutoff {_date(cut)} (the latest)."
    out.append(_figure_html(fig, "Gain and lift of holdout revenue", caption))
    out.append("</section>")
    return "".join(out)


def _matrices_section(result) -> str:
    out = ['<section id="matrices"><h2>Frequency / recency matrices</h2>']
    cut = cutoffs(result)[-1]
    found = plots.matrix_models(result, cut)
    summary = result.summaries.get(cut)
    if not found or summary is None or summary.empty:
        return out[0] + ('<p class="note">No fitted model gives P(alive) and expected '
                         "purchases per customer (e.g. BG/NBD), so there is no matrix to "
                         "show.</p></section>")
    horizon = (float(summary["duration_holdout"].iloc[0]) if "duration_holdout" in summary
               else float(summary["T"].max()))
    unit = summary.attrs.get("time_unit", result.time_unit)
    out.append(f'<p class="note">One pair of matrices per transaction model, at the cutoff '
               f"{_date(cut)}: for a customer with a given number of repeat purchases "
               "(frequency) and time of the last one (recency), the probability of still "
               "being a customer and the purchases expected in the holdout horizon "
               f"({horizon:g} {unit_name(unit)}). Customers who bought recently and often "
               "are the most valuable (upper right). The bottom row, customers without a "
               "repeat purchase, has one value throughout; frequencies go up to the 99.5th "
               "percentile of the customers'. A model with covariates is shown for "
               "the reference customer (every covariate 0). The same figures come from "
               "<code>clvmodels.plotting.plot_probability_alive_matrix</code> and "
               "<code>plot_frequency_recency_matrix</code>.</p>")
    for name, _role, model in found:
        label = f"{name} ({type(model).__name__})"

        def build(model=model, name=name, label=label) -> str:
            fig = plots.matrix_figure(model, summary, horizon, unit, title=label)
            return _figure_html(fig, f"P(alive) and expected purchases of {name}", label)

        out.append(_guarded(f"frequency/recency matrices of {name}", build))
        if type(model).__name__ == "BetaGeoModel":
            out.append(f'<p class="note">{BGNBD_NOTE}</p>')
    out.append("</section>")
    return "".join(out)


_ROLE_TEXT = {"purchases": "purchase model", "spend": "spend model", "model": "model"}


def _parameters_section(result) -> str:
    out = ['<section id="parameters"><h2>Parameters and fit diagnostics</h2>']
    multi = len(cutoffs(result)) > 1

    def parameters() -> str:
        table = parameter_table(result)
        if table.empty:
            return '<p class="note">No fitted model has parameters.</p>'
        parts = []
        for (name, role, cls), group in table.groupby(["model", "component", "model_class"],
                                                      sort=False):
            has_interval = group["standard_error"].notna().any() or group["lower"].notna().any()
            level = next((lv for lv in group["level"] if lv), "")
            headers = ["Parameter", *(["Cutoff"] if multi else []), "Estimate"]
            if has_interval:
                headers += ["Std. error", f"Lower {level}".strip(), f"Upper {level}".strip()]
            with_text = group["description"].astype(bool).any()
            if with_text:
                headers.append("Meaning")
            order = {p: i for i, p in enumerate(dict.fromkeys(group["parameter"]))}
            group = group.sort_values(["parameter", "cutoff"], key=lambda col: (
                col.map(order) if col.name == "parameter" else col), kind="stable")
            rows = []
            for _, r in group.iterrows():
                row = [("th", r["parameter"]), *([("num", _date(r["cutoff"]))] if multi else []),
                       ("num", format_number(r["estimate"], 4))]
                if has_interval:
                    row += [("num", format_number(r["standard_error"], 3)),
                            ("num", format_number(r["lower"], 4)),
                            ("num", format_number(r["upper"], 4))]
                if with_text:
                    row.append(("text", r["description"]))
                rows.append(row)
            parts.append(f"<h3>{_e(name)}: {_e(_ROLE_TEXT.get(role, role))} "
                         f"<span class=\"note\">({_e(cls)})</span></h3>")
            parts.append(_table(headers, rows))
        skipped = [n for (n, _c), cand in result.fitted.items()
                   if not any(hasattr(m, "params_") for m in
                              plots.fitted_components(cand).values())]
        if skipped:
            parts.append('<p class="note">Without parameters (machine-learning models): '
                         + _e(", ".join(dict.fromkeys(skipped))) + ".</p>")
        if table["lower"].notna().any():
            parts.append(f'<p class="note">Durations (such as BG/NBD\u2019s alpha) are in '
                         f"{_e(unit_name(result.time_unit))}; amounts in the currency of the "
                         "log. Intervals of maximum-likelihood fits come from the curvature of "
                         "the likelihood (delta method); those of Bayesian fits are quantiles "
                         "of the posterior draws.</p>")
        return "".join(parts)

    def diagnostics() -> str:
        table = diagnostics_table(result)
        if table.empty:
            return ""
        sampled = table["max_rhat"].notna().any()
        headers = ["Model", "Component", *(["Cutoff"] if multi else []), "Method",
                   "Log-likelihood", "AIC", "BIC", "Status", "Customers fitted"]
        if sampled:
            headers += ["Max R-hat", "Min bulk ESS", "Divergences"]
        rows = []
        for _, r in table.iterrows():
            row = [("th", r["model"]),
                   ("text", f"{_ROLE_TEXT.get(r['component'], r['component'])} "
                            f"({r['model_class']})"),
                   *([("num", _date(r["cutoff"]))] if multi else []),
                   ("text", r["method"]),
                   ("num", f"{r['log_likelihood']:,.1f}"),
                   ("num", f"{r['aic']:,.1f}"), ("num", f"{r['bic']:,.1f}"),
                   ("text", r["status"]),
                   ("num", format_number(r["customers"], 6))]
            if sampled:
                row += [("num", format_number(r["max_rhat"], 4)),
                        ("num", format_number(r["min_ess_bulk"], 4)),
                        ("num", format_number(r["divergences"], 4))]
            rows.append(row)
        note = ("Log-likelihood: higher is better; AIC and BIC: lower is better, comparable "
                "only between models fitted to the same customers (a spend model is fitted on "
                "repeat customers only). For Bayesian fits they are evaluated at the posterior "
                "mean.")
        if sampled:
            note += (" NUTS fits converged when R-hat is at most 1.01, the bulk effective "
                     "sample size at least 400 and there are no divergences.")
        note += (" Status: converged; at boundary (an estimate ran to 0 or infinity: the "
                 "model's maximum is at the edge of its parameter space); partly identified "
                 "(some parameters have no standard error); not identified (no parameter "
                 "has one: the fit is not ranked); not converged.")
        said = []
        for _, r in table.iterrows():
            if r["warnings"]:
                where = f"{r['model']}, {_ROLE_TEXT.get(r['component'], r['component'])}"
                if multi:
                    where += f", {_date(r['cutoff'])}"
                for text in str(r["warnings"]).split(" | "):
                    said.append(f"<li><b>{_e(where)}</b>: {_e(text)}</li>")
        warned = ("<h3>Warnings of the fits</h3><ul class=\"warnings\">" + "".join(said)
                  + "</ul>") if said else ""
        return ("<h3>Fit diagnostics</h3>" + _table(headers, rows)
                + f'<p class="note">{note}</p>' + warned)

    out.append(_guarded("parameter tables", parameters))
    out.append(_guarded("fit diagnostics", diagnostics))
    out.append(_failures(result))
    out.append("</section>")
    return "".join(out)


def _failures(result) -> str:
    failures = result.failures
    if failures is None or failures.empty:
        return ""
    rows = [[("th", r["model"]), ("num", _date(r["cutoff"])), ("reason", r["reason"])]
            for _, r in failures.iterrows()]
    return ('<h3 id="failures">Models that could not be fitted</h3>'
            "<p>These models are missing from the leaderboard at the cutoffs listed.</p>"
            + _table(["Model", "Cutoff", "Reason"], rows))


def _footer(result) -> str:
    return ("<footer>Made with clvmodels. Predictions are made at each cutoff from the "
            "calibration data only; every metric compares them with the holdout. "
            "Figures are embedded; this file needs no network access.</footer>")


# ---------------------------------------------------------------------------
# Entry points


def render_report(result, *, title: str | None = None, generated: datetime | None = None,
                  customer_base=None) -> str:
    """The report of a backtest as an HTML string (see :func:`write_report`)."""
    from . import customer_base as _cb

    title = title or DEFAULT_TITLE
    generated = generated or datetime.now(timezone.utc).astimezone()
    colors = plots.model_colors(result)
    body = [
        _header(result, title, generated),
        _data_section(result),
        _leaderboard_section(result),
        _guarded("tracking figure", lambda: _tracking_section(result, colors)),
        _guarded("calibration figure", lambda: _calibration_section(result, colors)),
        _guarded("interval coverage", lambda: _intervals_section(result)),
        _guarded("gain figure", lambda: _gain_section(result, colors)),
        _matrices_section(result),
        _parameters_section(result),
        _guarded("customer base", lambda: _cb.customer_base_section(
            customer_base or _cb.customer_base_from_result(result))),
        _footer(result),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(title)}</title><style>{_CSS}</style></head>"
            "<body><main>" + "\n".join(body) + "</main></body></html>\n")


def write_report(result, path, *, title: str | None = None, tables_dir=None,
                 customer_base=None) -> Path:
    """Write a backtest's report as one self-contained HTML file.

    Parameters
    ----------
    result
        A :class:`~clvmodels.backtest.BacktestResult` (not modified).
    path
        File to write (its folder is created if needed).
    title
        Heading of the report (default: "Customer lifetime value: model backtest").
    tables_dir
        If given, the tables (leaderboard, metrics, calibration, parameters,
        diagnostics, data summary, failures) are also written there as CSV
        (full precision) and Markdown (rounded); see
        :func:`clvmodels.report.tables.write_tables`.
    customer_base
        Optional :class:`~clvmodels.report.customer_base.CustomerBase` built from
        the transaction log by :func:`~clvmodels.report.customer_base.customer_base`
        (KPIs, cohort heat map, stages, formula inputs); without it the "Customer
        base" section shows what the result holds.

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> from clvmodels.backtest import backtest
    >>> from clvmodels.datasets import load_cdnow
    >>> result = backtest(load_cdnow("sample"), "customer_id", "date", "amount",
    ...                   calibration_period_end="1997-09-30")   # doctest: +SKIP
    >>> write_report(result, "backtest.html", tables_dir="tables")  # doctest: +SKIP
    """
    path = Path(path)
    text = render_report(result, title=title, customer_base=customer_base)
    from .._io import write_text

    write_text(path, text)  # atomic: a failure never leaves a partial report
    if tables_dir is not None:
        write_tables(result, tables_dir)
    return path
