"""Shifted-beta-geometric model: published values, forecasts, input forms, predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import clvmodels
from clvmodels import DataError, simulate
from clvmodels.models.shifted_beta_geo import ShiftedBetaGeoModel, subscriber_rows

# Fader & Hardie (2007): survivors at the start of years 0-7 (fit) and 8-12 (holdout).
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]


@pytest.mark.parametrize("counts, alpha, beta, ll", [
    (HIGH_END, 0.668, 3.806, -1611.16),
    (REGULAR, 0.704, 1.182, -1680.27),
])
def test_published_parameters_and_forecast(counts, alpha, beta, ll):
    model = ShiftedBetaGeoModel().fit(counts[:8])
    assert model.params_["alpha"] == pytest.approx(alpha, abs=5e-4)
    assert model.params_["beta"] == pytest.approx(beta, abs=5e-4)
    assert model.log_likelihood_ == pytest.approx(ll, abs=5e-3)
    # Forecast of years 8-12 against the published survivors: within 5%
    # (measured: high end -1.7% to -4.1%, regular -1.3% to -1.7%).
    forecast = 1000 * model.survival_curve(range(8, 13))
    error = forecast.to_numpy() / np.array(counts[8:]) - 1
    assert np.all(np.abs(error) < 0.05)
    # The 90% interval of the forecast brackets its mean.
    band = model.survival_curve(range(8, 13), interval=0.9, random_state=0)
    assert (band["lower"] < band["mean"]).all() and (band["mean"] < band["upper"]).all()


def test_log_likelihood_by_hand():
    model = ShiftedBetaGeoModel().fit(REGULAR[:8])
    a, b = model.params_
    n = np.array(REGULAR[:8], float)
    t = np.arange(1, 8)
    ll = ((n[:-1] - n[1:]) * (special.betaln(a + 1, b + t - 1) - special.betaln(a, b))).sum()
    ll += n[-1] * (special.betaln(a, b + 7) - special.betaln(a, b))
    assert model.log_likelihood_ == pytest.approx(ll, rel=1e-10)


def test_counts_and_subscriber_rows_give_the_same_fit():
    counts = np.array(HIGH_END[:8])
    lost = -np.diff(counts)
    t = np.r_[np.repeat(np.arange(1, 8), lost), np.full(counts[-1], 7)]
    churned = np.r_[np.ones(lost.sum()), np.zeros(counts[-1])].astype(bool)
    rows = pd.DataFrame({"t": t, "churned": churned}).sample(frac=1, random_state=1)
    by_rows = ShiftedBetaGeoModel().fit(rows)
    by_counts = ShiftedBetaGeoModel().fit(counts)
    np.testing.assert_allclose(by_rows.params_, by_counts.params_, rtol=1e-6)
    assert by_rows.log_likelihood_ == pytest.approx(by_counts.log_likelihood_, rel=1e-10)
    assert by_rows.n_customers_ == 1000
    assert by_rows.data_fingerprint_ == by_counts.data_fingerprint_


def test_several_cohorts_add_their_likelihoods():
    two = ShiftedBetaGeoModel().fit({"high": HIGH_END[:8], "regular": REGULAR[:5]})
    a, b = two.params_
    one = ShiftedBetaGeoModel().with_parameters({"alpha": a, "beta": b})
    rows = subscriber_rows({"high": HIGH_END[:8], "regular": REGULAR[:5]})
    ll = (rows["weight"] * clvmodels.likelihoods.shifted_beta_geo.loglik(
        rows["t"], rows["churned"], rows["horizon"], a, b)).sum()
    assert two.log_likelihood_ == pytest.approx(ll)
    assert two.n_customers_ == 2000 and one.params_["alpha"] == a
    # A table with NaN for periods not yet observed is the same input.
    table = pd.DataFrame([HIGH_END[:8], REGULAR[:5] + [np.nan] * 3], index=["high", "regular"])
    assert ShiftedBetaGeoModel().fit(table).log_likelihood_ == pytest.approx(ll)


def test_bad_input_is_named():
    with pytest.raises(DataError, match="survivors can only fall") as err:
        ShiftedBetaGeoModel().fit([1000, 900, 950])
    assert err.value.rule == "survivors_increase" and err.value.n_rows == 1
    with pytest.raises(DataError, match="churned") as err:
        ShiftedBetaGeoModel().fit(pd.DataFrame({"t": [1, 2, 0], "churned": [1, 0, 1]}))
    assert err.value.rule == "churned_before_1"
    with pytest.raises(DataError, match="0/1"):
        ShiftedBetaGeoModel().fit(pd.DataFrame({"t": [1, 2], "churned": [1, 2]}))


def test_predictions_against_direct_computation():
    model = ShiftedBetaGeoModel().fit(HIGH_END[:8])
    a, b = model.params_
    S = lambda t: np.prod([(b + j) / (a + b + j) for j in range(int(t))])  # noqa: E731
    curve = model.survival_curve(range(0, 6))
    np.testing.assert_allclose(curve, [S(t) for t in range(6)], rtol=1e-10)
    retention = model.retention_curve(range(1, 6))
    np.testing.assert_allclose(retention, [S(t) / S(t - 1) for t in range(1, 6)], rtol=1e-10)
    assert model.expected_lifetime() == np.inf  # alpha < 1: a heavy tail of loyal subscribers
    assert model.expected_lifetime(10) == pytest.approx(sum(S(t) for t in range(10)))
    d = 0.1
    subs = pd.DataFrame({"t": [0, 4, 3], "churned": [0, 0, 1]})
    derl = model.discounted_expected_residual_lifetime(subs, d)
    direct = [sum(S(t + 1 + k) / S(t) / (1 + d) ** k for k in range(2000)) for t in (0, 4)]
    np.testing.assert_allclose(derl[:2], direct, rtol=1e-8)
    assert derl.iloc[2] == 0
    new = model.customer_lifetime_value(payment=50.0, discount_rate=d)
    assert new == pytest.approx(50 * sum(S(k) / (1 + d) ** k for k in range(2000)), rel=1e-8)
    clv = model.customer_lifetime_value(subs, payment=50.0, discount_rate=d, interval=0.9,
                                        random_state=0)
    assert (clv["lower"][:2] < 50 * derl[:2]).all() and (50 * derl[:2] < clv["upper"][:2]).all()
    alive = model.probability_subscribed(subs, t=2)
    assert alive.tolist()[:2] == pytest.approx([S(2) / S(0), S(6) / S(4)])
    assert alive.iloc[2] == 0
    with pytest.raises(ValueError, match="discount_rate"):
        model.customer_lifetime_value(payment=1.0, discount_rate=0.0)


@settings(max_examples=25, deadline=None)
@given(st.floats(0.05, 20), st.floats(0.05, 20), st.integers(0, 40), st.integers(1, 20))
def test_survival_properties(alpha, beta, t, h):
    model = ShiftedBetaGeoModel().with_parameters({"alpha": alpha, "beta": beta})
    s = model.survival_curve([t, t + h]).to_numpy()
    assert 0 < s[1] <= s[0] <= 1
    r = model.retention_curve([t + 1, t + h + 1]).to_numpy()
    assert 0 < r[0] <= r[1] < 1  # retention rises over time
    p = model.probability_subscribed(pd.DataFrame({"t": [t], "churned": [0]}), t=h).iloc[0]
    assert p == pytest.approx(s[1] / s[0], rel=1e-9)


def test_simulate_and_recover():
    subs = simulate.shifted_beta_geo(20_000, alpha=0.7, beta=1.2, n_periods=np.repeat(
        [12, 8, 4, 2], 5_000), random_state=7)
    assert set(subs["churned"]) == {0, 1} and (subs["t"] <= subs["horizon"]).all()
    model = ShiftedBetaGeoModel().fit(subs)
    ci = model.confidence_intervals(0.99)
    assert (ci["lower"] < [0.7, 1.2]).all() and (ci["upper"] > [0.7, 1.2]).all()
    np.testing.assert_allclose(model.params_, [0.7, 1.2], rtol=0.15)


def test_map_fit_and_save_load(tmp_path):
    mle = ShiftedBetaGeoModel().fit(REGULAR[:8])
    flat = ShiftedBetaGeoModel(method="map", priors="flat").fit(REGULAR[:8])
    np.testing.assert_allclose(flat.params_, mle.params_, rtol=1e-4)
    shrunk = ShiftedBetaGeoModel(method="map").fit(REGULAR[:8])
    np.testing.assert_allclose(shrunk.params_, mle.params_, rtol=0.15)
    path = tmp_path / "sbg.json"
    mle.save(path)
    back = clvmodels.load(path)
    assert isinstance(back, ShiftedBetaGeoModel)
    np.testing.assert_allclose(back.survival_curve(range(5)), mle.survival_curve(range(5)))


@pytest.mark.slow
def test_nuts_posterior_is_near_the_mle():
    mle = ShiftedBetaGeoModel().fit(HIGH_END[:8])
    nuts = ShiftedBetaGeoModel(method="nuts").fit(HIGH_END[:8], draws=500, tune=500,
                                                  random_state=0, progressbar=False)
    np.testing.assert_allclose(nuts.params_, mle.params_, rtol=0.1)
    pp = nuts.posterior_predictive(pd.DataFrame({"t": [7], "churned": [0]}), n_draws=50)
    assert "subscriptions" in pp.posterior_predictive
