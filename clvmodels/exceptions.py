"""Errors and warnings raised by clvmodels.

Every error about the user's data is a :class:`DataError` (a ``ValueError``) whose
message names the column, the rule that was broken, how many rows break it and a
few examples, so that a notebook user can fix the input without reading a
traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ClvModelsWarning",
    "ConvergenceError",
    "ConvergenceWarning",
    "DataError",
    "DataWarning",
    "ModelAssumptionWarning",
    "ModelFileError",
    "NotFittedError",
]


class DataError(ValueError):
    """The input data break a rule clvmodels needs.

    Parameters
    ----------
    message
        What is wrong and how to fix it.
    column
        The column at fault, if one is.
    rule
        A short machine-readable name of the rule (``"null_ids"``, ...).
    n_rows
        How many rows break the rule.
    examples
        A few offending values or rows, shown in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        rule: str | None = None,
        n_rows: int | None = None,
        examples: Sequence[Any] | None = None,
    ) -> None:
        self.column = column
        self.rule = rule
        self.n_rows = n_rows
        self.examples = list(examples) if examples is not None else []
        if self.examples:
            shown = ", ".join(repr(e) for e in self.examples)
            message = f"{message} Examples: {shown}."
        super().__init__(message)


class ModelFileError(DataError):
    """A saved model file (JSON, or its NetCDF posterior) cannot be loaded.

    The message names the file and what is wrong with it; ``path`` holds the
    file and ``rule`` a short name of the broken rule (``"not_json"``,
    ``"unknown_keys"``, ``"parameter_domain"``, ...).
    """

    def __init__(self, path, problem: str, *, rule: str,
                 remedy: str = "Save the model again with model.save(path) (or 'clvmodels "
                               "fit'), or restore the file that was written.") -> None:
        self.path = str(path)
        super().__init__(f"{path} is not a usable saved model: {problem} {remedy}", rule=rule)


class NotFittedError(ValueError, AttributeError):
    """A model was used for prediction before ``fit`` was called."""


class ConvergenceError(RuntimeError):
    """The optimiser or sampler did not converge.

    The optimiser's result is kept in ``result`` so it can be inspected.
    """

    def __init__(self, message: str, *, result: Any = None) -> None:
        self.result = result
        super().__init__(message)


class ClvModelsWarning(UserWarning):
    """Base class of the warnings clvmodels emits."""


class DataWarning(ClvModelsWarning):
    """Rows or customers were excluded from a computation (never silently)."""


class ConvergenceWarning(ClvModelsWarning):
    """A fit finished, but a diagnostic says its result is doubtful."""


class ModelAssumptionWarning(ClvModelsWarning):
    """The data contradict an assumption of the model."""
