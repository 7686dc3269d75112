"""The tables of a backtest report, as DataFrames, CSV and Markdown.

Every function here reads a :class:`~clvmodels.backtest.BacktestResult` and
returns new objects; the result is never modified. Numbers stay at full
precision in the DataFrames and CSV files; :func:`format_metric` and
:func:`format_number` round them for people (HTML and Markdown).

Example
-------
>>> tables = report_tables(result)                      # doctest: +SKIP
>>> tables["leaderboard"]                                # doctest: +SKIP
>>> write_tables(result, "out/tables")                   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "METRIC_INFO",
    "TARGET_INFO",
    "calibration_table",
    "data_summary_table",
    "diagnostics_table",
    "fitted_components",
    "format_metric",
    "format_number",
    "gain_curve",
    "interval_coverage_table",
    "leaderboard_table",
    "metrics_table",
    "parameter_table",
    "report_tables",
    "to_markdown",
    "unit_name",
    "write_tables",
]

#: Short label, one-line explanation and display kind of each backtest metric.
METRIC_INFO: dict[str, tuple[str, str, str]] = {
    "mae": ("MAE", "Mean absolute error per customer; lower is better.", "plain"),
    "rmse": ("RMSE", "Root mean squared error per customer; punishes large misses more; "
                     "lower is better.", "plain"),
    "bias_pct": ("Bias", "Total predicted minus total actual, as a percentage of the actual "
                         "total; closest to 0 is best.", "signed_pct"),
    "spearman": ("Spearman", "Rank correlation of predicted and actual values per customer; "
                             "higher is better.", "ratio"),
    "top10_capture": ("Top 10%", "Share of the actual total held by the 10% of customers the "
                                 "model ranks highest; higher is better.", "share"),
    "top20_capture": ("Top 20%", "Share of the actual total held by the 20% of customers the "
                                 "model ranks highest; higher is better.", "share"),
    "gini": ("Gini", "Gini coefficient of the gain curve: 0 for a random ranking, higher when "
                     "the biggest buyers are ranked first; higher is better.", "ratio"),
    "auc": ("AUC", "Chance that a customer who bought again is ranked above one who did not "
                   "(0.5 = coin flip); higher is better.", "ratio"),
    "brier": ("Brier", "Mean squared error of the predicted probability of buying again; "
                       "lower is better.", "ratio"),
}

#: Label and explanation of each backtest target.
TARGET_INFO: dict[str, tuple[str, str]] = {
    "purchases": ("Purchases", "number of repeat purchases per customer in the holdout"),
    "revenue": ("Revenue", "revenue per customer in the holdout"),
    "alive": ("Active", "whether a customer buys at all in the holdout (scored with the "
                        "predicted probability of buying)"),
}

_UNIT_NAMES = {"h": "hours", "D": "days", "W": "weeks", "M": "months", "Y": "years"}

def unit_name(unit: str | None) -> str:
    """Plural English name of a time unit code (``"W"`` -> ``"weeks"``)."""
    return _UNIT_NAMES.get(str(unit), str(unit))


# ---------------------------------------------------------------------------
# Formatting for people


def _is_missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def format_number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` significant digits and thousands separators.

    Large numbers keep all their integer digits (``12,345``); missing values are
    shown as an em dash. Booleans become ``yes`` / ``no``.
    """
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if _is_missing(value):
        return "\u2014"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isinf(x):
        return "\u221e" if x > 0 else "-\u221e"
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    magnitude = math.floor(math.log10(abs(x)))
    if magnitude >= 6 or magnitude < -4:
        return f"{x:.{max(digits - 1, 0)}e}"
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def format_metric(value: Any, metric: str) -> str:
    """A metric value formatted as its kind requires (percentages, ratios, amounts)."""
    if _is_missing(value):
        return "\u2014"
    kind = METRIC_INFO.get(metric, ("", "", "plain"))[2]
    x = float(value)
    if kind == "signed_pct":
        return f"{x:+.1f}%"
    if kind == "share":
        return f"{100.0 * x:.1f}%"
    if kind == "ratio":
        return f"{x:.3f}"
    return format_number(x, 3)


def _date(value: Any) -> str:
    if _is_missing(value):
        return "\u2014"
    return pd.Timestamp(value).strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------
# Access to what a result holds


