"""Inference engines: maximum likelihood (:mod:`clvmodels.inference.mle`)."""

from .mle import LikelihoodSpec, MLEResult, Objective, make_objective, maximize_likelihood

__all__ = ["LikelihoodSpec", "MLEResult", "Objective", "make_objective", "maximize_likelihood"]
