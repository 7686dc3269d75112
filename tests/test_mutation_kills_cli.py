"""The CLI's option plumbing, helper by helper: ranges and their messages, durations,
cutoffs, model names and model files (mutants of cli.py that the CLI tests let
through; see tests/mutation/README.md). Fast: no command runs a fit."""

from __future__ import annotations

import inspect

import pytest

from clvmodels import cli
from clvmodels.exceptions import ModelFileError
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

INF = float("inf")


@pytest.mark.parametrize("value, low, high, low_open, high_open, ok", [
    (0.0, 0.0, 1.0, False, False, True),
    (1.0, 0.0, 1.0, False, False, True),
    (0.0, 0.0, 1.0, True, False, False),
    (1.0, 0.0, 1.0, False, True, False),
    (0.5, 0.0, 1.0, True, True, True),
    (-1e-9, 0.0, 1.0, False, False, False),
    (1.0 + 1e-9, 0.0, 1.0, False, False, False),
    (float("nan"), 0.0, 1.0, False, False, False),
    (1e300, 1.0, INF, False, False, True),
    (INF, 1.0, INF, False, False, True),
])
def test_check_range_boundaries(value, low, high, low_open, high_open, ok):
    call = lambda: cli._check_range("--x", value, low, high, low_open=low_open,  # noqa: E731
                                    high_open=high_open)
    if ok:
        assert call() is None
    else:
        with pytest.raises(ValueError, match="^--x must be "):
            call()