def cutoffs(result) -> list[pd.Timestamp]:
    """The cutoffs of a result, in time order."""
    values: Iterable = result.summaries.keys() if result.summaries else result.metrics["cutoff"]
    return sorted({pd.Timestamp(c) for c in values})


def model_names(result) -> list[str]:
    """Model names in the order of the backtest (scored ones first, then failed ones)."""
    names = list(dict.fromkeys(result.metrics["model"].tolist()))
    for name in result.failures["model"].tolist() if len(result.failures) else []:
        if name not in names:
            names.append(name)
    return names


def fitted_components(candidate) -> dict[str, Any]:
    """The fitted models inside a backtest candidate, by role.

    A :class:`~clvmodels.backtest.ModelPair` gives ``{"purchases": ..., "spend": ...}``;
    any other candidate is its own single component.
    """
    try:
        components = getattr(candidate, "fitted_models", None)
    except AttributeError:
        components = None
    if isinstance(components, dict) and components:
        return dict(components)
    return {"model": candidate}


def _fitted_items(result):
    """(model, cutoff, role, fitted model) for every fitted component, in report order."""
    order = {name: i for i, name in enumerate(model_names(result))}
    keys = sorted(result.fitted, key=lambda k: (order.get(k[0], len(order)), pd.Timestamp(k[1])))
    for name, cutoff in keys:
        for role, model in fitted_components(result.fitted[(name, cutoff)]).items():
            yield name, pd.Timestamp(cutoff), role, model


# ---------------------------------------------------------------------------
# Tables


def leaderboard_table(result) -> pd.DataFrame:
    """``result.leaderboard()`` with flat columns ``<target>_<metric>`` and a ``model`` column."""
    board = result.leaderboard()
    flat = board.copy()
    flat.columns = [f"{t}_{m}" for t, m in board.columns]
    flat.index.name = "model"
    return flat.reset_index()


def metrics_table(result) -> pd.DataFrame:
    """The tidy metrics (``model, cutoff, target, metric, value``), a copy."""
    return result.metrics.copy()


def calibration_table(result) -> pd.DataFrame:
    """The decile tables (``model, cutoff, target, decile, predicted, actual, customers``)."""
    return result.calibration.copy()


def interval_coverage_table(result) -> pd.DataFrame:
    """``result.interval_coverage()``: per model, cutoff, target and kind of interval
    (``predictive``, ``expected``) the share of customers whose actual holdout value
    falls inside (empty for a result without intervals)."""
    columns = ["model", "cutoff", "target", "kind", "level", "coverage", "customers",
               "median_width"]
    if not hasattr(result, "interval_coverage"):
        return pd.DataFrame(columns=columns)
    return result.interval_coverage()


def data_summary_table(result) -> pd.DataFrame:
    """One row per cutoff: customers, transactions, periods, time unit, exclusions, notes.

    The calibration period starts at the first purchase of the oldest customer
    (the cutoff minus the largest ``T``). ``exclusions`` lists what the summary
    left out (``summary.attrs["exclusions"]``) and the customers a fitted model
    left out of its fit (``model.exclusions_``, e.g. Gamma-Gamma's customers with
    zero or negative spend), or ``"none"``; ``notes`` what it kept but flagged
    (``summary.attrs["notes"]``: duplicates and zero amounts kept, customers with an
    extreme monetary value), or ``"none"``.
    """
    from ..units import unit_days

    rows = []
    for cutoff in cutoffs(result):
        summary = result.summaries.get(cutoff)
        if summary is None:
            continue
        attrs = summary.attrs
        unit = attrs.get("time_unit", result.time_unit)
        days = unit_days(unit)
        T_max = float(summary["T"].max()) if len(summary) else 0.0
        start = cutoff - pd.Timedelta(days=T_max * days)
        holdout = (float(summary["duration_holdout"].iloc[0])
                   if "duration_holdout" in summary and len(summary) else float("nan"))
        obs_end = attrs.get("observation_period_end")
        if obs_end is None and not math.isnan(holdout):
            obs_end = cutoff + pd.Timedelta(days=holdout * days)
        rows.append({
            "cutoff": cutoff,
            "customers": int(len(summary)),
            "transactions": attrs.get("n_transactions"),
            "calibration_start": start.normalize(),
            "calibration_end": pd.Timestamp(attrs.get("calibration_period_end", cutoff)),
            "calibration_length": T_max,
            "holdout_start": cutoff,
            "holdout_end": pd.Timestamp(obs_end) if obs_end is not None else pd.NaT,
            "holdout_length": holdout,
            "time_unit": unit,
            "repeat_purchases_calibration": float(summary["frequency"].sum()),
            "repeat_purchases_holdout": (float(summary["frequency_holdout"].sum())
                                         if "frequency_holdout" in summary else float("nan")),
            "revenue_holdout": (float(summary["revenue_holdout"].sum())
                                if "revenue_holdout" in summary else float("nan")),
            "share_active_holdout": (float((summary["frequency_holdout"] > 0).mean())
                                     if "frequency_holdout" in summary else float("nan")),
            "exclusions": _join_exclusions(_exclusions_text(attrs.get("exclusions") or {}),
                                           _model_exclusions_text(result, cutoff)),
            "notes": _notes_text(attrs.get("notes") or {}),
        })
    return pd.DataFrame(rows)


