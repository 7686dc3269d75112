"""Static covariates (clvmodels.covariates): one_hot, errors, likelihood, predictions,
simulate-and-recover, save/load and comparison."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import BetaGeoModel, DataError, GammaGammaModel, ParetoNBDModel, simulate
from clvmodels.covariates import covariate_spec, one_hot
from clvmodels.inference.mle import make_objective
from clvmodels.likelihoods import beta_geo as bg
from clvmodels.likelihoods import gamma_gamma as gg
from clvmodels.likelihoods import pareto_nbd as pn

BG_TRUE = {"purchase_coef[web]": 0.7, "dropout_coef_a[age]": 0.5,
           "dropout_coef_b[age]": -0.5}


def _covariates(n, seed):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"web": (rng.random(n) < 0.5).astype(float),
                         "age": rng.standard_normal(n)})


@pytest.fixture(scope="module")
def bg_data():
    """4,000 BG/NBD customers with a binary purchase and a normal dropout covariate."""
    n = 4000
    T = np.random.default_rng(11).uniform(20, 60, n)
    return simulate.beta_geo_summary(n, r=0.8, alpha=5.0, a=0.8, b=2.5, T=T, random_state=2,
                                     time_unit="W", covariates=_covariates(n, 1),
                                     coefficients=BG_TRUE)


@pytest.fixture(scope="module")
def bg_fit(bg_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BetaGeoModel(purchase_covariates=["web"], dropout_covariates=["age"]).fit(bg_data)


@pytest.fixture(scope="module")
def bg_plain(bg_data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BetaGeoModel().fit(bg_data)


# ---------------------------------------------------------------------- one_hot
@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["web", "shop", "app"]), min_size=1, max_size=30),
       st.booleans())
def test_one_hot_keeps_every_row_and_encodes_the_level(levels, drop_first):
    frame = pd.DataFrame({"frequency": np.arange(len(levels), dtype=float),
                          "channel": levels}, index=pd.Index(np.arange(len(levels)) * 3 + 1))
    frame.attrs["time_unit"] = "W"
    out = one_hot(frame, "channel", drop_first=drop_first)
    assert out.index.equals(frame.index)
    assert "channel" not in out and out["frequency"].tolist() == frame["frequency"].tolist()
    assert out.attrs == {"time_unit": "W"}
    present = sorted(set(levels))
    kept = present[1:] if drop_first else present
    assert [c for c in out.columns if c.startswith("channel_")] == [f"channel_{v}" for v in kept]
    for level in present:
        rows = frame["channel"] == level
        for other in kept:
            expected = 1.0 if other == level else 0.0
            assert (out.loc[rows, f"channel_{other}"] == expected).all()
    assert frame.columns.tolist() == ["frequency", "channel"]  # the input is not modified


def test_one_hot_refuses_missing_levels_and_columns():
    frame = pd.DataFrame({"channel": ["web", None, "shop", None]})
    with pytest.raises(DataError) as err:
        one_hot(frame, ["channel"])
    assert (err.value.rule, err.value.column, err.value.n_rows) == ("missing_values", "channel", 2)
    with pytest.raises(DataError) as err:
        one_hot(frame, ["region"])
    assert (err.value.rule, err.value.column) == ("missing_columns", "region")


# ---------------------------------------------------------------------- data errors
def test_covariate_errors_name_the_column_rule_and_rows(bg_data, bg_fit):
    model = BetaGeoModel(purchase_covariates=["web"], dropout_covariates=["age"])
    with pytest.raises(DataError) as err:
        model.fit(bg_data.drop(columns="age"))
    assert (err.value.rule, err.value.column) == ("missing_columns", "age")
    bad = bg_data.copy()
    bad.loc[bad.index[:7], "age"] = np.nan
    with pytest.raises(DataError) as err:
        model.fit(bad)
    assert (err.value.rule, err.value.column, err.value.n_rows) == ("not_finite", "age", 7)
    text = bg_data.assign(web=np.where(bg_data["web"] > 0, "yes", "no"))
    with pytest.raises(DataError) as err:
        model.fit(text)
    assert (err.value.rule, err.value.column) == ("not_numeric", "web")
    with pytest.raises(DataError) as err:
        model.fit(bg_data.assign(web=1.0))
    assert (err.value.rule, err.value.column, err.value.n_rows) == (
        "constant_covariate", "web", len(bg_data))
    # Predictions need the covariates too, and their values must be finite.
    with pytest.raises(DataError) as err:
        bg_fit.expected_purchases(bg_data.drop(columns="web"), 10)
    assert (err.value.rule, err.value.column) == ("missing_columns", "web")
    with pytest.raises(DataError) as err:
        bg_fit.probability_alive(bad)
    assert (err.value.rule, err.value.n_rows) == ("not_finite", 7)
    # A constant covariate is fine in a prediction (e.g. one customer).
    one = bg_fit.probability_alive(bg_data.iloc[:1])
    assert one.index.tolist() == [bg_data.index[0]]


# ---------------------------------------------------------------------- likelihood
def _zero_equality(base_spec, names, links_model, data, params, covs):
    groups = links_model._covariate_groups()
    spec = covariate_spec(base_spec, tuple(names), tuple(links_model.covariate_links), groups)
    n_coef = spec.n_params - len(names)
    plain = base_spec.loglik(*data, *params)
    with_cov = spec.loglik(*data, *covs, *params, *np.ones(n_coef))  # exp(0): coefficients 0
    np.testing.assert_array_equal(with_cov, plain)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_likelihood_at_zero_coefficients_is_the_plain_likelihood(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 6, n).astype(float)
    T = rng.uniform(1, 50, n)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    z = [rng.standard_normal(n), (rng.random(n) < 0.5).astype(float)]
    bg_params = list(rng.uniform(0.2, 5, 4))
    _zero_equality(BetaGeoModel.likelihood, ["r", "alpha", "a", "b"],
                   BetaGeoModel(purchase_covariates=["u", "v"], dropout_covariates=["v"]),
                   [x, t_x, T], bg_params, z)
    _zero_equality(ParetoNBDModel.likelihood, ["r", "alpha", "s", "beta"],
                   ParetoNBDModel(purchase_covariates=["u"], dropout_covariates=["u", "v"]),
                   [x, t_x, T], bg_params, z)
    m = rng.uniform(1, 100, n)
    _zero_equality(GammaGammaModel.likelihood, ["p", "q", "v"],
                   GammaGammaModel(spend_covariates=["u", "v"]), [np.maximum(x, 1), m],
                   bg_params[:3], z)


def test_covariate_likelihood_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    n = 50
    x = rng.integers(0, 6, n).astype(float)
    T = rng.uniform(1, 50, n)
    t_x = np.where(x > 0, rng.uniform(0, 1, n) * T, 0.0)
    z = [rng.standard_normal(n), (rng.random(n) < 0.5).astype(float)]
    model = BetaGeoModel(purchase_covariates=["u", "v"], dropout_covariates=["u"])
    spec = model.likelihood
    w = rng.integers(1, 4, n).astype(float)
    theta = np.concatenate([np.log([0.7, 3.0, 0.9, 2.2]), [0.3, -0.4, 0.5, -0.2]])
    analytic = make_objective(spec, [x, t_x, T, *z], w, backend="analytic")
    numeric = make_objective(spec, [x, t_x, T, *z], w, backend="numpy")
    v1, g1 = analytic(theta)
    v2, g2 = numeric(theta)
    assert v1 == pytest.approx(v2, rel=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-6)
    # Gamma-Gamma too.
    ggm = GammaGammaModel(spend_covariates=["u"])
    data = [np.maximum(x, 1), rng.uniform(1, 100, n), z[0]]
    theta = np.array([np.log(4.0), np.log(3.0), np.log(20.0), 0.3])
    va, ga = make_objective(ggm.likelihood, data, w, backend="analytic")(theta)
    vn, gn = make_objective(ggm.likelihood, data, w, backend="numpy")(theta)
    assert va == pytest.approx(vn, rel=1e-12)
    np.testing.assert_allclose(ga, gn, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------- BG/NBD
def test_bg_recovers_known_coefficients(bg_fit):
    assert bg_fit.param_names() == ["r", "alpha", "a", "b", *BG_TRUE]
    assert BetaGeoModel.param_names() == ["r", "alpha", "a", "b"]
    for name, true in BG_TRUE.items():
        est, se = bg_fit.params_[name], bg_fit.standard_errors_[name]
        assert 0 < se < abs(true) / 2
        assert abs(est - true) < 3 * se, (name, est, se)
        assert np.sign(est) == np.sign(true)
    truth = {"r": 0.8, "alpha": 5.0, "a": 0.8, "b": 2.5}
    for name, true in truth.items():
        assert abs(bg_fit.params_[name] - true) < 3 * bg_fit.standard_errors_[name]
    # Coefficients: covariance as they are (no log-scale factor), symmetric intervals.
    cov = bg_fit.cov_.loc["purchase_coef[web]", "purchase_coef[web]"]
    assert cov == pytest.approx(bg_fit.cov_log_.loc["purchase_coef[web]",
                                                     "purchase_coef[web]"], rel=1e-12)
    table = bg_fit.summary(0.9)
    row = table.loc["dropout_coef_b[age]"]
    assert row["lower 90%"] < 0 and (row["upper 90%"] + row["lower 90%"]) / 2 == pytest.approx(
        row["estimate"], rel=1e-9)
    # Parameter draws: coefficients drawn as they are, negative values included.
    draws = bg_fit.sample_parameters(4000, random_state=1)
    assert (draws["dropout_coef_b[age]"] < 0).mean() > 0.95
    assert draws["purchase_coef[web]"].std() == pytest.approx(
        bg_fit.standard_errors_["purchase_coef[web]"], rel=0.1)
    assert bg_fit.fit_status_ == "converged"


def _plain_with(model, params, time_unit="W"):
    return BetaGeoModel().with_parameters(params, time_unit=time_unit)


def test_bg_predictions_use_each_customers_covariates(bg_fit, bg_data):
    """Customers of one covariate profile are predicted as by a plain BG/NBD model
    with that profile's parameters (alpha e^{-g_p web}, a e^{g_a age}, b e^{g_b age})."""
    p = bg_fit.params_
    rows = bg_data.iloc[[0, 1, 2, 3, 5, 8, 13]]
    horizons = [4.0, 26.0]
    ep = bg_fit.expected_purchases(rows, horizons)
    pa = bg_fit.probability_alive(rows)
    later = bg_fit.probability_alive(rows, t=10)
    pmf = bg_fit.conditional_probability_of_purchases(rows, 10, [0, 1, 2])
    per_customer = bg_fit.expected_purchases(rows, pd.Series(8.0, index=rows.index))
    for cid, row in rows.iterrows():
        plain = _plain_with(bg_fit, {
            "r": p["r"], "alpha": p["alpha"] * np.exp(-p["purchase_coef[web]"] * row["web"]),
            "a": p["a"] * np.exp(p["dropout_coef_a[age]"] * row["age"]),
            "b": p["b"] * np.exp(p["dropout_coef_b[age]"] * row["age"])})
        one = rows.loc[[cid]]
        np.testing.assert_allclose(ep.loc[cid].to_numpy(),
                                   plain.expected_purchases(one, horizons).iloc[0].to_numpy(),
                                   rtol=1e-12)
        assert pa[cid] == pytest.approx(plain.probability_alive(one).iloc[0], rel=1e-12)
        assert later[cid] == pytest.approx(plain.probability_alive(one, t=10).iloc[0],
                                           rel=1e-12)
        np.testing.assert_allclose(
            pmf.loc[cid].to_numpy(),
            plain.conditional_probability_of_purchases(one, 10, [0, 1, 2]).iloc[0].to_numpy(),
            rtol=1e-12)
        assert per_customer[cid] == pytest.approx(plain.expected_purchases(one, 8.0).iloc[0],
                                                  rel=1e-12)
    # Two new customers (no history yet) with different covariates differ by about
    # the purchase rate ratio exp(purchase_coef[web]) ~ 2.
    twin = pd.DataFrame({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [0.01, 0.01],
                         "web": [0.0, 1.0], "age": [0.0, 0.0]},
                        index=pd.Index([1, 2], name="customer_id"))
    twin.attrs["time_unit"] = "W"
    values = bg_fit.expected_purchases(twin, 1)
    assert values[2] / values[1] == pytest.approx(np.exp(p["purchase_coef[web]"]), rel=0.05)


