"""The chunked log writer (simulate.write_log) and the file-to-file pipeline."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import simulate
from clvmodels.exceptions import DataError, DataWarning
from clvmodels.pipeline import STAGES, run_pipeline

BG = dict(r=0.8, alpha=30.0, a=0.9, b=4.0)
SPEND = dict(p=6.0, q=4.0, v=60.0)
LOG = dict(params=BG, observation_length=365, acquisition_period=180, spend=SPEND,
           resolution="s")
END = "2025-06-29"  # 2024-01-01 + 180 + 365 days
SETTINGS = dict(horizon=12, time_unit="M", discount_rate=0.01, margin=0.3, interval=0.9)


def _write(path, n=1500, **kw):
    return simulate.write_log(path, n, **{**LOG, "random_state": 7, **kw})


def _in_memory(log, engine: str) -> pd.DataFrame:
    """The same journey step by step in memory."""
    summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
                                    observation_period_end=END, time_unit="M",
                                    engine=engine)
    bg = clvmodels.BetaGeoModel().fit(summary)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        gg = clvmodels.GammaGammaModel(nonpositive_spend="exclude").fit(summary)
    clv = clvmodels.customer_lifetime_value(bg, gg, summary, random_state=0, **SETTINGS)
    clv["probability_alive"] = bg.probability_alive(summary)
    return clv


# ---------------------------------------------------------------- write_log

@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=st.integers(1, 900), n=st.integers(1, 900))
def test_write_log_does_not_depend_on_chunks(tmp_path_factory, chunk, n):
    base = tmp_path_factory.mktemp("logs")
    one = pd.read_parquet(_write(base / "one.parquet", n, chunk_customers=10**6))
    parts = _write(base / "parts", n, chunk_customers=chunk)
    files = sorted(parts.glob("part-*.parquet"))
    assert len(files) == -(-n // chunk)
    split = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    pd.testing.assert_frame_equal(split, one)
    # Every customer once per part, with a first purchase, sorted by customer and date.
    assert np.array_equal(np.unique(one["customer_id"]), np.arange(n))
    assert (one.groupby("customer_id")["date"].is_monotonic_increasing).all()
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp(END)
    assert one["date"].between(start, end).all()
    assert (one["amount"] > 0).all()


def test_write_log_blocks_differ_and_seeds_reproduce(tmp_path):
    a = pd.read_parquet(_write(tmp_path / "a.parquet", 70_000, chunk_customers=70_000))
    b = pd.read_parquet(_write(tmp_path / "b.parquet", 70_000, random_state=8))
    assert not a.equals(b)
    # The second block (customers from 65,536) is not a copy of the first.
    first = a[a["customer_id"] < 4000].groupby("customer_id").size().to_numpy()
    second = a[(a["customer_id"] >= 65_536) & (a["customer_id"] < 69_536)].groupby(
        "customer_id").size().to_numpy()
    assert not np.array_equal(first, second)


def test_write_log_recovers_bgnbd_and_pareto_parameters(tmp_path):
    for model, params, cls in (("bgnbd", BG, clvmodels.BetaGeoModel),
                               ("paretonbd", dict(r=0.8, alpha=30.0, s=0.7, beta=60.0),
                                clvmodels.ParetoNBDModel)):
        path = simulate.write_log(tmp_path / model, 20_000, model=model, params=params,
                                  observation_length=365, acquisition_period=180,
                                  chunk_customers=10_000, random_state=3)
        summary = clvmodels.rfm_summary(str(path / "*.parquet"), "customer_id", "date",
                                        observation_period_end=pd.Timestamp(END),
                                        merge_within=None, time_unit="D")
        fitted = cls().fit(summary).params_
        for name, value in params.items():
            assert fitted[name] == pytest.approx(value, rel=0.15), (model, name)


def test_write_log_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="model must be"):
        simulate.write_log(tmp_path / "x", 10, model="nbd", params=BG, observation_length=1)
    with pytest.raises(ValueError, match="keys"):
        simulate.write_log(tmp_path / "x", 10, params=dict(r=1.0), observation_length=1)
    _write(tmp_path / "x", 10)
    with pytest.raises(FileExistsError):
        _write(tmp_path / "x", 10)


# ---------------------------------------------------------------- run_pipeline

def _check_against_memory(out: pd.DataFrame, source, engine: str, rtol: float) -> None:
    expected = _in_memory(source, engine)
    assert len(out) == len(expected)
    got = out.set_index("customer_id").loc[expected.index]
    for col in ("clv", "clv_lower", "clv_upper", "expected_purchases", "expected_spend",
                "probability_alive"):
        np.testing.assert_allclose(got[col].to_numpy(dtype=float),
                                   expected[col].to_numpy(), rtol=rtol, atol=1e-12,
                                   err_msg=col)


def test_pipeline_on_parquet_folder_equals_the_in_memory_journey(tmp_path):
    folder = _write(tmp_path / "log", chunk_customers=400)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        result = run_pipeline(folder, "customer_id", "date", "amount",
                              output=tmp_path / "clv.parquet", observation_period_end=END,
                              chunk_size=500, progress=lambda *a: calls.append(a), **SETTINGS)
    out = pd.read_parquet(result.output)
    log = pd.read_parquet(folder)
    # The same files through rfm_summary, the fits and customer_lifetime_value.
    # Money is summed in whole cents, so the engines agree to the bit whatever order
    # DuckDB's threads read the files in; the fits and predictions follow.
    _check_against_memory(out, str(folder / "*.parquet"), "duckdb", rtol=1e-12)
    _check_against_memory(out, log, "pandas", rtol=1e-12)
    assert result.n_customers == len(out) == 1500
    assert result.n_transactions == len(log)
    assert result.n_unscored == 0
    assert sorted(out["customer_id"]) == list(range(1500))
    # One progress call per stage, in order, with the stage's time and counts.
    assert [c[0] for c in calls] == list(STAGES)
    assert [c[1] for c in calls] == [result.seconds[s] for s in STAGES]
    assert "1,500 customers" in calls[0][2] and f"{len(log):,} transactions" in calls[0][2]
    assert result.transaction_model.params_["r"] == pytest.approx(BG["r"], rel=0.5)


def test_pipeline_on_csv_keeps_every_customer(tmp_path):
    log = pd.read_parquet(_write(tmp_path / "log.parquet", 800))
    # String ids, dates as text, and one customer whose repeat purchases are free:
    # it cannot be scored by the spend model but must be exported.
    log["customer_id"] = "c" + log["customer_id"].astype(str)
    counts = log.groupby("customer_id").size()
    free = counts[counts >= 3].index[0]
    first = ~log["customer_id"].duplicated()
    log.loc[(log["customer_id"] == free) & ~first, "amount"] = 0.0
    log["date"] = log["date"].dt.strftime("%Y-%m-%d %H:%M:%S")
    csv = tmp_path / "log.csv"
    log.to_csv(csv, index=False)
    with pytest.warns(DataWarning):
        result = run_pipeline(str(tmp_path / "*.csv"), "customer_id", "date", "amount",
                              output=tmp_path / "out" / "clv.csv",
                              observation_period_end=END, **SETTINGS)
    out = pd.read_csv(result.output)
    assert len(out) == result.n_customers == log["customer_id"].nunique() == 800
    assert set(out["customer_id"]) == set(log["customer_id"])
    assert result.n_unscored == 1
    row = out.set_index("customer_id").loc[free]
    assert np.isnan(row["clv"]) and "monetary_value <= 0" in row["unscored_reason"]
    scored = out[out["customer_id"] != free].set_index("customer_id")
    assert np.isfinite(scored["clv"]).all() and (scored["clv_lower"] <= scored["clv"]).all()


def test_pipeline_missing_column_is_a_data_error(tmp_path):
    folder = _write(tmp_path / "log", 50)
    with pytest.raises(DataError, match="spend") as info:
        run_pipeline(folder, "customer_id", "date", "spend", output=tmp_path / "o.parquet",
                     horizon=12)
    assert info.value.column == "spend" and info.value.rule == "missing_columns"
    assert not (tmp_path / "o.parquet").exists()


def test_pipeline_rejects_unknown_model_and_engine(tmp_path):
    with pytest.raises(ValueError, match="model must be"):
        run_pipeline(tmp_path, "c", "d", "a", output=tmp_path / "o.parquet", horizon=1,
                     model="nbd")
    with pytest.raises(TypeError, match="engine"):
        run_pipeline(tmp_path, "c", "d", "a", output=tmp_path / "o.parquet", horizon=1,
                     engine="pandas")


def test_cli_run_writes_every_customer(tmp_path):
    import subprocess
    import sys

    log = clvmodels.datasets.load_cdnow("sample")
    log.to_parquet(tmp_path / "log.parquet", index=False)
    out = tmp_path / "clv.csv"
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "run", str(tmp_path / "log.parquet"),
                           "-o", str(out), "--time-unit", "W", "--horizon", "52", "--interval", "0"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out)
    assert sorted(written["customer_id"]) == sorted(log["customer_id"].unique())
    for stage in ("summary", "fit", "export"):
        assert f"... {stage} done in" in done.stderr
    assert "clv_lower" not in written.columns
