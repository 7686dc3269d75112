"""Pareto/NBD model fitted by maximum likelihood (Schmittlein, Morrison & Colombo 1987)."""

from __future__ import annotations

from ..inference.mle import LikelihoodSpec
from ..likelihoods import pareto_nbd as _formulas
from .parametric import Parameter, TransactionModel

__all__ = ["ParetoNBDModel"]


class ParetoNBDModel(TransactionModel):
    r"""Pareto/NBD model of repeat purchases in continuous time.

    Schmittlein, Morrison & Colombo (1987), "Counting your customers: who are they
    and what will they do next?", *Management Science* 33(1), 1-24; the likelihood
    and predictions follow Fader & Hardie's notes (2005) and are computed without
    the hypergeometric function (:mod:`clvmodels.likelihoods.pareto_nbd`).

    Assumptions: while alive, a customer buys as a Poisson process with rate
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; their lifetime is exponential
    with rate :math:`\mu \sim \mathrm{Gamma}(s, \beta)` (dropout can happen at any
    time, not only after a purchase as in BG/NBD); :math:`\lambda` and :math:`\mu`
    are independent across customers.

    Parameters
    ----------
    initial_params
        Optional starting values (dict with ``r, alpha, s, beta``; ``alpha`` and
        ``beta`` in the data's time unit).
    tol
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter
        Iteration limit of each optimiser run.

    Attributes
    ----------
    params_ : Series
        ``r, alpha, s, beta`` (``alpha`` and ``beta`` in ``time_unit_``).
    cov_, standard_errors_ : DataFrame, Series
        Delta-method covariance and standard errors.
    log_likelihood_, aic_, bic_ : float
        The total log-likelihood (CDNOW sample: -9594.98) and information criteria.

    Examples
    --------
    >>> import clvmodels
    >>> from clvmodels.models.pareto_nbd import ParetoNBDModel
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> model = ParetoNBDModel().fit(summary)
    >>> model.params_.round(3).tolist()  # published: 0.553, 10.578, 0.606, 11.669
    [0.553, 10.578, 0.606, 11.669]
    """

    parameters = (
        Parameter("r", start=1.0, description="shape of the gamma purchase-rate distribution"),
        Parameter("alpha", time_power=1, start=1.0,
                  description="scale (a duration) of the gamma purchase-rate distribution"),
        Parameter("s", start=1.0, description="shape of the gamma dropout-rate distribution"),
        Parameter("beta", time_power=1, start=1.0,
                  description="scale (a duration) of the gamma dropout-rate distribution"),
    )
    alternative_starts = (
        {"r": 0.5, "alpha": 0.5, "s": 0.5, "beta": 0.5},
        {"r": 2.0, "alpha": 2.0, "s": 2.0, "beta": 5.0},
    )
    likelihood = LikelihoodSpec(
        loglik=_formulas.loglik, n_params=4, n_data=3,
        count_terms=_formulas.loglik_count_terms, rest_terms=_formulas.loglik_timing_terms,
    )
    formulas = _formulas
