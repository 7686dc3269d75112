"""Pareto/NBD model fitted by maximum likelihood (Schmittlein, Morrison & Colombo 1987)."""

from __future__ import annotations

from ..covariates import PARETO_NBD_LINKS
from ..inference.mle import LikelihoodSpec
from ..likelihoods import pareto_nbd as _formulas
from .parametric import CovariateTransactionModel, Parameter

__all__ = ["ParetoNBDModel"]


class ParetoNBDModel(CovariateTransactionModel):
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
    purchase_covariates, dropout_covariates
        Names of summary columns (numeric, per customer) that scale the purchase
        and dropout rates through log-links, as CLVTools and PyMC-Marketing:
        :math:`\alpha_i = \alpha e^{-\gamma_p \cdot x_i}` and
        :math:`\beta_i = \beta e^{-\gamma_d \cdot x_i}` (coefficients
        ``purchase_coef[col]`` and ``dropout_coef[col]``; positive: a higher
        purchase or dropout rate). Every prediction reads them from its
        summary. See :mod:`clvmodels.covariates`; in Bayesian fits the
        coefficients get ``Normal(0, 1)`` priors (:mod:`clvmodels.priors`).

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
    covariate_links = PARETO_NBD_LINKS

