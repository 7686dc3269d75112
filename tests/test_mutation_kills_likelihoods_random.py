"""The shared pieces of the models' random generators (``likelihoods/_random.py``).

``_purchases_until`` is the purchase process of BG/NBD and MBG/NBD customers
(``random`` of both modules; the Bayesian engine's prior and posterior predictive
draws come from it), ``_shape`` and ``_bcast`` turn every generator's ``size`` and
parameters into arrays of one shape. The tests check them against the exact law of
the process they simulate and against what every generator promises: the draws
of a parameter do not depend on how its number is stored. See
tests/mutation/README.md, "Fifth round: likelihoods_random and likelihoods_pareto_op".
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clvmodels.likelihoods import (
    beta_geo,
    beta_geo_beta_binom,
    gamma_gamma,
    gamma_gamma_individual,
    modified_beta_geo,
    pareto_nbd,
    shifted_beta_geo,
)
from clvmodels.likelihoods._random import _bcast, _purchases_until, _shape, scalar_draws

# ------------------------------------------------------------ _purchases_until


def _mean_count(mean, k):
    """E[min(M, k)] for M ~ Poisson(mean): sum over j < k of P(M > j)."""
    return float(sum(stats.poisson.sf(j, mean) for j in range(k)))


def test_purchase_counts_follow_the_capped_poisson_law():
    # x = min(M, k) with M ~ Poisson(lam T): P(x = j) is the Poisson pmf below k and
    # the Poisson tail P(M >= k) at k. Each cell within 4.5 standard errors.
    n, k = 200_000, 4
    rng = np.random.default_rng(2024)
    lam, T = np.full(n, 0.5), np.full(n, 6.0)  # lam T = 3
    x, t_x = _purchases_until(rng, lam, T, np.full(n, k))
    want = [*stats.poisson.pmf(np.arange(k), 3.0), stats.poisson.sf(k - 1, 3.0)]
    got = np.bincount(x, minlength=k + 1) / n
    assert got.size == k + 1  # never more than k purchases
    se = np.sqrt(np.asarray(want) * (1 - np.asarray(want)) / n)
    np.testing.assert_array_less(np.abs(got - want), 4.5 * se)
    # the mean against the closed form
    assert abs(x.mean() - _mean_count(3.0, k)) < 4.5 * x.std() / np.sqrt(n)
    # no purchase: recency 0; else a time in (0, T]
    assert np.all(t_x[x == 0] == 0.0)
    assert np.all((t_x[x > 0] > 0.0) & (t_x[x > 0] <= T[x > 0]))


def test_the_last_purchase_time_follows_the_order_statistics():
    # Below the cap (x = M < k) the last purchase is the largest of x uniform times:
    # t_x / T ~ Beta(x, 1), P(t_x / T <= u) = u^x. At the cap (x = k <= M) it is the
    # k-th of M sorted uniforms, Beta(k, M - k + 1), whose mean is k / (M + 1):
    # E[t_x / T | x = k] = E[k / (M + 1) | M >= k], summed over the Poisson law.
    n, k, mean = 200_000, 3, 4.0
    rng = np.random.default_rng(7)
    T = rng.uniform(1.0, 50.0, n)
    x, t_x = _purchases_until(rng, mean / T, T, np.full(n, k))
    u = t_x / T
    for j in (1, 2):
        sel = u[x == j]
        assert stats.kstest(sel, lambda v, j=j: v ** j).pvalue > 1e-4
    at_cap = u[x == k]
    m = np.arange(k, 400)
    w = stats.poisson.pmf(m, mean)
    want = float(np.sum(w * k / (m + 1)) / np.sum(w))
    assert abs(at_cap.mean() - want) < 4.5 * at_cap.std() / np.sqrt(at_cap.size)
    # the second moment too: E[B^2] = k (k + 1) / ((M + 1)(M + 2))
    want2 = float(np.sum(w * k * (k + 1) / ((m + 1) * (m + 2))) / np.sum(w))
    assert abs(np.mean(at_cap ** 2) - want2) < 4.5 * np.std(at_cap ** 2) / np.sqrt(at_cap.size)


def test_per_customer_rates_ages_and_caps():
    # Each customer's own rate, age and cap: three groups in one call, each against
    # its own closed-form mean.
    n = 60_000
    rng = np.random.default_rng(3)
    lam = np.repeat([0.1, 2.0, 1.0], n)
    T = np.repeat([10.0, 1.0, 30.0], n)
    k = np.repeat([5, 1, 12], n)
    x, t_x = _purchases_until(rng, lam, T, k)
    for g, (mean, cap) in enumerate(((1.0, 5), (2.0, 1), (30.0, 12))):
        xs = x[g * n:(g + 1) * n]
        assert xs.max() <= cap
        assert abs(xs.mean() - _mean_count(mean, cap)) < 4.5 * xs.std() / np.sqrt(n) + 1e-12
        assert np.all(t_x[g * n:(g + 1) * n] <= T[g * n])


def test_no_purchase_without_a_cap_a_rate_or_an_age():
    rng = np.random.default_rng(0)
    n = 1000
    for lam, T, k in ((np.full(n, 3.0), np.full(n, 5.0), np.zeros(n, dtype=int)),
                      (np.zeros(n), np.full(n, 5.0), np.full(n, 10)),
                      (np.full(n, 1e300), np.zeros(n), np.full(n, 10))):
        x, t_x = _purchases_until(rng, lam, T, k)
        np.testing.assert_array_equal(x, 0)
        np.testing.assert_array_equal(t_x, 0.0)
        assert t_x.dtype == np.float64


def test_an_enormous_expected_count_buys_up_to_the_cap():
    # numpy's Poisson sampler refuses means beyond about 9e18; the count is capped at
    # 1e12 events, which every customer with a cap below it reaches anyway. The k-th
    # of about 1e12 uniform times is then close to the start of the window.
    rng = np.random.default_rng(1)
    lam = np.array([1e10, 1e20, 1e300, np.inf, 5e11])
    T = np.array([1e3, 1.0, 1.0, 2.0, 2.0])
    k = np.array([3, 7, 1, 2, 1_000])
    x, t_x = _purchases_until(rng, lam, T, k)
    np.testing.assert_array_equal(x, k)
    assert np.all(np.isfinite(t_x)) and np.all(t_x > 0.0)
    assert np.all(t_x / T < 1e-6)


def test_shapes_are_kept():
    rng = np.random.default_rng(5)
    lam = np.full((3, 4), 2.0)
    T = np.arange(1.0, 13.0).reshape(3, 4)
    x, t_x = _purchases_until(rng, lam, T, np.full((3, 4), 2))
    assert x.shape == t_x.shape == (3, 4)
    assert np.all(t_x <= T)
    x0, t0 = _purchases_until(rng, np.zeros(0), np.zeros(0), np.zeros(0, dtype=int))
    assert x0.shape == t0.shape == (0,)


# ------------------------------------------------------------ _shape and _bcast

@pytest.mark.parametrize("size, want", [
    (5, (5,)), (np.int64(5), (5,)), (np.array(5), (5,)), (5.0, (5,)), (0, (0,)),
    ((2, 3), (2, 3)), ([2, 3], (2, 3)), (np.array([4, 1]), (4, 1)), ((7,), (7,)),
])
def test_size_is_the_shape_of_the_draws(size, want):
    shape = _shape(size, np.ones(9), 2.0)
    assert shape == want
    assert all(isinstance(d, (int, np.integer)) for d in shape)


def test_without_size_the_parameters_broadcast():
    assert _shape(None, 1.0, np.ones(3), np.ones((2, 1))) == (2, 3)
    assert _shape(None, 1.0, 2.0) == ()
    assert _shape(None, [1.0, 2.0], np.ones((4, 1))) == (4, 2)
    with pytest.raises(ValueError):
        _shape(None, np.ones(3), np.ones(4))


def test_bcast_gives_float_arrays_of_the_shape():
    a, b, c = _bcast((2, 3), 2, np.array([1, 2, 3]), np.array([[1.5], [2.5]], dtype=np.float32))
    for v in (a, b, c):
        assert v.shape == (2, 3) and v.dtype == np.float64
    np.testing.assert_array_equal(b, [[1.0, 2.0, 3.0]] * 2)
    np.testing.assert_array_equal(c, [[1.5] * 3, [2.5] * 3])
    (d,) = _bcast((3,), np.array([1, 2.5, 3], dtype=object))
    assert d.dtype == np.float64
    np.testing.assert_array_equal(d, [1.0, 2.5, 3.0])


GENERATORS = [
    (beta_geo.random, (0.5, 5.0, 0.75, 2.5), 30.0),
    (modified_beta_geo.random, (0.5, 5.0, 0.75, 2.5), 30.0),
    (pareto_nbd.random, (0.5, 5.0, 0.75, 12.5), 30.0),
    (gamma_gamma.random, (6.25, 3.75, 15.0), 3.0),
    (gamma_gamma_individual.random, (6.25, 3.75, 15.0), 3.0),
    (shifted_beta_geo.random, (1.25, 2.5), 8.0),
    (beta_geo_beta_binom.random, (1.25, 0.75, 0.5, 2.75), 6.0),
]
IDS = ["bgnbd", "mbgnbd", "pareto_nbd", "gamma_gamma", "gamma_gamma_individual", "sbg", "bgbb"]


@pytest.mark.parametrize("random, params, design", GENERATORS, ids=IDS)
def test_single_precision_draws_simulate_in_double_precision(random, params, design):
    # Posterior draws of a PyMC model built with floatX = float32 come as float32
    # arrays; the values here are exact in float32, so the customers simulated with
    # them are those of the same values in float64, draw for draw (a rate of 15
    # inverted in float32 would move every amount by about 1e-8).
    n = 200
    args64 = [np.full(n, v) for v in (*params, design)]
    args32 = [a.astype(np.float32) for a in args64]
    want = random(*args64, rng=9)
    got = random(*args32, rng=9)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("random, params, design", GENERATORS, ids=IDS)
def test_numbers_held_as_python_objects_are_read_as_floats(random, params, design):
    # An object column (numbers from a frame of mixed columns) simulates the same
    # customers as the float column.
    n = 50
    args = [np.full(n, v) for v in (*params, design)]
    want = random(*args, rng=4)
    got = random(*(a.astype(object) for a in args), rng=4)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------ scalar_draws
# The decorator runs when a likelihood module is imported, before any test: mutmut can
# only reach its body through a generator decorated here.


def _recording_generator(calls):
    def random(a, b, weight=None, rng=None, size=None):
        """A generator of ``(a + u, b * u)`` with u uniform, as the modules' generators."""
        calls.append({"a": a, "b": b, "weight": weight, "size": size})
        rng = np.random.default_rng(rng)
        shape = _shape(size, a, b)
        a, b = _bcast(shape, a, b)
        u = rng.random(shape)
        out = np.zeros(shape + (2,))
        has = a > -1  # indexes its arrays: what 0-d draws cannot take
        out[has] = np.stack([a[has] + u[has], b[has] * u[has]], axis=-1)
        return out

    return random


