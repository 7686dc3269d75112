"""Predictions of the purchase-count models (BG/NBD, MBG/NBD, Pareto/NBD).

:class:`TransactionPredictionsMixin` holds the prediction methods of
:class:`~clvmodels.models.parametric.TransactionModel`: P(alive) now and later,
expected purchases (one horizon, several, or one per customer; with intervals
over parameter draws or predictive intervals of the count), purchase
probabilities, for customers with a history and for new ones. Each is computed
from the model's ``formulas`` module, once per distinct history.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd

from .._checks import fail_rows
from ..exceptions import ConvergenceError, DataError
from ..inference.draws import interval_quantiles
from ..rows import group_rows, worth_grouping

__all__ = ["TransactionPredictionsMixin"]


def _as_horizons(t, name: str = "t") -> tuple[np.ndarray, bool]:
    """Horizon(s) as a 1-D float array and whether a scalar was given."""
    arr = np.asarray(t, dtype=float)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence of numbers.")
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {t!r}.")
    return arr, scalar


def _customer_horizons(t: pd.Series, summary: pd.DataFrame) -> np.ndarray:
    """One horizon per customer of ``summary``, from a Series indexed by customer id."""
    ids = summary.index
    missing = ids[~ids.isin(t.index)]
    extra = t.index[~t.index.isin(ids)]
    if len(missing) or len(extra) or not t.index.is_unique or len(t) != len(ids):
        duplicated = t.index[t.index.duplicated()]
        raise DataError(
            f"The horizons t (a Series: one per customer) must be indexed by the summary's "
            f"customer ids: {len(missing)} customer(s) of the summary have no horizon, "
            f"{len(extra)} id(s) of t are not in the summary and {len(duplicated)} are "
            "repeated. Align it first, e.g. t.reindex(summary.index).",
            column="t", rule="unaligned_horizons",
            n_rows=len(missing) + len(extra) + len(duplicated),
            examples=[*missing[:3], *extra[:3], *duplicated[:3]])
    values = pd.to_numeric(t, errors="coerce").reindex(ids).to_numpy(dtype=float,
                                                                     na_value=np.nan)
    fail_rows(~np.isfinite(values) | (values < 0), t.reindex(ids), column="t",
              rule="bad_horizons", what="are missing, infinite or negative horizons")
    return values


def _as_counts(n) -> tuple[np.ndarray, bool]:
    arr = np.asarray(n)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr).astype(float)
    if (arr.ndim != 1 or np.any(~np.isfinite(arr)) or np.any(arr < 0)
            or np.any(arr != np.round(arr))):
        raise ValueError(
            f"n must be a non-negative whole number or a 1-D sequence of them, got {n!r}.")
    return arr, scalar


class _History:
    """Validated purchase histories, with formulas evaluated once per distinct row.

    ``evaluate(func, names, params)`` calls ``func`` on the distinct rows of the
    named columns (and the covariates, if any) and expands the result back to
    every customer when that saves work (large summaries with repeated rows, e.g.
    ages in whole days).
    """

    #: Look for distinct rows above this many customers.
    MIN_ROWS = 2_000

    def __init__(self, index, x, t_x, T, covs=(), row_params=None) -> None:
        self.index = index
        self.columns = {"x": x, "t_x": t_x, "T": T}
        self.covs = list(covs)
        self.cov_names = tuple(f"z{i}" for i in range(len(self.covs)))
        self.columns.update(zip(self.cov_names, self.covs))
        self.row_params = row_params
        self._groups: dict[tuple, tuple | None] = {}

    def _grouping(self, names: tuple):
        if names not in self._groups:
            cols = [self.columns[n] for n in names]
            group = None
            if len(cols[0]) >= self.MIN_ROWS and worth_grouping(cols):
                codes, first = group_rows(cols)
                if len(first) < 0.7 * len(codes):
                    group = (codes, first)
            self._groups[names] = group
        return self._groups[names]

    def evaluate(self, func, names: tuple = ("x", "t_x", "T"), params=None):
        """``func(*columns)`` (rows first) for every customer; with ``params``,
        ``func(*columns, row_params)``, the parameters per row (shape ``(rows, 1)``
        with covariates) last."""
        names = tuple(names) + self.cov_names
        cols = [self.columns[n] for n in names]
        group = self._grouping(names)
        if group is not None:
            cols = [c[group[1]] for c in cols]
        k = len(cols) - len(self.cov_names)
        if params is None:  # a function of the history only
            values = func(*cols[:k])
        else:
            values = func(*cols[:k], self.row_params(params, [c[:, None] for c in cols[k:]]))
        return values if group is None else values[group[0]]


class TransactionPredictionsMixin:
    """Prediction methods shared by the purchase-count models (BG/NBD, MBG/NBD, ...).

    Used through :class:`~clvmodels.models.parametric.TransactionModel`, whose
    subclasses declare ``formulas``: a module (or namespace) with the functions

    ``probability_alive(x, t_x, T, *params)``,
    ``probability_alive_at(t, x, t_x, T, *params)`` (alive ``t`` after T),
    ``conditional_expected_purchases(t, x, t_x, T, *params)``,
    ``expected_purchases(t, *params)``,
    ``probability_of_purchases(n, t, *params)`` and
    ``conditional_probability_of_purchases(n, t, x, t_x, T, *params)``,

    vectorised numpy functions that broadcast over their arguments (``x, t_x, T``
    are the model's three ``data_columns``: ``frequency, recency, T``, or
    ``frequency, recency, n_periods`` for BG/BB). Predictions
    are computed once per distinct ``(frequency, recency, T)`` row and returned
    as pandas objects indexed by customer id; the summary is never modified.
    """

    #: ``expected_purchases`` accepts a sequence of horizons (used by
    #: :func:`clvmodels.clv.customer_lifetime_value`).
    supports_horizon_arrays: ClassVar[bool] = True

    def _history(self, summary) -> "_History":
        index, (x, t_x, T, *covs) = self._arrays(summary, self.data_columns)
        return _History(index, x, t_x, T, covs, self._row_params)

    def _purchases_kernel(self, summary):
        """``f(times, params, combine=None)``: cumulative expected purchases.

        Returns ``(customers, len(times))`` values, or their product with the
        matrix ``combine`` (``(len(times), m)`` -> ``(customers, m)``), formed
        before expanding distinct rows to customers. Validation and the search
        for distinct rows happen once, so the kernel is cheap to evaluate for
        many parameter draws (:func:`clvmodels.clv.customer_lifetime_value`).
        """
        hist = self._history(summary)
        f = self.formulas
        if hasattr(f, "expected_purchases_if_alive"):
            # E = P(alive | x, t_x, T) * E(purchases | alive, x, T): the expensive
            # second factor does not depend on recency, so it is computed once
            # per distinct (frequency, T).
            def kernel(times, params, combine=None):
                times = np.asarray(times, dtype=float)
                x, t_x, T = hist.columns["x"], hist.columns["t_x"], hist.columns["T"]
                p_alive = f.probability_alive(x, t_x, T, *self._row_params(params, hist.covs))

                def alive(x_, T_, P):
                    e = f.expected_purchases_if_alive(times[None, :], x_[:, None], T_[:, None],
                                                      *P)
                    return e if combine is None else e @ combine

                return p_alive[:, None] * hist.evaluate(alive, ("x", "T"), params)
        else:
            def kernel(times, params, combine=None):
                times = np.asarray(times, dtype=float)

                def cumulative(x_, tx_, T_, P):
                    e = f.conditional_expected_purchases(
                        times[None, :], x_[:, None], tx_[:, None], T_[:, None], *P)
                    return e if combine is None else e @ combine

                return hist.evaluate(cumulative, params=params)

        return hist.index, kernel

    # ------------------------------------------------------------------ draws
    _UNCERTAINTY_DOC = """
        interval
            If given (e.g. 0.9), return a DataFrame with the ``mean``, ``lower``
            and ``upper`` over parameter draws, the bounds being the equal-tailed
            ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles
            (``numpy.quantile``, linear interpolation).
        return_draws
            Return every draw instead: an ``xarray.DataArray`` with dims
            ``(customer_id[, t or n], draw)`` (customers x draws values: use it on
            a subset of customers or with ``n_draws``).
        n_draws
            Number of parameter draws. NUTS/ADVI fits: default every posterior
            draw; a smaller number picks a random subset. MLE/MAP fits: default
            1000 asymptotic normal draws.
        random_state
            Seed or ``numpy.random.Generator`` of the draws.
    """

    @staticmethod
    def _param_arrays(draws: np.ndarray) -> list[np.ndarray]:
        """Draws as broadcastable parameter arrays of shape ``(1, n_draws, 1)``."""
        return [draws[:, j][None, :, None] for j in range(draws.shape[1])]

    def _purchases_draws_function(self, points: np.ndarray):
        """``func([x, T, t_x], draws) -> (rows, draws, len(points))`` cumulative expected
        purchases (for :func:`~clvmodels.inference.draws.reduce_draws`; rows are
        sorted by ``(x, T)`` so the factor that ignores recency is computed once
        per distinct ``(x, T)`` of a block)."""
        f = self.formulas
        times = np.asarray(points, dtype=float)[None, None, :]

        def func(cols, draws):
            x, T, t_x, *z = cols
            P = self._row_params(self._param_arrays(draws), [c[:, None, None] for c in z])
            X, TT, TX = (c[:, None, None] for c in (x, T, t_x))
            if not hasattr(f, "expected_purchases_if_alive"):
                return f.conditional_expected_purchases(times, X, TX, TT, *P)
            p_alive = f.probability_alive(X, TX, TT, *P)
            new = np.ones(len(x), dtype=bool)
            new[1:] = (x[1:] != x[:-1]) | (T[1:] != T[:-1])
            for c in z:  # covariates change the parameters
                new[1:] |= c[1:] != c[:-1]
            group = np.cumsum(new) - 1
            ux, uT = x[new], T[new]
            P = [p[new] if np.shape(p)[0] == len(x) else p for p in P]
            alive = f.expected_purchases_if_alive(times, ux[:, None, None], uT[:, None, None],
                                                  *P)
            return p_alive * alive[group]

        return func

    def _history_columns(self, summary):
        hist = self._history(summary)
        c = hist.columns
        return hist.index, [c["x"], c["T"], c["t_x"], *hist.covs]

    # ------------------------------------------------------------------ predictions
    def probability_alive(self, summary: pd.DataFrame, t=None, *,
                          interval: float | None = None, return_draws: bool = False,
                          n_draws: int | None = None, random_state=None):
        """Probability that each customer is alive at the end of observation, or
        ``t`` later.

        Parameters
        ----------
        summary
            RFM summary of the customers.
        t
            Time after the end of observation (in ``time_unit_``): a number, or a
            pandas Series indexed by customer id (one per customer). Default: at
            the end of observation. BG/NBD calls every customer without a repeat
            purchase alive at the end of observation, however long ago they
            bought: a later ``t`` shows the dropout the model expects from then on.
        {uncertainty}
        Returns
        -------
        Series indexed by customer id (see the formulas module for the paper and
        equation); a DataFrame ``mean, lower, upper`` with ``interval``.
        """
        if t is not None:
            return self._probability_alive_later(summary, t, interval=interval,
                                                 return_draws=return_draws, n_draws=n_draws,
                                                 random_state=random_state)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            f = self.formulas

            def func(cols, draws):
                x, T, t_x, *z = (c[:, None] for c in cols)
                return f.probability_alive(x, t_x, T, *self._row_params(
                    [d[None, :] for d in draws.T], z))

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "probability_alive", interval=interval,
                                return_draws=return_draws)
        hist = self._history(summary)
        c = hist.columns  # cheap formula: no search for distinct rows
        values = self.formulas.probability_alive(
            c["x"], c["t_x"], c["T"], *self._row_params(self._params_tuple(), hist.covs))
        return pd.Series(values, index=hist.index, name="probability_alive")

    def _probability_alive_later(self, summary, t, *, interval, return_draws, n_draws,
                                 random_state):
        """:meth:`probability_alive` ``t`` after the end of observation."""
        f = self.formulas
        if isinstance(t, pd.Series):
            later = _customer_horizons(t, summary)
        else:
            later, scalar = _as_horizons(t)
            if not scalar:
                raise ValueError("t must be a single number, or a Series with one per "
                                 "customer.")
            later = np.full(len(summary), later[0])
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)

            def func(cols, draws):
                *cols, h = (c[:, None] for c in cols)
                x, T, t_x, *z = cols
                return f.probability_alive_at(h, x, t_x, T, *self._row_params(
                    [d[None, :] for d in draws.T], z))

            res = self._reduce([*cols, later], func, n_draws=n_draws,
                               random_state=random_state, interval=interval,
                               return_draws=return_draws)
            return self._format(res, index, "probability_alive", interval=interval,
                                return_draws=return_draws)
        index, (x, t_x, T, *z) = self._arrays(summary, self.data_columns)
        values = f.probability_alive_at(later, x, t_x, T, *self._row_params(self._params_tuple(),
                                                                            z))
        return pd.Series(values, index=index, name="probability_alive")

    def expected_purchases(self, summary: pd.DataFrame, t, t_start=None, *,
                           interval: float | None = None, return_draws: bool = False,
                           n_draws: int | None = None, random_state=None,
                           interval_kind: str = "expected"):
        """Expected number of purchases of each customer after the observation end.

        Parameters
        ----------
        summary
            RFM summary of the customers (its ``time_unit`` attribute, if any, is
            converted to the model's).
        t
            Horizon(s) in the model's ``time_unit_``: purchases in ``(T, T + t]``.
            A sequence gives one column per horizon. A pandas Series indexed by
            customer id gives one horizon per customer (its ids must be those of
            ``summary``, in any order; a :class:`~clvmodels.exceptions.DataError`
            otherwise) and a Series back.
        t_start
            If given, purchases in ``(T + t_start, T + t]`` instead.
        interval_kind
            ``"expected"`` (default): the interval of the *expected* number of
            purchases over parameter draws (how sure the model is of the mean).
            ``"predictive"``: the interval of the number of purchases the customer
            will make, from P(X(t) = n | history) (FHL eq. 8 given alive; mixed
            over posterior draws for NUTS/ADVI fits, the plug-in estimate
            otherwise, whose uncertainty is small beside a customer's own): from
            the ``(1 - interval) / 2`` quantile up to the smallest count that
            holds at least ``interval`` of the probability. What users mean by
            "this customer will buy between L and U"; whole numbers, so at least
            ``interval`` of customers fall in it. Scalar ``t`` only.
        {uncertainty}
        Returns
        -------
        Series (scalar ``t``) or DataFrame (columns = horizons) indexed by customer
        id. With ``interval``: a DataFrame ``mean, lower, upper`` (scalar ``t``) or
        with columns ``(t, statistic)``.
        """
        if interval_kind not in ("expected", "predictive"):
            raise ValueError(f"interval_kind must be 'expected' or 'predictive', got "
                             f"{interval_kind!r}.")
        if interval_kind == "predictive" and interval is not None:
            return self._predictive_purchases(summary, t, t_start, interval, n_draws,
                                              random_state)
        if isinstance(t, pd.Series):
            if t_start is not None:
                raise ValueError("t_start is not available with one horizon per customer.")
            return self._expected_purchases_per_customer(
                summary, t, interval=interval, return_draws=return_draws, n_draws=n_draws,
                random_state=random_state)
        horizons, scalar = _as_horizons(t)
        start = None
        if t_start is not None:
            start, _ = _as_horizons(t_start, "t_start")
            if start.size != 1:
                raise ValueError("t_start must be a single number.")
            if np.any(horizons < start[0]):
                raise ValueError(f"t must be >= t_start ({float(start[0])}).")
        points = horizons if start is None else np.concatenate([start, horizons])
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            cumulative = self._purchases_draws_function(points)

            def func(cols, draws):
                values = cumulative(cols, draws)
                return values if start is None else values[:, :, 1:] - values[:, :, :1]

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "expected_purchases",
                                labels=None if scalar else horizons, label_name="t",
                                interval=interval, return_draws=return_draws)
        index, kernel = self._purchases_kernel(summary)
        values = kernel(points, self._params_tuple())
        if start is not None:
            values = values[:, 1:] - values[:, :1]
        if scalar:
            return pd.Series(values[:, 0], index=index, name="expected_purchases")
        return pd.DataFrame(values, index=index, columns=pd.Index(horizons, name="t"))

    #: Posterior draws mixed into a predictive interval of a NUTS/ADVI fit (default).
    PREDICTIVE_DRAWS: ClassVar[int] = 200

    def _predictive_purchases(self, summary, t, t_start, interval, n_draws, random_state):
        """``expected_purchases(..., interval_kind="predictive")``: the mean, and the
        quantiles of the number of purchases in ``(T, T + t]``."""
        lo_q, hi_q = interval_quantiles(interval)
        horizon, scalar = _as_horizons(t)
        if t_start is not None or not scalar or isinstance(t, pd.Series):
            raise ValueError("A predictive interval takes one horizon t (a number), "
                             "without t_start.")
        mean = self.expected_purchases(summary, float(horizon[0]))
        index, (x, t_x, T, *z) = self._arrays(summary, self.data_columns)
        if self._has_posterior():
            n = int(n_draws) if n_draws is not None else self.PREDICTIVE_DRAWS
            draws = self._prediction_draws(n, random_state)
        else:
            draws = np.asarray([self._params_tuple()])
        f = self.formulas
        # The interval starts at the (1 - interval) / 2 quantile and ends where it
        # holds at least ``interval`` of the probability: when that quantile is 0
        # (most customers), no probability is lost below it, so the upper end need
        # not reach the (1 + interval) / 2 quantile (less conservative for counts).
        lower = np.full(len(index), -1.0)
        upper = np.full(len(index), -1.0)
        target = np.full(len(index), np.inf)  # P(X < lower) + interval, once lower is known
        cdf = np.zeros(len(index))
        step, start = 16, 0
        while (upper < 0).any():
            counts = np.arange(start, start + step, dtype=float)
            todo = upper < 0
            pmf = np.mean([f.conditional_probability_of_purchases(
                counts[None, :], float(horizon[0]), x[todo, None], t_x[todo, None],
                T[todo, None], *self._row_params(params, [c[todo, None] for c in z]))
                for params in draws], axis=0)
            running = cdf[todo, None] + np.cumsum(pmf, axis=1)
            low, goal = lower[todo], target[todo]
            new = (low < 0) & (running >= lo_q - 1e-12).any(axis=1)
            at = np.argmax(running >= lo_q - 1e-12, axis=1)
            rows = np.flatnonzero(new)
            low[rows] = counts[at[rows]]
            goal[rows] = running[rows, at[rows]] - pmf[rows, at[rows]] + interval
            reached = running >= np.minimum(goal, 1.0)[:, None] - 1e-12
            up = upper[todo]
            found = reached.any(axis=1) & (up < 0)
            up[found] = counts[np.argmax(reached, axis=1)[found]]
            lower[todo], target[todo], upper[todo] = low, goal, up
            cdf[todo] = running[:, -1]
            start += step
            step *= 2
            if start > 1e6:  # pragma: no cover - a pmf that never sums to one
                raise ConvergenceError("The predictive distribution of purchases did not "
                                       "sum to one within a million purchases.")
        return pd.DataFrame({"mean": mean.to_numpy(), "lower": lower, "upper": upper},
                            index=index)

    def _cumulative_purchases(self, t, x, t_x, T, params):
        """Expected purchases in ``(T, T + t]``, broadcast elementwise over the arrays."""
        f = self.formulas
        if hasattr(f, "expected_purchases_if_alive"):
            return (f.probability_alive(x, t_x, T, *params)
                    * f.expected_purchases_if_alive(t, x, T, *params))
        return f.conditional_expected_purchases(t, x, t_x, T, *params)

    def _expected_purchases_per_customer(self, summary, t: pd.Series, *, interval,
                                         return_draws, n_draws, random_state):
        """:meth:`expected_purchases` with one horizon per customer (a Series)."""
        horizons = _customer_horizons(t, summary)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)

            def func(cols, draws):
                *cols, h = (c[:, None, None] for c in cols)
                x, T, t_x, *z = cols
                return self._cumulative_purchases(
                    h, x, t_x, T, self._row_params(self._param_arrays(draws), z))

            res = self._reduce([*cols, horizons], func, n_draws=n_draws,
                               random_state=random_state, interval=interval,
                               return_draws=return_draws)
            return self._format(res, index, "expected_purchases", interval=interval,
                                return_draws=return_draws)
        index, (x, t_x, T, *z) = self._arrays(summary, self.data_columns)
        values = self._cumulative_purchases(horizons, x, t_x, T,
                                            self._row_params(self._params_tuple(), z))
        return pd.Series(values, index=index, name="expected_purchases")

    def _unconditional(self, func, labels, label_name, name, scalar, interval, return_draws,
                       n_draws, random_state):
        """A prediction for a new customer (no history) with draws."""
        res = self._reduce([], func, n_draws=n_draws, random_state=random_state,
                           interval=interval, return_draws=return_draws)
        if return_draws:
            import xarray as xr

            values = res.draws[0]  # (labels, draws)
            da = xr.DataArray(values, dims=(label_name, "draw"),
                              coords={label_name: np.asarray(labels),
                                      "draw": np.arange(values.shape[-1])}, name=name)
            return da.isel({label_name: 0}) if scalar else da
        index = pd.Index(np.asarray(labels), name=label_name)
        if interval is None:
            if scalar:
                return float(res.mean[0, 0])
            return pd.Series(res.mean[0], index=index, name=name)
        return pd.DataFrame({"mean": res.mean[0], "lower": res.lower[0],
                             "upper": res.upper[0]}, index=index)

    def expected_purchases_new_customer(self, t, *, interval: float | None = None,
                                        return_draws: bool = False,
                                        n_draws: int | None = None, random_state=None):
        """Expected repeat purchases of a new customer in ``(0, t]`` (unconditional).

        With covariates: a new customer whose covariates are all 0 (the
        reference levels of one-hot columns).

        Returns a float for a scalar ``t``, else a Series indexed by ``t``; with
        ``interval`` a DataFrame ``mean, lower, upper`` indexed by ``t`` (see
        :meth:`expected_purchases` for ``interval``, ``return_draws``, ``n_draws``).
        """
        horizons, scalar = _as_horizons(t)
        if self._uses_draws(interval, return_draws):
            f = self.formulas

            def func(cols, draws):
                return f.expected_purchases(horizons[None, None, :],
                                            *self._row_params(self._param_arrays(draws), ()))

            return self._unconditional(func, horizons, "t", "expected_purchases", scalar,
                                       interval, return_draws, n_draws, random_state)
        values = self.formulas.expected_purchases(horizons,
                                                  *self._row_params(self._params_tuple(), ()))
        if scalar:
            return float(values[0])
        return pd.Series(values, index=pd.Index(horizons, name="t"), name="expected_purchases")

    def probability_of_purchases(self, t: float, n, *, interval: float | None = None,
                                 return_draws: bool = False, n_draws: int | None = None,
                                 random_state=None):
        """Probability that a new customer makes ``n`` repeat purchases in ``(0, t]``
        (with covariates: a customer whose covariates are all 0).

        Returns a float for a scalar ``n``, else a Series indexed by ``n``; with
        ``interval`` a DataFrame ``mean, lower, upper`` indexed by ``n``.
        """
        horizon, scalar_t = _as_horizons(t)
        if not scalar_t:
            raise ValueError("t must be a single number.")
        counts, scalar = _as_counts(n)
        if self._uses_draws(interval, return_draws):
            f = self.formulas

            def func(cols, draws):
                return f.probability_of_purchases(
                    counts[None, None, :], horizon[0],
                    *self._row_params(self._param_arrays(draws), ()))

            return self._unconditional(func, counts.astype(np.int64), "n", "probability",
                                       scalar, interval, return_draws, n_draws, random_state)
        values = self.formulas.probability_of_purchases(
            counts, horizon[0], *self._row_params(self._params_tuple(), ()))
        if scalar:
            return float(values[0])
        return pd.Series(values, index=pd.Index(counts.astype(np.int64), name="n"),
                         name="probability")

    def conditional_probability_of_purchases(self, summary: pd.DataFrame, t: float, n, *,
                                             interval: float | None = None,
                                             return_draws: bool = False,
                                             n_draws: int | None = None, random_state=None):
        """Probability that each customer makes ``n`` purchases in ``(T, T + t]``.

        Returns a Series (scalar ``n``) or a DataFrame (columns = ``n``) indexed by
        customer id; with ``interval`` a DataFrame ``mean, lower, upper`` (scalar
        ``n``) or with columns ``(n, statistic)`` (see :meth:`expected_purchases`).
        """
        horizon, scalar_t = _as_horizons(t)
        if not scalar_t:
            raise ValueError("t must be a single number.")
        counts, scalar = _as_counts(n)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            f = self.formulas

            def func(cols, draws):
                X, TT, TX, *z = (c[:, None, None] for c in cols)
                return f.conditional_probability_of_purchases(
                    counts[None, None, :], horizon[0], X, TX, TT,
                    *self._row_params(self._param_arrays(draws), z))

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "probability",
                                labels=None if scalar else counts.astype(np.int64),
                                label_name="n", interval=interval, return_draws=return_draws)
        hist = self._history(summary)
        index = hist.index
        params = self._params_tuple()

        def pmf(x_, tx_, T_, P):
            return self.formulas.conditional_probability_of_purchases(
                counts[None, :], horizon[0], x_[:, None], tx_[:, None], T_[:, None], *P)

        values = hist.evaluate(pmf, params=params)
        if scalar:
            return pd.Series(values[:, 0], index=index, name="probability")
        return pd.DataFrame(values, index=index,
                            columns=pd.Index(counts.astype(np.int64), name="n"))

    def probability_of_no_purchase(self, summary: pd.DataFrame, t: float, *,
                                   interval: float | None = None, return_draws: bool = False,
                                   n_draws: int | None = None, random_state=None):
        """Probability that each customer makes no purchase in ``(T, T + t]`` (arguments
        as :meth:`conditional_probability_of_purchases`)."""
        out = self.conditional_probability_of_purchases(
            summary, t, 0, interval=interval, return_draws=return_draws, n_draws=n_draws,
            random_state=random_state)
        return out if isinstance(out, pd.DataFrame) else out.rename("probability_no_purchase")


for _name in ("probability_alive", "expected_purchases"):
    _method = getattr(TransactionPredictionsMixin, _name)
    _method.__doc__ = _method.__doc__.replace(
        "{uncertainty}", TransactionPredictionsMixin._UNCERTAINTY_DOC.strip("\n").lstrip() + "\n")
del _name, _method
