"""Per-customer export: one scored row for every customer of the input.

:func:`predict_clv` combines a fitted purchase model and a spend model into the
table users hand to their CRM: RFM, P(alive), expected purchases and spend over
the horizon, CLV with an interval, the RFM segment, and which model and horizon
produced it. Nothing is lost: the output has exactly one row per customer of the
summary. A customer whose row cannot be scored (a broken RFM row, or repeat
purchases with no positive spend for the spend model) keeps its row, with empty
predictions and the reason in ``unscored_reason``. So does a customer the summary
left out (:func:`clvmodels.data.excluded_customers`) who bought in the calibration
period: empty RFM columns and ``unscored_reason`` "excluded by rfm_summary: ...".

Ids are written back as they are: text ids (``"00123"``) as text, integer ids as
integers, in CSV and Parquet alike (a Parquet file keeps the index dtype); ids
of mixed types are refused (:func:`check_id_types`). Files are written to a
temporary name and renamed when complete, so a failure never leaves a partial
file at the target path.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path
from .clv import customer_lifetime_value
from .data import excluded_customers
from .exceptions import DataError, DataWarning
from .models.baseline import rfm_segments
from .stages import lifecycle_stages

__all__ = ["check_id_types", "predict_clv", "unscorable_reasons"]

COLUMNS = ("frequency", "recency", "T", "monetary_value")


def unscorable_reasons(summary: pd.DataFrame) -> pd.Series:
    """Why each customer cannot be scored (empty string when they can).

    The row rules of :func:`clvmodels._checks.check_summary`, applied one customer
    at a time instead of rejecting the whole table.
    """
    missing = [c for c in COLUMNS if c not in summary.columns]
    if missing:
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
    horizon: int | None,
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
    interval_kind: str = "expected",
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
        leaves out the bounds. ``horizon=None``: the remaining lifetime (needs
        ``discount_rate > 0``); the table then has ``dert`` (discounted expected
        residual transactions) instead of ``expected_purchases``, and
        ``horizon`` 0.
    interval_kind
        ``"expected"`` (default): ``clv_lower``, ``clv_upper`` bound the expected
        CLV (parameter uncertainty). ``"predictive"``: ``clv_predictive_lower``,
        ``clv_predictive_upper`` bound the value each customer will bring (see
        :func:`clvmodels.customer_lifetime_value`).
    model_name
        Written in the ``model`` column (default: the two class names).
    path
        Write to this ``.csv`` or ``.parquet`` file, ``chunk_size`` customers at a
        time, and return the path; otherwise return the DataFrame. The file is
        written under a temporary name and renamed when complete.
    random_state
        Seed of the parameter draws (an int, or a numpy ``Generator``, from which
        one seed is drawn); the same draws serve every chunk, so the intervals do
        not depend on ``chunk_size``.

    Returns
    -------
    DataFrame or Path
        Columns: the customer id, ``frequency, recency, T, monetary_value,
        probability_alive, expected_purchases, expected_spend, clv, clv_lower,
        clv_upper, segment, stage, model, horizon, time_unit, unscored_reason``
        (``stage``: :func:`clvmodels.stages.lifecycle_stages` from the customer's own
        purchase rhythm). One row
        per customer of the summary, in its order, then one per customer it left
        out who bought in the calibration period.

    Raises
    ------
    DataError
        If the ids mix types (rule ``mixed_id_types``) or the summary lacks a column.
    """
    path = Path(path) if path is not None else None
    if path is not None and path.suffix.lower() not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"Cannot write {path}: use a .csv or .parquet file name.")
    if model_name is None:
        names = [type(transaction_model).__name__]
        if spend_model is not transaction_model:
            names.append(type(spend_model).__name__)
        model_name = " + ".join(names)
    id_name = summary.index.name or "customer_id"
    # Covariates of the models (clvmodels.covariates): read with the RFM columns.
    covs = list(dict.fromkeys(c for m in (transaction_model, spend_model)
                              for c in getattr(m, "covariate_columns", list)()))
    rows, reasons, n_left_out = _rows_to_export(summary, covs)
    check_id_types(rows.index, id_name)
    # Numbers as float64, as unscorable_reasons reads them: text numbers ("2") are
    # scored, other text is unscorable and written empty (rfm_segments, the stages and
    # the models refuse a text column).
    rows = rows.apply(pd.to_numeric, errors="coerce").astype(float)
    ok = (reasons == "").to_numpy()
    n_bad = int((~ok).sum())
    if n_bad or n_left_out:
        counts = reasons[~ok].value_counts()
        detail = "; ".join(f"{n} {text}" for text, n in counts.items())
        parts = []
        if n_bad:
            parts.append(f"{n_bad} of {len(rows)} customers cannot be scored ({detail}); they "
                         "are kept with empty predictions and the reason in 'unscored_reason'.")
        if n_left_out:
            parts.append(f"{n_left_out} customer(s) excluded by rfm_summary did not buy in the "
                         "calibration period and have no row (see "
                         "clvmodels.data.excluded_customers(summary)).")
        warnings.warn(" ".join(parts), DataWarning, stacklevel=2)
    segments = pd.Series(pd.NA, index=rows.index, dtype="string", name="segment")
    stages = pd.Series(pd.NA, index=rows.index, dtype="string", name="stage")
    if ok.any():
        scorable = rows.loc[ok, list(COLUMNS)]
        scorable.attrs = dict(summary.attrs)
        segments[ok] = rfm_segments(scorable)["segment"].astype("string")
        # The customer's own purchase rhythm, not P(alive): BG/NBD calls every
        # one-time buyer alive, however long ago they bought.
        stages[ok] = lifecycle_stages(scorable).astype("string")

    if isinstance(random_state, (np.random.Generator, np.random.BitGenerator)):
        # A generator would move on from chunk to chunk: one seed drawn from it serves all.
        random_state = int(np.random.default_rng(random_state).integers(2**63 - 1))
    settings = dict(horizon=horizon, time_unit=time_unit, discount_rate=discount_rate,
                    discount_period=discount_period, margin=margin, interval=interval,
                    n_draws=n_draws, random_state=random_state, interval_kind=interval_kind)
    bounds = (("clv_predictive_lower", "clv_predictive_upper") if interval_kind == "predictive"
              else ("clv_lower", "clv_upper"))
    counts = "dert" if horizon is None else "expected_purchases"
    value_columns = ("probability_alive", counts, "expected_spend", "clv") + (
        bounds if interval is not None else ())

    def chunk_frame(start: int) -> pd.DataFrame:
        part = rows.iloc[start:start + chunk_size]
        good = ok[start:start + chunk_size]
        out = part[list(COLUMNS)].copy()
        for col in value_columns:
            out[col] = np.nan
        if good.any():
            scored = part.loc[good, [*COLUMNS, *covs]]
            scored.attrs = dict(summary.attrs)
            clv = customer_lifetime_value(transaction_model, spend_model, scored, **settings)
            out.loc[good, clv.columns] = clv.to_numpy(dtype=float)
            if hasattr(transaction_model, "probability_alive"):
                out.loc[good, "probability_alive"] = transaction_model.probability_alive(
                    scored).to_numpy(dtype=float)
        out["segment"] = segments.iloc[start:start + chunk_size].to_numpy()
        out["segment"] = out["segment"].astype("string")
        out["stage"] = stages.iloc[start:start + chunk_size].to_numpy()
        out["stage"] = out["stage"].astype("string")
        out["model"] = pd.array([model_name] * len(out), dtype="string")
        out["horizon"] = np.full(len(out), 0 if horizon is None else horizon, dtype=np.int64)
        out["time_unit"] = pd.array([time_unit] * len(out), dtype="string")
        out["unscored_reason"] = pd.array(
            reasons.iloc[start:start + chunk_size].replace("", None).to_numpy(), dtype="string")
        out.index.name = id_name
        return out.reset_index()

    starts = range(0, max(len(rows), 1), chunk_size)
    if path is None:
        return pd.concat([chunk_frame(s) for s in starts], ignore_index=True)

    # Written to a temporary name and renamed when complete: a failure (in any
    # chunk) never leaves a partial file at ``path``.
    with atomic_path(path) as temp:
        if path.suffix.lower() == ".csv":
            for i, s in enumerate(starts):
                chunk_frame(s).to_csv(temp, index=False, mode="w" if i == 0 else "a",
                                      header=i == 0)
        else:
            import pyarrow.parquet as pq

            schema = _arrow_schema(rows.index, id_name, value_columns)
            with pq.ParquetWriter(temp, schema) as writer:
                for s in starts:
                    writer.write_table(_arrow_table(chunk_frame(s), schema))
    return path


