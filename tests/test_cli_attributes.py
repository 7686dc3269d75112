"""Covariate models from the command line: ``--attributes`` and the covariate options.

A log of two kinds of customers is simulated (BG/NBD; web buyers purchase four
times as often as shop buyers: alpha 2 against 8, so ``purchase_coef[channel_web]``
is log 4) and written to CSV (zero-padded text ids) and Parquet (integer ids),
with its customer attributes (a text ``channel``, web or shop, and a numeric
``age`` that has no effect). The commands run in-process through typer's runner;
their results are compared with the simulated coefficients and with the same
models fitted by the Python API on the summary joined with ``one_hot`` and
``join_attributes``.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import clvmodels
from clvmodels import (BetaGeoModel, GammaGammaModel, ModifiedBetaGeoModel, ParetoNBDModel,
                       join_attributes, one_hot, rfm_summary)
from clvmodels.backtest import ModelPair
from clvmodels.cli import app
from clvmodels.export import predict_clv

from channel_logs import two_channel_log

N = 600  # customers of each kind
CUTOFF = "2024-10-01"
WEB_EFFECT = np.log(4.0)  # alpha 2 against 8: purchase_coef[channel_web]


def run(*args, code: int = 0):
    done = CliRunner().invoke(app, [str(a) for a in args])
    assert done.exit_code == code, (done.stdout, done.stderr, done.exception)
    return done


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attributes")
    log = two_channel_log(N, 78)
    log.attrs = {}
    padded = log.assign(customer_id=log["customer_id"].map("{:05d}".format))
    padded.to_csv(folder / "log.csv", index=False)
    log.to_parquet(folder / "log.parquet", index=False)
    small = log[log["customer_id"] % 4 == 0]  # 300 customers: for the backtest
    small.to_parquet(folder / "small.parquet", index=False)

    ids = np.arange(2 * N)
    attributes = pd.DataFrame({
        "customer_id": ids, "channel": np.where(ids < N, "web", "shop"),
        "age": np.round(np.random.default_rng(3).normal(size=2 * N), 3)})
    # A customer the log does not have: ignored.
    attributes = pd.concat([attributes, pd.DataFrame(
        {"customer_id": [99999], "channel": ["web"], "age": [0.5]})], ignore_index=True)
    attributes.to_parquet(folder / "attributes.parquet", index=False)
    attributes.to_csv(folder / "attributes_plain.csv", index=False)  # 7, not 00007
    attributes.assign(customer_id=attributes["customer_id"].map("{:05d}".format)).to_csv(
        folder / "attributes.csv", index=False)
    return SimpleNamespace(folder=folder, log=log, small=small, attributes=attributes)


def summary_of(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rfm_summary(path, "customer_id", "date", "amount", time_unit="W")


def joined(summary, attributes, ids=None):
    """The Python API's way: one_hot the attributes, join them by customer id."""
    frame = attributes.set_index("customer_id")
    if ids is not None:
        frame.index = ids
    return join_attributes(summary, one_hot(frame, ["channel"]))


@pytest.fixture(scope="module")
def parquet_models(data, tmp_path_factory):
    """``clvmodels fit`` with every attribute as a purchase covariate (the default)."""
    out = tmp_path_factory.mktemp("models")
    done = run("fit", data.folder / "log.parquet", "-o", out, "--attributes",
               data.folder / "attributes.parquet")
    return out, done


# --------------------------------------------------------------------------- fit


