"""Parameter estimates of a fitted parametric model: covariance, intervals, draws.

:class:`EstimateMixin` is the part of
:class:`~clvmodels.models.parametric.ParametricModel` that turns a fit (maximum
likelihood: the estimate and the Hessian; Bayesian: the posterior draws) into
what users read and predictions use: ``cov_`` by the delta method,
``confidence_intervals``, ``summary``, ``sample_parameters`` (asymptotic normal
draws of the log-parameters, or posterior draws), ``with_parameters``, and the
reduction of a prediction over parameter draws into a mean and an interval
(:mod:`clvmodels.inference.draws`) formatted as pandas or xarray objects.
"""

from __future__ import annotations

import warnings
from typing import Self

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import ClvModelsWarning, ConvergenceWarning
from ..inference.draws import interval_quantiles, reduce_draws
from ..units import normalize_unit

#: Largest standard error of a parameter on the scale it is optimised on (the log
#: of a positive parameter, a covariate coefficient as it is) for it to count as
#: identified: above it a 95% interval spans more than a factor e^(2 x 1.96 x 5),
#: about 3e8, and parameter draws reach overflow. Such a parameter is treated like
#: one of a singular direction: NaN standard error, held at its estimate.
MAX_IDENTIFIED_SE = 5.0

__all__ = ["EstimateMixin"]


def _as_random_state(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)



class EstimateMixin:
    """Covariance, intervals and parameter draws of :class:`ParametricModel` (which see)."""

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
            point = self._to_theta(self.params_[self.param_names()].to_numpy(dtype=float))
            res = reduce_draws(columns, func, self._from_theta(point[None, :]),
                               interval=interval)
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

    def _set_covariance(self, H: np.ndarray | None, params: np.ndarray,
                        n_customers: float = 1.0) -> None:
        """Delta-method covariance: cov_ij = theta_i theta_j (H^-1)_ij, H in log-params
        (a covariate coefficient is optimised as it is: its factor is 1)."""
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
            with np.errstate(invalid="ignore"):
                loose = np.diag(cov_log) > MAX_IDENTIFIED_SE ** 2
            if loose.any():
                se = np.sqrt(np.diag(cov_log)[loose])
                warnings.warn(
                    f"The data barely identify {[n for n, w in zip(names, loose) if w]}: "
                    f"standard error(s) {', '.join(f'{v:.3g}' for v in se)} on the scale of "
                    f"the optimisation (log of a positive parameter), above "
                    f"{MAX_IDENTIFIED_SE:g}, so that a 95% interval spans more than a factor "
                    "of 1e8. Their standard errors are NaN and prediction intervals hold "
                    "them at their estimates (they ignore their uncertainty).",
                    ConvergenceWarning, stacklevel=4,
                )
                cov_log[loose, :] = np.nan
                cov_log[:, loose] = np.nan
        self.cov_log_ = pd.DataFrame(cov_log, index=names, columns=names)
        jac = np.where(self._positive(), params, 1.0)
        self.cov_ = pd.DataFrame(cov_log * np.outer(jac, jac), index=names, columns=names)
        self.standard_errors_ = pd.Series(np.sqrt(np.diag(self.cov_.to_numpy())), index=names,
                                          name="standard_error")

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
            coef = ~self._positive()
            if coef.any():  # covariate coefficients: symmetric intervals
                lower[coef], upper[coef] = (est - z * se_log)[coef], (est + z * se_log)[coef]
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
        theta = self._to_theta(self.params_[names].to_numpy(dtype=float))
        out = np.tile(theta, (int(n), 1))
        block = 0.5 * (block + block.T)
        out[:, free] = rng.multivariate_normal(theta[free], block, size=int(n), method="eigh")
        return self._from_theta(out)

    def with_parameters(self, params, time_unit: str | None = None) -> Self:
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
        positive = self._positive()
        if np.any(~np.isfinite(values.to_numpy()) | ((values.to_numpy() <= 0) & positive)):
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
