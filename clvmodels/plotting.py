"""Plots of fitted models for notebooks (matplotlib, imported lazily).

Every function draws on the matplotlib ``Axes`` it is given and returns it; with
``ax=None`` it makes a new :class:`matplotlib.figure.Figure` (not through
:mod:`matplotlib.pyplot`, so no pyplot state is touched; the figure is
``ax.figure``, shown by Jupyter when it is the cell's result). The backtest
report draws its matrices with these same functions.

Example
-------
>>> summary = rfm_summary(tx, "customer_id", "date", "amount",
...                       calibration_period_end="1997-09-30", time_unit="W")  # doctest: +SKIP
>>> bgf = BetaGeoModel().fit(summary)                                      # doctest: +SKIP
>>> plot_probability_alive_matrix(bgf, summary)                              # doctest: +SKIP
>>> plot_period_transactions(bgf, summary)                                   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "matrix_grid",
    "matrix_values",
    "plot_calibration_purchases_vs_holdout_purchases",
    "plot_customer_exposure",
    "plot_cumulative_transactions",
    "plot_frequency_recency_matrix",
    "plot_incremental_transactions",
    "plot_period_transactions",
    "plot_probability_alive_history",
    "plot_probability_alive_matrix",
    "plot_spend_distribution",
]

_ACTUAL = "#111111"
_MODEL = "#1f77b4"

_UNITS = {"D": "days", "W": "weeks", "M": "months", "Y": "years", "h": "hours"}


def _unit(summary: pd.DataFrame) -> str:
    unit = summary.attrs.get("time_unit", "")
    return _UNITS.get(str(unit), str(unit) or "periods")


def _axes(ax, width: float = 6.4, height: float = 4.4):
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig.add_subplot()


# ---------------------------------------------------------------------------
# Frequency / recency matrices


def matrix_grid(summary: pd.DataFrame, max_frequency: int = 60, n_recency: int = 40):
    """Frequencies, recencies and ``T`` of the matrices, from a calibration summary.

    ``T`` is the largest ``T`` of the summary; frequency runs from 0 to the
    99.5th percentile of the observed frequencies (at least 5, at most
    ``max_frequency``), so a few extreme customers do not squash the picture;
    recency runs from 0 to ``T``.
    """
    T = float(summary["T"].max())
    top = float(np.ceil(np.quantile(summary["frequency"].to_numpy(dtype=float), 0.995)))
    f_max = int(min(max(top, 5.0), max_frequency))
    frequencies = np.arange(f_max + 1, dtype=float)
    recencies = np.linspace(0.0, T, n_recency + 1)
    return frequencies, recencies, T


def _grid_summary(summary: pd.DataFrame, max_frequency: int, n_recency: int, model=None):
    """The grid as a summary; a model with covariates sees the reference customer
    (every covariate 0, as for its new-customer predictions)."""
    frequencies, recencies, T = matrix_grid(summary, max_frequency, n_recency)
    ff, rr = np.meshgrid(frequencies, recencies, indexing="ij")
    rr = np.where(ff == 0, 0.0, rr)
    grid = pd.DataFrame({"frequency": ff.ravel(), "recency": rr.ravel(),
                         "T": np.full(ff.size, T), "monetary_value": np.ones(ff.size)})
    for column in getattr(model, "covariate_columns", list)():
        grid[column] = 0.0
    if "time_unit" in summary.attrs:
        grid.attrs = {"time_unit": summary.attrs["time_unit"]}
    return frequencies, recencies, T, grid, ff.shape


def matrix_values(model, summary: pd.DataFrame, horizon: float, max_frequency: int = 60,
                  n_recency: int = 40):
    """P(alive) and expected purchases in ``horizon`` over the frequency x recency grid.

    Builds a small summary (one row per grid cell, ``T`` fixed at the largest
    ``T`` of ``summary``) and calls the model's ``probability_alive`` and
    ``expected_purchases``. Customers with frequency 0 have recency 0, so that
    row holds the value at recency 0 throughout. A model with covariates is shown
    for the reference customer, every covariate 0. Returns ``(frequencies,
    recencies, T, p_alive, expected)``, the matrices shaped (frequency, recency).
    """
    frequencies, recencies, T, grid, shape = _grid_summary(summary, max_frequency, n_recency,
                                                           model)
    p_alive = np.asarray(model.probability_alive(grid), dtype=float).reshape(shape)
    expected = np.asarray(model.expected_purchases(grid, horizon), dtype=float).reshape(shape)
    return frequencies, recencies, T, p_alive, expected


def _heatmap(ax, recencies, frequencies, values, *, cmap, vmin, vmax, title, label, unit,
             colorbar):
    mesh = ax.pcolormesh(recencies, frequencies, values, shading="nearest", cmap=cmap,
                         vmin=vmin, vmax=vmax, rasterized=True)
    ax.grid(False)
    ax.set_title(title)
    ax.set_xlabel(f"Recency: age at last purchase ({unit})")
    ax.set_ylabel("Frequency: repeat purchases")
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, shrink=0.95).set_label(label)
    return ax


def plot_frequency_recency_matrix(model, summary: pd.DataFrame, t: float = 1.0, ax=None, *,
                                  max_frequency: int = 60, n_recency: int = 40,
                                  cmap: str = "magma", colorbar: bool = True):
    """Expected purchases in the next ``t`` time units by frequency and recency.

    Works for any transaction model with ``expected_purchases(summary, t)``
    (BG/NBD, MBG/NBD, Pareto/NBD). ``T`` is fixed at the largest ``T`` of
    ``summary``; frequencies go up to its 99.5th percentile (at most
    ``max_frequency``). The heatmap is ``ax.collections[0]`` (values shaped
    frequency x recency).
    """
    frequencies, recencies, T, grid, shape = _grid_summary(summary, max_frequency, n_recency,
                                                           model)
    values = np.asarray(model.expected_purchases(grid, t), dtype=float).reshape(shape)
    ax = _axes(ax)
    top = float(np.nanmax(values)) if np.isfinite(values).any() else 1.0
    return _heatmap(ax, recencies, frequencies, values, cmap=cmap, vmin=0.0, vmax=top or 1.0,
                    title=f"Expected purchases in the next {t:g} {_unit(summary)}",
                    label="Expected purchases", unit=_unit(summary), colorbar=colorbar)


def plot_probability_alive_matrix(model, summary: pd.DataFrame, ax=None, *,
                                  max_frequency: int = 60, n_recency: int = 40,
                                  cmap: str = "viridis", colorbar: bool = True):
    """P(alive) at the end of observation by frequency and recency.

    Same grid as :func:`plot_frequency_recency_matrix`. BG/NBD gives 1 to every
    customer without a repeat purchase (the bottom row), whatever their age.
    """
    frequencies, recencies, T, grid, shape = _grid_summary(summary, max_frequency, n_recency,
                                                           model)
    values = np.asarray(model.probability_alive(grid), dtype=float).reshape(shape)
    ax = _axes(ax)
    return _heatmap(ax, recencies, frequencies, values, cmap=cmap, vmin=0.0, vmax=1.0,
                    title="Probability the customer is still active",
                    label="P(alive)", unit=_unit(summary), colorbar=colorbar)


# ---------------------------------------------------------------------------
# Model checks against the calibration and holdout periods


def _pooled_counts(frequency: np.ndarray, max_frequency: int) -> np.ndarray:
    """Customers with 0, 1, ..., max_frequency - 1 and max_frequency or more repeat purchases."""
    f = np.minimum(np.asarray(frequency, dtype=float), max_frequency).astype(int)
    return np.bincount(f, minlength=max_frequency + 1)[: max_frequency + 1]


def plot_period_transactions(model, summary: pd.DataFrame, ax=None, max_frequency: int = 7,
                             random_state=0, n_draws: int = 100):
    """Customers by number of repeat purchases in calibration: actual vs model.

    The model's bars are the mean count over ``n_draws`` simulations of every
    customer over their own ``T`` (``model.posterior_predictive``: posterior
    draws of a Bayesian fit, asymptotic normal draws of an MLE fit). The last
    bar pools ``max_frequency`` and more. Bars: ``ax.containers[0]`` actual,
    ``ax.containers[1]`` model.
    """
    if max_frequency < 1:
        raise ValueError(f"max_frequency must be at least 1, got {max_frequency!r}.")
    actual = _pooled_counts(summary["frequency"].to_numpy(), max_frequency)
    idata = model.posterior_predictive(summary, n_draws=n_draws, random_state=random_state)
    sims = idata.posterior_predictive["purchases"].sel(column="frequency")
    sims = sims.stack(sample=("chain", "draw")).transpose("sample", "row").to_numpy()
    simulated = np.mean([_pooled_counts(row, max_frequency) for row in sims], axis=0)
    ax = _axes(ax)
    x = np.arange(max_frequency + 1)
    width = 0.4
    ax.bar(x - width / 2, actual, width, color=_ACTUAL, label="Actual")
    ax.bar(x + width / 2, simulated, width, color=_MODEL, label=f"Model ({type(model).__name__})")
    ax.set_xticks(x, [str(i) for i in x[:-1]] + [f"{max_frequency}+"])
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel("Customers")
    ax.set_title("Frequency of repeat transactions")
    ax.legend(frameon=False)
    return ax


def plot_calibration_purchases_vs_holdout_purchases(model, summary: pd.DataFrame, ax=None,
                                                    n: int = 7):
    """Mean holdout purchases per customer, actual vs model, by calibration frequency.

    Customers are grouped by their repeat purchases in calibration (0, 1, ...,
    ``n - 1``, and ``n`` or more pooled: the lifetimes definition); the model's
    value is ``expected_purchases(summary, duration_holdout)``. Needs a summary
    with a holdout (``calibration_period_end``). Lines: ``ax.lines[0]`` actual,
    ``ax.lines[1]`` model.
    """
    from .exceptions import DataError

    missing = [c for c in ("frequency_holdout", "duration_holdout") if c not in summary]
    if missing:
        raise DataError(
            f"The summary has no holdout column {missing[0]!r}: make it with "
            "rfm_summary(..., calibration_period_end=...).", column=missing[0],
            rule="holdout_required", n_rows=len(summary))
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}.")
    horizon = float(summary["duration_holdout"].iloc[0])
    predicted = np.asarray(model.expected_purchases(summary, horizon), dtype=float)
    group = np.minimum(summary["frequency"].to_numpy(dtype=float), n).astype(int)
    frame = pd.DataFrame({"group": group,
                          "actual": summary["frequency_holdout"].to_numpy(dtype=float),
                          "model": predicted}).groupby("group").mean()
    ax = _axes(ax)
    x = frame.index.to_numpy()
    ax.plot(x, frame["actual"].to_numpy(), color=_ACTUAL, marker="o", linewidth=2.2,
            label="Actual")
    ax.plot(x, frame["model"].to_numpy(), color=_MODEL, marker="s", linestyle="--",
            linewidth=1.7, label=f"Model ({type(model).__name__})")
    ticks = np.arange(n + 1)
    ax.set_xticks(ticks, [str(i) for i in ticks[:-1]] + [f"{n}+"])
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel(f"Mean purchases in the holdout ({horizon:g} {_unit(summary)})")
    ax.set_title("Actual vs predicted purchases in the holdout")
    ax.legend(frameon=False)
    return ax


# ---------------------------------------------------------------------------
# The customers


def plot_customer_exposure(summary: pd.DataFrame, ax=None, n: int = 100):
    """First purchase, last purchase and end of observation of ``n`` customers.

    One horizontal line per customer (the first ``n`` rows of ``summary``,
    oldest at the bottom), from the first purchase to the end of observation,
    on the time scale of the summary counted from the earliest first purchase.
    ``ax.collections[0]`` holds the lines, ``ax.collections[1]`` the first and
    ``ax.collections[2]`` the last purchases.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}.")
    part = summary.iloc[:n]
    T = part["T"].to_numpy(dtype=float)
    order = np.argsort(-T, kind="stable")
    T = T[order]
    recency = part["recency"].to_numpy(dtype=float)[order]
    end = float(T.max()) if len(T) else 0.0
    birth = end - T
    y = np.arange(len(T))
    ax = _axes(ax, 6.4, 5.0)
    ax.hlines(y, birth, end, color="#9a9a9a", linewidth=1.0, label="Observed")
    ax.scatter(birth, y, s=10, color=_MODEL, label="First purchase", zorder=3)
    ax.scatter(birth + recency, y, s=10, color=_ACTUAL, marker="|", label="Last purchase",
               zorder=3)
    ax.set_xlabel(f"Time since the first customer's first purchase ({_unit(summary)})")
    ax.set_ylabel("Customer (oldest at the bottom)")
    ax.set_title(f"Customer exposure ({len(T)} customers)")
    ax.legend(frameon=False, loc="lower left")
    return ax


