"""Export integrity: atomic files, ids written back as they are, excluded customers kept."""

from __future__ import annotations

import os
import warnings
import tempfile
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import export
from clvmodels._io import atomic_paths, write_text
from clvmodels.data import ExcludedCustomers
from clvmodels.exceptions import DataError, DataWarning
from clvmodels.export import predict_clv
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel

SETTINGS = dict(horizon=52, time_unit="W", interval=0.9, n_draws=20, random_state=3)
FAST = dict(horizon=52, time_unit="W", interval=None)


@pytest.fixture(scope="module")
def fitted():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    return summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)


def _with_ids(summary: pd.DataFrame, ids) -> pd.DataFrame:
    """The first len(ids) customers of ``summary`` renamed to ``ids``."""
    part = summary.iloc[:len(ids)].copy()
    part.index = pd.Index(ids, name="customer_id")
    part.attrs = dict(summary.attrs)
    return part


def _read_csv_ids(path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)["customer_id"].tolist()


# --------------------------------------------------------------------------- atomic writes


def test_atomic_paths_leave_nothing_behind_on_failure(tmp_path):
    target = tmp_path / "sub" / "a.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_paths(target, tmp_path / "sub" / "b.nc") as (a, b):
            a.write_text("new, half written")
            b.write_text("posterior")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path / "sub")) == ["a.txt"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_failure_mid_export_leaves_no_file(fitted, tmp_path, monkeypatch, suffix):
    summary, bg, gg = fitted
    real = export.customer_lifetime_value
    calls = []

    def fail_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("scoring failed in chunk 2")
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "customer_lifetime_value", fail_on_second_chunk)
    path = tmp_path / f"clv{suffix}"
    with pytest.raises(RuntimeError, match="chunk 2"):
        predict_clv(summary, bg, gg, path=path, chunk_size=500, **FAST)
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []  # neither the target nor a temporary file

    path.write_text("previous export")
    calls.clear()
    with pytest.raises(RuntimeError, match="chunk 2"):
        predict_clv(summary, bg, gg, path=path, chunk_size=500, **FAST)
    assert path.read_text() == "previous export"
    assert os.listdir(tmp_path) == [path.name]


def test_parquet_export_when_the_first_chunk_holds_no_scorable_customer(fitted, tmp_path):
    summary, bg, gg = fitted
    bad = summary.copy()
    repeat = bad.index[bad["frequency"] > 0][:4]
    bad = pd.concat([bad.loc[repeat], bad.drop(repeat)])
    bad.loc[repeat, "monetary_value"] = 0.0
    with pytest.warns(DataWarning, match="4 of 2357 customers cannot be scored"):
        path = predict_clv(bad, bg, gg, path=tmp_path / "clv.parquet", chunk_size=4,
                           **SETTINGS)
    table = pq.read_table(path)
    assert table.num_rows == len(summary)
    assert str(table.schema.field("segment").type) == "string"
    back = table.to_pandas()
    with pytest.warns(DataWarning):
        expected = predict_clv(bad, bg, gg, chunk_size=4, **SETTINGS)
    assert back["customer_id"].tolist() == bad.index.tolist()
    np.testing.assert_allclose(back["clv"].to_numpy(float), expected["clv"].to_numpy(float))
    assert back["segment"].isna().sum() == 4
    assert set(back["segment"].dropna()) <= {"low", "middle", "top"}
    assert back.loc[:3, "unscored_reason"].tolist() == [
        "repeat purchases but monetary_value <= 0"] * 4