def test_fit_recovers_the_simulated_effect_and_saves_the_covariate_models(data,
                                                                          parquet_models):
    out, done = parquet_models
    purchases = clvmodels.load(out / "purchases.json")
    spend = clvmodels.load(out / "spend.json")
    # Every attribute is a purchase covariate; text ones through their 0/1 columns.
    assert list(purchases.params_.index) == ["r", "alpha", "a", "b",
                                             "purchase_coef[channel_web]",
                                             "purchase_coef[age]"]
    assert list(spend.params_.index) == ["p", "q", "v"]
    web = purchases.params_["purchase_coef[channel_web]"]
    assert web == pytest.approx(WEB_EFFECT, abs=0.3)
    age, age_se = (purchases.params_["purchase_coef[age]"],
                   purchases.standard_errors_["purchase_coef[age]"])
    assert abs(age) < 3 * age_se  # simulated without effect
    # The saved models are those the Python API fits on the joined summary.
    summary = join_attributes(summary_of(data.folder / "log.parquet"),
                              one_hot(data.attributes.set_index("customer_id"), ["channel"]))
    direct = BetaGeoModel(purchase_covariates=["channel_web", "age"]).fit(summary)
    pd.testing.assert_series_equal(purchases.params_, direct.params_, rtol=1e-6)
    assert purchases.purchase_covariates == ["channel_web", "age"]
    # The estimates table names every coefficient.
    assert "purchase_coef[age]" in done.stdout
    assert json.loads((out / "attributes.json").read_text()) == {
        "levels": {"channel": ["shop", "web"]}}


def test_covariate_options_take_attributes_or_their_levels(data, tmp_path):
    # Integer ids in the log; the attributes CSV writes them as text, under another name.
    attributes = data.attributes.rename(columns={"customer_id": "cust"})
    attributes.to_csv(tmp_path / "a.csv", index=False)
    run("fit", data.folder / "log.parquet", "-o", tmp_path / "m", "--attributes",
        tmp_path / "a.csv", "--attributes-id", "cust", "--purchase-covariates", "channel_shop",
        "--dropout-covariates", "age", "--spend-covariates", "channel")
    purchases = clvmodels.load(tmp_path / "m" / "purchases.json")
    spend = clvmodels.load(tmp_path / "m" / "spend.json")
    assert list(purchases.params_.index)[4:] == ["purchase_coef[channel_shop]",
                                                 "dropout_coef_a[age]", "dropout_coef_b[age]"]
    # The shop level against the rest: the web effect with its sign turned.
    assert purchases.params_["purchase_coef[channel_shop]"] == pytest.approx(-WEB_EFFECT,
                                                                             abs=0.3)
    # Both kinds spend alike: no effect on v.
    assert list(spend.params_.index) == ["p", "q", "v", "spend_coef[channel_web]"]
    assert abs(spend.params_["spend_coef[channel_web]"]) < (
        3 * spend.standard_errors_["spend_coef[channel_web]"])
    summary = joined(summary_of(data.folder / "log.parquet"), data.attributes)
    summary["channel_shop"] = 1.0 - summary["channel_web"]
    direct = GammaGammaModel(nonpositive_spend="exclude",
                             spend_covariates=["channel_web"]).fit(summary)
    pd.testing.assert_series_equal(spend.params_, direct.params_, rtol=1e-6)


# --------------------------------------------------------------------------- predict


def test_predict_with_covariate_models_equals_the_python_api(data, parquet_models, tmp_path):
    out, _ = parquet_models
    run("predict", data.folder / "log.parquet", "--models", out, "--attributes",
        data.folder / "attributes.parquet", "-o", tmp_path / "saved.csv", "--interval", "0")
    saved = pd.read_csv(tmp_path / "saved.csv").set_index("customer_id")
    # Every customer of the log keeps a row, and only they.
    assert sorted(saved.index) == sorted(data.log["customer_id"].unique())
    summary = joined(summary_of(data.folder / "log.parquet"), data.attributes)
    bg = BetaGeoModel(purchase_covariates=["channel_web", "age"]).fit(summary)
    gg = GammaGammaModel(nonpositive_spend="exclude").fit(summary)
    expected = predict_clv(summary, bg, gg, horizon=52, time_unit="W",
                           interval=None).set_index("customer_id")
    columns = ["probability_alive", "expected_purchases", "expected_spend", "clv"]
    pd.testing.assert_frame_equal(saved.loc[expected.index, columns], expected[columns],
                                  rtol=1e-6)
    # Each customer with their own covariates: web buyers are expected to buy more.
    np.testing.assert_allclose(saved.loc[summary.index, "expected_purchases"],
                               bg.expected_purchases(summary, 52), rtol=1e-6)
    # Fitting now with the same options gives the same export.
    run("predict", data.folder / "log.parquet", "--attributes",
        data.folder / "attributes.parquet", "-o", tmp_path / "now.parquet", "--interval", "0")
    now = pd.read_parquet(tmp_path / "now.parquet").set_index("customer_id")
    pd.testing.assert_frame_equal(now.loc[saved.index, columns], saved[columns], rtol=1e-6)


