r"""Bayesian inference for the parametric models: NUTS, MAP and ADVI with PyMC.

A model constructed with ``method="nuts"``, ``"map"`` or ``"advi"`` (e.g.
``BetaGeoModel(method="nuts")``) is fitted here by
:meth:`~clvmodels.models.parametric.ParametricModel.fit`. The steps:

1. **Maximum likelihood first** (:mod:`clvmodels.inference.mle`, about a second
   for a million customers). Its estimate is where every sampler and optimiser
   starts.
2. **The PyMC model** (:func:`build_pymc_model`): one random variable per
   parameter with its prior (:mod:`clvmodels.priors`), in the user's units, and
   the data as one ``pm.CustomDist`` whose log-density is the model's
   log-likelihood -- the same function, in :mod:`clvmodels.likelihoods`, that the
   maximum-likelihood engine uses, called with the pytensor namespace -- and whose
   random generator follows the model's story (purchase process and dropout), so
   :func:`prior_predictive` and posterior predictive checks work. Identical
   histories are compressed into one row with a weight; the weight is a
   non-random input of the distribution that multiplies the log-density (the
   random generator ignores it), so the cost of a gradient follows the number of
   distinct rows, not of customers.
3. **Sampling geometry.** The samplers work in log-parameters (every parameter
   is positive). The log-posterior is maximised from the MLE (a few Newton
   steps) and its Hessian there gives a Laplace approximation
   :math:`\mathcal N(\hat\psi, \Sigma)`; NUTS runs on :math:`u` with
   :math:`\psi = \hat\psi + L u`, :math:`LL^T = \Sigma`, where the posterior is
   close to a standard normal: the strong correlations of these models (``r``
   with ``alpha``, ``a`` with ``b``, ``q`` with ``v``) disappear, the step size is
   near one and a trajectory takes 3 to 7 gradients instead of 15 to 31. Time
   and money are rescaled to order one inside the log-density, as in the
   maximum-likelihood engine; draws are returned in the user's units.
4. **NUTS** (``nuts_sampler="auto"``: nutpie if installed, else numpyro, else
   PyMC's own). With nutpie the log-density and its gradient are the
   compiled function of the maximum-likelihood engine plus the log-prior
   (the common priors, :data:`clvmodels.priors.NUMPY_DENSITIES`, in plain
   Python): nothing is compiled for the sampler itself (nutpie would otherwise
   spend about 15 s compiling the model with numba). From
   :data:`NUMBA_MIN_ROWS` distinct rows on, the per-row part of the likelihood
   runs in a parallel numba loop that pytensor generates from the same formula
   and its exact derivatives (:func:`rows_kernel`; half the time of the
   compiled function on two cores). With PyMC's sampler the PyMC model is
   sampled directly, with the Laplace covariance as its initial dense mass
   matrix.
5. **MAP**: the same log-posterior without the log-Jacobian, maximised by Newton
   steps from the MLE (BFGS if they fail); with flat priors it is the MLE. For
   the models whose likelihood has numpy gradients (BG/NBD, MBG/NBD,
   Gamma-Gamma) the maximum-likelihood fit and the MAP use them and with the
   default priors nothing is compiled (nor is PyMC imported). The MAP's
   covariance is the Laplace approximation. **ADVI**: ``pm.fit`` (mean-field
   ADVI, Adam) on the whitened log-parameters :math:`u`, started at the
   Laplace mode, so the approximation keeps the correlations between the
   parameters that a mean-field fit in the parameters themselves would lose;
   each iteration costs one evaluation of the compressed log-posterior.

After fitting, ``params_`` are the posterior means (the MAP for ``"map"``),
``cov_`` the posterior covariance, ``idata_`` an ArviZ ``InferenceData``
(posterior, sample_stats, observed_data, constant_data), and R-hat above 1.01,
bulk ESS below 400 or divergent transitions raise a
:class:`~clvmodels.exceptions.ConvergenceWarning` that says what to do.

Measured on 2 cores (see ``benchmarks/bench_bayes.py``).
"""

from __future__ import annotations

import inspect
import math
import time
import warnings
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import ConvergenceError, ConvergenceWarning
from ..likelihoods import beta_geo as _bg
from ..likelihoods import gamma_gamma as _gg
from ..likelihoods import modified_beta_geo as _mbg
from ..likelihoods import pareto_nbd as _pnbd
from ..likelihoods import shifted_beta_geo as _sbg
from ..likelihoods._math import pytensor_namespace
from ..likelihoods._random import Family
from ..priors import Prior, create_prior, prior_log_density, resolve_priors
from . import mle as _mle
from .mle import make_objective
from .samplers import (
    NUTS_SAMPLERS,
    _default_progressbar,
    _run_advi,
    _sample_nutpie,
    _sample_pymc,
    _seed,
    choose_nuts_sampler,
)

__all__ = [
    "METHODS",
    "NUTS_SAMPLERS",
    "LogPosterior",
    "build_pymc_model",
    "convergence_problems",
    "fit_bayesian",
    "posterior_predictive",
    "prior_predictive",
]

#: Inference methods of the parametric models.
METHODS = ("mle", "nuts", "map", "advi")

#: Thresholds of the convergence checks.
MAX_RHAT = 1.01
MIN_ESS_BULK = 400


# The generative processes live with the likelihoods (``random`` and ``FAMILY``
# of each module in :mod:`clvmodels.likelihoods`); these names stay for callers.
random_beta_geo = _bg.random
random_modified_beta_geo = _mbg.random
random_pareto_nbd = _pnbd.random
random_gamma_gamma = _gg.random
random_shifted_beta_geo = _sbg.random


