"""Static (time-invariant) covariates of the parametric models.

A model with covariates names summary columns at construction, for example
``BetaGeoModel(purchase_covariates=["channel_web"], dropout_covariates=["age"])``.
Each group of covariates scales some of the model's parameters per customer
through a log-link, as in PyMC-Marketing and CLVTools (Fader & Hardie 2007,
"Incorporating time-invariant covariates into the Pareto/NBD and BG/NBD models"):

=============  ==========  ===================================================
model          group       per-customer parameter
=============  ==========  ===================================================
BG/NBD         purchase    ``alpha_i = alpha * exp(-purchase_coef . x_i)``
BG/NBD         dropout     ``a_i = a * exp(dropout_coef_a . x_i)``,
                           ``b_i = b * exp(dropout_coef_b . x_i)``
Pareto/NBD     purchase    ``alpha_i = alpha * exp(-purchase_coef . x_i)``
Pareto/NBD     dropout     ``beta_i = beta * exp(-dropout_coef . x_i)``
Gamma-Gamma    spend       ``v_i = v * exp(spend_coef . x_i)``
=============  ==========  ===================================================

Signs: ``alpha`` and ``beta`` are scales of gamma *rate* distributions, so a
positive purchase (Pareto/NBD dropout) coefficient means a higher purchase
(dropout) rate, as in PyMC-Marketing (``alpha_scale * exp(-X @ coef)``) and
CLVTools. For BG/NBD a positive ``dropout_coef_a`` raises and a positive
``dropout_coef_b`` lowers the mean dropout probability ``a_i / (a_i + b_i)``.
The Gamma-Gamma scale ``v`` multiplies every customer's mean spend
``p v / (q - 1)``, so a positive spend coefficient means higher spend.

The coefficients are parameters like the others, named ``purchase_coef[col]``,
``dropout_coef[col]`` (BG/NBD: ``dropout_coef_a[col]`` and
``dropout_coef_b[col]``) and ``spend_coef[col]``: they are in ``params_``, get
standard errors and confidence intervals from the same delta-method covariance,
appear in ``summary()`` and in parameter draws. Unlike the other parameters they
are unbounded and optimised as they are (not on the log scale); their intervals
are symmetric (estimate +- z standard errors). With every coefficient zero the
model is exactly the model without covariates.

Bayesian fits (``method="map"``, ``"nuts"``, ``"advi"``) sample the coefficients
on their own scale with ``Normal(0, 1)`` priors by default
(:data:`clvmodels.priors.DEFAULT_COEFFICIENT_PRIOR`, overridable through
``priors=``); the posterior holds them under the names above, and the random
generator of :func:`clvmodels.inference.bayes.build_pymc_model` simulates each
customer with their own parameters (prior and posterior predictive checks).
``penalizer=`` adds ``penalizer * coef ** 2`` per customer for each coefficient
(:mod:`clvmodels.inference.penalty`). The MBG/NBD model has BG/NBD's links.

The covariates are read from the summary passed to ``fit`` and to every
prediction (each customer is predicted with their own covariates); they must be
numeric, finite and, in the fitted data, not constant (a constant covariate is
collinear with the intercept, i.e. the parameter it scales). Categorical columns
are turned into 0/1 columns by :func:`one_hot`. Covariates with a large range
(ages in days, incomes) are best centred and scaled first: the optimiser and
the coefficients' interpretation both prefer values of order one.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .exceptions import DataError

__all__ = ["BETA_GEO_LINKS", "GAMMA_GAMMA_LINKS", "PARETO_NBD_LINKS", "CovariateLink",
           "CovariateMixin", "join_attributes", "link_parameters", "one_hot"]


def one_hot(summary: pd.DataFrame, columns: Sequence[str] | str, drop_first: bool = True,
            prefix_sep: str = "_") -> pd.DataFrame:
    """A copy of ``summary`` with categorical ``columns`` replaced by 0/1 float columns.

    Every row is kept (missing values form no column of their own: a row with a
    missing category is a :class:`~clvmodels.exceptions.DataError`, so that no
    customer silently gets the reference level). The new columns are named
    ``f"{column}{prefix_sep}{level}"`` and come in the order of the sorted
    levels; ``summary.attrs`` are kept.

    Parameters
    ----------
    summary
        Any DataFrame (typically an RFM summary with customer attributes joined).
    columns
        The categorical column(s) to encode.
    drop_first
        Leave out the first (sorted) level of each column: it becomes the
        reference level, absorbed by the model's own parameter. Keep it True
        for covariates: with every level present the columns sum to one, which
        is collinear with that parameter.
    prefix_sep
        Separator between the column name and the level.

    Returns
    -------
    DataFrame with the same index and rows.

    Raises
    ------
    DataError
        A column is missing (``missing_columns``) or has missing values
        (``missing_values``).

    Examples
    --------
    >>> import pandas as pd
    >>> from clvmodels import one_hot
    >>> s = pd.DataFrame({"frequency": [1, 0, 2], "channel": ["web", "shop", "app"]})
    >>> one_hot(s, "channel").columns.tolist()
    ['frequency', 'channel_shop', 'channel_web']
    >>> one_hot(s, "channel")["channel_web"].tolist()
    [1.0, 0.0, 0.0]
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in summary.columns]
    if missing:
        raise DataError(f"one_hot: the summary lacks column(s) {missing}; it has "
                        f"{list(summary.columns)}.", column=missing[0], rule="missing_columns")
    out = summary.copy()
    for col in cols:
        values = summary[col]
        bad = values.isna().to_numpy()
        if bad.any():
            raise DataError(
                f"one_hot: {int(bad.sum())} row(s) of column {col!r} have no value; fill them "
                f"first (e.g. summary[{col!r}].fillna('unknown')) so that every customer "
                "keeps a level.", column=col, rule="missing_values", n_rows=int(bad.sum()),
                examples=list(summary.index[bad][:5]))
        levels = sorted(pd.unique(values), key=lambda v: (str(type(v)), v))
        position = out.columns.get_loc(col)
        out = out.drop(columns=[col])
        for j, level in enumerate(levels[1:] if drop_first else levels):
            name = f"{col}{prefix_sep}{level}"
            if name in out.columns:
                raise DataError(f"one_hot: column {name!r} exists already.", column=name,
                                rule="duplicate_columns")
            out.insert(position + j, name, (values == level).to_numpy(dtype=float))
    out.attrs = dict(summary.attrs)
    return out


