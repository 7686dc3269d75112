"""Per-customer export: one scored row for every customer of the input.

:func:`predict_clv` combines a fitted purchase model and a spend model into the
table users hand to their CRM: RFM, P(alive), expected purchases and spend over
the horizon, CLV with an interval, the RFM segment, and which model and horizon
produced it. Nothing is lost: the output has exactly one row per customer of the
summary. A customer whose row cannot be scored (a broken RFM row, or repeat
purchases with no positive spend for the spend model) keeps its row, with empty
predictions and the reason in ``unscored_reason``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .clv import customer_lifetime_value
from .exceptions import DataWarning
from .models.baseline import rfm_segments

__all__ = ["predict_clv", "unscorable_reasons"]

COLUMNS = ("frequency", "recency", "T", "monetary_value")


def unscorable_reasons(summary: pd.DataFrame) -> pd.Series:
    """Why each customer cannot be scored (empty string when they can).

    The row rules of :func:`clvmodels._checks.check_summary`, applied one customer
    at a time instead of rejecting the whole table.
    """
    missing = [c for c in COLUMNS if c not in summary.columns]
    if missing:
        from .exceptions import DataError

        raise DataError(f"The summary lacks column(s) {missing}; it has "
                        f"{list(summary.columns)}.", column=missing[0], rule="missing_columns")
    values = {c: pd.to_numeric(summary[c], errors="coerce").to_numpy(dtype=float,
                                                                     na_value=np.nan)
              for c in COLUMNS}
    f, r, T, m = (values[c] for c in COLUMNS)
    rules = [
        (~np.isfinite(f) | ~np.isfinite(r) | ~np.isfinite(T) | ~np.isfinite(m),
         "missing or non-numeric RFM value"),
        ((f < 0) | (r < 0) | (T < 0), "negative frequency, recency or T"),
        (f != np.round(f), "frequency is not a whole number"),
        (r > T * (1 + 1e-9) + 1e-12, "recency is larger than T"),
        ((f == 0) & (r > 0), "recency is positive without repeat purchases"),
        ((f > 0) & (m <= 0), "repeat purchases but monetary_value <= 0"),
    ]
    reasons = np.full(len(summary), "", dtype=object)
    with np.errstate(invalid="ignore"):
        for mask, text in rules:
            reasons[(reasons == "") & np.asarray(mask, dtype=bool)] = text
    return pd.Series(reasons, index=summary.index, name="unscored_reason")


def predict_clv(
    summary: pd.DataFrame,
    transaction_model,
    spend_model,
    *,
    horizon: int,
    time_unit: str,
    discount_rate: float = 0.0,
    discount_period: str | None = None,
    margin: float = 1.0,
    interval: float | None = 0.9,
    n_draws: int | None = None,
    model_name: str | None = None,
    path: str | os.PathLike | None = None,
    chunk_size: int = 100_000,
    random_state=0,
) -> pd.DataFrame | Path:
    """Score every customer and return (or write) the export table.

    Parameters
    ----------
    summary
        RFM summary of the customers to score (:func:`clvmodels.rfm_summary`).
    transaction_model, spend_model
        Fitted models (e.g. ``BetaGeoModel`` and ``GammaGammaModel``).
    horizon, time_unit, discount_rate, discount_period, margin, interval, n_draws
        As for :func:`clvmodels.customer_lifetime_value` (``n_draws``: up to
        1,000 posterior draws of Bayesian fits, else 200). ``interval=None``
        leaves out the bounds.
    model_name
        Written in the ``model`` column (default: the two class names).
    path
        Write to this ``.csv`` or ``.parquet`` file, ``chunk_size`` customers at a
        time, and return the path; otherwise return the DataFrame.
    random_state
        Seed of the parameter draws; the same draws serve every chunk, so the
        intervals do not depend on ``chunk_size``.

    Returns
    -------
    DataFrame or Path
        Columns: the customer id, ``frequency, recency, T, monetary_value,
        probability_alive, expected_purchases, expected_spend, clv, clv_lower,
        clv_upper, segment, model, horizon, time_unit, unscored_reason``.
    """
    if model_name is None:
        names = [type(transaction_model).__name__]
        if spend_model is not transaction_model:
            names.append(type(spend_model).__name__)
        model_name = " + ".join(names)
    reasons = unscorable_reasons(summary)
    ok = (reasons == "").to_numpy()
    n_bad = int((~ok).sum())
    if n_bad:
        counts = reasons[~ok].value_counts()
        detail = "; ".join(f"{n} {text}" for text, n in counts.items())
        warnings.warn(f"{n_bad} of {len(summary)} customers cannot be scored ({detail}); "
                      "they are kept with empty predictions and the reason in "
                      "'unscored_reason'.", DataWarning, stacklevel=2)
    segments = pd.Series(pd.NA, index=summary.index, dtype="string", name="segment")
    if ok.any():
        segments[ok] = rfm_segments(summary.loc[ok, list(COLUMNS)])["segment"].astype("string")

    id_name = summary.index.name or "customer_id"
    settings = dict(horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
                    discount_period=discount_period, margin=margin, interval=interval,
                    n_draws=n_draws, random_state=random_state)

    def chunk_frame(start: int) -> pd.DataFrame:
        part = summary.iloc[start:start + chunk_size]
        good = ok[start:start + chunk_size]
        out = part[list(COLUMNS)].copy()
        for col in ("probability_alive", "expected_purchases", "expected_spend", "clv") + (
                ("clv_lower", "clv_upper") if interval is not None else ()):
            out[col] = np.nan
        if good.any():
            scored = part.loc[good, list(COLUMNS)]
            scored.attrs = dict(summary.attrs)
            clv = customer_lifetime_value(transaction_model, spend_model, scored, **settings)
            out.loc[good, clv.columns] = clv.to_numpy()
            if hasattr(transaction_model, "probability_alive"):
                out.loc[good, "probability_alive"] = transaction_model.probability_alive(
                    scored).to_numpy()
        out["segment"] = segments.iloc[start:start + chunk_size].to_numpy()
        out["model"] = model_name
        out["horizon"] = horizon
        out["time_unit"] = time_unit
        out["unscored_reason"] = pd.array(
            reasons.iloc[start:start + chunk_size].replace("", None).to_numpy(), dtype="string")
        out.index.name = id_name
        return out.reset_index()

    starts = range(0, max(len(summary), 1), chunk_size)
    if path is None:
        return pd.concat([chunk_frame(s) for s in starts], ignore_index=True)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        for i, s in enumerate(starts):
            chunk_frame(s).to_csv(path, index=False, mode="w" if i == 0 else "a", header=i == 0)
    elif suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        try:
            for s in starts:
                table = pa.Table.from_pandas(chunk_frame(s), preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table.cast(writer.schema))
        finally:
            if writer is not None:
                writer.close()
    else:
        raise ValueError(f"Cannot write {path}: use a .csv or .parquet file name.")
    return path