def family_of(model) -> Family:
    """The :class:`~clvmodels.likelihoods._random.Family` of a model: its class
    attribute ``family`` if it declares one, else the ``FAMILY`` declared in the
    module of its log-likelihood."""
    spec = type(model).likelihood
    family = getattr(type(model), "family", None)
    if family is None and spec is not None:
        family = getattr(inspect.getmodule(spec.loglik), "FAMILY", None)
    if not isinstance(family, Family):
        raise NotImplementedError(
            f"{type(model).__name__} declares no random generator (a FAMILY next to its "
            "log-likelihood, or a family class attribute), so it cannot be fitted by "
            "Bayesian inference.")
    return family


# ----------------------------------------------------------------------------
# The PyMC model
# ----------------------------------------------------------------------------

def default_scales(model, data, weights) -> dict[str, float]:
    """Natural size of each parameter (for the default priors): the mean age for
    durations, the mean amount for amounts (see :mod:`clvmodels.priors`)."""
    c_t, c_m = model._scales(data, weights)
    return {p.name: (1.0 / c_t) ** p.time_power * (1.0 / c_m) ** p.money_power
            for p in model.parameters}


def model_priors(model, data, weights) -> dict:
    """The model's prior specs, defaults filled in for these data (covariate
    coefficients: ``Normal(0, 1)``, :data:`clvmodels.priors.DEFAULT_COEFFICIENT_PRIOR`)."""
    names = model.param_names()
    return resolve_priors(model.priors, names, default_scales(model, data, weights),
                          unbounded=[n for n, pos in zip(names, model._positive()) if not pos])


def build_pymc_model(model, data, weights, priors=None, *, coords=None):
    """The PyMC model of ``model`` on data arrays (in ``model.data_columns`` order).

    Parameters
    ----------
    model
        A clvmodels parametric model (fitted or not).
    data
        Data arrays in the model's time unit, e.g. ``[frequency, recency, T]``.
    weights
        Number of customers each row stands for.
    priors
        Resolved priors (default: :func:`model_priors`).
    coords
        Optional ``{"row": labels}`` for the rows (customer ids when the rows
        are customers).

    Returns
    -------
    pymc.Model with one free variable per parameter (named as the parameter)
    and the observed variable ``purchases`` (value: ``frequency, recency``;
    inputs: ``T`` and the weights) or ``spend`` (value: ``monetary_value``;
    inputs: ``frequency`` and the weights).
    """
    import pymc as pm
    import pytensor.tensor as pt

    family = family_of(model)
    spec = type(model).likelihood
    names = model.param_names()
    cols = list(model.data_columns)
    if priors is None:
        priors = model_priors(model, data, weights)
    by_name = dict(zip(cols, data))
    value = (np.column_stack([by_name[c] for c in family.observed])
             if len(family.observed) > 1 else np.asarray(by_name[family.observed[0]], float))
    # Covariates (clvmodels.covariates) are further design inputs; the linked
    # parameters are computed per row from the coefficients, both in the
    # log-density and in the random generator.
    covariates = list(cols[len(type(model).data_columns):])
    base_cols = cols[:len(type(model).data_columns)]
    design_cols = list(family.design) + covariates
    n_params, n_design = len(names), len(design_cols)
    n_base = len(type(model).parameters)
    xp = pytensor_namespace()

    def row_params(params, covs, exp):
        if not covariates:
            return list(params)
        return model._layout().apply(list(params[:n_base]), list(params[n_base:]),
                                     list(covs), exp)

    def logp(value, *inputs):
        params = inputs[:n_params]
        design = inputs[n_params:n_params + n_design]
        weight = inputs[-1]
        columns = dict(zip(design_cols, design))
        if len(family.observed) > 1:
            columns.update({c: value[..., j] for j, c in enumerate(family.observed)})
        else:
            columns[family.observed[0]] = value
        rows = row_params(params, [columns[c] for c in covariates], xp.exp)
        return weight * spec.loglik(*[columns[c] for c in base_cols], *rows, xp=xp)

    def random(*inputs, rng=None, size=None):
        params = inputs[:n_params]
        design = inputs[n_params:n_params + n_design]
        rows = row_params(params, design[len(family.design):], np.exp)
        return family.random(*rows, *design[:len(family.design)], inputs[-1], rng=rng,
                             size=size)

    core = "->(2)" if len(family.observed) > 1 else "->()"
    signature = ",".join(["()"] * (n_params + n_design + 1)) + core
    row_coords = dict(coords or {})
    dims = None
    if row_coords:
        dims = ("row", "column") if len(family.observed) > 1 else ("row",)
        if len(family.observed) > 1:
            row_coords["column"] = list(family.observed)
    with pm.Model(coords=row_coords) as pm_model:
        rvs = [create_prior(n, priors[n]) for n in names]
        design = [pt.as_tensor_variable(np.asarray(by_name[c], dtype=float))
                  for c in design_cols]
        w = pt.as_tensor_variable(np.asarray(weights, dtype=float))
        pm.CustomDist(family.name, *rvs, *design, w, logp=logp,
                      random=random if covariates else family.random,
                      signature=signature, observed=value, dims=dims)
    return pm_model


# ----------------------------------------------------------------------------
# The log-posterior in log-parameters
# ----------------------------------------------------------------------------