#: How the report names the rules by which a fitted model leaves customers out.
MODEL_EXCLUSION_TEXT = {
    "nonpositive_spend": "customers with zero or negative spend left out of the spend model",
}


def _model_exclusions_text(result, cutoff) -> str:
    """Customers the fitted models left out at ``cutoff`` (``model.exclusions_``), e.g.
    ``"customers with zero or negative spend left out of the spend model
    (GammaGammaModel of bgnbd, mbgnbd): 1"``."""
    found: dict[tuple, list[str]] = {}
    for name, cut, _role, model in _fitted_items(result):
        if cut != pd.Timestamp(cutoff):
            continue
        for rule, count in (getattr(model, "exclusions_", None) or {}).items():
            if count:
                key = (rule, type(model).__name__, count)
                found.setdefault(key, [])
                if name not in found[key]:
                    found[key].append(name)
    parts = []
    for (rule, cls, count), names in found.items():
        what = MODEL_EXCLUSION_TEXT.get(rule, rule.replace("_", " "))
        shown = f"{count:,}" if isinstance(count, (int, np.integer)) else format_number(count)
        parts.append(f"{what} ({cls} of {', '.join(names)}): {shown}")
    return "; ".join(parts)


def _join_exclusions(summary_text: str, model_text: str) -> str:
    if not model_text:
        return summary_text
    return model_text if summary_text == "none" else f"{summary_text}; {model_text}"


def _exclusions_text(exclusions: dict) -> str:
    """``"transactions after observation end: 1,204; ..."`` (non-zero counts only)."""
    parts = []
    for key, value in exclusions.items():
        if not value:
            continue
        count = f"{value:,}" if isinstance(value, (int, np.integer)) else str(value)
        parts.append(f"{key.replace('_', ' ')}: {count}")
    return "; ".join(parts) or "none"


def _notes_text(notes: dict) -> str:
    """What the summary kept but flagged (``summary.attrs["notes"]``), or ``"none"``:
    ``"duplicate rows kept: 255; extreme monetary customers: 3 (above 1,234.5)"``."""
    parts = []
    for key, value in notes.items():
        if not value or key == "extreme_monetary_threshold":
            continue
        text = f"{key.replace('_', ' ')}: {value:,}" if isinstance(
            value, (int, np.integer)) else f"{key.replace('_', ' ')}: {value}"
        if key == "extreme_monetary_customers" and notes.get("extreme_monetary_threshold"):
            text += f" (monetary value above {format_number(notes['extreme_monetary_threshold'])})"
        parts.append(text)
    return "; ".join(parts) or "none"


def _summary_frame(model) -> pd.DataFrame | None:
    """``model.summary()`` if the model has one that returns a DataFrame."""
    method = getattr(model, "summary", None)
    if not callable(method):
        return None
    try:
        frame = method()
    except TypeError:
        return None
    return frame if isinstance(frame, pd.DataFrame) else None


def _plain_descriptions(unit: str | None) -> dict[str, str]:
    """Meaning of the fitted quantities of the formula baselines."""
    return {
        "lifespan": f"expected customer lifespan ({unit_name(unit)})",
        "mean_spend": "average spend per repeat purchase, all repeat customers",
    }


