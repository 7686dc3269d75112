"""Saving and loading fitted models as JSON (no pickle).

A saved model is a small JSON document::

    {"format": "clvmodels.model", "format_version": 1,
     "clvmodels_version": "0.1.0",
     "class": "BetaGeoModel", "module": "clvmodels.models.beta_geo",
     "init_params": {...},               # constructor arguments (penalizer too)
     "params": {"r": ..., ...},
     "cov": [[...]], "cov_log": [[...]], # natural and log-parameter covariance
     "attributes": {"time_unit_": "W", "log_likelihood_": ..., ...},
     "data_fingerprint": {"n_customers": 2357, "sha256": "..."},
     "inference": {...},                 # Bayesian fits: method, sampler, settings
     "idata_file": "m.nc"}               # NUTS/ADVI fits: the posterior (NetCDF)

A Bayesian fit (``method="nuts"`` or ``"advi"``) also writes its ArviZ
``InferenceData`` (posterior draws, sample statistics, observed data) as NetCDF
beside the JSON file, with the same name and the suffix ``.nc``
(``model.save("m.json")`` writes ``m.json`` and ``m.nc``); :func:`load` reads
both. Priors given as :class:`~clvmodels.priors.Prior` objects are saved as
data; a prior given as a Python callable cannot be, so a loaded model keeps
its posterior but would use the default prior for that parameter if refitted
(a warning says so).

:func:`load` only instantiates classes in :data:`MODEL_REGISTRY`, where every
concrete :class:`~clvmodels.models.parametric.ParametricModel` subclass
registers itself when it is defined (:func:`register_model`; modules inside
``clvmodels`` are imported on demand), never arbitrary code. This module
imports no model. The fingerprint lets a user check that a
model was fitted on the data they think
(``model.data_fingerprint(summary) == model.data_fingerprint_``).
"""

from __future__ import annotations

import importlib
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_paths
from .exceptions import ModelFileError

__all__ = ["FORMAT", "FORMAT_VERSION", "MODEL_REGISTRY", "ModelFileError", "load",
           "register_model", "save_model"]

FORMAT = "clvmodels.model"
FORMAT_VERSION = 1

#: Every concrete parametric model class by name (filled by :func:`register_model`,
#: which :class:`~clvmodels.models.parametric.ParametricModel` calls for each
#: subclass); :func:`load` instantiates only these.
MODEL_REGISTRY: dict[str, type] = {}


def register_model(cls: type) -> type:
    """Make ``cls`` loadable by :func:`load` (under its class name); returns ``cls``."""
    MODEL_REGISTRY[cls.__name__] = cls
    return cls


# Scalar fitted attributes written when present.
_SCALAR_ATTRIBUTES = (
    "time_unit_", "log_likelihood_", "aic_", "bic_", "converged_", "n_customers_", "n_rows_",
    "spend_frequency_correlation_", "log_posterior_", "inference_", "diagnostics_",
    "fit_status_", "fit_warnings_", "at_boundary_", "not_identified_", "exclusions_",
)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("clvmodels")
    except Exception:  # pragma: no cover - not installed
        return "unknown"


def _jsonable(value):
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, pd.Series):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    raise TypeError(
        f"Cannot save a constructor argument of type {type(value).__name__} as JSON."
    )


def save_model(model, path) -> None:
    """Write a fitted parametric model to ``path`` as JSON.

    Raises
    ------
    NotFittedError
        If the model is not fitted.
    """
    from .priors import priors_to_json

    model._check_fitted()
    path = Path(path)
    names = list(model.params_.index)
    init_params = dict(model.get_params())
    if "priors" in init_params:
        init_params["priors"] = priors_to_json(init_params["priors"])
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "clvmodels_version": _version(),
        "class": type(model).__name__,
        "module": type(model).__module__,
        "init_params": _jsonable(init_params),
        "params": {n: float(model.params_[n]) for n in names},
        "cov": model.cov_.loc[names, names].to_numpy().tolist(),
        "cov_log": model.cov_log_.loc[names, names].to_numpy().tolist(),
        "attributes": {a: _jsonable(getattr(model, a)) for a in _SCALAR_ATTRIBUTES
                       if hasattr(model, a)},
        "data_fingerprint": getattr(model, "data_fingerprint_", None),
    }
    for key in ("mle_params_", "mle_cov_log_"):
        value = getattr(model, key, None)
        if isinstance(value, pd.Series):
            doc.setdefault("bayes", {})[key] = {str(k): float(v) for k, v in value.items()}
        elif isinstance(value, pd.DataFrame):
            doc.setdefault("bayes", {})[key] = value.loc[names, names].to_numpy().tolist()
    idata = getattr(model, "idata_", None)
    targets = [path]
    if idata is not None:
        nc = path.with_suffix(".nc")
        if nc == path:
            raise ValueError(f"Save a Bayesian model to a .json path, not {path}: the "
                             "posterior is written beside it as .nc.")
        doc["idata_file"] = nc.name
        targets.append(nc)
    # Both files under temporary names, renamed when both are complete.
    with atomic_paths(*targets) as temps:
        if idata is not None:
            idata.to_netcdf(str(temps[1]))
        temps[0].write_text(json.dumps(doc, indent=2, allow_nan=True), encoding="utf-8")


