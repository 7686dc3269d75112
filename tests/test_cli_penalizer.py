"""``--penalizer`` of ``clvmodels fit``, ``predict`` and ``run``: the models' ``penalizer=``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import clvmodels
from clvmodels.cli import app
from clvmodels.exceptions import ClvModelsWarning

PENALTY = 0.001


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def summary():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        return clvmodels.rfm_summary(clvmodels.datasets.load_cdnow("sample"), "customer_id",
                                     "date", "amount", time_unit="W")


def _api_pair(summary, penalizer):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        return (clvmodels.BetaGeoModel(penalizer=penalizer).fit(summary),
                clvmodels.GammaGammaModel(nonpositive_spend="exclude",
                                          penalizer=penalizer).fit(summary))


def test_fit_penalizer_gives_the_apis_penalised_estimates(tmp_path, summary):
    done = invoke("fit", "cdnow:sample", "--penalizer", str(PENALTY), "-o", str(tmp_path))
    assert done.exit_code == 0, done.stderr
    purchases = clvmodels.load(tmp_path / "purchases.json")
    spend = clvmodels.load(tmp_path / "spend.json")
    assert purchases.penalizer == PENALTY and spend.penalizer == PENALTY
    bg, gg = _api_pair(summary, PENALTY)
    plain_bg, plain_gg = _api_pair(summary, 0.0)
    for fitted, api, plain in ((purchases, bg, plain_bg), (spend, gg, plain_gg)):
        np.testing.assert_allclose(fitted.params_.to_numpy(), api.params_.to_numpy(), rtol=1e-6)
        # The penalty moved the estimates: an ignored option would fail here.
        assert np.max(np.abs(api.params_ / plain.params_ - 1)) > 0.01


def test_predict_fits_with_the_penalizer(tmp_path, summary):
    out = tmp_path / "clv.csv"
    done = invoke("predict", "cdnow:sample", "--penalizer", str(PENALTY), "--interval", "0",
                  "-o", str(out))
    assert done.exit_code == 0, done.stderr
    exported = pd.read_csv(out).set_index("customer_id")
    bg, gg = _api_pair(summary, PENALTY)
    np.testing.assert_allclose(exported["expected_spend"].to_numpy(),
                               gg.expected_spend(summary).reindex(exported.index).to_numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(exported["probability_alive"].to_numpy(),
                               bg.probability_alive(summary).reindex(exported.index).to_numpy(),
                               rtol=1e-6)


def test_run_passes_the_penalizer_to_both_fits(tmp_path, summary):
    log = tmp_path / "log.parquet"
    clvmodels.datasets.load_cdnow("sample").to_parquet(log, index=False)
    out = tmp_path / "clv.parquet"
    done = invoke("run", str(log), "--penalizer", str(PENALTY), "--interval", "0",
                  "-o", str(out))
    assert done.exit_code == 0, done.stderr
    exported = pd.read_parquet(out).set_index("customer_id")
    _, gg = _api_pair(summary, PENALTY)
    np.testing.assert_allclose(exported["expected_spend"].to_numpy(),
                               gg.expected_spend(summary).reindex(exported.index).to_numpy(),
                               rtol=1e-6)


@pytest.mark.parametrize("value", ["-0.1", "nan", "inf"])
@pytest.mark.parametrize("command", ["fit", "predict", "run"])
def test_penalizer_out_of_range_is_refused(tmp_path, command, value):
    done = invoke(command, "cdnow:sample", "--penalizer", value, "-o",
                  str(tmp_path / ("out" if command == "fit" else "out.csv")))
    assert done.exit_code == 2
    assert "--penalizer must be >= 0 and finite" in done.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.csv").exists()


def test_penalizer_with_a_bayesian_method_or_saved_models_is_refused(tmp_path):
    done = invoke("fit", "cdnow:sample", "--method", "map", "--penalizer", "0.1", "-o",
                  str(tmp_path))
    assert done.exit_code == 2 and "--penalizer applies to --method mle only" in done.stderr
    done = invoke("predict", "cdnow:sample", "--models", str(tmp_path), "--penalizer", "0.1",
                  "-o", str(tmp_path / "clv.csv"))
    assert done.exit_code == 2 and "pass --penalizer to 'clvmodels fit'" in done.stderr