def parameter_table(result) -> pd.DataFrame:
    """Parameters of every fitted component, with standard errors and intervals.

    Columns: ``model, cutoff, component, model_class, parameter, estimate,
    standard_error, lower, upper, level`` (interval columns are NaN for models
    without ``summary()``, such as the baselines). Models without ``params_``
    (gradient boosting) are left out.
    """
    rows = []
    for name, cutoff, role, model in _fitted_items(result):
        params = getattr(model, "params_", None)
        if params is None:
            continue
        frame = _summary_frame(model)
        descriptions = {p.name: p.description
                        for p in getattr(type(model), "parameters", ()) or ()
                        if hasattr(p, "name")}
        if not descriptions:
            descriptions = _plain_descriptions(getattr(model, "time_unit_", None)
                                               or result.time_unit)
        if frame is None:
            frame = pd.DataFrame({"estimate": pd.Series(params, dtype=float)})
        lower_col = next((c for c in frame.columns if str(c).startswith("lower")), None)
        upper_col = next((c for c in frame.columns if str(c).startswith("upper")), None)
        level = str(lower_col).split(" ", 1)[1] if lower_col and " " in str(lower_col) else ""
        for param, row in frame.iterrows():
            rows.append({
                "model": name, "cutoff": cutoff, "component": role,
                "model_class": type(model).__name__, "parameter": str(param),
                "estimate": float(row.get("estimate", np.nan)),
                "standard_error": float(row.get("standard_error", np.nan)),
                "lower": float(row[lower_col]) if lower_col else float("nan"),
                "upper": float(row[upper_col]) if upper_col else float("nan"),
                "level": level,
                "description": descriptions.get(str(param), ""),
            })
    columns = ["model", "cutoff", "component", "model_class", "parameter", "estimate",
               "standard_error", "lower", "upper", "level", "description"]
    return pd.DataFrame(rows, columns=columns)


_DIAGNOSTICS = (("log_likelihood", "log_likelihood_"), ("aic", "aic_"), ("bic", "bic_"),
                ("converged", "converged_"), ("status", "fit_status_"),
                ("customers", "n_customers_"), ("warnings", "fit_warnings_"))
#: Sampler diagnostics of Bayesian fits (``model.diagnostics_``; NaN for the others).
_SAMPLER_DIAGNOSTICS = ("max_rhat", "min_ess_bulk", "divergences")


def _status(model) -> str:
    """``fit_status_`` of a model, else ``converged`` / ``not converged``."""
    status = getattr(model, "fit_status_", None)
    if status:
        return str(status)
    converged = getattr(model, "converged_", None)
    return "—" if converged is None else ("converged" if converged else "not converged")


def diagnostics_table(result) -> pd.DataFrame:
    """Fit diagnostics of the likelihood-based components.

    Columns: ``model, cutoff, component, model_class, method, log_likelihood,
    aic, bic, converged, status, customers, warnings, max_rhat, min_ess_bulk,
    divergences``; one row per component with a ``log_likelihood_``.
    ``method`` is ``mle``, ``nuts``, ``map`` or ``advi``; ``status`` is the
    model's ``fit_status_`` (``converged``, ``at boundary``, ``partly
    identified``, ``not identified``, ``not converged``); ``warnings`` joins the
    fit's warnings (``fit_warnings_``) with `` | ``; the last three columns are
    the sampler's diagnostics of NUTS fits (NaN otherwise).
    """
    rows = []
    for name, cutoff, role, model in _fitted_items(result):
        if not hasattr(model, "log_likelihood_"):
            continue
        row = {"model": name, "cutoff": cutoff, "component": role,
               "model_class": type(model).__name__,
               "method": str(getattr(model, "method", "mle"))}
        for column, attribute in _DIAGNOSTICS:
            value = getattr(model, attribute, None)
            if column == "converged":
                row[column] = None if value is None else bool(value)
            elif column == "status":
                row[column] = _status(model)
            elif column == "warnings":
                row[column] = " | ".join(value or [])
            else:
                row[column] = float(value) if value is not None else float("nan")
        sampler = getattr(model, "diagnostics_", None) or {}
        for column in _SAMPLER_DIAGNOSTICS:
            value = sampler.get(column)
            row[column] = float(value) if value is not None else float("nan")
        rows.append(row)
    columns = (["model", "cutoff", "component", "model_class", "method"]
               + [c for c, _ in _DIAGNOSTICS] + list(_SAMPLER_DIAGNOSTICS))
    return pd.DataFrame(rows, columns=columns)


