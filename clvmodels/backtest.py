"""Backtests: fit every model on a calibration window, score it on held-out time.

:func:`backtest` summarises the log at each cutoff, fits each model on the
calibration period, predicts the holdout and compares predictions with what the
customers really did. The holdout actuals come from :func:`clvmodels.rfm_summary`
alone (``frequency_holdout``, ``revenue_holdout``), never from a model.

Models compared by default (names used in the results):

``baseline``
    the formula CLV per customer (:class:`~clvmodels.models.baseline.BaselineModel`);
``past_rate``
    each customer keeps buying at their past repeat rate and spending their past average;
``bgnbd``, ``pareto_nbd``, ``mbgnbd``
    BG/NBD, Pareto/NBD, MBG/NBD, each paired with Gamma-Gamma for revenue;
``gbm``
    gradient boosting on RFM features, trained on an earlier window of the same
    length that ends at the cutoff (no holdout data is seen);
``bgnbd_bayes``
    BG/NBD and Gamma-Gamma fitted by NUTS (2 chains of 1,000 draws, seeded); its
    predictions are posterior means.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .covariates import join_attributes
from .data import rfm_summary
from .exceptions import ClvModelsWarning, ConvergenceError
from .models.base import BaseModel, clone
from .models.baseline import BaselineModel
from .models.parametric import TransactionModel
from .units import DEFAULT_TIME_UNIT, normalize_unit, unit_days

__all__ = ["BacktestResult", "ModelPair", "PastRateModel", "GradientBoostingModel",
           "backtest", "default_models", "score_predictions", "winner_names"]

TARGETS = ("purchases", "revenue", "alive")
METRICS = {
    "purchases": ("mae", "rmse", "bias_pct", "spearman", "top10_capture", "top20_capture",
                  "gini"),
    "revenue": ("mae", "rmse", "bias_pct", "spearman", "top10_capture", "top20_capture",
                "gini"),
    "alive": ("auc", "brier"),
}
#: Whether a larger value of a metric is better (for the leaderboard's winners).
#: Relative difference of two metric values below which they are a tie.
TIE_RTOL = 1e-6
#: The error metrics the overall recommendation ranks models on (both targets).
RANKED_METRICS = tuple((t, m) for t in ("purchases", "revenue")
                       for m in ("mae", "rmse", "bias_pct"))
#: A model whose total purchases or revenue is off by more than this (percent) in
#: the holdout is not recommended, however well it ranks.
BIAS_LIMIT_PCT = 20.0
HIGHER_IS_BETTER = {"mae": False, "rmse": False, "bias_pct": None, "spearman": True,
                    "top10_capture": True, "top20_capture": True, "gini": True,
                    "auc": True, "brier": False}


# ---------------------------------------------------------------------------
# Candidates: what a backtest fits and scores


class Candidate:
    """What :func:`backtest` needs of a model.

    ``fit(summary, history)`` learns from the calibration summary (``history`` gives
    access to earlier windows for models that train on labels); ``predict(summary,
    t)`` returns, per customer, ``purchases`` and ``revenue`` expected in the next
    ``t`` time units and ``p_active``, the probability of at least one purchase in
    them.
    """

    def fit(self, summary: pd.DataFrame, history: "_History") -> "Candidate":
        raise NotImplementedError

    def predict(self, summary: pd.DataFrame, t: float) -> pd.DataFrame:
        raise NotImplementedError

    def tracking(self, summary: pd.DataFrame, ts: np.ndarray) -> np.ndarray | None:
        """Expected cumulative purchases of the cohort at each of ``ts`` (or None)."""
        return None

    def intervals(self, summary: pd.DataFrame, t: float, level: float) -> pd.DataFrame | None:
        """Per customer, the bounds of the ``level`` intervals of purchases and
        revenue in the next ``t`` time units (columns among
        :data:`INTERVAL_COLUMNS`), or None for a model without intervals."""
        return None


#: Posterior draws behind a Bayesian model's tracking curve.
TRACKING_DRAWS = 500

#: Central probability of the intervals whose coverage a backtest measures.
INTERVAL = 0.9
#: Parameter draws behind an "expected" interval in a backtest (posterior draws of
#: Bayesian fits, asymptotic normal draws of maximum-likelihood fits).
INTERVAL_DRAWS = 200
#: Simulated futures per customer behind a predictive interval of revenue.
REVENUE_SIMULATIONS = 250
#: Seed of the draws and simulations of the intervals: a backtest gives the same
#: bounds on every run.
INTERVAL_SEED = 0
#: The interval bounds of :attr:`BacktestResult.predictions`, per target and kind.
INTERVAL_COLUMNS = tuple(f"{target}_{kind}_{end}" for target in ("purchases", "revenue")
                         for kind in ("predictive", "expected") for end in ("lower", "upper"))


@dataclass
class ModelPair(Candidate):
    """A purchase model and a spend model, used together.

    The spend model may be the purchase model itself when it predicts spend too (as
    :class:`~clvmodels.models.baseline.BaselineModel` does).
    """

    transaction_model: Any
    spend_model: Any = None
    #: Keyword arguments of both models' ``fit`` (e.g. ``draws``, ``random_state``
    #: of Bayesian fits).
    fit_kwargs: dict = field(default_factory=dict)

    def fit(self, summary, history=None):
        self.transaction_model_ = clone(self.transaction_model).fit(summary, **self.fit_kwargs)
        if self.spend_model is None:
            self.spend_model_ = self.transaction_model_
        else:
            self.spend_model_ = clone(self.spend_model).fit(summary, **self.fit_kwargs)
        return self

    def predict(self, summary, t):
        tm = self.transaction_model_
        purchases = tm.expected_purchases(summary, t).to_numpy(dtype=float)
        spend = self.spend_model_.expected_spend(summary).to_numpy(dtype=float)
        if hasattr(tm, "probability_of_no_purchase"):
            p_active = 1.0 - tm.probability_of_no_purchase(summary, t).to_numpy(dtype=float)
        else:
            # Purchases in the window as Poisson: P(at least one) = 1 - exp(-E[X]).
            p_active = -np.expm1(-purchases)
        return pd.DataFrame({"purchases": purchases, "revenue": purchases * spend,
                             "p_active": p_active}, index=summary.index)

    def tracking(self, summary, ts):
        tm = self.transaction_model_
        if isinstance(tm, TransactionModel):  # every horizon in one pass
            # A posterior mean of the cohort's total over 500 draws: its Monte Carlo
            # error is far below the posterior spread, at a fraction of the cost.
            thin = ({"n_draws": TRACKING_DRAWS, "random_state": 0}
                    if tm._has_posterior() and len(tm._posterior_draws()) > TRACKING_DRAWS
                    else {})
            return tm.expected_purchases(summary, np.asarray(ts, dtype=float), **thin).sum(
                axis=0).to_numpy(dtype=float)
        return np.array([tm.expected_purchases(summary, t).sum() for t in ts])

    def intervals(self, summary, t, level):
        """Predictive and expected intervals of BG/NBD, MBG/NBD and Pareto/NBD
        (with Gamma-Gamma for revenue); None for other purchase models.

        ``purchases_predictive_*``: from P(X(t) = n | history)
        (``expected_purchases(..., interval_kind="predictive")``);
        ``purchases_expected_*``: of the expected number over
        :data:`INTERVAL_DRAWS` parameter draws; ``revenue_predictive_*``: of
        :data:`REVENUE_SIMULATIONS` simulated futures per customer (purchases and
        Gamma-Gamma amounts, undiscounted); ``revenue_expected_*``: of expected
        purchases times expected spend over joint parameter draws of both models.
        The revenue bounds are those of ``customer_lifetime_value(..., margin=1,
        discount_rate=0)`` over the same horizon. Every draw is seeded with
        :data:`INTERVAL_SEED`. A kind a model cannot give is left out.
        """
        from .clv import _clv_over_draws, _predictive_bounds
        from .inference.draws import MAX_BYTES

        tm, sm = self.transaction_model_, self.spend_model_
        formulas = getattr(tm, "formulas", None)
        if (not isinstance(tm, TransactionModel)
                or not hasattr(formulas, "conditional_probability_of_purchases")):
            return None
        out = pd.DataFrame(index=summary.index)
        kinds = {
            "purchases_predictive": lambda: tm.expected_purchases(
                summary, t, interval=level, interval_kind="predictive",
                random_state=INTERVAL_SEED),
            "purchases_expected": lambda: tm.expected_purchases(
                summary, t, interval=level, n_draws=INTERVAL_DRAWS,
                random_state=INTERVAL_SEED),
        }
        spends = sm is not tm and list(getattr(sm, "params_", pd.Series()).index) == [
            "p", "q", "v"]
        if spends:
            times, one = np.array([float(t)]), np.array([1.0])

            def revenue_predictive():
                lower, upper = _predictive_bounds(
                    tm, sm, summary, times, one, 1.0, level, REVENUE_SIMULATIONS,
                    np.random.default_rng(INTERVAL_SEED))
                return pd.DataFrame({"lower": lower, "upper": upper}, index=summary.index)

            def revenue_expected():
                with warnings.catch_warnings():  # undefined draws are left out of the bounds
                    warnings.simplefilter("ignore", ClvModelsWarning)
                    res = _clv_over_draws(tm, sm, summary, times, one, 1.0, INTERVAL_DRAWS,
                                          level, np.random.default_rng(INTERVAL_SEED),
                                          MAX_BYTES)
                return pd.DataFrame({"lower": res.lower[:, 0], "upper": res.upper[:, 0]},
                                    index=summary.index)

            kinds["revenue_predictive"] = revenue_predictive
            kinds["revenue_expected"] = revenue_expected
        for prefix, compute in kinds.items():
            try:
                bounds = compute()
            except (ValueError, ConvergenceError, np.linalg.LinAlgError):
                continue  # e.g. no finite covariance: this kind is left out
            out[f"{prefix}_lower"] = bounds["lower"].to_numpy(dtype=float)
            out[f"{prefix}_upper"] = bounds["upper"].to_numpy(dtype=float)
        return out

    @property
    def fitted_models(self) -> dict:
        models = {"purchases": self.transaction_model_}
        if self.spend_model_ is not self.transaction_model_:
            models["spend"] = self.spend_model_
        return models


class PastRateModel(BaseModel):
    """"The past rate continues": each customer buys at ``frequency / T`` for ever.

    Spend is the customer's past average (the population's for customers without a
    repeat purchase). No churn: the naive benchmark every model must beat.
    """

    def fit(self, summary: pd.DataFrame, time_unit: str | None = None) -> "PastRateModel":
        repeat = summary["frequency"] > 0
        self.mean_spend_ = float(summary.loc[repeat, "monetary_value"].mean()) if repeat.any() else 0.0
        self.params_ = pd.Series({"mean_spend": self.mean_spend_})
        return self

    def _rate(self, summary):
        T = summary["T"].to_numpy(dtype=float)
        freq = summary["frequency"].to_numpy(dtype=float)
        return np.divide(freq, T, out=np.zeros(len(T)), where=T > 0)

    def expected_purchases(self, summary: pd.DataFrame, t) -> pd.Series:
        self._check_fitted()
        return pd.Series(self._rate(summary) * t, index=summary.index, name="expected_purchases")

    def expected_spend(self, summary: pd.DataFrame) -> pd.Series:
        self._check_fitted()
        repeat = summary["frequency"].to_numpy() > 0
        money = summary["monetary_value"].to_numpy(dtype=float)
        return pd.Series(np.where(repeat, money, self.mean_spend_), index=summary.index,
                         name="expected_spend")


FEATURES = ("frequency", "recency", "T", "monetary_value", "days_since_last")


def _features(summary: pd.DataFrame) -> np.ndarray:
    return np.column_stack([
        summary["frequency"], summary["recency"], summary["T"], summary["monetary_value"],
        summary["T"] - summary["recency"],
    ]).astype(float)


class GradientBoostingModel(Candidate):
    """Gradient boosting on RFM features (scikit-learn), trained without leakage.

    For a cutoff ``c`` and a holdout of length ``h`` the model learns from the
    summary at ``c - w`` (features) and what those customers did in ``(c - w, c]``
    (labels), then predicts from the summary at ``c``. Nothing after the cutoff is
    seen. The window ``w`` is ``h`` when the calibration period is at least twice as
    long, else half the calibration period; predictions are then scaled to ``h``
    (purchases and revenue by ``h / w``, the chance of buying as
    ``1 - (1 - p) ** (h / w)``). Purchases use a Poisson loss, revenue a squared
    loss, activity a classifier.
    """

    def __init__(self, random_state: int = 0, max_iter: int = 200) -> None:
        self.random_state = random_state
        self.max_iter = max_iter

    def fit(self, summary, history):
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        span = float(summary["T"].max())
        window = min(history.holdout_length, span / 2.0)
        train = history.earlier_window(window)
        X = _features(train)
        bought = train["frequency_holdout"].to_numpy(dtype=float)
        revenue = train["revenue_holdout"].to_numpy(dtype=float)
        kw = dict(random_state=self.random_state, max_iter=self.max_iter)
        self.purchases_ = HistGradientBoostingRegressor(loss="poisson", **kw).fit(X, bought)
        self.revenue_ = HistGradientBoostingRegressor(**kw).fit(X, revenue)
        active = bought > 0
        if active.all() or not active.any():
            self.active_ = float(active.mean())
        else:
            self.active_ = HistGradientBoostingClassifier(**kw).fit(X, active)
        self.window_ = window
        self.n_train_ = len(train)
        return self

    def predict(self, summary, t):
        X = _features(summary)
        p = (np.full(len(X), self.active_) if isinstance(self.active_, float)
             else self.active_.predict_proba(X)[:, 1])
        scale = t / self.window_
        return pd.DataFrame({
            "purchases": self.purchases_.predict(X) * scale,
            "revenue": np.clip(self.revenue_.predict(X), 0, None) * scale,
            "p_active": 1.0 - (1.0 - p) ** scale,
        }, index=summary.index)


def default_models(penalizer: float = 0.0) -> dict[str, Candidate]:
    """The models a backtest compares when none are given.

    ``penalizer``: the L2 penalty of the maximum-likelihood fits of BG/NBD,
    Pareto/NBD, MBG/NBD and their Gamma-Gamma (lifetimes' ``penalizer_coef``;
    the CLI's ``--penalizer``); the Bayesian pair has its priors instead.
    """
    from .models.beta_geo import BetaGeoModel
    from .models.gamma_gamma import GammaGammaModel
    from .models.modified_beta_geo import ModifiedBetaGeoModel
    from .models.pareto_nbd import ParetoNBDModel

    def spend():
        # A repeat customer with zero spend cannot inform a gamma: left out, with a warning.
        return GammaGammaModel(nonpositive_spend="exclude", penalizer=penalizer)

    models: dict[str, Candidate] = {
        "baseline": ModelPair(BaselineModel()),
        "past_rate": ModelPair(PastRateModel()),
        "bgnbd": ModelPair(BetaGeoModel(penalizer=penalizer), spend()),
        "pareto_nbd": ModelPair(ParetoNBDModel(penalizer=penalizer), spend()),
        "mbgnbd": ModelPair(ModifiedBetaGeoModel(penalizer=penalizer), spend()),
    }
    models["gbm"] = GradientBoostingModel()
    # The posterior means of BG/NBD + Gamma-Gamma by NUTS: 2 chains x 1,000 draws,
    # seeded so that a backtest gives the same numbers on every run.
    models["bgnbd_bayes"] = ModelPair(
        BetaGeoModel(method="nuts"),
        GammaGammaModel(method="nuts", nonpositive_spend="exclude"),
        fit_kwargs={"draws": 1000, "tune": 1000, "chains": 2, "random_state": 0,
                    "progressbar": False})
    return models


def covariate_models(covariates: Mapping[str, Sequence[str]] | None,
                     penalizer: float = 0.0) -> dict[str, Candidate]:
    """BG/NBD, Pareto/NBD and MBG/NBD with covariates, each with Gamma-Gamma.

    ``covariates`` is ``{"purchase": [...], "dropout": [...], "spend": [...]}``
    (the ``groups`` of :func:`clvmodels.encode_attributes`; a missing or empty
    group has no covariates): the purchase and dropout columns go to the purchase
    models, the spend columns to Gamma-Gamma. The candidates are named
    ``bgnbd_covariates``, ``pareto_nbd_covariates`` and ``mbgnbd_covariates``; with
    :func:`default_models` they answer "do the attributes help?" (the CLI's
    ``backtest --attributes``). ``penalizer`` as in :func:`default_models`.
    """
    from .models.beta_geo import BetaGeoModel
    from .models.gamma_gamma import GammaGammaModel
    from .models.modified_beta_geo import ModifiedBetaGeoModel
    from .models.pareto_nbd import ParetoNBDModel

    groups = {group: list((covariates or {}).get(group) or []) or None
              for group in ("purchase", "dropout", "spend")}
    return {name: ModelPair(
        model(penalizer=penalizer, purchase_covariates=groups["purchase"],
              dropout_covariates=groups["dropout"]),
        GammaGammaModel(nonpositive_spend="exclude", penalizer=penalizer,
                        spend_covariates=groups["spend"]))
        for name, model in (("bgnbd_covariates", BetaGeoModel),
                            ("pareto_nbd_covariates", ParetoNBDModel),
                            ("mbgnbd_covariates", ModifiedBetaGeoModel))}


def _as_candidate(name: str, model) -> Candidate:
    if isinstance(model, Candidate):
        return model
    if isinstance(model, tuple) and len(model) == 2:
        return ModelPair(*model)
    if hasattr(model, "expected_purchases") and hasattr(model, "fit"):
        return ModelPair(model)
    raise TypeError(
        f"Model {name!r} must be a Candidate, a (transaction_model, spend_model) pair or a "
        "model with fit, expected_purchases and expected_spend; got "
        f"{type(model).__name__}.")


# ---------------------------------------------------------------------------
# Metrics


def _gain_share(actual: np.ndarray, predicted: np.ndarray, share: float) -> float:
    """Share of the actual total held by the top ``share`` of predicted customers."""
    total = actual.sum()
    if total <= 0:
        return float("nan")
    n_top = max(1, int(np.ceil(share * len(actual))))
    order = np.argsort(-predicted, kind="stable")
    return float(actual[order[:n_top]].sum() / total)


def _gini(actual: np.ndarray, predicted: np.ndarray) -> float:
    """Gini of the cumulative gain curve: 2 x (area under it) - 1."""
    total = actual.sum()
    if total <= 0:
        return float("nan")
    order = np.argsort(-predicted, kind="stable")
    gain = np.concatenate([[0.0], np.cumsum(actual[order]) / total])
    x = np.linspace(0.0, 1.0, len(gain))
    area = float(np.sum((gain[1:] + gain[:-1]) * np.diff(x)) / 2.0)
    return 2.0 * area - 1.0


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half)."""
    pos, neg = label.sum(), (~label).sum()
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = stats.rankdata(score)
    return float((ranks[label].sum() - pos * (pos + 1) / 2.0) / (pos * neg))


def score_predictions(actual: np.ndarray, predicted: np.ndarray, target: str) -> dict[str, float]:
    """The backtest metrics of one target (see :data:`METRICS`)."""
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    if target == "alive":
        label = actual > 0
        return {"auc": _auc(label, predicted),
                "brier": float(np.mean((predicted - label) ** 2))}
    error = predicted - actual
    total = actual.sum()
    with np.errstate(invalid="ignore"):
        rho = stats.spearmanr(actual, predicted).statistic if np.ptp(predicted) > 0 else np.nan
    return {
        "mae": float(np.abs(error).mean()),
        "rmse": float(np.sqrt(np.mean(error ** 2))),
        "bias_pct": float(100.0 * (predicted.sum() - total) / total) if total else float("nan"),
        "spearman": float(rho),
        "top10_capture": _gain_share(actual, predicted, 0.10),
        "top20_capture": _gain_share(actual, predicted, 0.20),
        "gini": _gini(actual, predicted),
    }


def _calibration_table(actual, predicted, n_bins=10) -> pd.DataFrame:
    """Mean predicted and actual per decile of the prediction."""
    order = np.argsort(predicted, kind="stable")
    bins = np.empty(len(order), dtype=int)
    bins[order] = np.arange(len(order)) * n_bins // len(order) + 1
    frame = pd.DataFrame({"decile": bins, "predicted": predicted, "actual": actual})
    table = frame.groupby("decile").agg(predicted=("predicted", "mean"),
                                        actual=("actual", "mean"),
                                        customers=("actual", "size"))
    return table.reset_index()


# ---------------------------------------------------------------------------
# The backtest


@dataclass
class _History:
    """Access to the log for models that learn from an earlier window."""

    source: Any
    columns: tuple
    cutoff: pd.Timestamp
    holdout_length: float
    time_unit: str
    summary_kwargs: dict

    def earlier_window(self, length: float) -> pd.DataFrame:
        """Summary at ``cutoff - length`` with its holdout ``(cutoff - length, cutoff]``."""
        days = length * unit_days(self.time_unit)
        start = (self.cutoff - pd.Timedelta(days=days)).normalize()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ClvModelsWarning)
            return rfm_summary(self.source, *self.columns, observation_period_end=self.cutoff,
                               calibration_period_end=start, time_unit=self.time_unit,
                               **self.summary_kwargs)