_TOP_LEVEL_KEYS = frozenset({
    "format", "format_version", "clvmodels_version", "class", "module", "init_params",
    "params", "cov", "cov_log", "attributes", "data_fingerprint", "bayes", "idata_file",
})
_REQUIRED_KEYS = ("format", "format_version", "class", "params")
_NUMBER_ATTRIBUTES = ("log_likelihood_", "aic_", "bic_", "spend_frequency_correlation_",
                      "log_posterior_")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _model_class(path, name, module):
    if not isinstance(name, str):
        raise ModelFileError(path, f"'class' must be a class name, got {name!r}.",
                             rule="model_class")
    if name not in MODEL_REGISTRY and isinstance(module, str) and (
        module == "clvmodels" or module.startswith("clvmodels.")
    ):
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    if name not in MODEL_REGISTRY:
        raise ModelFileError(
            path, f"Unknown model class {name!r}; known: {sorted(MODEL_REGISTRY)}.",
            rule="model_class",
            remedy="Import the module that defines the class before loading, or save the "
                   "model again.")
    return MODEL_REGISTRY[name]


def _read_document(path: Path) -> dict:
    try:
        text = path.read_bytes().decode("utf-8")
        doc = json.loads(text)
    except UnicodeDecodeError:
        raise ModelFileError(path, "it is not UTF-8 text (not a JSON file).",
                             rule="not_json") from None
    except json.JSONDecodeError as error:
        raise ModelFileError(path, f"it is not valid JSON ({error}).", rule="not_json") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(path, f"it is not a saved clvmodels model (no \"format\": "
                             f"\"{FORMAT}\" entry; model.save() writes one).",
                             rule="not_a_model")
    missing = [k for k in _REQUIRED_KEYS if k not in doc]
    if missing:
        raise ModelFileError(path, f"it lacks the key(s) {missing}.", rule="missing_keys")
    unknown = sorted(set(doc) - _TOP_LEVEL_KEYS)
    if unknown:
        raise ModelFileError(path, f"unknown key(s) {unknown}; a saved model has only "
                             f"{sorted(_TOP_LEVEL_KEYS)}.", rule="unknown_keys")
    version = doc["format_version"]
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(path, f"'format_version' must be a whole number >= 1, got "
                             f"{version!r}.", rule="format_version")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path, f"it was written by a newer clvmodels ({doc.get('clvmodels_version')}, "
            f"format {version}; this one reads format {FORMAT_VERSION}).",
            rule="format_version", remedy="Upgrade clvmodels to read it.")
    return doc


def _parameters(path, doc, names, unbounded=()) -> pd.Series:
    raw = doc["params"]
    if not isinstance(raw, dict):
        raise ModelFileError(path, f"'params' must be a mapping of parameter names to "
                             f"values, got {type(raw).__name__}.", rule="params")
    missing = [n for n in names if n not in raw]
    extra = [n for n in raw if n not in names]
    if missing or extra:
        raise ModelFileError(
            path, f"the parameters of {doc['class']} are {names}; the file has "
            f"{list(raw)} (missing {missing}, unexpected {extra}).", rule="parameter_names")
    bad = {n: raw[n] for n in names if not _is_number(raw[n]) or not math.isfinite(raw[n])
           or (raw[n] <= 0 and n not in unbounded)}
    if bad:
        raise ModelFileError(
            path, f"every parameter of {doc['class']} must be a finite number > 0 (covariate "
            f"coefficients: any finite number); the file has {bad}.", rule="parameter_domain")
    return pd.Series([float(raw[n]) for n in names], index=names, name="estimate")


