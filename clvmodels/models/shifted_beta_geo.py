"""Shifted-beta-geometric model of contractual retention (Fader & Hardie 2007)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from .._checks import fail_rows, finite_numbers
from ..exceptions import DataError
from ..inference.draws import interval_quantiles
from ..inference.mle import LikelihoodSpec
from ..likelihoods import shifted_beta_geo as _formulas
from .parametric import Parameter, ParametricModel

__all__ = ["ShiftedBetaGeoModel", "subscriber_rows"]

_COLUMNS = ("t", "churned", "horizon")


def subscriber_rows(data, weights=None) -> pd.DataFrame:
    """The model's input as rows ``t, churned, horizon, weight``.

    ``data`` is either

    * **survivor counts**: a sequence (one cohort: subscribers at the start of
      periods 0, 1, ..., k), a dict ``{cohort: sequence}``, or a DataFrame / 2-D
      array with one row per cohort and one column per period (NaN once the cohort
      has not been observed that long). Period ``t`` loses ``n_{t-1} - n_t``
      subscribers (rows ``(t, 1)``) and ``n_k`` remain (row ``(k, 0)``);
    * **one row per subscriber**: a DataFrame with ``t`` (churned: the period in
      which they left, ``>= 1``; still subscribed: the periods completed) and
      ``churned`` (0/1 or bool), optionally ``horizon`` (the periods the subscriber
      could have been observed; default ``t`` for active subscribers and the
      largest ``t`` of the data for churned ones; only simulations use it) and
      ``weights`` (a column name or an array).
    """
    if isinstance(data, pd.DataFrame) and {"t", "churned"} <= set(data.columns):
        frame = data
        t = finite_numbers(frame["t"], "t")
        churned = frame["churned"]
        if pd.api.types.is_bool_dtype(churned):
            churned = churned.astype(float)
        churned = finite_numbers(churned, "churned")
        fail_rows(~np.isin(churned, (0.0, 1.0)), frame["churned"], column="churned",
                  rule="not_binary", what="are not 0/1 (churned or still subscribed)")
        fail_rows((t < 0) | (t != np.round(t)), frame["t"], column="t", rule="not_whole",
                  what="are not whole numbers of periods >= 0")
        fail_rows((churned == 1) & (t < 1), frame["t"], column="t", rule="churned_before_1",
                  what="are churned in period 0 (the first period is t = 1)")
        if "horizon" in frame.columns:
            horizon = finite_numbers(frame["horizon"], "horizon")
            fail_rows(horizon < t, frame["horizon"], column="horizon", rule="horizon_before_t",
                      what="are below t")
        else:
            longest = float(t.max()) if len(t) else 0.0
            horizon = np.where(churned == 1, longest, t)
        if isinstance(weights, str):
            weights = finite_numbers(frame[weights], weights)
        w = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)
        return pd.DataFrame({"t": t, "churned": churned, "horizon": horizon, "weight": w},
                            index=frame.index)
    if weights is not None:
        raise ValueError("weights apply to one row per subscriber, not to survivor counts.")
    return _rows_from_survivors(data)


def _rows_from_survivors(data) -> pd.DataFrame:
    if isinstance(data, Mapping):
        cohorts = {k: np.asarray(v, dtype=float) for k, v in data.items()}
    elif isinstance(data, pd.DataFrame):
        cohorts = {k: row.to_numpy(dtype=float) for k, row in data.iterrows()}
    else:
        arr = np.asarray(data, dtype=float)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError("Survivor counts must be a sequence, a dict of sequences or a "
                             "2-D table (cohorts x periods).")
        cohorts = dict(enumerate(arr))
    parts = []
    for cohort, counts in cohorts.items():
        counts = counts[~np.isnan(counts)]
        name = f"survivors of cohort {cohort!r}"
        if len(counts) == 0 or counts[0] <= 0:
            raise DataError(f"The {name} must start with a positive count.", column=str(cohort),
                            rule="empty_cohort", n_rows=1)
        fail_rows(~np.isfinite(counts) | (counts < 0), pd.Series(counts), column=str(cohort),
                  rule="negative", what=f"of the {name} are negative or infinite")
        rises = np.diff(counts) > 0
        fail_rows(np.r_[False, rises], pd.Series(counts), column=str(cohort),
                  rule="survivors_increase", what=f"of the {name} exceed the count before "
                  "them (survivors can only fall)")
        k = len(counts) - 1
        lost = -np.diff(counts)
        periods = np.arange(1, k + 1, dtype=float)
        parts.append(pd.DataFrame({
            "t": np.r_[periods, k], "churned": np.r_[np.ones(k), 0.0],
            "horizon": float(k), "weight": np.r_[lost, counts[-1]], "cohort": cohort}))
    rows = pd.concat(parts, ignore_index=True)
    return rows[rows["weight"] > 0].reset_index(drop=True)


class ShiftedBetaGeoModel(ParametricModel):
    r"""Shifted-beta-geometric (sBG) model of contractual retention.

    Fader & Hardie (2007), "How to project customer retention", *Journal of
    Interactive Marketing* 21(1), 76-90; Fader & Hardie (2010), "Customer-base
    valuation in a contractual setting", *Marketing Science* 29(1), 85-93.

    Assumptions: at the end of each period a subscriber cancels with a churn
    probability :math:`\theta` of their own, constant over time;
    :math:`\theta \sim \mathrm{Beta}(\alpha, \beta)` across subscribers. Retention
    of a cohort therefore rises over time (the likely leavers go first), which a
    constant churn rate (lifespan = 1 / churn) cannot show. Likelihood: FH07 eq. 9
    (:func:`clvmodels.likelihoods.shifted_beta_geo.loglik`), the same function for
    maximum likelihood and for ``method="nuts"``, ``"map"`` or ``"advi"``.

    ``fit(data)`` takes survivor counts (one cohort or several) or one row per
    subscriber (``t``, ``churned``), see :func:`subscriber_rows`; the two give the
    same fit on the same subscribers. Periods are the model's time unit (months,
    years: whatever the counts are per).

    Every prediction takes ``interval=`` (e.g. 0.9: columns ``mean, lower,
    upper`` over parameter draws: asymptotic normal draws of the log-parameters
    for maximum-likelihood and MAP fits, posterior draws otherwise), ``n_draws=``
    and ``random_state=``.

    Attributes
    ----------
    params_ : Series
        ``alpha, beta``.
    log_likelihood_ : float
        Total log-likelihood (FH07 "high end": -1611.16).

    Examples
    --------
    >>> from clvmodels.models.shifted_beta_geo import ShiftedBetaGeoModel
    >>> high_end = [1000, 869, 743, 653, 593, 551, 517, 491]  # FH07, years 0-7
    >>> model = ShiftedBetaGeoModel().fit(high_end)
    >>> model.params_.round(3).tolist(), round(model.log_likelihood_, 2)
    ([0.668, 3.806], -1611.16)
    >>> (1000 * model.survival_curve(range(8, 13))).round().tolist()  # published: 468 ... 394
    [460.0, 436.0, 414.0, 395.0, 378.0]
    """

    parameters = (
        Parameter("alpha", start=1.0, description="beta churn-probability parameter alpha"),
        Parameter("beta", start=1.0, description="beta churn-probability parameter beta"),
    )
    alternative_starts = ({"alpha": 0.3, "beta": 0.5}, {"alpha": 3.0, "beta": 10.0})
    data_columns = _COLUMNS
    time_columns = ()
    uses_time = False
    likelihood = LikelihoodSpec(loglik=_formulas.loglik, n_params=2, n_data=3,
                                loglik_grad=_formulas.loglik_grad)
    formulas = _formulas

    # ------------------------------------------------------------------ data
    def fit(self, data, weights=None, **kwargs) -> "ShiftedBetaGeoModel":
        """Fit to survivor counts or per-subscriber rows (see :func:`subscriber_rows`).

        Further keyword arguments (``draws``, ``tune``, ``chains``,
        ``random_state``, ...) go to the Bayesian methods, as for every model.
        """
        rows = subscriber_rows(data, weights)
        return super().fit(rows, weights="weight", **kwargs)

    def data_fingerprint(self, data, weights=None) -> dict:
        rows = subscriber_rows(data, weights)
        return super().data_fingerprint(rows, weights="weight")

    def prior_predictive(self, data, **kwargs):
        """Simulate subscribers from the priors (see the base class); ``data``: the
        subscribers (their ``horizon``) in any input form of :func:`subscriber_rows`."""
        return super().prior_predictive(subscriber_rows(data), **kwargs)

    def posterior_predictive(self, data, **kwargs):
        """Simulate the subscribers of ``data`` from the fitted model (see the base class)."""
        return super().posterior_predictive(subscriber_rows(data), **kwargs)

    def _validate(self, summary, columns, *, fitting: bool) -> None:
        missing = [c for c in columns if c not in summary.columns]
        if missing:
            raise DataError(f"Missing column(s) {missing}: pass survivor counts or rows with "
                            "t and churned.", column=missing[0], rule="missing_columns",
                            n_rows=len(summary))

    def _fit_rows_description(self) -> str:
        return "subscribers with positive weight"

    # ------------------------------------------------------------------ predictions
    def _evaluate(self, func, *, interval, n_draws, random_state):
        """``func(alpha, beta)`` -> values ``(k,)``, as a point or over parameter draws."""
        self._check_fitted()
        if interval is None and not self._has_posterior():
            a, b = self._params_tuple()
            return np.asarray(func(np.float64(a), np.float64(b)), dtype=float), None, None
        draws = self._prediction_draws(n_draws, random_state)
        with np.errstate(over="ignore", invalid="ignore"):
            values = np.asarray(func(draws[:, :1], draws[:, 1:]), dtype=float)
        mean = values.mean(axis=0)
        if interval is None:
            return mean, None, None
        lo, hi = np.quantile(values, interval_quantiles(interval), axis=0)
        return mean, lo, hi

    @staticmethod
    def _frame(mean, lo, hi, index, name):
        if lo is None:
            return pd.Series(mean, index=index, name=name)
        return pd.DataFrame({"mean": mean, "lower": lo, "upper": hi}, index=index)

    @staticmethod
    def _periods(t, low: int) -> np.ndarray:
        arr = np.atleast_1d(np.asarray(list(t) if not np.isscalar(t) else t, dtype=float))
        if np.any(~np.isfinite(arr) | (arr < low) | (arr != np.round(arr))):
            raise ValueError(f"periods must be whole numbers >= {low}, got {t!r}.")
        return arr

    def survival_curve(self, t, *, interval: float | None = None, n_draws=None,
                       random_state=None):
        """Share of a new cohort still subscribed after each of the periods ``t``, S(t)."""
        t = self._periods(t, 0)
        res = self._evaluate(lambda a, b: _formulas.survival(t, a, b), interval=interval,
                             n_draws=n_draws, random_state=random_state)
        return self._frame(*res, pd.Index(t.astype(int), name="period"), "survival")

    def retention_curve(self, t, *, interval: float | None = None, n_draws=None,
                        random_state=None):
        """Retention from period ``t - 1`` to ``t`` (``t >= 1``): it rises with ``t``."""
        t = self._periods(t, 1)
        res = self._evaluate(lambda a, b: _formulas.retention_rate(t, a, b), interval=interval,
                             n_draws=n_draws, random_state=random_state)
        return self._frame(*res, pd.Index(t.astype(int), name="period"), "retention")

    def expected_lifetime(self, horizon: int | None = None, *, interval: float | None = None,
                          n_draws=None, random_state=None):
        """Expected periods a new subscriber pays for (within ``horizon`` periods if given;
        without a horizon it is infinite when ``alpha <= 1``)."""
        res = self._evaluate(_scalar(lambda a, b: _formulas.expected_lifetime(a, b, horizon)),
                             interval=interval, n_draws=n_draws, random_state=random_state)
        if res[1] is None:
            return float(res[0][0])
        return pd.Series({"mean": res[0][0], "lower": res[1][0], "upper": res[2][0]},
                         name="expected_lifetime")

    def _per_subscriber(self, subscribers, func, name, *, interval, n_draws, random_state):
        rows = subscriber_rows(subscribers)
        t, churned = rows["t"].to_numpy(), rows["churned"].to_numpy()
        ut, inverse = np.unique(t, return_inverse=True)
        mean, lo, hi = self._evaluate(lambda a, b: func(ut, a, b), interval=interval,
                                      n_draws=n_draws, random_state=random_state)
        gone = churned == 1
        pick = [None if v is None else np.where(gone, 0.0, v[inverse]) for v in (mean, lo, hi)]
        return self._frame(*pick, rows.index, name)

    def probability_subscribed(self, subscribers, t: int = 1, *, interval: float | None = None,
                               n_draws=None, random_state=None):
        """Chance each subscriber is still subscribed ``t`` periods after their data end:
        :math:`S(t_i + t) / S(t_i)` for active subscribers, 0 for churned ones."""
        h = float(self._periods(t, 0)[0])
        return self._per_subscriber(
            subscribers, lambda u, a, b: _formulas.survival(u + h, a, b)
            / _formulas.survival(u, a, b), "probability_subscribed",
            interval=interval, n_draws=n_draws, random_state=random_state)

    def discounted_expected_residual_lifetime(self, subscribers, discount_rate: float, *,
                                              interval: float | None = None, n_draws=None,
                                              random_state=None):
        """DERL of each subscriber (Fader & Hardie 2010): the expected discounted number
        of their future payments, the coming renewal undiscounted; 0 if churned."""
        d = _check_discount(discount_rate)
        return self._per_subscriber(
            subscribers, lambda u, a, b: _formulas.discounted_expected_residual_lifetime(
                u, a, b, d), "derl", interval=interval, n_draws=n_draws,
            random_state=random_state)

    def customer_lifetime_value(self, subscribers=None, *, payment: float,
                                discount_rate: float, interval: float | None = None,
                                n_draws=None, random_state=None):
        """Value of the future payments of ``payment`` per period, discounted at
        ``discount_rate`` per period.

        With ``subscribers``: each existing subscriber's residual value,
        ``payment x DERL`` (0 for churned ones). Without: the value of a new
        subscriber, first payment included, ``payment x DEL`` (a float, or a Series
        ``mean, lower, upper`` with ``interval``).
        """
        d = _check_discount(discount_rate)
        if subscribers is not None:
            derl = self.discounted_expected_residual_lifetime(
                subscribers, d, interval=interval, n_draws=n_draws, random_state=random_state)
            return (payment * derl).rename("clv") if isinstance(derl, pd.Series) else \
                payment * derl
        res = self._evaluate(_scalar(lambda a, b: _formulas.discounted_expected_lifetime(a, b, d)),
                             interval=interval, n_draws=n_draws, random_state=random_state)
        if res[1] is None:
            return float(payment * res[0][0])
        return pd.Series({"mean": payment * res[0][0], "lower": payment * res[1][0],
                          "upper": payment * res[2][0]}, name="clv")


def _scalar(func):
    """``func(alpha, beta)`` of one value per parameter set, shaped ``(draws, 1)`` or ``(1,)``."""
    def wrapped(a, b):
        values = np.asarray(func(a, b), dtype=float)
        return values.reshape(np.shape(a)[:1] + (1,)) if np.ndim(a) else values.reshape(1)
    return wrapped


def _check_discount(discount_rate) -> float:
    d = float(discount_rate)
    if not np.isfinite(d) or d <= 0:
        raise ValueError("discount_rate must be positive (per period, e.g. 0.1): without "
                         f"discounting the value can be infinite; got {discount_rate!r}.")
    return d
