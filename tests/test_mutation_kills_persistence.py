"""Saved model files hold exactly what was fitted (mutants of persistence.py that
the round-trip and tampering tests let through; see tests/mutation/README.md)."""

from __future__ import annotations

import importlib.metadata
import json

import arviz as az
import numpy as np
import pandas as pd
import pytest

from clvmodels import load
from clvmodels.exceptions import ModelFileError
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.persistence import _jsonable, _version
from clvmodels.priors import Prior

PARAMS = {"r": 0.24, "alpha": 4.4, "a": 0.79, "b": 2.4}


def _bayes_model(draws: np.ndarray, **init) -> BetaGeoModel:
    """A BG/NBD 'NUTS fit' with the given posterior draws (chains, draws, 4)."""
    names = BetaGeoModel.param_names()
    model = BetaGeoModel(method="nuts", **init).with_parameters(
        dict(zip(names, draws.reshape(-1, 4).mean(axis=0))), time_unit="W")
    model.idata_ = az.from_dict(posterior={n: draws[..., i] for i, n in enumerate(names)})
    return model


def _draws(chains=2, n=10, seed=0):
    rng = np.random.default_rng(seed)
    base = np.array(list(PARAMS.values()))
    return base * np.exp(rng.normal(0, 0.05, (chains, n, 4)))


def test_the_file_names_the_installed_version_and_the_model_module(tmp_path):
    model = BetaGeoModel().with_parameters(PARAMS, time_unit="W")
    model.save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["clvmodels_version"] == importlib.metadata.version("clvmodels")
    assert doc["module"] == "clvmodels.models.beta_geo"
    assert doc["class"] == "BetaGeoModel"


