"""Hand-written numpy gradients of the likelihoods (the ``"analytic"`` backend).

The maximum-likelihood engine and MAP use value-and-gradient functions written
out next to each formula in :mod:`clvmodels.likelihoods`, so a fit compiles
nothing. They must not drift from the one likelihood: their values equal the
numpy ``loglik`` and their gradients equal pytensor's automatic derivative of the
same ``loglik`` at many parameter points, on data with the edge cases
(``x = 0``, ``x = 500``, ``t_x = 0``, ``t_x = T``, tiny and huge ``alpha``).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from clvmodels.inference import bayes, mle
from clvmodels.inference.mle import LikelihoodSpec, make_objective
from clvmodels.likelihoods._math import NUMPY
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

MODELS = [BetaGeoModel, ModifiedBetaGeoModel, GammaGammaModel]


def _purchase_data() -> list[np.ndarray]:
    """Frequency, recency, age: every combination of the edge cases."""
    rows = []
    for T in (0.01, 1.0, 39.0, 5000.0):
        for x in (0.0, 1.0, 2.0, 7.0, 500.0):
            recencies = (0.0,) if x == 0 else (0.0, 1e-9 * T, 0.5 * T, T * (1 - 1e-12), T)
            rows += [(x, t_x, T) for t_x in recencies]
    return [np.array(c, dtype=float) for c in zip(*rows)]


def _spend_data() -> list[np.ndarray]:
    """Frequency (> 0) and mean spend."""
    rows = [(x, m) for x in (1.0, 2.0, 7.0, 500.0) for m in (1e-6, 0.3, 1.0, 35.0, 1e6)]
    return [np.array(c, dtype=float) for c in zip(*rows)]


def _data(cls) -> list[np.ndarray]:
    return _spend_data() if cls is GammaGammaModel else _purchase_data()


def _parameter_points(cls, n: int = 25) -> np.ndarray:
    """Random points over many orders of magnitude, plus tiny and huge scales."""
    rng = np.random.default_rng(20240611)
    k = cls.likelihood.n_params
    points = np.exp(rng.uniform(np.log(1e-3), np.log(1e3), size=(n, k)))
    scale = 1 if cls is not GammaGammaModel else 2  # alpha / v
    extreme = np.ones((4, k))
    extreme[:, scale] = (1e-8, 1e-4, 1e4, 1e8)
    return np.vstack([points, extreme, np.full((1, k), 0.5)])


def _autodiff(cls):
    """Compiled ``(log theta, *data, weights) -> (-sum w loglik, gradient)`` of the
    unsplit ``loglik`` (pytensor's automatic derivative)."""
    spec = cls.likelihood
    return mle._compiled(LikelihoodSpec(loglik=spec.loglik, n_params=spec.n_params,
                                        n_data=spec.n_data))


def _analytic_rows(cls, data, params):
    """Per-row values and gradients (natural parameters) from the numpy functions."""
    spec = cls.likelihood
    vc, gc = spec.count_terms_grad(data[0], *params)
    vr, gr = spec.rest_terms_grad(*data, *params)
    return vc + vr, gc + gr


@pytest.mark.parametrize("cls", MODELS)
def test_models_declare_numpy_gradients(cls):
    assert cls.likelihood.has_gradient and cls.likelihood.split_gradient
    data = _data(cls)
    obj = make_objective(cls.likelihood, data, np.ones(len(data[0])),
                         backend=cls.gradient_backend)
    assert obj.backend == "analytic" and obj._fn is None


@pytest.mark.parametrize("cls", MODELS)
def test_values_equal_the_numpy_likelihood(cls):
    spec = cls.likelihood
    data = _data(cls)
    for params in _parameter_points(cls):
        values, _ = _analytic_rows(cls, data, params)
        with np.errstate(all="ignore"):
            count = spec.count_terms(data[0], *params, xp=NUMPY)
            rest = spec.rest_terms(*data, *params, xp=NUMPY)
            ref = spec.loglik(*data, *params, xp=NUMPY)
        np.testing.assert_allclose(spec.count_terms_grad(data[0], *params)[0], count,
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(spec.rest_terms_grad(*data, *params)[0], rest,
                                   rtol=1e-12, atol=0)
        np.testing.assert_allclose(values, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("cls", MODELS)
def test_gradients_equal_pytensor_autodiff_of_loglik(cls):
    """Row by row, in log-parameters (what the optimiser sees)."""
    fn = _autodiff(cls)
    data = _data(cls)
    one = np.ones(1)
    n_checked = 0
    for params in _parameter_points(cls):
        theta = np.log(params)
        _, grads = _analytic_rows(cls, data, params)
        ours = grads * params[:, None]  # d / d log(theta)
        for i in range(len(data[0])):
            row = [d[i:i + 1] for d in data]
            nll, ref = fn(theta, *row, one)
            ref = -np.asarray(ref, dtype=float)
            if not (np.isfinite(nll) and np.all(np.isfinite(ref))):
                continue
            # Relative agreement 1e-9, except where a component is a small
            # difference of large terms (absolute 1e-12 of their size) and for
            # pytensor's digamma, accurate to about 1e-11 absolute (scipy's: 1e-16),
            # which enters multiplied by theta (log-parameters) and by x (p of the
            # Gamma-Gamma). The worst case of the grid uses a third of this.
            size = 1.0 + np.abs(ref).max() + np.abs(nll)
            atol = 1e-12 * size + 1e-10 * params * (1.0 + row[0][0])
            err = np.abs(ours[:, i] - ref)
            assert np.all(err <= 1e-9 * np.abs(ref) + atol), (
                f"params={params}, row={[d[0] for d in row]}: {ours[:, i]} != {ref}")
            n_checked += 1
    assert n_checked > 0.95 * len(_parameter_points(cls)) * len(data[0])


@pytest.mark.parametrize("cls", MODELS)
def test_analytic_objective_equals_the_compiled_one(cls, cdnow_summary, monkeypatch):
    """Same totals as the compiled objective and the numpy one, on CDNOW with
    weights, and independent of the block size."""
    model = cls()
    data, w, *_ = model._data_for_fit(cdnow_summary, None, None)
    spec = cls.likelihood
    analytic = make_objective(spec, data, w, backend="analytic")
    compiled = make_objective(spec, data, w, backend="pytensor")
    plain = make_objective(spec, data, w, backend="numpy")
    monkeypatch.setattr(mle, "_ANALYTIC_BLOCK_ROWS", 100)
    blocked = make_objective(spec, data, w, backend="analytic")
    rng = np.random.default_rng(1)
    for _ in range(5):
        theta = rng.normal(0.0, 1.0, spec.n_params)
        v1, g1 = analytic(theta)
        v2, g2 = compiled(theta)
        v3, g3 = blocked(theta)
        assert v1 == pytest.approx(plain.value(theta), rel=1e-12)
        assert v1 == pytest.approx(v2, rel=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-9, atol=1e-9 * abs(v1))
        assert v3 == pytest.approx(v1, rel=1e-12)
        np.testing.assert_allclose(g3, g1, rtol=1e-11, atol=1e-11 * abs(v1))


def test_backend_choice():
    data = _purchase_data()
    w = np.ones(len(data[0]))
    # Pareto/NBD has no numpy gradient: "auto" compiles.
    assert not ParetoNBDModel.likelihood.has_gradient
    with pytest.raises(ValueError, match="numpy gradient"):
        make_objective(ParetoNBDModel.likelihood, data, w, backend="analytic")
    with pytest.raises(ValueError, match="backend must be"):
        make_objective(BetaGeoModel.likelihood, data, w, backend="jax")
    model = BetaGeoModel()
    prior = bayes._numpy_prior_function(bayes.model_priors(model, data, w),
                                        model.param_names())
    ref = np.array([0.5, 1.0, 0.5, 1.0])
    # MAP evaluates the numpy gradients; sampling keeps the compiled function.
    map_density = bayes.LogPosterior(model, None, data, w, prior_function=prior,
                                     reference=ref, jacobian=False, kernel=False)
    nuts_density = bayes.LogPosterior(model, None, data, w, prior_function=prior,
                                      reference=ref, jacobian=False)
    assert map_density.objective.backend == "analytic"
    assert nuts_density.objective.backend == "pytensor"
    psi = np.log(ref) + 0.1
    a, b = map_density(psi), nuts_density(psi)
    assert a[0] == pytest.approx(b[0], rel=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-9, atol=1e-9)

def test_cold_mle_and_map_fits_compile_nothing():
    """In a fresh process, MLE and MAP fits of BG/NBD, MBG/NBD and Gamma-Gamma
    never import pytensor, PyMC or numba (so compile nothing) and reproduce the
    published BG/NBD estimates."""
    code = """
import sys
import numpy as np, pandas as pd, lifetimes, os
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
path = os.path.join(os.path.dirname(lifetimes.__file__), "datasets",
                    "cdnow_customers_summary_with_transactions.csv")
raw = pd.read_csv(path)
s = pd.DataFrame({"frequency": raw["x"], "recency": raw["t_x"], "T": raw["T"],
                  "monetary_value": raw["zbar"]})
s.attrs["time_unit"] = "W"
bg = BetaGeoModel().fit(s)
# CLVTools' estimates, as in test_beta_geo.py
assert np.allclose(bg.params_, [0.2425945, 4.4136019, 0.7929199, 2.4258881], rtol=1e-4, atol=0)
assert abs(bg.log_likelihood_ + 9582.429) < 5e-3, bg.log_likelihood_
BetaGeoModel(method="map").fit(s)
ModifiedBetaGeoModel().fit(s)
ModifiedBetaGeoModel(method="map").fit(s)
GammaGammaModel(nonpositive_spend="exclude").fit(s)
GammaGammaModel(method="map", nonpositive_spend="exclude").fit(s)
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pytensor", "pymc", "numba"))
assert not loaded, loaded[:5]
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
