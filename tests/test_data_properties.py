"""Properties of reading logs: no customer is lost, merged or changed, on any log.

Generated logs carry the ids, dates and amounts real exports have (zero-padded ids,
unicode, commas, quotes and newlines in ids, dates across the whole supported range
and placeholders outside it, zero, negative and huge amounts). For every log both
engines agree, a CSV or Parquet round trip agrees, row order does not matter, and
the only error is a :class:`~clvmodels.DataError`, the same rule from every route.
"""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import DataError, rfm_summary
from clvmodels.data import ExcludedCustomers, excluded_customers
from clvmodels.exceptions import DataWarning

FIRST, LAST = dt.datetime(1677, 9, 22), dt.datetime(2262, 4, 11, 23, 0)
PLACEHOLDERS = [dt.datetime(9999, 12, 31), dt.datetime(2300, 1, 1), dt.datetime(1600, 6, 1),
                dt.datetime(1677, 9, 21, 23, 59)]

# --- strategies ---------------------------------------------------------------

zero_padded = st.tuples(st.integers(0, 2000), st.integers(0, 4)).map(
    lambda t: "0" * t[1] + str(t[0]))
# A field of blanks only is a missing value in CSV: such ids cannot survive a file.
wild_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("0123456789,\"';\n\r\t |-.éß漢😀Ωא")),
        st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
    ),
    min_size=1, max_size=6,
).filter(lambda s: s.strip(" \t\r\n") != "")
text_ids = st.lists(st.one_of(zero_padded, wild_text), min_size=1, max_size=6, unique=True)
int_ids = st.lists(st.integers(-10**12, 10**12), min_size=1, max_size=6, unique=True)

in_range = st.datetimes(min_value=FIRST, max_value=LAST).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
near = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2000, 3, 1))
moments = st.one_of(near, near, in_range)
amounts = st.one_of(st.just(0.0), st.floats(0, 1e4), st.floats(1e250, 1e300),
                    st.integers(0, 10**6).map(float))
returned = st.one_of(amounts, st.floats(-1e4, -1e-300), st.just(-0.0))


