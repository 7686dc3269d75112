"""The export's rules, names and columns, value by value (mutants of export.py that
the export tests let through; see tests/mutation/README.md)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import clvmodels
from clvmodels.exceptions import DataError, DataWarning
from clvmodels.export import _type_name, check_id_types, predict_clv, unscorable_reasons
from clvmodels.models.baseline import rfm_segments
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.stages import lifecycle_stages

FAST = dict(horizon=10, time_unit="W", interval=None)
RFM = ["frequency", "recency", "T", "monetary_value"]


@pytest.fixture(scope="module")
def fitted():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    return summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)


def _part(summary, n=8, name="customer_id"):
    part = summary.iloc[:n].copy()  # copy() keeps attrs; set below for a filtered summary
    part.index = pd.Index([f"c{i}" for i in range(n)], name=name)
    part.attrs = dict(summary.attrs)
    return part


# --------------------------------------------------------------------------- unscorable_reasons

ROWS = [  # frequency, recency, T, monetary_value, reason
    (2, 5.0, 10.0, 3.0, ""),
    (0, 0.0, 10.0, 0.0, ""),                       # no repeat purchase: spend may be 0
    (0, 0.0, 0.0, np.nan, "missing or non-numeric RFM value"),
    (np.nan, 1.0, 10.0, 3.0, "missing or non-numeric RFM value"),
    (2, np.inf, 10.0, 3.0, "missing or non-numeric RFM value"),
    (2, 5.0, np.nan, 3.0, "missing or non-numeric RFM value"),
    (-1, 0.0, 10.0, 3.0, "negative frequency, recency or T"),
    (2, -0.5, 10.0, 3.0, "negative frequency, recency or T"),
    (2, 0.0, -1.0, 3.0, "negative frequency, recency or T"),
    (-1.5, 0.0, 10.0, 3.0, "negative frequency, recency or T"),   # first rule wins
    (1.5, 5.0, 10.0, 3.0, "frequency is not a whole number"),
    (2, 10.0 * (1 + 1e-10), 10.0, 3.0, ""),         # rounding noise: within tolerance
    (2, 10.0, 10.0, 3.0, ""),
    (2, 10.0 * (1 + 1e-6), 10.0, 3.0, "recency is larger than T"),
    (1, 1e-12, 0.0, 3.0, ""),                       # the absolute tolerance, exactly
    (1, 3e-12, 0.0, 3.0, "recency is larger than T"),
    (0, 0.5, 10.0, 0.0, "recency is positive without repeat purchases"),
    (1, 5.0, 10.0, 0.0, "repeat purchases but monetary_value <= 0"),
    (1, 5.0, 10.0, -2.0, "repeat purchases but monetary_value <= 0"),
    (1, 5.0, 10.0, 1e-9, ""),
    (0, 0.0, 0.0, 0.0, ""),
]


def test_each_rule_names_its_rows_and_the_first_rule_wins():
    table = pd.DataFrame([r[:4] for r in ROWS], columns=RFM,
                         index=pd.Index([f"r{i}" for i in range(len(ROWS))], name="id"))
    reasons = unscorable_reasons(table)
    assert reasons.tolist() == [r[4] for r in ROWS]
    assert reasons.name == "unscored_reason"
    assert reasons.index.equals(table.index)


def test_nullable_columns_with_missing_values_are_unscorable():
    table = pd.DataFrame({"frequency": pd.array([2, pd.NA, 1], dtype="Int64"),
                          "recency": pd.array([5.0, 1.0, pd.NA], dtype="Float64"),
                          "T": pd.array([10.0, 10.0, 10.0], dtype="Float64"),
                          "monetary_value": pd.array([3.0, 2.0, 2.0], dtype="Float64")})
    assert unscorable_reasons(table).tolist() == [
        "", "missing or non-numeric RFM value", "missing or non-numeric RFM value"]


def test_text_numbers_are_read_and_text_is_unscorable():
    table = pd.DataFrame({"frequency": ["2", "x"], "recency": ["5", "1"], "T": ["10", "10"],
                          "monetary_value": ["3.5", "1"]})
    assert unscorable_reasons(table).tolist() == ["", "missing or non-numeric RFM value"]


def test_a_missing_column_is_named():
    table = pd.DataFrame({"frequency": [1], "recency": [1.0], "monetary_value": [2.0]})
    with pytest.raises(DataError, match=r"lacks column\(s\) \['T'\]") as info:
        unscorable_reasons(table)
    assert info.value.column == "T"
    assert info.value.rule == "missing_columns"


# --------------------------------------------------------------------------- predict_clv


def test_columns_names_and_values_of_a_small_export(fitted):
    summary, bg, gg = fitted
    part = _part(summary)
    part.iloc[1, part.columns.get_loc("recency")] = part["T"].iloc[1] + 1.0
    with pytest.warns(DataWarning) as record:
        out = predict_clv(part, bg, gg, **FAST)
    message = str(record[0].message)
    assert message.startswith("1 of 8 customers cannot be scored (1 recency is larger than "
                              "T); they are kept with empty predictions")
    assert "excluded by rfm_summary" not in message
    assert list(out.columns) == ["customer_id", *RFM, "probability_alive",
                                 "expected_purchases", "expected_spend", "clv", "segment",
                                 "stage", "model", "horizon", "time_unit", "unscored_reason"]
    out = out.set_index("customer_id")
    good = part.drop(index="c1")
    good.attrs = dict(summary.attrs)
    np.testing.assert_allclose(out.loc[good.index, "probability_alive"],
                               bg.probability_alive(good), rtol=1e-12)
    np.testing.assert_allclose(out.loc[good.index, "expected_purchases"],
                               bg.expected_purchases(good, t=10), rtol=1e-9)
    assert out.loc["c1", ["probability_alive", "clv", "expected_spend"]].isna().all()
    assert out.loc["c1", "recency"] == part.loc["c1", "recency"]
    assert out.loc["c1", "unscored_reason"] == "recency is larger than T"
    assert pd.isna(out.loc["c1", "segment"]) and pd.isna(out.loc["c1", "stage"])
    assert out.loc[good.index, "unscored_reason"].isna().all()
    assert out.loc[good.index, "segment"].tolist() == rfm_segments(good)["segment"].tolist()
    assert out.loc[good.index, "stage"].tolist() == lifecycle_stages(good).tolist()
    assert out["segment"].dtype == "string" and out["stage"].dtype == "string"
    assert out["model"].tolist() == ["BetaGeoModel + GammaGammaModel"] * 8
    assert out["horizon"].dtype == np.int64 and out["horizon"].tolist() == [10] * 8
    assert out["time_unit"].tolist() == ["W"] * 8


def test_a_model_name_and_an_unnamed_index(fitted):
    summary, bg, gg = fitted
    part = _part(summary, 3, name=None)
    out = predict_clv(part, bg, gg, model_name="mine", **FAST)
    assert out.columns[0] == "customer_id"
    assert out["customer_id"].tolist() == ["c0", "c1", "c2"]
    assert out["model"].tolist() == ["mine"] * 3
    named = predict_clv(_part(summary, 3, name="client"), bg, gg, **FAST)
    assert named.columns[0] == "client"


class _BothModels:
    """One object that predicts purchases and spend (no P(alive))."""

    def expected_purchases(self, summary, t):
        return pd.Series(0.1 * t * (summary["frequency"] + 1.0), index=summary.index)

    def expected_spend(self, summary):
        return pd.Series(20.0, index=summary.index)


def test_one_model_for_both_is_named_once_and_has_no_p_alive(fitted):
    summary, _, _ = fitted
    part = _part(summary, 4)
    model = _BothModels()
    out = predict_clv(part, model, model, horizon=3, time_unit="W", interval=None)
    assert out["model"].tolist() == ["_BothModels"] * 4
    assert out["probability_alive"].isna().all()
    # Undiscounted: 20 x the purchases over 3 weeks.
    np.testing.assert_allclose(out["clv"], 20.0 * 0.3 * (part["frequency"] + 1.0), rtol=1e-12)


def test_interval_columns_follow_the_kind_and_none_drops_them(fitted):
    summary, bg, gg = fitted
    part = _part(summary, 5)
    expected = predict_clv(part, bg, gg, horizon=10, time_unit="W", interval=0.8, n_draws=20)
    assert {"clv_lower", "clv_upper"} <= set(expected.columns)
    assert not {"clv_predictive_lower", "clv_predictive_upper"} & set(expected.columns)
    predictive = predict_clv(part, bg, gg, horizon=10, time_unit="W", interval=0.8,
                             interval_kind="predictive", random_state=2)
    assert {"clv_predictive_lower", "clv_predictive_upper"} <= set(predictive.columns)
    assert not {"clv_lower", "clv_upper"} & set(predictive.columns)
    assert (predictive["clv_predictive_lower"] <= predictive["clv_predictive_upper"]).all()
    assert (predictive["clv_predictive_upper"] > 0).any()
    bare = predict_clv(part, bg, gg, **FAST)
    assert not any(c.startswith("clv_") for c in bare.columns)


def test_file_suffixes(fitted, tmp_path):
    summary, bg, gg = fitted
    part = _part(summary, 3)
    path = predict_clv(part, bg, gg, path=tmp_path / "x.PQ", **FAST)
    assert path == tmp_path / "x.PQ"
    assert pq.read_table(path).column("customer_id").to_pylist() == ["c0", "c1", "c2"]
    with pytest.raises(ValueError, match=r"use a \.csv or \.parquet"):
        predict_clv(part, bg, gg, path=tmp_path / "x.txt", **FAST)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_empty_summary_writes_the_header_only(fitted, tmp_path, suffix):
    summary, bg, gg = fitted
    empty = summary.iloc[:0].copy()
    empty.index = pd.Index([], dtype=object, name="customer_id")
    empty.attrs = dict(summary.attrs)
    path = predict_clv(empty, bg, gg, path=tmp_path / f"x{suffix}", **FAST)
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(back) == 0
    assert list(back.columns)[:5] == ["customer_id", *RFM]
    if suffix == ".parquet":
        assert str(pq.read_schema(path).field("customer_id").type) == "string"


def test_rows_of_every_chunk_hold_their_own_values(fitted, tmp_path):
    summary, bg, gg = fitted
    part = _part(summary[summary["frequency"] > 0], 5)
    part.iloc[3, part.columns.get_loc("monetary_value")] = -1.0  # in the second chunk
    with pytest.warns(DataWarning):
        whole = predict_clv(part, bg, gg, **FAST)
        path = predict_clv(part, bg, gg, path=tmp_path / "x.csv", chunk_size=2, **FAST)
    back = pd.read_csv(path, keep_default_na=True)
    assert back["customer_id"].tolist() == [f"c{i}" for i in range(5)]
    np.testing.assert_allclose(back["clv"].to_numpy(float), whole["clv"].to_numpy(float),
                               rtol=1e-12)
    assert back["unscored_reason"].iloc[3] == "repeat purchases but monetary_value <= 0"
    assert back["unscored_reason"].drop(index=3).isna().all()
    assert back["segment"].tolist()[:3] == whole["segment"].tolist()[:3]


# --------------------------------------------------------------------------- id types


def test_mixed_ids_are_counted_by_type_with_one_example_each():
    ids = pd.Index([1, 2, "a", 3, None, "b", 4.5], dtype=object)
    with pytest.raises(DataError, match=r"\('cid'\) mix types: 3 int, 2 str, 1 missing, "
                                        r"1 float\.") as info:
        check_id_types(ids, "cid")
    assert info.value.column == "cid"
    assert info.value.n_rows == 4
    assert info.value.examples == [1, "a", None, 4.5]


@pytest.mark.parametrize("ids", [
    pd.Index(["a", "b"]), pd.Index([1, 2]), pd.Index([1.5, 2.0]), pd.Index([], dtype=object),
    pd.Index([(1, 2), (3, 4)], tupleize_cols=False),
])
def test_ids_of_one_type_pass(ids):
    assert check_id_types(ids) is None


def test_type_names():
    assert [_type_name(v) for v in (True, np.bool_(False), 3, np.int32(3), 2.5,
                                    np.float32(1), "x", b"y")] == [
        "bool", "bool", "int", "int", "float", "float", "str", "bytes"]


def test_parquet_whose_first_chunk_has_no_scorable_customer(fitted, tmp_path):
    """The schema is fixed before the first chunk: empty segments and values there
    do not make later chunks' strings and numbers unwritable."""
    summary, bg, gg = fitted
    part = _part(summary[summary["frequency"] > 0], 6)
    part.iloc[:2, part.columns.get_loc("monetary_value")] = 0.0
    with pytest.warns(DataWarning, match="2 of 6 customers cannot be scored"):
        path = predict_clv(part, bg, gg, path=tmp_path / "x.parquet", chunk_size=2, **FAST)
        whole = predict_clv(part, bg, gg, **FAST)
    table = pq.read_table(path)
    assert str(table.schema.field("segment").type) == "string"
    assert str(table.schema.field("clv").type) == "double"
    back = table.to_pandas()
    assert back["customer_id"].tolist() == [f"c{i}" for i in range(6)]
    assert back["segment"].isna().tolist() == [True, True, False, False, False, False]
    assert back["segment"].tolist()[2:] == whole["segment"].tolist()[2:]
    np.testing.assert_allclose(back["clv"].to_numpy(float), whole["clv"].to_numpy(float),
                               rtol=1e-12)
    assert back["unscored_reason"].tolist()[:2] == [
        "repeat purchases but monetary_value <= 0"] * 2