def test_version_is_unknown_when_clvmodels_is_not_installed(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert _version() == "unknown"


def test_jsonable_converts_nested_numpy_and_pandas_values():
    value = {
        "series": pd.Series([np.float64(1.5), np.int64(2)], index=["a", 7]),
        3: {"inner": np.bool_(True)},
        "list": (np.int64(4), [np.float32(0.5)]),
        "array": np.array([[1.0, 2.0], [3.0, 4.0]]),
        "none": None,
    }
    assert _jsonable(value) == {
        "series": {"a": 1.5, "7": 2.0},
        "3": {"inner": True},
        "list": [4, [0.5]],
        "array": [[1.0, 2.0], [3.0, 4.0]],
        "none": None,
    }
    assert type(_jsonable(np.int64(4))) is int
    with pytest.raises(TypeError, match="type object"):
        _jsonable(object())


def test_priors_are_saved_as_data_and_restored(tmp_path):
    priors = {"r": Prior("Gamma", alpha=2.0, beta=5.0), "b": "HalfFlat"}
    model = _bayes_model(_draws(), priors=priors)
    model.save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["init_params"]["priors"] == {"__priors__": {
        "r": {"prior": {"distribution": "Gamma", "params": {"alpha": 2.0, "beta": 5.0}}},
        "b": {"prior": "HalfFlat"}}}
    back = load(tmp_path / "m.json")
    assert back.get_params()["priors"] == priors


def test_the_maximum_likelihood_start_of_a_bayesian_fit_round_trips(tmp_path):
    model = _bayes_model(_draws())
    names = model.param_names()
    mle = pd.Series([0.25, 4.5, 0.8, 2.5], index=names)
    cov_log = pd.DataFrame(np.diag([0.01, 0.02, 0.03, 0.04]) + 0.001, index=names,
                           columns=names)
    model.mle_params_ = mle
    model.mle_cov_log_ = cov_log
    model.save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["bayes"]["mle_params_"] == {"r": 0.25, "alpha": 4.5, "a": 0.8, "b": 2.5}
    assert doc["bayes"]["mle_cov_log_"] == cov_log.to_numpy().tolist()
    back = load(tmp_path / "m.json")
    pd.testing.assert_series_equal(back.mle_params_, mle, check_names=False)
    pd.testing.assert_frame_equal(back.mle_cov_log_, cov_log)


def test_a_maximum_likelihood_fit_writes_no_bayes_entry(tmp_path):
    BetaGeoModel().with_parameters(PARAMS, time_unit="W").save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert "bayes" not in doc and "idata_file" not in doc


def test_the_posterior_is_read_into_memory(tmp_path):
    draws = _draws(seed=3)
    _bayes_model(draws).save(tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    # Read eagerly: the draws stay usable after the file is emptied.
    with open(tmp_path / "m.nc", "r+b") as f:
        f.truncate(0)
    np.testing.assert_array_equal(back.idata_.posterior["alpha"].values, draws[..., 1])


def test_a_posterior_of_a_single_draw_loads(tmp_path):
    draws = _draws(chains=1, n=1)
    _bayes_model(draws).save(tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    np.testing.assert_allclose(back.params_.to_numpy(), draws.reshape(4), rtol=1e-12)


@pytest.mark.parametrize("value", [0.0, -0.5])
def test_a_posterior_draw_at_or_below_zero_is_refused(tmp_path, value):
    draws = _draws()
    model = _bayes_model(draws)
    draws = draws.copy()
    draws[1, 3, 2] = value  # one draw of 'a'
    model.idata_ = az.from_dict(posterior={n: draws[..., i]
                                           for i, n in enumerate(model.param_names())})
    model.save(tmp_path / "m.json")
    with pytest.raises(ModelFileError, match="draws of 'a' .* not all finite and > 0"):
        load(tmp_path / "m.json")


def test_an_empty_posterior_is_refused(tmp_path):
    model = _bayes_model(_draws())
    model.idata_ = az.from_dict(posterior={n: np.empty((1, 0)) for n in model.param_names()})
    model.save(tmp_path / "m.json")
    with pytest.raises(ModelFileError, match="draws of 'r' .* not all finite and > 0"):
        load(tmp_path / "m.json")


# --------------------------------------------------------------------------- the file's text


def test_files_are_indented_json_and_the_posterior_is_dot_nc(tmp_path):
    _bayes_model(_draws()).save(tmp_path / "m.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.nc"]
    text = (tmp_path / "m.json").read_text(encoding="utf-8")
    assert text.startswith('{\n  "format": "clvmodels.model",\n  "format_version": 1,')
    assert json.loads(text)["idata_file"] == "m.nc"


# --------------------------------------------------------------------------- attributes


def _saved(tmp_path, model=None):
    model = model or BetaGeoModel().with_parameters(PARAMS, time_unit="W")
    model.save(tmp_path / "m.json")
    return tmp_path / "m.json"


def _edit(path, edit):
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))
    return path


BAD_ATTRIBUTES = {
    "log_likelihood_": ("-10", "log_likelihood_ must be a number, got '-10'"),
    "aic_": (True, "aic_ must be a number, got True"),
    "n_customers_": (-1, "n_customers_ must be a whole number >= 0, got -1"),
    "n_rows_": (2.5, "n_rows_ must be a whole number >= 0, got 2.5"),
    "inference_": ("nuts", "inference_ must be a mapping"),
    "diagnostics_": ([1], "diagnostics_ must be a mapping"),
    "exclusions_": (3, "exclusions_ must be a mapping"),
    "fit_status_": (5, "fit_status_ must be text, got 5"),
    "fit_warnings_": ("careful", "fit_warnings_ must be a list of text, got 'careful'"),
    "at_boundary_": ([1], r"at_boundary_ must be a list of text, got \[1\]"),
    "not_identified_": ([None], r"not_identified_ must be a list of text, got \[None\]"),
}


@pytest.mark.parametrize("key", sorted(BAD_ATTRIBUTES))
def test_each_attribute_of_a_wrong_type_is_named(tmp_path, key):
    value, message = BAD_ATTRIBUTES[key]
    path = _edit(_saved(tmp_path), lambda d: d["attributes"].update({key: value}))
    with pytest.raises(ModelFileError, match=message) as info:
        load(path)
    assert info.value.rule == "attributes"


def test_several_bad_attributes_are_listed_together(tmp_path):
    path = _edit(_saved(tmp_path), lambda d: d["attributes"].update(
        n_rows_=True, fit_status_=["ok"]))
    with pytest.raises(ModelFileError, match=r"n_rows_ must be a whole number >= 0, got True; "
                                             r"fit_status_ must be text, got \['ok'\]\."):
        load(path)


def test_valid_attributes_are_restored(tmp_path):
    attributes = dict(n_customers_=0, n_rows_=0, log_likelihood_=-12.5, aic_=3,
                      inference_={"method": "mle"}, diagnostics_={}, exclusions_={"x": 1},
                      fit_status_="ok", fit_warnings_=["a"], at_boundary_=[],
                      not_identified_=["b"], converged_=True)
    back = load(_edit(_saved(tmp_path), lambda d: d["attributes"].update(attributes)))
    for key, value in attributes.items():
        assert getattr(back, key) == value


def test_the_time_unit_is_required_only_of_models_that_use_time(tmp_path):
    from clvmodels.models.gamma_gamma import GammaGammaModel

    bg = _edit(_saved(tmp_path), lambda d: d["attributes"].pop("time_unit_"))
    with pytest.raises(ModelFileError, match="time_unit_ must be a time unit .* got None"):
        load(bg)
    spend = GammaGammaModel().with_parameters({"p": 6.0, "q": 3.7, "v": 15.0})
    folder = tmp_path / "gg"
    folder.mkdir()
    path = _saved(folder, spend)
    assert "time_unit_" not in json.loads(path.read_text())["attributes"]
    assert load(path).params_["v"] == 15.0
    # Without any attribute at all, and without covariance matrices.
    _edit(path, lambda d: [d.pop(k) for k in ("attributes", "cov", "cov_log")])
    back = load(path)
    for matrix in (back.cov_, back.cov_log_):
        assert list(matrix.index) == ["p", "q", "v"] and list(matrix.columns) == ["p", "q", "v"]
        assert matrix.shape == (3, 3) and matrix.isna().all().all()
    assert back.standard_errors_.isna().all()
    # A time unit given to a model without time is still checked.
    _edit(path, lambda d: d.update(attributes={"time_unit_": "fortnight"}))
    with pytest.raises(ModelFileError, match="time_unit_ must be a time unit"):
        load(path)


# --------------------------------------------------------------------------- structure


def test_only_modules_inside_clvmodels_are_imported_to_find_a_class(tmp_path, monkeypatch):
    import importlib

    imported = []
    real = importlib.import_module

    def spy(name, *args, **kwargs):
        imported.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy)
    path = _saved(tmp_path)
    for module, expected in (("clvmodels.models.not_there", ["clvmodels.models.not_there"]),
                             ("clvmodels", ["clvmodels"]), ("os.path", []),
                             ("clvmodelsx", []), (None, [])):
        imported.clear()
        _edit(path, lambda d: d.update({"class": "Unknown", "module": module}))
        with pytest.raises(ModelFileError, match="Unknown model class 'Unknown'"):
            load(path)
        assert imported == expected, module
    # A known class is not imported again, whatever module the file names.
    imported.clear()
    _edit(path, lambda d: d.update({"class": "BetaGeoModel", "module": "clvmodels.zzz"}))
    assert load(path).params_["r"] == PARAMS["r"]
    assert imported == []


