"""BG/NBD model fitted by maximum likelihood (Fader, Hardie & Lee 2005)."""

from __future__ import annotations

from ..covariates import BETA_GEO_LINKS
from ..inference.mle import LikelihoodSpec
from ..likelihoods import beta_geo as _formulas
from .parametric import CovariateTransactionModel, Parameter

__all__ = ["BetaGeoModel"]


class BetaGeoModel(CovariateTransactionModel):
    r"""BG/NBD ("beta-geometric / negative binomial") model of repeat purchases.

    Fader, Hardie & Lee (2005), "Counting your customers the easy way: an
    alternative to the Pareto/NBD model", *Marketing Science* 24(2), 275-284.

    Assumptions: while alive, a customer buys as a Poisson process with rate
    :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`; after every purchase the
    customer drops out with probability :math:`p \sim \mathrm{Beta}(a, b)`;
    :math:`\lambda` and :math:`p` are independent across customers. The
    likelihood is FHL eq. 6 (:func:`clvmodels.likelihoods.beta_geo.loglik`).

    Parameters
    ----------
    initial_params
        Optional starting values (dict with ``r, alpha, a, b``; ``alpha`` in the
        data's time unit).
    tol
        Gradient tolerance of the optimiser (mean log-likelihood per customer).
    max_iter
        Iteration limit of each optimiser run.
    purchase_covariates, dropout_covariates
        Names of summary columns (numeric, per customer) that scale the purchase
        rate and the dropout probability through log-links:
        :math:`\alpha_i = \alpha e^{-\gamma_p \cdot x_i}` (a positive
        ``purchase_coef[col]`` means more purchases),
        :math:`a_i = a e^{\gamma_a \cdot x_i}` and
        :math:`b_i = b e^{\gamma_b \cdot x_i}` (coefficients
        ``dropout_coef_a[col]``, ``dropout_coef_b[col]``), as PyMC-Marketing's
        ``BetaGeoModel``. Every prediction reads them from its summary. See
        :mod:`clvmodels.covariates`; in Bayesian fits the
        coefficients get ``Normal(0, 1)`` priors (:mod:`clvmodels.priors`).

    Attributes
    ----------
    params_ : Series
        ``r, alpha, a, b`` (``alpha`` in ``time_unit_``).
    cov_, standard_errors_ : DataFrame, Series
        Delta-method covariance and standard errors.
    log_likelihood_, aic_, bic_ : float
        Total log-likelihood in the data's units (CDNOW: -9582.4).
    time_unit_ : str
        Unit of ``recency``, ``T``, ``alpha`` and prediction horizons.

    Examples
    --------
    >>> import clvmodels
    >>> from clvmodels.models.beta_geo import BetaGeoModel
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> model = BetaGeoModel().fit(summary)
    >>> model.params_.round(3).tolist()  # FHL 2005: 0.243, 4.414, 0.793, 2.426
    [0.243, 4.414, 0.793, 2.426]
    >>> round(model.log_likelihood_, 1)
    -9582.4
    >>> model.expected_purchases(summary, t=39).round(3).head(3).tolist()
    [1.226, 0.197, 0.203]
    """

    parameters = (
        Parameter("r", start=1.0, description="shape of the gamma purchase-rate distribution"),
        Parameter("alpha", time_power=1, start=1.0,
                  description="scale (a duration) of the gamma purchase-rate distribution"),
        Parameter("a", start=1.0, description="beta dropout-probability parameter a"),
        Parameter("b", start=2.0, description="beta dropout-probability parameter b"),
    )
    alternative_starts = (
        {"r": 0.3, "alpha": 0.2, "a": 0.5, "b": 1.0},
        {"r": 3.0, "alpha": 5.0, "a": 2.0, "b": 10.0},
    )
    likelihood = LikelihoodSpec(
        loglik=_formulas.loglik, n_params=4, n_data=3,
        count_terms=_formulas.loglik_count_terms, rest_terms=_formulas.loglik_timing_terms,
        count_terms_grad=_formulas.loglik_count_terms_grad,
        rest_terms_grad=_formulas.loglik_timing_terms_grad,
    )
    formulas = _formulas
    covariate_links = BETA_GEO_LINKS

