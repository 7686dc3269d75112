"""Every option of every command reaches the library function that implements it.

Each test runs one command in-process with every option set to a value other than
its default, while the library functions the command hands its options to
(``rfm_summary``, ``formula_clv``, ``backtest``, ``run_pipeline``, ``predict_clv``
and the fitting helpers) are replaced by recorders. The test then compares what
each function received with the values given on the command line, so an option
the command ignores, or hands to the wrong parameter, fails it. A second run with
no options checks the defaults the same way. Fast: nothing is fitted or read.

The effect of the options on the numbers (a discounted CLV, a baseline's figures)
is checked end to end in tests/test_cli_options.py.
"""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from clvmodels import cli
from clvmodels.cli import app

# The modules (``clvmodels.backtest`` and ``clvmodels.export`` are also functions'
# names in the package namespace).
BACKTEST_MODULE = importlib.import_module("clvmodels.backtest")
BASELINE_MODULE = importlib.import_module("clvmodels.models.baseline")
DATASETS_MODULE = importlib.import_module("clvmodels.datasets")
EXPORT_MODULE = importlib.import_module("clvmodels.export")
PIPELINE_MODULE = importlib.import_module("clvmodels.pipeline")

#: What the recorded summary holds (two customers, text ids).
FRAME = pd.DataFrame({"frequency": [1.0, 0.0], "recency": [3.0, 0.0], "T": [5.0, 4.0],
                      "monetary_value": [10.0, 0.0]},
                     index=pd.Index(["a", "b"], name="customer_id"))

#: Cleaning options given on the command line, and what rfm_summary must receive.
CLEANING_ARGS = ["--order-id", "invoice", "--missing-ids", "drop", "--duplicates", "drop",
                 "--zero-amounts", "drop", "--memory-limit", "2GB"]
CLEANING = dict(order_id_col="invoice", missing_ids="drop", duplicates="drop",
                zero_amounts="drop", memory_limit="2GB")
CLEANING_DEFAULTS = dict(order_id_col=None, missing_ids="error", duplicates="keep",
                         zero_amounts="keep", memory_limit=None)

#: Column, format, end-of-log and returns options shared by the commands.
COLUMN_ARGS = ["--customer-id", "cid", "--datetime", "when", "--amount", "spend",
               "--observation-end", "1998-01-31", "--datetime-format", "%Y%m%d",
               "--returns", "drop"]


class _Stop(Exception):
    """Raised by a recorder that ends the command."""


def _recorder(monkeypatch, owner, name, result=None, stop=False):
    """Replace ``owner.name`` with a function that records its arguments by parameter
    name (as the real function would bind them) and returns ``result`` (called
    if callable) or raises :class:`_Stop`."""
    signature = inspect.signature(getattr(owner, name))
    calls: list[dict] = []

    def record(*args, **kwargs):
        bound = signature.bind(*args, **kwargs).arguments
        extra = next((p for p in signature.parameters.values()
                      if p.kind is inspect.Parameter.VAR_KEYWORD), None)
        if extra is not None:
            bound = {**{k: v for k, v in bound.items() if k != extra.name},
                     **bound.get(extra.name, {})}
        calls.append(dict(bound))
        if stop:
            raise _Stop(name)
        return result() if callable(result) else result

    monkeypatch.setattr(owner, name, record)
    return calls


def _invoke(*args: str, code: int = 0):
    done = CliRunner().invoke(app, list(args))
    assert done.exit_code == code, (done.stdout, done.stderr, done.exception)
    return done


def _subset(call: dict, expected: dict) -> dict:
    return {k: call.get(k, "<not passed>") for k in expected}


class _Model:
    """Stands for a fitted model: saves its name, shows a one-row summary."""

    log_likelihood_ = -12.5

    def __init__(self, name: str):
        self.name = name

    def save(self, path):
        Path(path).write_text(self.name, encoding="utf-8")

    def summary(self):
        return pd.DataFrame({"estimate": [1.0]}, index=pd.Index(["r"], name="parameter"))


