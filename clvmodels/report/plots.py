"""The figures of a backtest report (matplotlib, imported lazily).

Every function returns a :class:`matplotlib.figure.Figure` built directly, not
through :mod:`matplotlib.pyplot`, so making a report neither opens windows, nor
changes the backend, nor leaves figures in pyplot's registry; styling is applied
with :func:`matplotlib.rc_context` and undone on exit. :func:`figure_to_png`
renders a figure with the Agg canvas.

Example
-------
>>> fig = tracking_figure(result)                       # doctest: +SKIP
>>> png = figure_to_png(fig)                             # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Any

import numpy as np
import pandas as pd

from ..plotting import matrix_grid, matrix_values  # noqa: F401  (one implementation)
from .tables import cutoffs, fitted_components, gain_curve, model_names, unit_name

__all__ = [
    "calibration_figure",
    "figure_html",
    "figure_to_png",
    "gain_figure",
    "matrix_figure",
    "matrix_model",
    "matrix_models",
    "model_colors",
    "tracking_figure",
]

#: Colours of the models (matplotlib's tab10, without grey, which is kept for references).
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#bcbd22", "#17becf")
_ACTUAL = "#111111"
#: Markers and line styles of the models where their lines may overlap (gain, lift).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h")
_LINESTYLES = ("-", "--", "-.", (0, (5, 1, 1, 1, 1, 1)))
_REFERENCE = "#8a8a8a"

_STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}

#: Width of the report's figures in inches (displayed at 100 px per inch).
FIGURE_WIDTH = 11.0


@contextlib.contextmanager
def _style():
    import matplotlib

    with matplotlib.rc_context(_STYLE):
        yield


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def model_colors(result) -> dict[str, str]:
    """A colour per model name, the same in every figure of a report."""
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(model_names(result))}


def figure_to_png(fig, dpi: int = 150) -> bytes:
    """PNG bytes of a figure (rendered by the Agg canvas; pyplot is not used)."""
    buffer = io.BytesIO()
    with _style():
        fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    cols = max(1, min(max_cols, n))
    return math.ceil(n / cols), cols


def _hide_unused(axes, used: int) -> None:
    for ax in axes[used:]:
        ax.set_visible(False)


def tracking_figure(result, colors: dict[str, str] | None = None):
    """Cumulative repeat purchases of the cohort into the holdout, actual vs each model.

    One panel per cutoff. Returns ``None`` when no model gives a tracking curve.
    """
    tracking = result.tracking
    if tracking is None or tracking.empty:
        return None
    colors = colors or model_colors(result)
    unit = unit_name(result.time_unit)
    cuts = [c for c in cutoffs(result) if (tracking["cutoff"] == c).any()]
    rows, cols = _grid(len(cuts), 2)
    with _style():
        fig = _figure(FIGURE_WIDTH, 4.4 * rows if rows == 1 else 3.8 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
        for ax, cutoff in zip(axes, cuts):
            part = tracking[tracking["cutoff"] == cutoff]
            first = part[part["model"] == part["model"].iloc[0]].sort_values("period")
            period = first["period"].to_numpy(dtype=float)
            ax.plot(np.r_[0.0, period], np.r_[0.0, first["actual"].to_numpy(dtype=float)],
                    color=_ACTUAL, linewidth=2.6, label="Actual", zorder=5)
            for name, curve in part.groupby("model", sort=False):
                curve = curve.sort_values("period")
                ax.plot(np.r_[0.0, curve["period"].to_numpy(dtype=float)],
                        np.r_[0.0, curve["predicted"].to_numpy(dtype=float)],
                        color=colors.get(name, _REFERENCE), linewidth=1.7, linestyle="--",
                        label=str(name))
            ax.set_xlim(0, float(period.max()) if len(period) else 1.0)
            ax.set_ylim(bottom=0)
            ax.set_xlabel(f"Time since the cutoff ({unit})")
            ax.set_ylabel("Cumulative repeat purchases (all customers)")
            ax.set_title(f"Cutoff {pd.Timestamp(cutoff):%Y-%m-%d}")
            ax.yaxis.set_major_formatter(_thousands())
            ax.legend(loc="upper left", frameon=False)
        _hide_unused(axes, len(cuts))
    return fig


def _thousands():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}" if abs(v) >= 10 or v == 0 else f"{v:g}")


def calibration_figure(result, cutoff=None, target: str = "purchases",
                       colors: dict[str, str] | None = None):
    """Mean predicted vs mean actual per decile of the prediction, one panel per model.

    Uses the decile tables of ``cutoff`` (default: the latest). Returns ``None``
    when there are none.
    """
    cutoff = pd.Timestamp(cutoff) if cutoff is not None else cutoffs(result)[-1]
    table = result.calibration
    table = table[(table["cutoff"] == cutoff) & (table["target"] == target)]
    if table.empty:
        return None
    colors = colors or model_colors(result)
    names = list(dict.fromkeys(table["model"].tolist()))
    rows, cols = _grid(len(names), 4 if len(names) == 4 else 3)
    what = "purchases" if target == "purchases" else "revenue"
    with _style():
        fig = _figure(FIGURE_WIDTH, 3.3 * rows + 0.4)
        axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).ravel()
        for i, (ax, name) in enumerate(zip(axes, names)):
            part = table[table["model"] == name].sort_values("decile")
            decile = part["decile"].to_numpy()
            ax.plot(decile, part["actual"].to_numpy(dtype=float), color=_ACTUAL, marker="o",
                    linewidth=2.2, markersize=4, label="Actual")
            ax.plot(decile, part["predicted"].to_numpy(dtype=float), color=colors.get(name),
                    marker="s", linestyle="--", linewidth=1.7, markersize=4, label="Predicted")
            ax.set_title(str(name))
            ax.set_xticks(range(1, 11))
            if i >= len(names) - cols:
                ax.tick_params(labelbottom=True)
            if i == 0:
                ax.legend(loc="upper left", frameon=False)
        _hide_unused(axes, len(names))
        fig.supxlabel(f"Decile of predicted {what} (1 = lowest, 10 = highest)", fontsize=10)
        fig.supylabel(f"Mean {what} per customer in the holdout", fontsize=10)
        fig.suptitle(f"Holdout of {_horizon_text(result, cutoff)} after the cutoff "
                     f"{cutoff:%Y-%m-%d}", fontsize=10)
    return fig


def _horizon_text(result, cutoff) -> str:
    summary = result.summaries.get(cutoff)
    unit = unit_name(result.time_unit)
    if summary is None or "duration_holdout" not in summary or summary.empty:
        return unit
    return f"{float(summary['duration_holdout'].iloc[0]):g} {unit}"


def gain_figure(result, cutoff=None, colors: dict[str, str] | None = None):
    """Gain and lift of holdout revenue, customers ranked by predicted revenue.

    Left: cumulative share of the holdout revenue captured against the share of
    customers targeted (with a random and a perfect ranking for reference).
    Right: lift, the captured share divided by the targeted share. Uses the
    predictions of ``cutoff`` (default: the latest). Returns ``None`` when there
    are no predictions or no holdout revenue.
    """
    cutoff = pd.Timestamp(cutoff) if cutoff is not None else cutoffs(result)[-1]
    preds = result.predictions
    preds = preds[preds["cutoff"] == cutoff]
    if preds.empty or not (preds["actual_revenue"] > 0).any():
        return None
    colors = colors or model_colors(result)
    with _style():
        fig = _figure(FIGURE_WIDTH, 4.4)
        ax_gain, ax_lift = fig.subplots(1, 2)
        perfect = None
        for i, (name, part) in enumerate(preds.groupby("model", sort=False)):
            curve = gain_curve(part["actual_revenue"].to_numpy(dtype=float),
                               part["predicted_revenue"].to_numpy(dtype=float))
            perfect = curve if perfect is None else perfect
            x = 100.0 * curve["share_targeted"].to_numpy()
            # Models often rank alike: a marker and a line style per model (markers
            # staggered along the curve) keep overlapping lines apart.
            look = dict(color=colors.get(name), linewidth=1.8, label=str(name),
                        marker=_MARKERS[i % len(_MARKERS)],
                        linestyle=_LINESTYLES[i % len(_LINESTYLES)], markersize=5,
                        markevery=(0.02 * (i % 5), 0.1))
            ax_gain.plot(x, 100.0 * curve["gain"].to_numpy(), **look)
            ax_lift.plot(x[1:], curve["lift"].to_numpy()[1:], **look)
        x = 100.0 * perfect["share_targeted"].to_numpy()
        ax_gain.plot(x, 100.0 * perfect["perfect"].to_numpy(), color=_REFERENCE, linestyle=":",
                     linewidth=1.6, label="Perfect ranking")
        ax_gain.plot([0, 100], [0, 100], color=_REFERENCE, linestyle="--", linewidth=1.2,
                     label="Random")
        ax_lift.axhline(1.0, color=_REFERENCE, linestyle="--", linewidth=1.2, label="Random")
        ax_gain.set(xlim=(0, 100), ylim=(0, 100.5),
                    xlabel="Customers targeted, ranked by predicted revenue (%)",
                    ylabel="Holdout revenue captured (%)",
                    title="Cumulative gain")
        ax_lift.set(xlim=(0, 100), ylim=(0, None),
                    xlabel="Customers targeted, ranked by predicted revenue (%)",
                    ylabel="Lift (captured share / targeted share)",
                    title="Lift")
        ax_gain.legend(loc="lower right", frameon=False)
        ax_lift.legend(loc="upper right", frameon=False)
        fig.suptitle(f"Holdout of {_horizon_text(result, cutoff)} after the cutoff "
                     f"{cutoff:%Y-%m-%d}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------
# Frequency / recency matrices


def matrix_model(result, cutoff=None) -> tuple[str, str, Any] | None:
    """The first fitted model with ``probability_alive`` and ``expected_purchases``.

    Looks at the components of each candidate fitted at ``cutoff`` (default: the
    latest), in the backtest's model order, preferring models fitted by
    likelihood (with ``log_likelihood_``, e.g. BG/NBD) over formula baselines.
    Returns ``(model name, role, model)`` or ``None``.
    """
    models = matrix_models(result, cutoff)
    return models[0] if models else None


def matrix_models(result, cutoff=None) -> list[tuple[str, str, Any]]:
    """Every transaction model fitted at ``cutoff`` (default: the latest), in model order.

    A transaction model has ``probability_alive`` and ``expected_purchases`` and
    was fitted by likelihood (``log_likelihood_``: BG/NBD, MBG/NBD, Pareto/NBD).
    A fitted model shared by several candidates is listed once. When there is
    none, the first formula model with the two methods (e.g. the baseline), if
    any. Returns ``[(model name, role, model), ...]``.
    """
    cutoff = pd.Timestamp(cutoff) if cutoff is not None else cutoffs(result)[-1]
    found, seen = [], set()
    for name in model_names(result):
        candidate = result.fitted.get((name, cutoff))
        if candidate is None:
            continue
        for role, model in fitted_components(candidate).items():
            if callable(getattr(model, "probability_alive", None)) and \
                    callable(getattr(model, "expected_purchases", None)) and id(model) not in seen:
                seen.add(id(model))
                found.append((name, role, model))
    fitted = [item for item in found if hasattr(item[2], "log_likelihood_")]
    return fitted or found[:1]


def matrix_figure(model, summary: pd.DataFrame, horizon: float, unit: str, title: str = ""):
    """Heatmaps of P(alive) and of expected purchases over frequency and recency.

    The two panels are drawn by :func:`clvmodels.plotting.plot_probability_alive_matrix`
    and :func:`clvmodels.plotting.plot_frequency_recency_matrix`.
    """
    from ..plotting import (matrix_grid, plot_frequency_recency_matrix,
                            plot_probability_alive_matrix)

    T = matrix_grid(summary)[2]
    unit_text = unit_name(unit)
    if "time_unit" not in summary.attrs:
        summary = summary.copy()
        summary.attrs["time_unit"] = unit
    with _style():
        fig = _figure(FIGURE_WIDTH, 4.6)
        ax_alive, ax_expected = fig.subplots(1, 2)
        plot_probability_alive_matrix(model, summary, ax=ax_alive)
        plot_frequency_recency_matrix(model, summary, t=horizon, ax=ax_expected)
        fig.suptitle((title + ": " if title else "")
                     + f"customers first seen {T:.3g} {unit_text} before the cutoff "
                       "(T fixed at the largest T)", fontsize=10)
    return fig


def figure_html(fig, alt: str, caption: str) -> str:
    """A figure as an HTML ``<figure>`` holding its PNG inline, with alt text and caption."""
    import base64
    from html import escape

    width = int(round(fig.get_figwidth() * 100))
    height = int(round(fig.get_figheight() * 100))
    data = base64.b64encode(figure_to_png(fig)).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" width="{width}" '
            f'height="{height}" alt="{escape(alt, quote=True)}"><figcaption>'
            f'{escape(caption, quote=True)}</figcaption></figure>')