def check_id_types(ids: pd.Index, column: str = "customer_id") -> None:
    """Refuse customer ids of more than one type (rule ``mixed_id_types``).

    ``1`` and ``"1"`` are two customers in a DataFrame but one in a CSV file;
    rather than merge or reorder them, the export asks for one type. A missing id
    (None, NaN, NaT) counts as a type of its own, whatever the index's dtype, and
    categorical ids are checked by their values.

    Raises
    ------
    DataError
        With the count of ids of each type and a few examples.
    """
    kind = pd.api.types.infer_dtype(ids, skipna=False)
    # Ids of one type without a missing one need no count. Categorical ids are counted
    # by value: their categories may mix types (1 and "1").
    if kind in ("string", "integer", "floating", "empty", "boolean", "bytes", "decimal",
                "datetime", "datetime64", "date", "timedelta", "timedelta64",
                "period") and not ids.hasnans:
        return
    types = pd.Series(["missing" if _is_missing(v) else _type_name(v) for v in ids],
                      dtype=object)
    counts = types.value_counts()
    if len(counts) <= 1:
        return
    detail = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    examples = [ids[int(np.flatnonzero(types.to_numpy() == t)[0])] for t in counts.index]
    raise DataError(
        f"The customer ids ({column!r}) mix types: {detail}. Ids of different types "
        "cannot be written back unambiguously (1 and '1' look alike in a CSV file). Convert "
        "every id to text first, e.g. summary.index = summary.index.astype(str), or build the "
        "summary from ids of one type."
        + (" A missing id cannot be written back either: give those customers an id or "
           "drop their rows." if "missing" in counts.index else ""),
        column=column, rule="mixed_id_types", n_rows=int(counts.iloc[1:].sum()),
        examples=examples)


