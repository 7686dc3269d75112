"""The CLI reads a raw shop export with rfm_summary's cleaning options."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd

RAW = """customer_id,invoice,date,amount
a,1,2024-01-05,30.0
a,1,2024-01-05,30.0
a,2,2024-02-01,50.0
a,2,2024-02-20,-50.0
,3,2024-02-02,12.0
b,4,2024-01-10,20.0
b,5,2024-03-01,0.0
b,6,2024-03-15,25.0
"""


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "clvmodels.cli", *args],
                          capture_output=True, text=True, timeout=300)


def test_missing_ids_need_the_option_and_the_error_names_it(tmp_path):
    log = tmp_path / "raw.csv"
    log.write_text(RAW)
    done = _cli("summary", str(log), "-o", str(tmp_path / "s.csv"), "--returns", "net")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "missing_ids='drop'" in errors[0]
    assert not (tmp_path / "s.csv").exists()


def test_cleaning_options_reach_the_summary(tmp_path):
    log = tmp_path / "raw.csv"
    log.write_text(RAW)
    out = tmp_path / "s.csv"
    done = _cli("summary", str(log), "-o", str(out), "--returns", "net", "--order-id",
                "invoice", "--missing-ids", "drop", "--duplicates", "drop",
                "--zero-amounts", "drop")
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    # a: the duplicate line dropped, invoice 2 cancelled by its return: one purchase day.
    assert summary.loc["a", "frequency"] == 0
    # b: the zero-amount day dropped: purchases on 01-10 and 03-15.
    assert summary.loc["b", "frequency"] == 1 and summary.loc["b", "monetary_value"] == 25.0
    kept = _cli("summary", str(log), "-o", str(out), "--returns", "net", "--missing-ids",
                "drop")
    assert kept.returncode == 0, kept.stderr
    summary = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    assert summary.loc["b", "frequency"] == 2  # the zero-amount day is kept, and counted
    assert "zero" in kept.stderr and "duplicate" in kept.stderr


def test_predict_model_auto_uses_the_backtest_recommendation(tmp_path):
    import warnings

    import clvmodels
    from clvmodels.models.gamma_gamma import GammaGammaModel
    from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
    from clvmodels.models.pareto_nbd import ParetoNBDModel

    out = tmp_path / "clv.csv"
    done = _cli("predict", "cdnow:sample", "--model", "auto", "--interval", "0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    # The log spans 78 weeks: the holdout is its second half, after 1997-09-30.
    log = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clvmodels.backtest(
            log, "customer_id", "date", "amount", calibration_period_end="1997-09-30",
            time_unit="W", models={
                "bgnbd": (clvmodels.BetaGeoModel(), GammaGammaModel(nonpositive_spend="exclude")),
                "mbgnbd": (ModifiedBetaGeoModel(), GammaGammaModel(nonpositive_spend="exclude")),
                "pareto_nbd": (ParetoNBDModel(), GammaGammaModel(nonpositive_spend="exclude"))})
    table = result.recommendation()
    chosen = table.index[table["recommended"]][0]
    assert f"model chosen by the backtest: {chosen}" in done.stderr
    assert "holdout after 1997-09-30" in done.stderr
    classes = {"bgnbd": "BetaGeoModel", "mbgnbd": "ModifiedBetaGeoModel",
               "pareto_nbd": "ParetoNBDModel"}
    written = pd.read_csv(out)
    assert set(written["model"]) == {f"{classes[chosen]} + GammaGammaModel"}
    assert len(written) == 2357


def test_predict_interval_kind_names_and_fills_the_bounds(tmp_path):
    out = tmp_path / "clv.csv"
    done = _cli("predict", "cdnow:sample", "--interval-kind", "predictive", "--horizon", "26",
                "-o", str(out))
    assert done.returncode == 0, done.stderr
    written = pd.read_csv(out)
    assert "clv_lower" not in written.columns
    low, high = written["clv_predictive_lower"], written["clv_predictive_upper"]
    assert (low <= written["clv"] + 1e-9).mean() > 0.99 and (high >= low).all()
    assert (high > 0).any() and (low == 0).mean() > 0.5  # most buy nothing in 26 weeks