def _matrix(path, raw, names, key) -> pd.DataFrame:
    k = len(names)
    if raw is None:
        return pd.DataFrame(np.full((k, k), np.nan), index=names, columns=names)
    shape_ok = (isinstance(raw, list) and len(raw) == k
                and all(isinstance(row, list) and len(row) == k for row in raw))
    if not shape_ok:
        raise ModelFileError(path, f"{key!r} must be a {k} x {k} matrix (one row and column "
                             f"per parameter {names}).", rule="covariance_shape")
    if not all(v is None or _is_number(v) for row in raw for v in row):
        raise ModelFileError(path, f"{key!r} holds values that are not numbers.",
                             rule="covariance_values")
    arr = np.array([[math.nan if v is None else float(v) for v in row] for row in raw])
    if np.isinf(arr).any() or (np.diag(arr) < 0).any():
        raise ModelFileError(path, f"{key!r} has infinite values or negative variances.",
                             rule="covariance_values")
    return pd.DataFrame(arr, index=names, columns=names)


def _attributes(path, doc, cls) -> dict:
    from .units import normalize_unit

    raw = doc.get("attributes", {})
    if not isinstance(raw, dict):
        raise ModelFileError(path, "'attributes' must be a mapping.", rule="attributes")
    unknown = sorted(set(raw) - set(_SCALAR_ATTRIBUTES))
    if unknown:
        raise ModelFileError(path, f"unknown attribute(s) {unknown}.", rule="attributes")
    problems = []
    for key in _NUMBER_ATTRIBUTES:
        if raw.get(key) is not None and not _is_number(raw[key]):
            problems.append(f"{key} must be a number, got {raw[key]!r}")
    for key in ("n_customers_", "n_rows_"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value < 0):
            problems.append(f"{key} must be a whole number >= 0, got {value!r}")
    if "converged_" in raw and not isinstance(raw["converged_"], bool):
        problems.append(f"converged_ must be true or false, got {raw['converged_']!r}")
    for key in ("inference_", "diagnostics_", "exclusions_"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            problems.append(f"{key} must be a mapping")
    if raw.get("fit_status_") is not None and not isinstance(raw["fit_status_"], str):
        problems.append(f"fit_status_ must be text, got {raw['fit_status_']!r}")
    for key in ("fit_warnings_", "at_boundary_", "not_identified_"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, list)
                                      and all(isinstance(v, str) for v in value)):
            problems.append(f"{key} must be a list of text, got {value!r}")
    unit = raw.get("time_unit_")
    if getattr(cls, "uses_time", False) or unit is not None:
        try:
            if not isinstance(unit, str):
                raise ValueError
            normalize_unit(unit)
        except ValueError:
            problems.append(f"time_unit_ must be a time unit (h, D, W, M or Y), got {unit!r}")
    if problems:
        raise ModelFileError(path, "; ".join(problems) + ".", rule="attributes")
    return raw


def _posterior(path: Path, doc, names, unbounded=()):
    """The NetCDF posterior beside ``path``, checked against the model's parameters
    (``unbounded``: covariate coefficients, any finite value)."""
    import arviz as az

    name = doc["idata_file"]
    if not isinstance(name, str) or Path(name).name != name or not name:
        raise ModelFileError(path, f"'idata_file' must be a file name beside it, got "
                             f"{name!r}.", rule="posterior")
    nc = path.with_name(name)
    if not nc.is_file():
        raise ModelFileError(path, f"it refers to the posterior {nc}, which does not exist.",
                             rule="posterior",
                             remedy="Keep the .nc file beside the .json file.")
    try:
        with az.rc_context({"data.load": "eager"}):
            idata = az.from_netcdf(str(nc))
        posterior = idata.posterior
    except Exception as error:  # any reader failure means a corrupt file
        raise ModelFileError(path, f"its posterior {nc} cannot be read "
                             f"({type(error).__name__}: {error}).", rule="posterior") from None
    missing = [n for n in names if n not in posterior.data_vars]
    if missing:
        raise ModelFileError(
            path, f"its posterior {nc} has no draws of {missing} (it holds "
            f"{sorted(map(str, posterior.data_vars))}): it belongs to another model.",
            rule="posterior")
    for n in names:
        values = np.asarray(posterior[n].values, dtype=float)
        if values.size == 0 or not np.all(np.isfinite(values)) or (
                n not in unbounded and np.any(values <= 0)):
            raise ModelFileError(path, f"the posterior draws of {n!r} in {nc} are not all "
                                 "finite" + ("." if n in unbounded else " and > 0."),
                                 rule="posterior")
    return idata