def plot_spend_distribution(spend_model, summary: pd.DataFrame, ax=None, bins: int = 40,
                            n_draws: int = 20, random_state=0):
    """Observed vs model distribution of the customers' mean spend (Gamma-Gamma).

    Observed: the histogram (density) of ``monetary_value`` of customers with
    repeat purchases and positive spend, the ones the model is fitted on. Model:
    each of those customers' mean spend simulated ``n_draws`` times from the
    fitted model, ``nu ~ Gamma(q, rate v)`` and mean spend ``~ Gamma(p x, rate
    nu x)`` with ``x`` their frequency (Fader, Hardie & Lee 2005, eq. 1-3),
    binned the same way (``ax.lines[0]``).
    """
    p, q, v = (float(spend_model.params_[k]) for k in ("p", "q", "v"))
    x = summary["frequency"].to_numpy(dtype=float)
    z = summary["monetary_value"].to_numpy(dtype=float)
    keep = (x > 0) & (z > 0)
    x, z = x[keep], z[keep]
    if not len(z):
        raise ValueError("No customer with repeat purchases and positive spend to plot.")
    rng = np.random.default_rng(random_state)
    xs = np.repeat(x, n_draws)
    nu = rng.gamma(q, 1.0 / v, size=xs.size)
    simulated = rng.gamma(p * xs, 1.0 / (nu * xs))
    edges = np.linspace(0.0, float(np.quantile(z, 0.99)) * 1.2, bins + 1)
    ax = _axes(ax)
    ax.hist(z, bins=edges, density=True, color="#bdbdbd", label="Observed")
    density, _ = np.histogram(simulated, bins=edges, density=True)
    centres = (edges[:-1] + edges[1:]) / 2
    ax.plot(centres, density, color=_MODEL, linewidth=2.0,
            label=f"Model ({type(spend_model).__name__})")
    ax.set_xlabel("Mean spend per transaction")
    ax.set_ylabel("Density")
    ax.set_title(f"Distribution of mean spend ({len(z)} repeat customers)")
    ax.legend(frameon=False)
    return ax


