"""Log-likelihoods and prediction formulas, one module per model.

Each log-likelihood is written once against a math namespace
(:mod:`clvmodels.likelihoods._math`), so the maximum-likelihood engine (numpy /
compiled pytensor gradients) and the Bayesian engine (PyMC) share it.
"""

from . import (beta_geo, beta_geo_beta_binom, gamma_gamma, gamma_gamma_individual,
               modified_beta_geo, pareto_nbd)
from ._math import NUMPY, pytensor_namespace

__all__ = ["NUMPY", "beta_geo", "beta_geo_beta_binom", "gamma_gamma", "gamma_gamma_individual",
           "modified_beta_geo",
           "pareto_nbd", "pytensor_namespace"]
