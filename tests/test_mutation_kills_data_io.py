"""data.py's reading (CSV, Parquet, globs, lists), its column spec, the checks of a
log before any engine reads its rows, the exact text of its errors and warnings,
purchase_days and excluded_customers, on logs of a few rows worked out by hand
(mutants of data.py that the other data tests let through; see
tests/mutation/README.md, "Fourth round")."""

from __future__ import annotations

import decimal
import fractions
import os
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest

from clvmodels import data
from clvmodels.data import (ExcludedCustomers, _Spec, excluded_customers, purchase_days,
                            read_transactions, rfm_summary)
from clvmodels.exceptions import DataError, DataWarning

ENGINES = ["pandas", "duckdb"]


def _spec(**kwargs) -> _Spec:
    base = dict(customer_id_col="id", datetime_col="ts", monetary_value_col="amount",
                datetime_format=None, returns="error", time_unit="D", resolution="D",
                tick_days=1.0)
    return _Spec(**{**base, **kwargs})


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return func(*args, **kwargs)


class _Stop(Exception):
    pass


def _captured_spec(monkeypatch, func, *args, **kwargs):
    """The spec and engine ``func`` hands to ``_open_log`` (stopped there)."""
    seen = {}

    def fake(transactions, spec, engine):
        seen.update(transactions=transactions, spec=spec, engine=engine)
        raise _Stop

    monkeypatch.setattr(data, "_open_log", fake)
    with pytest.raises(_Stop):
        func(*args, **kwargs)
    return seen


# --------------------------------------------------------------------------- the column spec


def test_rfm_summary_passes_every_option_to_the_spec(monkeypatch):
    tx = pd.DataFrame({"cid": [1], "when": ["2024-01-01"], "amt": [1.0], "ord": [1]})
    seen = _captured_spec(
        monkeypatch, rfm_summary, tx, "cid", "when", "amt", "2024-02-01", "2024-01-15", "M",
        datetime_format="%Y-%m-%d", returns="net", merge_within="h", engine="duckdb",
        order_id_col="ord", duplicates="drop", zero_amounts="drop", missing_ids="drop",
        money_decimals=3, memory_limit="2GB", include_first_transaction=True, log_spend=True)
    assert seen["transactions"] is tx and seen["engine"] == "duckdb"
    assert seen["spec"] == _Spec(
        "cid", "when", "amt", "%Y-%m-%d", "net", "M", "h", 1.0 / 24.0, order_id_col="ord",
        duplicates="drop", zero_amounts="drop", missing_ids="drop", money_decimals=3,
        memory_limit="2GB", include_first_transaction=True, log_spend=True)


def test_rfm_summary_defaults_in_the_spec(monkeypatch):
    seen = _captured_spec(monkeypatch, rfm_summary, "log.csv", "id", "ts")
    assert seen["engine"] is None
    assert seen["spec"] == _Spec("id", "ts", None, None, "error", "W", "D", 1.0)
    seen = _captured_spec(monkeypatch, rfm_summary, "log.csv", "id", "ts", "amount",
                          merge_within=None, time_unit="years")
    assert seen["spec"] == _Spec("id", "ts", "amount", None, "error", "Y", "us",
                                 1.0 / 86_400e6)


def test_purchase_days_passes_every_option_to_the_spec(monkeypatch):
    seen = _captured_spec(
        monkeypatch, purchase_days, "log.csv", "cid", "when", "amt", "2024-02-01",
        datetime_format="%Y", returns="drop", merge_within="h", engine="pandas",
        order_id_col="ord", duplicates="drop", zero_amounts="drop", missing_ids="drop",
        money_decimals=0, memory_limit="3GB")
    assert seen["engine"] == "pandas"
    # purchase_days is always in days (its rows are timestamps, not durations).
    assert seen["spec"] == _Spec(
        "cid", "when", "amt", "%Y", "drop", "D", "h", 1.0 / 24.0, order_id_col="ord",
        duplicates="drop", zero_amounts="drop", missing_ids="drop", money_decimals=0,
        memory_limit="3GB")
    seen = _captured_spec(monkeypatch, purchase_days, "log.csv", "id", "ts")
    assert seen["engine"] is None
    assert seen["spec"] == _Spec("id", "ts", None, None, "error", "D", "D", 1.0)


def test_make_spec_defaults():
    assert data._make_spec("id", "ts", "amount", None, "error", "days", "D") == _Spec(
        "id", "ts", "amount", None, "error", "D", "D", 1.0, order_id_col=None,
        duplicates="keep", zero_amounts="keep", missing_ids="error", money_decimals=2,
        memory_limit=None, include_first_transaction=False, log_spend=False)


@pytest.mark.parametrize("decimals", [0, 6, np.int64(4)])
def test_money_decimals_from_0_to_6_are_accepted(decimals):
    spec = data._make_spec("id", "ts", "amount", None, "error", "D", "D",
                           money_decimals=decimals)
    assert spec.money_decimals == int(decimals) and type(spec.money_decimals) is int


@pytest.mark.parametrize("decimals", [-1, 7, True, 2.0, "2"])
def test_other_money_decimals_are_refused(decimals):
    with pytest.raises(ValueError, match="money_decimals must be an integer from 0 to 6"):
        data._make_spec("id", "ts", "amount", None, "error", "D", "D", money_decimals=decimals)


@pytest.mark.parametrize("name", ["include_first_transaction", "log_spend"])
def test_flags_take_numpy_booleans_and_refuse_numbers(name):
    spec = data._make_spec("id", "ts", "amount", None, "error", "D", "D",
                           **{name: np.bool_(True)})
    assert getattr(spec, name) is True
    with pytest.raises(ValueError, match=f"{name} must be True or False, got 1"):
        data._make_spec("id", "ts", "amount", None, "error", "D", "D", **{name: 1})


