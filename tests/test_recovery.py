"""Simulate 100,000 customers from known parameters and recover them by fitting.

Each model's simulator (:mod:`clvmodels.simulate`) draws customers from the
model's own story; the fitted parameters must fall within four standard errors of
the truth, and the standard errors must be small enough for that to mean something.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import simulate
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

N = 100_000
SPEND = {"p": 6.0, "q": 4.0, "v": 15.0}
CASES = [
    (BetaGeoModel, simulate.beta_geo_summary, {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}),
    (ModifiedBetaGeoModel, simulate.modified_beta_geo_summary,
     {"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6}),
    (ParetoNBDModel, simulate.pareto_nbd_summary,
     {"r": 0.55, "alpha": 10.5, "s": 0.6, "beta": 11.7}),
]


def _ages(seed: int) -> np.ndarray:
    # Weekly cohorts acquired over 12 weeks, observed for 39 to 52 weeks.
    return np.random.default_rng(seed).integers(39, 53, N).astype(float)


@pytest.mark.parametrize("cls,simulator,truth", CASES, ids=lambda v: getattr(v, "__name__", ""))
def test_purchase_model_recovers_its_parameters(cls, simulator, truth):
    summary = simulator(N, **truth, T=_ages(11), random_state=11, time_unit="W")
    model = cls().fit(summary)
    assert model.converged_ and model.n_customers_ == N
    true = pd.Series(truth)[model.params_.index]
    z = (model.params_ - true) / model.standard_errors_
    assert (z.abs() < 4).all(), pd.DataFrame({"fit": model.params_, "true": true, "z": z})
    # With 100k customers every parameter is pinned down to within 15%.
    assert (model.standard_errors_ / true < 0.15).all()


def test_gamma_gamma_recovers_its_parameters():
    truth = {"r": 0.8, "alpha": 2.0, "a": 0.6, "b": 3.0}
    summary = simulate.beta_geo_summary(N, **truth, T=_ages(12), random_state=12,
                                        time_unit="W", spend=SPEND)
    model = GammaGammaModel().fit(summary)
    true = pd.Series(SPEND)[model.params_.index]
    z = (model.params_ - true) / model.standard_errors_
    assert (z.abs() < 4).all(), pd.DataFrame({"fit": model.params_, "true": true, "z": z})
    assert model.n_customers_ == int((summary["frequency"] > 0).sum())
