"""Saving and loading fitted models as JSON (no pickle).

A saved model is a small JSON document::

    {"format": "clvmodels.model", "format_version": 1,
     "clvmodels_version": "0.1.0",
     "class": "BetaGeoModel", "module": "clvmodels.models.beta_geo",
     "init_params": {...},               # constructor arguments
     "params": {"r": ..., ...},
     "cov": [[...]], "cov_log": [[...]], # natural and log-parameter covariance
     "attributes": {"time_unit_": "W", "log_likelihood_": ..., ...},
     "data_fingerprint": {"n_customers": 2357, "sha256": "..."}}

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
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save_model"]

FORMAT = "clvmodels.model"
FORMAT_VERSION = 1

# Scalar fitted attributes written when present.
_SCALAR_ATTRIBUTES = (
    "time_unit_", "log_likelihood_", "aic_", "bic_", "converged_", "n_customers_", "n_rows_",
    "spend_frequency_correlation_",
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
    model._check_fitted()
    names = list(model.params_.index)
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "clvmodels_version": _version(),
        "class": type(model).__name__,
        "module": type(model).__module__,
        "init_params": _jsonable(model.get_params()),
        "params": {n: float(model.params_[n]) for n in names},
        "cov": model.cov_.loc[names, names].to_numpy().tolist(),
        "cov_log": model.cov_log_.loc[names, names].to_numpy().tolist(),
        "attributes": {a: _jsonable(getattr(model, a)) for a in _SCALAR_ATTRIBUTES
                       if hasattr(model, a)},
        "data_fingerprint": getattr(model, "data_fingerprint_", None),
    }
    Path(path).write_text(json.dumps(doc, indent=2, allow_nan=True))


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
    cls = _model_class(doc["class"], doc.get("module", ""))
    model = cls(**doc.get("init_params", {}))
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
    return model
