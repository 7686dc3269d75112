"""Base classes of the declared parametric models (fitted by maximum likelihood).

A model is a *declaration*: its parameters (name, physical dimension, starting
value), the RFM columns its likelihood reads, the likelihood itself (written once
in :mod:`clvmodels.likelihoods`) and its prediction formulas. Everything else
comes from :class:`ParametricModel`:

* ``fit(summary, weights=None, time_unit=None)``: validation, compression of
  identical rows into weights, rescaling of time (and money) for conditioning,
  optimisation in log-parameters with exact gradients
  (:mod:`clvmodels.inference.mle`), undoing the scaling;
* fitted attributes ``params_``, ``cov_``, ``standard_errors_``,
  ``log_likelihood_`` (the true total in the user's units, comparable with the
  papers), ``aic_``, ``bic_``, ``converged_``, ``n_customers_``, ``time_unit_``;
  ``fit_warnings_`` (the messages of the fit's warnings, which are also issued),
  ``fit_status_`` (``"converged"``, ``"at boundary"``: an estimate ran to 0 or
  infinity, listed in ``at_boundary_``; ``"partly identified"``: some standard
  errors are NaN, listed in ``not_identified_``; ``"not identified"``: all are,
  and ``converged_`` is False; ``"not converged"``: a Bayesian fit whose
  diagnostics failed);
* ``confidence_intervals(level)``, ``summary()``, ``sample_parameters(n)``,
  ``with_parameters(params)``, ``save(path)`` (:mod:`clvmodels.persistence`).

The same classes are fitted by Bayesian inference with ``method="nuts"``,
``"map"`` or ``"advi"`` in the constructor (and ``priors=``, see
:mod:`clvmodels.priors`); ``fit`` then takes the sampler's controls
(``draws, tune, chains, random_state, progressbar, nuts_sampler``) and
:mod:`clvmodels.inference.bayes` does the work. A Bayesian fit sets ``params_``
to the posterior means, ``cov_`` to the posterior covariance and ``idata_`` to
the ArviZ ``InferenceData``, so code written for maximum-likelihood fits keeps
working; ``sample_parameters(n)`` returns posterior draws.

Every per-customer prediction takes ``interval=`` (e.g. 0.9: a DataFrame
``mean, lower, upper``, the mean and the equal-tailed 5% and 95% quantiles over
parameter draws), ``return_draws=True`` (an xarray ``DataArray`` of every draw)
and ``n_draws=``/``random_state=``. Draws are posterior draws for NUTS and ADVI
fits and asymptotic normal draws of the log-parameters for maximum-likelihood
and MAP fits. Without these arguments, a maximum-likelihood or MAP fit returns
the plug-in prediction (a Series, as always) and a NUTS or ADVI fit the
posterior mean of the prediction. Reductions run block by block over the
distinct customer histories (:mod:`clvmodels.inference.draws`), so memory does
not grow with customers x draws.

:class:`TransactionModel` adds the prediction methods every purchase-count model
shares (expected purchases, P(alive), purchase probabilities), computed from a
``formulas`` module with a fixed set of functions; a new purchase model (e.g.
Pareto/NBD) is a declaration of parameters, likelihood and formulas module.

Where the code lives: this module holds the declaration (:class:`Parameter`),
``fit`` and the maximum-likelihood glue; :mod:`clvmodels.models.fitdata` the
preparation of the fit data (validation, weights, compression, scales);
:mod:`clvmodels.models.estimate` covariance, intervals and parameter draws;
:mod:`clvmodels.models.transaction` the purchase predictions; the row helpers
are in :mod:`clvmodels.rows` and the model registry in
:mod:`clvmodels.persistence`.

Example
-------
A purchase model is a declaration (see :mod:`clvmodels.models.beta_geo`)::

    class BetaGeoModel(TransactionModel):
        parameters = (Parameter("r"), Parameter("alpha", time_power=1),
                      Parameter("a"), Parameter("b", start=2.0))
        likelihood = LikelihoodSpec(loglik=beta_geo.loglik, n_params=4, n_data=3)
        formulas = beta_geo
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .._checks import check_summary
from ..covariates import CovariateMixin
from ..exceptions import ClvModelsWarning, ConvergenceError, ConvergenceWarning
from ..inference.mle import LikelihoodSpec, make_objective, maximize_likelihood
from ..inference.penalty import check_penalizer, lifetimes_penalty
from ..persistence import MODEL_REGISTRY, register_model
from ..units import convert, normalize_unit
from .base import BaseModel
from .estimate import EstimateMixin
from .fitdata import FitDataMixin
from .transaction import TransactionPredictionsMixin

__all__ = ["MODEL_REGISTRY", "Parameter", "ParametricModel", "TransactionModel"]


@dataclass(frozen=True)
class Parameter:
    """Declaration of one model parameter.

    Attributes
    ----------
    name
        The paper's symbol (``"r"``, ``"alpha"``, ...).
    time_power
        The parameter scales as time to this power (``alpha`` of a gamma-
        distributed purchase rate is a duration: 1).
    money_power
        The parameter scales as money to this power (Gamma-Gamma ``v``: 1).
    start
        Starting value of the optimiser in rescaled units (durations divided by
        the median customer age, amounts by the median amount).
    description
        One line for ``summary()`` and the docs.
    positive
        Positive and optimised on the log scale (every declared parameter);
        False for covariate coefficients (:mod:`clvmodels.covariates`), which
        are optimised as they are.
    """

    name: str
    time_power: int = 0
    money_power: int = 0
    start: float = 1.0
    description: str = ""
    positive: bool = True


class _class_or_instance:
    """A method bound to the instance when called on one, else to the class."""

    def __init__(self, func) -> None:
        self.func = func

    def __get__(self, obj, cls):
        return self.func.__get__(cls if obj is None else obj)


_U64 = np.uint64



class ParametricModel(FitDataMixin, EstimateMixin, BaseModel):
    """Base class of models with a declared likelihood, fitted by maximum likelihood.

    Subclasses declare:

    ``parameters``
        tuple of :class:`Parameter`.
    ``data_columns``
        the summary columns passed, in order, to the likelihood (e.g.
        ``("frequency", "recency", "T")``).
    ``time_columns`` / ``money_columns``
        which of those are durations / amounts (rescaled during the fit).
    ``likelihood``
        a :class:`~clvmodels.inference.mle.LikelihoodSpec`.
    ``alternative_starts``
        further starting points (dicts of rescaled values) tried when the
        declared start fails.

    Parameters
    ----------
    initial_params
        Optional starting values (dict or Series in the units of the data) for
        the optimiser; the declared starts are tried after them.
    tol
        Gradient tolerance of the optimiser on the mean log-likelihood per
        customer.
    max_iter
        Iteration limit of each optimiser run.
    method
        ``"mle"`` (default): maximum likelihood. ``"nuts"``: full posterior by
        the No-U-Turn sampler; ``"map"``: posterior mode; ``"advi"``: mean-field
        variational approximation (:mod:`clvmodels.inference.bayes`).
    priors
        Priors of the Bayesian methods: ``None`` (weakly informative defaults),
        ``"flat"``, or a dict ``{parameter: Prior(...) | "flat" | factory}``
        (:mod:`clvmodels.priors`). Ignored by ``"mle"``.
    penalizer
        L2 penalty of maximum-likelihood fits, lifetimes' ``penalizer_coef``
        (:mod:`clvmodels.inference.penalty`); 0: none. Refused by Bayesian methods.
    """

    parameters: ClassVar[tuple[Parameter, ...]] = ()
    data_columns: ClassVar[tuple[str, ...]] = ("frequency", "recency", "T")
    time_columns: ClassVar[tuple[str, ...]] = ("recency", "T")
    money_columns: ClassVar[tuple[str, ...]] = ()
    likelihood: ClassVar[LikelihoodSpec | None] = None
    alternative_starts: ClassVar[tuple[dict, ...]] = ()
    #: Whether the model has a time unit (purchase models) or not (spend models).
    uses_time: ClassVar[bool] = True
    #: How the optimiser gets gradients: ``"auto"`` (``"analytic"`` when the
    #: likelihood declares numpy value-and-gradient functions, else
    #: ``"pytensor"``), ``"analytic"`` (those functions: exact, nothing to
    #: compile), ``"pytensor"`` (exact, compiled once per process) or
    #: ``"numpy"`` (central finite differences; for likelihoods pytensor cannot
    #: differentiate well). NUTS and ADVI use the compiled function whatever
    #: ``"auto"`` picks (see :class:`clvmodels.inference.bayes.LogPosterior`).
    gradient_backend: ClassVar[str] = "auto"

    #: Number of parameter draws of a prediction interval of a maximum-likelihood
    #: or MAP fit (asymptotic normal draws) when ``n_draws`` is not given.
    default_n_draws: ClassVar[int] = 1000

    def __init__(self, initial_params=None, tol: float = 1e-8, max_iter: int = 1000,
                 method: str = "mle", priors=None, penalizer: float = 0.0) -> None:
        self.initial_params = initial_params
        self.tol = tol
        self.max_iter = max_iter
        self.method = method
        self.priors = priors
        self.penalizer = penalizer

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.likelihood is not None and not cls.__name__.startswith("_"):
            register_model(cls)

    # ------------------------------------------------------------------ declaration
    @_class_or_instance
    def param_names(self) -> list[str]:
        """Names of the model parameters, in the likelihood's order (on a model with
        covariates: with their coefficients)."""
        return [p.name for p in self.parameters]

    def _positive(self) -> np.ndarray:
        """Which parameters are positive (optimised and sampled in logs): all but
        covariate coefficients."""
        return np.array([p.positive for p in self.parameters], dtype=bool)

    def _to_theta(self, values) -> np.ndarray:
        """The optimiser's coordinates of parameter values (last axis): the log of the
        positive parameters, covariate coefficients as they are."""
        pos = self._positive()
        v = np.asarray(values, dtype=float)
        return np.log(v) if pos.all() else np.where(pos, np.log(np.where(pos, v, 1.0)), v)

    def _from_theta(self, theta) -> np.ndarray:
        """Inverse of :meth:`_to_theta`."""
        pos = self._positive()
        t = np.asarray(theta, dtype=float)
        return np.exp(t) if pos.all() else np.where(pos, np.exp(np.where(pos, t, 0.0)), t)

    def _check_covariates(self, summary, *, fitting: bool) -> None:
        """Validate the covariate columns (:class:`clvmodels.covariates.CovariateMixin`)."""

    def _row_params(self, params, covs) -> list:
        """The likelihood's parameters per row (covariate models; else ``params``)."""
        return list(params)

    # ------------------------------------------------------------------ validation
    def _validate(self, summary: pd.DataFrame, columns: Sequence[str], *, fitting: bool) -> None:
        """Check ``summary`` before use (overridden by models with extra rules)."""
        check_summary(summary, columns)

    def _fit_mask(self, summary: pd.DataFrame) -> np.ndarray:
        """Rows of the summary the likelihood uses (all by default)."""
        return np.ones(len(summary), dtype=bool)

    def _after_fit(self, summary: pd.DataFrame, mask: np.ndarray, weights: np.ndarray) -> None:
        """Hook for model-specific checks after a successful fit."""

    # ------------------------------------------------------------------ fitting
    def fit(self, summary: pd.DataFrame, weights=None, time_unit: str | None = None, *,
            draws: int = 1000, tune: int = 1000, chains: int = 2, random_state=None,
            progressbar: bool | None = None, nuts_sampler: str = "auto",
            sampler_kwargs: dict | None = None):
        """Fit the model to an RFM summary (by ``self.method``: maximum likelihood by default).

        Parameters
        ----------
        summary
            RFM summary (see :func:`clvmodels.rfm_summary`), one row per customer
            or per group of identical customers when ``weights`` is given. It is
            not modified.
        weights
            Optional number of customers each row stands for: an array aligned
            with the rows, or the name of a column of ``summary``. Identical
            rows are compressed into weights automatically.
        time_unit
            Time unit of the model (``"h", "D", "W", "M", "Y"``): rates and
            prediction horizons are expressed in it. Default:
            ``summary.attrs["time_unit"]``, else ``"D"``. ``recency`` and ``T``
            are in ``summary.attrs["time_unit"]`` if set (converted when it
            differs from ``time_unit``), else in ``time_unit``.
        draws, tune, chains
            NUTS: draws kept per chain, tuning steps per chain, number of chains
            (at most two run at once). ADVI: ``draws`` draws of the fitted
            approximation. Ignored by ``"mle"`` and ``"map"``.
        random_state
            Seed (int) or ``numpy.random.Generator`` of the sampler.
        progressbar
            Show the sampler's progress; default: in notebooks only.
        nuts_sampler
            ``"auto"`` (nutpie if installed, else numpyro, else PyMC), ``"nutpie"``,
            ``"numpyro"`` or ``"pymc"``.
        sampler_kwargs
            Further keyword arguments of the sampler (``nutpie.sample``,
            ``pymc.sample`` or ``pymc.fit``, e.g. ``{"n": 50_000}`` for ADVI).

        Returns
        -------
        self

        Raises
        ------
        DataError
            If the summary or the weights break a rule (the message names the
            column, the rule and the number of rows).
        ConvergenceError
            If no optimiser run converged; ``err.result`` holds the best run.

        Warns
        -----
        ConvergenceWarning
            Maximum likelihood: estimates at the edge of the parameter space,
            parameters the data do not identify (``fit_status_`` says which
            case; with no identified parameter ``converged_`` is False and the
            message says what to do). NUTS: R-hat above 1.01, bulk effective
            sample size below 400 or divergent transitions (the message says
            what to do).
        ClvModelsWarning
            Neither ``time_unit`` nor ``summary.attrs["time_unit"]`` is given:
            days are assumed (once per fit).

        Every warning of the fit is also kept, as text, in ``fit_warnings_``.
        """
        method = self._method()
        check_penalizer(self, method)
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("_")]:
            delattr(self, name)  # a failed refit must not leave the old fit in place
        self._draws_cache = None
        # Every warning of the fit is recorded, kept on the model (``fit_warnings_``:
        # the report shows them) and issued again to the caller, under the
        # caller's own warning filters.
        error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self._warn_assumed_unit(summary, time_unit)
                data, cw, unit, mask, w = self._data_for_fit(summary, weights, time_unit)
                if method == "mle":
                    self._fit_arrays(data, cw, unit)
                else:
                    from ..inference.bayes import fit_bayesian

                    fit_bayesian(self, data, cw, unit, draws=draws, tune=tune, chains=chains,
                                 random_state=random_state, progressbar=progressbar,
                                 nuts_sampler=nuts_sampler, sampler_kwargs=sampler_kwargs)
                self._after_fit(summary, mask, w)
            except Exception as err:  # re-raised below, after the fit's warnings
                error = err
        recorded = list(caught)
        if error is None:
            self.fit_warnings_ = list(dict.fromkeys(
                str(w.message) for w in recorded if issubclass(w.category, ClvModelsWarning)))
            if not hasattr(self, "fit_status_"):  # Bayesian fits
                self.fit_status_ = ("converged" if getattr(self, "converged_", True)
                                    else "not converged")
        for w in recorded:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)
        if error is not None:
            raise error
        return self

    def _warn_assumed_unit(self, summary, time_unit) -> None:
        """Warn that days are assumed when neither the summary nor ``fit`` gives a unit."""
        if (self.uses_time and time_unit is None and isinstance(summary, pd.DataFrame)
                and summary.attrs.get("time_unit") is None):
            warnings.warn(
                f"The summary has no attrs['time_unit'] and fit() got no time_unit=, so "
                f"{type(self).__name__} assumes that recency and T are in days (\"D\"). If "
                "they are in another unit, say so: fit(summary, time_unit=\"W\") or "
                "summary.attrs[\"time_unit\"] = \"W\" (\"h\", \"D\", \"W\", \"M\" or \"Y\").",
                ClvModelsWarning, stacklevel=3,
            )

    def _method(self) -> str:
        from ..inference.bayes import METHODS

        method = getattr(self, "method", "mle")
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
        return method


    def prior_predictive(self, summary: pd.DataFrame, draws: int = 500, random_state=None,
                         max_customers: int | None = 10_000, time_unit: str | None = None):
        """Simulate data from the priors: what they imply for purchases (or spend).

        The model need not be fitted. Each draw takes parameters from the
        priors (``self.priors`` or the defaults, scaled to ``summary``) and
        simulates every customer's ``frequency`` and ``recency`` over their
        observation window ``T`` (Gamma-Gamma: the mean spend of the repeat
        customers given their number of purchases).

        Parameters
        ----------
        summary
            RFM summary: the customers (their ``T``) to simulate.
        draws
            Number of prior draws.
        random_state
            Seed or ``numpy.random.Generator``.
        max_customers
            Simulate a random subset of at most this many customers (memory
            grows with draws x customers); ``None``: all.
        time_unit
            Unit of the durations (default: the fitted model's, else the summary's).

        Returns
        -------
        arviz.InferenceData with groups ``prior`` (parameters), ``prior_predictive``
        (``purchases``: dims ``chain, draw, row, column`` with columns
        ``frequency, recency``; or ``spend``), ``observed_data`` and
        ``constant_data``; ``row`` is the customer id.

        Examples
        --------
        >>> import clvmodels
        >>> from clvmodels.models.beta_geo import BetaGeoModel
        >>> log = clvmodels.datasets.load_cdnow("sample")
        >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
        ...                                 calibration_period_end="1997-09-30", time_unit="W")
        >>> prior = BetaGeoModel(method="nuts").prior_predictive(summary, draws=100,
        ...                                                      random_state=0)
        >>> freq = prior.prior_predictive["purchases"].sel(column="frequency")
        >>> freq.sizes["draw"], freq.sizes["row"]
        (100, 2357)
        """
        from ..inference.bayes import prior_predictive

        return prior_predictive(self, summary, draws=draws, random_state=random_state,
                                max_customers=max_customers, time_unit=time_unit)

    def posterior_predictive(self, summary: pd.DataFrame, n_draws: int = 500,
                             random_state=None, max_customers: int | None = 10_000):
        """Simulate the customers of ``summary`` from the fitted model (posterior
        predictive check): each of ``n_draws`` parameter draws (posterior draws of a
        NUTS or ADVI fit, asymptotic normal draws otherwise) simulates every
        customer's ``frequency`` and ``recency`` over their ``T``.

        Returns
        -------
        arviz.InferenceData with ``posterior_predictive`` and ``observed_data``
        (compare e.g. the distribution of ``frequency`` with
        ``arviz.plot_ppc``); ``row`` is the customer id.
        """
        from ..inference.bayes import posterior_predictive

        self._check_fitted()
        return posterior_predictive(self, summary, n_draws=n_draws, random_state=random_state,
                                    max_customers=max_customers)

    def _fit_arrays(self, data: list[np.ndarray], weights: np.ndarray, unit: str | None) -> None:
        """Fit on compressed arrays in the user's units and set the fitted attributes."""
        cols = list(self.data_columns)
        c_t, c_m = self._scales(data, weights)
        scaled = [
            d * (c_t if col in self.time_columns else c_m if col in self.money_columns else 1.0)
            for col, d in zip(cols, data)
        ]
        shift = self._log_shift(c_t, c_m)
        objective = make_objective(self.likelihood, scaled, weights,
                                   backend=self.gradient_backend,
                                   penalty=lifetimes_penalty(self, data, weights, shift))
        res = maximize_likelihood(objective, self._starts(shift), tol=self.tol,
                                  max_iter=self.max_iter)
        theta = res.theta - shift
        params = self._from_theta(theta)
        if not res.converged:
            est = ", ".join(f"{n}={v:.4g}" for n, v in zip(self.param_names(), params))
            raise ConvergenceError(
                f"{type(self).__name__} did not converge (largest gradient of the mean "
                f"log-likelihood {np.max(np.abs(res.gradient)) / weights.sum():.2e}; "
                f"last estimate {est}). Runs: " + "; ".join(res.attempts) + ". "
                "What to try: check the summary for extreme customers (very large "
                "frequency, recency equal to T for everybody); a parameter running to 0 or "
                "infinity means the data do not identify the model (try a simpler model or "
                "more customers); pass initial_params=...; raise max_iter.",
                result=res,
            )
        at_boundary = [n for n, th in zip(self.param_names(), res.theta) if abs(th) > 12.0]
        if at_boundary:
            warnings.warn(
                f"The estimates of {at_boundary} run to 0 or infinity (in units scaled to the "
                "data they are below 1e-5 or above 1e5): the maximum of the likelihood is at "
                "the edge of the parameter space, so the data do not identify the model well "
                "(e.g. a and b of a beta distribution growing together mean that every "
                "customer has the same dropout probability a / (a + b)). Point predictions "
                "remain usable; standard errors of these parameters do not, and prediction "
                "intervals hold them at their estimates (they ignore their uncertainty).",
                ConvergenceWarning, stacklevel=3,
            )
        self.time_unit_ = unit
        self.params_ = pd.Series(params, index=self.param_names(), name="estimate")
        self._set_covariance(res.hessian, params, float(weights.sum()))
        self.at_boundary_ = at_boundary
        self.not_identified_ = [n for n, se in self.standard_errors_.items() if not np.isfinite(se)]
        identified = len(self.not_identified_) < len(params)
        if not identified:
            self.fit_status_ = "not identified"
        elif at_boundary:
            self.fit_status_ = "at boundary"
        elif self.not_identified_:
            self.fit_status_ = "partly identified"
        else:
            self.fit_status_ = "converged"
        if not identified:
            self._warn_not_identified(data, weights, params)
        ll = self._true_log_likelihood(res.nll, data, weights, c_t, c_m, params)
        k = len(params)
        n = float(weights.sum())
        ll = float(ll)
        self.log_likelihood_ = ll
        self.aic_ = float(2 * k - 2 * ll)
        self.bic_ = float(k * np.log(n) - 2 * ll)
        self.converged_ = identified
        self.n_customers_ = int(round(n)) if float(n).is_integer() else n
        self.n_rows_ = int(len(weights))
        self.optimizer_result_ = res
        self.data_fingerprint_ = self._fingerprint(data, weights)

    def _warn_not_identified(self, data, weights, params) -> None:
        """The ConvergenceWarning of a fit that identifies no parameter."""
        cols = list(self.data_columns)
        n = float(weights.sum())
        why = ""
        if self.uses_time and "frequency" in cols:
            repeat = float(weights[data[cols.index("frequency")] > 0].sum())
            if repeat == 0:
                why = f" None of the {n:,.0f} customers made a repeat purchase."
            elif repeat < n:
                why = f" Only {repeat:,.0f} of the {n:,.0f} customers made a repeat purchase."
        est = ", ".join(f"{k}={v:.4g}" for k, v in zip(self.param_names(), params))
        warnings.warn(
            f"{type(self).__name__} is not identified by these data: no parameter has a finite "
            f"standard error (the likelihood is flat around the estimate {est}, which may be "
            f"no more than the optimiser's starting point).{why} The fit is marked "
            "converged_ = False and its predictions are arbitrary. What to do: fit on a longer "
            "calibration period or more customers with repeat purchases, or use a simpler "
            "model (e.g. clvmodels' formula baseline).",
            ConvergenceWarning, stacklevel=4,
        )

    def _true_log_likelihood(self, nll_scaled, data, weights, c_t, c_m, params) -> float:
        """The log-likelihood in the user's units (the optimiser saw rescaled data).

        Generic: evaluate it again. Models whose likelihood is a density of the
        rescaled quantities override this with the Jacobian of the rescaling.
        """
        objective = make_objective(self.likelihood, data, weights, backend="numpy")
        return -objective.value(self._to_theta(params))

    def save(self, path) -> None:
        """Write the fitted model to ``path`` as JSON (see :mod:`clvmodels.persistence`)."""
        from ..persistence import save_model

        save_model(self, path)

    # ------------------------------------------------------------------ prediction helpers
    def _params_tuple(self) -> tuple[float, ...]:
        self._check_fitted()
        return tuple(float(v) for v in self.params_[self.param_names()])

    def _arrays(self, summary: pd.DataFrame, columns: Sequence[str]):
        """Validated float arrays of ``columns`` in the model's time unit, and the index."""
        self._check_fitted()
        covs = self.data_columns[len(type(self).data_columns):]
        self._validate(summary, [c for c in columns if c not in covs], fitting=False)
        self._check_covariates(summary, fitting=False)
        arrays = [summary[c].to_numpy(dtype=float) for c in columns]
        if self.uses_time:
            unit = summary.attrs.get("time_unit")
            if unit is not None and normalize_unit(unit) != self.time_unit_:
                arrays = [convert(a, unit, self.time_unit_) if c in self.time_columns else a
                          for c, a in zip(columns, arrays)]
        return summary.index, arrays