def test_zero_padded_ids_stay_text(data, tmp_path):
    out = tmp_path / "clv.csv"
    run("predict", data.folder / "log.csv", "--attributes", data.folder / "attributes.csv",
        "--purchase-covariates", "channel", "-o", out, "--interval", "0")
    clv = pd.read_csv(out, dtype={"customer_id": str}).set_index("customer_id")
    padded = sorted(f"{i:05d}" for i in data.log["customer_id"].unique())
    assert sorted(clv.index) == padded
    summary = summary_of(data.folder / "log.csv")
    ids = pd.Index(data.attributes["customer_id"].map("{:05d}".format), name="customer_id")
    summary = joined(summary, data.attributes, ids=ids)
    bg = BetaGeoModel(purchase_covariates=["channel_web"]).fit(summary)
    np.testing.assert_allclose(clv.loc[summary.index, "expected_purchases"],
                               bg.expected_purchases(summary, 52), rtol=1e-6)
    # backtest and report match the attributes to the log's ids read the same way.
    from clvmodels import cli

    assert sorted(cli._log_ids(data.folder / "log.csv", "customer_id")) == padded
    assert sorted(cli._log_ids(data.folder / "log.parquet", "customer_id")) == sorted(
        data.log["customer_id"].unique())
    # Unpadded ids (7) are other customers than the log's (00007): none matches.
    done = run("predict", data.folder / "log.csv", "--attributes",
               data.folder / "attributes_plain.csv", "-o", out, code=2)
    assert f"--attributes {data.folder / 'attributes_plain.csv'} (customer id column " \
           f"'customer_id'): {2 * N} of {2 * N} customers of the summary have no row" \
           in done.stderr
    # Integer ids of a Parquet file are read as the log's text, and the message says so.
    done = run("fit", data.folder / "log.csv", "--attributes",
               data.folder / "attributes.parquet", "-o", tmp_path / "m", code=2)
    assert "The file's ids were read as text, as the log's are" in done.stderr


# --------------------------------------------------------------------------- errors


def _write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("change, message", [
    (lambda a: a.iloc[3:], r"(customer id column 'customer_id'): 3 of 1200 customers of the "
                           r"summary have no row of attributes"),
    (lambda a: pd.concat([a, a.iloc[[5]]]), "2 rows share 1 customer id(s)"),
    (lambda a: a.rename(columns={"age": "frequency"}),
     "column(s) ['frequency'] are columns of the summary already"),
    (lambda a: a.drop(columns=["channel", "age"]), "has only the customer id column"),
    (lambda a: a.assign(channel=a["channel"].where(a["customer_id"] % 100 > 0)),
     ": 12 row(s) of column 'channel' have no value"),
    (lambda a: a.rename(columns={"customer_id": "id"}), "has no customer id column "
                                                        "'customer_id'"),
])
def test_attribute_files_that_would_lose_covariates_are_refused(data, tmp_path, change,
                                                                message):
    path = _write(change(data.attributes), tmp_path / "bad.csv")
    done = run("fit", data.folder / "log.parquet", "--attributes", path, "-o",
               tmp_path / "m", code=2)
    [line] = [t for t in done.stderr.splitlines() if t.startswith("error:")]
    assert line.startswith(f"error: --attributes {path}")
    assert message in line
    assert not (tmp_path / "m").exists()


