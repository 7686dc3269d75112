"""Per-customer export: no customer lost, chunking changes nothing, files round-trip."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.clv import customer_lifetime_value
from clvmodels.exceptions import DataWarning
from clvmodels.export import predict_clv, unscorable_reasons
from clvmodels.models.baseline import rfm_segments
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel

SETTINGS = dict(horizon=52, time_unit="W", discount_rate=0.1, discount_period="Y",
                interval=0.9, n_draws=50, random_state=7)


@pytest.fixture(scope="module")
def fitted():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    return summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)


def test_every_customer_is_scored_and_matches_the_clv(fitted):
    summary, bg, gg = fitted
    shuffled = summary.sample(frac=1.0, random_state=11)
    shuffled.attrs = dict(summary.attrs)
    out = predict_clv(shuffled, bg, gg, **SETTINGS)
    assert len(out) == len(summary)
    assert out["customer_id"].tolist() == shuffled.index.tolist()  # the input's order
    out = out.set_index("customer_id").loc[summary.index]
    # Each figure from the models themselves, combined here: 52 weekly steps, the
    # purchases of step k discounted by 1.1 ** -(7k / 365.25).
    spend = gg.expected_spend(summary).to_numpy()
    cumulative = np.column_stack([np.zeros(len(summary))] + [
        bg.expected_purchases(summary, t=k).to_numpy() for k in range(1, 53)])
    factors = 1.1 ** (-np.arange(1, 53) * 7 / 365.25)
    np.testing.assert_allclose(out["expected_purchases"], cumulative[:, -1], rtol=1e-9)
    np.testing.assert_allclose(out["expected_spend"], spend, rtol=1e-9)
    np.testing.assert_allclose(out["clv"], (np.diff(cumulative, axis=1) * factors).sum(axis=1)
                               * spend, rtol=1e-8)
    np.testing.assert_allclose(out["probability_alive"], bg.probability_alive(summary),
                               rtol=1e-12)
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_array_equal(out[col].to_numpy(float), summary[col].to_numpy(float))
    # The interval is the one customer_lifetime_value gives with the same seed.
    clv = customer_lifetime_value(bg, gg, summary, **SETTINGS)
    np.testing.assert_allclose(out["clv_lower"], clv["clv_lower"], rtol=1e-12)
    np.testing.assert_allclose(out["clv_upper"], clv["clv_upper"], rtol=1e-12)
    assert (out["clv_lower"] < out["clv"]).mean() > 0.99
    assert (out["clv"] < out["clv_upper"]).mean() > 0.99
    assert out["unscored_reason"].isna().all()
    segments = rfm_segments(summary)["segment"]
    assert out["segment"].tolist() == segments.tolist()
    assert set(segments) == {"low", "middle", "top"}
    assert (out["model"] == "BetaGeoModel + GammaGammaModel").all()
    assert (out["horizon"] == 52).all() and (out["time_unit"] == "W").all()


def test_unscorable_customers_keep_their_row_with_a_reason(fitted):
    summary, bg, gg = fitted
    bad = summary.copy()
    repeat = bad.index[bad["frequency"] > 0]
    bad.loc[repeat[0], "monetary_value"] = 0.0
    bad.loc[repeat[1], "recency"] = bad.loc[repeat[1], "T"] + 5
    bad.loc[repeat[2], "frequency"] = np.nan
    with pytest.warns(DataWarning, match="3 of 2357 customers cannot be scored"):
        out = predict_clv(bad, bg, gg, **SETTINGS).set_index("customer_id")
    assert len(out) == len(summary)
    assert out.loc[repeat[0], "unscored_reason"] == "repeat purchases but monetary_value <= 0"
    assert out.loc[repeat[1], "unscored_reason"] == "recency is larger than T"
    assert out.loc[repeat[2], "unscored_reason"] == "missing or non-numeric RFM value"
    assert out.loc[repeat[:3], "clv"].isna().all()
    assert out["clv"].notna().sum() == len(summary) - 3
    reasons = unscorable_reasons(bad)
    assert (reasons != "").sum() == 3


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunked_files_equal_the_in_memory_table(fitted, tmp_path, suffix):
    summary, bg, gg = fitted
    expected = predict_clv(summary, bg, gg, **SETTINGS)
    path = predict_clv(summary, bg, gg, **SETTINGS, path=tmp_path / f"clv{suffix}",
                       chunk_size=500)
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(back) == len(summary)
    numeric = ["frequency", "recency", "T", "monetary_value", "probability_alive",
               "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper"]
    np.testing.assert_allclose(back[numeric].to_numpy(float), expected[numeric].to_numpy(float),
                               rtol=1e-12)
    assert back["segment"].tolist() == expected["segment"].tolist()


def test_cli_fit_and_predict(fitted, tmp_path):
    summary, bg, gg = fitted
    models = tmp_path / "models"
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "fit", "cdnow:sample",
                           "-o", str(models)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # The saved models are the ones the library fits on the same summary.
    purchases = clvmodels.load(models / "purchases.json")
    spend = clvmodels.load(models / "spend.json")
    np.testing.assert_allclose(purchases.params_, bg.params_, rtol=1e-9)
    np.testing.assert_allclose(spend.params_, gg.params_, rtol=1e-6)
    assert "BetaGeoModel: log-likelihood" in done.stdout
    assert f"{bg.log_likelihood_:,.2f}" in done.stdout
    out = tmp_path / "clv.csv"
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "predict", "cdnow:sample",
                           "--models", str(models), "-o", str(out), "--horizon", "12",
                           "--time-unit", "M"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "2,357 customers written to" in done.stderr
    written = pd.read_csv(out).set_index("customer_id")
    assert sorted(written.index) == sorted(summary.index)
    assert {"clv", "clv_lower", "clv_upper"} <= set(written)
    assert (written["time_unit"] == "M").all() and (written["horizon"] == 12).all()
    # 12 months = 365.25 days = 52.18 weeks of the weekly model; undiscounted, margin 1.
    weeks = 365.25 / 7
    expected = bg.expected_purchases(summary, t=weeks) * gg.expected_spend(summary)
    np.testing.assert_allclose(written.loc[summary.index, "clv"], expected, rtol=1e-6)


def test_cli_bayesian_fit_then_predict(tmp_path):
    models = tmp_path / "models"
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "fit", "cdnow:sample",
                           "-o", str(models), "--method", "nuts", "--draws", "300",
                           "--seed", "3"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (models / "purchases.nc").exists() and (models / "spend.nc").exists()
    loaded = clvmodels.load(models / "purchases.json")
    assert loaded.method == "nuts" and loaded.idata_.posterior.sizes["draw"] == 300
    out = tmp_path / "clv.parquet"
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "predict", "cdnow:sample",
                           "--models", str(models), "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = pd.read_parquet(out)
    assert len(written) == 2357
    scored = written.dropna(subset=["clv"])
    assert (scored["clv_lower"] <= scored["clv"]).all()
    assert (scored["clv"] <= scored["clv_upper"]).all()


def test_cli_rejects_an_unknown_method(tmp_path):
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "fit", "cdnow:sample",
                           "-o", str(tmp_path), "--method", "gibbs"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "method must be one of" in done.stderr
