"""The DuckDB engine's memory limit: a documented default, an option that reaches DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from clvmodels import rfm_summary
from clvmodels.data import _DuckDBLog, _make_spec, default_memory_limit

LOG = pd.DataFrame({"id": [1, 1, 2], "ts": pd.to_datetime(["2024-01-01", "2024-02-01",
                                                             "2024-01-15"]),
                    "amount": [10.0, 20.0, 5.0]})


def _setting(memory_limit):
    spec = _make_spec("id", "ts", "amount", None, "error", "D", "D", memory_limit=memory_limit)
    with _DuckDBLog(LOG, spec) as log:
        (value,) = log.con.execute("SELECT current_setting('memory_limit')").fetchone()
    return value


def _in_mib(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"KiB": 2**-10, "MiB": 1, "GiB": 2**10, "TiB": 2**20}[unit]


def test_memory_limit_reaches_duckdb():
    assert _in_mib(_setting("300MB")) == pytest.approx(300e6 / 2**20, rel=5e-2)  # DuckDB shows one decimal
    assert _in_mib(_setting("2GB")) == pytest.approx(2e9 / 2**20, rel=5e-2)  # DuckDB shows one decimal


def test_the_default_is_an_eighth_of_the_machine_and_at_least_1gb():
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    expected = max(1024, int(total_mib // 8))
    assert default_memory_limit() == f"{expected}MB"
    assert _in_mib(_setting(None)) == pytest.approx(expected * 1e6 / 2**20, rel=5e-2)  # DuckDB shows one decimal


@pytest.mark.parametrize("bad", ["lots", "4", "-1GB", 4])
def test_a_bad_memory_limit_is_refused_before_reading(bad):
    with pytest.raises(ValueError, match="memory_limit must be a size such as '4GB'"):
        rfm_summary(LOG, "id", "ts", "amount", engine="duckdb", memory_limit=bad)


def test_the_summary_does_not_depend_on_the_limit(tmp_path):
    path = tmp_path / "log.parquet"
    LOG.to_parquet(path)
    small = rfm_summary(str(path), "id", "ts", "amount", memory_limit="100MB")
    pd.testing.assert_frame_equal(small, rfm_summary(LOG, "id", "ts", "amount",
                                                     engine="pandas"), check_exact=True)


def test_cli_memory_limit_option_reaches_the_summary(tmp_path):
    path = tmp_path / "log.csv"
    LOG.to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "summary", str(path),
                           "--customer-id", "id", "--datetime", "ts", "--amount", "amount",
                           "-o", str(tmp_path / "s.csv"), "--memory-limit", "lots"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "memory_limit must be a size" in done.stderr
    ok = subprocess.run([sys.executable, "-m", "clvmodels.cli", "summary", str(path),
                         "--customer-id", "id", "--datetime", "ts", "--amount", "amount",
                         "-o", str(tmp_path / "s.csv"), "--memory-limit", "200MB"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_csv(tmp_path / "s.csv")) == 2


def test_running_out_of_the_limit_is_a_clear_memory_error(tmp_path):
    # 400k rows with 8 text columns cannot be de-duplicated in DuckDB's smallest limit.
    rng = np.random.default_rng(0)
    n = 400_000
    log = pd.DataFrame({"id": rng.integers(0, 50_000, n),
                        "ts": pd.Timestamp("2024-01-01") + pd.to_timedelta(
                            rng.integers(0, 10**7, n), "s"),
                        "amount": rng.integers(1, 10**6, n) / 100})
    for k in range(8):
        log[f"note{k}"] = [f"{x:032x}" for x in rng.integers(0, 2**62, n)]
    path = tmp_path / "log.parquet"
    log.to_parquet(path)
    with pytest.raises(MemoryError, match=r"memory_limit \(1MB\).*larger memory_limit="):
        rfm_summary(str(path), "id", "ts", "amount", memory_limit="1MB")
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "summary", str(path),
                           "--customer-id", "id", "--datetime", "ts", "--amount", "amount",
                           "-o", str(tmp_path / "s.csv"), "--memory-limit", "1MB"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--memory-limit" in errors[0] and "Traceback" not in done.stderr


def test_a_statement_short_of_memory_is_retried_on_one_thread():
    import duckdb

    from clvmodels.data import _OneThreadWhenShort

    class Short:
        """A connection whose first aggregate runs out of memory."""

        def __init__(self):
            self.statements, self.failed = [], False

        def execute(self, sql):
            self.statements.append(sql)
            if sql.startswith("SELECT DISTINCT") and not self.failed:
                self.failed = True
                raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")
            return sql

    raw = Short()
    con = _OneThreadWhenShort(raw)
    assert con.execute("SELECT DISTINCT * FROM src") == "SELECT DISTINCT * FROM src"
    assert raw.statements == ["SELECT DISTINCT * FROM src", "SET threads = 1",
                              "SELECT DISTINCT * FROM src"]