PAIR = (_Model("purchases"), _Model("spend"))
LOADED = (_Model("loaded purchases"), _Model("loaded spend"))


@pytest.fixture
def spies(monkeypatch):
    """Recorders of every library entry point the commands use."""
    return {
        "rfm_summary": _recorder(monkeypatch, cli, "rfm_summary", lambda: FRAME.copy()),
        "fit_pair": _recorder(monkeypatch, cli, "_fit_pair", PAIR),
        "load_models": _recorder(monkeypatch, cli, "_load_models", LOADED),
        "recommended": _recorder(monkeypatch, cli, "_recommended_model", "pareto_nbd"),
        "predict_clv": _recorder(monkeypatch, EXPORT_MODULE, "predict_clv"),
    }


# --------------------------------------------------------------------------- summary


def test_summary_hands_every_option_to_rfm_summary(spies, tmp_path):
    out = tmp_path / "s.parquet"
    _invoke("summary", "log.csv", "-o", str(out), *COLUMN_ARGS, "--calibration-end",
            "1997-09-30", "--time-unit", "D", "--include-first-transaction", *CLEANING_ARGS)
    expected = dict(transactions="log.csv", customer_id_col="cid", datetime_col="when",
                    monetary_value_col="spend", observation_period_end="1998-01-31",
                    calibration_period_end="1997-09-30", time_unit="D",
                    datetime_format="%Y%m%d", returns="drop", include_first_transaction=True,
                    **CLEANING)
    [call] = spies["rfm_summary"]
    assert _subset(call, expected) == expected
    pd.testing.assert_frame_equal(pd.read_parquet(out), FRAME)


def test_summary_defaults(spies, tmp_path):
    out = tmp_path / "s.csv"
    _invoke("summary", "log.csv", "-o", str(out))
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", observation_period_end=None,
                    calibration_period_end=None, time_unit="W", datetime_format=None,
                    returns="error", include_first_transaction=False, **CLEANING_DEFAULTS)
    [call] = spies["rfm_summary"]
    assert _subset(call, expected) == expected
    assert pd.read_csv(out)["customer_id"].tolist() == ["a", "b"]


def test_summary_without_an_amount_column(spies, tmp_path):
    _invoke("summary", "log.csv", "-o", str(tmp_path / "s.csv"), "--amount", "")
    assert spies["rfm_summary"][0]["monetary_value_col"] is None


def test_a_bundled_log_is_read_by_name(spies, tmp_path):
    _invoke("summary", "cdnow:sample", "-o", str(tmp_path / "s.csv"))
    source = spies["rfm_summary"][0]["transactions"]
    pd.testing.assert_frame_equal(source, DATASETS_MODULE.load_cdnow("sample"))


# --------------------------------------------------------------------------- fit


def test_fit_hands_every_option_on(spies, tmp_path):
    out = tmp_path / "models"
    _invoke("fit", "log.csv", "-o", str(out), "--model", "mbgnbd", *COLUMN_ARGS,
            "--time-unit", "M", "--method", "map", "--draws", "40", "--seed", "9",
            *CLEANING_ARGS)
    expected = dict(transactions="log.csv", customer_id_col="cid", datetime_col="when",
                    monetary_value_col="spend", observation_period_end="1998-01-31",
                    time_unit="M", datetime_format="%Y%m%d", returns="drop", **CLEANING)
    [summarised] = spies["rfm_summary"]
    assert _subset(summarised, expected) == expected
    [fitted] = spies["fit_pair"]
    assert _subset(fitted, dict(model=1, method=1, draws=1, seed=1)) == dict(
        model="mbgnbd", method="map", draws=40, seed=9)
    pd.testing.assert_frame_equal(fitted["rfm"], FRAME)
    assert (out / "purchases.json").read_text() == "purchases"
    assert (out / "spend.json").read_text() == "spend"


