"""DERT and the remaining-lifetime CLV (horizon=None)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from typer.testing import CliRunner

import clvmodels
from clvmodels.cli import app
from clvmodels.dert import dert, lifetime_rule
from clvmodels.likelihoods import pareto_nbd

DAYS = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


@pytest.fixture(scope="module")
def models(_cdnow_summary_cached):
    s = _cdnow_summary_cached
    return {"bg": clvmodels.BetaGeoModel().fit(s),
            "mbg": clvmodels.ModifiedBetaGeoModel().fit(s),
            "pareto": clvmodels.ParetoNBDModel().fit(s),
            "gg": clvmodels.GammaGammaModel().fit(s)}


@pytest.fixture(scope="module")
def few(_cdnow_summary_cached):
    """Every 25th CDNOW customer (95, with and without repeat purchases)."""
    part = _cdnow_summary_cached.iloc[::25].copy()
    part.attrs = dict(_cdnow_summary_cached.attrs)
    return part


def _clv(models, name, summary, horizon, unit, rate, **kw):
    return clvmodels.customer_lifetime_value(models[name], models["gg"], summary, horizon, unit,
                                             discount_rate=rate, discount_period="Y", **kw)


@pytest.mark.parametrize("name", ["bg", "mbg", "pareto"])
@pytest.mark.parametrize("unit, rate, steps", [("Y", 0.15, 320), ("M", 0.5, 1400),
                                               ("W", 2.0, 3200)])
def test_lifetime_equals_a_very_long_horizon(models, few, name, unit, rate, steps):
    """horizon=None is the limit of the finite-horizon CLV (its tail is below 1e-17)."""
    life = _clv(models, name, few, None, unit, rate)
    long = _clv(models, name, few, steps, unit, rate)
    np.testing.assert_allclose(life["clv"], long["clv"], rtol=1e-8)
    np.testing.assert_allclose(life["dert"] * life["expected_spend"], life["clv"], rtol=1e-12)
    assert list(life.columns) == ["dert", "expected_spend", "clv"]


@settings(max_examples=8, deadline=None)
@given(name=st.sampled_from(["bg", "pareto"]), rate=st.floats(0.02, 3.0),
       unit=st.sampled_from(["W", "M", "Y"]), h=st.integers(1, 60))
def test_finite_horizons_grow_towards_the_lifetime(models, few, name, rate, unit, h):
    life = _clv(models, name, few, None, unit, rate)["clv"].to_numpy()
    short = _clv(models, name, few, h, unit, rate)["clv"].to_numpy()
    longer = _clv(models, name, few, 2 * h, unit, rate)["clv"].to_numpy()
    assert np.all(short <= longer * (1 + 1e-12))
    assert np.all(longer <= life * (1 + 1e-8))  # 1e-8: the lifetime rule's accuracy
    # the part beyond 2h steps is at most q^(2h) of the lifetime value for these
    # customers, whose expected purchases per step do not grow
    q = (1 + rate) ** (-DAYS[unit] / DAYS["Y"])
    assert np.all(life - longer <= (q ** (2 * h) + 1e-8) * life)


def test_lifetime_rule_equals_the_plain_sum_for_a_smooth_function():
    """The Euler-Maclaurin tail on E(k) = 1 - (1 + k / 40) ** -0.7 (a Pareto-like curve)."""
    for q in (0.999, 0.99, 0.9, 0.5):
        k, w = lifetime_rule(q)
        E = 1 - (1 + k / 40) ** -0.7
        n = np.arange(1, 200_000, dtype=float)
        plain = (1 - q) * np.sum(q ** n * (1 - (1 + n / 40) ** -0.7))
        assert float(w @ E) == pytest.approx(plain, rel=1e-8)
        assert len(k) < 200  # far fewer evaluations than steps


@pytest.mark.parametrize("rate", [0.05, 0.15, 1.0])
def test_pareto_nbd_closed_form_equals_numerical_integration(models, few, rate):
    m = models["pareto"]
    delta = np.log1p(rate) / (DAYS["Y"] / DAYS["W"])  # per week
    closed = dert(m, few, rate, discount_period="Y")
    r, alpha, s, beta = m._params_tuple()
    x, t_x, T = (few[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    for i in range(0, len(few), 7):
        # delta * int exp(-delta t) E(t) dt, with the model's own expected purchases
        def f(t):
            return delta * np.exp(-delta * t) * float(m.formulas.conditional_expected_purchases(
                t, x[i], t_x[i], T[i], r, alpha, s, beta))

        by_parts = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-10, limit=400)[0]
        # alive: rate (r + x) / (alpha + T) while alive, alive at t with prob.
        # ((beta + T) / (beta + T + t)) ** s
        alive = pareto_nbd.probability_alive(x[i], t_x[i], T[i], r, alpha, s, beta)
        survival = integrate.quad(lambda t: np.exp(-delta * t) * ((beta + T[i])
                                  / (beta + T[i] + t)) ** s, 0, np.inf, epsabs=0,
                                  epsrel=1e-11, limit=400)[0]
        direct = alive * (r + x[i]) / (alpha + T[i]) * survival
        assert closed.iloc[i] == pytest.approx(by_parts, rel=1e-7)
        assert closed.iloc[i] == pytest.approx(direct, rel=1e-9)


@pytest.mark.parametrize("name", ["bg", "mbg"])
def test_continuous_dert_equals_numerical_integration(models, few, name):
    m = models[name]
    delta = np.log1p(0.15) / (DAYS["Y"] / DAYS["W"])
    value = dert(m, few, 0.15, discount_period="Y")
    x, t_x, T = (few[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    for i in range(0, len(few), 9):
        def f(t):
            return delta * np.exp(-delta * t) * float(m.formulas.conditional_expected_purchases(
                t, x[i], t_x[i], T[i], *m._params_tuple()))

        ref = integrate.quad(f, 0, np.inf, epsabs=0, epsrel=1e-10, limit=400)[0]
        assert value.iloc[i] == pytest.approx(ref, rel=1e-7)


@pytest.mark.parametrize("name", ["bg", "pareto"])
def test_steps_shrink_to_continuous_discounting(models, few, name):
    m = models[name]
    continuous = dert(m, few, 0.15, discount_period="Y").to_numpy()
    daily = dert(m, few, 0.15, time_unit="D", discount_period="Y").to_numpy()
    yearly = dert(m, few, 0.15, time_unit="Y", discount_period="Y").to_numpy()
    # a day's purchases discounted at its end: (1 - e^-dD) / (dD) ~ 1 - 1.9e-4
    np.testing.assert_allclose(daily, continuous, rtol=4e-4)
    assert np.all(daily < continuous)
    assert np.all(yearly < daily)
    # yearly steps: about the mean discount over a year, (1 - 1/1.15) / ln(1.15) = 0.933
    np.testing.assert_allclose(yearly / continuous, 0.933, atol=0.02)


def test_clv_lifetime_is_margin_spend_dert(models, few):
    life = clvmodels.customer_lifetime_value(models["mbg"], models["gg"], few, None, "M",
                                             discount_rate=0.01, margin=0.3)
    d = dert(models["mbg"], few, 0.01, time_unit="M")
    spend = models["gg"].expected_spend(few)
    np.testing.assert_allclose(life["dert"], d, rtol=1e-12)
    np.testing.assert_allclose(life["clv"], 0.3 * spend * d, rtol=1e-12)


def test_lifetime_interval_brackets_the_estimate(models, few):
    out = _clv(models, "pareto", few, None, "M", 0.15, interval=0.9, n_draws=100,
               random_state=3)
    plain = _clv(models, "pareto", few, None, "M", 0.15)
    np.testing.assert_allclose(out["clv"], plain["clv"], rtol=1e-12)
    assert (out["clv_lower"] <= out["clv"]).all() and (out["clv"] <= out["clv_upper"]).all()
    assert (out["clv_upper"] > out["clv_lower"]).all()


@pytest.mark.parametrize("kwargs, match", [
    ({"discount_rate": 0.0}, "discount_rate > 0"),
    ({"discount_rate": 0.1, "cash_flows": True}, "finite horizon"),
    ({"discount_rate": 0.1, "interval": 0.9, "interval_kind": "predictive"}, "finite horizon"),
])
def test_lifetime_refusals(models, few, kwargs, match):
    with pytest.raises(ValueError, match=match):
        clvmodels.customer_lifetime_value(models["bg"], models["gg"], few, None, "M", **kwargs)
    with pytest.raises(ValueError, match="discount_rate > 0"):
        dert(models["bg"], few, 0.0)


@pytest.mark.parametrize("horizon", [0, -1, 2.5, float("inf"), True])
def test_bad_horizons_are_refused(models, few, horizon):
    with pytest.raises(ValueError, match="horizon must be"):
        clvmodels.customer_lifetime_value(models["bg"], models["gg"], few, horizon, "M",
                                          discount_rate=0.1)


def test_export_with_lifetime_horizon(models, few, tmp_path):
    table = clvmodels.predict_clv(few, models["pareto"], models["gg"], horizon=None,
                                  time_unit="W", discount_rate=0.1, discount_period="Y",
                                  interval=None)
    ref = _clv(models, "pareto", few, None, "W", 0.1)
    assert "expected_purchases" not in table.columns and (table["horizon"] == 0).all()
    np.testing.assert_allclose(table.set_index("customer_id").loc[few.index, "dert"],
                               ref["dert"], rtol=1e-12)
    np.testing.assert_allclose(table.set_index("customer_id").loc[few.index, "clv"],
                               ref["clv"], rtol=1e-12)
    path = clvmodels.predict_clv(few, models["pareto"], models["gg"], horizon=None,
                                 time_unit="W", discount_rate=0.1, discount_period="Y",
                                 interval=None, path=tmp_path / "clv.parquet")
    back = pd.read_parquet(path)
    np.testing.assert_allclose(back["clv"], table["clv"], rtol=1e-12)


def test_cli_predict_horizon_zero_is_the_lifetime(tmp_path):
    runner = CliRunner()
    done = runner.invoke(app, ["fit", "cdnow:sample", "-o", str(tmp_path / "m"),
                                             "--model", "pareto_nbd"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, [
        "predict", "cdnow:sample", "--models", str(tmp_path / "m"), "-o",
        str(tmp_path / "clv.csv"), "--horizon", "0", "--discount-rate", "0.1",
        "--interval", "0"])
    assert done.exit_code == 0, done.output
    out = pd.read_csv(tmp_path / "clv.csv").set_index("customer_id")
    assert (out["horizon"] == 0).all() and "dert" in out.columns
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    purchases = clvmodels.load(tmp_path / "m" / "purchases.json")
    spend = clvmodels.load(tmp_path / "m" / "spend.json")
    ref = clvmodels.customer_lifetime_value(purchases, spend, summary, None, "W",
                                            discount_rate=0.1, discount_period="Y")
    np.testing.assert_allclose(out.loc[summary.index, "clv"], ref["clv"], rtol=1e-9)


@pytest.mark.parametrize("name", ["bg", "pareto"])
def test_posterior_dert_is_the_mean_over_draws(models, few, name):
    """A NUTS/ADVI fit's DERT is the posterior mean of the draws' DERT."""
    import copy

    import arviz as az

    m = models[name]
    draws = m.sample_parameters(6, random_state=5).to_numpy()
    bayes = copy.deepcopy(m)
    bayes.idata_ = az.from_dict(posterior={n: draws[None, :, i]
                                           for i, n in enumerate(m.param_names())})
    for unit in (None, "M"):
        mean = dert(bayes, few, 0.15, time_unit=unit, discount_period="Y")
        each = [dert(m.with_parameters(dict(zip(m.param_names(), row))), few, 0.15,
                     time_unit=unit, discount_period="Y") for row in draws]
        np.testing.assert_allclose(mean, np.mean(each, axis=0), rtol=1e-10)
        assert not np.allclose(mean, dert(m, few, 0.15, time_unit=unit, discount_period="Y"))