def _numpy_prior_function(priors, names, positive=None):
    """``psi -> (sum of log prior densities at exp(psi), gradient in psi)`` with numpy,
    or ``None`` if a prior has no numpy density (:func:`clvmodels.priors.prior_log_density`).
    ``positive[i]`` False (a covariate coefficient): the density is at ``psi[i]`` itself."""
    specs = [priors[n] for n in names]
    if any(prior_log_density(spec, 1.0) is None for spec in specs):
        return None
    positive = [True] * len(specs) if positive is None else [bool(p) for p in positive]

    def prior(psi):
        total, grad = 0.0, [0.0] * len(specs)
        for i, (spec, p) in enumerate(zip(specs, psi.tolist())):
            if positive[i]:
                theta = math.exp(p)
                value, derivative = prior_log_density(spec, theta)
                derivative *= theta  # d/dpsi = theta d/dtheta
            else:
                value, derivative = prior_log_density(spec, p)
            total += value
            grad[i] = derivative
        return total, np.array(grad)

    return prior


def _prior_function(pm_model, names, positive=None):
    """Compiled ``psi -> (sum of log prior densities at exp(psi), gradient)`` (at
    ``psi`` itself where ``positive`` is False)."""
    import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    positive = [True] * len(names) if positive is None else [bool(p) for p in positive]
    psi = pt.dvector("psi")
    total = pt.constant(0.0, dtype="float64")
    for i, name in enumerate(names):
        theta = pt.exp(psi[i]) if positive[i] else psi[i]
        total = total + pt.sum(pm.logp(pm_model[name], theta))
    return pytensor.function([psi], [total, pytensor.grad(total, psi)])


#: From this many distinct rows on, the per-row part of the log-likelihood is
#: evaluated by a parallel numba loop generated from the same formula
#: (:func:`rows_kernel`); below it, by the compiled pytensor function of the
#: maximum-likelihood engine (numba's threads do not pay for small data).
NUMBA_MIN_ROWS = 20_000

_KERNELS: dict = {}


def rows_kernel(spec):
    """A numba loop over data rows computing ``sum(w * f)`` and ``sum(w * df/dtheta)``,
    where ``f`` is the per-row part of the model's log-likelihood (``rest_terms``,
    or ``loglik`` when it is not split).

    Nothing is written twice: ``f`` is the model's formula in
    :mod:`clvmodels.likelihoods`; pytensor builds its scalar graph and the exact
    derivatives, fuses them into one scalar function (a ``Composite``), and
    pytensor's numba backend compiles that function, which the generated loop
    calls row by row, in parallel over the machine's cores (``prange``), without
    the GIL and without intermediate arrays. Returns ``None`` when the formula
    does not fuse into one scalar function with a native numba implementation
    (e.g. the Pareto/NBD integral, a numpy Op); the caller then uses the
    compiled pytensor function instead.

    The kernel is called as ``kernel(*data, weights, *theta)`` (natural
    parameters) and returns ``(total, d total / d theta_1, ...)``.
    """
    key = (spec.loglik, spec.rest_terms)
    if key in _KERNELS:
        return _KERNELS[key]
    kernel = None
    try:
        kernel = _build_rows_kernel(spec)
    except Exception:  # pragma: no cover - depends on numba / pytensor versions
        kernel = None
    _KERNELS[key] = kernel
    return kernel


def _build_rows_kernel(spec):
    import numba
    import pytensor
    import pytensor.tensor as pt
    from pytensor.graph.basic import Constant
    from pytensor.link.numba.dispatch import numba_funcify
    from pytensor.scalar.basic import Composite
    from pytensor.tensor.elemwise import Elemwise

    xp = pytensor_namespace()
    n_data, k = spec.n_data, spec.n_params
    data = [pt.dscalar(f"d{i}") for i in range(n_data)]
    params = [pt.dscalar(f"p{j}") for j in range(k)]
    f = spec.rest_terms if spec.split else spec.loglik
    value = f(*data, *params, xp=xp)
    outputs = [value, *pytensor.grad(value, params, disconnected_inputs="ignore")]
    mode = pytensor.compile.mode.get_mode("FAST_RUN").excluding("inplace")
    fgraph = pytensor.function(data + params, outputs, mode=mode,
                               on_unused_input="ignore").maker.fgraph
    nodes = fgraph.toposort()
    if len(nodes) != 1 or not isinstance(nodes[0].op, Elemwise) or not isinstance(
            nodes[0].op.scalar_op, Composite):
        return None
    node = nodes[0]
    if any(out.owner is not node for out in fgraph.outputs):
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scalar_fn = numba_funcify(node.op.scalar_op, node=node)
    if isinstance(scalar_fn, tuple):
        scalar_fn = scalar_fn[0]
    if any("object mode" in str(w.message).lower() or "fallback" in str(w.message).lower()
           for w in caught):
        return None
    names = [f"d{i}" for i in range(n_data)] + [f"p{j}" for j in range(k)]
    args = []
    for inp in node.inputs:
        if inp in fgraph.inputs:
            j = fgraph.inputs.index(inp)
            args.append(f"{names[j]}[i]" if j < n_data else names[j])
        elif isinstance(inp, Constant):
            args.append(repr(float(inp.data)))
        else:
            return None
    positions = [node.outputs.index(out) for out in fgraph.outputs]
    acc = [f"a{m}" for m in range(len(positions))]
    lines = [f"def kernel({', '.join(names[:n_data])}, w, {', '.join(names[n_data:])}):",
             "    " + "; ".join(f"{a} = 0.0" for a in acc),
             "    for i in numba.prange(w.shape[0]):",
             f"        o = scalar_fn({', '.join(args)})",
             "        wi = w[i]"]
    lines += [f"        {a} += wi * o[{pos}]" for a, pos in zip(acc, positions)]
    lines.append(f"    return ({', '.join(acc)},)")
    scope = {"numba": numba, "scalar_fn": scalar_fn}
    exec("\n".join(lines), scope)  # noqa: S102 - source generated above, no user input
    return numba.njit(parallel=True, nogil=True)(scope["kernel"])