def test_id_counts_have_thousands_separators_and_nan_is_missing():
    ids = pd.Index(list(range(1000)) + ["a", float("nan")], dtype=object)
    with pytest.raises(DataError, match=r"mix types: 1,000 int, 1 str, 1 missing\.") as info:
        check_id_types(ids)
    assert info.value.column == "customer_id"
    assert info.value.n_rows == 2
    assert info.value.examples[:2] == [0, "a"] and info.value.examples[2] != info.value.examples[2]


# --------------------------------------------------------------------------- excluded customers


def _left_out(part, ids, in_period, reasons=None):
    from clvmodels.data import ExcludedCustomers

    frame = pd.DataFrame(
        {"reason": reasons or ["all purchases cancelled by returns"] * len(ids),
         "in_calibration_period": pd.array(in_period, dtype="boolean")},
        index=pd.Index(ids, name=part.index.name))
    part.attrs["excluded_customers"] = ExcludedCustomers(frame)
    return part


def test_excluded_customers_outside_the_period_are_counted_and_ids_keep_their_dtype(fitted):
    summary, bg, gg = fitted
    part = summary.iloc[:4].copy()
    part.index = pd.Index([11, 12, 13, 14], dtype="int64", name="customer_id")
    part.attrs = dict(summary.attrs)
    _left_out(part, [90, 91, 92], [False, None, pd.NA])  # missing: not known to have bought
    with pytest.warns(DataWarning) as record:
        out = predict_clv(part, bg, gg, **FAST)
    message = str(record[0].message)
    # Every customer of the summary is scored: the warning is about the left-out ones only.
    assert message.startswith("3 customer(s) excluded by rfm_summary did not buy in the "
                              "calibration period")
    assert "cannot be scored" not in message
    assert out["customer_id"].tolist() == [11, 12, 13, 14]
    assert out["customer_id"].dtype == np.int64
    assert out["unscored_reason"].isna().all()


