import json, warnings
import numpy as np, pandas as pd, pytest
import clvmodels
from clvmodels.exceptions import ModelFileError


def _no_dropout_summary():
    rng = np.random.default_rng(0)
    n = 2000
    lam = rng.gamma(0.8, 1 / 20.0, n)
    T = rng.uniform(20, 40, n)
    x = rng.poisson(lam * T)
    rec = np.where(x > 0, T * rng.beta(np.maximum(x, 1), 1), 0.0)
    s = pd.DataFrame({"frequency": x, "recency": rec, "T": T})
    s.attrs["time_unit"] = "W"
    return s


def test_fit_status_and_warnings_survive_save_and_load(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bg = clvmodels.BetaGeoModel().fit(_no_dropout_summary())
    assert bg.fit_status_ != "converged" and bg.fit_warnings_
    bg.save(tmp_path / "bg.json")
    back = clvmodels.load(tmp_path / "bg.json")
    for key in ("fit_status_", "fit_warnings_", "at_boundary_", "not_identified_"):
        assert getattr(back, key) == getattr(bg, key), key


def test_a_tampered_fit_status_is_refused(tmp_path, fitted_bgnbd):
    fitted_bgnbd.save(tmp_path / "bg.json")
    doc = json.loads((tmp_path / "bg.json").read_text())
    doc["attributes"]["fit_warnings_"] = "not a list"
    (tmp_path / "bg.json").write_text(json.dumps(doc))
    with pytest.raises(ModelFileError, match="fit_warnings_"):
        clvmodels.load(tmp_path / "bg.json")