def test_fit_defaults(spies, tmp_path):
    _invoke("fit", "log.csv", "-o", str(tmp_path))
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", observation_period_end=None, time_unit="W",
                    datetime_format=None, returns="error", **CLEANING_DEFAULTS)
    assert _subset(spies["rfm_summary"][0], expected) == expected
    assert _subset(spies["fit_pair"][0], dict(model=1, method=1, draws=1, seed=1)) == dict(
        model="bgnbd", method="mle", draws=1000, seed=0)


# --------------------------------------------------------------------------- predict

CLV_ARGS = ["--horizon", "8", "--time-unit", "M", "--discount-rate", "0.1",
            "--discount-period", "M", "--margin", "0.4", "--interval", "0.8"]
CLV = dict(horizon=8, time_unit="M", discount_rate=0.1, discount_period="M", margin=0.4,
           interval=0.8)


def test_predict_hands_every_option_on(spies, tmp_path):
    out = tmp_path / "clv.parquet"
    _invoke("predict", "log.csv", "-o", str(out), "--model", "pareto_nbd", *CLV_ARGS,
            "--interval-kind", "predictive", *COLUMN_ARGS, "--method", "advi", "--draws", "30",
            "--seed", "4", *CLEANING_ARGS)
    expected = dict(transactions="log.csv", customer_id_col="cid", datetime_col="when",
                    monetary_value_col="spend", observation_period_end="1998-01-31",
                    time_unit="M", datetime_format="%Y%m%d", returns="drop", **CLEANING)
    assert _subset(spies["rfm_summary"][0], expected) == expected
    [fitted] = spies["fit_pair"]
    assert _subset(fitted, dict(model=1, method=1, draws=1, seed=1)) == dict(
        model="pareto_nbd", method="advi", draws=30, seed=4)
    assert spies["load_models"] == [] and spies["recommended"] == []
    [scored] = spies["predict_clv"]
    settings = dict(CLV, path=out, random_state=4, interval_kind="predictive")
    assert _subset(scored, settings) == settings
    assert scored["transaction_model"] is PAIR[0] and scored["spend_model"] is PAIR[1]
    pd.testing.assert_frame_equal(scored["summary"], FRAME)


def test_predict_defaults(spies, tmp_path):
    _invoke("predict", "log.csv", "-o", str(tmp_path / "clv.csv"))
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", observation_period_end=None, time_unit="W",
                    datetime_format=None, returns="error", **CLEANING_DEFAULTS)
    assert _subset(spies["rfm_summary"][0], expected) == expected
    assert _subset(spies["fit_pair"][0], dict(model=1, method=1, draws=1, seed=1)) == dict(
        model="bgnbd", method="mle", draws=1000, seed=0)
    settings = dict(horizon=52, time_unit="W", discount_rate=0.0, discount_period="Y",
                    margin=1.0, interval=0.9, random_state=0, interval_kind="expected")
    assert _subset(spies["predict_clv"][0], settings) == settings


def test_predict_horizon_and_interval_zero_mean_lifetime_and_no_interval(spies, tmp_path):
    _invoke("predict", "log.csv", "-o", str(tmp_path / "clv.csv"), "--horizon", "0",
            "--discount-rate", "0.1", "--interval", "0")
    [scored] = spies["predict_clv"]
    assert scored["horizon"] is None and scored["interval"] is None
    assert scored["discount_rate"] == 0.1


def test_predict_models_folder_is_loaded_instead_of_fitting(spies, tmp_path):
    _invoke("predict", "log.csv", "-o", str(tmp_path / "clv.csv"), "--models",
            str(tmp_path / "saved"), "--model", "auto")
    assert spies["load_models"] == [dict(folder=tmp_path / "saved")]
    assert spies["fit_pair"] == [] and spies["recommended"] == []
    [scored] = spies["predict_clv"]
    assert scored["transaction_model"] is LOADED[0] and scored["spend_model"] is LOADED[1]


