"""clvmodels: customer lifetime value from transaction logs.

transactions -> :func:`rfm_summary` (customer attributes: :func:`read_attributes`,
:func:`encode_attributes`, :func:`join_attributes`) -> models -> predictions ->
:func:`backtest`, :func:`predict_clv` (export) and the HTML report.
"""

from . import datasets, plotting, simulate
from .attributes import encode_attributes, read_attributes
from .backtest import backtest
from .clv import customer_lifetime_value
from .compare import compare, likelihood_ratio_test
from .covariates import join_attributes, one_hot
from .dert import dert
from .data import purchase_days, read_transactions, rfm_summary
from .discrete import discrete_summary
from .exceptions import ConvergenceError, DataError, ModelFileError, NotFittedError
from .export import predict_clv
from .kpis import kpis
from .models.baseline import BaselineModel, cohort_retention, formula_clv, rfm_segments
from .models.beta_geo import BetaGeoModel
from .models.beta_geo_beta_binom import BetaGeoBetaBinomModel
from .models.gamma_gamma import GammaGammaModel
from .models.gamma_gamma_individual import GammaGammaIndividualModel
from .models.modified_beta_geo import ModifiedBetaGeoModel
from .models.pareto_nbd import ParetoNBDModel
from .models.shifted_beta_geo import ShiftedBetaGeoModel
from .persistence import load
from .stages import lifecycle_stages, stage_counts, stage_migration, stages_at
from ._version import __version__  # noqa: F401  (the package version)

__all__ = [
    "BaselineModel",
    "BetaGeoBetaBinomModel",
    "BetaGeoModel",
    "ConvergenceError",
    "DataError",
    "GammaGammaIndividualModel",
    "GammaGammaModel",
    "ModelFileError",
    "ModifiedBetaGeoModel",
    "NotFittedError",
    "ParetoNBDModel",
    "ShiftedBetaGeoModel",
    "backtest",
    "cohort_retention",
    "compare",
    "customer_lifetime_value",
    "datasets",
    "dert",
    "discrete_summary",
    "encode_attributes",
    "formula_clv",
    "kpis",
    "join_attributes",
    "one_hot",
    "likelihood_ratio_test",
    "lifecycle_stages",
    "load",
    "plotting",
    "predict_clv",
    "purchase_days",
    "read_attributes",
    "read_transactions",
    "rfm_segments",
    "rfm_summary",
    "simulate",
    "stage_counts",
    "stage_migration",
    "stages_at",
]
