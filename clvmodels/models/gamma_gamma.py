"""Gamma-Gamma model of spend per transaction (Fader & Hardie 2013)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .._checks import check_summary, fail_rows
from ..covariates import GAMMA_GAMMA_LINKS, CovariateMixin
from ..exceptions import DataError, DataWarning, ModelAssumptionWarning
from ..inference.mle import LikelihoodSpec
from ..likelihoods import gamma_gamma as _formulas
from .parametric import Parameter, ParametricModel

__all__ = ["GammaGammaModel"]


class GammaGammaModel(CovariateMixin, ParametricModel):
    r"""Gamma-Gamma model of the mean spend per repeat transaction.

    Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value"
    (http://brucehardie.com/notes/025/); Fader, Hardie & Lee (2005), "RFM and
    CLV: using iso-value curves for customer base analysis", *Journal of
    Marketing Research* 42(4), 415-430.

    Assumptions: a customer's transaction values are
    :math:`\mathrm{Gamma}(p, \nu)`; :math:`\nu \sim \mathrm{Gamma}(q, \gamma)`
    across customers (``v`` stands for :math:`\gamma`, in money units); spend is
    independent of the purchase process (checked by
    :meth:`spend_frequency_correlation`). The model is fitted on the customers
    with ``frequency > 0``, whose ``monetary_value`` (mean spend of the repeat
    purchases) must be positive; customers without repeat purchases carry no
    spend information and are left out of the fit by design (they get the
    population mean in :meth:`expected_spend`). Likelihood: FH eq. 3
    (:func:`clvmodels.likelihoods.gamma_gamma.loglik`).

    Parameters
    ----------
    initial_params
        Optional starting values (dict with ``p, q, v``; ``v`` in money units).
    tol
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter
        Iteration limit of each optimiser run.
    correlation_threshold
        ``fit`` warns (:class:`~clvmodels.exceptions.ModelAssumptionWarning`)
        when the absolute correlation between frequency and mean spend of the
        repeat customers exceeds this.
    nonpositive_spend
        What to do with repeat customers whose ``monetary_value`` is zero or
        negative (free orders, returns): ``"error"`` (default) raises a
        :class:`~clvmodels.exceptions.DataError`; ``"exclude"`` leaves them out of
        the fit with a :class:`~clvmodels.exceptions.DataWarning` counting them,
        and :meth:`expected_spend` shrinks their observed mean towards the
        population mean like any other customer's.
    method, priors
        ``"mle"`` (default), ``"nuts"``, ``"map"`` or ``"advi"``, and the priors of
        the Bayesian methods (see
        :class:`~clvmodels.models.parametric.ParametricModel` and
        :mod:`clvmodels.priors`).
    penalizer
        L2 penalty of a maximum-likelihood fit, lifetimes' ``penalizer_coef``:
        ``penalizer * (p**2 + q**2 + v**2)`` added to the mean negative
        log-likelihood, ``v`` in the summary's currency units
        (:mod:`clvmodels.inference.penalty`).
    spend_covariates
        Names of summary columns (numeric, per customer) that scale ``v`` through
        a log-link, :math:`v_i = v e^{\gamma_s \cdot x_i}` (coefficients
        ``spend_coef[col]``). ``v`` is the scale of the gamma distribution of
        :math:`\nu`, so a customer's expected spend per transaction,
        :math:`p v_i / (q - 1)` before their own purchases are seen, is multiplied
        by :math:`e^{\gamma_s \cdot x_i}`: a positive coefficient means higher
        spend. Every prediction reads them from its summary; a model without
        a summary (:meth:`population_mean_spend`) is the customer whose
        covariates are all 0. See :mod:`clvmodels.covariates`; in Bayesian fits the
        coefficients get ``Normal(0, 1)`` priors (:mod:`clvmodels.priors`).

    Attributes
    ----------
    params_ : Series
        ``p, q, v``.
    log_likelihood_ : float
        Total log-likelihood of the repeat customers (CDNOW: -4055.92).
    n_customers_ : int
        Number of customers fitted (those with ``frequency > 0``).
    spend_frequency_correlation_ : float
        Correlation checked during the fit.
    exclusions_ : dict
        Customers left out of the fit by ``nonpositive_spend="exclude"``:
        ``{"nonpositive_spend": n}`` (empty when none); the backtest report lists
        them under the data's exclusions.
    fit_warnings_ : list of str
        The warnings of the fit (as every model; shown by the backtest report).

    Examples
    --------
    >>> import clvmodels
    >>> from clvmodels.models.gamma_gamma import GammaGammaModel
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> spend = GammaGammaModel().fit(summary)
    >>> spend.params_.round(2).tolist()  # Fader & Hardie (2013): 6.25, 3.74, 15.44
    [6.25, 3.74, 15.44]
    >>> round(spend.population_mean_spend(), 2)
    35.17
    """

    parameters = (
        Parameter("p", start=1.0, description="shape of the gamma transaction-value distribution"),
        Parameter("q", start=2.0, description="shape of the gamma distribution of its rate"),
        Parameter("v", money_power=1, start=1.0,
                  description="scale (money) of the gamma distribution of its rate"),
    )
    alternative_starts = ({"p": 5.0, "q": 5.0, "v": 5.0}, {"p": 0.5, "q": 1.5, "v": 0.5})
    data_columns = ("frequency", "monetary_value")
    time_columns = ()
    money_columns = ("monetary_value",)
    likelihood = LikelihoodSpec(
        loglik=_formulas.loglik, n_params=3, n_data=2,
        count_terms=_formulas.loglik_count_terms, rest_terms=_formulas.loglik_amount_terms,
        count_terms_grad=_formulas.loglik_count_terms_grad,
        rest_terms_grad=_formulas.loglik_amount_terms_grad,
    )
    uses_time = False

    covariate_links = GAMMA_GAMMA_LINKS

    def __init__(self, initial_params=None, tol: float = 1e-8, max_iter: int = 1000,
                 correlation_threshold: float = 0.3, nonpositive_spend: str = "error",
                 method: str = "mle", priors=None, penalizer: float = 0.0, *,
                 spend_covariates=None) -> None:
        super().__init__(initial_params=initial_params, tol=tol, max_iter=max_iter,
                         method=method, priors=priors, penalizer=penalizer)
        self.spend_covariates = spend_covariates
        self.correlation_threshold = correlation_threshold
        self.nonpositive_spend = nonpositive_spend

    def _strict(self) -> bool:
        if self.nonpositive_spend not in ("error", "exclude"):
            raise ValueError(
                f"nonpositive_spend must be 'error' or 'exclude', got {self.nonpositive_spend!r}.")
        return self.nonpositive_spend == "error"

    def _true_log_likelihood(self, nll_scaled, data, weights, c_t, c_m, params) -> float:
        # A density of one amount per customer: rescaling money by c multiplies it by 1/c.
        return -nll_scaled + np.log(c_m) * float(np.sum(weights))

    def _validate(self, summary: pd.DataFrame, columns: Sequence[str], *, fitting: bool) -> None:
        # monetary_value may be negative (net refunds): the rule below handles it.
        check_summary(summary, [c for c in columns if c != "monetary_value"])
        if "monetary_value" not in columns:
            return
        if "monetary_value" not in summary.columns:
            check_summary(summary, columns)  # the missing-column error
        values = summary["monetary_value"]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise DataError(f"Column 'monetary_value' must be numeric, got dtype {values.dtype}.",
                            column="monetary_value", rule="not_numeric", n_rows=len(values))
        fail_rows(~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan)), values,
                  column="monetary_value", rule="not_finite", what="are missing, NaN or infinite")
        if self._strict():
            money = summary["monetary_value"].to_numpy(dtype=float)
            bad = (summary["frequency"].to_numpy(dtype=float) > 0) & (money <= 0)
            if bad.any():
                n_bad = int(bad.sum())
                raise DataError(
                    f"{n_bad} customer(s) with repeat purchases have a zero or negative "
                    "monetary_value (their repeat purchases total 0 or less: free orders, "
                    "refunds, returns); the Gamma-Gamma model needs positive amounts. Fix: "
                    f"{type(self).__name__}(nonpositive_spend=\"exclude\") leaves them out of the "
                    "fit (counted in a DataWarning and in exclusions_), or correct or remove "
                    "them in the summary (the examples are customer ids).",
                    column="monetary_value", rule="non_positive_spend", n_rows=n_bad,
                    examples=[i.item() if hasattr(i, "item") else i
                              for i in summary.index[bad][:5]],
                )

    def _fit_mask(self, summary: pd.DataFrame) -> np.ndarray:
        repeat = summary["frequency"].to_numpy(dtype=float) > 0
        if self._strict():
            return repeat
        nonpositive = repeat & (summary["monetary_value"].to_numpy(dtype=float) <= 0)
        if nonpositive.any():
            warnings.warn(
                f"{int(nonpositive.sum())} customer(s) with repeat purchases but a zero or "
                "negative monetary_value were left out of the Gamma-Gamma fit "
                "(nonpositive_spend='exclude').",
                DataWarning, stacklevel=4,
            )
        return repeat & ~nonpositive

    def _fit_rows_description(self) -> str:
        return "customers with frequency > 0, a positive monetary_value and a positive weight"

    def _after_fit(self, summary: pd.DataFrame, mask: np.ndarray, weights: np.ndarray) -> None:
        repeat = summary["frequency"].to_numpy(dtype=float) > 0
        left_out = repeat & (summary["monetary_value"].to_numpy(dtype=float) <= 0) & (weights > 0)
        n_left = float(weights[left_out].sum())
        #: Customers the fit left out by a documented rule (non-zero counts only):
        #: ``{"nonpositive_spend": n}`` with ``nonpositive_spend="exclude"``.
        self.exclusions_ = ({"nonpositive_spend": int(n_left) if n_left.is_integer() else n_left}
                            if n_left else {})
        self.spend_frequency_correlation_ = self._correlation(summary, mask, weights)
        if abs(self.spend_frequency_correlation_) > self.correlation_threshold:
            warnings.warn(
                "The Gamma-Gamma model assumes that spend per transaction is independent "
                "of purchase frequency, but their correlation among repeat customers is "
                f"{self.spend_frequency_correlation_:.2f} (threshold "
                f"{self.correlation_threshold}). Expected spend and CLV may be biased; "
                "consider segmenting customers.",
                ModelAssumptionWarning, stacklevel=3,
            )
        if self.params_["q"] <= 1:
            warnings.warn(
                f"q = {self.params_['q']:.3g} <= 1: the population mean spend "
                "p * v / (q - 1) does not exist, so customers without repeat purchases "
                "have no expected spend. A few extreme amounts often cause this; check "
                "monetary_value for outliers.",
                ModelAssumptionWarning, stacklevel=3,
            )

    @staticmethod
    def _correlation(summary, mask, weights) -> float:
        x = summary["frequency"].to_numpy(dtype=float)[mask]
        m = summary["monetary_value"].to_numpy(dtype=float)[mask]
        w = weights[mask]
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(m) == 0:
            return 0.0
        mx, mm = np.average(x, weights=w), np.average(m, weights=w)
        cov = np.average((x - mx) * (m - mm), weights=w)
        return float(cov / np.sqrt(np.average((x - mx) ** 2, weights=w)
                                   * np.average((m - mm) ** 2, weights=w)))

    def spend_frequency_correlation(self, summary: pd.DataFrame, weights=None) -> float:
        """Pearson correlation between frequency and mean spend of repeat customers.

        The Gamma-Gamma model assumes it is near zero (FH section 2). ``fit``
        computes it and warns above ``correlation_threshold``.
        """
        self._validate(summary, ("frequency", "monetary_value"), fitting=False)
        w = self._weights(summary, weights)
        mask = (summary["frequency"].to_numpy(dtype=float) > 0) & (w > 0) & (
            summary["monetary_value"].to_numpy(dtype=float) > 0)
        return self._correlation(summary, mask, w)

    def population_mean_spend(self) -> float:
        r"""Mean spend per transaction in the population, :math:`pv/(q-1)`.

        Raises
        ------
        ValueError
            If ``q <= 1``: the mean of the fitted distribution does not exist.
        """
        p, q, v = self._row_params(self._params_tuple(), ())
        if q <= 1:
            raise ValueError(
                f"The population mean spend does not exist: q = {q:.3g} <= 1 (the gamma "
                "mixing distribution has too heavy a tail). Check monetary_value for "
                "extreme amounts, cap them, or use a different spend model."
            )
        return float(_formulas.population_mean_spend(p, q, v))

    def expected_spend(self, summary: pd.DataFrame, *, interval: float | None = None,
                       return_draws: bool = False, n_draws: int | None = None,
                       random_state=None):
        r"""Expected mean spend per transaction of each customer: FH eq. 5.

        A weighted average of the customer's observed mean spend and the
        population mean, :math:`p(v + x\bar z)/(px + q - 1)`; customers with
        ``frequency == 0`` get the population mean.

        Parameters
        ----------
        summary
            RFM summary with ``frequency`` and ``monetary_value``.
        interval, return_draws, n_draws, random_state
            Uncertainty over parameter draws, as in
            :meth:`~clvmodels.models.parametric.TransactionModel.expected_purchases`
            (draws without a defined expectation are left out, with a warning).

        Returns
        -------
        Series indexed by customer id (the posterior mean for NUTS and ADVI
        fits); a DataFrame ``mean, lower, upper`` with ``interval``.

        Raises
        ------
        ValueError
            If the expectation does not exist for some customer
            (``p * frequency + q <= 1``, e.g. ``q <= 1`` and a customer without
            repeat purchases).
        """
        if self._uses_draws(interval, return_draws):
            index, cols, func = self._spend_draws_function(summary)
            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "expected_spend", interval=interval,
                                return_draws=return_draws)
        index, kernel = self._spend_kernel(summary)
        return pd.Series(kernel(self._params_tuple()), index=index, name="expected_spend")

    def _prediction_columns(self) -> tuple:
        """The columns the predictions read: ``frequency``, ``monetary_value``, then
        the covariates (a subclass may fit on more columns than it predicts from)."""
        return ("frequency", "monetary_value", *self.covariate_columns())

    def _spend_draws_function(self, summary: pd.DataFrame):
        """``(index, [frequency, monetary_value], func)`` with ``func(cols, draws)`` the
        expected spend of each row for each parameter draw, shape ``(rows, draws)``
        (NaN where the expectation does not exist); used for intervals and by
        :func:`clvmodels.clv.customer_lifetime_value`."""
        index, (x, m, *z) = self._arrays(summary, self._prediction_columns())
        m = np.where(x > 0, m, 0.0)

        def func(cols, draws):
            x_, m_, *z_ = (np.asarray(c, dtype=float)[:, None] for c in cols)
            return _formulas.expected_spend(x_, m_, *self._row_params(
                [d[None, :] for d in draws.T], z_))

        return index, [x, m, *z], func

    def _spend_kernel(self, summary: pd.DataFrame):
        """``f(params) -> expected spend of every customer``, validated once
        (used for parameter draws by :func:`clvmodels.clv.customer_lifetime_value`)."""
        index, (x, m, *z) = self._arrays(summary, self._prediction_columns())

        def kernel(params):
            p, q, v = self._row_params(params, z)
            undefined = p * x + q <= 1
            if undefined.any():
                raise ValueError(
                    f"Expected spend does not exist for {int(undefined.sum())} customer(s): "
                    f"it needs p * frequency + q > 1, and q = {q:.3g}. "
                    + ("Customers without repeat purchases need the population mean, which "
                       "requires q > 1. " if (x[undefined] == 0).any() else "")
                    + "Check monetary_value for extreme amounts."
                )
            return _formulas.expected_spend(x, m, p, q, v)

        return index, kernel