def test_predict_model_auto_fits_the_recommended_model(spies, tmp_path):
    _invoke("predict", "log.csv", "-o", str(tmp_path / "clv.csv"), "--model", "auto",
            "--horizon", "13", "--time-unit", "D", *COLUMN_ARGS)
    [chosen] = spies["recommended"]
    expected = dict(log="log.csv", customer_id="cid", datetime="when", amount="spend",
                    horizon=13, time_unit="D", datetime_format="%Y%m%d", returns="drop")
    assert _subset(chosen, expected) == expected
    pd.testing.assert_frame_equal(chosen["rfm"], FRAME)
    assert spies["fit_pair"][0]["model"] == "pareto_nbd"


def test_predict_checks_its_clv_options_before_reading(spies, tmp_path):
    done = _invoke("predict", "log.csv", "-o", str(tmp_path / "clv.csv"), "--margin", "2",
                   code=2)
    assert "--margin must be in [0, 1]" in done.stderr
    assert spies["rfm_summary"] == []


# --------------------------------------------------------------------------- run


class _PipelineResult:
    n_customers = 2


@pytest.fixture
def pipeline(monkeypatch):
    return _recorder(monkeypatch, PIPELINE_MODULE, "run_pipeline", _PipelineResult())


def test_run_hands_every_option_to_run_pipeline(pipeline, tmp_path):
    out = tmp_path / "clv.parquet"
    done = _invoke("run", "logs/*.parquet", "-o", str(out), "--model", "mbgnbd", *CLV_ARGS,
                   *COLUMN_ARGS, "--seed", "6", *CLEANING_ARGS)
    expected = dict(source="logs/*.parquet", customer_id_col="cid", datetime_col="when",
                    monetary_value_col="spend", output=out, model="mbgnbd", random_state=6,
                    observation_period_end="1998-01-31", datetime_format="%Y%m%d",
                    returns="drop", **CLV, **CLEANING)
    [call] = pipeline
    assert _subset(call, expected) == expected
    assert "2 customers written to" in done.stderr


def test_run_defaults_and_zero_horizon_and_interval(pipeline, tmp_path):
    out = tmp_path / "clv.csv"
    _invoke("run", "log.csv", "-o", str(out))
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", model="bgnbd", horizon=52, time_unit="W",
                    discount_rate=0.0, discount_period="Y", margin=1.0, interval=0.9,
                    random_state=0, observation_period_end=None, datetime_format=None,
                    returns="error", **CLEANING_DEFAULTS)
    assert _subset(pipeline[0], expected) == expected
    _invoke("run", "log.csv", "-o", str(out), "--horizon", "0", "--discount-rate", "0.2",
            "--interval", "0")
    assert pipeline[1]["horizon"] is None and pipeline[1]["interval"] is None


def test_run_shows_each_stage_of_the_pipeline(monkeypatch, tmp_path):
    def fake(*args, progress, **kwargs):
        progress("summary", 1.25, "3 customers")
        return _PipelineResult()

    monkeypatch.setattr(PIPELINE_MODULE, "run_pipeline", fake)
    monkeypatch.setattr(cli, "_live_terminal", lambda: False)
    done = _invoke("run", "log.csv", "-o", str(tmp_path / "clv.csv"))
    assert "... summary done in 1.2 s: 3 customers" in done.stderr


# --------------------------------------------------------------------------- baseline


