"""BG/BB model of discrete-time repeat transactions (Fader, Hardie & Shang 2010)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import check_summary, fail_rows
from ..inference.mle import LikelihoodSpec
from ..likelihoods import beta_geo_beta_binom as _formulas
from .parametric import Parameter, TransactionModel

__all__ = ["BetaGeoBetaBinomModel"]


class BetaGeoBetaBinomModel(TransactionModel):
    r"""BG/BB ("beta-geometric / beta-Bernoulli") model of discrete-time repeat
    transactions.

    Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
    noncontractual setting", *Marketing Science* 29(6), 1086-1108.

    For settings where a customer can transact at most once per period
    (donations per year, yearly events, a daily deal per day): after the first
    transaction (period 0) each period is one transaction opportunity. Assumptions:
    while alive, a customer transacts at each opportunity with probability
    :math:`p \sim \mathrm{Beta}(\alpha, \beta)`; at the start of each opportunity
    an alive customer dies with probability :math:`\theta \sim \mathrm{Beta}(\gamma,
    \delta)`. The likelihood is FHS eq. 5
    (:func:`clvmodels.likelihoods.beta_geo_beta_binom.loglik`), the same function
    for maximum likelihood and for ``method="nuts"``, ``"map"`` or ``"advi"``.

    The summary has one row per customer (or per group of identical customers,
    with ``weights``): ``frequency`` (opportunities with a transaction after the
    first period), ``recency`` (the opportunity of the last one, 0 if none) and
    ``n_periods`` (opportunities observed), all whole numbers;
    :func:`clvmodels.discrete_summary` builds it from a transaction log. Horizons
    ``t`` of the predictions count opportunities (periods); the model has no time
    unit.

    Predictions (every one takes ``interval=``, ``return_draws=``, ``n_draws=``
    and ``random_state=`` as the other purchase models): ``probability_alive``
    (at opportunity ``n``, or ``t`` opportunities later: ``t=1`` is the paper's
    P(alive in period n + 1)), ``expected_purchases(summary, t)`` (transactions
    at the next ``t`` opportunities, FHS eq. 13), ``conditional_probability_of_purchases``,
    ``expected_purchases_new_customer``, ``probability_of_purchases`` (FHS eq. 7)
    and :meth:`discounted_expected_residual_transactions` (DERT, FHS eq. 14).

    Attributes
    ----------
    params_ : Series
        ``alpha, beta`` (transaction probability), ``gamma, delta`` (dropout
        probability).
    log_likelihood_ : float
        Total log-likelihood (donations: -33,225.6).

    Examples
    --------
    >>> from clvmodels.datasets import load_donations
    >>> from clvmodels.models.beta_geo_beta_binom import BetaGeoBetaBinomModel
    >>> rows = load_donations()  # 11,104 donors in 22 rows with counts
    >>> model = BetaGeoBetaBinomModel().fit(rows, weights="weights")
    >>> model.params_.round(4).tolist()  # FHS 2010: 1.204, 0.750, 0.657, 2.783
    [1.2035, 0.7497, 0.6567, 2.7834]
    >>> round(model.log_likelihood_, 1)
    -33225.6
    """

    parameters = (
        Parameter("alpha", start=1.0, description="beta transaction-probability parameter alpha"),
        Parameter("beta", start=1.0, description="beta transaction-probability parameter beta"),
        Parameter("gamma", start=1.0, description="beta dropout-probability parameter gamma"),
        Parameter("delta", start=1.0, description="beta dropout-probability parameter delta"),
    )
    alternative_starts = (
        {"alpha": 0.5, "beta": 0.5, "gamma": 0.5, "delta": 5.0},
        {"alpha": 3.0, "beta": 3.0, "gamma": 3.0, "delta": 10.0},
    )
    data_columns = ("frequency", "recency", "n_periods")
    time_columns = ()
    uses_time = False
    likelihood = LikelihoodSpec(loglik=_formulas.loglik, n_params=4, n_data=3,
                                loglik_grad=_formulas.loglik_grad)
    formulas = _formulas

    def _validate(self, summary, columns, *, fitting: bool) -> None:
        """The RFM rules of a discrete summary: whole numbers with
        ``0 <= frequency <= recency <= n_periods`` and recency 0 without a repeat
        transaction."""
        check_summary(summary, columns)
        x, t_x, n = (summary[c].to_numpy(dtype=float) for c in self.data_columns)
        for name, values in (("recency", t_x), ("n_periods", n)):
            fail_rows(values != np.round(values), summary[name], column=name,
                      rule="not_whole", what="are not whole numbers of periods")
        fail_rows(t_x > n, summary["recency"], column="recency", rule="recency_after_n_periods",
                  what="are larger than n_periods (the last transaction must be within "
                       "the periods observed)")
        fail_rows((x == 0) & (t_x > 0), summary["recency"], column="recency",
                  rule="recency_without_repeat",
                  what="are positive for customers with frequency 0 (must be 0)")
        fail_rows(x > t_x, summary["frequency"], column="frequency",
                  rule="frequency_above_recency",
                  what="are larger than recency (at most one transaction per period: "
                       "x transactions need at least x periods)")

    def discounted_expected_residual_transactions(self, summary: pd.DataFrame,
                                                  discount_rate: float, *,
                                                  interval: float | None = None,
                                                  return_draws: bool = False,
                                                  n_draws: int | None = None,
                                                  random_state=None):
        """DERT of each customer (FHS eq. 14): their expected transactions at the
        opportunities ``n + 1, n + 2, ...``, the one at ``n + j`` discounted by
        ``(1 + discount_rate) ** -j``. Multiply by the value of a transaction for
        the customer's residual lifetime value.

        ``discount_rate`` is per period (e.g. 0.1). ``interval``, ``return_draws``,
        ``n_draws`` and ``random_state`` as in :meth:`expected_purchases`.
        """
        d = float(discount_rate)
        if not np.isfinite(d) or d <= 0:
            raise ValueError("discount_rate must be positive (per period, e.g. 0.1): "
                             f"without discounting DERT is infinite; got {discount_rate!r}.")
        f = self.formulas
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)

            def func(cols, draws):
                x, n, t_x = (c[:, None] for c in cols)
                return f.discounted_expected_residual_transactions(
                    d, x, t_x, n, *(v[None, :] for v in draws.T))

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "dert", interval=interval,
                                return_draws=return_draws)
        hist = self._history(summary)
        values = hist.evaluate(lambda x, t_x, n: f.discounted_expected_residual_transactions(
            d, x, t_x, n, *self._params_tuple()))
        return pd.Series(values, index=hist.index, name="dert")