@dataclass
class BacktestResult:
    """What :func:`backtest` found.

    Attributes
    ----------
    metrics
        Tidy: ``model, cutoff, target, metric, value``.
    predictions
        One row per model, cutoff and customer: predicted and actual purchases and
        revenue, the predicted probability of buying again and whether they did,
        and the bounds of the intervals (:data:`INTERVAL_COLUMNS`:
        ``purchases_predictive_lower`` ... ``revenue_expected_upper``; NaN for a
        model without them).
    calibration
        Decile tables: ``model, cutoff, target, decile, predicted, actual, customers``.
    tracking
        Cumulative repeat purchases of the cohort at each time unit into the holdout
        (weekly with ``time_unit="W"``), actual and predicted: ``model, cutoff,
        period, actual, predicted``.
    summaries
        The calibration summary of each cutoff (with holdout columns).
    fitted
        The fitted candidates by ``(model, cutoff)``.
    failures
        Models that could not be fitted at a cutoff, or whose fit the data do not
        identify (``fit_status_ == "not identified"``: arbitrary predictions, so
        not ranked), with the reason.
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    calibration: pd.DataFrame
    tracking: pd.DataFrame
    summaries: dict
    fitted: dict
    failures: pd.DataFrame
    time_unit: str
    settings: dict = field(default_factory=dict)

    def leaderboard(self, cutoff=None) -> pd.DataFrame:
        """Model x (target, metric), averaged over cutoffs (or at one cutoff)."""
        m = self.metrics if cutoff is None else self.metrics[
            self.metrics["cutoff"] == pd.Timestamp(cutoff)]
        table = m.pivot_table(index="model", columns=["target", "metric"], values="value",
                              aggfunc="mean", sort=False)
        order = [(t, k) for t in TARGETS for k in METRICS[t] if (t, k) in table.columns]
        return table[order]

    def recommendation(self, bias_limit_pct: float = BIAS_LIMIT_PCT) -> pd.DataFrame:
        """The overall recommendation: models ranked on every error metric at once.

        Each model is ranked on the MAE, RMSE and absolute bias of both purchases
        and revenue (:data:`RANKED_METRICS`, averaged over cutoffs; rank 1 is best,
        ties share the mean rank), and ``mean_rank`` is the mean of those six
        ranks. A model whose total purchases or revenue is off by more than
        ``bias_limit_pct`` percent (``biased``) is not recommended however well
        it ranks: a per-metric winner can be badly biased (a formula that wins the
        revenue MAE while it misses a third of the revenue). ``recommended`` marks
        the unbiased model with the best mean rank (the best overall when every
        model is biased; ``attrs["note"]`` says so).

        Returns
        -------
        DataFrame indexed by model, sorted by ``mean_rank``: ``mean_rank``,
        ``purchases_bias_pct``, ``revenue_bias_pct``, ``biased``, ``recommended``.
        """
        board = self.leaderboard()
        present = [c for c in RANKED_METRICS if c in board.columns]
        scores = pd.DataFrame({c: board[c].abs() if c[1] == "bias_pct" else board[c]
                               for c in present})
        table = pd.DataFrame({"mean_rank": scores.rank(method="average").mean(axis=1)})
        for target in ("purchases", "revenue"):
            table[f"{target}_bias_pct"] = (board[(target, "bias_pct")]
                                           if (target, "bias_pct") in board.columns
                                           else np.nan)
        bias = table[["purchases_bias_pct", "revenue_bias_pct"]].abs()
        table["biased"] = (bias > bias_limit_pct).any(axis=1)
        table = table.sort_values("mean_rank", kind="stable")
        pool = table[~table["biased"]]
        note = ""
        if pool.empty:
            pool = table
            note = (f"Every model's total is off by more than {bias_limit_pct:g}% on "
                    "purchases or revenue: the best mean rank is shown, but none is "
                    "trustworthy for totals.")
        table["recommended"] = table.index == (pool.index[0] if len(pool) else None)
        table.attrs["note"] = note
        table.attrs["bias_limit_pct"] = bias_limit_pct
        return table

    def interval_coverage(self) -> pd.DataFrame:
        """How often the actual holdout falls inside each model's intervals.

        Two kinds of interval per customer, at the level of the backtest's
        ``interval`` (90% by default):

        ``predictive``
            bounds what the customer will buy (purchases) or spend (revenue) in
            the holdout: about 90% of customers should fall inside (a little more
            for counts, whose bounds are whole numbers);
        ``expected``
            bounds the model's *mean* for the customer (parameter uncertainty
            only): how sure the model is of the average, so it is narrow and few
            customers' actual values fall inside. Not a forecast range.

        Returns
        -------
        DataFrame with one row per model, cutoff, target (``purchases``,
        ``revenue``) and kind: ``level``, ``coverage`` (share of customers with
        ``lower <= actual <= upper``), ``customers`` and ``median_width``. Models
        without intervals are left out.
        """
        rows = []
        level = self.settings.get("interval", INTERVAL)
        frame = self.predictions
        for (model, cutoff), group in frame.groupby(["model", "cutoff"], sort=False):
            for target in ("purchases", "revenue"):
                for kind in ("predictive", "expected"):
                    lower = f"{target}_{kind}_lower"
                    if lower not in group or group[lower].isna().all():
                        continue
                    lo = group[lower].to_numpy(dtype=float)
                    hi = group[f"{target}_{kind}_upper"].to_numpy(dtype=float)
                    actual = group[f"actual_{target}"].to_numpy(dtype=float)
                    known = ~(np.isnan(lo) | np.isnan(hi))
                    inside = (lo[known] <= actual[known]) & (actual[known] <= hi[known])
                    rows.append({"model": model, "cutoff": cutoff, "target": target,
                                 "kind": kind, "level": level,
                                 "coverage": float(inside.mean()) if known.any() else np.nan,
                                 "customers": int(known.sum()),
                                 "median_width": float(np.median(hi[known] - lo[known]))
                                 if known.any() else np.nan})
        return pd.DataFrame(rows, columns=["model", "cutoff", "target", "kind", "level",
                                           "coverage", "customers", "median_width"])

    def winners(self) -> pd.Series:
        """The best model per (target, metric); bias is best closest to zero.

        Models that cannot be told apart share the place: the entry is then
        ``"tie: bgnbd, mbgnbd"`` (:func:`winner_names` splits it). A tie is a
        value within a relative ``TIE_RTOL`` (1e-6) of the best, or a model
        :meth:`indistinguishable` from a tied one (the same log-likelihood to 6
        significant digits at every cutoff): differences in the 6th to 8th
        digit are numerical noise, not a better model.
        """
        board = self.leaderboard()
        groups = self.indistinguishable()
        best = {}
        for (target, metric), col in board.items():
            values = col.dropna()
            if values.empty:
                continue
            direction = HIGHER_IS_BETTER[metric]
            score = values.abs() if direction is None else (-values if direction else values)
            top = float(score.min())
            tol = TIE_RTOL * max(abs(top), 1e-300)
            tied = set(score.index[(score - top).abs() <= tol])
            for group in groups:
                if tied & set(group):
                    tied |= {m for m in group if m in score.index}
            names = [m for m in values.index if m in tied]
            best[(target, metric)] = names[0] if len(names) == 1 else "tie: " + ", ".join(names)
        return pd.Series(best, name="winner", dtype=object)

    def indistinguishable(self) -> list[list[str]]:
        """Groups of models whose fits the data cannot tell apart.

        Two models are indistinguishable when they were fitted at the same
        cutoffs and their purchase models have the same log-likelihood to 6
        significant digits at each (e.g. BG/NBD, MBG/NBD and Pareto/NBD that all
        collapsed to the same no-dropout model at the edge of their parameter
        space).
        """
        keys: dict[str, dict] = {}
        for (name, cutoff), candidate in self.fitted.items():
            ll = _purchase_log_likelihood(candidate)
            if ll is None or not np.isfinite(ll):
                keys.setdefault(name, {})[cutoff] = None
            else:
                keys.setdefault(name, {})[cutoff] = f"{ll:.6g}"
        groups: dict[tuple, list[str]] = {}
        for name, per_cutoff in keys.items():
            if any(v is None for v in per_cutoff.values()):
                continue
            groups.setdefault(tuple(sorted(per_cutoff.items())), []).append(name)
        return [names for names in groups.values() if len(names) > 1]

    @staticmethod
    def winner_names(entry) -> list[str]:
        """The model names of an entry of :meth:`winners` (several for a tie); the
        report reads them here, so it needs no import of this module."""
        return winner_names(entry)

    def report(self, path, **kwargs):
        """Write the comparison as one self-contained HTML file (data flow one
        way: the backtest hands its result to :mod:`clvmodels.report`, which never
        imports the backtest)."""
        from .report import write_report

        return write_report(self, path, **kwargs)


def winner_names(entry) -> list[str]:
    """The model names of an entry of :meth:`BacktestResult.winners` (several for a tie)."""
    text = str(entry)
    if text.startswith("tie: "):
        return text[len("tie: "):].split(", ")
    return [text]


def _components(candidate) -> dict:
    try:
        models = getattr(candidate, "fitted_models", None)
    except AttributeError:
        models = None
    return dict(models) if isinstance(models, dict) and models else {"model": candidate}


def _purchase_log_likelihood(candidate):
    """Log-likelihood of a candidate's purchase model (None if it has none)."""
    models = _components(candidate)
    model = models.get("purchases", models.get("model"))
    value = getattr(model, "log_likelihood_", None)
    return None if value is None else float(value)