# ---------------------------------------------------------------------------
# Plots from a transaction log


def _days(transactions, customer_id_col, datetime_col, observation_period_end):
    from .data import purchase_days

    return purchase_days(transactions, customer_id_col, datetime_col,
                         observation_period_end=observation_period_end)


def plot_probability_alive_history(model, transactions: pd.DataFrame, customer_id,
                                   customer_id_col: str, datetime_col: str, *,
                                   observation_period_end=None, n_points: int = 200,
                                   ax=None):
    """One customer's P(alive) over time, with their purchases marked.

    At each of ``n_points`` dates from the customer's first purchase to
    ``observation_period_end`` (default: the last date of the log) the
    customer's frequency, recency and ``T`` are recomputed from their purchase
    days (the validation and merging of :func:`clvmodels.purchase_days`), in the
    model's time unit, and ``model.probability_alive`` evaluated. ``ax.lines[0]``
    is the path (x: dates as matplotlib date numbers); the purchases are
    ``ax.lines[1:]`` (vertical lines).
    """
    from .exceptions import DataError
    from .units import unit_days

    if n_points < 2:
        raise ValueError(f"n_points must be at least 2, got {n_points!r}.")
    if observation_period_end is None:
        observation_period_end = pd.to_datetime(transactions[datetime_col]).max()
    days = _days(transactions, customer_id_col, datetime_col, observation_period_end)
    mine = days[days[customer_id_col] == customer_id]
    if mine.empty:
        raise DataError(f"Customer {customer_id!r} has no purchase in {customer_id_col!r} "
                        f"up to {observation_period_end}.", column=customer_id_col,
                        rule="customer_not_found", n_rows=0, examples=[customer_id])
    times = pd.to_datetime(mine[datetime_col]).sort_values().to_numpy()
    first = times[0]
    end = pd.Timestamp(observation_period_end).to_datetime64()
    unit = getattr(model, "time_unit_", None) or "D"
    scale = np.timedelta64(1, "s") * (unit_days(unit) * 86_400)
    dates = first + (end - first) * np.linspace(0.0, 1.0, n_points)
    bought = np.searchsorted(times, dates, side="right")  # purchases up to each date
    grid = pd.DataFrame({"frequency": (bought - 1).astype(float),
                         "recency": (times[bought - 1] - first) / scale,
                         "T": (dates - first) / scale, "monetary_value": 1.0})
    grid.attrs["time_unit"] = unit
    alive = np.asarray(model.probability_alive(grid), dtype=float)
    ax = _axes(ax, 8.0, 3.8)
    ax.plot(dates, alive, color=_MODEL, linewidth=1.8, label="P(alive)")
    for i, t in enumerate(times):
        ax.axvline(t, color=_ACTUAL, linestyle=":", linewidth=1.0,
                   label="Purchase" if i == 0 else None)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel("Date")
    ax.set_ylabel("P(alive)")
    ax.set_title(f"Customer {customer_id}: P(alive) over time ({len(times)} purchase days)")
    ax.legend(frameon=False, loc="lower left")
    return ax