@st.composite
def logs(draw):
    """A log as a DataFrame, and the arguments to summarise it with."""
    ids = draw(st.one_of(text_ids, int_ids))
    returns = draw(st.sampled_from(["error", "drop"]))
    n = draw(st.integers(1, 30))
    rows = draw(st.lists(st.tuples(st.sampled_from(ids), moments,
                                   returned if returns == "drop" else amounts),
                         min_size=n, max_size=n))
    # At least one purchase survives dropped returns (a log of returns only is another
    # rule's business).
    keep = draw(st.integers(0, n - 1))
    rows[keep] = (rows[keep][0], rows[keep][1], abs(rows[keep][2]))
    when = [r[1] for r in rows]
    if draw(st.integers(0, 5)) == 0:  # now and then a placeholder date
        when[draw(st.integers(0, n - 1))] = draw(st.sampled_from(PLACEHOLDERS))
    as_text = draw(st.booleans())
    if as_text:
        style = draw(st.sampled_from(["%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                      "%Y-%m-%d %H:%M:%S.%f"]))
        dates = pd.Series([w.strftime(style) for w in when], dtype=object)
    else:
        dates = pd.Series(np.array(when, dtype="datetime64[us]"))
    log = pd.DataFrame({"id": pd.Series([r[0] for r in rows],
                                        dtype=object if isinstance(ids[0], str) else "int64"),
                        "ts": dates, "amount": [r[2] for r in rows]})
    kwargs = dict(time_unit=draw(st.sampled_from(["D", "W", "h"])),
                  merge_within=draw(st.sampled_from(["D", "h", None])), returns=returns)
    valid = sorted(w for w, r in zip(when, rows) if FIRST <= w <= LAST and r[2] >= 0)
    if valid and draw(st.booleans()):
        # A calibration end inside the observed period keeps the holdout valid.
        kwargs["calibration_period_end"] = draw(st.sampled_from(valid)).strftime("%Y-%m-%d %H:%M")
    return log, kwargs


# --- helpers --------------------------------------------------------------------

def _summarise(source, **kwargs):
    """The summary, or the rule of the DataError; any other exception fails the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        try:
            summary = rfm_summary(source, "id", "ts", "amount", **kwargs)
        except DataError as error:
            assert error.rule, f"a DataError without a rule: {error}"
            event(f"DataError {error.rule}")
            return error.rule
    event("summary")
    return summary


def _same(a, b) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert isinstance(a, str) and isinstance(b, str) and a == b, f"{a!r} != {b!r}"
        return
    # Exact: money is summed in whole cents, so no row order can move a digit.
    pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True)
    assert list(a.index) == list(b.index)  # the ids themselves, not only equal-looking
    assert a.attrs == b.attrs


def _as_written(summary, log):
    """The summary expected from a CSV copy of ``log``: ids are the text written."""
    if isinstance(summary, str) or log["id"].dtype == object:
        return summary
    out = summary.set_axis(summary.index.astype(str)).sort_index()
    out.attrs = dict(summary.attrs)
    left_out = excluded_customers(summary)
    if len(left_out):  # the customers left out are the text written too
        out.attrs["excluded_customers"] = ExcludedCustomers(
            left_out.set_axis(left_out.index.astype(str)).sort_index())
    return out


# --- properties -------------------------------------------------------------------

def _fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


@_fast(100)
@given(case=logs(), seed=st.integers(0, 2**32 - 1))
def test_both_engines_and_any_row_order_give_the_same_summary(case, seed):
    log, kwargs = case
    expected = _summarise(log, engine="pandas", **kwargs)
    shuffled = log.sample(frac=1.0, random_state=seed)
    _same(expected, _summarise(shuffled, engine="pandas", **kwargs))
    # Engines compared on another row order: a difference of either shows.
    _same(expected, _summarise(shuffled, engine="duckdb", **kwargs))
    if not isinstance(expected, str):
        # No customer lost or invented: every id with a purchase is there, as given.
        assert set(expected.index) <= set(log["id"])
        if kwargs["returns"] == "error" and "calibration_period_end" not in kwargs:
            assert set(expected.index) == set(log["id"])


def test_sums_over_many_files_are_exact_in_any_order(tmp_path):
    # DuckDB reads files in parallel threads and adds the amounts in whatever order
    # they arrive: summed in whole cents, every order gives the same bits.
    rng = np.random.default_rng(7)
    n = 60_000
    log = pd.DataFrame({
        "id": rng.integers(0, 300, n),
        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 40, n), "D"),
        "amount": rng.integers(1, 1_000_000, n) / 100 + rng.choice([0.0, 1e-9], n),
    })
    shuffled = log.sample(frac=1.0, random_state=1)
    for i in range(12):
        shuffled.iloc[i * 5000:(i + 1) * 5000].to_parquet(tmp_path / f"part-{i:02d}.parquet",
                                                          index=False)
    kwargs = dict(observation_period_end="2024-02-15", calibration_period_end="2024-01-25")
    def summarise(source, engine):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            return rfm_summary(source, "id", "ts", "amount", engine=engine, **kwargs)

    expected = summarise(log, "pandas")
    assert expected.attrs["exclusions"]["amounts_rounded"] == 0  # 1e-9 is float noise
    # The reference: exact decimal sums of the cents, computed here with integers.
    cents = np.round(log["amount"] * 100).astype(np.int64)
    first = log.groupby("id")["ts"].transform("min")
    repeat = log[(log["ts"] > first) & (log["ts"] <= "2024-01-25")]
    by_customer = cents[repeat.index].groupby(repeat["id"]).sum()
    freq = expected["frequency"].to_numpy()
    total = by_customer.reindex(expected.index, fill_value=0).to_numpy() / 100
    mv = np.divide(total, freq, out=np.zeros(len(freq)), where=freq > 0)
    np.testing.assert_array_equal(expected["monetary_value"].to_numpy(), mv)
    for _ in range(3):
        _same(expected, summarise(str(tmp_path / "*.parquet"), "duckdb"))
    _same(expected, summarise(log.sample(frac=1.0, random_state=2), "pandas"))


@_fast(40)
@given(case=logs(), csv_engine=st.sampled_from(["duckdb", "pandas"]),
       quote_all=st.booleans())
def test_csv_and_parquet_copies_give_the_same_summary(case, csv_engine, quote_all,
                                                      tmp_path_factory):
    log, kwargs = case
    folder = tmp_path_factory.mktemp("log")
    expected = _summarise(log, engine="pandas", **kwargs)
    csv, parquet = folder / "log.csv", folder / "log.parquet"
    # pandas quotes a field with "\n" but not one with a lone "\r", which every CSV
    # reader takes as a line break: such ids survive only a file that quotes them.
    if log["id"].astype(str).str.contains("\r").any():
        quote_all = True
    log.to_csv(csv, index=False, quoting=csv_module.QUOTE_ALL if quote_all else
               csv_module.QUOTE_MINIMAL)
    log.to_parquet(parquet, index=False)
    # Each copy read by one engine, drawn; the other engine reads the other copy.
    parquet_engine = "pandas" if csv_engine == "duckdb" else "duckdb"
    _same(_as_written(expected, log), _summarise(csv, engine=csv_engine, **kwargs))
    _same(expected, _summarise(parquet, engine=parquet_engine, **kwargs))


@st.composite
def day_first_logs(draw):
    ids = draw(text_ids)
    rows = draw(st.lists(st.tuples(st.sampled_from(ids), near, st.floats(0, 100)),
                         min_size=1, max_size=20))
    fmt = draw(st.sampled_from(["%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y %H:%M", "%Y%m%d"]))
    log = pd.DataFrame({"id": [r[0] for r in rows],
                        "ts": [r[1].strftime(fmt) for r in rows],
                        "amount": [r[2] for r in rows]})
    return log, fmt, [r[1] for r in rows]


@_fast(30)
@given(case=day_first_logs())
def test_dates_in_another_format_are_read_alike_or_refused_alike(case):
    log, fmt, when = case
    without = _summarise(log, engine="pandas")
    _same(without, _summarise(log, engine="duckdb"))
    if fmt == "%Y%m%d":  # digits only: neither ISO 8601 nor day/month
        assert without == "unparseable_dates"
    else:
        assert without == "ambiguous_dates"
    with_format = _summarise(log, engine="pandas", datetime_format=fmt)
    _same(with_format, _summarise(log, engine="duckdb", datetime_format=fmt))
    iso = log.assign(ts=[w.strftime("%Y-%m-%d %H:%M") for w in when])
    if "%H" not in fmt:
        iso = log.assign(ts=[w.strftime("%Y-%m-%d") for w in when])
    _same(_summarise(iso), with_format)


# --- examples, one per rule ----------------------------------------------------------

def test_zero_padded_ids_after_the_csv_sniffing_sample_stay_distinct(tmp_path):
    """CDNOW master with ids of varying zero padding: 23,570 customers in, 23,570 out.

    The first 20,480 rows (DuckDB's type-guessing sample) hold plain numbers; later
    customers are written with leading zeros that collide with earlier ids as
    numbers ("0123" and "123").
    """
    master = clvmodels.datasets.load_cdnow("master")
    early = set(master["customer_id"].iloc[:25_000])
    later = sorted(set(master["customer_id"]) - early)
    # Later customers: 1, 2 or 3 leading zeros before a number an early customer has.
    ids = {c: str(c) for c in early}
    ids.update({c: "0" * (1 + c % 3) + str(c - later[0] + 1) for c in later})
    log = master.assign(customer_id=master["customer_id"].map(ids))
    assert log["customer_id"].nunique() == 23_570
    assert pd.to_numeric(log["customer_id"]).nunique() < 23_570  # as numbers they merge
    assert log["customer_id"].iloc[:20_480].str.match("[1-9]").all()
    path = tmp_path / "master.csv"
    log.to_csv(path, index=False)
    for engine in ("duckdb", "pandas"):
        summary = rfm_summary(path, "customer_id", "date", "amount", engine=engine)
        assert len(summary) == 23_570
        assert set(summary.index) == set(log["customer_id"])
    frame = rfm_summary(log, "customer_id", "date", "amount")
    _same(frame, rfm_summary(path, "customer_id", "date", "amount"))
    read = clvmodels.read_transactions(path, ["customer_id", "date", "amount"])
    assert read["customer_id"].tolist() == log["customer_id"].tolist()


def test_float_looking_ids_are_kept_as_written(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,ts,amount\n1,2024-01-01,5\n1.0,2024-01-02,3\n007,2024-01-02,3\n"
                    "7,2024-01-03,1\n")
    for engine in ("duckdb", "pandas"):
        summary = rfm_summary(path, "id", "ts", "amount", engine=engine)
        assert list(summary.index) == ["007", "1", "1.0", "7"]
        assert summary["frequency"].tolist() == [0, 0, 0, 0]


def test_parquet_ids_keep_the_files_type(tmp_path):
    log = pd.DataFrame({"id": [3, 3, 10], "ts": ["2024-01-01", "2024-01-05", "2024-01-02"],
                        "amount": [1.0, 2.0, 3.0]})
    log.to_parquet(tmp_path / "log.parquet", index=False)
    for engine in ("duckdb", "pandas"):
        summary = rfm_summary(tmp_path / "log.parquet", "id", "ts", "amount", engine=engine)
        assert summary.index.dtype == np.int64 and list(summary.index) == [3, 10]
        assert summary.loc[3, "frequency"] == 1


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_mixed_int_and_text_ids_are_refused(engine):
    log = pd.DataFrame({"cust": [1, "1", 2, "x", 3.5], "ts": ["2024-01-01"] * 5,
                        "amount": [1.0] * 5})
    with pytest.raises(DataError) as info:
        rfm_summary(log, "cust", "ts", "amount", engine=engine)
    error = info.value
    assert error.rule == "mixed_id_types" and error.column == "cust"
    assert "2 int, 2 str, 1 float" in str(error)
    assert ".astype(str)" in str(error)
    assert error.examples == [1, "1", 3.5] and error.n_rows == 3


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("column", ["id", "amount"])
def test_duplicated_column_names_are_refused(engine, column):
    log = pd.DataFrame([[1, "2024-01-01", 1.0, 2]], columns=["id", "ts", "amount", column])
    with pytest.raises(DataError, match=f"2 columns named '{column}'") as info:
        rfm_summary(log, "id", "ts", "amount", engine=engine)
    assert info.value.rule == "duplicate_columns" and info.value.column == column


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
@pytest.mark.parametrize("dates", [
    ["2024-01-01", "9999-12-31", "2300-01-01", "2024-02-01"],
    np.array(["2024-01-01", "9999-12-31", "2300-01-01", "2024-02-01"], dtype="datetime64[s]"),
    np.array(["2024-01-01", "1500-01-01", "1677-09-21T23:59", "2024-02-01"],
             dtype="datetime64[us]"),
])
def test_dates_outside_the_supported_range_are_refused(engine, dates):
    log = pd.DataFrame({"id": ["a", "a", "b", "b"], "ts": dates, "amount": [1.0] * 4})
    with pytest.raises(DataError, match="9999-12-31 or 1900-01-01 must be removed") as info:
        rfm_summary(log, "id", "ts", "amount", engine=engine)
    error = info.value
    assert error.rule == "dates_out_of_range" and error.column == "ts"
    assert error.n_rows == 2 and "2 of 4 rows" in str(error)
    assert [e[0] for e in error.examples] == ["a", "b"]


def test_the_edges_of_the_supported_range_are_read_exactly():
    log = pd.DataFrame({"id": ["a", "a"], "ts": ["1677-09-22", "2262-04-11 23:00"],
                        "amount": [1.0, 1.0]})
    for engine in ("pandas", "duckdb"):
        summary = rfm_summary(log, "id", "ts", "amount", engine=engine, time_unit="D")
        days = (dt.date(2262, 4, 11) - dt.date(1677, 9, 22)).days
        assert summary.loc["a", "recency"] == days == 213_502
        assert summary.attrs["observation_period_end"] == "2262-04-11"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_placeholder_dates_in_parquet_are_refused(engine, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"id": ["a", "b"], "ts": pa.array([dt.date(2024, 1, 1),
                                                        dt.date(9999, 12, 31)], pa.date32()),
                      "amount": [1.0, 2.0]})
    pq.write_table(table, tmp_path / "log.parquet")
    with pytest.raises(DataError) as info:
        rfm_summary(tmp_path / "log.parquet", "id", "ts", "amount", engine=engine)
    assert info.value.rule == "dates_out_of_range" and info.value.n_rows == 1


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_day_month_dates_need_a_format(engine):
    log = pd.DataFrame({"id": [1, 1, 2], "ts": ["01/02/2020", "13/02/2020", "03/04/2020"],
                        "amount": [1.0, 2.0, 3.0]})
    with pytest.raises(DataError, match="'%d/%m/%Y' \\(day first\\) or '%m/%d/%Y'") as info:
        rfm_summary(log, "id", "ts", "amount", engine=engine)
    assert info.value.rule == "ambiguous_dates" and info.value.n_rows == 3
    day_first = rfm_summary(log, "id", "ts", "amount", engine=engine,
                            datetime_format="%d/%m/%Y", time_unit="D")
    assert day_first.loc[1, "recency"] == 12.0  # 1 to 13 February
    assert day_first.attrs["observation_period_end"] == "2020-04-03"


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_iso_text_with_zones_and_fractions(engine):
    log = pd.DataFrame({"id": [1, 1, 1], "ts": ["2020-01-01T23:30+02:00",
                                                "2020-01-02 23:30:00.999999999-01:00",
                                                "2020-01-05 00:00Z"],
                        "amount": [1.0, 2.0, 3.0]})
    summary = rfm_summary(log, "id", "ts", "amount", engine=engine, merge_within=None,
                          time_unit="h")
    # 21:30 UTC on Jan 1; 00:30:00.999999 UTC on Jan 3; 00:00 UTC on Jan 5.
    assert summary.loc[1, "recency"] == pytest.approx(74.5)
    assert summary.loc[1, "frequency"] == 2


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_non_iso_text_dates_are_unparseable_without_a_format(engine):
    log = pd.DataFrame({"id": [1, 2, 3], "ts": ["2020-01-01", "Jan 5 2020", "2020/01/07"],
                        "amount": [1.0, 1.0, 1.0]})
    with pytest.raises(DataError, match="must be ISO 8601") as info:
        rfm_summary(log, "id", "ts", "amount", engine=engine)
    assert info.value.rule == "unparseable_dates" and info.value.n_rows == 2


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_unreadable_files_give_a_data_error(engine, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    (tmp_path / "header.csv").write_text("id,ts,amount\n")
    (tmp_path / "other.csv").write_text("customer,when\n1,2024-01-01\n")
    expected = {"empty.csv": "empty_file", "folder.csv": "unreadable_file",
                "corrupt.parquet": "unreadable_file", "header.csv": "empty",
                "other.csv": "missing_columns"}
    for name, rule in expected.items():
        with pytest.raises(DataError) as info:
            rfm_summary(tmp_path / name, "id", "ts", "amount", engine=engine)
        assert info.value.rule == rule, name
        if rule != "missing_columns":
            assert name in str(info.value) or rule == "empty"
    with pytest.raises(FileNotFoundError):
        rfm_summary(tmp_path / "absent.csv", "id", "ts", "amount", engine=engine)


def test_read_transactions_keeps_ids_and_timestamps_as_text(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("id,ts,amount\n0123,2024-01-01,5\n123,2024-01-02,3\n")
    read = clvmodels.read_transactions(path, ["id", "ts", "amount"])
    assert read["id"].tolist() == ["0123", "123"]
    assert read["ts"].tolist() == ["2024-01-01", "2024-01-02"]
    assert read["amount"].tolist() == [5, 3]
    assert clvmodels.read_transactions(path, text_columns=["id"])["id"].tolist() == [
        "0123", "123"]
