r"""Prior distributions of the Bayesian fits (``method="nuts"``, ``"map"``, ``"advi"``).

A model fitted by Bayesian inference needs a prior for every parameter. They
are given to the model's constructor as ``priors={name: spec}``; a parameter
left out gets the default below. A spec is

* a :class:`Prior`: the name of a PyMC distribution and its arguments, e.g.
  ``Prior("Gamma", alpha=2.0, beta=4.0)``. It is plain data, so a model with
  such priors can be cloned, saved and loaded;
* the string ``"flat"``: an improper flat prior on :math:`(0, \infty)`
  (``pm.HalfFlat``). ``priors="flat"`` makes every prior flat: the MAP
  estimate is then the maximum-likelihood estimate;
* a callable ``f(name)`` that creates the PyMC random variable inside the
  model context, e.g. ``lambda name: pm.Weibull(name, alpha=2, beta=1)``
  (most flexible; a model with such a prior can be saved, but the callable
  itself cannot be written to JSON, so a loaded model falls back to the
  defaults if it is refitted).

Every prior is in the units of the fitted model: durations (``alpha``,
``beta``) in its ``time_unit_`` (e.g. weeks), amounts (Gamma-Gamma ``v``) in
the currency of ``monetary_value``. Each parameter must stay positive; PyMC
samples positive distributions in log-parameters.

Covariate coefficients (:mod:`clvmodels.covariates`, e.g.
``"purchase_coef[channel_web]"``) are the exception: they live on the whole real
line, are sampled as they are (not on the log scale) and get a
``Normal(mu=0, sigma=1)`` prior by default (:data:`DEFAULT_COEFFICIENT_PRIOR`):
a coefficient of 1 multiplies a rate by e for a unit change of the covariate, so
this prior is weak for covariates of order one (centre and scale the others).
Override it like any other, e.g. ``priors={"purchase_coef[channel_web]":
Prior("Normal", mu=0.0, sigma=0.3)}``; ``"flat"`` gives them ``pm.Flat``.

Default priors and why
----------------------
Every parameter :math:`\theta` gets a log-normal prior,

.. math::
    \log(\theta / s) \sim \mathrm{Normal}(0, 2),

where :math:`s` makes it free of units: :math:`s = 1` for shapes (``r, a, b,
s, p, q``), :math:`s` = the mean customer age ``T`` for durations (``alpha``,
``beta``) and :math:`s` = the mean ``monetary_value`` of the repeat customers
for the Gamma-Gamma scale ``v``. Reasons:

* **weak**: 95% of the prior mass lies within a factor :math:`e^{3.9} \approx
  50` of :math:`s`, which holds every value the literature reports (CDNOW:
  ``r = 0.24``, ``alpha / mean T = 0.14``, ``a = 0.79``, ``b = 2.4``; Gamma-Gamma
  ``p = 6.3``, ``q = 3.7``, ``v / mean spend = 0.44``), so with a few hundred
  customers the data dominate;
* **proper and regularising**: values like :math:`10^{-6}` or :math:`10^{6}`,
  where the likelihood flattens out (``a`` and ``b`` growing together) and the
  hypergeometric functions of the predictions overflow, get negligible mass,
  so sampling does not wander off to them;
* **invariant to units**: the scales :math:`s` use only the observation
  window (``T`` is a design quantity, not an outcome) and, for ``v``, the
  order of magnitude of spend (as rstanarm's autoscaled priors do), so
  measuring time in days instead of weeks, or money in cents, changes nothing.

:meth:`~clvmodels.models.parametric.ParametricModel.prior_predictive` shows
what the priors imply for purchases before any fitting.

Examples
--------
>>> from clvmodels.priors import Prior
>>> Prior("Gamma", alpha=2.0, beta=4.0)
Prior('Gamma', alpha=2.0, beta=4.0)
>>> Prior.from_dict(Prior("HalfNormal", sigma=3.0).to_dict())
Prior('HalfNormal', sigma=3.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any


__all__ = ["DEFAULT_COEFFICIENT_PRIOR", "DEFAULT_LOG_SD", "FLAT", "Prior", "default_prior",
           "resolve_priors"]

#: Standard deviation of the default log-normal priors (see the module docstring).
DEFAULT_LOG_SD = 2.0

#: Spec of an improper flat prior on the positive reals.
FLAT = "flat"


class Prior:
    """A prior: the name of a PyMC distribution and its keyword arguments.

    Parameters
    ----------
    distribution
        Name of a class in ``pymc`` (``"LogNormal"``, ``"Gamma"``,
        ``"HalfNormal"``, ``"Weibull"``, ``"HalfFlat"``, ...).
    **params
        Its arguments (numbers), in the units of the fitted model.
    """

    __slots__ = ("distribution", "params")

    def __init__(self, distribution: str, **params: float) -> None:
        self.distribution = str(distribution)
        self.params = {k: float(v) for k, v in params.items()}

    def __eq__(self, other) -> bool:
        return (isinstance(other, Prior) and other.distribution == self.distribution
                and other.params == self.params)

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Prior({self.distribution!r}{args})"

    def __hash__(self) -> int:
        return hash((self.distribution, tuple(sorted(self.params.items()))))

    def _class(self):
        import pymc as pm

        cls = getattr(pm, self.distribution, None)
        if cls is None or not hasattr(cls, "dist"):
            raise ValueError(f"{self.distribution!r} is not a PyMC distribution.")
        return cls

    def create(self, name: str):
        """The PyMC random variable ``name`` (inside a ``pm.Model`` context)."""
        return self._class()(name, **self.params)

    def log_density(self, theta: float):
        """``(log density, its derivative)`` at a positive ``theta``, for the
        distributions written out in :data:`NUMPY_DENSITIES`; ``None`` for the
        others (PyMC evaluates them). Saves compiling a function for the priors."""
        density = NUMPY_DENSITIES.get(self.distribution)
        if density is None or set(self.params) - density[0]:
            return None
        return density[1](float(theta), **self.params)

    def to_dict(self) -> dict:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {"distribution": self.distribution, "params": dict(self.params)}

    @classmethod
    def from_dict(cls, doc: Mapping) -> "Prior":
        return cls(doc["distribution"], **dict(doc.get("params", {})))


_LOG_2PI = math.log(2 * math.pi)


def _lognormal(t, mu=0.0, sigma=1.0):
    z = (math.log(t) - mu) / sigma
    return (-math.log(t) - math.log(sigma) - 0.5 * _LOG_2PI - 0.5 * z * z,
            -(1.0 + z / sigma) / t)


def _gamma(t, alpha, beta):
    return (alpha * math.log(beta) - math.lgamma(alpha) + (alpha - 1.0) * math.log(t)
            - beta * t, (alpha - 1.0) / t - beta)


def _halfnormal(t, sigma=1.0):
    return (0.5 * math.log(2 / math.pi) - math.log(sigma) - 0.5 * (t / sigma) ** 2,
            -t / sigma ** 2)


def _exponential(t, lam=None, scale=None):
    lam = 1.0 / scale if lam is None else lam
    return math.log(lam) - lam * t, -lam


def _weibull(t, alpha, beta):
    u = t / beta
    return (math.log(alpha / beta) + (alpha - 1.0) * math.log(u) - u ** alpha,
            (alpha - 1.0) / t - alpha / beta * u ** (alpha - 1.0))


def _halfcauchy(t, beta):
    return (math.log(2 / math.pi) - math.log(beta) - math.log1p((t / beta) ** 2),
            -2.0 * t / (beta ** 2 + t ** 2))


def _halfflat(t):
    return 0.0, 0.0


def _normal(t, mu=0.0, sigma=1.0):
    z = (t - mu) / sigma
    return -math.log(sigma) - 0.5 * _LOG_2PI - 0.5 * z * z, -z / sigma


def _flat(t):
    return 0.0, 0.0


#: Log densities on the positive reals in plain Python (scalars): name ->
#: (accepted arguments, f(theta, **params) -> (log density, derivative)). Same
#: parametrisations as PyMC (checked against ``pm.logp`` in the tests). They
#: spare the samplers a compiled function for the priors.
NUMPY_DENSITIES = {
    "LogNormal": ({"mu", "sigma"}, _lognormal),
    "Gamma": ({"alpha", "beta"}, _gamma),
    "HalfNormal": ({"sigma"}, _halfnormal),
    "Exponential": ({"lam", "scale"}, _exponential),
    "Weibull": ({"alpha", "beta"}, _weibull),
    "HalfCauchy": ({"beta"}, _halfcauchy),
    "HalfFlat": (set(), _halfflat),
    # on the whole real line (covariate coefficients)
    "Normal": ({"mu", "sigma"}, _normal),
    "Flat": (set(), _flat),
}


def prior_log_density(spec, theta):
    """``(log density, derivative)`` of one prior spec with numpy, or ``None``
    when only PyMC can evaluate it (callables, other distributions)."""
    if isinstance(spec, str):
        return _halfflat(float(theta))
    if isinstance(spec, Prior):
        return spec.log_density(theta)
    return None


#: Default prior of a covariate coefficient (:mod:`clvmodels.covariates`).
DEFAULT_COEFFICIENT_PRIOR = Prior("Normal", mu=0.0, sigma=1.0)


def default_prior(scale: float = 1.0) -> Prior:
    """The default prior of a parameter whose natural size is ``scale``:
    ``LogNormal(mu=log(scale), sigma=DEFAULT_LOG_SD)``."""
    if not (scale > 0 and math.isfinite(scale)):
        scale = 1.0
    return Prior("LogNormal", mu=math.log(scale), sigma=DEFAULT_LOG_SD)


PriorSpec = Prior | str | Callable[[str], Any]


def _check_spec(name: str, spec, unbounded: bool = False) -> PriorSpec:
    if isinstance(spec, Prior) or callable(spec):
        return spec
    if isinstance(spec, str) and spec.lower() == FLAT:
        return Prior("Flat") if unbounded else FLAT
    if isinstance(spec, Mapping) and "distribution" in spec:
        return Prior.from_dict(spec)
    raise ValueError(
        f"The prior of {name!r} must be a clvmodels.priors.Prior, 'flat' or a callable "
        f"f(name) creating a PyMC random variable; got {spec!r}."
    )


def resolve_priors(priors, names: list[str], scales: Mapping[str, float],
                   unbounded=()) -> dict[str, PriorSpec]:
    """One prior spec per parameter: the user's where given, else the default.

    ``unbounded`` names the parameters on the whole real line (covariate
    coefficients): their default is :data:`DEFAULT_COEFFICIENT_PRIOR`
    (``Normal(0, 1)``) and ``"flat"`` means ``Prior("Flat")`` (``pm.Flat``).

    Parameters
    ----------
    priors
        ``None`` (defaults), ``"flat"`` (all flat) or a dict ``name -> spec``.
    names
        The model's parameter names.
    scales
        Natural size of each parameter for the defaults (see the module docstring).

    Raises
    ------
    ValueError
        For unknown parameter names or specs that are not priors.
    """
    if priors is None:
        given = {}
    elif isinstance(priors, str):
        if priors.lower() != FLAT:
            raise ValueError(f"priors must be None, 'flat' or a dict, got {priors!r}.")
        given = {n: FLAT for n in names}
    elif isinstance(priors, Mapping):
        unknown = sorted(set(priors) - set(names))
        if unknown:
            raise ValueError(f"priors names unknown parameters {unknown}; the parameters are "
                             f"{names}.")
        given = dict(priors)
    else:
        raise ValueError(f"priors must be None, 'flat' or a dict, got {type(priors).__name__}.")
    unbounded = set(unbounded)
    return {n: _check_spec(n, given[n], n in unbounded) if n in given
            else DEFAULT_COEFFICIENT_PRIOR if n in unbounded
            else default_prior(scales.get(n, 1.0)) for n in names}


def create_prior(name: str, spec: PriorSpec):
    """Create the random variable of one parameter inside a ``pm.Model`` context."""
    import pymc as pm

    if isinstance(spec, Prior):
        return spec.create(name)
    if isinstance(spec, str):  # FLAT
        return pm.HalfFlat(name)
    rv = spec(name)
    if getattr(rv, "name", None) != name:
        raise ValueError(f"The prior factory of {name!r} must create a variable named {name!r}.")
    return rv


def priors_to_json(priors):
    """JSON form of a ``priors`` constructor argument (callables become ``None``
    with their ``repr`` kept for information)."""
    if priors is None or isinstance(priors, str):
        return priors
    out = {}
    for name, spec in dict(priors).items():
        if isinstance(spec, Prior):
            out[name] = {"prior": spec.to_dict()}
        elif isinstance(spec, str):
            out[name] = {"prior": spec}
        else:
            out[name] = {"callable": repr(spec)}
    return {"__priors__": out}


def priors_from_json(doc):
    """Inverse of :func:`priors_to_json`; returns ``(priors, lost)`` where ``lost``
    lists the parameters whose callable prior could not be restored."""
    if doc is None or isinstance(doc, str):
        return doc, []
    if not isinstance(doc, Mapping) or "__priors__" not in doc:
        return doc, []
    priors, lost = {}, []
    for name, item in doc["__priors__"].items():
        if "prior" in item:
            spec = item["prior"]
            priors[name] = spec if isinstance(spec, str) else Prior.from_dict(spec)
        else:
            lost.append(name)
    return (priors or None), lost
