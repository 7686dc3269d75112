"""penalizer=: lifetimes' penalizer_coef on maximum-likelihood fits."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.likelihoods import beta_geo
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel

PENALTIES = (0.1, 0.01, 1e-3, 1e-4, 1e-5)


@pytest.mark.parametrize("penalizer", PENALTIES)
def test_bgnbd_equals_lifetimes_penalized_fit(cdnow_summary, penalizer):
    from lifetimes import BetaGeoFitter

    s = cdnow_summary
    ref = BetaGeoFitter(penalizer_coef=penalizer).fit(s["frequency"], s["recency"], s["T"])
    model = BetaGeoModel(penalizer=penalizer).fit(s)
    np.testing.assert_allclose(model.params_[["r", "alpha", "a", "b"]].to_numpy(),
                               ref.params_[["r", "alpha", "a", "b"]].to_numpy(), rtol=2e-5)


@pytest.mark.parametrize("penalizer", PENALTIES)
def test_gamma_gamma_equals_lifetimes_penalized_fit(cdnow_summary, penalizer):
    from lifetimes import GammaGammaFitter

    repeat = cdnow_summary[cdnow_summary["frequency"] > 0]
    ref = GammaGammaFitter(penalizer_coef=penalizer).fit(repeat["frequency"],
                                                         repeat["monetary_value"])
    with pytest.warns(Warning) if penalizer >= 0.01 else _nothing():  # q <= 1 at 0.1, 0.01
        model = GammaGammaModel(penalizer=penalizer).fit(cdnow_summary)
    np.testing.assert_allclose(model.params_[["p", "q", "v"]].to_numpy(),
                               ref.params_[["p", "q", "v"]].to_numpy(), rtol=2e-5)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_mbgnbd_equals_lifetimes_penalized_fit(cdnow_summary):
    from lifetimes import ModifiedBetaGeoFitter

    s = cdnow_summary
    ref = ModifiedBetaGeoFitter(penalizer_coef=0.01).fit(s["frequency"], s["recency"], s["T"])
    model = ModifiedBetaGeoModel(penalizer=0.01).fit(s)
    np.testing.assert_allclose(model.params_[["r", "alpha", "a", "b"]].to_numpy(),
                               ref.params_[["r", "alpha", "a", "b"]].to_numpy(), rtol=2e-5)


def test_penalty_shrinks_and_log_likelihood_is_unpenalized(cdnow_summary, fitted_bgnbd):
    model = BetaGeoModel(penalizer=0.01).fit(cdnow_summary)
    # the estimate minimises mean NLL + 0.01 * sum((alpha / max T) ** 2, ...): a and b shrink
    assert model.params_["a"] < 0.5 * fitted_bgnbd.params_["a"]
    assert model.params_["b"] < 0.5 * fitted_bgnbd.params_["b"]
    r, alpha, a, b = model.params_[["r", "alpha", "a", "b"]]
    x, tx, T = (cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    ll = float(np.sum(beta_geo.loglik(x, tx, T, r, alpha, a, b)))
    assert model.log_likelihood_ == pytest.approx(ll, rel=1e-10)
    assert model.log_likelihood_ < fitted_bgnbd.log_likelihood_
    # ... and the estimate is the penalised optimum: nearby points score worse
    n, scale = len(x), 1.0 / T.max()

    def objective(p):
        r_, al, a_, b_ = p
        mean_nll = -np.sum(beta_geo.loglik(x, tx, T, r_, al, a_, b_)) / n
        return mean_nll + 0.01 * (r_ ** 2 + (al * scale) ** 2 + a_ ** 2 + b_ ** 2)

    best = objective(model.params_.to_numpy())
    rng = np.random.default_rng(1)
    for _ in range(20):
        assert objective(model.params_.to_numpy() * np.exp(rng.normal(0, 1e-3, 4))) > best


def test_zero_penalizer_is_the_plain_fit(cdnow_summary, fitted_bgnbd):
    model = BetaGeoModel(penalizer=0.0).fit(cdnow_summary)
    np.testing.assert_allclose(model.params_.to_numpy(), fitted_bgnbd.params_.to_numpy(),
                               rtol=1e-9)
    assert "penalizer" not in model.summary().columns


@settings(max_examples=6, deadline=None)
@given(penalizer=st.sampled_from([0.3, 0.03, 3e-3]), unit=st.sampled_from(["D", "M"]))
def test_penalty_does_not_depend_on_the_time_unit(_cdnow_summary_cached, penalizer, unit):
    """Durations enter the penalty in units of the longest T, as in lifetimes."""
    weeks = BetaGeoModel(penalizer=penalizer).fit(_cdnow_summary_cached)
    other = BetaGeoModel(penalizer=penalizer).fit(_cdnow_summary_cached, time_unit=unit)
    factor = 7.0 if unit == "D" else 30.4375 / 7.0
    expected = weeks.params_.copy()
    expected["alpha"] *= factor if unit == "D" else 1 / factor
    np.testing.assert_allclose(other.params_.to_numpy(), expected.to_numpy(), rtol=1e-5)


def test_compressed_rows_give_the_same_penalized_fit(cdnow_summary):
    rows = cdnow_summary[["frequency", "recency", "T"]].round(1)
    rows.attrs = dict(cdnow_summary.attrs)
    grouped = rows.value_counts().rename("n").reset_index()
    grouped.attrs = dict(cdnow_summary.attrs)
    a = BetaGeoModel(penalizer=0.05).fit(rows)
    b = BetaGeoModel(penalizer=0.05).fit(grouped, weights="n")
    np.testing.assert_allclose(a.params_.to_numpy(), b.params_.to_numpy(), rtol=1e-6)


def test_pareto_nbd_penalized_fit_shrinks(cdnow_summary):
    plain = ParetoNBDModel().fit(cdnow_summary)
    model = ParetoNBDModel(penalizer=0.01).fit(cdnow_summary)
    longest = cdnow_summary["T"].max()

    def total(m):  # the penalty: alpha and beta in units of the longest T
        return float(np.sum(m.params_.to_numpy() ** 2 * [1, longest ** -2, 1, longest ** -2]))

    # optimality of both fits: penalty(penalised) <= penalty(plain)
    assert total(model) < total(plain)
    assert model.log_likelihood_ < plain.log_likelihood_


@pytest.mark.parametrize("method", ["nuts", "map", "advi"])
def test_bayesian_fits_refuse_a_penalizer(cdnow_summary, method):
    with pytest.raises(ValueError, match="priors play the role of a penalty"):
        BetaGeoModel(method=method, penalizer=0.1).fit(cdnow_summary)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_invalid_penalizer_is_refused(cdnow_summary, bad):
    with pytest.raises(ValueError, match="penalizer must be"):
        BetaGeoModel(penalizer=bad).fit(cdnow_summary)


def test_penalizer_is_saved_loaded_and_shown(cdnow_summary, tmp_path):
    model = GammaGammaModel(penalizer=1e-3).fit(cdnow_summary)
    table = model.summary()
    assert table["penalizer"].tolist() == [1e-3] * 3
    model.save(tmp_path / "gg.json")
    loaded = clvmodels.load(tmp_path / "gg.json")
    assert loaded.penalizer == 1e-3
    assert loaded.summary()["penalizer"].tolist() == [1e-3] * 3
    pd.testing.assert_series_equal(loaded.params_, model.params_)
    refit = clvmodels.models.base.clone(loaded).fit(cdnow_summary)
    np.testing.assert_allclose(refit.params_.to_numpy(), model.params_.to_numpy(), rtol=1e-9)


@pytest.mark.parametrize("bad", [-1, "x", None])
def test_a_tampered_penalizer_in_a_model_file_is_refused(cdnow_summary, tmp_path, bad):
    BetaGeoModel(penalizer=0.1).fit(cdnow_summary).save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["init_params"]["penalizer"] = bad
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(clvmodels.ModelFileError, match="penalizer"):
        clvmodels.load(tmp_path / "m.json")
