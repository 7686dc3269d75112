"""Fits at the edge of the parameter space still predict, with honest intervals.

A population that never drops out (Poisson purchases with gamma-distributed
rates: the NBD model) drives BG/NBD, MBG/NBD and Pareto/NBD to the edge of their
parameter space: the dropout parameters run to 0 or infinity and are not
identified. Point predictions, intervals (from the identified parameters) and
the export must still work, with a warning that says what the intervals ignore.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.clv import customer_lifetime_value
from clvmodels.exceptions import ConvergenceWarning
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

PURCHASE_MODELS = (BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel)


def no_dropout_summary(n: int = 2000, r: float = 0.8, alpha: float = 20.0,
                       seed: int = 1) -> pd.DataFrame:
    """RFM summary (days) of customers who never drop out (NBD population)."""
    rng = np.random.default_rng(seed)
    T = np.round(rng.uniform(90.0, 300.0, n))
    lam = rng.gamma(r, 1.0 / alpha, n)
    x = rng.poisson(lam * T)
    recency = np.array([rng.uniform(0.0, t, k).max() if k else 0.0 for k, t in zip(x, T)])
    summary = pd.DataFrame({
        "frequency": x.astype(float),
        "recency": np.round(recency, 3),
        "T": T,
        "monetary_value": np.where(x > 0, rng.gamma(6.0, 5.0, n), 0.0),
    }, index=pd.Index([f"c{i:05d}" for i in range(n)], name="customer_id"))
    summary.attrs["time_unit"] = "D"
    return summary


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return no_dropout_summary()


@pytest.fixture(scope="module")
def fits(summary):
    out = {}
    for cls in PURCHASE_MODELS:
        with pytest.warns(ConvergenceWarning, match="edge of the parameter space"):
            out[cls.__name__] = cls().fit(summary)
    return out


@pytest.fixture(scope="module")
def spend(summary):
    return GammaGammaModel().fit(summary)


@pytest.mark.parametrize("cls", PURCHASE_MODELS, ids=lambda c: c.__name__)
def test_fit_at_the_boundary_is_flagged_and_keeps_its_warnings(fits, cls):
    model = fits[cls.__name__]
    assert model.fit_status_ == "at boundary"
    assert model.converged_ is True
    dropout = {"BetaGeoModel": {"a", "b"}, "ModifiedBetaGeoModel": {"a", "b"},
               "ParetoNBDModel": {"s", "beta"}}[cls.__name__]
    assert set(model.not_identified_) == dropout
    assert set(model.at_boundary_) <= dropout and model.at_boundary_
    # The purchase-rate parameters are identified and near the truth (r=0.8, alpha=20).
    assert abs(model.params_["r"] / 0.8 - 1) < 0.15
    assert abs(model.params_["alpha"] / 20.0 - 1) < 0.2
    assert np.isfinite(model.standard_errors_[["r", "alpha"]]).all()
    assert any("edge of the parameter space" in w for w in model.fit_warnings_)
    assert any("do not identify" in w for w in model.fit_warnings_)


@pytest.mark.parametrize("cls", PURCHASE_MODELS, ids=lambda c: c.__name__)
def test_intervals_hold_the_unidentified_parameters(fits, summary, cls):
    model = fits[cls.__name__]
    held = model.not_identified_
    with pytest.warns(ConvergenceWarning, match="ignore their uncertainty") as record:
        draws = model.sample_parameters(300, random_state=3)
    assert any(all(name in str(w.message) for name in held) for w in record)
    for name in held:  # held at the estimate, exactly
        np.testing.assert_array_equal(draws[name].to_numpy(), model.params_[name])
    for name in ("r", "alpha"):  # drawn around it
        values = draws[name].to_numpy()
        assert values.std() > 0 and np.all(np.isfinite(values))
        assert abs(np.log(values).std() / np.sqrt(model.cov_log_.loc[name, name]) - 1) < 0.2

    head = summary.iloc[:200]
    with pytest.warns(ConvergenceWarning, match="ignore their uncertainty"):
        out = model.expected_purchases(head, 30.0, interval=0.9, random_state=0)
    values = out.to_numpy()
    assert np.all(np.isfinite(values))
    assert np.all(out["lower"] <= out["mean"]) and np.all(out["mean"] <= out["upper"])
    assert np.all(out["upper"] - out["lower"] > 0)
    plug_in = model.expected_purchases(head, 30.0)
    assert np.all((out["lower"] <= plug_in) & (plug_in <= out["upper"]))


def _assert_clv_ok(frame: pd.DataFrame) -> None:
    cols = ["expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper"]
    values = frame[cols].to_numpy(dtype=float)
    assert np.all(np.isfinite(values))
    assert np.all(frame["clv_lower"] <= frame["clv"] + 1e-9)
    assert np.all(frame["clv"] <= frame["clv_upper"] + 1e-9)
    assert np.all(frame["clv_upper"] > frame["clv_lower"])


@pytest.mark.parametrize("cls", PURCHASE_MODELS, ids=lambda c: c.__name__)
def test_clv_and_export_complete_at_the_boundary(fits, spend, summary, cls, tmp_path):
    model = fits[cls.__name__]
    with pytest.warns(ConvergenceWarning, match="ignore their uncertainty"):
        clv = customer_lifetime_value(model, spend, summary, horizon=12, time_unit="M",
                                      interval=0.9, random_state=0)
    _assert_clv_ok(clv)
    plain = customer_lifetime_value(model, spend, summary, horizon=12, time_unit="M")
    np.testing.assert_allclose(clv["clv"], plain["clv"], rtol=1e-12)

    with pytest.warns(ConvergenceWarning, match="ignore their uncertainty"):
        table = clvmodels.predict_clv(summary, model, spend, horizon=12, time_unit="M")
    assert list(table["customer_id"]) == list(summary.index)
    _assert_clv_ok(table)
    np.testing.assert_allclose(table["clv"].to_numpy(), clv["clv"].to_numpy(), rtol=1e-12)

    path = tmp_path / "scores.parquet"
    with pytest.warns(ConvergenceWarning, match="ignore their uncertainty"):
        written = clvmodels.predict_clv(summary, model, spend, horizon=12, time_unit="M",
                                        path=path, chunk_size=500)
    back = pd.read_parquet(written)
    assert len(back) == len(summary)
    _assert_clv_ok(back)
    np.testing.assert_allclose(back["clv"].to_numpy(), clv["clv"].to_numpy(), rtol=1e-12)


def test_cli_predict_completes_on_a_log_without_dropout(tmp_path):
    log = clvmodels.simulate.pareto_nbd(600, r=0.8, alpha=40.0, s=1.0, beta=1e9,
                                       observation_length=400, time_unit="D",
                                       acquisition_period=100, spend=dict(p=6, q=4, v=15),
                                       resolution="D", random_state=5)
    source = tmp_path / "log.csv"
    log.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(clvmodels.__file__)), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "predict", str(source),
                           "-o", str(out), "--time-unit", "D", "--horizon", "90"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "edge of the parameter space" in done.stderr
    table = pd.read_csv(out)
    assert table["customer_id"].nunique() == log["customer_id"].nunique()
    scored = table[table["unscored_reason"].isna()]
    assert len(scored) > 500
    _assert_clv_ok(scored)


def test_no_finite_covariance_gives_point_predictions_and_nan_bounds(fits, spend, summary):
    fitted = fits["BetaGeoModel"]
    bare = fitted.with_parameters(fitted.params_)  # no covariance at all
    head = summary.iloc[:50]
    with pytest.warns(ConvergenceWarning, match=r"interval=None \(CLI: --interval 0\)"):
        draws = bare.sample_parameters(10)
    assert draws.shape == (10, 4) and draws.isna().all().all()
    with pytest.warns(ConvergenceWarning, match="interval=None"):
        out = bare.expected_purchases(head, 30.0, interval=0.9)
    np.testing.assert_allclose(out["mean"], fitted.expected_purchases(head, 30.0), rtol=1e-12)
    assert out["lower"].isna().all() and out["upper"].isna().all()
    with pytest.warns(ConvergenceWarning, match="interval=None"):
        clv = customer_lifetime_value(bare, spend, head, horizon=6, time_unit="M",
                                      interval=0.9)
    plain = customer_lifetime_value(fitted, spend, head, horizon=6, time_unit="M")
    np.testing.assert_allclose(clv["clv"], plain["clv"], rtol=1e-12)
    assert clv["clv_lower"].isna().all() and clv["clv_upper"].isna().all()
    bare_spend = spend.with_parameters(spend.params_)
    with pytest.warns(ConvergenceWarning, match="interval=None"):
        spent = bare_spend.expected_spend(head, interval=0.8)
    np.testing.assert_allclose(spent["mean"], spend.expected_spend(head), rtol=1e-12)
    assert spent["lower"].isna().all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(held=st.lists(st.booleans(), min_size=4, max_size=4), seed=st.integers(0, 2**31))
def test_draws_hold_exactly_the_parameters_without_variance(cdnow_bgnbd_copy, held, seed):
    model = cdnow_bgnbd_copy
    names = model.param_names()
    cov = model._cdnow_cov.copy()
    for i, h in enumerate(held):
        if h:
            cov[i, :] = np.nan
            cov[:, i] = np.nan
    model.cov_log_ = pd.DataFrame(cov, index=names, columns=names)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        draws = model.sample_parameters(50, random_state=seed)
    messages = [str(w.message) for w in record if issubclass(w.category, ConvergenceWarning)]
    if all(held):
        assert draws.isna().all().all()
        assert any("interval=None" in m for m in messages)
        return
    assert np.all(np.isfinite(draws.to_numpy()))
    for name, h in zip(names, held):
        column = draws[name].to_numpy()
        if h:
            np.testing.assert_array_equal(column, model.params_[name])
        else:
            assert column.std() > 0
    if any(held):
        assert any("ignore their uncertainty" in m for m in messages)
        assert any(str([n for n, h in zip(names, held) if h]) in m for m in messages)
    else:
        assert not messages


@pytest.fixture
def cdnow_bgnbd_copy(fitted_bgnbd):
    import copy

    model = copy.deepcopy(fitted_bgnbd)
    model._cdnow_cov = fitted_bgnbd.cov_log_.to_numpy().copy()
    return model


@pytest.mark.parametrize("log_se", [4.9, 5.1, 69.0])
def test_a_parameter_with_a_huge_standard_error_counts_as_not_identified(cdnow_bgnbd_copy,
                                                                          log_se):
    """A curvature just above the singular tolerance leaves b a standard error of 69 on
    the log scale (as a fit at the edge can): its draws would overflow the intervals."""
    model = cdnow_bgnbd_copy
    params = model.params_.to_numpy()
    cov = np.diag([0.01, 0.02, 0.03, log_se ** 2])
    cov[0, 1] = cov[1, 0] = 0.005
    loose = log_se > 5.0
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model._set_covariance(np.linalg.inv(cov), params, 2357.0)
    barely = [w for w in record if "barely identify" in str(w.message)]
    assert len(barely) == int(loose)
    if loose:
        assert issubclass(barely[0].category, ConvergenceWarning)
        assert "['b']" in str(barely[0].message) and f"{log_se:.3g}" in str(barely[0].message)
        assert np.isnan(model.cov_log_.loc["b"]).all() and np.isnan(model.cov_log_["b"]).all()
        assert np.isnan(model.standard_errors_["b"])
        # The identified block is kept as it was.
        np.testing.assert_allclose(model.cov_log_.iloc[:3, :3], cov[:3, :3], rtol=1e-9)
        with pytest.warns(ConvergenceWarning, match="ignore their uncertainty"):
            draws = model.sample_parameters(200, random_state=0)
        np.testing.assert_array_equal(draws["b"], model.params_["b"])
    else:
        np.testing.assert_allclose(model.cov_log_.to_numpy(), cov, rtol=1e-9)
        assert np.isfinite(model.standard_errors_).all()
