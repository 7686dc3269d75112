"""BG/BB (clvmodels.likelihoods.beta_geo_beta_binom) against independent computations.

Written for the mutation round of the module (tests/mutation/README.md, "Fourth round:
likelihoods_beta_geo_beta_binom"). Each value is checked against a sum over the
customer's latent survival time written out here: a customer alive through opportunity
``m`` and dead at ``m + 1`` has probability E[theta (1 - theta)^m], one alive through
``m`` at least E[(1 - theta)^m]; a given sequence of ``x`` transactions among ``m``
opportunities has probability E[p^x (1 - p)^(m - x)]; both expectations are beta
function ratios over Beta(alpha, beta) and Beta(gamma, delta) (FHS 2010, section 2).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special as sp

from clvmodels.datasets import load_donations
from clvmodels.likelihoods import beta_geo_beta_binom as bgbb

PUBLISHED = (1.2035, 0.7497, 0.6567, 2.7834)  # FHS 2010, the donations data
OTHER = (2.5, 4.0, 1.7, 3.2)

#: (x, t_x, n): no opportunity yet, no repeat, repeats with gaps of 0, 1 and several.
ROWS = [(0, 0, 0), (0, 0, 6), (1, 1, 6), (3, 5, 6), (6, 6, 6), (2, 3, 10), (0, 0, 1),
        (4, 4, 5)]


def _p_moment(a, b, alpha, beta):
    """E[p^a (1 - p)^b], p ~ Beta(alpha, beta)."""
    return float(np.exp(sp.betaln(alpha + a, beta + b) - sp.betaln(alpha, beta)))


def _dies_after(m, gamma, delta):
    """P(alive through opportunity m, dead at m + 1) = E[theta (1 - theta)^m]."""
    return float(np.exp(sp.betaln(gamma + 1.0, delta + m) - sp.betaln(gamma, delta)))


def _alive_through(m, gamma, delta):
    """P(alive through opportunity m) = E[(1 - theta)^m]."""
    return float(np.exp(sp.betaln(gamma, delta + m) - sp.betaln(gamma, delta)))


def _likelihood(x, t_x, n, alpha, beta, gamma, delta):
    """P(a given history): dead after m = t_x .. n - 1 opportunities, or alive through n."""
    total = _p_moment(x, n - x, alpha, beta) * _alive_through(n, gamma, delta)
    for m in range(t_x, n):
        total += _p_moment(x, m - x, alpha, beta) * _dies_after(m, gamma, delta)
    return total


def _arrays(rows):
    x, t_x, n = (np.array([float(r[i]) for r in rows]) for i in range(3))
    return x, t_x, n


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
def test_loglik_is_the_sum_over_the_survival_time(params):
    x, t_x, n = _arrays(ROWS)
    expected = [np.log(_likelihood(*row, *params)) for row in ROWS]
    np.testing.assert_allclose(bgbb.loglik(x, t_x, n, *params), expected, rtol=1e-12)
    for row, value in zip(ROWS, expected):  # one row at a time: a mask of one gap
        one = [np.array([float(v)]) for v in row]
        assert bgbb.loglik(*one, *params)[0] == pytest.approx(value, rel=1e-12)
    # Hand-worked: a customer with no opportunity yet has L = 1; one opportunity without
    # a transaction: alive and not buying, or dead at opportunity 1.
    alpha, beta, gamma, delta = params
    one_miss = (beta / (alpha + beta)) * (delta / (gamma + delta)) + gamma / (gamma + delta)
    assert np.exp(expected[0]) == pytest.approx(1.0, rel=1e-14)
    assert np.exp(expected[6]) == pytest.approx(one_miss, rel=1e-12)


def test_published_log_likelihood_of_the_donations():
    # FHS 2010 report LL = -33,225.6 at their estimates (the 11,104 donors of 1995).
    data = load_donations()
    ll = bgbb.loglik(*(data[c].to_numpy(float) for c in ("frequency", "recency", "n_periods")),
                     *PUBLISHED)
    assert float(np.sum(ll * data["weights"].to_numpy())) == pytest.approx(-33225.6, abs=0.05)


def test_loglik_of_terms_hundreds_of_logs_apart():
    # Every opportunity a transaction, then 500 without: the terms of "dead soon after
    # t_x" and "alive through n" are e^-1000 apart, so exp() of their difference from
    # anything but the largest term overflows.
    x, t_x, n = np.array([5000.0, 2.0]), np.array([5000.0, 3.0]), np.array([5500.0, 10.0])
    terms = [sp.betaln(PUBLISHED[0] + 5000, PUBLISHED[1] + 500) - sp.betaln(*PUBLISHED[:2])
             + sp.betaln(PUBLISHED[2], PUBLISHED[3] + 5500) - sp.betaln(*PUBLISHED[2:])]
    terms += [sp.betaln(PUBLISHED[0] + 5000, PUBLISHED[1] + m - 5000) - sp.betaln(*PUBLISHED[:2])
              + sp.betaln(PUBLISHED[2] + 1.0, PUBLISHED[3] + m) - sp.betaln(*PUBLISHED[2:])
              for m in range(5000, 5500)]
    assert max(terms) - min(terms) > 1000.0
    expected = [sp.logsumexp(terms), np.log(_likelihood(2, 3, 10, *PUBLISHED))]
    got = bgbb.loglik(x, t_x, n, *PUBLISHED)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
def test_loglik_grad_is_the_derivative_of_loglik(params):
    x, t_x, n = _arrays(ROWS)
    values, grads = bgbb.loglik_grad(x, t_x, n, *params)
    np.testing.assert_allclose(values, bgbb.loglik(x, t_x, n, *params), rtol=1e-14)
    assert grads.shape == (4, len(ROWS))
    for j in range(4):
        h = 1e-5 * params[j]
        up, down = list(params), list(params)
        up[j] += h
        down[j] -= h
        numeric = (bgbb.loglik(x, t_x, n, *up) - bgbb.loglik(x, t_x, n, *down)) / (2 * h)
        np.testing.assert_allclose(grads[j], numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(grads[:, 0], 0.0, atol=1e-14)  # no opportunity yet: L = 1


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
@pytest.mark.parametrize("t", [0, 1, 3])
def test_probability_alive_at(params, t):
    x, t_x, n = _arrays(ROWS)
    expected = [_p_moment(xx, nn - xx, *params[:2]) * _alive_through(nn + t, *params[2:])
                / _likelihood(xx, tt, nn, *params) for xx, tt, nn in ROWS]
    np.testing.assert_allclose(bgbb.probability_alive_at(float(t), x, t_x, n, *params),
                               expected, rtol=1e-12)
    if t == 0:
        np.testing.assert_allclose(bgbb.probability_alive(x, t_x, n, *params), expected,
                                   rtol=1e-12)
        # A transaction at the last opportunity: certainly alive then.
        assert expected[4] == pytest.approx(1.0, rel=1e-14)


def test_horizons_must_be_whole_and_not_negative():
    one = np.array([1.0])
    for t in (-1.0, 0.5, [2.0, -3.0], [1.0, 2.5]):
        with pytest.raises(ValueError, match="whole numbers of periods"):
            bgbb.probability_alive_at(t, one, one, one, *PUBLISHED)
    # An infinite horizon is refused too: the sums behind the predictions diverge for
    # gamma < 1 (the published donations fit), and returned NaN.
    for t in (np.inf, -np.inf, np.nan, [1.0, np.inf]):
        for fn, rows in ((bgbb.probability_alive_at, (one, one, one)),
                         (bgbb.conditional_expected_purchases, (one, one, one)),
                         (bgbb.expected_purchases, ())):
            with pytest.raises(ValueError, match="finite whole numbers of periods"):
                fn(t, *rows, *PUBLISHED)
    for fn in (bgbb.conditional_expected_purchases, bgbb.expected_purchases):
        with pytest.raises(ValueError, match="whole numbers"):
            fn(-1.0, *((one, one, one) if fn is bgbb.conditional_expected_purchases else ()),
               *PUBLISHED)
    with pytest.raises(ValueError, match="whole numbers"):
        bgbb.conditional_probability_of_purchases(0.0, 0.5, one, one, one, *PUBLISHED)
    # t = 0 is a horizon: nothing to buy yet.
    assert bgbb.expected_purchases(0.0, *PUBLISHED) == 0.0
    assert bgbb.probability_alive_at(0.0, one, one, one, *PUBLISHED)[0] == 1.0


def _expected_future(t, x, t_x, n, alpha, beta, gamma, delta):
    """E[transactions at n + 1 .. n + t | history]: p at each opportunity alive."""
    joint = sum(_p_moment(x + 1, n - x, alpha, beta) * _alive_through(n + j, gamma, delta)
                for j in range(1, t + 1))
    return joint / _likelihood(x, t_x, n, alpha, beta, gamma, delta)


@pytest.mark.parametrize("gamma", [0.6567, 1.7, 1.0, 1.0 + 5e-4, 1.0 - 5e-4, 1.0 + 2e-3,
                                   1.0 - 2e-3])
@pytest.mark.parametrize("t", [0, 1, 4, 25])
def test_conditional_expected_purchases(gamma, t):
    params = (1.2035, 0.7497, gamma, 2.7834)
    x, t_x, n = _arrays(ROWS)
    expected = [_expected_future(t, *row, *params) for row in ROWS]
    got = bgbb.conditional_expected_purchases(float(t), x, t_x, n, *params)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=0.0)
    new = bgbb.expected_purchases(float(t), *params)
    assert new == pytest.approx(_expected_future(t, 0, 0, 0, *params), rel=1e-10, abs=0.0)
    # New customer, hand-worked: E[p] times the expected opportunities alive.
    alive = sum(_alive_through(j, gamma, 2.7834) for j in range(1, t + 1))
    assert new == pytest.approx(1.2035 / (1.2035 + 0.7497) * alive, rel=1e-10, abs=0.0)


def test_alive_opportunities_at_gamma_one_is_a_digamma_difference():
    # gamma = 1: sum_j B(1, delta + n + j) / B(1, delta) = delta sum_j 1/(delta + n + j).
    for n, t, delta in [(0.0, 3.0, 2.0), (6.0, 10.0, 0.5), (2.0, 1.0, 7.25)]:
        direct = delta * sum(1.0 / (delta + n + j) for j in range(1, int(t) + 1))
        digamma = delta * (sp.digamma(1.0 + delta + n + t) - sp.digamma(1.0 + delta + n))
        got = bgbb._alive_opportunities(n, t, 1.0, delta)
        assert got == pytest.approx(direct, rel=1e-13)
        assert got == pytest.approx(digamma, rel=1e-13)
    # Arrays of horizons across both branches at once.
    gammas = np.array([1.0, 1.0 + 4e-4, 1.5, 0.3])
    got = bgbb._alive_opportunities(np.array([1.0, 2.0, 3.0, 4.0]), np.array([2.0, 5.0, 0.0, 7.0]),
                                    gammas, 1.3)
    want = [sum(_alive_through(n + j, g, 1.3) for j in range(1, t + 1))
            for n, t, g in [(1, 2, 1.0), (2, 5, 1.0 + 4e-4), (3, 0, 1.5), (4, 7, 0.3)]]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def _pmf_future(k, t, x, t_x, n, alpha, beta, gamma, delta):
    """P(k transactions at n + 1 .. n + t | history), summed over the survival time m."""
    joint = 0.0
    if k == 0:  # dead before n: the history as observed, nothing after
        joint += sum(_p_moment(x, m - x, alpha, beta) * _dies_after(m, gamma, delta)
                     for m in range(t_x, n))
    for lived in range(t):  # alive at n + 1 .. n + lived, dead at n + lived + 1
        if k <= lived:
            joint += (sp.comb(lived, k) * _p_moment(x + k, n + lived - x - k, alpha, beta)
                      * _dies_after(n + lived, gamma, delta))
    if k <= t:  # alive through n + t
        joint += (sp.comb(t, k) * _p_moment(x + k, n + t - x - k, alpha, beta)
                  * _alive_through(n + t, gamma, delta))
    return joint / _likelihood(x, t_x, n, alpha, beta, gamma, delta)


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
@pytest.mark.parametrize("t", [0, 1, 2, 5])
def test_conditional_probability_of_purchases(params, t):
    x, t_x, n = _arrays(ROWS)
    for k in range(t + 2):  # k = t + 1 is impossible
        expected = [_pmf_future(k, t, *row, *params) for row in ROWS]
        got = bgbb.conditional_probability_of_purchases(float(k), float(t), x, t_x, n, *params)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-300)
    assert expected == [0.0] * len(ROWS)


def test_conditional_probability_of_purchases_broadcasts_k_and_t():
    # One customer, a column of counts against a row of horizons: each horizon has
    # its own loop bound (lived < t) though the loop runs to the largest.
    params, row = OTHER, (2, 3, 10)
    k = np.arange(5.0)[:, None]
    t = np.array([0.0, 1.0, 3.0, 4.0])[None, :]
    one = [np.array([float(v)]) for v in row]
    got = bgbb.conditional_probability_of_purchases(k, t, *one, *params)
    want = [[_pmf_future(kk, tt, *row, *params) for tt in (0, 1, 3, 4)] for kk in range(5)]
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-300)


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
def test_probability_of_purchases_of_a_new_customer(params):
    # FHS eq. 7: dead after i = x .. n - 1 opportunities with x transactions among them,
    # or alive through all n.
    alpha, beta, gamma, delta = params
    for n in (0, 1, 3, 6):
        for x in range(n + 2):
            want = 0.0
            if x <= n:
                want = sp.comb(n, x) * _p_moment(x, n - x, alpha, beta) * _alive_through(
                    n, gamma, delta)
                want += sum(sp.comb(i, x) * _p_moment(x, i - x, alpha, beta)
                            * _dies_after(i, gamma, delta) for i in range(x, n))
            got = bgbb.probability_of_purchases(float(x), float(n), *params)
            assert np.shape(got) == (1,)
            assert got[0] == pytest.approx(want, rel=1e-11, abs=1e-300)


@pytest.mark.parametrize("params", [PUBLISHED, OTHER])
@pytest.mark.parametrize("d", [0.1, 0.35])
def test_dert_is_the_discounted_sum_over_future_opportunities(params, d):
    x, t_x, n = _arrays(ROWS)
    expected = []
    for xx, tt, nn in ROWS:
        terms = [_p_moment(xx + 1, nn - xx, *params[:2]) * _alive_through(nn + j, *params[2:])
                 / (1.0 + d) ** j for j in range(1, 600)]
        expected.append(sum(terms) / _likelihood(xx, tt, nn, *params))
    got = bgbb.discounted_expected_residual_transactions(d, x, t_x, n, *params)
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_random_draws_the_histories_with_their_probabilities():
    # 60,000 customers with 3 opportunities; each (x, t_x) has probability
    # C(t_x - 1, x - 1) L(x, t_x, 3) (the sequences with the last transaction at t_x).
    size, n = 60_000, 3
    draws = bgbb.random(*PUBLISHED, n, rng=np.random.default_rng(11), size=size)
    assert draws.shape == (size, 2)
    x, t_x = draws[..., 0], draws[..., 1]
    histories = [(0, 0)] + [(xx, tt) for tt in range(1, n + 1) for xx in range(1, tt + 1)]
    total = 0.0
    for xx, tt in histories:
        prob = (sp.comb(tt - 1, xx - 1) if xx else 1.0) * _likelihood(xx, tt, n, *PUBLISHED)
        total += prob
        share = np.mean((x == xx) & (t_x == tt))
        assert abs(share - prob) < 4.5 * np.sqrt(prob * (1 - prob) / size), (xx, tt)
    assert total == pytest.approx(1.0, rel=1e-12)
    assert np.all((x <= t_x) & (t_x <= n) & ((x == 0) == (t_x == 0)))


def test_random_extremes_and_per_customer_opportunities():
    rng = np.random.default_rng(5)
    # p near 1 and theta near 0: a transaction at every opportunity, each its own n.
    n_periods = np.array([0.0, 1.0, 4.0, 7.0])
    draws = bgbb.random(1e4, 1e-3, 1e-3, 1e4, n_periods, rng=rng)
    assert draws.shape == (4, 2)
    np.testing.assert_array_equal(draws[:, 0], n_periods)
    np.testing.assert_array_equal(draws[:, 1], n_periods)
    # theta near 1: dead at the first opportunity, nothing bought.
    draws = bgbb.random(1e4, 1e-3, 1e4, 1e-3, 5.0, rng=rng, size=50)
    assert draws.shape == (50, 2)
    assert np.all(draws == 0.0)
    # A weight is accepted and ignored; the same seed gives the same draws.
    a = bgbb.random(*PUBLISHED, 6.0, weight=3.0, rng=7, size=(2, 3))
    b = bgbb.random(*PUBLISHED, 6.0, rng=7, size=(2, 3))
    assert a.shape == (2, 3, 2)
    np.testing.assert_array_equal(a, b)


def test_family_declares_the_observed_columns_and_the_design():
    family = bgbb.FAMILY
    assert family.name == "purchases"
    assert family.observed == ("frequency", "recency")
    assert family.design == ("n_periods",)
    assert family.random is bgbb.random
    assert family.jax is True


def test_loglik_shifts_each_row_by_its_own_largest_term():
    # A customer with L = 1 next to one with L ~ e^-3500 (2,500 transactions among 5,000
    # opportunities, then 10 without): shifted by the largest term of the whole batch,
    # every term of the second row would underflow to 0 and its log-likelihood to -inf.
    alpha, beta, gamma, delta = PUBLISHED
    x, t_x, n = np.array([0.0, 2500.0]), np.array([0.0, 5000.0]), np.array([0.0, 5010.0])
    m = np.arange(5000, 5010)
    terms = np.concatenate([
        [sp.betaln(alpha + 2500, beta + 2510) + sp.betaln(gamma, delta + 5010)],
        sp.betaln(alpha + 2500, beta + m - 2500) + sp.betaln(gamma + 1.0, delta + m)])
    expected = sp.logsumexp(terms) - sp.betaln(alpha, beta) - sp.betaln(gamma, delta)
    assert expected < -3000.0
    np.testing.assert_allclose(bgbb.loglik(x, t_x, n, *PUBLISHED), [0.0, expected],
                               rtol=1e-12, atol=1e-14)


def test_purchase_probabilities_of_no_horizon_at_all():
    # An empty array of horizons gives an empty array (the loop over the opportunities
    # lived does not run).
    one = np.array([1.0])
    got = bgbb.conditional_probability_of_purchases(0.0, np.array([]), one, one, one,
                                                    *PUBLISHED)
    assert got.shape == (0,)


@pytest.mark.parametrize("which", range(5))
def test_random_broadcasts_every_parameter_without_size(which):
    # Each of alpha, beta, gamma, delta, n_periods in turn an array of three values, the
    # others scalars: three customers, each drawn with its own value.
    args = [*PUBLISHED, 4.0]
    values = np.array([0.5, 1.0, 2.0]) * args[which]
    if which == 4:
        values = np.array([0.0, 2.0, 4.0])
    args[which] = values
    draws = bgbb.random(*args, rng=3)
    assert draws.shape == (3, 2)
    np.testing.assert_array_equal(
        draws, bgbb.random(*(np.broadcast_to(a, (3,)) for a in args), rng=3))
    if which == 4:
        assert np.all(draws[:, 1] <= values) and draws[0, 0] == 0.0


def test_random_of_no_customer():
    assert bgbb.random(*PUBLISHED, 5.0, rng=1, size=0).shape == (0, 2)
    assert bgbb.random(*PUBLISHED, np.array([]), rng=1).shape == (0, 2)


def test_the_unused_branch_overflows_silently():
    # gamma = delta = 1e-4: the near-1 branch, computed for every gamma and then left
    # out, overflows in expm1 (z ~ 800); no warning reaches the caller and the value is
    # the explicit sum.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = bgbb._alive_opportunities(0.0, 3.0, 1e-4, 1e-4)
        new = bgbb.expected_purchases(3.0, 1.0, 1.0, 1e-4, 1e-4)
    want = sum(_alive_through(j, 1e-4, 1e-4) for j in range(1, 4))
    assert got == pytest.approx(want, rel=1e-10)
    assert new == pytest.approx(0.5 * want, rel=1e-10)
