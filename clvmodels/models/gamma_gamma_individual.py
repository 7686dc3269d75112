"""Gamma-Gamma model fitted on the individual repeat transactions (Fader & Hardie 2013)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..exceptions import DataError, DataWarning
from ..inference.mle import LikelihoodSpec
from ..likelihoods import gamma_gamma_individual as _formulas
from .gamma_gamma import GammaGammaModel

__all__ = ["GammaGammaIndividualModel"]

_COLUMN = "log_spend_sum"


class GammaGammaIndividualModel(GammaGammaModel):
    r"""Gamma-Gamma spend model fitted on every repeat transaction's value.

    The model of :class:`~clvmodels.models.gamma_gamma.GammaGammaModel` (Fader &
    Hardie 2013, http://brucehardie.com/notes/025/): amounts
    :math:`z_j \sim \mathrm{Gamma}(p, \nu)`, :math:`\nu \sim \mathrm{Gamma}(q, v)`
    across customers, spend independent of purchases. It is fitted on the
    likelihood of the customer's individual repeat amounts (PyMC-Marketing's
    ``GammaGammaModelIndividual``) rather than of their mean, which uses how the
    amounts vary within each customer and so pins ``p`` down better. That
    likelihood depends on the data only through ``frequency`` (:math:`x`),
    ``monetary_value`` (:math:`\bar z`) and :math:`\sum_j \ln z_j`, the
    ``log_spend_sum`` column of ``rfm_summary(..., log_spend=True)``
    (:func:`clvmodels.likelihoods.gamma_gamma_individual.loglik`). A
    "transaction" of a summary is a purchase day: the amounts of one day are
    added before their log is taken.

    Predictions are those of :class:`GammaGammaModel` (the posterior of
    :math:`\nu` given the amounts depends on them through :math:`x\bar z` only,
    so the conditional expected spend is FH eq. 5 again) and need only
    ``frequency`` and ``monetary_value``; the model works with
    :func:`clvmodels.customer_lifetime_value`, saves and loads.

    Parameters
    ----------
    nonpositive_spend
        What to do with repeat customers whose ``monetary_value`` is zero or
        negative or who have a repeat day of spend 0 (``log_spend_sum`` is NaN):
        ``"error"`` (default) raises a :class:`~clvmodels.exceptions.DataError`;
        ``"exclude"`` leaves them out of the fit, counted in a
        :class:`~clvmodels.exceptions.DataWarning` and in ``exclusions_``.
    initial_params, tol, max_iter, correlation_threshold, method, priors, penalizer
        As :class:`GammaGammaModel`.

    Attributes
    ----------
    params_, log_likelihood_, n_customers_, exclusions_, spend_frequency_correlation_
        As :class:`GammaGammaModel`; ``log_likelihood_`` is the log-density of
        the individual amounts (comparable between fits of this model only).

    Examples
    --------
    >>> import clvmodels
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W",
    ...                                 log_spend=True)
    >>> spend = clvmodels.GammaGammaIndividualModel().fit(summary)
    >>> spend.params_.round(2).tolist()
    [3.61, 4.49, 34.08]
    """

    data_columns = ("frequency", "monetary_value", _COLUMN)
    likelihood = LikelihoodSpec(
        loglik=_formulas.loglik, n_params=3, n_data=3,
        count_terms=_formulas.loglik_count_terms, rest_terms=_formulas.loglik_amount_terms,
        count_terms_grad=_formulas.loglik_count_terms_grad,
        rest_terms_grad=_formulas.loglik_amount_terms_grad,
    )

    def _true_log_likelihood(self, nll_scaled, data, weights, c_t, c_m, params) -> float:
        # A density of x amounts per customer: rescaling money by c multiplies it by c**-x.
        return -nll_scaled + np.log(c_m) * float(np.einsum("n,n->", weights, data[0]))

    def _data_for_fit(self, summary, weights, time_unit):
        # The likelihood reads the unit-free gap sum(log z) - x log(mean z) in the place
        # of log_spend_sum, so rescaling monetary_value needs nothing else.
        data, cw, unit, mask, w = super()._data_for_fit(summary, weights, time_unit)
        x, m, s, *covariates = data
        return [x, m, _formulas.log_spend_gap(x, m, s), *covariates], cw, unit, mask, w

    def _undefined_logs(self, summary: pd.DataFrame) -> np.ndarray:
        """Repeat customers whose log_spend_sum is NaN (a repeat day of spend 0)."""
        repeat = summary["frequency"].to_numpy(dtype=float) > 0
        return repeat & np.isnan(summary[_COLUMN].to_numpy(dtype=float, na_value=np.nan))

    def _validate(self, summary: pd.DataFrame, columns: Sequence[str], *, fitting: bool) -> None:
        super()._validate(summary, [c for c in columns if c != _COLUMN], fitting=fitting)
        if _COLUMN not in columns:
            return
        if _COLUMN not in summary.columns:
            raise DataError(
                f"The summary has no column {_COLUMN!r}, which GammaGammaIndividualModel fits "
                "on (the sum of the logs of each customer's repeat purchase days' spend). "
                "Fix: build the summary with clvmodels.rfm_summary(..., log_spend=True), or "
                "fit GammaGammaModel, which needs monetary_value only.",
                column=_COLUMN, rule="missing_columns", n_rows=len(summary))
        values = summary[_COLUMN]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"Column {_COLUMN!r} must be numeric, got dtype {values.dtype}.",
                            column=_COLUMN, rule="not_numeric", n_rows=len(values))
        x = summary["frequency"].to_numpy(dtype=float)
        m = summary["monetary_value"].to_numpy(dtype=float)
        s = values.to_numpy(dtype=float, na_value=np.nan)
        repeat = x > 0
        undefined = self._undefined_logs(summary)
        if self._strict() and undefined.any():
            n_bad = int(undefined.sum())
            raise DataError(
                f"{n_bad} customer(s) with repeat purchases have a NaN {_COLUMN} (a repeat "
                "purchase day of spend 0, whose log does not exist); the model needs "
                "positive amounts. Fix: GammaGammaIndividualModel(nonpositive_spend="
                "\"exclude\") leaves them out of the fit (counted in a DataWarning and in "
                "exclusions_), or rfm_summary(..., zero_amounts=\"drop\") (the examples are "
                "customer ids).",
                column=_COLUMN, rule="non_positive_spend", n_rows=n_bad,
                examples=[i.item() if hasattr(i, "item") else i
                          for i in summary.index[undefined][:5]])
        usable = repeat & ~undefined & (m > 0)
        bad_value = repeat & ~undefined & ~np.isfinite(s)
        with np.errstate(divide="ignore", invalid="ignore"):
            # Jensen: sum(log z) <= x log(mean z); the summary's logs are rounded to 1e-9.
            gap = s - x * np.log(np.where(usable, m, 1.0))
            inconsistent = usable & np.isfinite(s) & (gap > 1e-8 * x + 1e-12 * np.abs(s))
        for mask, rule, what in (
                (bad_value, "not_finite", "is infinite for customers with repeat purchases"),
                (inconsistent, "inconsistent_log_spend",
                 "is above frequency * log(monetary_value), which no positive amounts give: "
                 "log_spend_sum and monetary_value must come from the same rfm_summary "
                 "(..., log_spend=True) call")):
            n_bad = int(mask.sum())
            if n_bad:
                raise DataError(
                    f"{n_bad} row(s) of column {_COLUMN!r} {what}.", column=_COLUMN,
                    rule=rule, n_rows=n_bad,
                    examples=[i.item() if hasattr(i, "item") else i
                              for i in summary.index[mask][:5]])

    def _fit_mask(self, summary: pd.DataFrame) -> np.ndarray:
        repeat = summary["frequency"].to_numpy(dtype=float) > 0
        if self._strict():
            return repeat
        left_out = self._left_out(summary)
        if left_out.any():
            warnings.warn(
                f"{int(left_out.sum())} customer(s) with repeat purchases but a zero or "
                "negative monetary_value or a repeat day of spend 0 (NaN log_spend_sum) were "
                "left out of the Gamma-Gamma fit (nonpositive_spend='exclude').",
                DataWarning, stacklevel=4,
            )
        return repeat & ~left_out

    def _left_out(self, summary: pd.DataFrame) -> np.ndarray:
        repeat = summary["frequency"].to_numpy(dtype=float) > 0
        return (repeat & (summary["monetary_value"].to_numpy(dtype=float) <= 0)
                | self._undefined_logs(summary))

    def _after_fit(self, summary: pd.DataFrame, mask: np.ndarray, weights: np.ndarray) -> None:
        super()._after_fit(summary, mask, weights)
        n_left = float(weights[self._left_out(summary) & (weights > 0)].sum())
        self.exclusions_ = ({"nonpositive_spend": int(n_left) if n_left.is_integer() else n_left}
                            if n_left else {})