class LogPosterior:
    """Log-posterior density of the parameters' logarithms ``psi = log(theta)``
    (of covariate coefficients: ``psi = theta``, no Jacobian).

    ``LogPosterior(...)(psi) -> (value, gradient)``: the log-likelihood of the
    data (the objective of the maximum-likelihood engine on rescaled time and
    money, see ``kernel`` below, shifted back to the true value in the user's
    units), plus the log prior densities at ``exp(psi)``, plus ``sum(psi)`` (the
    log-Jacobian of ``theta = exp(psi)``) when ``jacobian`` is true. Without the
    Jacobian its maximum is the MAP estimate of ``theta``.

    Parameters
    ----------
    model
        The clvmodels model (declares the likelihood and the rescaling).
    pm_model
        Its PyMC model (for the priors).
    data, weights
        Compressed data rows in the user's units and their weights.
    jacobian
        Include the log-Jacobian of the log transform.
    """

    def __init__(self, model, pm_model, data, weights, *, jacobian: bool = True,
                 reference=None, prior_function=None, kernel: bool = True) -> None:
        """``pm_model`` may be ``None`` when ``prior_function`` is given.

        ``kernel=True`` (sampling: thousands of evaluations, so compiling pays)
        evaluates the likelihood with the compiled pytensor function, or from
        :data:`NUMBA_MIN_ROWS` distinct rows on with the parallel numba loop
        (:func:`rows_kernel`). ``kernel=False`` (MAP: a few dozen evaluations)
        uses the model's ``gradient_backend``, i.e. the numpy gradients of the
        likelihood when it has them, so nothing is compiled."""
        self.names = model.param_names()
        self.jacobian = jacobian
        self.positive = model._positive()
        cols = list(model.data_columns)
        c_t, c_m = model._scales(data, weights)
        self.shift = model._log_shift(c_t, c_m)
        scaled = [d * (c_t if c in model.time_columns else c_m if c in model.money_columns
                       else 1.0) for c, d in zip(cols, data)]
        backend = model.gradient_backend
        if kernel and backend == "auto":
            backend = "pytensor"
        self.objective = make_objective(model.likelihood, scaled, weights, backend=backend)
        if prior_function is None:
            prior_function = _prior_function(pm_model, self.names, self.positive)
        copy = getattr(prior_function, "copy", None)  # compiled: one per instance
        self._prior = copy() if copy is not None else prior_function
        # Single-block data: call the compiled likelihood directly (the
        # Objective's bookkeeping costs about as much as 200 rows of likelihood).
        obj = self.objective
        self._direct = None
        self._kernel = None
        if kernel and obj.backend == "pytensor" and obj.n_rows >= NUMBA_MIN_ROWS:
            self._kernel = rows_kernel(model.likelihood)
            if self._kernel is not None:
                self._rows = [*obj.data, obj.weights]
                self._counts = None
                if obj.spec.split:  # a copy of its own: compiled functions are not re-entrant
                    self._counts = _count_function(model.likelihood).copy()
                    self._counts.trust_input = True
        if (self._kernel is None and obj.backend == "pytensor"
                and obj.n_rows <= _mle._BLOCK_ROWS and obj._fn is not None):
            self._direct = [*obj.data, obj.weights] + (list(obj._count) if obj.spec.split
                                                        else [])
            # A copy of its own (so no lock is needed) that skips input checks:
            # the inputs are float64 vectors by construction.
            self._fn = obj._fn.copy()
            self._fn.trust_input = True
        # The likelihood of rescaled data differs from the user's by a constant
        # (the Jacobian of the rescaling of the data), found once.
        ref = model._to_theta(reference) if reference is not None else \
            np.zeros(len(self.names)) - self.shift
        true = make_objective(model.likelihood, data, weights, backend="numpy").value(ref)
        self.offset = float(self.objective.value(ref + self.shift) - true)
        if not np.isfinite(self.offset):
            self.offset = 0.0
        self.n_evaluations = 0

    def loglik(self, psi) -> tuple[float, np.ndarray]:
        """Total log-likelihood and its gradient in ``psi``."""
        theta = np.asarray(psi, dtype=float) + self.shift
        if self._kernel is not None:
            natural = np.exp(theta)
            out = self._kernel(*self._rows, *natural.tolist())
            value = out[0]
            grad = np.asarray(out[1:], dtype=float) * natural  # d / d log(theta)
            if self._counts is not None:
                ux, wx = self.objective._count
                v, g = self._counts(theta, ux, wx)
                value += float(v)
                grad = grad + np.asarray(g, dtype=float)
            return value + self.offset, grad
        if self._direct is not None:
            nll, grad = self._fn(theta, *self._direct)
            return -float(nll) + self.offset, -np.asarray(grad, dtype=float)
        nll, grad = self.objective(theta)
        return -nll + self.offset, -grad

    def __call__(self, psi) -> tuple[float, np.ndarray]:
        psi = np.asarray(psi, dtype=float)
        self.n_evaluations += 1
        if not np.abs(psi).max() <= 700:  # also catches NaN
            return -np.inf, np.zeros_like(psi)
        try:
            value, grad = self.loglik(psi)
            lp, glp = self._prior(psi)
        except (ValueError, OverflowError, ZeroDivisionError):  # a prior outside its support
            return -np.inf, np.zeros_like(psi)
        value = value + float(lp)
        grad = grad + np.asarray(glp, dtype=float)
        if self.jacobian:
            value += float(psi[self.positive].sum())
            grad += self.positive
        if not (math.isfinite(value) and np.isfinite(grad).all()):
            return -np.inf, np.zeros_like(psi)
        return value, grad

    def hessian(self, psi, step: float = 1e-4) -> np.ndarray:
        """Symmetrised Hessian by central differences of the gradient."""
        k = len(psi)
        H = np.empty((k, k))
        for i in range(k):
            e = np.zeros(k)
            e[i] = step
            H[i] = (self(psi + e)[1] - self(psi - e)[1]) / (2 * step)
        return 0.5 * (H + H.T)