@pytest.mark.parametrize("kwargs, message", [
    (dict(low=0.0, high=1.0), "--x must be in [0, 1] (why), got 2."),
    (dict(low=0.0, high=1.0, low_open=True), "--x must be in (0, 1] (why), got 2."),
    (dict(low=0.0, high=1.0, high_open=True), "--x must be in [0, 1) (why), got 2."),
    (dict(low=3.0, high=INF), "--x must be >= 3 (why), got 2."),
    (dict(low=2.5, high=INF, low_open=True), "--x must be > 2.5 (why), got 2."),
])
def test_check_range_messages(kwargs, message):
    value = 2.0
    with pytest.raises(ValueError) as info:
        cli._check_range("--x", value, meaning=" (why)", **kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("args, message", [
    ((-1, 1.0, 0.9, 0.0),
     "--horizon must be >= 0 (steps of --time-unit; 0: the remaining lifetime), got -1."),
    ((0, 1.0, 0.9, 0.0), "--horizon 0 (the remaining lifetime) needs a --discount-rate above "
                         "0: undiscounted, a lifetime's expected purchases can be infinite."),
    ((1, 1.5, 0.9, 0.0), "--margin must be in [0, 1] (a share of revenue), got 1.5."),
    ((1, -0.1, 0.9, 0.0), "--margin must be in [0, 1] (a share of revenue), got -0.1."),
    ((1, 1.0, 1.0, 0.0), "--interval must be in [0, 1) (e.g. 0.9; 0 for no interval), got 1."),
    ((1, 1.0, -0.5, 0.0), "--interval must be in [0, 1) (e.g. 0.9; 0 for no interval), got -0.5."),
    ((1, 1.0, 0.9, -1.0), "--discount-rate must be > -1, got -1."),
])
def test_clv_option_ranges(args, message):
    with pytest.raises(ValueError) as info:
        cli._check_clv_options(*args)
    assert str(info.value) == message


@pytest.mark.parametrize("args", [(1, 0.0, 0.0, -0.99), (520, 1.0, 0.999, 5.0)])
def test_clv_options_at_their_limits_pass(args):
    assert cli._check_clv_options(*args) is None


def test_durations_are_numbers_of_days_or_unit_codes():
    assert cli._duration("30") == 30.0
    assert cli._duration("7.5") == 7.5
    assert cli._duration("M") == "M"


def test_cutoff_options():
    assert cli._cutoff_options("1997-09-30", None) == {"calibration_period_end": "1997-09-30"}
    assert cli._cutoff_options("1997-09-30", []) == {"calibration_period_end": "1997-09-30"}
    assert cli._cutoff_options(None, ["1997-06-30", "1997-09-30"]) == {
        "cutoffs": ["1997-06-30", "1997-09-30"]}


@pytest.mark.parametrize("name, cls", [("bgnbd", BetaGeoModel),
                                        ("mbgnbd", ModifiedBetaGeoModel),
                                        ("pareto_nbd", ParetoNBDModel)])
def test_purchase_model_names(name, cls):
    model = cli._purchase_model(name, "map")
    assert type(model) is cls
    assert model.get_params()["method"] == "map"


def test_an_unknown_purchase_model_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown model 'bg': use one of \['bgnbd', 'mbgnbd', "
                                         r"'pareto_nbd'\]\."):
        cli._purchase_model("bg", "mle")


def test_cleaning_options_are_stored_and_added_to_the_signature():
    seen = {}

    def command(log: str = "x"):
        seen.update(cli._CLEANING)
        return log

    wrapped = cli._cleaning_options(command)
    assert wrapped("y", order_id="o", missing_ids="drop", duplicates="drop",
                   zero_amounts="drop", memory_limit="2GB") == "y"
    assert seen == dict(order_id_col="o", missing_ids="drop", duplicates="drop",
                        zero_amounts="drop", memory_limit="2GB")
    wrapped()
    assert seen == dict(order_id_col=None, missing_ids="error", duplicates="keep",
                        zero_amounts="keep", memory_limit=None)
    names = list(inspect.signature(wrapped).parameters)
    assert names[0] == "log" and len(names) == 1 + len(cli._CLEANING_PARAMETERS)


def test_model_files_must_hold_their_roles(tmp_path):
    purchases = BetaGeoModel().with_parameters({"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4},
                                               time_unit="W")
    spend = GammaGammaModel().with_parameters({"p": 6.0, "q": 3.7, "v": 15.0})
    purchases.save(tmp_path / "purchases.json")
    spend.save(tmp_path / "spend.json")
    got = cli._load_models(tmp_path)
    assert [type(m) for m in got] == [BetaGeoModel, GammaGammaModel]
    assert got[0].params_["alpha"] == 4.4 and got[1].params_["v"] == 15.0
    spend.save(tmp_path / "purchases.json")
    with pytest.raises(ModelFileError, match="holds a GammaGammaModel, not a purchase model") \
            as info:
        cli._load_models(tmp_path)
    assert info.value.rule == "model_role"
    assert info.value.path == str(tmp_path / "purchases.json")
    assert str(info.value).startswith(f"{tmp_path / 'purchases.json'} is not a usable")
    purchases.save(tmp_path / "purchases.json")
    purchases.save(tmp_path / "spend.json")
    with pytest.raises(ModelFileError, match=r"holds a BetaGeoModel, not a spend model "
                                             r"\(Gamma-Gamma\)") as info:
        cli._load_models(tmp_path)
    assert info.value.path == str(tmp_path / "spend.json")


class _Recorded:
    """A model that records how it was made and fitted."""

    def __init__(self, **params):
        self.params = params
        self.fitted_with = None

    def fit(self, rfm, **settings):
        self.fitted_with = (rfm, settings)
        return self


@pytest.mark.parametrize("method, settings, how", [
    ("mle", {}, ""),
    ("nuts", {"draws": 250, "random_state": 7, "progressbar": False}, " by nuts"),
    ("advi", {"draws": 250, "random_state": 7, "progressbar": False}, " by advi"),
])
def test_fit_pair_fits_both_models_with_the_method_and_its_settings(monkeypatch, method,
                                                                     settings, how):
    import importlib

    made = []
    monkeypatch.setattr(cli, "_purchase_model",
                        lambda name, m, p: made.append((name, m, p)) or _Recorded(name=name, method=m))
    monkeypatch.setattr(importlib.import_module("clvmodels.models.gamma_gamma"),
                        "GammaGammaModel", _Recorded)
    steps = []
    rfm = object()
    purchases, spend = cli._fit_pair(rfm, "pareto_nbd", steps.append, method, 250, 7, 0.25)
    assert made == [("pareto_nbd", method, 0.25)]
    assert purchases.fitted_with == (rfm, settings)
    assert spend.params == {"nonpositive_spend": "exclude", "method": method, "penalizer": 0.25}
    assert spend.fitted_with == (rfm, settings)
    assert steps == [f"fitting pareto_nbd{how}", f"fitting Gamma-Gamma (spend){how}"]


def test_fit_pair_defaults_to_maximum_likelihood(monkeypatch):
    import importlib

    monkeypatch.setattr(cli, "_purchase_model",
                        lambda name, m, p: _Recorded(method=m, penalizer=p))
    monkeypatch.setattr(importlib.import_module("clvmodels.models.gamma_gamma"),
                        "GammaGammaModel", _Recorded)
    purchases, spend = cli._fit_pair("rfm", "bgnbd", lambda text: None)
    assert purchases.params == {"method": "mle", "penalizer": 0.0}
    assert purchases.fitted_with == ("rfm", {})
    assert spend.params["method"] == "mle" and spend.params["penalizer"] == 0.0
    assert spend.fitted_with == ("rfm", {})


def test_fit_pair_defaults_are_the_commands_draws_and_seed(monkeypatch):
    import importlib

    monkeypatch.setattr(cli, "_purchase_model", lambda name, m, p: _Recorded(method=m))
    monkeypatch.setattr(importlib.import_module("clvmodels.models.gamma_gamma"),
                        "GammaGammaModel", _Recorded)
    purchases, _ = cli._fit_pair("rfm", "bgnbd", lambda text: None, "nuts")
    assert purchases.fitted_with == ("rfm", {"draws": 1000, "random_state": 0,
                                             "progressbar": False})


def test_summarise_log_reads_a_bundled_log_with_the_cleaning_options(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "rfm_summary", lambda *args, **kwargs: seen.append((args, kwargs)))
    monkeypatch.setattr(cli, "_CLEANING", {"duplicates": "drop"})
    cli._summarise_log("log.csv", "cid", "when", "spend", "1998-01-31", "D", "%Y%m%d", "net")
    assert seen == [(("log.csv", "cid", "when", "spend"),
                     dict(observation_period_end="1998-01-31", time_unit="D",
                          datetime_format="%Y%m%d", returns="net", duplicates="drop"))]
