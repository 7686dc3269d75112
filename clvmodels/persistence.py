"""Saving and loading fitted models as JSON (no pickle).

A saved model is a small JSON document::

    {"format": "clvmodels.model", "format_version": 1,
     "clvmodels_version": "0.1.0",
     "class": "BetaGeoModel", "module": "clvmodels.models.beta_geo",
     "init_params": {...},               # constructor arguments
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

:func:`load` only instantiates classes registered by
:class:`~clvmodels.models.parametric.ParametricModel` (modules inside
``clvmodels``), never arbitrary code. The fingerprint lets a user check that a
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

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save_model"]

FORMAT = "clvmodels.model"
FORMAT_VERSION = 1

# Scalar fitted attributes written when present.
_SCALAR_ATTRIBUTES = (
    "time_unit_", "log_likelihood_", "aic_", "bic_", "converged_", "n_customers_", "n_rows_",
    "spend_frequency_correlation_", "log_posterior_", "inference_", "diagnostics_",
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
    if idata is not None:
        nc = path.with_suffix(".nc")
        if nc == path:
            raise ValueError(f"Save a Bayesian model to a .json path, not {path}: the "
                             "posterior is written beside it as .nc.")
        idata.to_netcdf(str(nc))
        doc["idata_file"] = nc.name
    path.write_text(json.dumps(doc, indent=2, allow_nan=True))


def _model_class(name: str, module: str):
    from .models.parametric import MODEL_REGISTRY

    if name not in MODEL_REGISTRY and isinstance(module, str) and (
        module == "clvmodels" or module.startswith("clvmodels.")
    ):
        importlib.import_module(module)
    try:
        return MODEL_REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown model class {name!r}; known: {sorted(MODEL_REGISTRY)}. Import the module "
            "that defines it before loading."
        ) from None


def load(path):
    """Read a model written by ``model.save(path)``; it is ready to predict.

    Raises
    ------
    ValueError
        If the file is not a clvmodels model or its class is unknown.
    """
    doc = json.loads(Path(path).read_text())
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path} is not a saved clvmodels model.")
    if doc.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written by a newer clvmodels ({doc.get('clvmodels_version')}); "
            "upgrade clvmodels to read it."
        )
    from .priors import priors_from_json

    cls = _model_class(doc["class"], doc.get("module", ""))
    init_params = dict(doc.get("init_params", {}))
    if "priors" in init_params:
        init_params["priors"], lost = priors_from_json(init_params["priors"])
        if lost:
            warnings.warn(
                f"The priors of {lost} were Python callables and could not be saved; the "
                "loaded model predicts with its saved posterior, but a refit would use the "
                "default priors for them.", UserWarning, stacklevel=2)
    model = cls(**init_params)
    names = list(doc["params"])
    model.params_ = pd.Series([float(doc["params"][n]) for n in names], index=names,
                              name="estimate")

    def matrix(key):
        raw = doc.get(key)
        arr = np.full((len(names), len(names)), np.nan) if raw is None else np.array(
            [[math.nan if v is None else v for v in row] for row in raw], dtype=float)
        return pd.DataFrame(arr, index=names, columns=names)

    model.cov_ = matrix("cov")
    model.cov_log_ = matrix("cov_log")
    model.standard_errors_ = pd.Series(np.sqrt(np.diag(model.cov_.to_numpy())), index=names,
                                       name="standard_error")
    for key, value in doc.get("attributes", {}).items():
        if key in _SCALAR_ATTRIBUTES:
            setattr(model, key, value)
    if doc.get("data_fingerprint") is not None:
        model.data_fingerprint_ = doc["data_fingerprint"]
    bayes = doc.get("bayes", {})
    if "mle_params_" in bayes:
        model.mle_params_ = pd.Series(bayes["mle_params_"], dtype=float, name="estimate")
    if "mle_cov_log_" in bayes:
        model.mle_cov_log_ = pd.DataFrame(
            np.array([[math.nan if v is None else v for v in row]
                      for row in bayes["mle_cov_log_"]], dtype=float),
            index=names, columns=names)
    if doc.get("idata_file"):
        import arviz as az

        nc = Path(path).with_name(doc["idata_file"])
        if not nc.exists():
            raise ValueError(f"{path} refers to the posterior {nc}, which does not exist; keep "
                             "the .nc file beside the .json file.")
        with az.rc_context({"data.load": "eager"}):
            model.idata_ = az.from_netcdf(str(nc))
    return model