_COUNT_FUNCTIONS: dict = {}


def _count_function(spec):
    """Compiled ``(log theta, distinct x, their weights) -> (sum of count terms,
    gradient in log theta)`` (the part of the split log-likelihood that depends on
    the frequency only; cheap, evaluated once per distinct frequency)."""
    key = spec.count_terms
    if key not in _COUNT_FUNCTIONS:
        import pytensor
        import pytensor.tensor as pt

        xp = pytensor_namespace()
        theta = pt.dvector("theta")
        ux, wx = pt.dvector("ux"), pt.dvector("wx")
        params = [pt.exp(theta[i]) for i in range(spec.n_params)]
        total = pt.sum(wx * spec.count_terms(ux, *params, xp=xp))
        fn = pytensor.function([theta, ux, wx], [total, pytensor.grad(total, theta)])
        fn.trust_input = True
        _COUNT_FUNCTIONS[key] = fn
    return _COUNT_FUNCTIONS[key]


def _covariance_from_hessian(H: np.ndarray) -> np.ndarray | None:
    """``inv(-H)``, with eigenvalues floored when ``-H`` is not positive definite."""
    if not np.all(np.isfinite(H)):
        return None
    A = -0.5 * (H + H.T)
    vals, vecs = np.linalg.eigh(A)
    if vals.max() <= 0:
        return None
    floor = max(1e-8 * vals.max(), 1e-12)
    vals = np.where(vals > floor, vals, floor)
    return (vecs / vals) @ vecs.T


def _whitening(cov: np.ndarray) -> np.ndarray:
    """``L`` with ``L L^T = cov`` whose columns are the principal axes of ``cov``
    (scaled by their standard deviations). The sampler adapts a diagonal mass
    matrix on top, so a direction the Laplace approximation gets wrong (e.g. a
    long ridge in the posterior) can still be rescaled, which is not the case
    along the oblique axes of a Cholesky factor."""
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    return vecs * np.sqrt(np.maximum(vals, 1e-300))


def maximize(density: LogPosterior, psi0, *, tol: float = 1e-9, max_newton: int = 30):
    """Maximise ``density`` from ``psi0``: Newton steps with a finite-difference
    Hessian and backtracking; BFGS first if Newton cannot proceed.

    Returns ``(psi, value, hessian, converged)``.
    """
    from scipy import optimize

    scale = max(1.0, float(np.sum(density.objective.weights)))

    def newton(psi):
        value, grad = density(psi)
        if not np.isfinite(value):
            return psi, value, None, False
        H = density.hessian(psi)
        for _ in range(max_newton):
            if np.max(np.abs(grad)) < tol * scale:
                return psi, value, H, True
            try:
                step = np.linalg.solve(-H, grad)
            except np.linalg.LinAlgError:
                return psi, value, H, False
            if not np.all(np.isfinite(step)) or np.dot(step, grad) <= 0:
                return psi, value, H, False
            step *= min(1.0, 2.0 / max(np.max(np.abs(step)), 1e-300))
            t = 1.0
            while True:
                cand = psi + t * step
                cv, cg = density(cand)
                if np.isfinite(cv) and cv >= value - 1e-12 * abs(value):
                    break
                t /= 4
                if t < 1e-6:
                    return psi, value, H, False
            moved = np.max(np.abs(cand - psi))
            psi, value, grad = cand, cv, cg
            if moved > 1e-4:
                H = density.hessian(psi)
            if moved < 1e-12:
                return psi, value, H, np.max(np.abs(grad)) < 1e-6 * scale
        return psi, value, H, np.max(np.abs(grad)) < tol * scale

    psi, value, H, ok = newton(np.asarray(psi0, dtype=float))
    if ok:
        return psi, value, H, True

    def neg(z):
        v, g = density(z)
        if not np.isfinite(v):
            return np.inf, np.zeros_like(z)
        return -v / scale, -g / scale

    res = optimize.minimize(neg, psi, jac=True, method="BFGS",
                            options={"maxiter": 2000, "gtol": 1e-10})
    psi2, value2, H2, ok2 = newton(np.asarray(res.x, dtype=float))
    if np.isfinite(value2) and (not np.isfinite(value) or value2 >= value):
        return psi2, value2, H2, ok2
    return psi, value, H, ok


# ----------------------------------------------------------------------------
# Fitting
# ----------------------------------------------------------------------------