class TransactionModel(TransactionPredictionsMixin, ParametricModel):
    """Base class of the purchase-count models (BG/NBD, MBG/NBD, Pareto/NBD).

    A subclass declares ``formulas``: a module (or namespace) with the functions
    listed in :class:`~clvmodels.models.transaction.TransactionPredictionsMixin`. The
    prediction methods (:mod:`clvmodels.models.transaction`) compute them once
    per distinct ``(frequency, recency, T)`` row and return pandas objects
    indexed by customer id; the summary is never modified.
    """

    formulas: ClassVar[ModuleType | Any] = None

    def _true_log_likelihood(self, nll_scaled, data, weights, c_t, c_m, params) -> float:
        # The likelihood of a history with x repeat purchases is a density of x
        # purchase times: rescaling time by c multiplies it by c**-x.
        x = data[list(self.data_columns).index("frequency")]
        return -nll_scaled + np.log(c_t) * float(np.einsum("n,n->", weights, x))


class CovariateTransactionModel(CovariateMixin, TransactionModel):
    """A purchase model with purchase and dropout covariates (:mod:`clvmodels.covariates`).

    The subclass declares ``covariate_links`` (which parameter each group scales);
    the constructor is shared by BG/NBD, MBG/NBD and Pareto/NBD.
    """

    def __init__(self, initial_params=None, tol: float = 1e-8, max_iter: int = 1000,
                 method: str = "mle", priors=None, penalizer: float = 0.0, *,
                 purchase_covariates=None, dropout_covariates=None) -> None:
        super().__init__(initial_params=initial_params, tol=tol, max_iter=max_iter,
                         method=method, priors=priors, penalizer=penalizer)
        self.purchase_covariates = purchase_covariates
        self.dropout_covariates = dropout_covariates