def join_attributes(summary: pd.DataFrame, attributes: pd.DataFrame | None) -> pd.DataFrame:
    """``summary`` with the columns of ``attributes`` (one row per customer) added.

    ``attributes`` is indexed by customer id, like the summary, and holds static
    customer attributes (channel, region, age...), typically made numeric by
    :func:`one_hot` before or after the join. Every customer of the summary must
    have a row (a customer without one would silently get no covariates); rows of
    other customers are ignored. ``summary.attrs`` are kept. ``None`` returns
    ``summary`` itself.

    Raises
    ------
    DataError
        ``duplicate_ids`` (an id with several rows of attributes),
        ``covariate_is_data_column`` (an attribute named like a summary column),
        ``missing_attributes`` (customers of the summary without a row; the
        message counts them, shows a few, and says when the ids' types differ:
        ``1`` is not ``"1"``).

    Examples
    --------
    >>> import pandas as pd
    >>> s = pd.DataFrame({"frequency": [1, 0]}, index=pd.Index(["a", "b"], name="id"))
    >>> a = pd.DataFrame({"web": [0.0, 1.0, 1.0]}, index=["b", "a", "z"])
    >>> join_attributes(s, a)["web"].tolist()
    [1.0, 0.0]
    """
    if attributes is None:
        return summary
    ids = attributes.index
    if ids.has_duplicates:
        dup = ids[ids.duplicated(keep=False)]
        raise DataError(
            f"customer attributes: {len(dup)} rows share {dup.nunique()} customer id(s); "
            "keep one row per customer.", column=ids.name or "index", rule="duplicate_ids",
            n_rows=len(dup), examples=list(pd.unique(dup)[:5]))
    clash = [c for c in attributes.columns if c in summary.columns]
    if clash:
        raise DataError(
            f"customer attributes: column(s) {clash} are columns of the summary already; "
            "rename them.", column=clash[0], rule="covariate_is_data_column")
    absent = ~summary.index.isin(ids)
    if absent.any():
        n = int(absent.sum())
        types = {type(v).__name__ for v in summary.index[:1000]}
        theirs = {type(v).__name__ for v in ids[:1000]}
        hint = (f" The summary's ids are of type {sorted(types)}, the attributes' of "
                f"{sorted(theirs)}: convert one to the other." if types != theirs else "")
        raise DataError(
            f"customer attributes: {n} of {len(summary)} customers of the summary have no "
            f"row of attributes, so their covariates are unknown.{hint}",
            column=summary.index.name or "index", rule="missing_attributes", n_rows=n,
            examples=list(summary.index[absent][:5]))
    out = summary.join(attributes, how="left")
    out.attrs = dict(summary.attrs)
    return out


