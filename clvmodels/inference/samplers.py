"""The samplers of the Bayesian fits: NUTS (nutpie, PyMC, numpyro) and ADVI.

Each works on the whitened log-parameters ``u`` (``log theta = mode + L u``,
``L L^T`` the Laplace covariance) that :func:`clvmodels.inference.bayes.fit_bayesian`
sets up, and returns an ArviZ ``InferenceData`` of the parameters in the
user's units (``to_params``: from the sampler's coordinates, ``np.exp`` unless the
model has covariate coefficients, which are sampled as they are). Nothing here
knows about models beyond the density it is given.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

__all__ = ["NUTS_SAMPLERS", "choose_nuts_sampler"]

#: NUTS implementations (``"auto"``: the first installed of nutpie, numpyro, pymc).
NUTS_SAMPLERS = ("auto", "nutpie", "numpyro", "pymc")


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def choose_nuts_sampler(nuts_sampler: str, model, jaxable: bool = True) -> str:
    """The NUTS implementation to use: ``"auto"`` picks nutpie, then numpyro (if
    the likelihood can be written in JAX: ``jaxable``), then PyMC's."""
    if nuts_sampler not in NUTS_SAMPLERS:
        raise ValueError(f"nuts_sampler must be one of {NUTS_SAMPLERS}, got {nuts_sampler!r}.")
    if nuts_sampler == "auto":
        if _installed("nutpie"):
            return "nutpie"
        if jaxable and _installed("numpyro") and _installed("jax"):
            return "numpyro"
        return "pymc"
    if nuts_sampler in ("nutpie", "numpyro") and not _installed(nuts_sampler):
        raise ImportError(f"nuts_sampler={nuts_sampler!r} needs the {nuts_sampler} package: "
                          f"pip install {nuts_sampler}.")
    if nuts_sampler == "numpyro" and not jaxable:
        raise ValueError(f"{type(model).__name__}'s likelihood cannot be compiled to JAX; "
                         "use nuts_sampler='nutpie' or 'pymc'.")
    return nuts_sampler