def test_a_failing_table_writer_leaves_no_partial_table(tmp_path, monkeypatch):
    """write_tables and write_report go through clvmodels._io: a failing writer
    leaves no table behind."""
    from clvmodels.report import tables

    class Result:
        pass

    def broken(result):
        frame = pd.DataFrame({"a": [1]})

        class Bad(pd.DataFrame):
            def to_csv(self, path, **kwargs):  # noqa: ARG002 - writes half, then fails
                Path(path).write_text("a\n")
                raise OSError(28, "No space left on device")

        return {"leaderboard": Bad(frame)}

    monkeypatch.setattr(tables, "report_tables", broken)
    with pytest.raises(OSError, match="No space"):
        tables.write_tables(Result(), tmp_path / "t")
    assert os.listdir(tmp_path / "t") == []


# --------------------------------------------------------------------------- ids


ID_TEXT = st.one_of(
    st.from_regex(r"0{1,3}[0-9]{1,4}", fullmatch=True),               # zero-padded digits
    st.text(alphabet=st.sampled_from('a0é中 ,"\n;\'x-'), min_size=1, max_size=6),
    st.text(min_size=1, max_size=8).filter(lambda s: "\x00" not in s and "\r" not in s),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ids=st.lists(ID_TEXT, min_size=1, max_size=12, unique=True))
def test_text_ids_are_written_back_identically(fitted, ids):
    summary, bg, gg = fitted
    part = _with_ids(summary, ids)
    with tempfile.TemporaryDirectory() as folder:
        csv = predict_clv(part, bg, gg, path=Path(folder) / "x.csv", **FAST)
        parquet = predict_clv(part, bg, gg, path=Path(folder) / "x.parquet", **FAST)
        assert _read_csv_ids(csv) == ids
        text = duckdb.sql(f"SELECT customer_id FROM read_csv('{csv}', all_varchar=true, "
                          "header=true, quote='\"', escape='\"')").fetchall()
        assert [row[0] for row in text] == ids
        table = pq.read_table(parquet)
        assert table.column("customer_id").to_pylist() == ids
        assert set(table.column("customer_id").to_pylist()) == set(part.index)
        assert table.to_pandas()["customer_id"].dtype == part.index.dtype
        assert sorted(os.listdir(folder)) == ["x.csv", "x.parquet"]


@pytest.mark.parametrize("dtype", ["int64", "uint32", "Int64"])
def test_integer_ids_stay_integers(fitted, tmp_path, dtype):
    summary, bg, gg = fitted
    big = 4_000_000_000 if dtype == "uint32" else 10_000_000_001
    ids = pd.Index([7, 123, big, 0], dtype=dtype)
    part = _with_ids(summary, ids)
    csv = predict_clv(part, bg, gg, path=tmp_path / "x.csv", **FAST)
    assert _read_csv_ids(csv) == [str(int(i)) for i in ids]
    back = pq.read_table(predict_clv(part, bg, gg, path=tmp_path / "x.parquet", **FAST))
    assert back.column("customer_id").to_pylist() == [int(i) for i in ids]
    assert back.to_pandas()["customer_id"].dtype == ids.dtype


def test_zero_padded_ids_are_not_merged(fitted, tmp_path):
    summary, bg, gg = fitted
    part = _with_ids(summary, ["00123", "0123", "123", "123.0"])
    out = predict_clv(part, bg, gg, path=tmp_path / "x.csv", **FAST)
    assert _read_csv_ids(out) == ["00123", "0123", "123", "123.0"]


@pytest.mark.parametrize("suffix", [None, ".csv", ".parquet"])
def test_mixed_id_types_are_refused(fitted, tmp_path, suffix):
    summary, bg, gg = fitted
    part = _with_ids(summary, pd.Index([1, "1", 2, "a", 3], dtype=object))
    path = None if suffix is None else tmp_path / f"x{suffix}"
    with pytest.raises(DataError, match=r"mix types: 3 int, 2 str.*astype\(str\)") as info:
        predict_clv(part, bg, gg, path=path, **FAST)
    assert info.value.rule == "mixed_id_types"
    assert info.value.column == "customer_id"
    assert info.value.n_rows == 2
    assert os.listdir(tmp_path) == []
    # The remedy the message gives works.
    part.index = part.index.astype(str)
    out = predict_clv(part, bg, gg, **FAST)
    assert out["customer_id"].tolist() == ["1", "1", "2", "a", "3"]