def _stack(idata, names) -> np.ndarray:
    """Posterior draws as an array ``(chains * draws, parameters)``."""
    post = idata.posterior
    return np.column_stack([post[n].to_numpy().reshape(-1) for n in names])


def _add_data_groups(idata, model, data, weights) -> None:
    import xarray as xr

    family = family_of(model)
    by_name = dict(zip(model.data_columns, data))
    rows = np.arange(len(weights))
    if len(family.observed) > 1:
        value = xr.DataArray(np.column_stack([by_name[c] for c in family.observed]),
                             dims=("row", "column"),
                             coords={"row": rows, "column": list(family.observed)})
    else:
        value = xr.DataArray(np.asarray(by_name[family.observed[0]]), dims=("row",),
                             coords={"row": rows})
    groups = {}
    if "observed_data" not in idata.groups():
        groups["observed_data"] = xr.Dataset({family.name: value})
    constant = {c: xr.DataArray(np.asarray(by_name[c]), dims=("row",), coords={"row": rows})
                for c in family.design}
    constant["weight"] = xr.DataArray(np.asarray(weights, dtype=float), dims=("row",),
                                      coords={"row": rows})
    if "constant_data" in idata.groups():
        del idata.constant_data
    groups["constant_data"] = xr.Dataset(constant)
    idata.add_groups(groups)


def convergence_problems(idata, names) -> tuple[dict, list[str]]:
    """Diagnostics of a posterior sample and what is wrong with them.

    Returns ``(diagnostics, problems)``: ``diagnostics`` has ``max_rhat``,
    ``min_ess_bulk``, ``min_ess_tail`` and ``divergences``; ``problems`` is a
    list of sentences (empty when R-hat <= 1.01, bulk ESS >= 400 and no
    divergences).
    """
    import arviz as az

    post = idata.posterior[list(names)]
    n_chains = post.sizes.get("chain", 1)
    rhat = az.rhat(post) if n_chains > 1 else None
    ess_bulk = az.ess(post, method="bulk")
    ess_tail = az.ess(post, method="tail")
    r = {n: float(rhat[n]) for n in names} if rhat is not None else {}
    eb = {n: float(ess_bulk[n]) for n in names}
    et = {n: float(ess_tail[n]) for n in names}
    div = 0
    if "sample_stats" in idata.groups() and "diverging" in idata.sample_stats:
        div = int(idata.sample_stats["diverging"].sum())
    diag = {"max_rhat": max(r.values()) if r else float("nan"),
            "min_ess_bulk": min(eb.values()), "min_ess_tail": min(et.values()),
            "divergences": div, "rhat": r, "ess_bulk": eb, "ess_tail": et}
    problems = []
    high = [n for n, v in r.items() if not v <= MAX_RHAT]
    if high:
        problems.append(f"R-hat above {MAX_RHAT} for {high} (up to {max(r[n] for n in high):.3f}): "
                        "the chains disagree")
    low = [n for n, v in eb.items() if not v >= MIN_ESS_BULK]
    if low:
        problems.append(f"bulk effective sample size below {MIN_ESS_BULK} for {low} "
                        f"(down to {min(eb[n] for n in low):.0f})")
    if div:
        problems.append(f"{div} divergent transition(s): the sampler met curvature it could "
                        "not follow, so the posterior may be explored incompletely")
    return diag, problems


def _warn_convergence(model, problems) -> None:
    if not problems:
        return
    warnings.warn(
        f"{type(model).__name__} (method={model.method!r}): " + "; ".join(problems) + ". "
        "What to do: sample longer (fit(summary, draws=2000, tune=2000)) or with more "
        "chains (chains=4); inspect model.summary() and arviz.plot_trace(model.idata_); "
        "for divergences or parameters running to 0 or infinity, use more informative "
        "priors (priors={...}, see clvmodels.priors; check them with prior_predictive()) "
        "or a simpler model.",
        ConvergenceWarning, stacklevel=4,
    )


def _set_posterior(model, idata, data, weights, info: dict, *, check: bool) -> None:
    names = model.param_names()
    draws = _stack(idata, names)
    if not np.all(np.isfinite(draws)) or np.any(draws[:, model._positive()] <= 0):
        raise ConvergenceError(
            f"{type(model).__name__}: the {info['method']} draws are not all positive and "
            "finite; the posterior is improper or the sampler failed. Use proper priors "
            "(the defaults) and check the data.", result=idata)
    mean = draws.mean(axis=0)
    logs = model._to_theta(draws)  # covariate coefficients as they are
    cov = np.atleast_2d(np.cov(draws, rowvar=False))
    cov_log = np.atleast_2d(np.cov(logs, rowvar=False))
    model.params_ = pd.Series(mean, index=names, name="estimate")
    model.cov_ = pd.DataFrame(cov, index=names, columns=names)
    model.cov_log_ = pd.DataFrame(cov_log, index=names, columns=names)
    model.standard_errors_ = pd.Series(np.sqrt(np.diag(cov)), index=names,
                                       name="standard_error")
    _add_data_groups(idata, model, data, weights)
    idata.posterior.attrs.update({
        "clvmodels_model": type(model).__name__, "inference_method": info["method"],
        "sampler": info.get("sampler", ""), "time_unit": model.time_unit_ or "",
    })
    model.idata_ = idata
    diag, problems = convergence_problems(idata, names) if check else ({}, [])
    info.update({k: v for k, v in diag.items() if not isinstance(v, dict)})
    model.diagnostics_ = diag
    model.converged_ = not problems
    _warn_convergence(model, problems)