def _tracking(model, transactions, customer_id_col, datetime_col, observation_period_end,
              freq):
    from .units import unit_days

    if observation_period_end is None:
        observation_period_end = pd.to_datetime(transactions[datetime_col]).max()
    days = _days(transactions, customer_id_col, datetime_col, observation_period_end)
    unit = getattr(model, "time_unit_", None) or "D"
    step = freq or unit
    codes = pd.factorize(days[customer_id_col])[0]
    when = pd.to_datetime(days[datetime_col]).to_numpy()
    births = pd.Series(when).groupby(codes).transform("min").to_numpy()
    start = when.min()
    end = pd.Timestamp(observation_period_end).to_datetime64()
    width = np.timedelta64(1, "s") * (unit_days(step) * 86_400)
    n = max(int(np.ceil((end - start) / width)), 1)
    edges = start + width * np.arange(1, n + 1)
    edges[-1] = min(edges[-1], end)
    repeat = when[when > births]
    actual = np.searchsorted(np.sort(repeat), edges, side="right").astype(float)
    # One birth per customer (births has one per purchase day).
    birth_days = np.unique(pd.Series(when).groupby(codes).min().to_numpy(), return_counts=True)
    unit_scale = np.timedelta64(1, "s") * (unit_days(unit) * 86_400)
    predicted = np.zeros(len(edges))
    for b, count in zip(*birth_days):
        age = (edges - b) / unit_scale
        live = age > 0
        if live.any():
            values = np.asarray(model.expected_purchases_new_customer(age[live]), dtype=float)
            predicted[live] += count * values
    return edges, actual, predicted, step