@dataclass(frozen=True)
class CovariateLink:
    """One log-link: covariates of ``group`` scale parameter ``target``.

    ``target_i = target * exp(sign * coefficients . x_i)``; the coefficients are
    named ``f"{prefix}[{column}]"``.
    """

    group: str
    target: str
    sign: int
    prefix: str


#: The log-links of each model (see the module docstring).
BETA_GEO_LINKS = (
    CovariateLink("purchase", "alpha", -1, "purchase_coef"),
    CovariateLink("dropout", "a", 1, "dropout_coef_a"),
    CovariateLink("dropout", "b", 1, "dropout_coef_b"),
)
PARETO_NBD_LINKS = (
    CovariateLink("purchase", "alpha", -1, "purchase_coef"),
    CovariateLink("dropout", "beta", -1, "dropout_coef"),
)
GAMMA_GAMMA_LINKS = (CovariateLink("spend", "v", 1, "spend_coef"),)


def link_parameters(params: dict, links, covariates, coefficients, n: int) -> dict:
    """Per-customer parameters: ``params`` (population values) scaled by the links.

    ``covariates`` is a DataFrame (or mapping of arrays) with ``n`` rows,
    ``coefficients`` a dict ``{"purchase_coef[col]": value, ...}`` named as the
    fitted model's coefficients. Returns ``params`` unchanged without
    coefficients, else a dict whose linked entries are arrays of length ``n``.
    Used by :mod:`clvmodels.simulate`.
    """
    if not coefficients:
        return dict(params)
    if covariates is None:
        raise ValueError("coefficients need covariates= (a DataFrame with one row per "
                         "customer).")
    frame = pd.DataFrame(covariates)
    if len(frame) != n:
        raise ValueError(f"covariates has {len(frame)} rows for {n} customers.")
    out = dict(params)
    by_prefix = {link.prefix: link for link in links}
    for name, value in coefficients.items():
        prefix, _, rest = str(name).partition("[")
        col = rest[:-1] if rest.endswith("]") else None
        if prefix not in by_prefix or col is None:
            raise ValueError(f"Unknown coefficient {name!r}: expected names like "
                             f"{[p + '[column]' for p in by_prefix]}.")
        if col not in frame.columns:
            raise ValueError(f"Coefficient {name!r} names column {col!r}, which covariates "
                             f"lacks (it has {list(frame.columns)}).")
        x = frame[col].to_numpy(dtype=float)
        if not np.all(np.isfinite(x)) or not np.isfinite(float(value)):
            raise ValueError(f"covariates[{col!r}] and {name} must be finite.")
        link = by_prefix[prefix]
        out[link.target] = out[link.target] * np.exp(link.sign * float(value) * x)
    return out


def _check_covariates(summary: pd.DataFrame, names: Sequence[str], *, fitting: bool,
                      data_columns: Sequence[str]) -> None:
    """DataError unless every covariate column exists, is numeric and finite (and, for a
    fit, not constant)."""
    clash = [c for c in names if c in data_columns]
    if clash:
        raise DataError(f"{clash} are the model's data columns and cannot be covariates.",
                        column=clash[0], rule="covariate_is_data_column")
    missing = [c for c in names if c not in summary.columns]
    if missing:
        raise DataError(
            f"The summary lacks the covariate column(s) {missing}; the model was built with "
            f"covariates {list(names)}. Join them to the summary (one value per customer) "
            "before fitting or predicting; categorical ones through clvmodels.one_hot.",
            column=missing[0], rule="missing_columns")
    for col in names:
        values = summary[col]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise DataError(
                f"Covariate column {col!r} must be numeric (dtype {values.dtype}, "
                f"{len(values)} rows); encode categories with clvmodels.one_hot(summary, "
                f"[{col!r}]).", column=col, rule="not_numeric", n_rows=len(values),
                examples=values.head(3).tolist())
        arr = values.to_numpy(dtype=float, na_value=np.nan)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataError(
                f"{int(bad.sum())} row(s) of covariate column {col!r} are missing, NaN or "
                "infinite; fill or drop those customers explicitly before fitting.",
                column=col, rule="not_finite", n_rows=int(bad.sum()),
                examples=list(summary.index[bad][:5]))
        if fitting and len(arr) and np.all(arr == arr[0]):
            raise DataError(
                f"Covariate column {col!r} has the same value ({arr[0]:g}) for all "
                f"{len(arr)} customers: it is collinear with the parameter it scales and "
                "its coefficient is not identified. Drop it from the covariates.",
                column=col, rule="constant_covariate", n_rows=len(arr))


