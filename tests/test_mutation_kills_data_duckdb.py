"""The DuckDB engine of data.py on small hand-built logs (mutants of ``_DuckDBLog`` and
its SQL helpers that the other data tests let through; see tests/mutation/README.md).

Every summary is worked out by hand and compared with the pandas engine as well: the
input formats and file suffixes, quotes in paths and column names, ids kept as text,
every date column type, ISO text with zones and fractions, the rule counts and their
examples, the memory limit, spill directory and single-thread retry, and the errors
raised inside a log's ``with`` block.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
import tempfile
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clvmodels.data import (
    _DuckDBLog,
    _log_fixed,
    _make_spec,
    _OneThreadWhenShort,
    _PandasLog,
    _validate,
    default_memory_limit,
    excluded_customers,
    read_transactions,
    rfm_summary,
)
from clvmodels.exceptions import DataError, DataWarning

#: a: 10.00 and 5.00 on Jan 1 (one purchase of 15.00), 20.00 on Jan 4;
#: b: 7.50 on Jan 2 and 2.50 on Jan 6 (the observation end).
ROWS = [
    ("a", "2024-01-01 10:00:00", 10.0), ("a", "2024-01-01 15:00:00", 5.0),
    ("a", "2024-01-04 09:00:00", 20.0), ("b", "2024-01-02 12:00:00", 7.5),
    ("b", "2024-01-06 08:00:00", 2.5),
]
#: By hand, in days: a repeats once (Jan 4, 20.00) 3 days after its first day and
#: 5 days before the end; b repeats once (2.50) 4 days after its first day, on the end.
EXPECTED = pd.DataFrame(
    {"frequency": np.array([1, 1], dtype=np.int64), "recency": [3.0, 4.0], "T": [5.0, 4.0],
     "monetary_value": [20.0, 2.5]},
    index=pd.Index(["a", "b"], name="id"))


def _frame(rows=ROWS) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["id", "ts", "amount"])
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def _quiet(source, *args, **kwargs) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return rfm_summary(source, *args, **kwargs)


def _summary(source, **kwargs) -> pd.DataFrame:
    return _quiet(source, "id", "ts", "amount", time_unit="D", **kwargs)


def _same(summary: pd.DataFrame, expected: pd.DataFrame = EXPECTED) -> None:
    pd.testing.assert_frame_equal(summary, expected, check_exact=True)


def _spec(**kwargs):
    args = dict(customer_id_col="id", datetime_col="ts", monetary_value_col="amount",
                datetime_format=None, returns="error", time_unit="D", merge_within="D")
    args.update(kwargs)
    return _make_spec(**args)


def _write_csv(path: Path, frame: pd.DataFrame, sep: str = ",") -> Path:
    text = frame.to_csv(index=False, sep=sep)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def _in_mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 2**-10, "MiB": 1, "GiB": 2**10, "TiB": 2**20}[unit]


# --------------------------------------------------------------------------- files and formats

def test_the_hand_summary_from_a_frame_in_both_engines():
    _same(_summary(_frame(), engine="duckdb"))
    _same(_summary(_frame(), engine="pandas"))


@pytest.mark.parametrize("name", ["log.csv", "LOG.CSV", "log.txt", "log.tsv", "log.csv.gz"])
def test_every_csv_suffix_is_read_as_csv(tmp_path, name):
    frame = _frame()
    path = _write_csv(tmp_path / name, frame, sep="\t" if name.endswith(".tsv") else ",")
    _same(_summary(str(path)))


def test_one_call_may_mix_every_csv_suffix(tmp_path):
    frame = _frame()
    paths = [_write_csv(tmp_path / "part.csv", frame.iloc[:2]),
             _write_csv(tmp_path / "part.txt", frame.iloc[2:3]),
             _write_csv(tmp_path / "part.tsv", frame.iloc[3:4], sep="\t"),
             _write_csv(tmp_path / "part.csv.gz", frame.iloc[4:])]
    _same(_summary([str(p) for p in paths]))


@pytest.mark.parametrize("name", ["log.parquet", "LOG.PARQUET", "log.pq", "log.PQ"])
def test_every_parquet_suffix_is_read_as_parquet(tmp_path, name):
    _frame().to_parquet(tmp_path / name, index=False)
    _same(_summary(str(tmp_path / name)))


def test_one_call_may_mix_both_parquet_suffixes(tmp_path):
    frame = _frame()
    frame.iloc[:3].to_parquet(tmp_path / "a.parquet", index=False)
    frame.iloc[3:].to_parquet(tmp_path / "b.pq", index=False)
    _same(_summary([str(tmp_path / "a.parquet"), str(tmp_path / "b.pq")]))


def test_csv_and_parquet_in_one_call_are_refused(tmp_path):
    frame = _frame()
    _write_csv(tmp_path / "a.csv", frame)
    frame.to_parquet(tmp_path / "b.parquet", index=False)
    with pytest.raises(ValueError, match="Cannot tell the format"):
        _summary([str(tmp_path / "a.csv"), str(tmp_path / "b.parquet")])


def test_quotes_in_paths_and_column_names(tmp_path):
    folder = tmp_path / "it's here"
    folder.mkdir()
    frame = _frame().rename(columns={"id": 'cust "id"', "ts": "when's"})
    for path in (_write_csv(folder / "o'log.csv", frame), folder / "o'log.parquet"):
        if path.suffix == ".parquet":
            frame.to_parquet(path, index=False)
        s = _quiet(str(path), 'cust "id"', "when's", "amount", time_unit="D")
        _same(s, EXPECTED.rename_axis('cust "id"'))
    s = _quiet(frame, 'cust "id"', "when's", "amount", time_unit="D", engine="duckdb")
    _same(s, EXPECTED.rename_axis('cust "id"'))


def test_csv_ids_and_order_ids_are_read_as_written(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,ts,amount,order\n007,2024-01-01,1.00,01\n7,2024-01-03,2.00,1\n"
                    "007,2024-01-04,4.00,02\n007,2024-01-04,-4.00,02\n")
    s = _quiet(str(path), "id", "ts", "amount", time_unit="D", returns="net",
               order_id_col="order")
    # "007" and "7" are two customers; 007's return nets its own order "02", not "01".
    assert s.index.tolist() == ["007", "7"]
    assert s["frequency"].tolist() == [0, 0]
    assert s["T"].tolist() == [3.0, 1.0]
    assert s.attrs["exclusions"]["return_amount_netted_by_order"] == 4.0
    assert s.attrs["exclusions"]["days_cancelled_by_returns"] == 1
    # Ids that DuckDB would guess are numbers stay text too.
    path.write_text("id,ts,amount\n7,2024-01-01,1.00\n8,2024-01-03,2.00\n")
    s = _quiet(str(path), "id", "ts", "amount", time_unit="D")
    assert s.index.tolist() == ["7", "8"]


def test_read_transactions_columns_and_text_columns(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,ts,amount,note\n7,2024-01-01,1.5,x\n8,2024-01-02,2.5,y\n")
    everything = read_transactions(str(path))
    assert list(everything.columns) == ["id", "ts", "amount", "note"]
    assert everything["id"].tolist() == [7, 8]  # typed by DuckDB's guess without columns
    chosen = read_transactions(str(path), ["id", "ts"])
    assert list(chosen.columns) == ["id", "ts"]
    assert chosen["id"].tolist() == ["7", "8"]
    assert chosen["ts"].tolist() == ["2024-01-01", "2024-01-02"]
    named = read_transactions(str(path), ["amount", "note"], text_columns=["note", "nope"])
    assert named.to_dict("list") == {"amount": [1.5, 2.5], "note": ["x", "y"]}
    with pytest.raises(DataError, match=r"no column\(s\) \['nope'\]") as err:
        read_transactions(str(path), ["id", "nope"])
    assert err.value.rule == "missing_columns"


def test_a_corrupt_file_is_a_data_error_naming_it(tmp_path):
    path = tmp_path / "log.parquet"
    path.write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match="Cannot read the transaction log .*log.parquet") as err:
        _summary(str(path))
    assert err.value.rule == "unreadable_file"


# --------------------------------------------------------------------------- date columns

#: The hand log's days as numbers, for each numeric type DuckDB may see (even values:
#: float32 holds them exactly).
NUMERIC_DATES = [20240102, 20240102, 20240104, 20240104, 20240106]
NUMERIC_EXPECTED = pd.DataFrame(
    {"frequency": np.array([1, 1], dtype=np.int64), "recency": [2.0, 2.0], "T": [4.0, 2.0],
     "monetary_value": [20.0, 2.5]}, index=pd.Index(["a", "b"], name="id"))


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint64", "uint32", "float64", "float32"])
def test_numeric_dates_of_every_type(dtype):
    frame = _frame().assign(ts=np.array(NUMERIC_DATES, dtype=dtype))
    _same(_summary(frame, engine="duckdb", datetime_format="%Y%m%d"), NUMERIC_EXPECTED)
    _same(_summary(frame, engine="pandas", datetime_format="%Y%m%d"), NUMERIC_EXPECTED)
    with pytest.raises(DataError, match="holds numbers, not timestamps") as err:
        _summary(frame, engine="duckdb")
    assert err.value.rule == "numeric_dates" and err.value.n_rows == 5


def test_decimal_dates_in_parquet(tmp_path):
    table = pa.table({"id": [r[0] for r in ROWS],
                      "ts": pa.array([Decimal(d) for d in NUMERIC_DATES], pa.decimal128(8, 0)),
                      "amount": [r[2] for r in ROWS]})
    pq.write_table(table, tmp_path / "log.parquet")
    _same(_summary(str(tmp_path / "log.parquet"), datetime_format="%Y%m%d"), NUMERIC_EXPECTED)
    with pytest.raises(DataError, match="holds numbers") as err:
        _summary(str(tmp_path / "log.parquet"))
    assert err.value.rule == "numeric_dates"


def test_numeric_dates_in_another_format():
    # Year, day, month: 20240201 is January 2.
    frame = _frame().assign(ts=[20240201, 20240201, 20240401, 20240401, 20240601])
    _same(_summary(frame, engine="duckdb", datetime_format="%Y%d%m"), NUMERIC_EXPECTED)


def test_date_columns_in_parquet(tmp_path):
    days = pd.to_datetime([r[1] for r in ROWS]).normalize()
    table = pa.table({"id": [r[0] for r in ROWS], "ts": pa.array(days.date, pa.date32()),
                      "amount": [r[2] for r in ROWS]})
    pq.write_table(table, tmp_path / "log.parquet")
    _same(_summary(str(tmp_path / "log.parquet")))


def _rule_counts(source, **spec_kwargs) -> dict:
    with _DuckDBLog(source, _spec(**spec_kwargs)) as log:
        log.check_columns()
        return log.rule_counts()


def test_timezone_aware_timestamps_are_aware_and_taken_in_utc():
    # 01:00 at +02:00 on Jan 2 is 23:00 UTC on Jan 1.
    frame = _frame().assign(ts=pd.to_datetime(
        ["2024-01-02 01:00+02:00", "2024-01-01 15:00+00:00", "2024-01-04 09:00+00:00",
         "2024-01-02 12:00+00:00", "2024-01-06 08:00+00:00"], utc=True))
    _same(_summary(frame, engine="duckdb"))
    counts = _rule_counts(frame)
    assert counts["naive_dates"] == 0 and counts["mixed_timezones"] == 0
    assert counts["rows"] == 5


#: Text dates of every kind, with text amounts of every kind, for the rule counts.
BAD_ROWS = [
    ("a", "2024-01-01", "1.5"),
    ("a", "2024-01-02T10:00:00+02:00", "abc"),
    ("b", "01/02/2024", None),
    ("b", "garbage", "inf"),
    (None, None, "-2"),
    ("c", "9999-12-31", "3"),
    ("c", "2024-01-05 10:00", "2"),
]
BAD_COUNTS = {
    "rows": 7, "naive_dates": 5, "null_ids": 1, "missing_dates": 1,
    "unparseable_dates": 1, "mixed_timezones": 1, "missing_amounts": 1,
    "non_numeric_amounts": 1, "infinite_amounts": 1, "negative_amounts": 1,
    "dates_out_of_range": 1, "ambiguous_dates": 1,
}


def test_rule_counts_of_text_dates_and_amounts(tmp_path):
    frame = pd.DataFrame(BAD_ROWS, columns=["id", "ts", "amount"])
    assert _rule_counts(frame) == BAD_COUNTS
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    assert _rule_counts(str(path)) == BAD_COUNTS
    with _PandasLog(frame, _spec()) as log:
        log.check_columns()
        pandas_counts = log.rule_counts()
    assert {k: pandas_counts.get(k, 0) for k in BAD_COUNTS} == BAD_COUNTS


def test_rule_counts_of_numeric_dates():
    # 20241399 is no date: without datetime_format numbers are refused as numbers first,
    # so the date rules that read them as text count nothing.
    frame = _frame().assign(ts=[20240102, 20240102, 20241399, 20240104, None])
    counts = _rule_counts(frame)
    assert counts == {"rows": 5, "naive_dates": 4, "null_ids": 0, "missing_dates": 1,
                      "numeric_dates": 4, "unparseable_dates": 0, "mixed_timezones": 0,
                      "missing_amounts": 0, "non_numeric_amounts": 0, "infinite_amounts": 0,
                      "negative_amounts": 0, "dates_out_of_range": 0, "ambiguous_dates": 0}
    formatted = _rule_counts(frame, datetime_format="%Y%m%d")
    assert "numeric_dates" not in formatted
    assert formatted["missing_dates"] == 1 and formatted["unparseable_dates"] == 1


@pytest.mark.parametrize("kind", ["timestamp", "date"])
def test_typed_dates_beyond_year_9999_are_out_of_range(tmp_path, kind):
    # Typed columns are compared as timestamps, never read back as ISO text (whose
    # four-digit years would call 10000-01-02 unparseable).
    if kind == "timestamp":
        ts = pa.array([1704103200000000, 253402387200000000], pa.timestamp("us"))
    else:
        ts = pa.array([19723, 2932897], pa.date32())
    pq.write_table(pa.table({"id": ["a", "b"], "ts": ts, "amount": [1.0, 2.0]}),
                   tmp_path / "log.parquet")
    with pytest.raises(DataError, match="1 of 2 rows .* outside the supported range") as err:
        _summary(str(tmp_path / "log.parquet"))
    assert err.value.rule == "dates_out_of_range"


def test_mixed_id_types_of_a_frame_are_refused_before_duckdb_sees_them():
    frame = _frame().assign(id=[1, "1", 1, 2, 2])
    with pytest.raises(DataError, match="mixes customer ids of different types") as err:
        _summary(frame, engine="duckdb")
    assert err.value.rule == "mixed_id_types"


def test_the_first_problem_names_its_examples_in_both_engines():
    rows = [("a", "2024-01-01", 1.0)] + [(f"c{i}", f"bad{i}", float(i)) for i in range(7)]
    frame = pd.DataFrame(rows, columns=["id", "ts", "amount"])
    for engine in ("duckdb", "pandas"):
        with pytest.raises(DataError, match="7 of 8 rows") as err:
            _summary(frame, engine=engine)
        assert err.value.rule == "unparseable_dates"
        assert [tuple(e) for e in err.value.examples] == [
            (f"c{i}", f"bad{i}", float(i)) for i in range(5)]
    with pytest.raises(DataError, match="7 of 8 rows") as err:
        _quiet(frame, "id", "ts", engine="duckdb")
    assert [tuple(e) for e in err.value.examples] == [(f"c{i}", f"bad{i}") for i in range(5)]


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_iso_text_with_zones_fractions_and_short_times(engine):
    frame = pd.DataFrame([
        ("a", "2024-01-01T23:30+02:00", 1.0),        # 21:30 UTC
        ("a", "2024-01-02 01:15:30.25-01:00", 2.0),  # 02:15:30.25 UTC
        ("a", "2024-01-02T03:00:00.123456789Z", 4.0),  # nanoseconds truncated
        ("b", "2024-01-01 00:00 UTC", 8.0),
        ("b", "2024-01-03T12:00:00+0530", 16.0),     # 06:30 UTC
    ], columns=["id", "ts", "amount"])
    s = _quiet(frame, "id", "ts", "amount", time_unit="h", merge_within=None, engine=engine)
    start = {"a": pd.Timestamp("2024-01-01 21:30"), "b": pd.Timestamp("2024-01-01 00:00")}
    last = {"a": pd.Timestamp("2024-01-02 03:00:00.123456"),
            "b": pd.Timestamp("2024-01-03 06:30")}
    end = pd.Timestamp("2024-01-03 06:30")
    hours = pd.Timedelta(hours=1)
    assert s.index.tolist() == ["a", "b"]
    assert s["frequency"].tolist() == [2, 1]
    assert s["recency"].tolist() == pytest.approx(
        [(last[c] - start[c]) / hours for c in "ab"], rel=1e-12)
    assert s["T"].tolist() == pytest.approx([(end - start[c]) / hours for c in "ab"],
                                            rel=1e-12)
    assert s["monetary_value"].tolist() == [3.0, 16.0]
    assert s.attrs["observation_period_end"] == "2024-01-03T06:30:00.000000"


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_text_dates_in_a_format_with_and_without_zones(engine):
    naive = pd.DataFrame([("a", "01.01.2024 10:00", 1.0), ("a", "04.01.2024 09:00", 2.0)],
                         columns=["id", "ts", "amount"])
    s = _quiet(naive, "id", "ts", "amount", time_unit="D", engine=engine,
               datetime_format="%d.%m.%Y %H:%M")
    assert s["recency"].tolist() == [3.0] and s["T"].tolist() == [3.0]
    aware = pd.DataFrame([("a", "02.01.2024 01:00 +02:00", 1.0),
                          ("a", "04.01.2024 09:00 +00:00", 2.0)], columns=["id", "ts", "amount"])
    s = _quiet(aware, "id", "ts", "amount", time_unit="D", engine=engine,
               datetime_format="%d.%m.%Y %H:%M %z")
    # 01:00 at +02:00 on Jan 2 is Jan 1 in UTC: 3 days to Jan 4.
    assert s["recency"].tolist() == [3.0] and s["T"].tolist() == [3.0]


# --------------------------------------------------------------------------- settings

def test_spill_directory_and_memory_limit_settings():
    with _DuckDBLog(_frame(), _spec(memory_limit="300MB")) as log:
        (spill,) = log.con.execute("SELECT current_setting('temp_directory')").fetchone()
        (limit,) = log.con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert spill == str(Path(tempfile.gettempdir()) / "clvmodels-duckdb")
    assert _in_mib(limit) == pytest.approx(300e6 / 2**20, rel=5e-2)


@pytest.mark.parametrize("source", ["frame", "csv"])
def test_without_a_spec_the_default_memory_limit_is_used(tmp_path, source):
    src = _frame() if source == "frame" else str(_write_csv(tmp_path / "log.csv", _frame()))
    with _DuckDBLog(src, None) as log:
        (limit,) = log.con.execute("SELECT current_setting('memory_limit')").fetchone()
        n = log.con.execute("SELECT count(*) FROM src").fetchone()[0]
    expected = int(default_memory_limit()[:-2])
    assert _in_mib(limit) == pytest.approx(expected * 1e6 / 2**20, rel=5e-2)
    assert n == 5


@pytest.mark.parametrize("total, expected", [
    (4 * 2**30, "1024MB"),                 # an eighth is 512 MB: at least 1 GB
    (16 * 2**30 + 3 * 4096, "2048MB"),     # whole megabytes of an eighth
    (100 * 2**30, "12800MB"),
])
def test_the_default_memory_limit_by_hand(monkeypatch, total, expected):
    import clvmodels.data as data

    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": total // 4096}
    monkeypatch.setattr(data.os, "sysconf", lambda name: sizes[name])
    assert default_memory_limit() == expected


def test_without_posix_memory_sizes_duckdb_keeps_its_own_limit(monkeypatch):
    import clvmodels.data as data

    def no_sysconf(name):
        raise ValueError(name)

    monkeypatch.setattr(data.os, "sysconf", no_sysconf)
    assert default_memory_limit() == ""
    with _DuckDBLog(_frame(), _spec()) as log:
        (limit,) = log.con.execute("SELECT current_setting('memory_limit')").fetchone()
    fresh = duckdb.connect()
    (own,) = fresh.execute("SELECT current_setting('memory_limit')").fetchone()
    fresh.close()
    assert limit == own


def test_the_retry_on_one_thread_passes_every_argument():
    calls = []

    class Short:
        def __init__(self):
            self.failed = False

        def execute(self, *args, **kwargs):
            calls.append((args, kwargs))
            if args[0].startswith("SELECT") and not self.failed:
                self.failed = True
                raise duckdb.OutOfMemoryException("Out of Memory Error")
            return "done"

    con = _OneThreadWhenShort(Short())
    assert con.execute("SELECT ?", parameters=[1]) == "done"
    assert calls == [(("SELECT ?",), {"parameters": [1]}), (("SET threads = 1",), {}),
                     (("SELECT ?",), {"parameters": [1]})]
    # Without a failure, a real connection gets the arguments once.
    real = _OneThreadWhenShort(duckdb.connect())
    assert real.execute("SELECT ? + 1", parameters=[41]).fetchone() == (42,)
    real.close()


def test_a_statement_out_of_memory_after_the_retry_reaches_the_caller():
    class AlwaysShort:
        def execute(self, sql):
            if sql.startswith("SELECT"):
                raise duckdb.OutOfMemoryException("Out of Memory Error: still")
            return None

    with pytest.raises(duckdb.OutOfMemoryException, match="still"):
        _OneThreadWhenShort(AlwaysShort()).execute("SELECT 1")


# --------------------------------------------------------------------------- leaving the log

def test_running_out_of_memory_inside_the_log_is_a_memory_error():
    with pytest.raises(MemoryError, match=r"memory_limit \(300MB\) .* DuckDB said: Out of "
                                          r"Memory Error: first line$"):
        with _DuckDBLog(_frame(), _spec(memory_limit="300MB")):
            raise duckdb.OutOfMemoryException("Out of Memory Error: first line\nsecond line")
    default = default_memory_limit()
    with pytest.raises(MemoryError, match=rf"memory_limit \({default}\)"):
        with _DuckDBLog(_frame(), _spec()):
            raise duckdb.OutOfMemoryException("Out of Memory Error: x")
    with pytest.raises(MemoryError, match=rf"memory_limit \({default}\)"):
        with _DuckDBLog(_frame(), None):
            raise duckdb.OutOfMemoryException("Out of Memory Error: x")


def test_read_errors_inside_a_file_log_name_the_file(tmp_path):
    path = str(_write_csv(tmp_path / "log.csv", _frame()))
    with pytest.raises(DataError, match="Cannot read the transaction log .*log.csv.*: bad "
                                        "bytes") as err:
        with _DuckDBLog(path, _spec()):
            raise duckdb.IOException("bad bytes")
    assert err.value.rule == "unreadable_file"
    # Not a read error, or not a file: the error itself.
    with pytest.raises(ValueError, match="ours"):
        with _DuckDBLog(path, _spec()):
            raise ValueError("ours")
    with pytest.raises(duckdb.IOException, match="frame"):
        with _DuckDBLog(_frame(), _spec()):
            raise duckdb.IOException("frame")
    log = _DuckDBLog(path, _spec())
    assert log.__exit__(None, None, None) is False


# --------------------------------------------------------------------------- fixed-point logs

def test_fixed_point_logs_of_fractions_and_whole_cents():
    cents = np.array([0.5, 1.0, 2.0, 0.0, -1.0])
    fixed = _log_fixed(cents)
    assert fixed.dtype == np.int64  # whole units of 1e-9, summed exactly in any order
    assert fixed.tolist() == [round(np.log(0.5) * 1e9), 0, round(np.log(2.0) * 1e9), 0, 0]
    assert _log_fixed([3, 0]).tolist() == [round(np.log(3.0) * 1e9), 0]


# --------------------------------------------------------------------------- cleaning options

@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_a_log_whose_every_amount_is_dropped_as_zero(engine):
    # No row is used: DuckDB's sum of their cents is NULL, not 0.
    frame = pd.DataFrame({"id": ["a", "b"], "ts": pd.to_datetime(["2024-01-01", "2024-01-02"]),
                          "amount": [0.0, 0.004]})
    s = _summary(frame, engine=engine, zero_amounts="drop")
    assert len(s) == 0 and list(s.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert s.attrs["exclusions"]["zero_amount_rows_dropped"] == 2
    assert s.attrs["exclusions"]["customers_without_purchases"] == 2
    assert s.attrs["n_transactions"] == 0


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_dropping_duplicates_keeps_missing_ids_an_error(engine):
    frame = pd.DataFrame({"id": ["a", "a", None],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"]),
                          "amount": [1.0, 1.0, 2.0]})
    with pytest.raises(DataError, match="1 of 2 rows have a missing customer id") as err:
        _summary(frame, engine=engine, duplicates="drop")
    assert err.value.rule == "null_ids"


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_amounts_with_more_decimals_are_counted_only_with_an_amount_column(engine):
    frame = _frame().assign(amount=[10.0, 5.004, 20.0, 7.5, 2.5])
    s = _summary(frame, engine=engine)
    assert s.attrs["exclusions"]["amounts_rounded"] == 1
    assert s.loc["a", "monetary_value"] == 20.0
    plain = _quiet(frame, "id", "ts", time_unit="D", engine=engine)
    assert plain.attrs["exclusions"]["amounts_rounded"] == 0
    assert plain["frequency"].tolist() == [1, 1]


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_a_first_day_of_zero_spend_leaves_the_repeat_logs_defined(engine):
    # The first day (0.00) has no log, but it is not a repeat day: only the repeat
    # days' count of undefined logs makes log_spend_sum NaN.
    frame = pd.DataFrame({"id": ["a", "a", "a", "b", "b"],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-05",
                                                "2024-01-01", "2024-01-02"]),
                          "amount": [0.0, 4.0, 8.0, 3.0, 0.0]})
    s = _summary(frame, engine=engine, log_spend=True)
    assert s.loc["a", "log_spend_sum"] == pytest.approx(np.log(4.0) + np.log(8.0), abs=2e-9)
    assert np.isnan(s.loc["b", "log_spend_sum"])
    first = _summary(frame, engine=engine, log_spend=True, include_first_transaction=True)
    assert np.isnan(first.loc["a", "log_spend_sum"])
    assert np.isnan(first.loc["b", "log_spend_sum"])


@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
@pytest.mark.parametrize("duplicates, n_without_id", [("drop", 1), ("keep", 2)])
def test_rows_without_id_are_counted_after_duplicates(engine, duplicates, n_without_id):
    # Two identical rows without an id: one row once duplicates are dropped.
    frame = pd.DataFrame({"id": ["a", None, None, "a"],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-02",
                                                "2024-01-03"]),
                          "amount": [1.0, 2.0, 2.0, 3.0]})
    s = _summary(frame, engine=engine, duplicates=duplicates, missing_ids="drop")
    assert s.attrs["exclusions"]["rows_without_customer_id"] == n_without_id
    assert s.loc["a", "frequency"] == 1


# --------------------------------------------------------------------------- numbers beyond int64

#: The hand log's timestamps as numbers in %Y%m%d%H%M%S%f (20 digits, microseconds):
#: beyond int64, so pandas holds them as Python ints and DuckDB reads a HUGEINT column.
WIDE_DATES = [20240101100000000000, 20240101150000000000, 20240104090000000000,
              20240102120000123456, 20240106080000000000]


def test_numeric_dates_beyond_int64_are_read_like_other_numbers():
    frame = _frame().assign(ts=pd.Series(WIDE_DATES, dtype=object))
    fmt = "%Y%m%d%H%M%S%f"
    _same(_summary(frame, engine="duckdb", datetime_format=fmt))
    _same(_summary(frame, engine="pandas", datetime_format=fmt))
    # Hours: b's first purchase at 12:00:00.123456 on Jan 2, its last at 08:00 on Jan 6.
    hours = _quiet(frame, "id", "ts", "amount", time_unit="h", merge_within=None,
                   engine="duckdb", datetime_format=fmt)
    assert hours.loc["b", "recency"] == pytest.approx(
        (pd.Timestamp("2024-01-06 08:00") - pd.Timestamp("2024-01-02 12:00:00.123456"))
        / pd.Timedelta(hours=1), rel=1e-12)
    # Without datetime_format they are numbers, as for every other numeric type.
    with pytest.raises(DataError, match="holds numbers, not timestamps") as err:
        _summary(frame, engine="duckdb")
    assert err.value.rule == "numeric_dates" and err.value.n_rows == 5


# --------------------------------------------------------------------------- excluded customers

@pytest.mark.parametrize("engine", ["duckdb", "pandas"])
def test_a_return_that_rounds_to_zero_is_a_return_when_zero_amounts_are_kept(engine):
    # z's only row is -0.001: a return (negative) whose cents round to 0. With
    # zero_amounts="keep" nothing is dropped as zero, so z has only a return; with
    # "drop" the row goes as a zero amount before it can be a return.
    frame = pd.DataFrame({"id": ["a", "a", "z"],
                          "ts": pd.to_datetime(["2024-01-01", "2024-01-03", "2024-01-02"]),
                          "amount": [1.0, 2.0, -0.001]})
    kept = _summary(frame, engine=engine, returns="drop", zero_amounts="keep")
    assert excluded_customers(kept).to_dict("index") == {
        "z": {"reason": "only returns, no purchase", "in_calibration_period": True}}
    assert kept.attrs["exclusions"]["rows_dropped_as_returns"] == 1
    dropped = _summary(frame, engine=engine, returns="drop", zero_amounts="drop")
    assert excluded_customers(dropped).to_dict("index") == {
        "z": {"reason": "no purchase left after dropping zero amounts",
              "in_calibration_period": True}}
    assert dropped.attrs["exclusions"]["zero_amount_rows_dropped"] == 1


# --------------------------------------------------------------------------- opening files

def test_errors_while_reading_the_schema(tmp_path, monkeypatch):
    path = str(_write_csv(tmp_path / "log.csv", _frame()))
    opened = []

    def failing(error):
        def describe(self, reader):
            opened.append(self.con)
            raise error
        return describe

    # Any DuckDB error while only the files' schema is read is the files' (no real file
    # was found that makes DuckDB raise a BinderException there: a stand-in raises it).
    monkeypatch.setattr(_DuckDBLog, "_describe", failing(duckdb.BinderException("no schema")))
    with pytest.raises(DataError, match="Cannot read the transaction log .*log.csv.*: "
                                        "no schema") as err:
        _DuckDBLog(path, _spec())
    assert err.value.rule == "unreadable_file"
    assert isinstance(err.value.__cause__, duckdb.BinderException)
    # An error that is not DuckDB's (a bug of clvmodels) is not disguised as a bad file.
    monkeypatch.setattr(_DuckDBLog, "_describe", failing(RuntimeError("ours")))
    with pytest.raises(RuntimeError, match="ours"):
        _DuckDBLog(path, _spec())
    # Either way the connection is closed.
    assert len(opened) == 2
    for con in opened:
        with pytest.raises(duckdb.ConnectionException):
            con.execute("SELECT 1")


# --------------------------------------------------------------------------- DuckDB settings

def test_the_retry_runs_duckdb_on_one_thread():
    real = duckdb.connect()
    real.execute("SET threads = 2")

    class ShortOnce:
        failed = False

        def execute(self, *args, **kwargs):
            if args[0].startswith("SELECT") and not self.failed:
                self.failed = True
                raise duckdb.OutOfMemoryException("Out of Memory Error")
            return real.execute(*args, **kwargs)

    con = _OneThreadWhenShort(ShortOnce())
    assert con.execute("SELECT ? * 2", [21]).fetchone() == (42,)
    assert real.execute("SELECT current_setting('threads')").fetchone() == (1,)
    real.close()


@pytest.mark.parametrize("returns, kept", [("net", "LOCAL TEMPORARY"), ("drop", "VIEW"),
                                           ("error", "VIEW")])
def test_the_kept_rows_are_a_view_unless_returns_are_netted(returns, kept):
    # A view reads the log again instead of holding a copy (gigabytes at 100M rows);
    # netting reads the kept rows three times, so they are a table then.
    spec = _spec(returns=returns)
    with _DuckDBLog(_frame(), spec) as log:
        obs_tick, _ = _validate(log, spec, None)
        log.summarise(obs_tick, obs_tick, False)
        (kind,) = log.con.execute("SELECT table_type FROM information_schema.tables "
                                  "WHERE table_name = 'kept'").fetchone()
    assert kind == kept