def _tracking_axes(ax, edges, actual, predicted, model, calibration_period_end, title, ylabel):
    ax = _axes(ax, 8.0, 4.2)
    ax.plot(edges, actual, color=_ACTUAL, linewidth=2.2, label="Actual")
    ax.plot(edges, predicted, color=_MODEL, linestyle="--", linewidth=1.8,
            label=f"Model ({type(model).__name__})")
    if calibration_period_end is not None:
        ax.axvline(pd.Timestamp(calibration_period_end).to_datetime64(), color="#8a8a8a",
                   linestyle=":", linewidth=1.2, label="End of calibration")
    ax.set_xlabel("Date")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left")
    return ax


def plot_cumulative_transactions(model, transactions: pd.DataFrame, customer_id_col: str,
                                 datetime_col: str, *, calibration_period_end=None,
                                 observation_period_end=None, freq: str | None = None,
                                 ax=None):
    """Cumulative repeat purchases of all customers in the log: actual vs model.

    Every customer enters at their first purchase day; the model's curve at a
    date is the sum over customers of ``expected_purchases_new_customer(age)``
    (their expected repeat purchases since their first one), so after
    ``calibration_period_end`` (a vertical line) it forecasts. Points every
    ``freq`` (a time unit; default the model's). ``ax.lines[0]`` actual,
    ``ax.lines[1]`` model.
    """
    edges, actual, predicted, step = _tracking(model, transactions, customer_id_col,
                                               datetime_col, observation_period_end, freq)
    return _tracking_axes(ax, edges, actual, predicted, model, calibration_period_end,
                          "Tracking cumulative repeat purchases", "Cumulative repeat purchases")


def plot_incremental_transactions(model, transactions: pd.DataFrame, customer_id_col: str,
                                  datetime_col: str, *, calibration_period_end=None,
                                  observation_period_end=None, freq: str | None = None,
                                  ax=None):
    """Repeat purchases per period (``freq``, default the model's time unit): actual vs
    model; the differences of :func:`plot_cumulative_transactions`."""
    edges, actual, predicted, step = _tracking(model, transactions, customer_id_col,
                                               datetime_col, observation_period_end, freq)
    return _tracking_axes(ax, edges, np.diff(actual, prepend=0.0),
                          np.diff(predicted, prepend=0.0), model, calibration_period_end,
                          "Tracking repeat purchases per period",
                          f"Repeat purchases per {_UNITS.get(step, step).rstrip('s')}")