@functools.lru_cache(maxsize=None)
def covariate_spec(base_spec, base_names: tuple, links: tuple, groups: tuple):
    """The :class:`~clvmodels.inference.mle.LikelihoodSpec` of a model with covariates.

    ``groups`` is ``((group, (column, ...)), ...)``. Data: the base data columns,
    then the distinct covariate columns; parameters: the base ones, then the
    coefficients. The optimiser passes every parameter as ``exp(theta)``; the
    coefficients are ``theta`` itself, so the wrapped likelihood takes their log.
    Cached, so a compiled gradient is reused across fits.
    """
    from .inference.mle import LikelihoodSpec
    from .likelihoods._math import NUMPY

    layout = _Layout(base_names, links, groups)
    nb_data, nb = base_spec.n_data, len(base_names)
    n_cov = len(layout.columns)

    def split(args):
        data = args[:nb_data]
        covs = args[nb_data:nb_data + n_cov]
        params = args[nb_data + n_cov:]
        return data, covs, params[:nb], params[nb:]

    def loglik(*args, xp=NUMPY):
        data, covs, base, coefs = split(args)
        rows = layout.apply(list(base), [xp.log(c) for c in coefs], list(covs), xp.exp)
        return base_spec.loglik(*data, *rows, xp=xp)

    loglik_grad = None
    if base_spec.has_gradient:
        def loglik_grad(*args):
            data, covs, base, coefs = split(args)
            gammas = [np.log(c) for c in coefs]
            rows = layout.apply(list(base), gammas, list(covs), np.exp)
            n = len(data[0])
            if base_spec.split_gradient:
                v1, g1 = base_spec.count_terms_grad(data[0], *rows)
                v2, g2 = base_spec.rest_terms_grad(*data, *rows)
                values = np.broadcast_to(v1, (n,)) + np.broadcast_to(v2, (n,))
                grads = (np.broadcast_to(np.asarray(g1), (nb, n))
                         + np.broadcast_to(np.asarray(g2), (nb, n)))
            else:
                values, grads = base_spec.loglik_grad(*data, *rows)
                grads = np.broadcast_to(np.asarray(grads), (nb, n))
            out = np.empty((nb + len(coefs), n))
            out[:nb] = grads
            for j, link in layout.linked:
                k = base_names.index(link.target)
                # d / d target (population) = d / d target_i * target_i / target
                d_row = grads[k] * np.broadcast_to(rows[k], (n,))  # d / d log target_i
                out[k] = d_row / base[k]
                for c, col in layout.coef_columns(link):
                    # d / d coef = d / d log target_i * sign * x; the engine multiplies
                    # by the coefficient's exp(theta), so divide by it here.
                    out[nb + c] = link.sign * d_row * covs[layout.columns.index(col)] / coefs[c]
            return values, out

    return LikelihoodSpec(loglik=loglik, n_params=nb + layout.n_coefs,
                          n_data=nb_data + n_cov, loglik_grad=loglik_grad)


class _Layout:
    """Where the coefficients of each link sit among the parameters and columns."""

    def __init__(self, base_names: tuple, links: tuple, groups: tuple) -> None:
        group_cols = dict(groups)
        self.columns = list(dict.fromkeys(c for _, cols in groups for c in cols))
        self.base_names = list(base_names)
        self.linked = []  # (link index, link) of links with columns
        self._coefs = {}  # link index -> [(coef index, column)]
        n = 0
        for j, link in enumerate(links):
            cols = group_cols.get(link.group, ())
            if cols:
                self.linked.append((j, link))
                self._coefs[j] = [(n + i, c) for i, c in enumerate(cols)]
                n += len(cols)
        self.n_coefs = n
        self.coef_names = [f"{link.prefix}[{c}]" for j, link in self.linked
                           for _, c in self._coefs[j]]
        self._index = {link: j for j, link in self.linked}

    def coef_columns(self, link):
        return self._coefs[self._index[link]]

    def apply(self, base: list, coefs: list, covs: list, exp) -> list:
        """The base parameters with the linked ones per row: ``target * exp(sign * eta)``."""
        out = list(base)
        for _, link in self.linked:
            eta = None
            for c, col in self.coef_columns(link):
                term = coefs[c] * covs[self.columns.index(col)]
                eta = term if eta is None else eta + term
            k = self.base_names.index(link.target)
            out[k] = out[k] * exp(link.sign * eta)
        return out