def test_baseline_hands_every_option_to_formula_clv(monkeypatch):
    calls = _recorder(monkeypatch, BASELINE_MODULE, "formula_clv", stop=True)
    _invoke("baseline", "log.csv", "--customer-id", "cid", "--datetime", "when", "--amount",
            "spend", "--period", "M", "--margin", "0.3", "--acquisition-cost", "12.5",
            "--lifespan", "3", "--churn-rate", "0.2", "--conversion-rate", "0.05",
            "--setting", "contractual", "--window", "90", "--billing-period", "W",
            "--observation-end", "1998-01-31", "--datetime-format", "%Y%m%d", "--returns",
            "drop", *CLEANING_ARGS, code=1)
    expected = dict(transactions="log.csv", customer_id_col="cid", datetime_col="when",
                    monetary_value_col="spend", period="M", margin=0.3, acquisition_cost=12.5,
                    lifespan=3.0, churn_rate=0.2, conversion_rate=0.05, setting="contractual",
                    window=90.0, billing_period="W", observation_period_end="1998-01-31",
                    datetime_format="%Y%m%d", returns="drop", **CLEANING)
    [call] = calls
    assert _subset(call, expected) == expected


def test_baseline_defaults(monkeypatch):
    calls = _recorder(monkeypatch, BASELINE_MODULE, "formula_clv", stop=True)
    _invoke("baseline", "log.csv", code=1)
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", period="Y", margin=1.0, acquisition_cost=0.0,
                    lifespan=None, churn_rate=None, conversion_rate=None,
                    setting="noncontractual", window="Y", billing_period="M",
                    observation_period_end=None, datetime_format=None, returns="error",
                    **CLEANING_DEFAULTS)
    assert _subset(calls[0], expected) == expected


def test_baseline_window_and_billing_period_in_days(monkeypatch):
    calls = _recorder(monkeypatch, BASELINE_MODULE, "formula_clv", stop=True)
    _invoke("baseline", "log.csv", "--window", "W", "--billing-period", "30.5", code=1)
    assert (calls[0]["window"], calls[0]["billing_period"]) == ("W", 30.5)


# --------------------------------------------------------------------------- backtest, report


class _Result:
    """Stands for a BacktestResult: two tables, a report and an empty leaderboard."""

    def __init__(self):
        self.metrics = pd.DataFrame({"model": ["bgnbd"], "mae": [0.5]})
        self.predictions = pd.DataFrame({"customer_id": ["a"], "model": ["bgnbd"]})
        self.reports: list[tuple] = []

    def report(self, path, tables_dir=None):
        self.reports.append((path, tables_dir))
        Path(path).write_text("<html></html>", encoding="utf-8")

    def leaderboard(self):
        return pd.DataFrame([[0.5]], index=["bgnbd"],
                            columns=pd.MultiIndex.from_tuples([("purchases", "mae")]))

    def recommendation(self):
        return pd.DataFrame()


@pytest.fixture
def backtests(monkeypatch):
    results: list[_Result] = []

    def make():
        results.append(_Result())
        return results[-1]

    calls = _recorder(monkeypatch, BACKTEST_MODULE, "backtest", make)
    return calls, results


BACKTEST = dict(customer_id_col="cid", datetime_col="when", monetary_value_col="spend",
                observation_period_end="1998-01-31", holdout_length=26.0, time_unit="M",
                datetime_format="%Y%m%d", returns="drop", **CLEANING)
BACKTEST_ARGS = [*COLUMN_ARGS, "--holdout-length", "26", "--time-unit", "M", *CLEANING_ARGS]


def test_backtest_hands_every_option_on_and_writes_tables_and_report(backtests, tmp_path):
    calls, results = backtests
    out = tmp_path / "bt"
    _invoke("backtest", "log.csv", "-o", str(out), "--calibration-end", "1997-09-30",
            *BACKTEST_ARGS)
    [call] = calls
    expected = dict(BACKTEST, transactions="log.csv", calibration_period_end="1997-09-30")
    assert _subset(call, expected) == expected
    assert "cutoffs" not in call
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), results[0].metrics)
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), results[0].predictions)
    assert results[0].reports == [(out / "report.html", out)]