@pytest.mark.parametrize("edit", [lambda p: p.pop("b"), lambda p: p.update(extra=1.0)])
def test_a_missing_or_an_extra_parameter_alone_is_refused(tmp_path, edit):
    path = _edit(_saved(tmp_path), lambda d: edit(d["params"]))
    with pytest.raises(ModelFileError) as info:
        load(path)
    assert info.value.rule == "parameter_names"


def test_covariances_may_hold_nulls_and_zero_variances(tmp_path):
    def edit(doc):
        doc["cov"] = [[0.0] * 4 for _ in range(4)]
        doc["cov"][1][1] = None
        doc["cov"][2][2] = 0.04

    back = load(_edit(_saved(tmp_path), edit))
    assert back.standard_errors_["r"] == 0.0
    assert np.isnan(back.standard_errors_["alpha"])
    assert back.standard_errors_["a"] == pytest.approx(0.2)


def test_a_file_without_constructor_arguments_loads_with_the_defaults(tmp_path):
    back = load(_edit(_saved(tmp_path), lambda d: d.pop("init_params")))
    assert back.get_params() == BetaGeoModel().get_params()


@pytest.mark.parametrize("bayes", [[], ["mle_params_"], {"mle_params_": PARAMS, "x": 1}])
def test_a_bayes_entry_other_than_the_two_mle_keys_is_refused(tmp_path, bayes):
    path = _edit(_saved(tmp_path), lambda d: d.update(bayes=bayes))
    with pytest.raises(ModelFileError, match="'bayes' must be a mapping") as info:
        load(path)
    assert info.value.rule == "bayes"


@pytest.mark.parametrize("version", [0, -1, True, 1.0])
def test_format_version_must_be_a_whole_number_from_one(tmp_path, version):
    path = _edit(_saved(tmp_path), lambda d: d.update(format_version=version))
    with pytest.raises(ModelFileError, match="'format_version' must be a whole number >= 1") \
            as info:
        load(path)
    assert info.value.rule == "format_version"


def _with_mle(tmp_path, edit):
    model = _bayes_model(_draws())
    names = model.param_names()
    model.mle_params_ = pd.Series([0.25, 4.5, 0.8, 2.5], index=names)
    model.mle_cov_log_ = pd.DataFrame(np.eye(4) * 0.01, index=names, columns=names)
    model.save(tmp_path / "m.json")
    return _edit(tmp_path / "m.json", lambda d: edit(d["bayes"]))


def test_a_bad_maximum_likelihood_start_names_the_file_and_the_class(tmp_path):
    path = _with_mle(tmp_path, lambda b: b["mle_params_"].update(a=-1.0))
    with pytest.raises(ModelFileError, match="every parameter of BetaGeoModel must be a finite "
                                             "number > 0") as info:
        load(path)
    assert str(info.value).startswith(f"{path} is not a usable saved model: ")
    path = _with_mle(tmp_path, lambda b: b.update(mle_cov_log_=[[1.0]]))
    with pytest.raises(ModelFileError, match="'mle_cov_log_' must be a 4 x 4 matrix") as info:
        load(path)
    assert str(info.value).startswith(f"{path} is not a usable saved model: ")
