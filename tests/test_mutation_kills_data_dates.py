"""data.py's date handling and the pandas engine's row checks, on small hand-built logs
(mutants of data.py that test_data.py lets through; see tests/mutation/README.md,
"Fourth round: data_dates and data_rules_rest").

Timestamps come back exactly through ``purchase_days(..., merge_within=None)`` with one
customer per row: the expected values are numpy's own reading of the same ISO text
(an independent calendar), with the zone offsets applied by hand.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels.data import purchase_days, rfm_summary
from clvmodels.exceptions import DataError, DataWarning

ENGINES = ["pandas", "duckdb"]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return fn(*args, **kwargs)


def _stamps(ts, engine="pandas", merge_within=None, **kwargs) -> np.ndarray:
    """The timestamps of ``ts`` as read by an engine (one customer per row, in order)."""
    tx = pd.DataFrame({"id": np.arange(len(ts)), "ts": ts, "amount": 1.0})
    out = _quiet(purchase_days, tx, "id", "ts", "amount", merge_within=merge_within,
                 engine=engine, **kwargs)
    assert out["id"].tolist() == list(range(len(ts)))
    return out["ts"].to_numpy().astype("datetime64[us]")


def _us(*values) -> np.ndarray:
    return np.array([np.datetime64(v, "us") for v in values])


def _error(ts, engine="pandas", amount=None, **kwargs) -> DataError:
    tx = pd.DataFrame({"id": np.arange(len(ts)), "ts": ts,
                       "amount": 1.0 if amount is None else amount})
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, tx, "id", "ts", "amount", engine=engine, **kwargs)
    return info.value


# --------------------------------------------------------------------------- ISO dates

#: The first and last day of every month of a common and of a leap year, century years
#: (1900 and 2100 are not leap years, 2000 is), the edges of 1970 and of the range.
VALID_DATES = (
    [f"2023-{m:02d}-01" for m in range(1, 13)]
    + ["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30", "2023-05-31", "2023-06-30",
       "2023-07-31", "2023-08-31", "2023-09-30", "2023-10-31", "2023-11-30", "2023-12-31"]
    + ["2024-02-29", "2024-03-01", "2000-02-29", "2000-03-01", "1900-02-28", "1900-03-01",
       "2100-02-28", "2100-03-01", "2096-02-29", "1700-03-01", "1699-12-31", "1969-12-31",
       "1970-01-01", "1970-01-02", "1677-09-22", "2262-04-11", "1999-12-31", "2200-01-01"]
)

#: Days that do not exist: the day after every month's last of 2023, February 29 of
#: centuries that are not leap years, February 30, months 0 and 13, day 0.
INVALID_DATES = (
    ["2023-01-32", "2023-02-29", "2023-03-32", "2023-04-31", "2023-05-32", "2023-06-31",
     "2023-07-32", "2023-08-32", "2023-09-31", "2023-10-32", "2023-11-31", "2023-12-32"]
    + ["2024-02-30", "1900-02-29", "2100-02-29", "2024-00-10", "2024-13-01", "2024-05-00"]
)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_month_end_and_leap_day_is_read_exactly(engine):
    assert (_stamps(VALID_DATES, engine) == _us(*VALID_DATES)).all()


def test_days_since_1970_by_hand():
    stamps = _stamps(["1970-01-01", "2000-03-01", "1900-03-01", "1969-12-31", "2024-02-29"])
    days = stamps.astype(np.int64) // 86_400_000_000
    # 2000-03-01: 30 years with 7 leap days, then 31 + 29 days; 1900-03-01: 70 years
    # back with 17 leap days (1904-1968), then 31 + 28 days forward.
    assert days.tolist() == [0, 30 * 365 + 7 + 60, -(70 * 365 + 17) + 59, -1,
                             54 * 365 + 13 + 31 + 28]


#: Suffixes that take the same dates through the other reader (fields by regex rather
#: than at fixed places): seven decimals, a zone ("Z", an offset), a time without them.
SUFFIXES = {"": 0, " 10:00:00.1234567": 10 * 3600 * 10**6 + 123456,
            "T10:00Z": 10 * 3600 * 10**6, " 10:00 +01:00": 9 * 3600 * 10**6}


@pytest.mark.parametrize("suffix", list(SUFFIXES))
def test_days_that_do_not_exist_are_unparseable(suffix):
    good = ["2024-02-29", "2023-12-31", "2023-01-01", "2000-02-29"]
    error = _error([d + suffix for d in good + INVALID_DATES])
    assert error.rule == "unparseable_dates" and error.column == "ts"
    n = len(INVALID_DATES)
    assert error.n_rows == n and f"{n} of {n + len(good)} rows" in str(error)
    assert [e[1] for e in error.examples] == [d + suffix for d in INVALID_DATES[:5]]
    # The valid ones alone are read, to the microsecond.
    assert (_stamps([d + suffix for d in good]) - _us(*good)
            == np.timedelta64(SUFFIXES[suffix], "us")).all()


@pytest.mark.parametrize("engine", ENGINES)
def test_invalid_days_are_unparseable_in_both_engines(engine):
    error = _error(["2023-03-01"] + INVALID_DATES, engine=engine)
    assert (error.rule, error.column, error.n_rows) == ("unparseable_dates", "ts",
                                                        len(INVALID_DATES))


#: Naive times at the fixed places of "YYYY-MM-DD HH:MM:SS.ffffff" (every field with
#: digits that differ, so a field read one place off differs too).
NAIVE = {
    "2019-12-27 13:46:58.123456": "2019-12-27T13:46:58.123456",
    "2019-12-27T13:46": "2019-12-27T13:46:00",
    "2019-12-27 13:46:58": "2019-12-27T13:46:58",
    "2019-12-27 13:46:58.5": "2019-12-27T13:46:58.500000",
    "2019-12-27 23:59:59.999999": "2019-12-27T23:59:59.999999",
    "2019-12-27 00:00:00.000001": "2019-12-27T00:00:00.000001",
    "2019-12-27 09:05:07.04": "2019-12-27T09:05:07.040000",
}

#: Naive times with more than six decimals (truncated, never rounded).
LONG_FRACTIONS = {
    "2019-12-27 13:46:58.123456789": "2019-12-27T13:46:58.123456",
    "2019-12-27 13:46:58.9999999": "2019-12-27T13:46:58.999999",
    "2019-12-27T08:07:06.0000009": "2019-12-27T08:07:06",
    "2019-12-27 13:46": "2019-12-27T13:46",
    "2019-12-27": "2019-12-27",
}

#: Zoned times -> UTC: "Z", "UTC" (with or without a space), offsets with and without
#: a colon, east and west, with minutes, across midnight and the year's end.
AWARE = {
    "2019-12-27 13:46:58.123456Z": "2019-12-27T13:46:58.123456",
    "2019-12-27T13:46:58 UTC": "2019-12-27T13:46:58",
    "2019-12-27 13:46UTC": "2019-12-27T13:46",
    "2019-12-27 13:46:58+02:00": "2019-12-27T11:46:58",
    "2019-12-27 13:46:58-0330": "2019-12-27T17:16:58",
    "2019-12-27 00:10+0545": "2019-12-26T18:25",
    "2019-12-27 23:50-00:30": "2019-12-28T00:20",
    "2019-12-27 13:46:58.5 +01:00": "2019-12-27T12:46:58.500000",
    "2019-12-31 23:30:00.123456789-01:00": "2020-01-01T00:30:00.123456",
    "2020-03-01 00:30+01:00": "2020-02-29T23:30",
    "2019-12-27 13:46:58.25+14:00": "2019-12-26T23:46:58.250000",
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("table", [NAIVE, LONG_FRACTIONS, AWARE], ids=["naive", "long", "aware"])
def test_times_fractions_and_zones_are_read_to_the_microsecond(engine, table):
    assert _stamps(list(table), engine).tolist() == _us(*table.values()).tolist()


def test_hours_minutes_and_seconds_out_of_range_are_unparseable():
    bad = ["2019-12-27 24:00", "2019-12-27 13:60", "2019-12-27 13:46:60", "2019-12-27 1:46",
           "2019-12-27 13:46:58.", "2019-12-27 13:46+2:00", "2019-12-27Z", "27 Dec 2019"]
    error = _error(["2019-12-27 13:46"] + bad)
    assert (error.rule, error.n_rows) == ("unparseable_dates", len(bad))


def test_a_log_of_only_zoned_times_is_not_mixed():
    # All rows aware: no "mixed" error, and every row converted to UTC.
    for engine in ENGINES:
        one = _stamps(["2024-03-05 07:08+0200"], engine)
        assert one.tolist() == _us("2024-03-05T05:08").tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_mixed_zones_name_the_counts_and_the_zoned_rows(engine):
    ts = ["2024-01-01 10:00+01:00", "2024-01-02 10:00", "2024-01-03", "2024-01-04 08:00"]
    error = _error(ts, engine=engine)
    assert (error.rule, error.column, error.n_rows) == ("mixed_timezones", "ts", 1)
    assert "1 rows carry a zone or UTC offset and 3 do not" in str(error)
    assert error.examples == [(0, "2024-01-01 10:00+01:00", 1.0)]
    error = _error(["2024-01-01 10:00Z", "2024-01-02", "2024-01-03 10:00 UTC"], engine=engine)
    assert error.n_rows == 2 and "2 rows carry a zone or UTC offset and 1 do not" in str(error)
    assert error.examples == [(0, "2024-01-01 10:00Z", 1.0), (2, "2024-01-03 10:00 UTC", 1.0)]


# --------------------------------------------------------------------------- the range


@pytest.mark.parametrize("engine", ENGINES)
def test_the_first_and_last_supported_microseconds_are_read(engine):
    edges = ["1677-09-22 00:00:00", "2262-04-11 23:47:16.854775"]
    assert _stamps(edges, engine).tolist() == _us(*edges).tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_just_outside_the_range_are_counted(engine):
    out = ["1677-09-21 23:59:59.999999", "2262-04-11 23:47:16.854776", "9999-12-31",
           "0000-01-01", "0000-02-29", "1600-02-29"]
    ok = ["1677-09-22", "2262-04-11 23:00"]
    error = _error(ok + out, engine=engine)
    assert (error.rule, error.column, error.n_rows) == ("dates_out_of_range", "ts", len(out))
    assert f"{len(out)} of {len(out) + 2} rows" in str(error)
    assert [e[1] for e in error.examples] == out[:5]


@pytest.mark.parametrize("engine", ENGINES)
def test_zoned_edges_of_the_range_are_read_exactly(engine):
    # "Z" and offsets in one log; the last microsecond is beyond 2**53 us (exact only in
    # integers, never through floats).
    edges = ["2262-04-11 23:47:16.854775Z", "1677-09-22 01:00+01:00",
             "2262-04-12 00:47:16.854775+01:00"]
    assert _stamps(edges, engine).tolist() == _us(
        "2262-04-11T23:47:16.854775", "1677-09-22T00:00", "2262-04-11T23:47:16.854775").tolist()


def test_a_zone_can_bring_a_time_back_into_the_range():
    # 2262-04-12 01:00 at +02:00 is 2262-04-11 23:00 UTC, inside the range.
    assert _stamps(["2262-04-12 01:00+02:00"]).tolist() == _us("2262-04-11T23:00").tolist()


# --------------------------------------------------------------------------- other columns


def test_datetime_columns_naive_and_aware():
    naive = pd.Series(pd.to_datetime(["2024-03-05 07:08:09.123456789", "1969-12-31 23:59:59.5"]))
    assert _stamps(naive).tolist() == _us("2024-03-05T07:08:09.123456",
                                          "1969-12-31T23:59:59.500000").tolist()
    aware = pd.Series(pd.to_datetime(["2024-01-01 05:00", "2024-06-01 01:00:00.25"],
                                     format="ISO8601")
                      ).dt.tz_localize("Asia/Kolkata")
    assert _stamps(aware).tolist() == _us("2023-12-31T23:30", "2024-05-31T19:30:00.250000"
                                          ).tolist()
    # By day: the UTC day, not the local one.
    assert _stamps(aware, merge_within="D").tolist() == _us("2023-12-31", "2024-05-31").tolist()
    # Berlin's local mean time of 1890 (+00:53:28, an offset with seconds, which ISO text
    # of the zone cannot carry) and the last microsecond of the range (beyond 2**53 us:
    # exact only in integers).
    lmt = pd.Series([pd.Timestamp("1890-01-01", tz="Europe/Berlin")])
    utc = lmt.dt.tz_convert("UTC").dt.tz_localize(None)[0]  # pandas' own conversion
    if int(pd.__version__.split(".")[0]) >= 3:  # pandas 2.2's pytz zone rounds it to +00:53
        assert utc == pd.Timestamp("1889-12-31 23:06:32")
    assert _stamps(lmt).tolist() == _us(utc.isoformat()).tolist()
    last = pd.Series(pd.to_datetime(["2262-04-11 23:47:16.854775"]))
    assert _stamps(last).tolist() == _us("2262-04-11T23:47:16.854775").tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_days_and_hours_before_1970_are_floored(engine):
    ts = ["1969-12-31 23:00", "1969-12-31 00:30", "1970-01-01 00:59:59.999999"]
    assert _stamps(ts, engine, merge_within="D").tolist() == _us(
        "1969-12-31", "1969-12-31", "1970-01-01").tolist()
    assert _stamps(ts, engine, merge_within="h").tolist() == _us(
        "1969-12-31T23", "1969-12-31T00", "1970-01-01T00").tolist()


# --------------------------------------------------------------------------- datetime_format


@pytest.mark.parametrize("engine", ENGINES)
def test_a_datetime_format_reads_text_and_numbers(engine):
    text = ["05.03.2024 07:08", "31.12.1969 23:59", "29.02.2000 00:00"]
    assert _stamps(text, engine, datetime_format="%d.%m.%Y %H:%M").tolist() == _us(
        "2024-03-05T07:08", "1969-12-31T23:59", "2000-02-29").tolist()
    numbers = [20240305, 19691231]
    assert _stamps(numbers, engine, datetime_format="%Y%m%d").tolist() == _us(
        "2024-03-05", "1969-12-31").tolist()
    zoned = ["2024-03-05 07:08+0200", "2024-03-05 07:08-0130"]
    assert _stamps(zoned, engine, datetime_format="%Y-%m-%d %H:%M%z").tolist() == _us(
        "2024-03-05T05:08", "2024-03-05T08:38").tolist()
    one = _stamps(zoned[:1], engine, datetime_format="%Y-%m-%d %H:%M%z")
    assert one.tolist() == _us("2024-03-05T05:08").tolist()
    last = ["11.04.2262 23:47:16.854775", "22.09.1677 00:00:00.000000"]
    assert _stamps(last, engine, datetime_format="%d.%m.%Y %H:%M:%S.%f").tolist() == _us(
        "2262-04-11T23:47:16.854775", "1677-09-22").tolist()


@pytest.mark.parametrize("engine", ENGINES)
def test_text_not_in_the_format_is_unparseable_not_ambiguous(engine):
    ts = ["05.03.2024", "2024-03-05", "31.02.2024", "01/02/2020", "06.03.2024"]
    error = _error(ts, engine=engine, datetime_format="%d.%m.%Y")
    assert (error.rule, error.column, error.n_rows) == ("unparseable_dates", "ts", 3)
    assert "in the format '%d.%m.%Y'" in str(error)
    assert [e[1] for e in error.examples] == ["2024-03-05", "31.02.2024", "01/02/2020"]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_format_reads_dates_outside_the_range_as_out_of_range(engine):
    ts = ["01.01.2300", "05.03.2024", "31.12.1600", "21.09.1677"]
    error = _error(ts, engine=engine, datetime_format="%d.%m.%Y")
    assert (error.rule, error.n_rows) == ("dates_out_of_range", 3)
    # A row that does not fit the format before one out of range: each counted as itself.
    error = _error(["garbage", "01.01.2300", "05.03.2024"], engine=engine,
                   datetime_format="%d.%m.%Y")
    assert (error.rule, error.n_rows) == ("unparseable_dates", 1)


@pytest.fixture
def pandas_reads_nothing(monkeypatch):
    """pd.to_datetime giving NaT for every row, as pandas < 3 does for dates outside its
    nanosecond range: data.py then reads each row with datetime.strptime, in a local
    zone (TZ) other than UTC, so that a time converted through the local zone differs."""
    import time

    real = pd.to_datetime

    def nothing(*args, **kwargs):
        parsed = real(*args, **kwargs)
        return parsed.where(parsed.isna())

    monkeypatch.setattr(pd, "to_datetime", nothing)
    tzset = getattr(time, "tzset", lambda: None)  # POSIX only: elsewhere the zone stays
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    tzset()
    yield
    monkeypatch.undo()
    tzset()


def test_rows_pandas_cannot_hold_are_read_one_by_one(pandas_reads_nothing):
    fmt = "%d.%m.%Y %H:%M:%S.%f"
    ts = ["05.03.2024 07:08:09.250000", "31.12.1969 23:59:59.000001",
          "11.04.2262 23:47:16.854775", "22.09.1677 00:00:00.000000"]
    assert _stamps(ts, datetime_format=fmt).tolist() == _us(
        "2024-03-05T07:08:09.250000", "1969-12-31T23:59:59.000001",
        "2262-04-11T23:47:16.854775", "1677-09-22").tolist()
    zoned = ["2024-03-05 07:08+0200", "2262-04-12 01:00+0200"]
    assert _stamps(zoned, datetime_format="%Y-%m-%d %H:%M%z").tolist() == _us(
        "2024-03-05T05:08", "2262-04-11T23:00").tolist()
    # Rows not in the format are skipped, the later ones still read.
    error = _error(["garbage", "01.01.2300 00:00:00.0", "05.03.2024 07:08:09.0", "x"],
                   datetime_format=fmt)
    assert (error.rule, error.n_rows) == ("unparseable_dates", 2)
    error = _error(["01.01.2300 00:00:00.0", "05.03.2024 07:08:09.0"], datetime_format=fmt)
    assert (error.rule, error.n_rows) == ("dates_out_of_range", 1)


@pytest.mark.parametrize("engine", ENGINES)
def test_numbers_without_a_format_are_refused_with_their_count(engine):
    error = _error([20240305, 20240306, 20240307])
    assert (error.rule, error.column, error.n_rows) == ("numeric_dates", "ts", 3)
    assert error.examples == [(0, 20240305, 1.0), (1, 20240306, 1.0), (2, 20240307, 1.0)]


# --------------------------------------------------------------------------- ambiguous dates


@pytest.mark.parametrize("engine", ENGINES)
def test_day_and_month_in_either_order_are_ambiguous(engine):
    ts = ["01/02/2020", "1.2.20", "2024-01-05", "13-01-2020", "02/01/2020 10:00"]
    error = _error(ts, engine=engine)
    assert (error.rule, error.column, error.n_rows) == ("ambiguous_dates", "ts", 4)
    assert "4 of 5 rows" in str(error)
    assert [e[1] for e in error.examples] == ["01/02/2020", "1.2.20", "13-01-2020",
                                              "02/01/2020 10:00"]
    # Text that is neither ISO nor ambiguous is unparseable, reported first, alone.
    error = _error(ts + ["next tuesday"], engine=engine)
    assert (error.rule, error.n_rows) == ("unparseable_dates", 1)
    assert [e[1] for e in error.examples] == ["next tuesday"]


# --------------------------------------------------------------------------- period ends


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("merge_within,end,text,after", [
    ("D", "2024-03-05 07:30", "2024-03-05", 1),
    ("h", "2024-03-05 07:30", "2024-03-05T07", 2),
    (None, "2024-03-05 07:30", "2024-03-05T07:30:00.000000", 4),
    (None, pd.Timestamp("2024-03-05 08:30", tz="Europe/Berlin"), "2024-03-05T07:30:00.000000", 4),
    ("h", "2024-03-05 08:30+01:00", "2024-03-05T07", 2),
    ("D", pd.Timestamp("2024-03-06 00:30", tz="Europe/Berlin"), "2024-03-05", 1),
])
def test_the_observation_end_in_ticks_and_back(engine, merge_within, end, text, after):
    ts = ["2024-03-01 12:00", "2024-03-05 07:00", "2024-03-05 07:30",
          "2024-03-05 07:30:00.000001", "2024-03-05 07:45", "2024-03-05 23:59", "2024-03-06"]
    tx = pd.DataFrame({"id": [1] * len(ts), "ts": ts, "amount": 1.0})
    s = _quiet(rfm_summary, tx, "id", "ts", "amount", observation_period_end=end,
               merge_within=merge_within, time_unit="h", engine=engine)
    assert s.attrs["observation_period_end"] == text
    assert s.attrs["calibration_period_end"] == text
    assert s.attrs["exclusions"]["transactions_after_observation_end"] == after
    assert s.attrs["n_transactions"] == len(ts) - after


@pytest.mark.parametrize("engine", ENGINES)
def test_period_ends_before_1970_and_their_messages(engine):
    tx = pd.DataFrame({"id": [1, 1, 2], "ts": ["1969-12-30 10:00", "1969-12-31 22:00",
                                               "1970-01-01 00:30"], "amount": 1.0})
    s = _quiet(rfm_summary, tx, "id", "ts", "amount", observation_period_end="1969-12-31 23:00",
               calibration_period_end="1969-12-30 20:00", merge_within="h", time_unit="h",
               engine=engine)
    assert s.attrs["observation_period_end"] == "1969-12-31T23"
    assert s.attrs["calibration_period_end"] == "1969-12-30T20"
    assert s["frequency_holdout"].tolist() == [1]
    assert s["T"].tolist() == [10.0]
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, tx, "id", "ts", "amount", observation_period_end="1969-12-30 09:59",
               merge_within="h", engine=engine)
    assert ("observation_period_end (1969-12-30T09) is before the first purchase in column "
            "'ts' (1969-12-30T10).") in str(info.value)
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, tx, "id", "ts", "amount", observation_period_end="1969-12-31",
               calibration_period_end="1970-01-01", engine=engine)
    assert "calibration_period_end (1970-01-01) is after observation_period_end (1969-12-31)" \
        in str(info.value)


# --------------------------------------------------------------------------- the pandas
# engine's rows: examples of bad rows, row options, amount types (data_rules_rest)


def _rows(n, **columns) -> pd.DataFrame:
    frame = pd.DataFrame({"id": [f"c{i}" for i in range(n)],
                          "ts": [f"2024-01-{i + 1:02d}" for i in range(n)],
                          "amount": [float(i + 1) for i in range(n)]})
    for name, values in columns.items():
        frame[name] = values
    return frame


@pytest.mark.parametrize("rule,columns,n_bad", [
    ("null_ids", {"id": [None, "c1", None, None, "c4", None, None, None]}, 6),
    ("missing_dates", {"ts": [None] * 7 + ["2024-01-08"]}, 7),
    ("unparseable_dates", {"ts": ["2024-01-01"] + [f"x{i}" for i in range(7)]}, 7),
    ("ambiguous_dates", {"ts": ["2024-01-01"] + [f"0{i}/01/2024" for i in range(1, 8)]}, 7),
    ("dates_out_of_range", {"ts": ["2024-01-01"] + [f"900{i}-01-01" for i in range(1, 8)]}, 7),
    ("missing_amounts", {"amount": [1.0] + [np.nan] * 7}, 7),
    ("non_numeric_amounts", {"amount": ["1", "a", "b", "c", "d", "e", "f", "2"]}, 6),
    ("infinite_amounts", {"amount": [np.inf, 1.0, -np.inf, np.inf, np.inf, np.inf, np.inf, 2.0]},
     6),
    ("negative_amounts", {"amount": [-1.0, -2.0, 3.0, -4.0, -5.0, -6.0, -7.0, -8.0]}, 7),
    ("mixed_timezones", {"ts": ["2024-01-01"] + [f"2024-01-0{i} 10:00Z" for i in range(2, 8)]
                         + ["2024-01-09 10:00"]}, 6),
])
def test_a_rule_shows_its_first_five_bad_rows(rule, columns, n_bad):
    frame = _rows(8, **columns)
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, frame, "id", "ts", "amount")
    error = info.value
    assert (error.rule, error.n_rows) == (rule, n_bad)
    if rule == "null_ids":
        bad = frame["id"].isna()
    elif rule == "missing_dates":
        bad = frame["ts"].isna()
    elif rule == "missing_amounts":
        bad = frame["amount"].isna()
    elif rule == "non_numeric_amounts":
        bad = ~frame["amount"].isin(["1", "2"])
    elif rule == "infinite_amounts":
        bad = np.isinf(frame["amount"])
    elif rule == "negative_amounts":
        bad = frame["amount"] < 0
    elif rule == "mixed_timezones":
        bad = frame["ts"].str.endswith("Z")
    else:
        bad = frame["ts"] != "2024-01-01"
    expected = list(frame.loc[bad, ["id", "ts", "amount"]].head(5).itertuples(index=False))
    assert len(error.examples) == 5
    assert [tuple(map(str, e)) for e in error.examples] == [tuple(map(str, e)) for e in expected]


def test_examples_without_an_amount_column_and_with_an_order_column():
    frame = _rows(3, ts=["2024-01-01", "bad", "worse"], order=["o1", "o2", "o3"])
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, frame, "id", "ts")
    assert info.value.examples == [("c1", "bad"), ("c2", "worse")]
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, frame, "id", "ts", "amount", order_id_col="order", returns="net")
    assert info.value.examples == [("c1", "bad", 2.0, "o2"), ("c2", "worse", 3.0, "o3")]


def test_numbers_as_dates_show_their_rows():
    frame = _rows(2, ts=[20240101, 20240102])
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, frame, "id", "ts", "amount")
    assert (info.value.rule, info.value.n_rows) == ("numeric_dates", 2)
    assert info.value.examples == [("c0", 20240101, 1.0), ("c1", 20240102, 2.0)]


def test_cells_that_cannot_be_compared_make_no_duplicates():
    # A column of lists: rows cannot be hashed, so none is a duplicate (kept or dropped).
    frame = pd.DataFrame({"id": ["a", "a", "a"], "ts": ["2024-01-01", "2024-01-01", "2024-01-03"],
                          "amount": [1.0, 1.0, 2.0], "tags": [["x"], ["x"], ["y"]]})
    for duplicates in ("keep", "drop"):
        s = _quiet(rfm_summary, frame, "id", "ts", "amount", duplicates=duplicates,
                   time_unit="D")
        assert s.attrs["exclusions"]["duplicate_rows_dropped"] == 0
        assert s.attrs["notes"]["duplicate_rows_kept"] == 0
        assert s.attrs["n_transactions"] == 3
        assert s["frequency"].tolist() == [1] and s["monetary_value"].tolist() == [2.0]


def test_missing_ids_are_counted_after_duplicates_are_dropped():
    frame = pd.DataFrame({"id": [None, None, "a", "a", "b", None],
                          "ts": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01",
                                 "2024-01-02", "2024-01-03"],
                          "amount": [1.0, 1.0, 2.0, 2.0, 3.0, 4.0]})
    s = _quiet(rfm_summary, frame, "id", "ts", "amount", duplicates="drop",
               missing_ids="drop", time_unit="D")
    assert s.attrs["exclusions"]["duplicate_rows_dropped"] == 2
    assert s.attrs["exclusions"]["rows_without_customer_id"] == 2
    assert s.attrs["n_transactions"] == 2
    assert s.index.tolist() == ["a", "b"] and s["T"].tolist() == [1.0, 0.0]
    # Duplicates kept: every row without an id is counted.
    s = _quiet(rfm_summary, frame, "id", "ts", "amount", missing_ids="drop", time_unit="D")
    assert s.attrs["exclusions"]["rows_without_customer_id"] == 3
    assert s.attrs["notes"]["duplicate_rows_kept"] == 2
    assert s.attrs["n_transactions"] == 3


def test_amount_types_nullable_boolean_and_text():
    base = pd.DataFrame({"id": ["a", "a", "a"], "ts": ["2024-01-01", "2024-01-02", "2024-01-03"]})
    ints = base.assign(amount=pd.array([1, 2, 4], dtype="Int64"))
    s = _quiet(rfm_summary, ints, "id", "ts", "amount", time_unit="D")
    assert s["monetary_value"].tolist() == [3.0]
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, base.assign(amount=pd.array([1, None, 4], dtype="Int64")),
               "id", "ts", "amount")
    assert (info.value.rule, info.value.n_rows) == ("missing_amounts", 1)
    flags = base.assign(amount=[True, False, True])
    s = _quiet(rfm_summary, flags, "id", "ts", "amount", time_unit="D")
    assert s["monetary_value"].tolist() == [0.5]
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 1
    text = base.assign(amount=pd.array(["1.5", "-2", "inf"], dtype=object))
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, text, "id", "ts", "amount")
    assert (info.value.rule, info.value.n_rows) == ("infinite_amounts", 1)
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, text.assign(amount=["1.5", "-2", "3"]), "id", "ts", "amount")
    assert (info.value.rule, info.value.n_rows) == ("negative_amounts", 1)
    assert info.value.examples == [("a", "2024-01-02", "-2")]


def test_without_an_amount_column_every_row_counts_one():
    frame = pd.DataFrame({"id": ["a", "a", "b"], "ts": ["2024-01-01", "2024-01-03", "2024-01-02"],
                          "amount": [0.0, -5.0, np.nan]})
    s = _quiet(rfm_summary, frame, "id", "ts", zero_amounts="drop", time_unit="D")
    assert list(s.columns) == ["frequency", "recency", "T"]
    assert s["frequency"].tolist() == [1, 0] and s["T"].tolist() == [2.0, 1.0]
    assert s.attrs["exclusions"]["zero_amount_rows_dropped"] == 0
    assert s.attrs["notes"]["zero_amount_rows_kept"] == 0


def test_negative_examples_leave_out_zero_and_small_amounts():
    frame = _rows(4, amount=[0.0, 0.5, -1.0, 2.0])
    with pytest.raises(DataError) as info:
        _quiet(rfm_summary, frame, "id", "ts", "amount")
    assert (info.value.rule, info.value.n_rows) == ("negative_amounts", 1)
    assert info.value.examples == [("c2", "2024-01-03", -1.0)]


def test_a_log_whose_every_row_is_dropped_sums_nothing():
    # Every amount rounds to 0 and is dropped: no row left for the exact-sum check.
    frame = pd.DataFrame({"id": ["a", "b"], "ts": ["2024-01-01", "2024-01-02"],
                          "amount": [0.0, 0.004]})
    s = _quiet(rfm_summary, frame, "id", "ts", "amount", zero_amounts="drop", time_unit="D")
    assert len(s) == 0 and s.attrs["n_transactions"] == 0
    assert s.attrs["exclusions"]["zero_amount_rows_dropped"] == 2
    assert s.attrs["exclusions"]["customers_without_purchases"] == 2


@pytest.mark.parametrize("engine", ENGINES)
def test_an_observation_end_on_the_last_microsecond(engine):
    # Ticks of microseconds beyond 2**53 stay integers: the end is not rounded.
    tx = pd.DataFrame({"id": [1, 1], "ts": ["2262-04-11 23:00", "2262-04-11 23:47:16.854775"],
                       "amount": 1.0})
    s = _quiet(rfm_summary, tx, "id", "ts", "amount", merge_within=None, time_unit="h",
               observation_period_end="2262-04-11 23:47:16.854775", engine=engine)
    assert s.attrs["observation_period_end"] == "2262-04-11T23:47:16.854775"
    assert s["frequency"].tolist() == [1]
    assert s["T"].tolist() == pytest.approx([(47 * 60 + 16.854775) / 3600], rel=1e-12)


@pytest.mark.parametrize("engine", ENGINES)
def test_aware_period_ends_give_no_numpy_warning(engine):
    # numpy warns when it is handed an aware timestamp: the ends are made naive UTC first.
    tx = pd.DataFrame({"id": [1, 1], "ts": ["2024-03-01", "2024-03-05"], "amount": 1.0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = rfm_summary(tx, "id", "ts", "amount", time_unit="D", engine=engine,
                        observation_period_end=pd.Timestamp("2024-03-06 00:30", tz="Europe/Berlin"),
                        calibration_period_end=pd.Timestamp("2024-03-02 00:30", tz="Europe/Berlin"))
    assert [w for w in caught if not issubclass(w.category, DataWarning)] == []
    assert s.attrs["observation_period_end"] == "2024-03-05"
    assert s.attrs["calibration_period_end"] == "2024-03-01"


@pytest.mark.parametrize("n_rows", [1, 2])
def test_zoned_text_with_a_format_gives_no_numpy_warning(n_rows):
    # Read as UTC by pandas (utc=True), never handed to numpy as aware timestamps.
    ts = ["2024-03-05 07:08+0200", "2024-03-06 07:08+0200"][:n_rows]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stamps = _stamps(ts, datetime_format="%Y-%m-%d %H:%M%z")
    assert [w for w in caught if not issubclass(w.category, DataWarning)] == []
    assert stamps.tolist() == _us("2024-03-05T05:08", "2024-03-06T05:08").tolist()[:n_rows]