def _not_identified(candidate) -> str | None:
    """Why a fitted candidate cannot be scored (a component the data do not
    identify: ``fit_status_ == "not identified"``), or None."""
    for role, model in _components(candidate).items():
        if getattr(model, "fit_status_", None) == "not identified":
            said = [w for w in getattr(model, "fit_warnings_", []) if "not identified" in w]
            return (said[-1] if said else
                    f"{type(model).__name__} ({role}) is not identified by the data.")
    return None


def _cutoff_list(calibration_period_end, cutoffs) -> list[pd.Timestamp]:
    if (calibration_period_end is None) == (cutoffs is None):
        raise ValueError("Pass either calibration_period_end or cutoffs (a list of dates).")
    values = [calibration_period_end] if cutoffs is None else list(cutoffs)
    if not values:
        raise ValueError("cutoffs is empty.")
    return sorted(pd.Timestamp(v) for v in values)


def backtest(
    transactions,
    customer_id_col: str,
    datetime_col: str,
    monetary_value_col: str,
    *,
    calibration_period_end=None,
    cutoffs: Sequence | None = None,
    observation_period_end=None,
    holdout_length: float | None = None,
    time_unit: str = DEFAULT_TIME_UNIT,
    models: Mapping[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    interval: float | None = INTERVAL,
    customer_attributes: pd.DataFrame | None = None,
    **summary_kwargs,
) -> BacktestResult:
    """Fit every model on calibration windows and score them on held-out time.

    Parameters
    ----------
    transactions, customer_id_col, datetime_col, monetary_value_col
        The log, as for :func:`clvmodels.rfm_summary` (DataFrame or path).
    calibration_period_end, cutoffs
        One cutoff, or several for a rolling-origin backtest.
    observation_period_end
        End of the holdout (default: the last transaction). With several cutoffs
        and ``holdout_length`` the holdout of each cutoff is ``(c, c + length]``.
    holdout_length
        Length of each holdout in ``time_unit`` (default: up to the observation end).
    time_unit
        Unit of the summaries and horizons: weeks by default, as everywhere in
        clvmodels (:data:`clvmodels.units.DEFAULT_TIME_UNIT`).
    models
        A mapping name -> model (a :class:`Candidate`, a ``(transaction_model,
        spend_model)`` pair, or a model predicting both), or ``None`` for the
        defaults (:func:`default_models`).
    progress
        Called with a short text before each step (the CLI shows it).
    interval
        Central probability of the per-customer intervals whose coverage of the
        holdout is measured (:meth:`BacktestResult.interval_coverage`), for the
        models that give them (BG/NBD, MBG/NBD, Pareto/NBD; see
        :meth:`ModelPair.intervals`); ``None`` skips them.
    customer_attributes
        Static attributes of the customers, one row per customer id (the index),
        joined to the summary of every cutoff
        (:func:`clvmodels.covariates.join_attributes`), so that models with
        covariates (``BetaGeoModel(purchase_covariates=[...])``...) can be
        compared. Every customer of each summary needs a row.

    Returns
    -------
    BacktestResult
    """
    time_unit = normalize_unit(time_unit)
    cut_list = _cutoff_list(calibration_period_end, cutoffs)
    if models is None:
        candidates = default_models()
    else:
        candidates = {name: _as_candidate(name, m) for name, m in models.items()}
    say = progress or (lambda text: None)
    columns = (customer_id_col, datetime_col, monetary_value_col)
    source = transactions
    if not isinstance(source, pd.DataFrame):
        # One validated read; every window is then summarised from memory.
        from .data import read_transactions
        say("reading the log")
        source = read_transactions(transactions, list(columns))

    metric_rows, prediction_frames, calibration_frames, tracking_frames = [], [], [], []
    failures, summaries, fitted = [], {}, {}
    for cutoff in cut_list:
        obs_end = observation_period_end
        if holdout_length is not None:
            obs_end = cutoff + pd.Timedelta(days=holdout_length * unit_days(time_unit))
        say(f"summarising at cutoff {cutoff.date()}")
        summary = rfm_summary(source, *columns, observation_period_end=obs_end,
                              calibration_period_end=cutoff, time_unit=time_unit,
                              **summary_kwargs)
        summary = join_attributes(summary, customer_attributes)
        summaries[cutoff] = summary
        horizon = float(summary["duration_holdout"].iloc[0])
        if horizon <= 0:
            raise ValueError(f"The holdout after cutoff {cutoff.date()} is empty.")
        history = _History(source, columns, cutoff, horizon, time_unit, summary_kwargs)
        actual = {"purchases": summary["frequency_holdout"].to_numpy(dtype=float),
                  "revenue": summary["revenue_holdout"].to_numpy(dtype=float)}
        actual["alive"] = actual["purchases"]
        ts = _tracking_times(horizon)
        actual_tracking = _actual_tracking(source, columns, summary, cutoff, ts, time_unit,
                                           summary_kwargs)
        for name, candidate in candidates.items():
            say(f"fitting {name} at cutoff {cutoff.date()}")
            model = clone(candidate) if isinstance(candidate, BaseModel) else _copy(candidate)
            try:
                model.fit(summary, history)
                pred = model.predict(summary, horizon)
            except (ConvergenceError, ValueError, np.linalg.LinAlgError) as error:
                failures.append({"model": name, "cutoff": cutoff, "reason": str(error)})
                continue
            unidentified = _not_identified(model)
            if unidentified is not None:  # its predictions are arbitrary: not ranked
                failures.append({"model": name, "cutoff": cutoff, "reason": unidentified})
                continue
            fitted[(name, cutoff)] = model
            predicted = {"purchases": pred["purchases"].to_numpy(),
                         "revenue": pred["revenue"].to_numpy(),
                         "alive": pred["p_active"].to_numpy()}
            for target in TARGETS:
                for metric, value in score_predictions(actual[target], predicted[target],
                                                       target).items():
                    metric_rows.append((name, cutoff, target, metric, value))
                if target != "alive":
                    table = _calibration_table(actual[target], predicted[target])
                    table.insert(0, "target", target)
                    table.insert(0, "cutoff", cutoff)
                    table.insert(0, "model", name)
                    calibration_frames.append(table)
            frame = pd.DataFrame({
                "model": name, "cutoff": cutoff, "customer_id": summary.index,
                "predicted_purchases": predicted["purchases"],
                "actual_purchases": actual["purchases"],
                "predicted_revenue": predicted["revenue"],
                "actual_revenue": actual["revenue"],
                "p_active": predicted["alive"],
                "active": actual["purchases"] > 0,
            })
            bounds = None
            if interval is not None:
                say(f"intervals of {name} at cutoff {cutoff.date()}")
                bounds = model.intervals(summary, horizon, interval)
            for column in INTERVAL_COLUMNS:
                frame[column] = (bounds[column].to_numpy(dtype=float)
                                 if bounds is not None and column in bounds else np.nan)
            prediction_frames.append(frame)
            curve = model.tracking(summary, ts)
            if curve is not None:
                tracking_frames.append(pd.DataFrame({
                    "model": name, "cutoff": cutoff, "period": ts,
                    "actual": actual_tracking, "predicted": curve}))

    if not metric_rows:
        reasons = "; ".join(f"{f['model']}: {f['reason']}" for f in failures)
        raise ConvergenceError(f"No model could be fitted. {reasons}")
    return BacktestResult(
        metrics=pd.DataFrame(metric_rows, columns=["model", "cutoff", "target", "metric",
                                                   "value"]),
        predictions=pd.concat(prediction_frames, ignore_index=True),
        calibration=pd.concat(calibration_frames, ignore_index=True),
        tracking=(pd.concat(tracking_frames, ignore_index=True) if tracking_frames
                  else pd.DataFrame(columns=["model", "cutoff", "period", "actual",
                                             "predicted"])),
        summaries=summaries, fitted=fitted,
        failures=pd.DataFrame(failures, columns=["model", "cutoff", "reason"]),
        time_unit=time_unit,
        settings={"cutoffs": cut_list, "observation_period_end": observation_period_end,
                  "holdout_length": holdout_length, "columns": columns,
                  "interval": interval},
    )


def _tracking_times(horizon: float) -> np.ndarray:
    """One point per time unit into the holdout (weekly for weeks), and its end."""
    steps = np.arange(1.0, np.floor(horizon) + 1.0)
    if steps.size == 0 or steps[-1] < horizon - 1e-9:
        steps = np.append(steps, horizon)
    return steps


def _copy(candidate: Candidate) -> Candidate:
    import copy

    return copy.deepcopy(candidate)


#: The options of ``rfm_summary`` that ``purchase_days`` takes too (the same cleaning).
_PURCHASE_DAYS_OPTIONS = ("datetime_format", "returns", "merge_within", "order_id_col",
                          "duplicates", "zero_amounts", "missing_ids", "money_decimals",
                          "memory_limit")


def _actual_tracking(source, columns, summary, cutoff, ts, time_unit, summary_kwargs):
    """Actual cumulative purchases of the calibration cohort at times after the cutoff."""
    from .data import purchase_days

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        days = purchase_days(source, columns[0], columns[1], columns[2],
                             observation_period_end=summary.attrs["observation_period_end"],
                             **{k: v for k, v in summary_kwargs.items()
                                if k in _PURCHASE_DAYS_OPTIONS})
    after = days[(days[columns[1]] > cutoff) & days[columns[0]].isin(summary.index)]
    elapsed = (after[columns[1]] - cutoff.normalize()) / pd.Timedelta(days=1) / unit_days(time_unit)
    elapsed = np.sort(elapsed.to_numpy(dtype=float))
    return np.searchsorted(elapsed, ts, side="right").astype(float)