def _is_missing(value) -> bool:
    """None, NaN, NaT or pd.NA (False for a tuple id or any other value)."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like id: isna gives one flag per item
        return False


def _type_name(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    if isinstance(value, str):
        return "str"
    return type(value).__name__


def _rows_to_export(summary: pd.DataFrame, covariates=()) -> tuple[pd.DataFrame, pd.Series,
                                                                     int]:
    """The summary's RFM rows (and the models' ``covariates``), then those of the
    customers it left out who bought in the calibration period (empty RFM); the reason
    each row cannot be scored; and how many excluded customers get no row."""
    reasons = unscorable_reasons(summary)
    missing = [c for c in covariates if c not in summary.columns]
    if missing:
        raise DataError(f"The summary lacks the models' covariate column(s) {missing}.",
                        column=missing[0], rule="missing_columns")
    for col in covariates:
        value = pd.to_numeric(summary[col], errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)
        reasons[(reasons == "") & ~np.isfinite(value)] = f"missing or non-numeric {col}"
    rows = summary[[*COLUMNS, *covariates]]
    left_out = excluded_customers(summary)
    if left_out.empty:
        return rows, reasons, 0
    in_period = left_out["in_calibration_period"].fillna(False).astype(bool).to_numpy()
    extra = left_out[in_period & ~left_out.index.isin(summary.index)]
    if extra.empty:  # keep the summary's index dtype
        return rows, reasons, int((~in_period).sum())
    extra_rows = pd.DataFrame(np.nan, index=extra.index, columns=[*COLUMNS, *covariates])
    extra_rows.index.name = summary.index.name
    extra_reasons = pd.Series("excluded by rfm_summary: " + extra["reason"].astype(str),
                              index=extra.index, name="unscored_reason", dtype=object)
    return (pd.concat([rows, extra_rows]),
            pd.concat([reasons.astype(object), extra_reasons]), int((~in_period).sum()))


def _arrow_schema(ids: pd.Index, id_name: str, value_columns):
    """The export's Arrow schema, fixed before the first chunk whatever it holds."""
    import pyarrow as pa

    id_type = pa.Array.from_pandas(ids).type
    if pa.types.is_null(id_type):  # no customer at all: object ids are text
        id_type = pa.string()
    fields = [pa.field(id_name, id_type)]
    fields += [pa.field(c, pa.float64()) for c in COLUMNS + tuple(value_columns)]
    fields += [pa.field("segment", pa.string()), pa.field("stage", pa.string()),
               pa.field("model", pa.string()),
               pa.field("horizon", pa.int64()), pa.field("time_unit", pa.string()),
               pa.field("unscored_reason", pa.string())]
    schema = pa.schema(fields)
    # pandas metadata, so that reading the file back restores the id's dtype.
    template = pd.DataFrame({id_name: ids[:0]})
    meta = pa.Schema.from_pandas(template, preserve_index=False).metadata or {}
    return schema.with_metadata(meta)


def _arrow_table(frame: pd.DataFrame, schema):
    import pyarrow as pa

    arrays = [pa.Array.from_pandas(frame[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)
