"""MBG/NBD model fitted by maximum likelihood (Batislam, Denizel & Filiztekin 2007)."""

from __future__ import annotations

from ..covariates import BETA_GEO_LINKS
from ..inference.mle import LikelihoodSpec
from ..likelihoods import modified_beta_geo as _formulas
from .beta_geo import BetaGeoModel
from .parametric import CovariateTransactionModel

__all__ = ["ModifiedBetaGeoModel"]


class ModifiedBetaGeoModel(CovariateTransactionModel):
    r"""MBG/NBD ("modified BG/NBD") model of repeat purchases.

    Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison
    of models for customer base analysis", *International Journal of Research in
    Marketing* 24(3), 201-209; Wagner & Hoppe (2008), "Erratum on the MBG/NBD
    model", *IJRM* 25(3), 225-226.

    As the BG/NBD (:class:`~clvmodels.models.beta_geo.BetaGeoModel`), except that
    a customer may also drop out right after the first purchase, so customers
    without repeat purchases are not certainly alive. Likelihood:
    :func:`clvmodels.likelihoods.modified_beta_geo.loglik`.

    Parameters, attributes and methods are those of
    :class:`~clvmodels.models.beta_geo.BetaGeoModel`, covariates included
    (``purchase_covariates``, ``dropout_covariates``; the same log-links:
    :math:`\alpha_i = \alpha e^{-\gamma_p \cdot x_i}`,
    :math:`a_i = a e^{\gamma_a \cdot x_i}`, :math:`b_i = b e^{\gamma_b \cdot x_i}`;
    see :mod:`clvmodels.covariates`).

    Examples
    --------
    >>> import clvmodels
    >>> from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> ModifiedBetaGeoModel().fit(summary).params_.round(3).tolist()
    [0.525, 6.183, 0.891, 1.614]
    """

    # Same parameters, meanings and starting points as BG/NBD.
    parameters = BetaGeoModel.parameters
    alternative_starts = BetaGeoModel.alternative_starts
    likelihood = LikelihoodSpec(
        loglik=_formulas.loglik, n_params=4, n_data=3,
        count_terms=_formulas.loglik_count_terms, rest_terms=_formulas.loglik_timing_terms,
        count_terms_grad=_formulas.loglik_count_terms_grad,
        rest_terms_grad=_formulas.loglik_timing_terms_grad,
    )
    formulas = _formulas
    covariate_links = BETA_GEO_LINKS