def test_log_spend_needs_an_amount_column():
    with pytest.raises(ValueError, match="log_spend=True needs monetary_value_col"):
        data._make_spec("id", "ts", None, None, "error", "D", "D", log_spend=True)
    assert data._make_spec("id", "ts", None, None, "error", "D", "D").log_spend is False


@pytest.mark.parametrize("limit", ["4GB", " 1.5 gb ", "500MiB", "2TB", "10kb"])
def test_memory_limits_in_words_are_accepted(limit):
    spec = data._make_spec("id", "ts", "amount", None, "error", "D", "D", memory_limit=limit)
    assert spec.memory_limit == limit


@pytest.mark.parametrize("limit", ["4", "4 G", "GB", "4GBx", "1.GB", 4, ""])
def test_other_memory_limits_are_refused(limit):
    with pytest.raises(ValueError, match="memory_limit must be a size"):
        data._make_spec("id", "ts", "amount", None, "error", "D", "D", memory_limit=limit)


@pytest.mark.parametrize("option,value", [("returns", "keep"), ("duplicates", "error"),
                                          ("zero_amounts", "net"), ("missing_ids", "keep"),
                                          ("merge_within", "W")])
def test_unknown_option_values_are_refused(option, value):
    kwargs = {"returns": "error", "merge_within": "D", option: value}
    returns, merge = kwargs.pop("returns"), kwargs.pop("merge_within")
    with pytest.raises(ValueError, match=f"{option} must be"):
        data._make_spec("id", "ts", "amount", None, returns, "D", merge, **kwargs)


# --------------------------------------------------------------------------- reading files


def _write_csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_read_transactions_reads_ids_and_timestamps_as_written(tmp_path):
    path = _write_csv(tmp_path / "log.csv", "id,ts,amount\n1,2024-01-01,5.5\n2,2024-01-02,3\n")
    frame = read_transactions(path, ["id", "ts", "amount"])
    assert list(frame.columns) == ["id", "ts", "amount"]
    assert frame["id"].tolist() == ["1", "2"]
    assert frame["ts"].tolist() == ["2024-01-01", "2024-01-02"]
    assert frame["amount"].tolist() == [5.5, 3.0]
    # The first two columns asked for are text, the others typed by DuckDB.
    frame = read_transactions(path, ["ts", "amount", "id"])
    assert list(frame.columns) == ["ts", "amount", "id"]
    assert frame["ts"].tolist() == ["2024-01-01", "2024-01-02"]
    assert frame["amount"].tolist() == ["5.5", "3"]
    assert frame["id"].tolist() == [1, 2]
    # Without columns, every column is read with DuckDB's types unless named as text.
    frame = read_transactions(path)
    assert list(frame.columns) == ["id", "ts", "amount"]
    assert frame["id"].tolist() == [1, 2]
    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    frame = read_transactions(path, text_columns=["id"])
    assert frame["id"].tolist() == ["1", "2"]
    assert frame["ts"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]


def test_read_transactions_reads_a_glob_a_list_and_parquet(tmp_path):
    _write_csv(tmp_path / "b.csv", "id,ts,amount\n2,2024-01-03,4\n")
    _write_csv(tmp_path / "a.csv", "id,ts,amount\n1,2024-01-01,5\n")
    rows = read_transactions(str(tmp_path / "*.csv"), ["id", "ts", "amount"])
    assert sorted(rows["id"]) == ["1", "2"]
    rows = read_transactions([tmp_path / "a.csv", tmp_path / "b.csv"], ["id", "ts"])
    assert sorted(rows["id"]) == ["1", "2"] and list(rows.columns) == ["id", "ts"]
    pd.DataFrame({"id": [3, 4], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                  "amount": [1.0, 2.0]}).to_parquet(tmp_path / "c.parquet")
    rows = read_transactions(tmp_path / "c.parquet", ["id", "amount"])
    assert rows["id"].tolist() == [3, 4] and rows["amount"].tolist() == [1.0, 2.0]


def test_read_transactions_names_a_missing_column(tmp_path):
    path = _write_csv(tmp_path / "log.csv", "id,ts\n1,2024-01-01\n")
    with pytest.raises(DataError) as info:
        read_transactions(path, ["id", "ts", "amount"])
    assert str(info.value) == ("The transaction log has no column(s) ['amount']; its "
                               "columns are ['id', 'ts'].")
    assert info.value.column == "amount" and info.value.rule == "missing_columns"


def test_missing_columns_of_a_frame_are_named_with_the_present_ones():
    frame = pd.DataFrame({"id": [1], "when": ["2024-01-01"]})
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount")
    assert str(info.value) == ("The transaction log has no column(s) ['ts', 'amount']; its "
                               "columns are ['id', 'when'].")
    assert info.value.column == "ts" and info.value.rule == "missing_columns"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_csv_gives_the_frame_summary_with_zero_padded_ids_kept(tmp_path, engine):
    path = _write_csv(tmp_path / "log.csv",
                      "id,ts,amount,note\n007,2024-01-01,10,x\n7,2024-01-01,4,y\n"
                      "007,2024-01-03,6,z\n")
    summary = _quiet(rfm_summary, path, "id", "ts", "amount", engine=engine, time_unit="D")
    assert summary.index.tolist() == ["007", "7"]
    assert summary["frequency"].tolist() == [1, 0]
    assert summary["monetary_value"].tolist() == [6.0, 0.0]
    assert summary["T"].tolist() == [2.0, 2.0]