def test_bg_intervals_and_grouped_rows_use_the_covariates(bg_fit, bg_data):
    # Many customers share a history when T is whole weeks: grouping must keep
    # customers with different covariates apart.
    s = bg_data.assign(T=np.round(bg_data["T"]), recency=0.0, frequency=0)
    s = pd.concat([s] * 2)
    s.index = pd.Index(np.arange(len(s)), name="customer_id")
    s.attrs = dict(bg_data.attrs)
    point = bg_fit.expected_purchases(s, 10)
    p = bg_fit.params_
    direct = bg_fit.formulas.conditional_expected_purchases(
        10.0, s["frequency"].to_numpy(float), s["recency"].to_numpy(), s["T"].to_numpy(),
        p["r"], p["alpha"] * np.exp(-p["purchase_coef[web]"] * s["web"].to_numpy()),
        p["a"] * np.exp(p["dropout_coef_a[age]"] * s["age"].to_numpy()),
        p["b"] * np.exp(p["dropout_coef_b[age]"] * s["age"].to_numpy()))
    np.testing.assert_allclose(point.to_numpy(), direct, rtol=1e-12)
    ints = bg_fit.expected_purchases(s.iloc[:300], 10, interval=0.9, n_draws=200,
                                     random_state=0)
    assert (ints["lower"] <= point.iloc[:300] * 1.0001).all()
    assert (ints["upper"] >= point.iloc[:300] * 0.9999).all()
    np.testing.assert_allclose(ints["mean"], point.iloc[:300], rtol=0.05)
    alive = bg_fit.probability_alive(bg_data.iloc[:200], interval=0.9, n_draws=200,
                                     random_state=0)
    pa = bg_fit.probability_alive(bg_data.iloc[:200])
    assert ((alive["lower"] <= pa + 1e-12) & (pa <= alive["upper"] + 1e-12)).all()