def _default_progressbar() -> bool:
    """Show progress bars in notebooks and IPython, not in scripts and tests."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        return ipython.get_ipython() is not None
    except Exception:  # pragma: no cover - exotic front ends
        return False


def _seed(random_state) -> int:
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    return int(random_state)


def _chain_starts(rng, mode, L, chains) -> list[np.ndarray]:
    """Starting points: draws of the Laplace approximation (overdispersed enough
    for R-hat to see chains that do not mix)."""
    return [mode + L @ rng.standard_normal(len(mode)) for _ in range(chains)]


def _sample_nutpie(make_density, mode, L, names, *, draws, tune, chains, seed,
                   progressbar, sampler_kwargs, to_params=np.exp):
    import nutpie
    from nutpie.compiled_pyfunc import from_pyfunc

    k = len(names)
    Lt = L.T.copy()

    def make_logp_fn():
        density = make_density()  # one per chain: compiled functions are not re-entrant

        def logp(u, **_):
            value, grad = density(mode + L @ u)
            return value, Lt @ grad

        return logp

    def make_expand_fn(seed1, seed2, chain):
        def expand(u, **_):
            theta = to_params(mode + L @ u)
            return {n: np.asarray(theta[i]) for i, n in enumerate(names)}

        return expand

    def initial_point(point_seed):
        return np.random.default_rng(point_seed).standard_normal(k)

    compiled = from_pyfunc(k, make_logp_fn, make_expand_fn, [np.dtype("float64")] * k,
                           [()] * k, list(names), make_initial_point_fn=initial_point)
    # One thread: the log-density holds the GIL, so chains on two threads only
    # contend for it (measured: 35% slower on the CDNOW sample).
    kwargs = {"save_warmup": False, "cores": 1, **(sampler_kwargs or {})}
    return nutpie.sample(compiled, draws=draws, tune=tune, chains=chains, seed=seed,
                         progress_bar=progressbar, **kwargs)


def _all_log_transformed(pm_model, names) -> bool:
    from pymc.logprob.transforms import LogTransform

    return all(isinstance(pm_model.rvs_to_transforms.get(pm_model[n]), LogTransform)
               for n in names)


def _sample_pymc(pm_model, mode, cov, L, names, *, draws, tune, chains, seed, progressbar,
                 sampler_kwargs, nuts_sampler, to_params=np.exp):
    import pymc as pm

    rng = np.random.default_rng(seed)
    starts = _chain_starts(rng, mode, L, chains)
    initvals = [{n: float(v) for n, v in zip(names, to_params(s))} for s in starts]
    kwargs = {"cores": min(chains, 2), **(sampler_kwargs or {})}
    if nuts_sampler == "pymc" and "step" not in kwargs and _all_log_transformed(pm_model, names):
        from pymc.step_methods.hmc.quadpotential import QuadPotentialFullAdapt

        # The value variables are the log-parameters: start the dense mass matrix
        # adaptation from the Laplace covariance.
        potential = QuadPotentialFullAdapt(len(names), mode.copy(), cov.copy(), 10)
        kwargs["step"] = pm.NUTS(vars=[pm_model.rvs_to_values[pm_model[n]] for n in names],
                                 potential=potential, model=pm_model)
    if nuts_sampler == "numpyro":
        kwargs.setdefault("nuts_sampler_kwargs", {"dense_mass": True,
                                                  "chain_method": "sequential"})
    with warnings.catch_warnings():
        # PyMC reports its own (softer) convergence checks; ours follow.
        warnings.simplefilter("ignore", UserWarning)
        idata = pm.sample(draws=draws, tune=tune, chains=chains, initvals=initvals, random_seed=seed, progressbar=progressbar,
                          model=pm_model, nuts_sampler=nuts_sampler,
                          compute_convergence_checks=False, **kwargs)
    return idata


class _CachedDensity:
    """``u -> (value, gradient)`` of the whitened log-posterior, remembering the
    last point (the value and gradient Ops of :func:`_run_advi` share it)."""

    def __init__(self, density, mode, L) -> None:
        self.density, self.mode, self.L = density, mode, L
        self._last = None

    def __call__(self, u):
        u = np.asarray(u, dtype=float)
        if self._last is None or not np.array_equal(self._last[0], u):
            value, grad = self.density(self.mode + self.L @ u)
            self._last = (u.copy(), value, self.L.T @ grad)
        return self._last[1], self._last[2]


def _density_ops(cached: _CachedDensity):
    """pytensor Ops computing the value and the gradient of ``cached``."""
    import pytensor.tensor as pt
    from pytensor.graph.basic import Apply
    from pytensor.graph.op import Op

    class Gradient(Op):
        __props__ = ()

        def make_node(self, u):
            u = pt.as_tensor_variable(u)
            return Apply(self, [u], [u.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(cached(inputs[0])[1], dtype=float)

    class Value(Op):
        __props__ = ()

        def make_node(self, u):
            u = pt.as_tensor_variable(u)
            return Apply(self, [u], [pt.dscalar()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = np.asarray(cached(inputs[0])[0], dtype=float)

        def grad(self, inputs, output_grads):
            return [output_grads[0] * Gradient()(inputs[0])]

    return Value()


def _run_advi(density, mode, L, names, *, draws, seed, progressbar, sampler_kwargs,
              to_params=np.exp):
    """Mean-field ADVI (``pymc.fit``) on the whitened log-parameters ``u``
    (``log theta = mode + L u``): the approximation is mean-field in ``u``, so it
    keeps the correlations of the Laplace approximation. Returns an InferenceData
    with the draws of the named parameters, and the approximation."""
    import arviz as az
    import pymc as pm

    k = len(names)
    value_op = _density_ops(_CachedDensity(density, mode, L))
    with pm.Model() as whitened:
        u = pm.Flat("u", shape=(k,))
        pm.Potential("log_posterior", value_op(u))
    kwargs = {"n": 10_000, **(sampler_kwargs or {})}
    n_iter = kwargs.pop("n")
    # In whitened units the posterior sd is about 1: stop when the variational
    # parameters move by less than 0.01 over 500 iterations.
    callbacks = kwargs.pop("callbacks", [pm.callbacks.CheckParametersConvergence(
        every=500, tolerance=1e-2, diff="absolute")])
    kwargs.setdefault("obj_optimizer", pm.adam(learning_rate=0.02))
    approx = pm.fit(n=n_iter, method="advi", model=whitened, random_seed=seed,
                    start={"u": np.zeros(k)}, progressbar=progressbar, callbacks=callbacks,
                    **kwargs)
    u_draws = approx.sample(draws=draws, random_seed=seed).posterior["u"].to_numpy()
    theta = to_params(mode + u_draws.reshape(-1, k) @ L.T).reshape(u_draws.shape)
    idata = az.from_dict(posterior={n: theta[..., i] for i, n in enumerate(names)})
    return idata, approx