class _Declared:
    """A class attribute that an instance with covariates extends.

    On the class it is the declaration (``BetaGeoModel.parameters``); on an
    instance it adds the coefficients (parameters), the covariate columns (data
    columns) or wraps the likelihood.
    """

    def __init__(self, kind: str, base) -> None:
        self.kind, self.base = kind, base

    def __get__(self, obj, cls):
        if obj is None or not obj._covariate_groups():
            return self.base
        return getattr(obj, f"_with_covariates_{self.kind}")(self.base)


class CovariateMixin:
    """Covariates for a declared parametric model (placed before the base class).

    The model declares ``covariate_links`` (a tuple of :class:`CovariateLink`)
    and stores, in ``__init__``, one list of column names per group as
    ``f"{group}_covariates"``. Its ``parameters``, ``data_columns`` and
    ``likelihood`` are extended per instance (see the module docstring).
    """

    covariate_links: tuple = ()

    def __init_subclass__(cls, **kwargs) -> None:
        for kind in ("parameters", "data_columns", "likelihood"):
            value = getattr(cls, kind)
            if not isinstance(cls.__dict__.get(kind), _Declared):
                setattr(cls, kind, _Declared(kind, value.base if isinstance(value, _Declared)
                                             else value))
        super().__init_subclass__(**kwargs)

    # ------------------------------------------------------------------ declaration
    def _covariate_groups(self) -> tuple:
        """``((group, (column, ...)), ...)`` of the groups with covariates."""
        out = []
        for group in dict.fromkeys(link.group for link in self.covariate_links):
            cols = getattr(self, f"{group}_covariates", None)
            if cols is None:
                continue
            if isinstance(cols, str):
                cols = [cols]
            cols = tuple(cols)
            if len(set(cols)) != len(cols) or not all(isinstance(c, str) for c in cols):
                raise ValueError(f"{group}_covariates must be distinct column names, got "
                                 f"{list(cols)!r}.")
            if cols:
                out.append((group, cols))
        return tuple(out)

    def _layout(self) -> _Layout:
        return _Layout(tuple(p.name for p in type(self).parameters),
                       tuple(self.covariate_links), self._covariate_groups())

    def covariate_columns(self) -> list[str]:
        """The distinct covariate columns the model reads from a summary (in order)."""
        return list(dict.fromkeys(c for _, cols in self._covariate_groups() for c in cols))

    def _with_covariates_parameters(self, base):
        parameter = type(base[0])  # clvmodels.models.parametric.Parameter
        return tuple(base) + tuple(
            parameter(name, start=0.0, positive=False,
                      description="covariate coefficient (log-link)")
            for name in self._layout().coef_names)

    def _with_covariates_data_columns(self, base):
        return tuple(base) + tuple(self.covariate_columns())

    def _with_covariates_likelihood(self, base):
        return covariate_spec(base, tuple(p.name for p in type(self).parameters),
                              tuple(self.covariate_links), self._covariate_groups())

    def nested_in(self, other) -> int | None:
        """Number of coefficients ``other`` adds to this model (the degrees of freedom
        of a likelihood-ratio test, :func:`clvmodels.likelihood_ratio_test`), or None
        when ``other`` is not this model with more covariates."""
        if type(other) is not type(self):
            return None
        mine, theirs = set(self.param_names()), set(other.param_names())
        return len(theirs - mine) if mine < theirs else None

    # ------------------------------------------------------------------ hooks of the base
    def _check_covariates(self, summary: pd.DataFrame, *, fitting: bool) -> None:
        if self._covariate_groups():
            _check_covariates(summary, self.covariate_columns(), fitting=fitting,
                              data_columns=type(self).data_columns)

    def _row_params(self, params: Sequence, covs: Sequence) -> list:
        """The base parameters per row: ``params`` are every parameter (scalars or
        draws arrays), ``covs`` the covariate columns, shaped to broadcast with them."""
        groups = self._covariate_groups()
        nb = len(type(self).parameters)
        if not groups or not covs:  # no covariates, or the reference customer (all 0)
            return list(params)[:nb]
        layout = self._layout()
        return layout.apply(list(params)[:nb], list(params)[nb:], list(covs), np.exp)