def test_covariate_models_need_their_attributes(data, parquet_models, tmp_path):
    out, _ = parquet_models
    log = data.folder / "log.parquet"
    done = run("predict", log, "--models", out, "-o", tmp_path / "c.csv", code=2)
    assert f"The models in {out} have covariates (channel_web, age): pass --attributes FILE" \
           in " ".join(done.stderr.split())
    done = run("fit", log, "-o", tmp_path / "m", "--dropout-covariates", "age", code=2)
    assert "--dropout-covariates need(s) --attributes FILE" in done.stderr
    done = run("predict", log, "--models", out, "--attributes",
               data.folder / "attributes.parquet", "--purchase-covariates", "age",
               "-o", tmp_path / "c.csv", code=2)
    assert "those of the models in --models were chosen by 'clvmodels fit'" in done.stderr
    done = run("fit", log, "-o", tmp_path / "m", "--attributes",
               data.folder / "attributes.parquet", "--purchase-covariates", "chanel", code=2)
    assert "Unknown covariate 'chanel'" in done.stderr
    # A level the saved models never saw would count as the reference level: refused.
    path = _write(data.attributes.assign(channel=lambda a: a["channel"].where(
        a["customer_id"] != 7, "app")), tmp_path / "new.csv")
    done = run("predict", log, "--models", out, "--attributes", path, "-o",
               tmp_path / "c.csv", code=2)
    assert "has level(s) ['app'] that the models" in " ".join(done.stderr.split())
    assert not (tmp_path / "c.csv").exists()
    # A broken record of the levels is named, not a traceback.
    import shutil

    broken = shutil.copytree(out, tmp_path / "broken")
    (broken / "attributes.json").write_text("{", encoding="utf-8")
    done = run("predict", log, "--models", broken, "--attributes",
               data.folder / "attributes.parquet", "-o", tmp_path / "c.csv", code=2)
    assert f"{broken / 'attributes.json'} is not the record of levels" in done.stderr


# --------------------------------------------------------------------------- backtest


def test_backtest_compares_the_covariate_models(data, tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("clvmodels.backtest")

    def fast_defaults(penalizer=0.0):  # the NUTS and GBM candidates are slow
        return {"bgnbd": ModelPair(BetaGeoModel(penalizer=penalizer),
                                   GammaGammaModel(nonpositive_spend="exclude",
                                                   penalizer=penalizer))}

    monkeypatch.setattr(module, "default_models", fast_defaults)
    out = tmp_path / "bt"
    done = run("backtest", data.folder / "small.parquet", "--attributes",
               data.folder / "attributes.parquet", "--purchase-covariates", "channel",
               "--calibration-end", CUTOFF, "-o", out, "--no-report")
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["model"]) == {"bgnbd", "bgnbd_covariates", "pareto_nbd_covariates",
                                     "mbgnbd_covariates"}
    assert "pareto_nbd_covariates" in done.stdout  # the leaderboard

    def pair(model):
        return ModelPair(model, GammaGammaModel(nonpositive_spend="exclude"))

    models = {"bgnbd": pair(BetaGeoModel()),
              "bgnbd_covariates": pair(BetaGeoModel(purchase_covariates=["channel_web"])),
              "pareto_nbd_covariates": pair(ParetoNBDModel(purchase_covariates=["channel_web"])),
              "mbgnbd_covariates": pair(
                  ModifiedBetaGeoModel(purchase_covariates=["channel_web"]))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = clvmodels.backtest(
            data.small, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
            models=models, customer_attributes=one_hot(
                data.attributes.set_index("customer_id"), ["channel"])[["channel_web"]])
    key = ["model", "target", "metric"] if "target" in metrics else ["model"]
    mine = metrics.sort_values(key).reset_index(drop=True)
    theirs = expected.metrics.sort_values(key).reset_index(drop=True)
    assert list(mine.columns) == list(theirs.columns)
    numeric = [c for c in mine.columns if pd.api.types.is_numeric_dtype(theirs[c])]
    pd.testing.assert_frame_equal(mine[numeric], theirs[numeric], rtol=1e-6,
                                  check_dtype=False)
    # The fitted covariate models are those of the Python backtest.
    fitted = expected.fitted[("pareto_nbd_covariates", pd.Timestamp(CUTOFF))]
    assert fitted.transaction_model_.params_["purchase_coef[channel_web]"] > 0.5