def gain_curve(actual, predicted, n_points: int = 101) -> pd.DataFrame:
    """Cumulative share of the actual total captured, customers ranked by prediction.

    Returns ``share_targeted`` (0..1, ``n_points`` values), ``gain`` (share of the
    actual total held by that top share of customers), ``perfect`` (the same with
    customers ranked by the actual value itself) and ``lift`` (``gain /
    share_targeted``; NaN at 0).
    """
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    n = len(actual)
    total = actual.sum()
    x = np.linspace(0.0, 1.0, n_points)
    if n == 0 or total <= 0:
        nan = np.full(n_points, np.nan)
        return pd.DataFrame({"share_targeted": x, "gain": nan, "perfect": nan, "lift": nan})
    # ceil(x * n) customers at each share, in integers: in floats 0.6 * 5 is
    # 3.0000000000000004, whose ceiling would take a fourth customer of five.
    k = -(-(np.arange(n_points) * n) // max(n_points - 1, 1))

    def captured(order):
        cum = np.concatenate([[0.0], np.cumsum(actual[order])]) / total
        return cum[k]

    gain = captured(np.argsort(-predicted, kind="stable"))
    perfect = captured(np.argsort(-actual, kind="stable"))
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(x > 0, gain / np.where(x > 0, x, 1.0), np.nan)
    return pd.DataFrame({"share_targeted": x, "gain": gain, "perfect": perfect, "lift": lift})


def report_tables(result) -> dict[str, pd.DataFrame]:
    """Every table of the report, at full precision, by name.

    Names: ``leaderboard`` (model x ``<target>_<metric>``, averaged over cutoffs),
    ``metrics``, ``calibration``, ``interval_coverage``, ``parameters``,
    ``diagnostics``, ``data_summary`` and ``failures``.
    """
    return {
        "leaderboard": leaderboard_table(result),
        "metrics": metrics_table(result),
        "calibration": calibration_table(result),
        "interval_coverage": interval_coverage_table(result),
        "parameters": parameter_table(result),
        "diagnostics": diagnostics_table(result),
        "data_summary": data_summary_table(result),
        "failures": result.failures.copy(),
    }


# ---------------------------------------------------------------------------
# Markdown and files


def _markdown_cell(value: Any, column: str) -> str:
    if isinstance(value, pd.Timestamp):
        text = _date(value)
    elif isinstance(value, (float, np.floating, int, np.integer, bool, np.bool_)) \
            or _is_missing(value):
        metric = column.split("_", 1)[1] if "_" in column else column
        if column in ("value",) or metric not in METRIC_INFO:
            text = format_number(value, 4)
        else:
            text = format_metric(value, metric)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of ``frame`` with human-formatted numbers.

    Columns named ``<target>_<metric>`` (the leaderboard) are formatted as their
    metric (percentages, ratios); other numbers get four significant digits.
    """
    columns = [str(c) for c in frame.columns]
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in frame.columns]
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in columns) + " |",
             "| " + " | ".join("---:" if num else "---" for num in numeric) + " |"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_markdown_cell(v, c) for v, c in zip(row, columns)) + " |")
    return "\n".join(lines) + "\n"


def write_tables(result, directory,
                 names: Iterable[str] | None = None) -> dict[str, dict[str, Path]]:
    """Write the report tables as CSV (full precision) and Markdown (rounded).

    Parameters
    ----------
    result
        A :class:`~clvmodels.backtest.BacktestResult`.
    directory
        Folder to write to (created if needed).
    names
        Tables to write (default: all of :func:`report_tables`; empty tables
        are written too, with their header only).

    Returns
    -------
    dict
        ``{name: {"csv": path, "md": path}}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tables = report_tables(result)
    wanted = list(names) if names is not None else list(tables)
    unknown = set(wanted) - set(tables)
    if unknown:
        raise ValueError(f"Unknown table(s) {sorted(unknown)}; choose from {sorted(tables)}.")
    written: dict[str, dict[str, Path]] = {}
    for name in wanted:
        frame = tables[name]
        csv_path = directory / f"{name}.csv"
        md_path = directory / f"{name}.md"
        from .._io import atomic_path, write_text

        with atomic_path(csv_path) as temp:  # atomic: never a partial table
            frame.to_csv(temp, index=False)
        write_text(md_path, to_markdown(frame))
        written[name] = {"csv": csv_path, "md": md_path}
    return written
