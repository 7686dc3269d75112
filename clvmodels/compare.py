"""Model comparison: log-likelihood, AIC, BIC and likelihood-ratio tests.

:func:`compare` tabulates maximum-likelihood fits of several models on the same
summary; :func:`likelihood_ratio_test` tests a restricted model against one that
nests it.

Which models are nested: a model is nested in another when it is the other with
some parameters held at fixed values inside the parameter space, so that the
likelihood-ratio statistic is asymptotically chi-square with as many degrees of
freedom as parameters were fixed (Wilks 1938). None of BG/NBD, MBG/NBD and
Pareto/NBD is nested in another: MBG/NBD (Batislam, Denizel & Filiztekin 2007)
is not BG/NBD plus a free parameter but a different dropout rule (a chance to
drop out at time zero too) with the same four parameters, and neither BG/NBD
nor Pareto/NBD is a special case of the other. So :func:`compare` runs a test
only for pairs whose model class declares the nesting (a
``nested_in(other)`` method returning the number of parameters fixed, or None),
as models with and without covariates will; AIC and BIC compare the others.
Penalised fits (``penalizer > 0``) and Bayesian fits are not maximum-likelihood
estimates: they are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["compare", "likelihood_ratio_test"]


def _label(model, taken: set) -> str:
    name = type(model).__name__
    label, i = name, 2
    while label in taken:
        label, i = f"{name} ({i})", i + 1
    return label


def _check_model(label: str, model) -> None:
    if not hasattr(model, "params_"):
        from .exceptions import NotFittedError

        raise NotFittedError(f"{label} is not fitted yet: call .fit(summary) first.")
    if not hasattr(model, "log_likelihood_") or not hasattr(model, "param_names"):
        raise TypeError(f"{label} has no likelihood (a formula baseline, or a model made by "
                        "with_parameters): only fitted likelihood models can be compared.")
    method = getattr(model, "method", "mle")
    if method != "mle":
        raise ValueError(
            f"{label} is a Bayesian fit (method={method!r}): its log_likelihood_ is taken at "
            "the posterior mean, not the maximum, so AIC, BIC and likelihood-ratio tests do "
            "not apply. Compare maximum-likelihood fits, or Bayesian fits by "
            "arviz.compare (LOO) on their idata_.")
    if getattr(model, "penalizer", 0):
        raise ValueError(
            f"{label} was fitted with penalizer={model.penalizer:g}: a penalised estimate is "
            "not the maximum of the likelihood, so AIC, BIC and likelihood-ratio tests do not "
            "apply. Compare fits with penalizer=0.")


def _same_data(labels: list[str], models: list) -> None:
    """Refuse models fitted on different data (time unit, customers, rows)."""
    units = {lab: m.time_unit_ for lab, m in zip(labels, models)
             if getattr(m, "time_unit_", None) is not None}  # spend models have none
    if len(set(units.values())) > 1:
        raise ValueError(
            "The models were fitted in different time units "
            f"({', '.join(f'{k}: {v}' for k, v in units.items())}); a likelihood of purchase "
            "times depends on the unit. Fit them all with the same time_unit.")
    prints = {}
    for lab, m in zip(labels, models):
        fp = getattr(m, "data_fingerprint_", None)
        if not isinstance(fp, Mapping) or "sha256" not in fp:
            raise ValueError(
                f"{lab} has no data fingerprint (data_fingerprint_), so clvmodels cannot check "
                "that it was fitted on the same data as the others; refit it.")
        prints[lab] = (fp.get("n_customers"), fp["sha256"])
    if len(set(prints.values())) > 1:
        groups: dict = {}
        for lab, key in prints.items():
            groups.setdefault(key, []).append(lab)
        detail = "; ".join(f"{', '.join(labs)} on {key[0]} customers (data {key[1][:12]})"
                           for key, labs in groups.items())
        raise ValueError(
            "The models were not fitted on the same data, so their likelihoods are not "
            f"comparable: {detail}. Fit every model on the same summary (a spend model such "
            "as Gamma-Gamma uses other columns and only the repeat customers: compare it with "
            "spend models only).")


def _nesting(restricted, general) -> int | None:
    declared = getattr(restricted, "nested_in", None)
    if declared is None:
        return None
    df = declared(general)
    return None if df is None else int(df)


def _lrt(ll_restricted: float, ll_general: float, df: int) -> tuple[float, float]:
    statistic = max(2.0 * (ll_general - ll_restricted), 0.0)
    return statistic, float(stats.chi2.sf(statistic, df))


def likelihood_ratio_test(restricted, general, df: int | None = None) -> pd.Series:
    """Likelihood-ratio test of ``restricted`` against ``general``, which nests it.

    The statistic ``2 (ll_general - ll_restricted)`` is asymptotically
    chi-square with ``df`` degrees of freedom under the restricted model (Wilks);
    a small p-value rejects the restriction. (A restriction on the boundary of
    the parameter space, e.g. a variance held at 0, makes the test conservative.)

    Parameters
    ----------
    restricted, general
        Maximum-likelihood fits on the same data (checked by their fingerprints).
    df
        Number of parameters the restriction fixes. Default: what the restricted
        model's class declares (``nested_in(general)``); a pair of models that
        declare no nesting is refused, since the test is then meaningless (e.g.
        BG/NBD and MBG/NBD, neither of which nests the other). Pass ``df`` only
        for your own restricted fits.

    Returns
    -------
    Series ``restricted, general, log_likelihood_restricted,
    log_likelihood_general, lr_statistic, df, p_value``.
    """
    labels = ["restricted", "general"]
    models = [restricted, general]
    for lab, m in zip(labels, models):
        _check_model(f"The {lab} model ({type(m).__name__})", m)
    _same_data([f"the {lab} model ({type(m).__name__})" for lab, m in zip(labels, models)],
               models)
    if df is None:
        df = _nesting(restricted, general)
        if df is None:
            raise ValueError(
                f"{type(restricted).__name__} is not nested in {type(general).__name__} (it is "
                "not the other model with some parameters held fixed), so a likelihood-ratio "
                "test does not apply; compare them by AIC or BIC (clvmodels.compare), or by a "
                "holdout backtest (clvmodels.backtest).")
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"df must be a whole number >= 1, got {df!r}.")
    df = int(df)
    k_r, k_g = len(restricted.param_names()), len(general.param_names())
    if k_g - k_r != df:
        raise ValueError(
            f"df={df} but the general model has {k_g} parameters and the restricted one {k_r}: "
            "a restriction fixes as many parameters as the general model has more.")
    ll_r, ll_g = float(restricted.log_likelihood_), float(general.log_likelihood_)
    statistic, p = _lrt(ll_r, ll_g, df)
    return pd.Series({
        "restricted": type(restricted).__name__, "general": type(general).__name__,
        "log_likelihood_restricted": ll_r, "log_likelihood_general": ll_g,
        "lr_statistic": statistic, "df": df, "p_value": p,
    }, name="likelihood_ratio_test")


def compare(models: Sequence | Mapping) -> pd.DataFrame:
    """Compare maximum-likelihood fits on the same summary.

    Parameters
    ----------
    models
        Fitted models (a list, labelled by class name, or a dict ``{label:
        model}``), all fitted by maximum likelihood (``penalizer=0``) on the
        same customers in the same time unit: the data fingerprints
        (``data_fingerprint_``) must be equal, else a ``ValueError`` says which
        models differ.

    Returns
    -------
    DataFrame, one row per model (in the order given), indexed by label:
    ``model`` (class), ``log_likelihood`` (the total, comparable with the
    papers), ``n_params``, ``aic`` (``2k - 2 ll``), ``bic`` (``k ln n - 2 ll``),
    ``n_customers``, ``delta_aic`` and ``delta_bic`` (from the best, lowest,
    model), ``fit_status``; and for a model that its class declares nested in
    another model of the list (``nested_in``), the likelihood-ratio test
    against the one with the fewest extra parameters: ``nested_in`` (its
    label), ``lr_statistic``, ``df``, ``p_value`` (chi-square, scipy); empty
    for the others. No pair of BG/NBD, MBG/NBD and Pareto/NBD is nested.

    Examples
    --------
    >>> import clvmodels
    >>> log = clvmodels.datasets.load_cdnow("sample")
    >>> summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
    ...                                 calibration_period_end="1997-09-30", time_unit="W")
    >>> table = clvmodels.compare([clvmodels.BetaGeoModel().fit(summary),
    ...                            clvmodels.ParetoNBDModel().fit(summary)])
    >>> table["aic"].idxmin()
    'BetaGeoModel'
    """
    if isinstance(models, Mapping):
        labels = [str(k) for k in models]
        fitted = list(models.values())
    else:
        fitted = list(models)
        taken: set = set()
        labels = []
        for m in fitted:
            labels.append(_label(m, taken))
            taken.add(labels[-1])
    if not fitted:
        raise ValueError("compare() needs at least one fitted model.")
    for lab, m in zip(labels, fitted):
        _check_model(lab, m)
    _same_data(labels, fitted)
    rows = []
    for lab, m in zip(labels, fitted):
        ll = float(m.log_likelihood_)
        k = len(m.param_names())
        n = float(m.data_fingerprint_["n_customers"])
        rows.append({
            "model": type(m).__name__, "log_likelihood": ll, "n_params": k,
            "aic": 2 * k - 2 * ll, "bic": k * np.log(n) - 2 * ll,
            "n_customers": m.data_fingerprint_["n_customers"],
            "fit_status": getattr(m, "fit_status_", None),
        })
    table = pd.DataFrame(rows, index=pd.Index(labels, name="label"))
    table.insert(5, "delta_aic", table["aic"] - table["aic"].min())
    table.insert(6, "delta_bic", table["bic"] - table["bic"].min())
    nested_in = pd.Series(pd.NA, index=table.index, dtype="string")
    statistic = pd.Series(np.nan, index=table.index)
    dfs = pd.Series(pd.NA, index=table.index, dtype="Int64")
    pvalues = pd.Series(np.nan, index=table.index)
    for i, (lab, m) in enumerate(zip(labels, fitted)):
        best = None
        for j, (other_lab, other) in enumerate(zip(labels, fitted)):
            if i == j:
                continue
            df = _nesting(m, other)
            if df is not None and (best is None or df < best[0]):
                best = (df, other_lab, other)
        if best is not None:
            df, other_lab, other = best
            stat, p = _lrt(float(m.log_likelihood_), float(other.log_likelihood_), df)
            nested_in[lab], statistic[lab], dfs[lab], pvalues[lab] = other_lab, stat, df, p
    table["nested_in"] = nested_in
    table["lr_statistic"] = statistic
    table["df"] = dfs
    table["p_value"] = pvalues
    return table