def test_backtest_cutoffs_and_no_report(backtests, tmp_path):
    calls, results = backtests
    out = tmp_path / "bt"
    _invoke("backtest", "log.csv", "-o", str(out), "--cutoff", "1997-06-30", "--cutoff",
            "1997-09-30", "--no-report")
    assert calls[0]["cutoffs"] == ["1997-06-30", "1997-09-30"]
    assert "calibration_period_end" not in calls[0]
    assert results[0].reports == [] and not (out / "report.html").exists()
    assert (out / "metrics.csv").exists()


def test_backtest_defaults(backtests, tmp_path, monkeypatch):
    calls, _ = backtests
    monkeypatch.chdir(tmp_path)
    _invoke("backtest", "log.csv", "--calibration-end", "1997-09-30")
    expected = dict(customer_id_col="customer_id", datetime_col="date",
                    monetary_value_col="amount", observation_period_end=None,
                    holdout_length=None, time_unit="W", datetime_format=None, returns="error",
                    **CLEANING_DEFAULTS)
    assert _subset(calls[0], expected) == expected
    assert calls[0]["models"] is None  # the default models, unpenalised
    assert (tmp_path / "backtest" / "metrics.csv").exists()
    assert (tmp_path / "backtest" / "report.html").exists()


def test_backtest_needs_a_cutoff(backtests, tmp_path):
    calls, _ = backtests
    done = _invoke("backtest", "log.csv", "-o", str(tmp_path), code=2)
    assert "pass --calibration-end or --cutoff" in done.stderr
    assert calls == []