def _set_point(model, data, weights, params: np.ndarray) -> None:
    """log_likelihood_, aic_, bic_ at ``params`` (the true total in the user's units)."""
    objective = make_objective(model.likelihood, data, weights, backend="numpy")
    ll = -objective.value(model._to_theta(params))
    n = float(np.sum(weights))
    k = len(params)
    model.log_likelihood_ = float(ll)
    model.aic_ = float(2 * k - 2 * ll)
    model.bic_ = float(k * np.log(n) - 2 * ll)


def fit_bayesian(model, data, weights, unit, *, draws: int = 1000, tune: int = 1000,
                 chains: int = 2, random_state=None, progressbar=None,
                 nuts_sampler: str = "auto", sampler_kwargs: dict | None = None,
                 start=None) -> None:
    """Fit ``model`` by ``model.method`` on compressed data (called by ``fit``).

    Sets the MLE attributes first (``mle_params_`` keeps them), then replaces
    ``params_``, ``cov_``, ``cov_log_``, ``standard_errors_`` by their Bayesian
    counterparts and sets ``idata_`` (NUTS, ADVI), ``inference_`` (method,
    sampler, settings, seconds), ``diagnostics_`` and ``converged_``.
    ``start`` (log-parameters) overrides the MLE as the starting point (tests).
    """
    method = model.method
    names = model.param_names()
    if method not in ("nuts", "map", "advi"):
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    for arg, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if isinstance(value, bool) or int(value) != value or value < (0 if arg == "tune" else 1):
            raise ValueError(f"{arg} must be a whole number >= {0 if arg == 'tune' else 1}, "
                             f"got {value!r}.")
    draws, tune, chains = int(draws), int(tune), int(chains)
    if progressbar is None:
        progressbar = _default_progressbar()
    t0 = time.perf_counter()

    # 1. maximum likelihood: the starting point
    try:
        model._fit_arrays(data, weights, unit)
        psi_mle = model._to_theta(model.params_.to_numpy(dtype=float))
    except ConvergenceError as err:
        res = err.result
        if res is None or not np.all(np.isfinite(res.theta)):
            raise
        warnings.warn(
            f"The maximum-likelihood fit of {type(model).__name__} did not converge; the "
            f"{method} fit starts from its best point instead.", ConvergenceWarning, stacklevel=3)
        c_t, c_m = model._scales(data, weights)
        psi_mle = res.theta - model._log_shift(c_t, c_m)
        model.time_unit_ = unit
        model.params_ = pd.Series(model._from_theta(psi_mle), index=names, name="estimate")
        model.n_customers_ = float(np.sum(weights))
        model.n_rows_ = int(len(weights))
        model.data_fingerprint_ = model._fingerprint(data, weights)
        model.cov_log_ = pd.DataFrame(np.full((len(names),) * 2, np.nan), index=names,
                                      columns=names)
    model.mle_params_ = model.params_.copy()
    model.mle_cov_log_ = model.cov_log_.copy()
    t_mle = time.perf_counter() - t0

    # 2. the log-posterior (and the PyMC model, built when something needs it:
    #    PyMC's or numpyro's sampler, or priors only PyMC can evaluate)
    priors = model_priors(model, data, weights)
    pm_model = None

    def get_pm_model():
        nonlocal pm_model
        if pm_model is None:
            pm_model = build_pymc_model(model, data, weights, priors)
        return pm_model

    reference = model._from_theta(psi_mle)
    positive = model._positive()
    prior_function = _numpy_prior_function(priors, names, positive)
    if prior_function is None:
        prior_function = _prior_function(get_pm_model(), names, positive)

    def make_density(jacobian=True, kernel=True):
        return LogPosterior(model, pm_model, data, weights, jacobian=jacobian,
                            reference=reference, prior_function=prior_function, kernel=kernel)

    psi0 = psi_mle if start is None else model._to_theta(start)
    info: dict[str, Any] = {"method": method, "mle_seconds": t_mle}
    seed = _seed(random_state)

    if method == "map":
        density = make_density(jacobian=False, kernel=False)
        psi, value, H, ok = maximize(density, psi0)
        if not ok:
            raise ConvergenceError(
                f"The MAP estimate of {type(model).__name__} did not converge (last point "
                f"{dict(zip(names, model._from_theta(psi).round(6)))}). What to try: proper, more "
                "informative priors (a flat prior lets parameters run to 0 or infinity); "
                "check the data.", result=(psi, value, H))
        theta = model._from_theta(psi)
        cov_log = _covariance_from_hessian(H)
        if cov_log is None:
            cov_log = np.full((len(names),) * 2, np.nan)
        model.params_ = pd.Series(theta, index=names, name="estimate")
        model.cov_log_ = pd.DataFrame(cov_log, index=names, columns=names)
        jac = np.where(positive, theta, 1.0)  # d theta / d psi
        model.cov_ = pd.DataFrame(cov_log * np.outer(jac, jac), index=names, columns=names)
        model.standard_errors_ = pd.Series(np.sqrt(np.diag(model.cov_.to_numpy())),
                                           index=names, name="standard_error")
        model.log_posterior_ = float(value)
        model.converged_ = True
        info.update({"sampler": "newton", "evaluations": density.n_evaluations})
    else:
        # Laplace approximation of the sampling density (with the Jacobian)
        density = make_density(jacobian=True)
        mode, _, H, _ = maximize(density, psi0)
        cov = _covariance_from_hessian(H) if H is not None else None
        if cov is None:
            fallback = model.mle_cov_log_.to_numpy()
            cov = fallback if np.all(np.isfinite(fallback)) else np.eye(len(names)) * 0.01
            mode = psi0
        L = _whitening(cov)
        info["laplace_seconds"] = time.perf_counter() - t0 - t_mle
        if method == "nuts":
            sampler = choose_nuts_sampler(nuts_sampler, model, jaxable=family_of(model).jax)
            info.update({"sampler": sampler, "draws": draws, "tune": tune, "chains": chains,
                         "seed": seed})
            t1 = time.perf_counter()
            if sampler == "nutpie":
                idata = _sample_nutpie(make_density, mode, L, names, draws=draws, tune=tune,
                                       chains=chains, seed=seed, progressbar=progressbar,
                                       sampler_kwargs=sampler_kwargs,
                                       to_params=model._from_theta)
            else:
                idata = _sample_pymc(get_pm_model(), mode, cov, L, names, draws=draws,
                                     tune=tune, chains=chains, seed=seed,
                                     progressbar=progressbar, sampler_kwargs=sampler_kwargs,
                                     nuts_sampler=sampler, to_params=model._from_theta)
            info["sampling_seconds"] = time.perf_counter() - t1
        else:  # advi
            info.update({"sampler": "pymc.fit(advi)", "draws": draws, "seed": seed})
            t1 = time.perf_counter()
            idata, approx = _run_advi(density, mode, L, names, draws=draws, seed=seed,
                                      progressbar=progressbar, sampler_kwargs=sampler_kwargs,
                                      to_params=model._from_theta)
            info["sampling_seconds"] = time.perf_counter() - t1
            info["iterations"] = int(len(approx.hist))
        _set_posterior(model, idata, data, weights, info, check=(method == "nuts"))
        if method == "advi":
            model.converged_ = True
    _set_point(model, data, weights, model.params_.to_numpy(dtype=float))
    info["seconds"] = time.perf_counter() - t0
    model.inference_ = info


