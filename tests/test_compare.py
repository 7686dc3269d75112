"""clvmodels.compare and likelihood_ratio_test."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

import clvmodels
from clvmodels.compare import likelihood_ratio_test
from clvmodels.inference.mle import LikelihoodSpec
from clvmodels.likelihoods import beta_geo
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.parametric import Parameter, TransactionModel


def _loglik_a_one(x, t_x, T, r, alpha, b, xp=None):
    kw = {} if xp is None else {"xp": xp}
    return beta_geo.loglik(x, t_x, T, r, alpha, 1.0, b, **kw)


class _BetaGeoAOne(TransactionModel):
    """BG/NBD with a = 1 held fixed: nested in BG/NBD with one restriction."""

    parameters = (Parameter("r"), Parameter("alpha", time_power=1), Parameter("b", start=2.0))
    likelihood = LikelihoodSpec(loglik=_loglik_a_one, n_params=3, n_data=3)
    gradient_backend = "numpy"
    formulas = beta_geo

    def nested_in(self, other):
        return 1 if isinstance(other, BetaGeoModel) else None


@pytest.fixture(scope="module")
def fits(_cdnow_summary_cached):
    s = _cdnow_summary_cached
    return {"bg": BetaGeoModel().fit(s), "mbg": clvmodels.ModifiedBetaGeoModel().fit(s),
            "pareto": clvmodels.ParetoNBDModel().fit(s), "a1": _BetaGeoAOne().fit(s)}


def test_table_equals_hand_computation(fits):
    table = clvmodels.compare([fits["bg"], fits["mbg"], fits["pareto"]])
    assert list(table.index) == ["BetaGeoModel", "ModifiedBetaGeoModel", "ParetoNBDModel"]
    n = 2357
    for label, m in zip(table.index, (fits["bg"], fits["mbg"], fits["pareto"])):
        ll = m.log_likelihood_
        assert table.loc[label, "log_likelihood"] == ll
        assert table.loc[label, "n_params"] == 4
        assert table.loc[label, "aic"] == pytest.approx(8 - 2 * ll, rel=1e-12)
        assert table.loc[label, "bic"] == pytest.approx(4 * np.log(n) - 2 * ll, rel=1e-12)
        assert table.loc[label, "n_customers"] == n
    # the published log-likelihoods: BG/NBD -9582.43, Pareto/NBD -9594.98
    assert table.loc["BetaGeoModel", "aic"] == pytest.approx(8 + 2 * 9582.429, abs=0.01)
    assert table.loc["ParetoNBDModel", "aic"] == pytest.approx(8 + 2 * 9594.976, abs=0.01)
    assert table["delta_aic"].min() == 0.0
    assert table.loc["ParetoNBDModel", "delta_aic"] == pytest.approx(
        table.loc["ParetoNBDModel", "aic"] - table["aic"].min())
    # no pair of these is nested: no test
    assert table["nested_in"].isna().all() and table["p_value"].isna().all()


def test_nested_pair_gets_the_chi_square_test(fits, cdnow_summary):
    table = clvmodels.compare({"a = 1": fits["a1"], "BG/NBD": fits["bg"]})
    ll_r, ll_g = fits["a1"].log_likelihood_, fits["bg"].log_likelihood_
    assert table.loc["a = 1", "nested_in"] == "BG/NBD"
    assert table.loc["a = 1", "df"] == 1
    assert table.loc["a = 1", "lr_statistic"] == pytest.approx(2 * (ll_g - ll_r), rel=1e-12)
    assert table.loc["a = 1", "p_value"] == pytest.approx(
        stats.chi2.sf(2 * (ll_g - ll_r), 1), rel=1e-12)
    assert pd.isna(table.loc["BG/NBD", "nested_in"])
    assert table.loc["a = 1", "n_params"] == 3
    # the restricted log-likelihood is the maximum over (r, alpha, b) with a = 1
    x, tx, T = (cdnow_summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))

    def nll(theta):
        r, alpha, b = np.exp(theta)
        return -float(np.sum(beta_geo.loglik(x, tx, T, r, alpha, 1.0, b)))

    best = optimize.minimize(nll, np.log([0.25, 4.0, 2.0]), method="Nelder-Mead",
                             options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 5000})
    assert ll_r == pytest.approx(-best.fun, abs=1e-4)
    assert ll_r < ll_g
    series = likelihood_ratio_test(fits["a1"], fits["bg"])
    assert series["lr_statistic"] == table.loc["a = 1", "lr_statistic"]
    assert series["p_value"] == table.loc["a = 1", "p_value"]


def test_non_nested_pairs_get_no_test(fits):
    with pytest.raises(ValueError, match="not nested"):
        likelihood_ratio_test(fits["bg"], fits["mbg"])
    with pytest.raises(ValueError, match="not nested"):
        likelihood_ratio_test(fits["bg"], fits["pareto"])
    with pytest.raises(ValueError, match="df=2 but"):
        likelihood_ratio_test(fits["a1"], fits["bg"], df=2)


def test_models_fitted_on_other_data_are_refused(fits, cdnow_summary):
    other = cdnow_summary.iloc[:-1]
    other.attrs = dict(cdnow_summary.attrs)
    with pytest.raises(ValueError, match="2356 customers"):
        clvmodels.compare([fits["bg"], clvmodels.ParetoNBDModel().fit(other)])
    changed = cdnow_summary.copy()
    changed.iloc[0, changed.columns.get_loc("T")] += 1.0
    with pytest.raises(ValueError, match="not fitted on the same data"):
        clvmodels.compare([fits["bg"], BetaGeoModel().fit(changed)])
    with pytest.raises(ValueError, match="spend models only"):
        clvmodels.compare([fits["bg"], clvmodels.GammaGammaModel().fit(cdnow_summary)])
    with pytest.raises(ValueError, match="different time units"):
        clvmodels.compare([fits["bg"], BetaGeoModel().fit(cdnow_summary, time_unit="D")])


def test_penalized_bayesian_and_unfitted_models_are_refused(fits, cdnow_summary):
    with pytest.raises(ValueError, match="penalizer=0.01"):
        clvmodels.compare([fits["bg"], BetaGeoModel(penalizer=0.01).fit(cdnow_summary)])
    bayes = copy.deepcopy(fits["mbg"])
    bayes.method = "nuts"
    with pytest.raises(ValueError, match="Bayesian"):
        clvmodels.compare([fits["bg"], bayes])
    with pytest.raises(clvmodels.NotFittedError):
        clvmodels.compare([fits["bg"], BetaGeoModel()])
    with pytest.raises(ValueError, match="at least one"):
        clvmodels.compare([])


def test_saved_and_loaded_models_compare(fits, tmp_path):
    fits["pareto"].save(tmp_path / "p.json")
    table = clvmodels.compare([fits["bg"], clvmodels.load(tmp_path / "p.json")])
    assert table.loc["ParetoNBDModel", "log_likelihood"] == fits["pareto"].log_likelihood_
    same = clvmodels.compare([fits["bg"], fits["bg"]])
    assert list(same.index) == ["BetaGeoModel", "BetaGeoModel (2)"]


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_row_order_and_compression_do_not_matter(_cdnow_summary_cached, seed):
    s = _cdnow_summary_cached
    shuffled = s.sample(frac=1.0, random_state=np.random.default_rng(seed))
    shuffled.attrs = dict(s.attrs)
    grouped = s[["frequency", "recency", "T"]].value_counts().rename("n").reset_index()
    grouped.attrs = dict(s.attrs)
    table = clvmodels.compare({"rows": BetaGeoModel().fit(s),
                               "shuffled": clvmodels.ParetoNBDModel().fit(shuffled),
                               "grouped": BetaGeoModel().fit(grouped, weights="n")})
    assert table.loc["rows", "log_likelihood"] == pytest.approx(
        table.loc["grouped", "log_likelihood"], rel=1e-9)