def test_a_folder_an_empty_file_and_nothing_at_a_path_are_refused(tmp_path):
    folder = tmp_path / "x.csv"
    folder.mkdir()
    with pytest.raises(DataError) as info:
        read_transactions(folder)
    assert str(info.value) == (f"{str(folder)!r} is a folder, not a transaction log file; "
                               "pass the files in it, e.g. 'folder/*.parquet'.")
    assert info.value.rule == "unreadable_file"
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError) as info:
        rfm_summary(empty, "id", "ts")
    assert str(info.value) == (f"The file {str(empty)!r} is empty (0 bytes): not even a "
                               "header row.")
    assert info.value.rule == "empty_file" and info.value.n_rows == 0
    with pytest.raises(FileNotFoundError, match="No transaction log at .*nope"):
        read_transactions([tmp_path / "nope.csv"])
    with pytest.raises(FileNotFoundError, match=r"No transaction log at .*\*\.parquet"):
        read_transactions(str(tmp_path / "*.parquet"))


def test_the_paths_of_a_glob_are_sorted(tmp_path):
    for name in ("c.csv", "a.csv", "b.csv"):
        _write_csv(tmp_path / name, "id\n1\n")
    assert data._source_paths(str(tmp_path / "*.csv")) == [
        str(tmp_path / n) for n in ("a.csv", "b.csv", "c.csv")]
    assert data._source_paths([tmp_path / "c.csv", str(tmp_path / "a*")]) == [
        str(tmp_path / "c.csv"), str(tmp_path / "a.csv")]


def test_a_corrupt_file_is_unreadable_with_the_first_line_of_duckdbs_reason(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError) as info:
        rfm_summary(bad, "id", "ts")
    message = str(info.value)
    assert message.startswith(f"Cannot read the transaction log {str(bad)!r}: ")
    assert message.endswith(". Check that it is a complete CSV file with a header row, or a "
                            "valid Parquet file.")
    assert "\n" not in message and info.value.rule == "unreadable_file"


def test_unreadable_names_one_file_or_how_many():
    err = data._unreadable(["a.csv"], OSError("  first line\nsecond line  "))
    assert isinstance(err, DataError) and err.rule == "unreadable_file"
    assert str(err) == ("Cannot read the transaction log 'a.csv': first line. Check that it is "
                        "a complete CSV file with a header row, or a valid Parquet file.")
    err = data._unreadable(["a.csv", "b.csv", "c.csv"], duckdb.IOException(" "))
    assert str(err).startswith("Cannot read the transaction log 3 files ('a.csv', ...): "
                               "IOException. Check")


def test_which_duckdb_errors_are_the_files_fault():
    catalog = duckdb.CatalogException("no such table")
    for err in (duckdb.IOException("x"), duckdb.InvalidInputException("x"),
                duckdb.ConversionException("x"), duckdb.Error("x")):
        assert data._is_read_error(err) and data._is_read_error(err, reading=True)
    assert not data._is_read_error(catalog)
    assert data._is_read_error(catalog, reading=True)
    assert not data._is_read_error(ValueError("x"), reading=True)
    assert not data._is_read_error(ValueError("x"))


def test_the_pandas_engine_reads_a_file_with_every_column(tmp_path):
    path = _write_csv(tmp_path / "log.csv",
                      "id,ts,amount,shop\n01,2024-01-01,5,A\n01,2024-01-01,5,B\n"
                      "1,2024-01-02,2,A\n")
    # Rows differing only in "shop" are not duplicates: every column is read.
    summary = _quiet(rfm_summary, path, "id", "ts", "amount", engine="pandas",
                     duplicates="drop")
    assert summary.index.tolist() == ["01", "1"]
    assert summary.attrs["exclusions"]["duplicate_rows_dropped"] == 0
    assert summary.attrs["notes"]["duplicate_rows_kept"] == 0
    # Ids and timestamps are read as text, as the DuckDB engine reads them.
    path = _write_csv(tmp_path / "ints.csv", "id,ts\n1,2024-01-01\n2,2024-01-02\n")
    for engine in ENGINES:
        summary = _quiet(rfm_summary, path, "id", "ts", engine=engine)
        assert summary.index.tolist() == ["1", "2"]
    with pytest.raises(ValueError, match="engine must be 'pandas' or 'duckdb', got 'spark'"):
        rfm_summary(path, "id", "ts", "amount", engine="spark")


def test_the_engine_by_default_pandas_for_a_frame_duckdb_for_files(tmp_path):
    frame = pd.DataFrame({"id": [1], "ts": pd.to_datetime(["2024-01-01"]), "amount": [1.0]})
    spec = _spec()
    log = data._open_log(frame, spec, None)
    assert type(log) is data._PandasLog and log.frame is frame and log.spec is spec
    assert data._open_log(frame, spec, "pandas").frame is frame
    log = data._open_log(frame, spec, "duckdb")
    with log:
        assert type(log) is data._DuckDBLog and log.spec is spec
    frame.to_parquet(tmp_path / "log.parquet")
    log = data._open_log(tmp_path / "log.parquet", spec, None)
    with log:
        assert type(log) is data._DuckDBLog
    log = data._open_log(tmp_path / "log.parquet", spec, "pandas")
    assert type(log) is data._PandasLog and log.frame["amount"].tolist() == [1.0]


# --------------------------------------------------------------------------- frame checks