def test_zero_coefficients_predict_as_the_plain_model(bg_plain, bg_data):
    zero = BetaGeoModel(purchase_covariates=["web"], dropout_covariates=["age"]).with_parameters(
        {**bg_plain.params_, **dict.fromkeys(BG_TRUE, 0.0)}, time_unit="W")
    s = bg_data.iloc[:500]
    pd.testing.assert_series_equal(zero.probability_alive(s), bg_plain.probability_alive(s))
    pd.testing.assert_frame_equal(zero.expected_purchases(s, [5, 10]),
                                  bg_plain.expected_purchases(s, [5, 10]))
    pd.testing.assert_series_equal(zero.probability_alive(s, t=7),
                                   bg_plain.probability_alive(s, t=7))
    pd.testing.assert_frame_equal(zero.conditional_probability_of_purchases(s, 10, [0, 3]),
                                  bg_plain.conditional_probability_of_purchases(s, 10, [0, 3]))
    assert zero.expected_purchases_new_customer(10) == bg_plain.expected_purchases_new_customer(10)
    # The log-likelihood, too.
    data = [bg_data[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T", "web", "age")]
    w = np.ones(len(bg_data))
    theta = zero._to_theta(zero.params_.to_numpy())
    per_row = zero.likelihood.loglik(*data, *np.exp(theta))
    np.testing.assert_array_equal(per_row, BetaGeoModel.likelihood.loglik(
        *data[:3], *bg_plain.params_.to_numpy()))
    with_cov = make_objective(zero.likelihood, data, w, backend="numpy").value(theta)
    plain = make_objective(BetaGeoModel.likelihood, data[:3], w, backend="numpy").value(
        theta[:4])
    assert with_cov == pytest.approx(plain, rel=1e-13)  # summed in another order
    assert -plain == pytest.approx(bg_plain.log_likelihood_, rel=1e-9)


def test_fit_ignores_row_order_and_compression(bg_fit, bg_data):
    shuffled = bg_data.sample(frac=1.0, random_state=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = BetaGeoModel(purchase_covariates=["web"], dropout_covariates=["age"]).fit(shuffled)
    np.testing.assert_allclose(refit.params_, bg_fit.params_, rtol=1e-5, atol=1e-7)
    assert refit.data_fingerprint_ == bg_fit.data_fingerprint_
    # Identical rows (history and covariates) are compressed; distinct covariates are not.
    s = pd.concat([bg_data.iloc[:50]] * 3)
    s.index = pd.Index(np.arange(len(s)), name="customer_id")
    s.attrs = dict(bg_data.attrs)
    model = BetaGeoModel(purchase_covariates=["web"], dropout_covariates=["age"])
    data, cw, *_ = model._data_for_fit(s, None, "W")
    assert len(cw) == 50 and cw.sum() == 150
    data, cw, *_ = model._data_for_fit(s.assign(age=np.arange(150.0)), None, "W")
    assert len(cw) == 150


def test_save_load_round_trip(bg_fit, bg_data, tmp_path):
    path = tmp_path / "bg.json"
    bg_fit.save(path)
    loaded = clvmodels.load(path)
    assert loaded.purchase_covariates == ["web"] and loaded.dropout_covariates == ["age"]
    pd.testing.assert_series_equal(loaded.params_, bg_fit.params_)
    s = bg_data.iloc[:100]
    pd.testing.assert_frame_equal(loaded.expected_purchases(s, [1, 10]),
                                  bg_fit.expected_purchases(s, [1, 10]))
    pd.testing.assert_frame_equal(loaded.summary(), bg_fit.summary())


def test_compare_and_likelihood_ratio_test(bg_fit, bg_plain, bg_data):
    assert bg_fit.data_fingerprint_ == bg_plain.data_fingerprint_
    table = clvmodels.compare({"plain": bg_plain, "covariates": bg_fit})
    assert table.loc["covariates", "log_likelihood"] == bg_fit.log_likelihood_
    lrt = clvmodels.likelihood_ratio_test(bg_plain, bg_fit)
    assert lrt["df"] == 3
    assert lrt["lr_statistic"] == pytest.approx(
        2 * (bg_fit.log_likelihood_ - bg_plain.log_likelihood_))
    assert lrt["p_value"] < 1e-6  # the coefficients are far from zero
    assert bg_fit.nested_in(bg_plain) is None
    # A model with fewer covariates is nested too.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        web_only = BetaGeoModel(purchase_covariates=["web"]).fit(bg_data)
    assert clvmodels.likelihood_ratio_test(web_only, bg_fit)["df"] == 2
    # Other data are refused.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = BetaGeoModel(purchase_covariates=["web"]).fit(bg_data.iloc[:-1])
    with pytest.raises(ValueError, match="not fitted on the same data"):
        clvmodels.compare([other, bg_fit])


def test_clv_uses_the_covariates(bg_fit, bg_data):
    s = bg_data.assign(monetary_value=np.where(bg_data["frequency"] > 0, 20.0, 0.0))
    spend = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    clv = clvmodels.customer_lifetime_value(bg_fit, spend, s.iloc[:200], time_unit="W",
                                            horizon=12, discount_rate=0.0)
    flipped = s.iloc[:200].assign(web=1.0 - s["web"].iloc[:200])
    clv2 = clvmodels.customer_lifetime_value(bg_fit, spend, flipped, time_unit="W",
                                             horizon=12, discount_rate=0.0)
    buys, buys2 = clv["expected_purchases"], clv2["expected_purchases"]
    assert (np.abs(buys2 - buys) > 1e-6 * buys).all()  # every customer changed
    np.testing.assert_allclose(buys2, bg_fit.expected_purchases(flipped, 12), rtol=1e-10)
    ep = bg_fit.expected_purchases(s.iloc[:200], 12)
    np.testing.assert_allclose(clv["expected_purchases"], ep, rtol=1e-10)
    np.testing.assert_allclose(clv["clv"], ep * spend.expected_spend(s.iloc[:200]), rtol=1e-10)
    # Intervals over joint parameter draws (the coefficients' uncertainty included).
    rng = np.random.default_rng(0)
    repeat = s["frequency"] > 0
    s2 = s.assign(monetary_value=np.where(repeat, rng.gamma(5.0, 4.0, len(s)), 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted_spend = GammaGammaModel().fit(s2)
    part = s2.iloc[:100]
    with_interval = clvmodels.customer_lifetime_value(
        bg_fit, fitted_spend, part, time_unit="W", horizon=12, discount_rate=0.0,
        interval=0.9, n_draws=300, random_state=0)
    point = bg_fit.expected_purchases(part, 12) * fitted_spend.expected_spend(part)
    np.testing.assert_allclose(with_interval["clv"], point, rtol=1e-10)
    inside = (with_interval["clv_lower"] <= point) & (point <= with_interval["clv_upper"])
    assert inside.all()
    assert (with_interval["clv_upper"] > with_interval["clv_lower"]).all()


# ---------------------------------------------------------------------- Pareto/NBD
def test_pareto_zero_coefficients_predict_as_the_plain_model():
    s = simulate.pareto_nbd_summary(300, r=0.6, alpha=8.0, s=0.7, beta=12.0, T=30.0,
                                    random_state=5, time_unit="W",
                                    covariates=_covariates(300, 6))
    params = {"r": 0.6, "alpha": 8.0, "s": 0.7, "beta": 12.0}
    plain = ParetoNBDModel().with_parameters(params, time_unit="W")
    zero = ParetoNBDModel(purchase_covariates=["web"], dropout_covariates=["age", "web"]
                          ).with_parameters({**params, "purchase_coef[web]": 0.0,
                                             "dropout_coef[age]": 0.0,
                                             "dropout_coef[web]": 0.0}, time_unit="W")
    pd.testing.assert_series_equal(zero.probability_alive(s), plain.probability_alive(s))
    pd.testing.assert_series_equal(zero.expected_purchases(s, 10),
                                   plain.expected_purchases(s, 10))
    pd.testing.assert_series_equal(clvmodels.dert(zero, s, discount_rate=0.01),
                                   clvmodels.dert(plain, s, discount_rate=0.01))


def test_pareto_recovers_known_coefficients():
    n = 3000
    true = {"purchase_coef[web]": 0.7, "dropout_coef[age]": 0.5}
    T = np.random.default_rng(12).uniform(20, 60, n)
    s = simulate.pareto_nbd_summary(n, r=0.8, alpha=5.0, s=0.8, beta=10.0, T=T,
                                    random_state=3, time_unit="W",
                                    covariates=_covariates(n, 7), coefficients=true)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = ParetoNBDModel(purchase_covariates=["web"], dropout_covariates=["age"]).fit(s)
    for name, value in true.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert abs(est - value) < 3 * se and np.sign(est) == np.sign(value), (name, est, se)
    # Each customer is predicted with their own rates.
    p = model.params_
    row = s.iloc[[4]]
    plain = ParetoNBDModel().with_parameters({
        "r": p["r"], "alpha": p["alpha"] * np.exp(-p["purchase_coef[web]"] * row["web"].iloc[0]),
        "s": p["s"], "beta": p["beta"] * np.exp(-p["dropout_coef[age]"] * row["age"].iloc[0])},
        time_unit="W")
    assert model.expected_purchases(row, 10).iloc[0] == pytest.approx(
        plain.expected_purchases(row, 10).iloc[0], rel=1e-12)


# ---------------------------------------------------------------------- Gamma-Gamma
def test_gamma_gamma_spend_covariates_recover_and_reduce_to_the_plain_model():
    n = 4000
    spend = {"p": 6.0, "q": 4.0, "v": 15.0}
    s = simulate.beta_geo_summary(n, r=2.0, alpha=5.0, a=0.8, b=2.5, T=52.0, random_state=8,
                                  time_unit="W", spend=spend, covariates=_covariates(n, 9),
                                  coefficients={"spend_coef[web]": 0.5,
                                                "spend_coef[age]": -0.2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = GammaGammaModel(spend_covariates=["web", "age"]).fit(s)
    for name, value in {"spend_coef[web]": 0.5, "spend_coef[age]": -0.2}.items():
        est, se = model.params_[name], model.standard_errors_[name]
        assert abs(est - value) < 3 * se and np.sign(est) == np.sign(value), (name, est, se)
    for name, value in spend.items():
        assert abs(model.params_[name] - value) < 3 * model.standard_errors_[name]
    # Each customer's spend uses their own v_i = v exp(coef . x).
    p = model.params_
    row = s[s["frequency"] > 0].iloc[[0]]
    v_i = p["v"] * np.exp(p["spend_coef[web]"] * row["web"].iloc[0]
                          + p["spend_coef[age]"] * row["age"].iloc[0])
    plain = GammaGammaModel().with_parameters({"p": p["p"], "q": p["q"], "v": v_i})
    assert model.expected_spend(row).iloc[0] == pytest.approx(
        plain.expected_spend(row).iloc[0], rel=1e-12)
    # Zero coefficients: the plain model.
    params = {"p": 6.0, "q": 4.0, "v": 15.0}
    zero = GammaGammaModel(spend_covariates=["web", "age"]).with_parameters(
        {**params, "spend_coef[web]": 0.0, "spend_coef[age]": 0.0})
    plain = GammaGammaModel().with_parameters(params)
    pd.testing.assert_series_equal(zero.expected_spend(s), plain.expected_spend(s))
    assert zero.population_mean_spend() == plain.population_mean_spend()


def test_covariate_models_refuse_what_they_do_not_support(bg_data):
    with pytest.raises(ValueError, match="distinct column names"):
        BetaGeoModel(purchase_covariates=["web", "web"]).fit(bg_data)
    with pytest.raises(DataError) as err:
        BetaGeoModel(purchase_covariates=["T"]).fit(bg_data)
    assert err.value.rule == "covariate_is_data_column"


def test_initial_params_need_not_name_the_coefficients(bg_data, bg_fit):
    start = {k: bg_fit.params_[k] for k in ("r", "alpha", "a", "b")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = BetaGeoModel(initial_params=start, purchase_covariates=["web"],
                             dropout_covariates=["age"]).fit(bg_data)
    np.testing.assert_allclose(model.params_, bg_fit.params_, rtol=1e-5, atol=1e-7)


def test_export_scores_every_customer_with_their_covariates(bg_fit, bg_data):
    s = bg_data.iloc[:400].assign(
        monetary_value=np.where(bg_data["frequency"].iloc[:400] > 0, 25.0, 0.0))
    spend = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    table = clvmodels.predict_clv(s, bg_fit, spend, horizon=12, time_unit="W", interval=None)
    assert len(table) == len(s)
    by_id = table.set_index("customer_id") if "customer_id" in table else table
    expected = bg_fit.expected_purchases(s, 12)
    np.testing.assert_allclose(by_id.loc[s.index, "expected_purchases"], expected, rtol=1e-10)
    np.testing.assert_allclose(by_id.loc[s.index, "probability_alive"],
                               bg_fit.probability_alive(s), rtol=1e-12)
    # DERT (remaining lifetime) uses the covariates too: flipping web changes it.
    dert = clvmodels.dert(bg_fit, s, discount_rate=0.01)
    flipped = clvmodels.dert(bg_fit, s.assign(web=1.0 - s["web"]), discount_rate=0.01)
    assert (np.abs(dert - flipped) > 1e-9).all()


def test_export_keeps_customers_with_a_missing_covariate(bg_fit, bg_data):
    s = bg_data.iloc[:50].assign(
        monetary_value=np.where(bg_data["frequency"].iloc[:50] > 0, 25.0, 0.0))
    s.loc[s.index[[3, 7]], "age"] = np.nan
    spend = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    with pytest.warns(clvmodels.exceptions.DataWarning, match="2 of 50 customers"):
        table = clvmodels.predict_clv(s, bg_fit, spend, horizon=12, time_unit="W",
                                      interval=None)
    assert len(table) == 50
    bad = table.set_index("customer_id").loc[s.index[[3, 7]]]
    assert bad["unscored_reason"].tolist() == ["missing or non-numeric age"] * 2
    assert bad["clv"].isna().all()
    good = table.set_index("customer_id").drop(index=s.index[[3, 7]])
    np.testing.assert_allclose(good["expected_purchases"],
                               bg_fit.expected_purchases(s.drop(index=s.index[[3, 7]]), 12),
                               rtol=1e-10)


def test_simulated_rates_follow_the_documented_signs():
    """A positive purchase coefficient raises the purchase rate by exp(coef); a positive
    Pareto/NBD dropout coefficient raises the dropout rate; spend_coef scales the mean
    spend (checked on the latent rates, not through the models' own code)."""
    n = 200_000
    web = np.tile([0.0, 1.0], n // 2)
    cov = pd.DataFrame({"web": web})
    _, latent = simulate.pareto_nbd_summary(
        n, r=2.0, alpha=4.0, s=2.0, beta=8.0, T=10.0, random_state=0, covariates=cov,
        coefficients={"purchase_coef[web]": 0.7, "dropout_coef[web]": -0.4},
        spend={"p": 5.0, "q": 4.0, "v": 10.0}, return_latent=True)
    on, off = web > 0, web == 0
    assert latent["lam"][on].mean() / latent["lam"][off].mean() == pytest.approx(
        np.exp(0.7), rel=0.02)
    assert latent["mu"][on].mean() / latent["mu"][off].mean() == pytest.approx(
        np.exp(-0.4), rel=0.02)
    s, latent = simulate.beta_geo_summary(
        n, r=2.0, alpha=4.0, a=2.0, b=3.0, T=10.0, random_state=1, covariates=cov,
        coefficients={"dropout_coef_a[web]": 0.5, "spend_coef[web]": 0.3},
        spend={"p": 5.0, "q": 4.0, "v": 10.0}, return_latent=True)
    # p ~ Beta(a e^{0.5 web}, b): mean a_i / (a_i + b)
    a_on = 2.0 * np.exp(0.5)
    assert latent["p"][on].mean() == pytest.approx(a_on / (a_on + 3.0), rel=0.01)
    assert latent["p"][off].mean() == pytest.approx(2.0 / 5.0, rel=0.01)
    # mean spend p / nu, nu ~ Gamma(q, rate v_i): p v_i / (q - 1)
    spend_mean = 5.0 / latent["nu"]
    assert spend_mean[on].mean() / spend_mean[off].mean() == pytest.approx(np.exp(0.3),
                                                                           rel=0.03)
    assert s["web"].tolist()[:4] == [0.0, 1.0, 0.0, 1.0]
