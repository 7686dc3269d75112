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

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from .._checks import check_summary, fail_rows, finite_numbers
from ..exceptions import ClvModelsWarning, ConvergenceError, ConvergenceWarning, DataError
from ..inference.draws import interval_quantiles, reduce_draws
from ..inference.mle import LikelihoodSpec, make_objective, maximize_likelihood
from ..inference.penalty import check_penalizer, lifetimes_penalty
from ..units import convert, normalize_unit
from .base import BaseModel

__all__ = ["MODEL_REGISTRY", "Parameter", "ParametricModel", "TransactionModel"]

#: Every concrete parametric model class by name (filled by subclassing); used by
#: :func:`clvmodels.persistence.load`.
MODEL_REGISTRY: dict[str, type] = {}


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
    """

    name: str
    time_power: int = 0
    money_power: int = 0
    start: float = 1.0
    description: str = ""


_U64 = np.uint64


def _mix64(u: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    u = (u ^ (u >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    u = (u ^ (u >> _U64(27))) * _U64(0x94D049BB133111EB)
    return u ^ (u >> _U64(31))


def row_hashes(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash of each row of float columns (deterministic across runs)."""
    h = np.full(len(arrays[0]), 0x9E3779B97F4A7C15, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for a in arrays:
            bits = (np.ascontiguousarray(a, dtype=np.float64) + 0.0).view(np.uint64)  # -0 -> 0
            h ^= bits
            h *= _U64(0xFF51AFD7ED558CCD)
            h ^= h >> _U64(29)
    return _mix64(h)


def group_rows(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Exact grouping of identical rows: ``(codes, first)``.

    ``codes[i]`` is the group of row ``i`` (in order of first appearance) and
    ``first[g]`` the first row of group ``g``. Rows are grouped by a 64-bit hash,
    then checked column by column; in the (astronomically rare) case of a hash
    collision pandas' exact groupby is used instead.
    """
    n = len(arrays[0])
    codes, uniques = pd.factorize(row_hashes(arrays))
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    if not all(np.array_equal(a[first][codes], a) for a in arrays):  # pragma: no cover
        frame = pd.DataFrame({f"c{i}": a for i, a in enumerate(arrays)})
        codes = frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy()
        first = np.empty(int(codes.max()) + 1, dtype=np.int64)
        first[codes[::-1]] = np.arange(n - 1, -1, -1)
    return codes, first


def worth_grouping(arrays: Sequence[np.ndarray], sample: int = 100_000,
                   max_distinct: float = 0.9) -> bool:
    """Whether grouping identical rows will pay: always for small data; for large
    data, when a random sample of ``sample`` rows has at most ``max_distinct``
    distinct rows (continuous ages do not repeat, whole days do)."""
    n = len(arrays[0])
    if n <= 2 * sample:
        return True
    rows = np.random.default_rng(0).choice(n, size=sample, replace=False)
    distinct = len(pd.unique(row_hashes([a[rows] for a in arrays])))
    return distinct <= max_distinct * sample


def _as_random_state(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


class ParametricModel(BaseModel):
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
            MODEL_REGISTRY[cls.__name__] = cls

    # ------------------------------------------------------------------ declaration
    @classmethod
    def param_names(cls) -> list[str]:
        """Names of the model parameters, in the likelihood's order."""
        return [p.name for p in cls.parameters]

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

    # ------------------------------------------------------------------ Bayesian fits
    def _has_posterior(self) -> bool:
        """Whether the fit holds posterior draws (NUTS, ADVI)."""
        idata = getattr(self, "idata_", None)
        return idata is not None and "posterior" in idata.groups()

    def _posterior_draws(self) -> np.ndarray:
        """Every posterior draw, shape ``(chains * draws, parameters)`` (cached)."""
        cache = getattr(self, "_draws_cache", None)
        if cache is None or cache[0] is not self.idata_:
            post = self.idata_.posterior
            draws = np.column_stack([post[n].to_numpy().reshape(-1)
                                     for n in self.param_names()])
            self._draws_cache = cache = (self.idata_, draws)
        return cache[1]

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

    def _prediction_draws(self, n_draws, random_state) -> np.ndarray:
        """Parameter draws for a prediction: every posterior draw (or ``n_draws`` of
        them), else ``n_draws`` asymptotic normal draws."""
        if n_draws is not None and (isinstance(n_draws, bool) or int(n_draws) != n_draws
                                    or n_draws < 1):
            raise ValueError(f"n_draws must be a whole number >= 1, got {n_draws!r}.")
        if self._has_posterior():
            every = self._posterior_draws()
            if n_draws is None or int(n_draws) == len(every):
                return every
        n = int(n_draws) if n_draws is not None else self.default_n_draws
        return self._parameter_draws(n, random_state, stacklevel=5)

    def _uses_draws(self, interval, return_draws) -> bool:
        if interval is not None:
            interval_quantiles(interval)  # validate early
        self._check_fitted()
        return interval is not None or bool(return_draws) or self._has_posterior()

    def _reduce(self, columns, func, *, n_draws, random_state, interval, return_draws):
        draws = self._prediction_draws(n_draws, random_state)
        if draws is None:  # no finite covariance: the plug-in value, NaN bounds and draws
            point = np.log(self.params_[self.param_names()].to_numpy(dtype=float))[None, :]
            res = reduce_draws(columns, func, np.exp(point), interval=interval)
            if interval is not None:
                res.lower = np.full_like(res.mean, np.nan)
                res.upper = np.full_like(res.mean, np.nan)
            if return_draws:
                n = int(n_draws) if n_draws is not None else self.default_n_draws
                res.draws = np.full(res.mean.shape + (n,), np.nan)
            return res
        res = reduce_draws(columns, func, draws, interval=interval,
                           return_draws=bool(return_draws))
        if res.n_undefined:
            warnings.warn(
                f"{res.n_undefined} (customer, draw) value(s) of {type(self).__name__} are "
                "undefined (NaN) and were left out of the means and intervals (e.g. "
                "Gamma-Gamma draws with q <= 1 have no population mean spend).",
                ClvModelsWarning, stacklevel=4)
        return res

    @staticmethod
    def _format(res, index, name, *, labels=None, label_name=None, interval=None,
                return_draws=False):
        """Series / DataFrame / DataArray of a :class:`DrawSummary`.

        ``labels`` (horizons, counts) gives one column per label; ``None`` one column.
        """
        index_name = index.name or "customer_id"
        if return_draws:
            import xarray as xr

            values = res.draws
            coords = {index_name: index.to_numpy(), "draw": np.arange(values.shape[-1])}
            if labels is None:
                return xr.DataArray(values[:, 0, :], dims=(index_name, "draw"), coords=coords,
                                    name=name)
            coords[label_name] = np.asarray(labels)
            return xr.DataArray(values, dims=(index_name, label_name, "draw"), coords=coords,
                                name=name)
        if interval is None:
            if labels is None:
                return pd.Series(res.mean[:, 0], index=index, name=name)
            return pd.DataFrame(res.mean, index=index,
                                columns=pd.Index(np.asarray(labels), name=label_name))
        if labels is None:
            return pd.DataFrame({"mean": res.mean[:, 0], "lower": res.lower[:, 0],
                                 "upper": res.upper[:, 0]}, index=index)
        parts = {}
        for j, label in enumerate(np.asarray(labels)):
            label = label.item() if hasattr(label, "item") else label
            parts[(label, "mean")] = res.mean[:, j]
            parts[(label, "lower")] = res.lower[:, j]
            parts[(label, "upper")] = res.upper[:, j]
        frame = pd.DataFrame(parts, index=index)
        frame.columns = pd.MultiIndex.from_tuples(list(parts), names=[label_name, "statistic"])
        return frame

    def _data_for_fit(self, summary, weights, time_unit):
        """Validated, compressed fit data: (arrays, weights, unit, row mask, row weights)."""
        columns = list(self.data_columns)
        self._validate(summary, columns, fitting=True)
        w = self._weights(summary, weights)
        mask = self._fit_mask(summary) & (w > 0)
        if not mask.any():
            raise DataError(
                f"No row of the summary can be used to fit {type(self).__name__} "
                f"({self._fit_rows_description()}).",
                rule="no_usable_rows", n_rows=0,
            )
        unit = None
        arrays = [summary[c].to_numpy(dtype=float)[mask] for c in columns]
        if self.uses_time:
            data_unit = summary.attrs.get("time_unit")
            unit = normalize_unit(time_unit if time_unit is not None
                                  else data_unit if data_unit is not None else "D")
            if data_unit is not None and normalize_unit(data_unit) != unit:
                arrays = [convert(a, data_unit, unit) if c in self.time_columns else a
                          for c, a in zip(columns, arrays)]
        data, cw = self._compress(arrays, w[mask])
        return data, cw, unit, mask, w

    def data_fingerprint(self, summary: pd.DataFrame, weights=None) -> dict:
        """Fingerprint of the data a fit on ``summary`` would use.

        Equal to ``data_fingerprint_`` (set by ``fit`` and kept by save/load)
        when the model was fitted on the same customers (in any row order,
        compressed or not): the number of customers and a SHA-256 digest of
        the multiset of rows.
        """
        data, cw, *_ = self._data_for_fit(summary, weights, getattr(self, "time_unit_", None))
        return self._fingerprint(data, cw)

    def _fit_rows_description(self) -> str:
        return "all rows with positive weight"

    @staticmethod
    def _weights(summary: pd.DataFrame, weights) -> np.ndarray:
        if weights is None:
            return np.ones(len(summary))
        if isinstance(weights, str):
            if weights not in summary.columns:
                raise DataError(
                    f"The weights column {weights!r} is not in the summary.",
                    column=weights, rule="missing_columns",
                )
            values = summary[weights]
            name = weights
        else:
            values = pd.Series(np.asarray(weights).ravel())
            name = "weights"
            if len(values) != len(summary):
                raise DataError(
                    f"weights has {len(values)} values but the summary has {len(summary)} rows.",
                    column=name, rule="length_mismatch", n_rows=abs(len(values) - len(summary)),
                )
        arr = finite_numbers(values, name)
        fail_rows(arr < 0, values, column=name, rule="negative", what="are negative")
        return arr

    @staticmethod
    def _compress(arrays: list[np.ndarray], weights: np.ndarray):
        """Merge identical data rows, summing their weights (when that pays)."""
        if not worth_grouping(arrays):
            return [np.ascontiguousarray(a, dtype=float) for a in arrays], weights
        codes, first = group_rows(arrays)
        cw = np.bincount(codes, weights=weights, minlength=len(first))
        return [a[first] for a in arrays], cw

    def _scales(self, data: list[np.ndarray], weights: np.ndarray) -> tuple[float, float]:
        """Time and money scales that make the rescaled data of order one (1 / the
        weighted mean age or amount)."""
        cols = list(self.data_columns)

        def scale(names):
            present = [data[cols.index(c)] for c in names if c in cols]
            if not present:
                return 1.0
            ref = present[-1]  # T for purchase models, the amount for spend models
            positive = ref > 0
            if not positive.any():
                return 1.0
            wp = weights * positive
            typical = float(np.einsum("n,n->", wp, ref) / wp.sum())  # no BLAS threads
            return 1.0 / typical if typical > 0 else 1.0

        return scale(self.time_columns), scale(self.money_columns)

    def _log_shift(self, c_t: float, c_m: float) -> np.ndarray:
        """Add to log-parameters (user units) to get the rescaled ones."""
        return np.array([p.time_power * np.log(c_t) + p.money_power * np.log(c_m)
                         for p in self.parameters])

    def _starts(self, shift: np.ndarray) -> list[np.ndarray]:
        starts = []
        if self.initial_params is not None:
            init = pd.Series(self.initial_params, dtype=float)
            missing = set(self.param_names()) - set(init.index)
            if missing:
                raise ValueError(f"initial_params lacks {sorted(missing)}.")
            vals = init[self.param_names()].to_numpy(dtype=float)
            if np.any(~np.isfinite(vals) | (vals <= 0)):
                raise ValueError("initial_params must be positive and finite.")
            starts.append(np.log(vals) + shift)
        starts.append(np.log([p.start for p in self.parameters]))
        for alt in self.alternative_starts:
            starts.append(np.log([alt.get(p.name, p.start) for p in self.parameters]))
        return starts

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
        params = np.exp(theta)
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
        return -objective.value(np.log(params))

    def _set_covariance(self, H: np.ndarray | None, params: np.ndarray,
                        n_customers: float = 1.0) -> None:
        """Delta-method covariance: cov_ij = theta_i theta_j (H^-1)_ij, H in log-params."""
        names = self.param_names()
        k = len(names)
        if H is None or not np.all(np.isfinite(H)):
            cov_log = np.full((k, k), np.nan)
            warnings.warn("The Hessian could not be computed; standard errors are NaN.",
                          ConvergenceWarning, stacklevel=4)
        else:
            H = 0.5 * (H + H.T)
            eigval, eigvec = np.linalg.eigh(H)
            # Singular relative to the largest curvature, or in absolute terms: the
            # Hessian of a total over n customers grows like n.
            tol = max(1e-10 * np.max(np.abs(eigval)), 1e-8 * n_customers)
            if np.min(eigval) <= tol:
                weak = np.abs(eigvec[:, eigval <= tol]).max(axis=1) > 0.1
                others = ("the others come from the pseudo-inverse on the identified "
                          "directions." if not weak.all() else "no parameter is identified.")
                warnings.warn(
                    "The Hessian of the log-likelihood is singular or not positive definite "
                    f"(smallest eigenvalue {np.min(eigval):.3g}): the data do not identify "
                    f"{[n for n, w in zip(names, weak) if w]}. Their standard errors are NaN; "
                    + others,
                    ConvergenceWarning, stacklevel=4,
                )
                inv = np.where(eigval > tol, 1.0 / np.where(eigval > tol, eigval, 1.0), 0.0)
                cov_log = (eigvec * inv) @ eigvec.T
                cov_log[weak, :] = np.nan
                cov_log[:, weak] = np.nan
            else:
                cov_log = np.linalg.inv(H)
                cov_log = 0.5 * (cov_log + cov_log.T)
        self.cov_log_ = pd.DataFrame(cov_log, index=names, columns=names)
        self.cov_ = pd.DataFrame(cov_log * np.outer(params, params), index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(self.cov_.to_numpy())), index=names,
                                          name="standard_error")

    @staticmethod
    def _fingerprint(data: list[np.ndarray], weights: np.ndarray) -> dict:
        """Number of customers and a hash of the multiset of (row, weight).

        Order-independent and additive over identical rows, so a summary, its
        row permutations and its compressed form (rows with weights) share it.
        """
        h = row_hashes(data)
        w = np.round(np.asarray(weights, dtype=float) * 1e6).astype(np.int64).view(np.uint64)
        with np.errstate(over="ignore"):
            total = np.sum(h * w, dtype=np.uint64)
        n = float(weights.sum())
        digest = hashlib.sha256(np.uint64(total).tobytes() + repr(n).encode()).hexdigest()
        return {"n_customers": int(round(n)) if n.is_integer() else n, "sha256": digest}

    # ------------------------------------------------------------------ inference
    def confidence_intervals(self, level: float = 0.95, method: str = "log") -> pd.DataFrame:
        """Confidence intervals of the parameters.

        Parameters
        ----------
        level
            Coverage, e.g. 0.95.
        method
            ``"log"`` (default): Wald interval on the log-parameter (the scale of
            the optimisation), exponentiated, so it stays positive and is
            asymmetric. ``"wald"``: symmetric ``estimate +- z * SE``.
            For NUTS and ADVI fits both give the equal-tailed credible interval
            (quantiles of the posterior draws).

        Returns
        -------
        DataFrame indexed by parameter with columns ``lower``, ``upper``.
        """
        self._check_fitted()
        if not 0 < level < 1:
            raise ValueError(f"level must be between 0 and 1, got {level!r}.")
        if self._has_posterior():
            lo, hi = np.quantile(self._posterior_draws(), [(1 - level) / 2, (1 + level) / 2],
                                 axis=0)
            return pd.DataFrame({"lower": lo, "upper": hi}, index=self.params_.index)
        z = stats.norm.ppf(0.5 + level / 2)
        est = self.params_
        if method == "log":
            se_log = np.sqrt(np.diag(self.cov_log_.to_numpy()))
            with np.errstate(over="ignore"):
                lower, upper = est * np.exp(-z * se_log), est * np.exp(z * se_log)
        elif method == "wald":
            lower, upper = est - z * self.standard_errors_, est + z * self.standard_errors_
        else:
            raise ValueError(f"method must be 'log' or 'wald', got {method!r}.")
        return pd.DataFrame({"lower": lower.to_numpy(), "upper": upper.to_numpy()},
                            index=est.index)

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """One row per parameter.

        Maximum likelihood and MAP: estimate, standard error and confidence
        interval (see :meth:`confidence_intervals`). NUTS and ADVI: posterior
        mean (``estimate``), posterior standard deviation (``standard_error``),
        the highest-density interval of probability ``level`` (``lower``,
        ``upper``), and for NUTS the convergence diagnostics ``r_hat``,
        ``ess_bulk``, ``ess_tail`` and ``mcse_mean`` (Vehtari et al. 2021).
        """
        self._check_fitted()
        pct = f"{100 * level:g}%"
        if self._has_posterior():
            import arviz as az

            names = self.param_names()
            if not 0 < level < 1:
                raise ValueError(f"level must be between 0 and 1, got {level!r}.")
            post = self.idata_.posterior[names]
            hdi = az.hdi(post, hdi_prob=level)
            table = pd.DataFrame({
                "estimate": self.params_.to_numpy(),
                "standard_error": self.standard_errors_.to_numpy(),
                f"lower {pct}": [float(hdi[n].sel(hdi="lower")) for n in names],
                f"upper {pct}": [float(hdi[n].sel(hdi="higher")) for n in names],
            }, index=self.params_.index)
            if post.sizes.get("chain", 1) > 1:
                rhat = az.rhat(post)
                table["r_hat"] = [float(rhat[n]) for n in names]
            for method in ("bulk", "tail"):
                ess = az.ess(post, method=method)
                table[f"ess_{method}"] = [float(ess[n]) for n in names]
            mcse = az.mcse(post, method="mean")
            table["mcse_mean"] = [float(mcse[n]) for n in names]
            table.attrs["interval"] = "highest density"
            return table
        ci = self.confidence_intervals(level)
        table = pd.DataFrame({
            "estimate": self.params_.to_numpy(),
            "standard_error": self.standard_errors_.to_numpy(),
            f"lower {pct}": ci["lower"].to_numpy(),
            f"upper {pct}": ci["upper"].to_numpy(),
        }, index=self.params_.index)
        if getattr(self, "penalizer", 0):  # a penalised fit says so in its table
            table["penalizer"] = float(self.penalizer)
        return table

    def sample_parameters(self, n: int, random_state=None) -> pd.DataFrame:
        """Draws of the parameters.

        NUTS and ADVI fits: ``n`` of the posterior draws, picked at random
        (without replacement when ``n`` is at most their number). Maximum
        likelihood and MAP: draws from the asymptotic distribution, the
        log-parameters being multivariate normal with the inverse Hessian as
        covariance (the delta method's approximation), so draws stay positive.
        Returns a DataFrame with ``n`` rows and one column per parameter.

        A fit at the edge of the parameter space has parameters the data do
        not identify (NaN standard errors, listed in ``not_identified_``): the
        identified parameters are drawn from their block of the covariance
        (the pseudo-inverse of the Hessian on the identified directions) and
        the others are held at their estimates, with a
        :class:`~clvmodels.exceptions.ConvergenceWarning` saying that intervals
        ignore their uncertainty. With no finite covariance at all (e.g. a
        model made by :meth:`with_parameters`), every draw is NaN and a warning
        says so: prediction intervals are then NaN and point predictions are
        unaffected.
        """
        self._check_fitted()
        draws = self._parameter_draws(n, random_state, stacklevel=3)
        if draws is None:
            draws = np.full((int(n), len(self.param_names())), np.nan)
        return pd.DataFrame(draws, columns=self.param_names())

    def _parameter_draws(self, n: int, random_state=None, *, stacklevel: int = 4):
        """``(n, parameters)`` draws (see :meth:`sample_parameters`), or ``None``
        (with a warning) when no parameter has a finite variance."""
        names = self.param_names()
        if self._has_posterior():
            every = self._posterior_draws()
            rng = _as_random_state(random_state)
            n = int(n)
            rows = rng.choice(len(every), size=n, replace=n > len(every))
            return every[rows]
        cov = np.asarray(self.cov_log_.to_numpy(), dtype=float)
        free = np.isfinite(np.diag(cov))
        if free.any():
            block = cov[np.ix_(free, free)]
            free = free if np.all(np.isfinite(block)) else np.zeros_like(free)
        if not free.any():
            warnings.warn(
                f"{type(self).__name__} has no finite covariance (no parameter has a finite "
                "standard error: the data do not identify it, or its parameters were set by "
                "with_parameters), so prediction intervals cannot be computed: they are NaN, "
                "and point predictions are unaffected. Pass interval=None (CLI: --interval 0) "
                "to leave the bounds out.",
                ConvergenceWarning, stacklevel=stacklevel,
            )
            return None
        held = [nm for nm, f in zip(names, free) if not f]
        if held:
            warnings.warn(
                f"{type(self).__name__}: the data do not identify {held} (the fit is at the "
                "edge of the parameter space), so parameter draws and prediction intervals "
                "hold them at their estimates and ignore their uncertainty; the intervals "
                f"reflect only the uncertainty of {[nm for nm, f in zip(names, free) if f]}.",
                ConvergenceWarning, stacklevel=stacklevel,
            )
        rng = _as_random_state(random_state)
        theta = np.log(self.params_[names].to_numpy(dtype=float))
        out = np.tile(theta, (int(n), 1))
        block = 0.5 * (block + block.T)
        out[:, free] = rng.multivariate_normal(theta[free], block, size=int(n), method="eigh")
        return np.exp(out)

    def with_parameters(self, params, time_unit: str | None = None) -> "ParametricModel":
        """A new model, with this one's constructor arguments, set to ``params``.

        Use it to predict with published parameters or with parameter draws. The
        new model has no covariance (NaN standard errors) and no likelihood.

        Parameters
        ----------
        params
            dict or Series with every parameter.
        time_unit
            Unit of the durations in ``params``; default this model's
            ``time_unit_`` if fitted, else ``"D"``.
        """
        values = pd.Series(params, dtype=float)
        missing = set(self.param_names()) - set(values.index)
        if missing:
            raise ValueError(f"params lacks {sorted(missing)}.")
        values = values[self.param_names()]
        if np.any(~np.isfinite(values.to_numpy()) | (values.to_numpy() <= 0)):
            raise ValueError(f"parameters must be positive and finite, got {dict(values)}.")
        new = type(self)(**self.get_params())
        new.params_ = values.rename("estimate")
        if self.uses_time:
            new.time_unit_ = normalize_unit(
                time_unit or getattr(self, "time_unit_", None) or "D")
        names = self.param_names()
        nan = np.full((len(names), len(names)), np.nan)
        new.cov_log_ = pd.DataFrame(nan, index=names, columns=names)
        new.cov_ = new.cov_log_.copy()
        new.standard_errors_ = pd.Series(np.nan, index=names, name="standard_error")
        new.converged_ = False
        return new

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
        self._validate(summary, columns, fitting=False)
        arrays = [summary[c].to_numpy(dtype=float) for c in columns]
        if self.uses_time:
            unit = summary.attrs.get("time_unit")
            if unit is not None and normalize_unit(unit) != self.time_unit_:
                arrays = [convert(a, unit, self.time_unit_) if c in self.time_columns else a
                          for c, a in zip(columns, arrays)]
        return summary.index, arrays


def _as_horizons(t, name: str = "t") -> tuple[np.ndarray, bool]:
    """Horizon(s) as a 1-D float array and whether a scalar was given."""
    arr = np.asarray(t, dtype=float)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a number or a 1-D sequence of numbers.")
    if np.any(~np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{name} must be finite and non-negative, got {t!r}.")
    return arr, scalar


def _customer_horizons(t: pd.Series, summary: pd.DataFrame) -> np.ndarray:
    """One horizon per customer of ``summary``, from a Series indexed by customer id."""
    ids = summary.index
    missing = ids[~ids.isin(t.index)]
    extra = t.index[~t.index.isin(ids)]
    if len(missing) or len(extra) or not t.index.is_unique or len(t) != len(ids):
        duplicated = t.index[t.index.duplicated()]
        raise DataError(
            f"The horizons t (a Series: one per customer) must be indexed by the summary's "
            f"customer ids: {len(missing)} customer(s) of the summary have no horizon, "
            f"{len(extra)} id(s) of t are not in the summary and {len(duplicated)} are "
            "repeated. Align it first, e.g. t.reindex(summary.index).",
            column="t", rule="unaligned_horizons",
            n_rows=len(missing) + len(extra) + len(duplicated),
            examples=[*missing[:3], *extra[:3], *duplicated[:3]])
    values = pd.to_numeric(t, errors="coerce").reindex(ids).to_numpy(dtype=float,
                                                                     na_value=np.nan)
    fail_rows(~np.isfinite(values) | (values < 0), t.reindex(ids), column="t",
              rule="bad_horizons", what="are missing, infinite or negative horizons")
    return values


def _as_counts(n) -> tuple[np.ndarray, bool]:
    arr = np.asarray(n)
    scalar = arr.ndim == 0
    arr = np.atleast_1d(arr).astype(float)
    if (arr.ndim != 1 or np.any(~np.isfinite(arr)) or np.any(arr < 0)
            or np.any(arr != np.round(arr))):
        raise ValueError(
            f"n must be a non-negative whole number or a 1-D sequence of them, got {n!r}.")
    return arr, scalar


class _History:
    """Validated purchase histories, with formulas evaluated once per distinct row.

    ``evaluate(func, names)`` calls ``func`` on the distinct rows of the named
    columns and expands the result back to every customer when that saves work
    (large summaries with repeated rows, e.g. ages in whole days).
    """

    #: Look for distinct rows above this many customers.
    MIN_ROWS = 2_000

    def __init__(self, index, x, t_x, T) -> None:
        self.index = index
        self.columns = {"x": x, "t_x": t_x, "T": T}
        self._groups: dict[tuple, tuple | None] = {}

    def _grouping(self, names: tuple):
        if names not in self._groups:
            cols = [self.columns[n] for n in names]
            group = None
            if len(cols[0]) >= self.MIN_ROWS and worth_grouping(cols):
                codes, first = group_rows(cols)
                if len(first) < 0.7 * len(codes):
                    group = (codes, first)
            self._groups[names] = group
        return self._groups[names]

    def evaluate(self, func, names: tuple = ("x", "t_x", "T")):
        """``func(*columns)`` (rows first) for every customer."""
        cols = [self.columns[n] for n in names]
        group = self._grouping(tuple(names))
        if group is None:
            return func(*cols)
        codes, first = group
        return func(*(c[first] for c in cols))[codes]


class TransactionModel(ParametricModel):
    """Prediction methods shared by the purchase-count models (BG/NBD, MBG/NBD, ...).

    A subclass declares ``formulas``: a module (or namespace) with the functions

    ``probability_alive(x, t_x, T, *params)``,
    ``probability_alive_at(t, x, t_x, T, *params)`` (alive ``t`` after T),
    ``conditional_expected_purchases(t, x, t_x, T, *params)``,
    ``expected_purchases(t, *params)``,
    ``probability_of_purchases(n, t, *params)`` and
    ``conditional_probability_of_purchases(n, t, x, t_x, T, *params)``,

    vectorised numpy functions that broadcast over their arguments. Predictions
    are computed once per distinct ``(frequency, recency, T)`` row and returned
    as pandas objects indexed by customer id; the summary is never modified.
    """

    formulas: ClassVar[ModuleType | Any] = None

    def _true_log_likelihood(self, nll_scaled, data, weights, c_t, c_m, params) -> float:
        # The likelihood of a history with x repeat purchases is a density of x
        # purchase times: rescaling time by c multiplies it by c**-x.
        x = data[list(self.data_columns).index("frequency")]
        return -nll_scaled + np.log(c_t) * float(np.einsum("n,n->", weights, x))
    #: ``expected_purchases`` accepts a sequence of horizons (used by
    #: :func:`clvmodels.clv.customer_lifetime_value`).
    supports_horizon_arrays: ClassVar[bool] = True

    def _history(self, summary) -> "_History":
        index, (x, t_x, T) = self._arrays(summary, ("frequency", "recency", "T"))
        return _History(index, x, t_x, T)

    def _purchases_kernel(self, summary):
        """``f(times, params, combine=None)``: cumulative expected purchases.

        Returns ``(customers, len(times))`` values, or their product with the
        matrix ``combine`` (``(len(times), m)`` -> ``(customers, m)``), formed
        before expanding distinct rows to customers. Validation and the search
        for distinct rows happen once, so the kernel is cheap to evaluate for
        many parameter draws (:func:`clvmodels.clv.customer_lifetime_value`).
        """
        hist = self._history(summary)
        f = self.formulas
        if hasattr(f, "expected_purchases_if_alive"):
            # E = P(alive | x, t_x, T) * E(purchases | alive, x, T): the expensive
            # second factor does not depend on recency, so it is computed once
            # per distinct (frequency, T).
            def kernel(times, params, combine=None):
                times = np.asarray(times, dtype=float)
                x, t_x, T = hist.columns["x"], hist.columns["t_x"], hist.columns["T"]
                p_alive = f.probability_alive(x, t_x, T, *params)

                def alive(x_, T_):
                    e = f.expected_purchases_if_alive(times[None, :], x_[:, None], T_[:, None],
                                                      *params)
                    return e if combine is None else e @ combine

                return p_alive[:, None] * hist.evaluate(alive, ("x", "T"))
        else:
            def kernel(times, params, combine=None):
                times = np.asarray(times, dtype=float)

                def cumulative(x_, tx_, T_):
                    e = f.conditional_expected_purchases(
                        times[None, :], x_[:, None], tx_[:, None], T_[:, None], *params)
                    return e if combine is None else e @ combine

                return hist.evaluate(cumulative)

        return hist.index, kernel

    # ------------------------------------------------------------------ draws
    _UNCERTAINTY_DOC = """
        interval
            If given (e.g. 0.9), return a DataFrame with the ``mean``, ``lower``
            and ``upper`` over parameter draws, the bounds being the equal-tailed
            ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles
            (``numpy.quantile``, linear interpolation).
        return_draws
            Return every draw instead: an ``xarray.DataArray`` with dims
            ``(customer_id[, t or n], draw)`` (customers x draws values: use it on
            a subset of customers or with ``n_draws``).
        n_draws
            Number of parameter draws. NUTS/ADVI fits: default every posterior
            draw; a smaller number picks a random subset. MLE/MAP fits: default
            1000 asymptotic normal draws.
        random_state
            Seed or ``numpy.random.Generator`` of the draws.
    """

    @staticmethod
    def _param_arrays(draws: np.ndarray) -> list[np.ndarray]:
        """Draws as broadcastable parameter arrays of shape ``(1, n_draws, 1)``."""
        return [draws[:, j][None, :, None] for j in range(draws.shape[1])]

    def _purchases_draws_function(self, points: np.ndarray):
        """``func([x, T, t_x], draws) -> (rows, draws, len(points))`` cumulative expected
        purchases (for :func:`~clvmodels.inference.draws.reduce_draws`; rows are
        sorted by ``(x, T)`` so the factor that ignores recency is computed once
        per distinct ``(x, T)`` of a block)."""
        f = self.formulas
        times = np.asarray(points, dtype=float)[None, None, :]

        def func(cols, draws):
            x, T, t_x = cols
            P = self._param_arrays(draws)
            X, TT, TX = (c[:, None, None] for c in (x, T, t_x))
            if not hasattr(f, "expected_purchases_if_alive"):
                return f.conditional_expected_purchases(times, X, TX, TT, *P)
            p_alive = f.probability_alive(X, TX, TT, *P)
            new = np.ones(len(x), dtype=bool)
            new[1:] = (x[1:] != x[:-1]) | (T[1:] != T[:-1])
            group = np.cumsum(new) - 1
            ux, uT = x[new], T[new]
            alive = f.expected_purchases_if_alive(times, ux[:, None, None], uT[:, None, None],
                                                  *P)
            return p_alive * alive[group]

        return func

    def _history_columns(self, summary):
        hist = self._history(summary)
        c = hist.columns
        return hist.index, [c["x"], c["T"], c["t_x"]]

    # ------------------------------------------------------------------ predictions
    def probability_alive(self, summary: pd.DataFrame, t=None, *,
                          interval: float | None = None, return_draws: bool = False,
                          n_draws: int | None = None, random_state=None):
        """Probability that each customer is alive at the end of observation, or
        ``t`` later.

        Parameters
        ----------
        summary
            RFM summary of the customers.
        t
            Time after the end of observation (in ``time_unit_``): a number, or a
            pandas Series indexed by customer id (one per customer). Default: at
            the end of observation. BG/NBD calls every customer without a repeat
            purchase alive at the end of observation, however long ago they
            bought: a later ``t`` shows the dropout the model expects from then on.
        {uncertainty}
        Returns
        -------
        Series indexed by customer id (see the formulas module for the paper and
        equation); a DataFrame ``mean, lower, upper`` with ``interval``.
        """
        if t is not None:
            return self._probability_alive_later(summary, t, interval=interval,
                                                 return_draws=return_draws, n_draws=n_draws,
                                                 random_state=random_state)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            f = self.formulas

            def func(cols, draws):
                x, T, t_x = (c[:, None] for c in cols)
                return f.probability_alive(x, t_x, T, *(d[None, :] for d in draws.T))

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "probability_alive", interval=interval,
                                return_draws=return_draws)
        hist = self._history(summary)
        c = hist.columns  # cheap formula: no search for distinct rows
        values = self.formulas.probability_alive(c["x"], c["t_x"], c["T"], *self._params_tuple())
        return pd.Series(values, index=hist.index, name="probability_alive")

    def _probability_alive_later(self, summary, t, *, interval, return_draws, n_draws,
                                 random_state):
        """:meth:`probability_alive` ``t`` after the end of observation."""
        f = self.formulas
        if isinstance(t, pd.Series):
            later = _customer_horizons(t, summary)
        else:
            later, scalar = _as_horizons(t)
            if not scalar:
                raise ValueError("t must be a single number, or a Series with one per "
                                 "customer.")
            later = np.full(len(summary), later[0])
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)

            def func(cols, draws):
                x, T, t_x, h = (c[:, None] for c in cols)
                return f.probability_alive_at(h, x, t_x, T, *(d[None, :] for d in draws.T))

            res = self._reduce([*cols, later], func, n_draws=n_draws,
                               random_state=random_state, interval=interval,
                               return_draws=return_draws)
            return self._format(res, index, "probability_alive", interval=interval,
                                return_draws=return_draws)
        index, (x, t_x, T) = self._arrays(summary, ("frequency", "recency", "T"))
        values = f.probability_alive_at(later, x, t_x, T, *self._params_tuple())
        return pd.Series(values, index=index, name="probability_alive")

    def expected_purchases(self, summary: pd.DataFrame, t, t_start=None, *,
                           interval: float | None = None, return_draws: bool = False,
                           n_draws: int | None = None, random_state=None,
                           interval_kind: str = "expected"):
        """Expected number of purchases of each customer after the observation end.

        Parameters
        ----------
        summary
            RFM summary of the customers (its ``time_unit`` attribute, if any, is
            converted to the model's).
        t
            Horizon(s) in the model's ``time_unit_``: purchases in ``(T, T + t]``.
            A sequence gives one column per horizon. A pandas Series indexed by
            customer id gives one horizon per customer (its ids must be those of
            ``summary``, in any order; a :class:`~clvmodels.exceptions.DataError`
            otherwise) and a Series back.
        t_start
            If given, purchases in ``(T + t_start, T + t]`` instead.
        interval_kind
            ``"expected"`` (default): the interval of the *expected* number of
            purchases over parameter draws (how sure the model is of the mean).
            ``"predictive"``: the interval of the number of purchases the customer
            will make, from P(X(t) = n | history) (FHL eq. 8 given alive; mixed
            over posterior draws for NUTS/ADVI fits, the plug-in estimate
            otherwise, whose uncertainty is small beside a customer's own): from
            the ``(1 - interval) / 2`` quantile up to the smallest count that
            holds at least ``interval`` of the probability. What users mean by
            "this customer will buy between L and U"; whole numbers, so at least
            ``interval`` of customers fall in it. Scalar ``t`` only.
        {uncertainty}
        Returns
        -------
        Series (scalar ``t``) or DataFrame (columns = horizons) indexed by customer
        id. With ``interval``: a DataFrame ``mean, lower, upper`` (scalar ``t``) or
        with columns ``(t, statistic)``.
        """
        if interval_kind not in ("expected", "predictive"):
            raise ValueError(f"interval_kind must be 'expected' or 'predictive', got "
                             f"{interval_kind!r}.")
        if interval_kind == "predictive" and interval is not None:
            return self._predictive_purchases(summary, t, t_start, interval, n_draws,
                                              random_state)
        if isinstance(t, pd.Series):
            if t_start is not None:
                raise ValueError("t_start is not available with one horizon per customer.")
            return self._expected_purchases_per_customer(
                summary, t, interval=interval, return_draws=return_draws, n_draws=n_draws,
                random_state=random_state)
        horizons, scalar = _as_horizons(t)
        start = None
        if t_start is not None:
            start, _ = _as_horizons(t_start, "t_start")
            if start.size != 1:
                raise ValueError("t_start must be a single number.")
            if np.any(horizons < start[0]):
                raise ValueError(f"t must be >= t_start ({float(start[0])}).")
        points = horizons if start is None else np.concatenate([start, horizons])
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            cumulative = self._purchases_draws_function(points)

            def func(cols, draws):
                values = cumulative(cols, draws)
                return values if start is None else values[:, :, 1:] - values[:, :, :1]

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "expected_purchases",
                                labels=None if scalar else horizons, label_name="t",
                                interval=interval, return_draws=return_draws)
        index, kernel = self._purchases_kernel(summary)
        values = kernel(points, self._params_tuple())
        if start is not None:
            values = values[:, 1:] - values[:, :1]
        if scalar:
            return pd.Series(values[:, 0], index=index, name="expected_purchases")
        return pd.DataFrame(values, index=index, columns=pd.Index(horizons, name="t"))

    #: Posterior draws mixed into a predictive interval of a NUTS/ADVI fit (default).
    PREDICTIVE_DRAWS: ClassVar[int] = 200

    def _predictive_purchases(self, summary, t, t_start, interval, n_draws, random_state):
        """``expected_purchases(..., interval_kind="predictive")``: the mean, and the
        quantiles of the number of purchases in ``(T, T + t]``."""
        lo_q, hi_q = interval_quantiles(interval)
        horizon, scalar = _as_horizons(t)
        if t_start is not None or not scalar or isinstance(t, pd.Series):
            raise ValueError("A predictive interval takes one horizon t (a number), "
                             "without t_start.")
        mean = self.expected_purchases(summary, float(horizon[0]))
        index, (x, t_x, T) = self._arrays(summary, ("frequency", "recency", "T"))
        if self._has_posterior():
            n = int(n_draws) if n_draws is not None else self.PREDICTIVE_DRAWS
            draws = self._prediction_draws(n, random_state)
        else:
            draws = np.asarray([self._params_tuple()])
        f = self.formulas
        # The interval starts at the (1 - interval) / 2 quantile and ends where it
        # holds at least ``interval`` of the probability: when that quantile is 0
        # (most customers), no probability is lost below it, so the upper end need
        # not reach the (1 + interval) / 2 quantile (less conservative for counts).
        lower = np.full(len(index), -1.0)
        upper = np.full(len(index), -1.0)
        target = np.full(len(index), np.inf)  # P(X < lower) + interval, once lower is known
        cdf = np.zeros(len(index))
        step, start = 16, 0
        while (upper < 0).any():
            counts = np.arange(start, start + step, dtype=float)
            todo = upper < 0
            pmf = np.mean([f.conditional_probability_of_purchases(
                counts[None, :], float(horizon[0]), x[todo, None], t_x[todo, None],
                T[todo, None], *params) for params in draws], axis=0)
            running = cdf[todo, None] + np.cumsum(pmf, axis=1)
            low, goal = lower[todo], target[todo]
            new = (low < 0) & (running >= lo_q - 1e-12).any(axis=1)
            at = np.argmax(running >= lo_q - 1e-12, axis=1)
            rows = np.flatnonzero(new)
            low[rows] = counts[at[rows]]
            goal[rows] = running[rows, at[rows]] - pmf[rows, at[rows]] + interval
            reached = running >= np.minimum(goal, 1.0)[:, None] - 1e-12
            up = upper[todo]
            found = reached.any(axis=1) & (up < 0)
            up[found] = counts[np.argmax(reached, axis=1)[found]]
            lower[todo], target[todo], upper[todo] = low, goal, up
            cdf[todo] = running[:, -1]
            start += step
            step *= 2
            if start > 1e6:  # pragma: no cover - a pmf that never sums to one
                raise ConvergenceError("The predictive distribution of purchases did not "
                                       "sum to one within a million purchases.")
        return pd.DataFrame({"mean": mean.to_numpy(), "lower": lower, "upper": upper},
                            index=index)

    def _cumulative_purchases(self, t, x, t_x, T, params):
        """Expected purchases in ``(T, T + t]``, broadcast elementwise over the arrays."""
        f = self.formulas
        if hasattr(f, "expected_purchases_if_alive"):
            return (f.probability_alive(x, t_x, T, *params)
                    * f.expected_purchases_if_alive(t, x, T, *params))
        return f.conditional_expected_purchases(t, x, t_x, T, *params)

    def _expected_purchases_per_customer(self, summary, t: pd.Series, *, interval,
                                         return_draws, n_draws, random_state):
        """:meth:`expected_purchases` with one horizon per customer (a Series)."""
        horizons = _customer_horizons(t, summary)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)

            def func(cols, draws):
                x, T, t_x, h = (c[:, None, None] for c in cols)
                return self._cumulative_purchases(h, x, t_x, T, self._param_arrays(draws))

            res = self._reduce([*cols, horizons], func, n_draws=n_draws,
                               random_state=random_state, interval=interval,
                               return_draws=return_draws)
            return self._format(res, index, "expected_purchases", interval=interval,
                                return_draws=return_draws)
        index, (x, t_x, T) = self._arrays(summary, ("frequency", "recency", "T"))
        values = self._cumulative_purchases(horizons, x, t_x, T, self._params_tuple())
        return pd.Series(values, index=index, name="expected_purchases")

    def _unconditional(self, func, labels, label_name, name, scalar, interval, return_draws,
                       n_draws, random_state):
        """A prediction for a new customer (no history) with draws."""
        res = self._reduce([], func, n_draws=n_draws, random_state=random_state,
                           interval=interval, return_draws=return_draws)
        if return_draws:
            import xarray as xr

            values = res.draws[0]  # (labels, draws)
            da = xr.DataArray(values, dims=(label_name, "draw"),
                              coords={label_name: np.asarray(labels),
                                      "draw": np.arange(values.shape[-1])}, name=name)
            return da.isel({label_name: 0}) if scalar else da
        index = pd.Index(np.asarray(labels), name=label_name)
        if interval is None:
            if scalar:
                return float(res.mean[0, 0])
            return pd.Series(res.mean[0], index=index, name=name)
        return pd.DataFrame({"mean": res.mean[0], "lower": res.lower[0],
                             "upper": res.upper[0]}, index=index)

    def expected_purchases_new_customer(self, t, *, interval: float | None = None,
                                        return_draws: bool = False,
                                        n_draws: int | None = None, random_state=None):
        """Expected repeat purchases of a new customer in ``(0, t]`` (unconditional).

        Returns a float for a scalar ``t``, else a Series indexed by ``t``; with
        ``interval`` a DataFrame ``mean, lower, upper`` indexed by ``t`` (see
        :meth:`expected_purchases` for ``interval``, ``return_draws``, ``n_draws``).
        """
        horizons, scalar = _as_horizons(t)
        if self._uses_draws(interval, return_draws):
            f = self.formulas

            def func(cols, draws):
                return f.expected_purchases(horizons[None, None, :], *self._param_arrays(draws))

            return self._unconditional(func, horizons, "t", "expected_purchases", scalar,
                                       interval, return_draws, n_draws, random_state)
        values = self.formulas.expected_purchases(horizons, *self._params_tuple())
        if scalar:
            return float(values[0])
        return pd.Series(values, index=pd.Index(horizons, name="t"), name="expected_purchases")

    def probability_of_purchases(self, t: float, n, *, interval: float | None = None,
                                 return_draws: bool = False, n_draws: int | None = None,
                                 random_state=None):
        """Probability that a new customer makes ``n`` repeat purchases in ``(0, t]``.

        Returns a float for a scalar ``n``, else a Series indexed by ``n``; with
        ``interval`` a DataFrame ``mean, lower, upper`` indexed by ``n``.
        """
        horizon, scalar_t = _as_horizons(t)
        if not scalar_t:
            raise ValueError("t must be a single number.")
        counts, scalar = _as_counts(n)
        if self._uses_draws(interval, return_draws):
            f = self.formulas

            def func(cols, draws):
                return f.probability_of_purchases(counts[None, None, :], horizon[0],
                                                  *self._param_arrays(draws))

            return self._unconditional(func, counts.astype(np.int64), "n", "probability",
                                       scalar, interval, return_draws, n_draws, random_state)
        values = self.formulas.probability_of_purchases(counts, horizon[0], *self._params_tuple())
        if scalar:
            return float(values[0])
        return pd.Series(values, index=pd.Index(counts.astype(np.int64), name="n"),
                         name="probability")

    def conditional_probability_of_purchases(self, summary: pd.DataFrame, t: float, n, *,
                                             interval: float | None = None,
                                             return_draws: bool = False,
                                             n_draws: int | None = None, random_state=None):
        """Probability that each customer makes ``n`` purchases in ``(T, T + t]``.

        Returns a Series (scalar ``n``) or a DataFrame (columns = ``n``) indexed by
        customer id; with ``interval`` a DataFrame ``mean, lower, upper`` (scalar
        ``n``) or with columns ``(n, statistic)`` (see :meth:`expected_purchases`).
        """
        horizon, scalar_t = _as_horizons(t)
        if not scalar_t:
            raise ValueError("t must be a single number.")
        counts, scalar = _as_counts(n)
        if self._uses_draws(interval, return_draws):
            index, cols = self._history_columns(summary)
            f = self.formulas

            def func(cols, draws):
                X, TT, TX = (c[:, None, None] for c in cols)
                return f.conditional_probability_of_purchases(
                    counts[None, None, :], horizon[0], X, TX, TT, *self._param_arrays(draws))

            res = self._reduce(cols, func, n_draws=n_draws, random_state=random_state,
                               interval=interval, return_draws=return_draws)
            return self._format(res, index, "probability",
                                labels=None if scalar else counts.astype(np.int64),
                                label_name="n", interval=interval, return_draws=return_draws)
        hist = self._history(summary)
        index = hist.index
        params = self._params_tuple()

        def pmf(x_, tx_, T_):
            return self.formulas.conditional_probability_of_purchases(
                counts[None, :], horizon[0], x_[:, None], tx_[:, None], T_[:, None], *params)

        values = hist.evaluate(pmf)
        if scalar:
            return pd.Series(values[:, 0], index=index, name="probability")
        return pd.DataFrame(values, index=index,
                            columns=pd.Index(counts.astype(np.int64), name="n"))

    def probability_of_no_purchase(self, summary: pd.DataFrame, t: float, *,
                                   interval: float | None = None, return_draws: bool = False,
                                   n_draws: int | None = None, random_state=None):
        """Probability that each customer makes no purchase in ``(T, T + t]`` (arguments
        as :meth:`conditional_probability_of_purchases`)."""
        out = self.conditional_probability_of_purchases(
            summary, t, 0, interval=interval, return_draws=return_draws, n_draws=n_draws,
            random_state=random_state)
        return out if isinstance(out, pd.DataFrame) else out.rename("probability_no_purchase")


for _name in ("probability_alive", "expected_purchases"):
    _method = getattr(TransactionModel, _name)
    _method.__doc__ = _method.__doc__.replace(
        "{uncertainty}", TransactionModel._UNCERTAINTY_DOC.strip("\n").lstrip() + "\n")
del _name, _method
