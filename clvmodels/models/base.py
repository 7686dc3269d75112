"""Conventions every clvmodels model follows (those of scikit-learn).

``__init__`` stores its keyword arguments unchanged; ``fit`` returns ``self``;
learned attributes end in ``_``; :meth:`get_params`, :meth:`set_params` and
:func:`clone` work; a prediction before ``fit`` raises
:class:`~clvmodels.exceptions.NotFittedError`.
"""

from __future__ import annotations

import copy
import inspect

import pandas as pd

from ..exceptions import NotFittedError

__all__ = ["BaseModel", "clone", "summary_time_unit"]


def summary_time_unit(summary: pd.DataFrame, default: str = "D") -> str:
    """The time unit a summary is expressed in (``summary.attrs['time_unit']``)."""
    return summary.attrs.get("time_unit", default)


class BaseModel:
    """Parameter handling and the fitted check, shared by all models."""

    #: Attribute whose presence marks a fitted model.
    _fitted_attribute = "params_"

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            name for name, p in sig.parameters.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict:
        """The constructor arguments, as passed."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> "BaseModel":
        """Set constructor arguments; returns ``self``."""
        valid = set(self._param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"{type(self).__name__} has no parameter {key!r}; valid: {sorted(valid)}."
                )
            setattr(self, key, value)
        return self

    def is_fitted(self) -> bool:
        return hasattr(self, self._fitted_attribute)

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet: call .fit(summary) first."
            )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def clone(model: BaseModel) -> BaseModel:
    """A new, unfitted model with the same constructor arguments."""
    params = {k: copy.deepcopy(v) for k, v in model.get_params().items()}
    return type(model)(**params)