def test_scalar_draws_runs_one_customer_and_drops_its_axis():
    calls = []
    random = scalar_draws(_recording_generator(calls))
    assert random.__name__ == "random" and "uniform" in random.__doc__
    one = random(1.0, 2.0, rng=7)
    u = np.random.default_rng(7).random(1)[0]
    np.testing.assert_array_equal(one, [1.0 + u, 2.0 * u])
    assert calls[-1] == {"a": 1.0, "b": 2.0, "weight": None, "size": 1}
    # size=() is one customer too; weight by position or by name reaches the generator.
    np.testing.assert_array_equal(random(1.0, 2.0, 0.5, rng=7, size=()), one)
    assert calls[-1]["weight"] == 0.5 and calls[-1]["size"] == 1
    random(1.0, 2.0, weight=0.25, rng=7)
    assert calls[-1]["weight"] == 0.25
    # Any array parameter or size: the call goes through as it was made.
    draws = random(np.array([1.0, 3.0]), 2.0, None, 7)
    assert calls[-1]["weight"] is None and calls[-1]["size"] is None
    assert draws.shape == (2, 2)
    np.testing.assert_array_equal(draws[0], one)
    assert random(1.0, 2.0, rng=7, size=3).shape == (3, 2)
    assert calls[-1]["size"] == 3
    assert random(1.0, 2.0, rng=7, size=(1,)).shape == (1, 2)
    with pytest.raises(TypeError):
        random(1.0)
    with pytest.raises(TypeError):
        random(1.0, 2.0, 0.5, 7, 3, "one too many")