def test_an_excluded_customer_already_in_the_summary_gets_no_second_row(fitted):
    summary, bg, gg = fitted
    part = _part(summary, 3)
    _left_out(part, ["c1", "x9"], [True, True],
              ["all purchases cancelled by returns", "zero amounts only"])
    with pytest.warns(DataWarning) as record:
        out = predict_clv(part, bg, gg, **FAST)
    message = str(record[0].message)
    assert message.startswith("1 of 4 customers cannot be scored (1 excluded by "
                              "rfm_summary: zero amounts only);")
    assert "did not buy in the calibration period" not in message
    assert out["customer_id"].tolist() == ["c0", "c1", "c2", "x9"]
    assert out["unscored_reason"].tolist()[3] == "excluded by rfm_summary: zero amounts only"
    assert out["unscored_reason"].iloc[:3].isna().all()
    assert out[RFM].iloc[3].isna().all() and out[RFM].iloc[:3].notna().all().all()


@pytest.mark.parametrize("ids, detail", [
    (pd.Index(["a", np.nan, "b"]), "2 str, 1 missing"),
    (pd.Index(["a", None, "b"], dtype=object), "2 str, 1 missing"),
    (pd.Index([1.5, np.nan, 2.5]), "2 float, 1 missing"),
    (pd.Index(pd.array([1, pd.NA, 2], dtype="Int64")), "2 int, 1 missing"),
    (pd.DatetimeIndex(["2020-01-01", None, "2020-01-02"]), "2 Timestamp, 1 missing"),
])
def test_a_missing_id_is_refused_whatever_the_dtype(ids, detail):
    """Found by mutation testing: typed indexes let a missing id through, object ones
    did not."""
    with pytest.raises(DataError, match=rf"mix types: {detail}\..*A missing id cannot be "
                                        r"written back") as info:
        check_id_types(ids)
    assert info.value.n_rows == 1


def test_categorical_ids_are_checked_by_their_values(fitted, tmp_path):
    """Found by mutation testing: categorical ids passed whatever their categories,
    so 1 and "1" were written to a CSV file as the same id."""
    summary, bg, gg = fitted
    part = _part(summary, 3)
    part.index = pd.CategoricalIndex([1, "1", 2], name="customer_id")
    with pytest.raises(DataError, match=r"mix types: 2 int, 1 str\.") as info:
        predict_clv(part, bg, gg, path=tmp_path / "x.csv", **FAST)
    assert info.value.rule == "mixed_id_types" and info.value.n_rows == 1
    assert list(tmp_path.iterdir()) == []
    part.index = pd.CategoricalIndex(["b", "a", "b"], name="customer_id")
    out = predict_clv(part, bg, gg, **FAST)
    assert out["customer_id"].astype(str).tolist() == ["b", "a", "b"]
