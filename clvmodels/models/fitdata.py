"""Fit data of a parametric model: validated, weighted, compressed and rescaled arrays.

:class:`FitDataMixin` is the part of
:class:`~clvmodels.models.parametric.ParametricModel` that prepares a summary for
the likelihood: the declared columns of the rows the model uses, converted to the
fit's time unit; the weights (an array or a column); identical rows merged into
one weighted row (:mod:`clvmodels.rows`); the time and money scales that make the
optimiser's data of order one, with the matching shift of the log-parameters and
the starting points; and the fingerprint of the fitted data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._checks import fail_rows, finite_numbers
from ..exceptions import DataError
from ..rows import compress, fingerprint
from ..units import convert, normalize_unit

__all__ = ["FitDataMixin"]


class FitDataMixin:
    """Data preparation of :class:`ParametricModel` (which see)."""

    def _data_for_fit(self, summary, weights, time_unit):
        """Validated, compressed fit data: (arrays, weights, unit, row mask, row weights)."""
        columns = list(self.data_columns)
        self._validate(summary, columns[:len(type(self).data_columns)], fitting=True)
        self._check_covariates(summary, fitting=True)
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
        return compress(arrays, weights)

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
            for p in self.parameters:  # covariate coefficients default to their start, 0
                if not p.positive and p.name not in init.index:
                    init[p.name] = p.start
            missing = set(self.param_names()) - set(init.index)
            if missing:
                raise ValueError(f"initial_params lacks {sorted(missing)}.")
            vals = init[self.param_names()].to_numpy(dtype=float)
            positive = self._positive()
            if np.any(~np.isfinite(vals) | ((vals <= 0) & positive)):
                raise ValueError("initial_params must be finite, and positive except "
                                 "covariate coefficients.")
            starts.append(self._to_theta(vals) + shift)
        starts.append(self._to_theta([p.start for p in self.parameters]))
        for alt in self.alternative_starts:
            starts.append(self._to_theta([alt.get(p.name, p.start) for p in self.parameters]))
        return starts

    def _fingerprint(self, data: list[np.ndarray], weights: np.ndarray) -> dict:
        """Number of customers and a hash of the multiset of (row, weight)
        (:func:`clvmodels.rows.fingerprint`) of the declared data columns: covariates
        are left out, so fits with and without them on one summary compare."""
        return fingerprint(data[:len(type(self).data_columns)], weights)