# --------------------------------------------------------------------------- excluded customers


def test_excluded_customers_of_the_calibration_period_keep_a_row(fitted, tmp_path):
    summary, bg, gg = fitted
    part = _with_ids(summary, [f"{i:05d}" for i in range(10)])
    left_out = pd.DataFrame(
        {"reason": ["all purchases cancelled by returns", "all purchases cancelled by returns",
                    "first purchase after the calibration end"],
         "in_calibration_period": [True, True, False]},
        index=pd.Index(["00100", "00101", "00102"], name="customer_id"))
    part.attrs["excluded_customers"] = ExcludedCustomers(left_out)
    with pytest.warns(DataWarning) as record:
        out = predict_clv(part, bg, gg, **FAST)
    message = " ".join(str(w.message) for w in record)
    assert "2 of 12 customers cannot be scored (2 excluded by rfm_summary: all purchases " \
           "cancelled by returns)" in message
    assert "1 customer(s) excluded by rfm_summary did not buy in the calibration period" \
        in message
    assert out["customer_id"].tolist() == list(part.index) + ["00100", "00101"]
    extra = out.set_index("customer_id").loc[["00100", "00101"]]
    assert extra[["frequency", "recency", "T", "monetary_value", "clv"]].isna().all().all()
    assert (extra["unscored_reason"]
            == "excluded by rfm_summary: all purchases cancelled by returns").all()
    scored = out.set_index("customer_id").loc[list(part.index)]
    assert scored["unscored_reason"].isna().all() and scored["clv"].notna().all()
    with pytest.warns(DataWarning):
        path = predict_clv(part, bg, gg, path=tmp_path / "x.parquet", chunk_size=4, **FAST)
    back = pq.read_table(path).to_pandas()
    assert back["customer_id"].tolist() == out["customer_id"].tolist()
    assert back["unscored_reason"].iloc[-1] == \
        "excluded by rfm_summary: all purchases cancelled by returns"


def test_no_excluded_customers_means_no_extra_rows(fitted):
    summary, bg, gg = fitted
    part = _with_ids(summary, [f"{i:03d}" for i in range(5)])
    out = predict_clv(part, bg, gg, **FAST)
    assert out["customer_id"].tolist() == list(part.index)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk_size=st.integers(1, 7),
       broken=st.lists(st.booleans(), min_size=12, max_size=12))
def test_files_equal_the_in_memory_export_for_any_chunking(fitted, chunk_size, broken):
    """Whichever chunks hold no scorable customer, both files hold every customer with
    the in-memory values and types."""
    summary, bg, gg = fitted
    part = _with_ids(summary.iloc[summary["frequency"].to_numpy() > 0],
                     [f"{i:04d}" for i in range(12)])
    part.loc[np.array(broken), "monetary_value"] = -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        expected = predict_clv(part, bg, gg, **FAST)
        with tempfile.TemporaryDirectory() as folder:
            csv = predict_clv(part, bg, gg, path=Path(folder) / "x.csv",
                              chunk_size=chunk_size, **FAST)
            parquet = predict_clv(part, bg, gg, path=Path(folder) / "x.parquet",
                                  chunk_size=chunk_size, **FAST)
            back_csv = pd.read_csv(csv, dtype={"customer_id": str})
            back_pq = pq.read_table(parquet).to_pandas()
            segment_type = str(pq.read_schema(parquet).field("segment").type)
    assert expected["clv"].isna().sum() == sum(broken)
    for back in (back_csv, back_pq):
        assert back["customer_id"].tolist() == list(part.index)
        np.testing.assert_allclose(back["clv"].to_numpy(float),
                                   expected["clv"].to_numpy(float), rtol=1e-12)
        assert back["segment"].isna().tolist() == broken
    assert segment_type == "string"