def test_report_hands_every_option_on_and_writes_only_the_report(backtests, tmp_path):
    calls, results = backtests
    out = tmp_path / "r.html"
    _invoke("report", "log.csv", "-o", str(out), "--cutoff", "1997-09-30", *BACKTEST_ARGS)
    expected = dict(BACKTEST, transactions="log.csv", cutoffs=["1997-09-30"])
    assert _subset(calls[0], expected) == expected
    assert results[0].reports == [(out, None)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


@pytest.mark.parametrize("command", ["backtest", "report"])
def test_backtest_penalizer_reaches_every_maximum_likelihood_model(backtests, tmp_path,
                                                                    command):
    from clvmodels.backtest import default_models

    calls, _ = backtests
    _invoke(command, "log.csv", "-o", str(tmp_path / "out"), "--calibration-end",
            "1997-09-30", "--penalizer", "0.05")
    models = calls[0]["models"]
    assert list(models) == list(default_models())
    penalties = {name: [getattr(m, "penalizer", None) for m in
                        (pair.transaction_model, pair.spend_model)]
                 for name, pair in models.items() if hasattr(pair, "transaction_model")}
    assert penalties == {"baseline": [None, None], "past_rate": [None, None],
                         "bgnbd": [0.05, 0.05], "pareto_nbd": [0.05, 0.05],
                         "mbgnbd": [0.05, 0.05], "bgnbd_bayes": [0.0, 0.0]}
    done = _invoke(command, "log.csv", "--calibration-end", "1997-09-30", "--penalizer", "-1",
                   code=2)
    assert "--penalizer" in done.stderr and len(calls) == 1


def test_report_defaults(backtests, tmp_path, monkeypatch):
    calls, results = backtests
    monkeypatch.chdir(tmp_path)
    _invoke("report", "log.csv", "--calibration-end", "1997-09-30")
    assert calls[0]["calibration_period_end"] == "1997-09-30"
    assert calls[0]["time_unit"] == "W" and calls[0]["holdout_length"] is None
    assert calls[0]["models"] is None  # the default models, unpenalised
    assert results[0].reports == [(Path("report.html"), None)]


# --------------------------------------------------------------------------- demo


def test_demo_writes_into_its_output_folder(spies, backtests, monkeypatch, tmp_path):
    calls, results = backtests
    log = pd.DataFrame({"customer_id": ["a"], "date": [pd.Timestamp("1997-01-01")],
                        "amount": [1.0]})
    loads = _recorder(monkeypatch, DATASETS_MODULE, "load_cdnow", log)
    out = tmp_path / "demo"
    _invoke("demo", "-o", str(out))
    assert loads == [dict(kind="master")]
    assert calls[0]["calibration_period_end"] == "1997-09-30"
    assert results[0].reports == [(out / "report.html", out)]
    assert (out / "metrics.csv").exists()
    [scored] = spies["predict_clv"]
    expected = dict(horizon=52, time_unit="W", discount_rate=0.1, discount_period="Y",
                    path=out / "clv.csv")
    assert _subset(scored, expected) == expected


# --------------------------------------------------------------------------- customer attributes

#: An attributes file of the recorded summary's customers (a: web, b: shop) and one more.
ATTRIBUTES = pd.DataFrame({"cid": ["b", "a", "z"], "channel": ["shop", "web", "web"],
                           "age": [40.0, 30.0, 20.0]})
#: What the covariates of those options are, per customer of FRAME.
ENCODED = pd.DataFrame({"channel_web": [1.0, 0.0], "age": [30.0, 40.0]},
                       index=pd.Index(["a", "b"], name="customer_id"))
COVARIATE_ARGS = ["--purchase-covariates", "channel", "--dropout-covariates", "age",
                  "--spend-covariates", " channel_web, age"]
COVARIATES = {"purchase": ["channel_web"], "dropout": ["age"], "spend": ["channel_web", "age"]}


@pytest.fixture
def attributes_file(tmp_path):
    path = tmp_path / "attributes.csv"
    ATTRIBUTES.to_csv(path, index=False)
    return path


def test_fit_hands_the_attributes_and_covariates_on(spies, tmp_path, attributes_file):
    out = tmp_path / "models"
    # The id column is --customer-id's (cid) unless --attributes-id names another.
    _invoke("fit", "log.csv", "-o", str(out), "--customer-id", "cid", "--attributes",
            str(attributes_file), *COVARIATE_ARGS)
    [fitted] = spies["fit_pair"]
    assert fitted["covariates"] == COVARIATES
    pd.testing.assert_frame_equal(fitted["rfm"], FRAME.join(ENCODED))
    assert (out / "attributes.json").read_text().count('"web"') == 1
    ATTRIBUTES.rename(columns={"cid": "who"}).to_csv(attributes_file, index=False)
    _invoke("fit", "log.csv", "-o", str(out), "--attributes", str(attributes_file),
            "--attributes-id", "who", *COVARIATE_ARGS)
    assert spies["fit_pair"][1]["covariates"] == COVARIATES


def test_fit_attributes_default_to_purchase_covariates(spies, tmp_path, attributes_file):
    _invoke("fit", "log.csv", "-o", str(tmp_path / "m"), "--attributes",
            str(attributes_file), "--attributes-id", "cid")
    assert spies["fit_pair"][0]["covariates"] == {"purchase": ["channel_web", "age"],
                                                  "dropout": [], "spend": []}
    assert spies["fit_pair"][0]["rfm"]["channel_web"].tolist() == [1.0, 0.0]
    # Without --attributes: no covariates, no record of levels.
    _invoke("fit", "log.csv", "-o", str(tmp_path / "m"))
    assert spies["fit_pair"][1]["covariates"] is None
    assert not (tmp_path / "m" / "attributes.json").exists()


def test_predict_hands_the_attributes_on_when_it_fits(spies, tmp_path, attributes_file):
    _invoke("predict", "log.csv", "-o", str(tmp_path / "c.csv"), "--attributes",
            str(attributes_file), "--attributes-id", "cid", *COVARIATE_ARGS,
            "--penalizer", "0.2")
    [fitted] = spies["fit_pair"]
    assert fitted["covariates"] == COVARIATES and fitted["penalizer"] == 0.2
    pd.testing.assert_frame_equal(spies["predict_clv"][0]["summary"], FRAME.join(ENCODED))
    # --model auto: the backtest compares the covariate versions, penalised alike.
    _invoke("predict", "log.csv", "-o", str(tmp_path / "c.csv"), "--model", "auto",
            "--attributes", str(attributes_file), "--attributes-id", "cid", *COVARIATE_ARGS,
            "--penalizer", "0.2")
    [chosen] = spies["recommended"]
    assert chosen["covariates"] == COVARIATES and chosen["penalizer"] == 0.2
    pd.testing.assert_frame_equal(chosen["attributes"], ENCODED)
    assert spies["fit_pair"][1]["model"] == "pareto_nbd"
    assert spies["fit_pair"][1]["covariates"] == COVARIATES


class _CovariateModel(_Model):
    def covariate_columns(self):
        return ["channel_web"]


def test_predict_reads_the_covariates_of_saved_models(spies, monkeypatch, tmp_path,
                                                      attributes_file):
    saved = (_CovariateModel("loaded purchases"), _Model("loaded spend"))
    monkeypatch.setattr(cli, "_load_models", lambda folder: saved)
    _invoke("predict", "log.csv", "-o", str(tmp_path / "c.csv"), "--models",
            str(tmp_path), "--attributes", str(attributes_file), "--attributes-id", "cid")
    pd.testing.assert_frame_equal(spies["predict_clv"][0]["summary"],
                                  FRAME.join(ENCODED[["channel_web"]]))
    done = _invoke("predict", "log.csv", "-o", str(tmp_path / "c.csv"), "--models",
                   str(tmp_path), code=2)
    assert "have covariates (channel_web): pass --attributes FILE" in done.stderr
    monkeypatch.setattr(cli, "_load_models", lambda folder: LOADED)
    done = _invoke("predict", "log.csv", "-o", str(tmp_path / "c.csv"), "--models",
                   str(tmp_path), "--attributes", str(attributes_file), "--attributes-id",
                   "cid", code=2)
    assert "have no covariates" in done.stderr


@pytest.mark.parametrize("command", ["backtest", "report"])
def test_backtest_adds_the_covariate_models(backtests, monkeypatch, tmp_path, attributes_file,
                                            command):
    from clvmodels.backtest import default_models

    calls, _ = backtests
    logs = _recorder(monkeypatch, cli, "_log_ids", pd.Index(["a", "b"], name="cid"))
    _invoke(command, "log.csv", "-o", str(tmp_path / "out"), "--calibration-end",
            "1997-09-30", "--penalizer", "0.05", "--attributes", str(attributes_file),
            "--attributes-id", "cid", *COVARIATE_ARGS)
    assert logs == [dict(source="log.csv", customer_id="customer_id")]
    [call] = calls
    models = call["models"]
    covariate_models = ["bgnbd_covariates", "pareto_nbd_covariates", "mbgnbd_covariates"]
    assert list(models) == [*default_models(), *covariate_models]
    for name, purchase_model in zip(covariate_models, ("BetaGeoModel", "ParetoNBDModel",
                                                       "ModifiedBetaGeoModel")):
        pair = models[name]
        assert type(pair.transaction_model).__name__ == purchase_model
        assert pair.transaction_model.purchase_covariates == ["channel_web"]
        assert pair.transaction_model.dropout_covariates == ["age"]
        assert pair.spend_model.spend_covariates == ["channel_web", "age"]
        assert pair.transaction_model.penalizer == pair.spend_model.penalizer == 0.05
        assert pair.spend_model.nonpositive_spend == "exclude"
    assert models["bgnbd"].transaction_model.penalizer == 0.05
    pd.testing.assert_frame_equal(call["customer_attributes"],
                                  ENCODED.rename_axis("cid"))
    # Without --attributes the backtest has no attributes.
    _invoke(command, "log.csv", "-o", str(tmp_path / "out"), "--calibration-end",
            "1997-09-30")
    assert "customer_attributes" not in calls[1] and calls[1]["models"] is None
