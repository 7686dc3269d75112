"""Saved model files: every kind of tampering gives one ModelFileError naming the file."""

from __future__ import annotations

import json
import os
import shutil

import arviz as az
import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import load
from clvmodels.exceptions import DataError, ModelFileError
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder with a fitted BG/NBD (bg.json), Gamma-Gamma (gg.json) and a BG/NBD with
    a hand-built NetCDF posterior (post.json + post.nc) and a Gamma-Gamma one (ggpost)."""
    folder = tmp_path_factory.mktemp("models")
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    bg = BetaGeoModel().fit(summary)
    gg = GammaGammaModel().fit(summary)
    bg.save(folder / "bg.json")
    gg.save(folder / "gg.json")
    rng = np.random.default_rng(0)
    for name, model in (("post", bg), ("ggpost", gg)):
        names = model.param_names()
        draws = model.params_.to_numpy() * np.exp(rng.normal(0, 0.05, (2, 20, len(names))))
        mocked = type(model)(method="nuts").with_parameters(
            dict(zip(names, draws.reshape(-1, len(names)).mean(axis=0))),
            time_unit=getattr(model, "time_unit_", None))
        mocked.idata_ = az.from_dict(posterior={n: draws[..., i] for i, n in enumerate(names)})
        mocked.save(folder / f"{name}.json")
    return folder, summary


def _tampered(saved, tmp_path, name="bg.json", edit=None, text=None):
    folder, _ = saved
    for f in os.listdir(folder):
        shutil.copy(folder / f, tmp_path / f)
    path = tmp_path / name
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    if edit is not None:
        doc = json.loads(path.read_text())
        edit(doc)
        path.write_text(json.dumps(doc))
    return path


def _set(key, value):
    def edit(doc):
        doc[key] = value
    return edit


def _param(name, value):
    def edit(doc):
        doc["params"][name] = value
    return edit


CASES = {
    "not_json": (dict(text="this is not json {"), "not valid JSON", "not_json"),
    "binary": (dict(text=b"\x89PNG\r\n\x1a\n\x00\xff"), "not UTF-8", "not_json"),
    "a_list": (dict(text="[1, 2]"), "not a saved clvmodels model", "not_a_model"),
    "missing_params": (dict(edit=lambda d: d.pop("params")), r"lacks the key\(s\) \['params'\]",
                       "missing_keys"),
    "extra_key": (dict(edit=_set("payload", "x")), r"unknown key\(s\) \['payload'\]",
                  "unknown_keys"),
    "version_as_text": (dict(edit=_set("format_version", "1")),
                        "'format_version' must be a whole number", "format_version"),
    "newer_version": (dict(edit=_set("format_version", 99)), "newer clvmodels",
                      "format_version"),
    "unknown_class": (dict(edit=_set("class", "Evil")), "Unknown model class 'Evil'",
                      "model_class"),
    "class_not_text": (dict(edit=_set("class", ["BetaGeoModel"])), "'class' must be",
                       "model_class"),
    "wrong_class": (dict(edit=_set("class", "GammaGammaModel")),
                    r"parameters of GammaGammaModel are \['p', 'q', 'v'\]", "parameter_names"),
    "renamed_param": (dict(edit=lambda d: d["params"].update(R=d["params"].pop("r"))),
                      r"missing \['r'\], unexpected \['R'\]", "parameter_names"),
    "params_a_list": (dict(edit=_set("params", [1, 2, 3, 4])), "'params' must be a mapping",
                      "params"),
    "negative_r": (dict(edit=_param("r", -1)), r"finite number > 0.*'r': -1",
                   "parameter_domain"),
    "zero_alpha": (dict(edit=_param("alpha", 0)), "finite number > 0", "parameter_domain"),
    "nan_a": (dict(edit=_param("a", float("nan"))), "finite number > 0", "parameter_domain"),
    "inf_b": (dict(edit=_param("b", float("inf"))), "finite number > 0", "parameter_domain"),
    "text_b": (dict(edit=_param("b", "2.6")), "finite number > 0", "parameter_domain"),
    "bool_b": (dict(edit=_param("b", True)), "finite number > 0", "parameter_domain"),
    "cov_3x3": (dict(edit=lambda d: d.update(cov=[row[:3] for row in d["cov"][:3]])),
                "'cov' must be a 4 x 4 matrix", "covariance_shape"),
    "cov_ragged": (dict(edit=lambda d: d["cov_log"][2].pop()), "'cov_log' must be a 4 x 4",
                   "covariance_shape"),
    "cov_text": (dict(edit=lambda d: d["cov"][0].__setitem__(0, "x")),
                 "not numbers", "covariance_values"),
    "cov_negative_variance": (dict(edit=lambda d: d["cov"][1].__setitem__(1, -1.0)),
                              "negative variances", "covariance_values"),
    "bad_time_unit": (dict(edit=lambda d: d["attributes"].update(time_unit_="fortnight")),
                      "time_unit_ must be a time unit", "attributes"),
    "unknown_attribute": (dict(edit=lambda d: d["attributes"].update(__class__="x")),
                          "unknown attribute", "attributes"),
    "converged_text": (dict(edit=lambda d: d["attributes"].update(converged_="yes")),
                       "converged_ must be true or false", "attributes"),
    "init_params_unknown": (dict(edit=lambda d: d["init_params"].update(evil=1)),
                            "'init_params' do not fit BetaGeoModel", "init_params"),
    "idata_path_escape": (dict(edit=_set("idata_file", "../post.nc")),
                          "'idata_file' must be a file name", "posterior"),
    "missing_posterior": (dict(name="post.json", edit=_set("idata_file", "gone.nc")),
                          "gone.nc, which does not exist", "posterior"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_tampering_gives_one_clear_error(saved, tmp_path, case):
    how, message, rule = CASES[case]
    path = _tampered(saved, tmp_path, **how)
    with pytest.raises(ModelFileError, match=message) as info:
        load(path)
    assert info.value.rule == rule
    assert isinstance(info.value, DataError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith(f"{path} is not a usable saved model: ")
    assert info.value.path == str(path)


def test_a_corrupt_posterior_is_refused(saved, tmp_path):
    path = _tampered(saved, tmp_path, name="post.json")
    (tmp_path / "post.nc").write_bytes(b"CDF\x01 truncated netcdf")
    with pytest.raises(ModelFileError, match=r"its posterior .*post\.nc cannot be read"):
        load(path)


def test_a_swapped_posterior_is_refused(saved, tmp_path):
    path = _tampered(saved, tmp_path, name="post.json")
    shutil.copy(tmp_path / "ggpost.nc", tmp_path / "post.nc")
    with pytest.raises(ModelFileError, match=r"no draws of \['r', 'alpha', 'a', 'b'\].*"
                                             "belongs to another model") as info:
        load(path)
    assert info.value.rule == "posterior"


def test_impossible_posterior_draws_are_refused(saved, tmp_path):
    path = _tampered(saved, tmp_path, name="post.json")
    idata = az.from_netcdf(str(tmp_path / "post.nc"))
    post = idata.posterior.copy()
    post["r"] = -post["r"]
    (tmp_path / "post.nc").unlink()
    az.InferenceData(posterior=post).to_netcdf(str(tmp_path / "post.nc"))
    with pytest.raises(ModelFileError, match="draws of 'r' .* not all finite and > 0"):
        load(path)


def test_untampered_files_load_and_predict_the_same(saved):
    folder, summary = saved
    bg = load(folder / "bg.json")
    post = load(folder / "post.json")
    assert isinstance(bg, BetaGeoModel) and isinstance(load(folder / "gg.json"),
                                                       GammaGammaModel)
    head = summary.head(20)
    assert (bg.expected_purchases(head, 52) >= 0).all()
    assert post.idata_.posterior["r"].shape == (2, 20)
    doc = json.loads((folder / "bg.json").read_text())
    assert bg.params_.to_dict() == doc["params"]
    means = [float(post.idata_.posterior[n].mean()) for n in post.param_names()]
    np.testing.assert_allclose(post.params_.to_numpy(), means, rtol=1e-12)


def test_save_writes_json_and_posterior_atomically(saved, tmp_path, monkeypatch):
    folder, _ = saved
    model = load(folder / "post.json")

    def broken(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"CDF partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(az.InferenceData, "to_netcdf", broken)
    with pytest.raises(OSError, match="No space"):
        model.save(tmp_path / "m.json")
    assert os.listdir(tmp_path) == []


def test_a_missing_file_is_an_os_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        load(tmp_path / "nothing.json")