# ----------------------------------------------------------------------------
# Predictive checks
# ----------------------------------------------------------------------------

def _customer_data(model, summary, time_unit, max_customers, rng):
    """Per-customer data rows (no compression) of a summary, subsampled."""
    columns = list(model.data_columns)
    model._validate(summary, columns[:len(type(model).data_columns)], fitting=True)
    model._check_covariates(summary, fitting=False)
    mask = model._fit_mask(summary)
    unit = None
    if model.uses_time:
        from ..units import convert, normalize_unit

        data_unit = summary.attrs.get("time_unit")
        unit = normalize_unit(time_unit or getattr(model, "time_unit_", None) or data_unit or "D")
    arrays = [summary[c].to_numpy(dtype=float)[mask] for c in columns]
    if model.uses_time and data_unit is not None and normalize_unit(data_unit) != unit:
        arrays = [convert(a, data_unit, unit) if c in model.time_columns else a
                  for c, a in zip(columns, arrays)]
    ids = summary.index[mask]
    full = (arrays, np.ones(len(ids)))
    if max_customers is not None and len(ids) > max_customers:
        rows = np.sort(rng.choice(len(ids), size=int(max_customers), replace=False))
        arrays = [a[rows] for a in arrays]
        ids = ids[rows]
    return arrays, ids, unit, full


def prior_predictive(model, summary, draws: int = 500, random_state=None,
                     max_customers: int | None = 10_000, time_unit: str | None = None):
    """Simulate data from the priors for the customers of ``summary``.

    See :meth:`~clvmodels.models.parametric.ParametricModel.prior_predictive`.
    """
    import pymc as pm

    rng = np.random.default_rng(random_state)
    arrays, ids, _, (full, w_full) = _customer_data(model, summary, time_unit, max_customers,
                                                    rng)
    priors = model_priors(model, full, w_full)  # scales from every customer
    if any(isinstance(p, str) or (isinstance(p, Prior) and p.distribution in ("Flat", "HalfFlat"))
           for p in priors.values()):
        raise ValueError("prior_predictive needs proper priors; flat priors cannot be sampled.")
    pm_model = build_pymc_model(model, arrays, np.ones(len(ids)), priors,
                                coords={"row": ids.to_numpy()})
    idata = pm.sample_prior_predictive(draws=int(draws), model=pm_model,
                                       random_seed=_seed(rng))
    idata.prior_predictive.attrs["rows"] = "customers (row = customer id)"
    return idata


def posterior_predictive(model, summary, n_draws: int = 500, random_state=None,
                         max_customers: int | None = 10_000):
    """Simulate data from the posterior for the customers of ``summary``.

    See :meth:`~clvmodels.models.parametric.ParametricModel.posterior_predictive`.
    """
    import arviz as az
    import pymc as pm

    rng = np.random.default_rng(random_state)
    arrays, ids, _, (full, w_full) = _customer_data(model, summary, None, max_customers, rng)
    names = model.param_names()
    # priors play no part in posterior prediction
    priors = {n: "flat" if pos else Prior("Flat") for n, pos in zip(names, model._positive())}
    pm_model = build_pymc_model(model, arrays, np.ones(len(ids)), priors,
                                coords={"row": ids.to_numpy()})
    draws = model.sample_parameters(int(n_draws), random_state=rng).to_numpy(dtype=float)
    posterior = az.from_dict(posterior={n: draws[None, :, i] for i, n in enumerate(names)})
    family = family_of(model)
    return pm.sample_posterior_predictive(posterior, model=pm_model, var_names=[family.name],
                                          random_seed=_seed(rng), progressbar=False)