def load(path):
    """Read a model written by ``model.save(path)``; it is ready to predict.

    The file is checked before use: its structure (known keys only, a whole
    ``format_version``), the model class (only classes of clvmodels), the
    parameter names (exactly the model's, covariate coefficients included) and their
    values (finite and > 0, as every parameter of these models is, except the
    covariate coefficients), the covariance matrices' shape, the
    attributes' types, and the NetCDF posterior of a Bayesian fit.

    Raises
    ------
    ModelFileError
        (a :class:`~clvmodels.DataError`) naming the file and what is wrong with it.
    OSError
        If the file cannot be read (missing, a directory, no permission).
    """
    from .priors import priors_from_json

    path = Path(path)
    doc = _read_document(path)
    cls = _model_class(path, doc["class"], doc.get("module", ""))
    attributes = _attributes(path, doc, cls)
    init_params = doc.get("init_params", {})
    if not isinstance(init_params, dict):
        raise ModelFileError(path, "'init_params' must be a mapping.", rule="init_params")
    init_params = dict(init_params)
    penalizer = init_params.get("penalizer", 0.0)
    if not _is_number(penalizer) or not math.isfinite(penalizer) or penalizer < 0:
        raise ModelFileError(path, f"its penalizer must be a finite number >= 0, got "
                             f"{penalizer!r}.", rule="init_params")
    if "priors" in init_params:
        try:
            init_params["priors"], lost = priors_from_json(init_params["priors"])
        except Exception as error:  # a tampered prior description
            raise ModelFileError(path, f"its priors cannot be read ({error}).",
                                 rule="init_params") from None
        if lost:
            warnings.warn(
                f"The priors of {lost} were Python callables and could not be saved; the "
                "loaded model predicts with its saved posterior, but a refit would use the "
                "default priors for them.", UserWarning, stacklevel=2)
    try:
        model = cls(**init_params)
        names = model.param_names()  # with the coefficients of the model's covariates
    except (TypeError, ValueError) as error:
        _parameters(path, doc, cls.param_names())  # a file of another class: say that first
        raise ModelFileError(path, f"its 'init_params' do not fit {cls.__name__} ({error}).",
                             rule="init_params") from None
    unbounded = [n for n, p in zip(names, model.parameters) if not p.positive]
    params = _parameters(path, doc, names, unbounded)
    cov = _matrix(path, doc.get("cov"), names, "cov")
    cov_log = _matrix(path, doc.get("cov_log"), names, "cov_log")
    model.params_ = params
    model.cov_ = cov
    model.cov_log_ = cov_log
    model.standard_errors_ = pd.Series(np.sqrt(np.diag(cov.to_numpy())), index=names,
                                       name="standard_error")
    for key, value in attributes.items():
        setattr(model, key, value)
    if doc.get("data_fingerprint") is not None:
        if not isinstance(doc["data_fingerprint"], dict):
            raise ModelFileError(path, "'data_fingerprint' must be a mapping.",
                                 rule="data_fingerprint")
        model.data_fingerprint_ = doc["data_fingerprint"]
    bayes = doc.get("bayes", {})
    if not isinstance(bayes, dict) or set(bayes) - {"mle_params_", "mle_cov_log_"}:
        raise ModelFileError(path, "'bayes' must be a mapping with mle_params_ and "
                             "mle_cov_log_ only.", rule="bayes")
    if "mle_params_" in bayes:
        model.mle_params_ = _parameters(path, {"params": bayes["mle_params_"],
                                               "class": doc["class"]}, names, unbounded)
    if "mle_cov_log_" in bayes:
        model.mle_cov_log_ = _matrix(path, bayes["mle_cov_log_"], names, "mle_cov_log_")
    if doc.get("idata_file") is not None:
        model.idata_ = _posterior(path, doc, names, unbounded)
    return model