def test_duplicate_column_names_are_refused_with_their_count():
    frame = pd.DataFrame([[1, "2024-01-01", 1.0, 2.0, 3.0]],
                         columns=["id", "ts", "amount", "amount", "amount"])
    for engine in ENGINES:
        with pytest.raises(DataError) as info:
            rfm_summary(frame, "id", "ts", "amount", engine=engine)
        assert str(info.value).startswith("The DataFrame has 3 columns named 'amount': ")
        assert info.value.column == "amount" and info.value.rule == "duplicate_columns"
    # The first column of the spec named twice is the one reported.
    twice = pd.DataFrame([[1, "2024-01-01", "2024-01-02", 1.0, 2.0, 3.0]],
                         columns=["id", "ts", "ts", "amount", "amount", "amount"])
    with pytest.raises(DataError) as info:
        rfm_summary(twice, "id", "ts", "amount")
    assert str(info.value) == (
        "The DataFrame has 2 columns named 'ts': it is not clear which one to use. Drop or "
        "rename the duplicates first, e.g. frame.loc[:, ~frame.columns.duplicated()].")
    assert info.value.column == "ts"
    # A column named twice in the spec is one column.
    twice = pd.DataFrame({"id": [1, 1], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"])})
    summary = _quiet(rfm_summary, twice, "id", "ts", order_id_col="id", time_unit="D")
    assert summary["frequency"].tolist() == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_mixed_id_types_are_refused_with_counts_and_the_first_of_each(engine):
    ids = [5, "a", 6, 2.5, "b", 7, None, True]
    frame = pd.DataFrame({"id": pd.Series(ids, dtype=object),
                          "ts": pd.to_datetime(["2024-01-01"] * 8), "amount": [1.0] * 8})
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount", engine=engine)
    error = info.value
    assert str(error).startswith(
        "Column 'id' mixes customer ids of different types (3 int, 2 str, 1 float, 1 bool): "
        "1 and '1' would be two customers here but one in a CSV file or an export. Convert "
        "the ids to one type first, e.g. frame['id'] = frame['id'].astype(str). Examples: ")
    assert error.column == "id" and error.rule == "mixed_id_types" and error.n_rows == 4
    assert error.examples == [5, "a", 2.5, True]


def test_two_id_types_and_at_most_five_examples():
    frame = pd.DataFrame({"id": pd.Series([1, 2, "a"], dtype=object),
                          "ts": pd.to_datetime(["2024-01-01"] * 3)})
    with pytest.raises(DataError) as info:
        data._check_frame(frame, _spec(monetary_value_col=None, customer_id_col="id"))
    assert "mixes customer ids of different types (2 int, 1 str): " in str(info.value)
    assert (info.value.n_rows, info.value.examples) == (1, [1, "a"])
    six = [1, "a", 2.5, True, decimal.Decimal("1.5"), b"x", 3, "b"]
    frame = pd.DataFrame({"id": pd.Series(six, dtype=object),
                          "ts": pd.to_datetime(["2024-01-01"] * 8)})
    with pytest.raises(DataError) as info:
        data._check_frame(frame, _spec(monetary_value_col=None))
    assert info.value.n_rows == 6 and info.value.examples == six[:5]


def test_ids_of_one_type_are_fine_and_typed_columns_are_not_inspected():
    frame = pd.DataFrame({"id": pd.Series([np.int64(1), 2, np.int32(3)], dtype=object),
                          "ts": pd.to_datetime(["2024-01-01"] * 3)})
    data._check_frame(frame, _spec(monetary_value_col=None))
    data._check_frame(frame.astype({"id": np.int64}), _spec(monetary_value_col=None))


def test_id_kinds():
    assert data._id_kind(str) == "str" and data._id_kind(np.str_) == "str"
    assert data._id_kind(bool) == "bool" and data._id_kind(np.bool_) == "bool"
    assert data._id_kind(int) == "int" and data._id_kind(np.int32) == "int"
    assert data._id_kind(float) == "float" and data._id_kind(np.float32) == "float"
    assert data._id_kind(fractions.Fraction) == "float"
    assert data._id_kind(decimal.Decimal) == "Decimal"
    assert data._id_kind(tuple) == "tuple"


# --------------------------------------------------------------------------- text helpers


def test_arrow_text_writes_whole_numbers_without_decimals_and_trims_blanks():
    assert data._arrow_text(pd.Series([19970101.0, np.nan])).to_pylist() == ["19970101", None]
    assert data._arrow_text(pd.Series([19970101, 20])).to_pylist() == ["19970101", "20"]
    assert data._arrow_text(pd.Series([1.5, 2.0])).to_pylist() == ["1.5", "2.0"]
    assert data._arrow_text(pd.Series([True, False])).to_pylist() == ["True", "False"]
    assert data._arrow_text(pd.Series([" a b  ", "\tc ", None], dtype=object)).to_pylist() == [
        "a b", "\tc", None]
    assert data._arrow_text(pd.Series(["XaX ", None], dtype=object)).to_pylist() == ["XaX", None]
    assert data._arrow_text(pd.Series([None, None], dtype=object)).to_pylist() == [None, None]


def test_re2_matches_gives_booleans_and_false_for_missing_text():
    text = data._arrow_text(pd.Series(["2024-01-01T10:00Z", "x", None, "10:00 +0200"],
                                      dtype=object))
    found = data._re2_matches(text, data._TZ_PATTERN)
    assert found.dtype == bool and found.tolist() == [True, False, False, True]
    assert data._re2_matches(text, "^x$").tolist() == [False, True, False, False]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("engine", ENGINES)
def test_an_observation_end_on_the_first_purchase_keeps_it(engine):
    frame = pd.DataFrame({"id": [1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-01-04"]),
                          "amount": [2.0, 3.0]})
    summary = _quiet(rfm_summary, frame, "id", "ts", "amount", "2024-01-01", engine=engine,
                     time_unit="D")
    assert summary.index.tolist() == [1] and summary["T"].tolist() == [0.0]
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount", "2023-12-31", engine=engine)
    assert str(info.value) == ("observation_period_end (2023-12-31) is before the first "
                               "purchase in column 'ts' (2024-01-01).")
    assert info.value.column == "ts"
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount", "someday", engine=engine)
    assert str(info.value).startswith("observation_period_end='someday' is not a date: ")


@pytest.mark.parametrize("merge,expected", [("D", "D"), ("h", "h"), (None, None)])
@pytest.mark.parametrize("engine", ENGINES)
def test_the_summary_attrs(engine, merge, expected):
    frame = pd.DataFrame({"id": ["a", "b", "a"],
                          "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 00:00",
                                                 "2024-01-05 00:00"]),
                          "amount": [2.0, 3.0, 4.0]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = rfm_summary(frame, "id", "ts", "amount", calibration_period_end="2024-01-04",
                              merge_within=merge, engine=engine, time_unit="h")
    attrs = summary.attrs
    assert sorted(attrs) == ["calibration_period_end", "exclusions",
                             "include_first_transaction", "merge_within", "n_transactions",
                             "notes", "observation_period_end", "time_unit"]
    assert attrs["time_unit"] == "h" and attrs["merge_within"] == expected
    assert attrs["include_first_transaction"] is False and attrs["n_transactions"] == 3
    resolution = {"D": "", "h": "T00", None: "T00:00:00.000000"}[merge]
    assert attrs["observation_period_end"] == "2024-01-05" + resolution
    assert attrs["calibration_period_end"] == "2024-01-04" + resolution
    assert summary["frequency_holdout"].tolist() == [1, 0]
    assert excluded_customers(summary).empty
    # Without a calibration end: no holdout columns and the observation end twice.
    plain = rfm_summary(frame.iloc[:2], "id", "ts", "amount", merge_within=merge, engine=engine,
                        include_first_transaction=True)
    assert plain.attrs["calibration_period_end"] == plain.attrs["observation_period_end"]
    assert plain.attrs["include_first_transaction"] is True
    assert list(plain.columns) == ["frequency", "recency", "T", "monetary_value"]


@pytest.mark.parametrize("engine", ENGINES)
def test_all_ids_missing_is_refused_with_the_count(engine):
    frame = pd.DataFrame({"id": [None, None, None], "amount": [1.0, 2.0, 3.0],
                          "ts": pd.to_datetime(["2024-01-01"] * 3)})
    with pytest.raises(DataError) as info:
        rfm_summary(frame, "id", "ts", "amount", engine=engine, missing_ids="drop")
    assert str(info.value) == ("All 3 rows have a missing customer id in column 'id': "
                               "nothing is left after missing_ids='drop'.")
    assert (info.value.column, info.value.rule, info.value.n_rows) == ("id", "null_ids", 3)


def test_no_ids_left_is_refused_only_when_ids_were_dropped():
    spec = _spec()
    data._refuse_no_ids_left(0, {"rows_without_customer_id": 0}, spec)
    data._refuse_no_ids_left(2, {"rows_without_customer_id": 5}, spec)
    with pytest.raises(DataError, match="All 5 rows"):
        data._refuse_no_ids_left(0, {"rows_without_customer_id": 5}, spec)


def test_overflow_names_the_count_the_limit_and_the_decimals():
    data._refuse_overflow(0, _spec())
    with pytest.raises(DataError) as info:
        data._refuse_overflow(3, _spec(monetary_value_col="spend"))
    assert str(info.value) == (
        "3 customers' amounts in column 'spend' add up to 9.01e+13 or more (the most that "
        "sums exactly at money_decimals=2); check the unit of the amounts or remove those "
        "rows.")
    assert (info.value.column, info.value.rule, info.value.n_rows) == (
        "spend", "amount_sum_overflow", 3)
    with pytest.raises(DataError, match=r"add up to 9.01e\+15 or more .*money_decimals=0\)"):
        data._refuse_overflow(1, _spec(money_decimals=0))


# --------------------------------------------------------------------------- excluded customers


def test_excluded_customers_of_a_summary_without_any():
    summary = pd.DataFrame({"frequency": [1]}, index=pd.Index(["x"], name="cust"))
    frame = excluded_customers(summary)
    assert frame.empty and list(frame.columns) == ["reason", "in_calibration_period"]
    assert frame.index.name == "cust" and frame.index.dtype == summary.index.dtype
    assert frame["reason"].dtype == object and frame["in_calibration_period"].dtype == bool
    ints = pd.DataFrame({"frequency": [1]}, index=pd.Index([4], name="n", dtype=np.int64))
    assert excluded_customers(ints).index.dtype == np.int64


@pytest.mark.parametrize("engine", ENGINES)
def test_excluded_customers_is_a_copy_with_reasons(engine):
    frame = pd.DataFrame({"id": [1, 2, 3], "amount": [5.0, 1.0, 2.0],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-09", "2024-01-02"])})
    summary = _quiet(rfm_summary, frame, "id", "ts", "amount", engine=engine,
                     calibration_period_end="2024-01-05")
    out = excluded_customers(summary)
    assert out.to_dict() == {"reason": {2: "first purchase after the calibration end"},
                             "in_calibration_period": {2: False}}
    out.loc[2, "reason"] = "changed"
    assert excluded_customers(summary).loc[2, "reason"] == (
        "first purchase after the calibration end")
    assert len(summary.attrs["excluded_customers"]) == 1


def test_excluded_customers_holders_compare_by_their_frames():
    def holder(ids, reasons, name="id"):
        return ExcludedCustomers(pd.DataFrame(
            {"reason": reasons, "in_calibration_period": [False] * len(ids)},
            index=pd.Index(ids, name=name)))

    a = holder([1, 2], ["x", "y"])
    assert a == a and a == holder([1, 2], ["x", "y"])
    assert holder([1, 2], ["x", "y"]) == holder([1.0, 2.0], ["x", "y"])
    assert a != holder([1, 2], ["x", "y"], name="cust")
    assert a != holder([2, 1], ["x", "y"])
    assert a != holder([1, 2], ["x", "z"])
    assert a != holder([1, 2, 3], ["x", "y", "z"])
    assert (a == 5) is False and a.__eq__(a.frame) is NotImplemented


# --------------------------------------------------------------------------- error messages


class _Examples:
    """A log whose examples name the rule asked for."""

    def examples(self, rule):
        return [("x", rule)]


#: The message of each rule for 2 bad rows of 5 (column names id, ts, amount).
RULE_MESSAGES = {
    "null_ids": ("id", "2 of 5 rows have a missing customer id in column 'id'; pass "
                       "missing_ids='drop' to drop them (they are counted)."),
    "missing_dates": ("ts", "2 of 5 rows have a missing timestamp in column 'ts'."),
    "numeric_dates": ("ts", "Column 'ts' holds numbers, not timestamps (2 rows); pass "
                            "datetime_format (e.g. '%Y%m%d' for 19970101) or convert it."),
    "unparseable_dates": (
        "ts", "2 of 5 rows of column 'ts' cannot be read as timestamps: without "
              "datetime_format, timestamps must be ISO 8601 text (YYYY-MM-DD, optionally with "
              "a time HH:MM[:SS[.f]] and a zone such as Z or +02:00); pass datetime_format "
              "(e.g. '%d.%m.%Y %H:%M') if they use another format."),
    "mixed_timezones": ("ts", "Column 'ts' mixes timezone-aware and naive timestamps: 2 rows "
                              "carry a zone or UTC offset and 3 do not. Localise the naive "
                              "ones (or strip the zones) so all rows mean the same clock."),
    "missing_amounts": ("amount", "2 of 5 rows have a missing amount in column 'amount'."),
    "non_numeric_amounts": ("amount", "2 of 5 rows of column 'amount' are not numbers."),
    "infinite_amounts": ("amount", "2 of 5 rows of column 'amount' are infinite."),
    "negative_amounts": ("amount", "2 of 5 rows of column 'amount' are negative (returns?); "
                                   "pass returns='net' to net them against the customer's "
                                   "earlier purchases or returns='drop' to remove them."),
    "dates_out_of_range": ("ts", "2 of 5 rows of column 'ts' are outside the supported range "
                                 "1677-09-22 to 2262-04-11. Placeholder dates such as "
                                 "9999-12-31 or 1900-01-01 must be removed or replaced first: "
                                 "they are not a customer's history."),
    "ambiguous_dates": ("ts", "2 of 5 rows of column 'ts' are dates like 01/02/2020 whose day "
                              "and month order is ambiguous; pass datetime_format, e.g. "
                              "'%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)."),
}


@pytest.mark.parametrize("rule", list(RULE_MESSAGES))
def test_each_rule_says_how_many_rows_of_which_column(rule):
    column, message = RULE_MESSAGES[rule]
    with pytest.raises(DataError) as info:
        data._raise_first_problem({"rows": 5, rule: np.int64(2), "naive_dates": 3},
                                  _Examples(), _spec())
    error = info.value
    assert str(error) == f"{message} Examples: ('x', {rule!r})."
    assert (error.column, error.rule, error.n_rows, error.examples) == (
        column, rule, 2, [("x", rule)])
    assert type(error.n_rows) is int


def test_rule_messages_with_a_format_and_without_the_naive_count():
    with pytest.raises(DataError) as info:
        data._raise_first_problem({"rows": 4, "unparseable_dates": 1}, _Examples(),
                                  _spec(datetime_format="%d.%m.%Y"))
    assert str(info.value).startswith(
        "1 of 4 rows of column 'ts' cannot be read as timestamps in the format '%d.%m.%Y'. "
        "Examples:")
    with pytest.raises(DataError, match="1 rows carry a zone or UTC offset and 0 do not"):
        data._raise_first_problem({"rows": 4, "mixed_timezones": 1}, _Examples(), _spec())


def test_an_empty_log_and_the_order_of_the_rules():
    with pytest.raises(DataError) as info:
        data._raise_first_problem({"rows": 0}, _Examples(), _spec())
    assert str(info.value) == "The transaction log has no rows."
    assert (info.value.rule, info.value.n_rows, info.value.examples) == ("empty", 0, [])
    counts = {"rows": 5, "ambiguous_dates": 1, "negative_amounts": 1, "missing_dates": 0,
              "infinite_amounts": 0}
    with pytest.raises(DataError) as info:
        data._raise_first_problem(counts, _Examples(), _spec())
    assert info.value.rule == "negative_amounts"
    for returns in ("net", "drop"):  # negative amounts are returns then
        with pytest.raises(DataError) as info:
            data._raise_first_problem(counts, _Examples(), _spec(returns=returns))
        assert info.value.rule == "ambiguous_dates"
    data._raise_first_problem({"rows": 5, "negative_amounts": 3}, _Examples(),
                              _spec(returns="net"))
    data._raise_first_problem({"rows": 5, "null_ids": 0}, _Examples(), _spec())


# --------------------------------------------------------------------------- the warning


def _warning(exclusions, notes=None, **spec):
    with pytest.warns(DataWarning) as record:
        data._warn_exclusions(exclusions, _spec(**spec), notes=notes)
    assert len(record) == 1
    return str(record[0].message)


def test_the_warning_counts_every_exclusion_in_order():
    exclusions = {
        "transactions_after_observation_end": 1, "customers_after_calibration_end": 2,
        "rows_dropped_as_returns": 3, "days_cancelled_by_returns": 4,
        "customers_without_purchases": 5, "customers_after_observation_end": 6,
        "duplicate_rows_dropped": 7, "rows_without_customer_id": 8,
        "zero_amount_rows_dropped": 9, "amounts_rounded": 10, "return_rows_netted": 11,
        "return_amount_netted_by_order": 1.5, "return_amount_netted_by_day": 2.25,
        "return_rows_unmatched": 12, "return_amount_unmatched": 0.75,
    }
    notes = {"duplicate_rows_kept": 13, "zero_amount_rows_kept": 14,
             "extreme_monetary_customers": 15, "extreme_monetary_threshold": 152.22}
    assert _warning(exclusions, notes, customer_id_col="cid", monetary_value_col="amt") == (
        "rfm_summary excluded 1 transactions after the observation end; 2 customers whose "
        "first purchase is after the calibration end; 3 rows with a negative 'amt' (returns; "
        "the purchases they cancel still count as purchases: pass returns='net' to net "
        "returns against them); 4 purchase days fully refunded by later or same-day returns "
        "(no longer purchases); 5 customers left with no purchase; 6 customers whose first "
        "transaction is after the observation end; 7 exact duplicate rows "
        "(duplicates='drop'); 8 rows without a customer id in 'cid' (missing_ids='drop'); "
        "9 rows with a zero 'amt' (zero_amounts='drop'); 12 return rows that match no "
        "purchase on or before them; 0.75 of returns exceeding what was bought before them. "
        "Returns (11 rows) were netted: 1.5 against the same order and 2.25 against the "
        "customer's purchase days on or before the return. 10 amounts in 'amt' have more "
        "than 2 decimals and were rounded to 0.01 (money_decimals=2). Note: 13 exact "
        "duplicate rows were kept (duplicates='drop' drops them); 14 rows with a zero 'amt' "
        "were kept (zero_amounts='drop' drops them); 15 customers have an extreme "
        "monetary_value (above 152.22, Q3 + 3 IQR of log monetary_value among repeat "
        "customers). The counts are in summary.attrs['exclusions'] and ['notes']; the "
        "customers left out in clvmodels.data.excluded_customers(summary).")


def test_the_warning_names_only_what_happened():
    tail = " The counts are in summary.attrs['exclusions'] and ['notes']."
    left_out = ("; the customers left out in clvmodels.data.excluded_customers(summary).")
    assert _warning({"duplicate_rows_dropped": 2, "customers_after_calibration_end": 0}) == (
        "rfm_summary excluded 2 exact duplicate rows (duplicates='drop')." + tail)
    assert _warning({"customers_without_purchases": 1}) == (
        "rfm_summary excluded 1 customers left with no purchase." + tail[:-1] + left_out)
    assert _warning({"customers_after_calibration_end": 3}).endswith(left_out)
    assert _warning({"customers_after_observation_end": 4}).endswith(left_out)
    assert _warning({"return_amount_netted_by_day": 2.5}) == (
        "Returns (0 rows) were netted: 2.5 against the customer's purchase days on or before "
        "the return." + tail)
    assert _warning({"return_rows_netted": 2, "return_amount_netted_by_order": 1.25}) == (
        "Returns (2 rows) were netted: 1.25 against the same order." + tail)
    assert _warning({"amounts_rounded": 3}, money_decimals=0) == (
        "3 amounts in 'amount' have more than 0 decimals and were rounded to 1 "
        "(money_decimals=0)." + tail)
    assert _warning({"amounts_rounded": 1}, money_decimals=3).startswith(
        "1 amounts in 'amount' have more than 3 decimals and were rounded to 0.001 ")
    assert _warning({}, {"zero_amount_rows_kept": 2}) == (
        "Note: 2 rows with a zero 'amount' were kept (zero_amounts='drop' drops them)." + tail)
    assert _warning({}, {"duplicate_rows_kept": 1, "extreme_monetary_customers": 0}) == (
        "Note: 1 exact duplicate rows were kept (duplicates='drop' drops them)." + tail)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data._warn_exclusions({"return_rows_netted": 3, "transactions_after_observation_end": 0},
                              _spec())
        data._warn_exclusions({}, _spec(), notes={"extreme_monetary_threshold": 5.0})


#: mutmut's trampolines add a frame to every call of data.py, so under mutmut a
#: warning's stacklevel cannot point at the test (where it points is not checked then).
UNDER_MUTMUT = "MUTANT_UNDER_TEST" in os.environ


@pytest.mark.parametrize("engine", ENGINES)
def test_the_warnings_point_at_the_callers_line(engine):
    frame = pd.DataFrame({"id": [1, 1], "ts": pd.to_datetime(["2024-01-01", "2024-01-01"]),
                          "amount": [1.0, 1.0]})
    with pytest.warns(DataWarning) as record:
        rfm_summary(frame, "id", "ts", "amount", engine=engine)
    assert str(record[0].message).startswith("Note: 1 exact duplicate rows were kept")
    assert UNDER_MUTMUT or record[0].filename == __file__
    with pytest.warns(DataWarning) as record:
        purchase_days(frame, "id", "ts", "amount", engine=engine)
    assert str(record[0].message).startswith("Note: 1 exact duplicate rows were kept")
    assert UNDER_MUTMUT or record[0].filename == __file__


# --------------------------------------------------------------------------- purchase days


@pytest.mark.parametrize("engine", ENGINES)
def test_purchase_days_by_hand(engine):
    tx = pd.DataFrame({
        "cid": ["x", "x", "y", "x", "z"],
        "when": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 12:00", "2024-01-02 00:00",
                                "2024-01-04 00:00", "2024-01-09 00:00"]),
        "amt": [1.254, 2.0, 3.0, -1.0, 4.0]})
    with pytest.warns(DataWarning) as record:
        days = purchase_days(tx, "cid", "when", "amt", "2024-01-05", returns="net",
                             engine=engine)
    assert str(record[0].message) == (
        "purchase_days excluded 1 transactions after the observation end; 1 customers whose "
        "first transaction is after the observation end. Returns (1 rows) were netted: 1.0 "
        "against the customer's purchase days on or before the return. 1 amounts in 'amt' "
        "have more than 2 decimals and were rounded to 0.01 (money_decimals=2). The counts "
        "are in summary.attrs['exclusions'] and ['notes']; the customers left out in "
        "clvmodels.data.excluded_customers(summary).")
    assert list(days.columns) == ["cid", "when", "amount"]
    assert days["cid"].tolist() == ["x", "y"]
    assert days["when"].tolist() == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert days["amount"].tolist() == [2.25, 3.0]
    assert days.attrs["exclusions"]["customers_after_observation_end"] == 1
    assert days.attrs["exclusions"]["return_amount_netted_by_day"] == 1.0
    assert days.attrs["notes"] == {"duplicate_rows_kept": 0, "zero_amount_rows_kept": 0}
    assert excluded_customers(days).to_dict() == {
        "reason": {"z": "first transaction after the observation end"},
        "in_calibration_period": {"z": False}}
    # By the hour, without amounts (1.0 a purchase), whole units with money_decimals=0.
    hours = purchase_days(tx.iloc[:3], "cid", "when", merge_within="h", engine=engine)
    assert hours["when"].tolist() == [pd.Timestamp("2024-01-01 10:00"),
                                      pd.Timestamp("2024-01-01 12:00"),
                                      pd.Timestamp("2024-01-02")]
    assert hours["amount"].tolist() == [1.0, 1.0, 1.0]
    assert "excluded_customers" not in hours.attrs
    with pytest.warns(DataWarning, match="1 amounts in 'amt' have more than 0 decimals"):
        whole = purchase_days(tx.iloc[:3], "cid", "when", "amt", money_decimals=0,
                              engine=engine)
    assert whole["amount"].tolist() == [3.0, 3.0]


# --------------------------------------------------------------------------- small helpers


def test_group_lines_sums_per_customer_day_and_order():
    codes = np.array([1, 0, 0, 1, 0, 0], dtype=np.int64)
    ticks = np.array([5, 3, 3, 5, 4, 3], dtype=np.int64)
    orders = np.array([0, 1, 1, 0, -1, 2], dtype=np.int64)
    cents = np.array([1.0, 2.0, 30.0, 400.0, 5000.0, 60000.0])
    out = data._group_lines(codes, ticks, orders, cents)
    assert [a.tolist() for a in out] == [[0, 0, 0, 1], [3, 3, 4, 5], [1, 2, -1, 0],
                                         [32.0, 60000.0, 5000.0, 401.0], [2, 1, 1, 2]]
    empty = data._group_lines(*(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros(0))
    assert [len(a) for a in empty] == [0] * 5


def test_order_codes_are_sorted_with_minus_one_for_none():
    assert data._order_codes(None, 3).tolist() == [-1, -1, -1]
    codes = data._order_codes(["b", "a", None, "b"], 4)
    assert codes.tolist() == [1, 0, -1, 1] and codes.dtype == np.int64
    assert data._order_codes(np.array([30, 4, 30], dtype=object), 3).tolist() == [1, 0, 1]
    # Ids that do not sort together (a tuple and numbers) are compared as text:
    # "(1,)" < "10" < "9", and 10 and "10" are one order.
    mixed = [10, (1,), "9", None, "10"]
    assert data._order_codes(mixed, 5).tolist() == [1, 0, 2, -1, 1]


def test_extreme_monetary_values_above_q3_plus_3_iqr_of_the_logs():
    # Ten repeat customers with positive values; the logs' quartiles are ln2/4 and 2 ln2,
    # so the threshold is 2 ** (2 + 3 * 1.75) = 2 ** 7.25 = 152.2185...
    mv = [1, 1, 1, 2, 2, 2, 4, 4, 4, 1000, 5000, 0]
    freq = [1] * 10 + [0, 3]
    summary = pd.DataFrame({"frequency": freq, "monetary_value": [float(v) for v in mv]})
    assert data._extreme_monetary(summary, _spec()) == {
        "extreme_monetary_customers": 1, "extreme_monetary_threshold": 152.22}
    assert data._extreme_monetary(summary, _spec(money_decimals=0)) == {
        "extreme_monetary_customers": 1, "extreme_monetary_threshold": 152.0}
    # Ten equal values: the threshold is that value, and nobody is above it.
    equal = pd.DataFrame({"frequency": [2] * 10, "monetary_value": [5.0] * 10})
    assert data._extreme_monetary(equal, _spec()) == {
        "extreme_monetary_customers": 0, "extreme_monetary_threshold": 5.0}
    # Nine customers are too few.
    assert data._extreme_monetary(summary.iloc[1:], _spec()) == {
        "extreme_monetary_customers": 0, "extreme_monetary_threshold": None}
    assert data._extreme_monetary(summary, _spec(monetary_value_col=None)) == {
        "extreme_monetary_customers": 0, "extreme_monetary_threshold": None}


def test_log_spend_sum_from_fixed_point_logs():
    # Days of 10.00 and 2.50 (1000 and 250 cents): ln(10) + ln(2.5) = ln(25).
    fixed = int(data._log_fixed(np.array([1000.0, 250.0])).sum())
    assert fixed == 6907755279 + 5521460918
    per_day = 4605170186  # round(2 ln(10) / 1e-9)
    out = data._log_spend_sum([fixed, 0, fixed, 6907755279], [0, 0, 1, 0], [2, 0, 2, 1],
                              _spec())
    assert out[0] == (fixed - 2 * per_day) * 1e-9
    assert out[0] == pytest.approx(np.log(25.0), abs=1e-8)
    assert out[1] == 0.0 and np.isnan(out[2])
    assert out[3] == 2302585093 * 1e-9  # one day of 10.00: ln(10)
    whole = data._log_spend_sum([fixed], [0], [2], _spec(money_decimals=0))
    assert whole[0] == fixed * 1e-9
