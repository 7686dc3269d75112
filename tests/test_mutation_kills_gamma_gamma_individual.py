"""Kill tests for ``clvmodels/likelihoods/gamma_gamma_individual.py`` (mutation round four).

Exact values at hand-picked points, the per-customer log-likelihood against the
integral over nu of the product of the amounts' gamma densities, the gradients
against finite differences, customers without repeat purchases and the simulator
against the model's story drawn step by step.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from clvmodels.likelihoods import gamma_gamma_individual as gi

# The central-difference check of test_gamma_gamma_individual.py, with tighter tolerances.
from test_gamma_gamma_individual import (  # noqa: E402
    assert_gradients_are_central_differences,
    gradient_rows,
)


def _quad_loglik(z, p, q, v):
    """log of int_0^inf prod_j Gamma(z_j | p, rate nu) Gamma(nu | q, rate v) d nu."""
    z = np.asarray(z, float)

    def integrand(nu):
        return math.exp(np.sum(stats.gamma.logpdf(z, p, scale=1.0 / nu))
                        + stats.gamma.logpdf(nu, q, scale=1.0 / v))

    mode = (p * len(z) + q - 1.0) / (v + z.sum())
    value = sum(integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
                for a, b in ((0.0, mode), (mode, 50.0 * mode), (50.0 * mode, np.inf)))
    return math.log(value)


def _closed_form(z, p, q, v):
    """FH section 2 written out term by term, from the raw amounts."""
    z = np.asarray(z, float)
    x = len(z)
    return ((p - 1.0) * np.log(z).sum() - x * math.lgamma(p) + q * math.log(v)
            - math.lgamma(q) + math.lgamma(p * x + q) - (p * x + q) * math.log(v + z.sum()))


# Amounts and parameters chosen so that p, q, v, x all matter and none is 1 or 2.
CASES = [
    ([3.0, 5.0, 10.0], 2.5, 3.5, 7.0),
    ([12.5], 0.7, 4.0, 30.0),
    ([1.0, 1.0], 3.0, 1.5, 0.5),
    ([0.4, 2.0, 8.0, 20.0], 1.3, 6.0, 12.0),
]


@pytest.mark.parametrize("z, p, q, v", CASES)
def test_loglik_is_the_integral_over_nu(z, p, q, v):
    z = np.asarray(z)
    x, m = float(len(z)), z.mean()
    g = gi.log_spend_gap(x, m, np.log(z).sum())
    expected = _quad_loglik(z, p, q, v)
    assert gi.loglik(x, m, g, p, q, v) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert _closed_form(z, p, q, v) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # The split terms add up to it, each the part the docstring names.
    count = gi.loglik_count_terms(x, p, q, v)
    amount = gi.loglik_amount_terms(x, m, g, p, q, v)
    assert count == pytest.approx(math.lgamma(p * x + q) - x * math.lgamma(p)
                                  - math.lgamma(q) + q * math.log(v), rel=1e-13)
    assert amount == pytest.approx((p - 1.0) * np.log(z).sum()
                                   - (p * x + q) * math.log(v + z.sum()), rel=1e-12)
    # The numpy value-and-gradient functions give the same values.
    assert gi.loglik_count_terms_grad(x, p, q, v)[0] == pytest.approx(count, rel=1e-13)
    assert gi.loglik_amount_terms_grad(x, m, g, p, q, v)[0] == pytest.approx(amount, rel=1e-13)


def test_exact_values_at_a_hand_worked_point():
    # z = (2, 4, 6), p = 2, q = 3, v = 4: x = 3, mean 4, sum 12, px + q = 9.
    # count: ln Gamma(9) - 3 ln Gamma(2) - ln Gamma(3) + 3 ln 4 = ln 40320 - ln 2 + 3 ln 4
    # amount: (2 - 1)(ln 2 + ln 4 + ln 6) - 9 ln 16 = ln 48 - 9 ln 16
    x, m = 3.0, 4.0
    s = math.log(2.0) + math.log(4.0) + math.log(6.0)
    g = gi.log_spend_gap(x, m, s)
    assert g == pytest.approx(math.log(48.0) - 3.0 * math.log(4.0), rel=1e-14)
    count = math.log(40320.0) - math.log(2.0) + 3.0 * math.log(4.0)
    amount = math.log(48.0) - 9.0 * math.log(16.0)
    assert gi.loglik_count_terms(x, 2.0, 3.0, 4.0) == pytest.approx(count, rel=1e-14)
    assert gi.loglik_amount_terms(x, m, g, 2.0, 3.0, 4.0) == pytest.approx(amount, rel=1e-14)
    assert gi.loglik(x, m, g, 2.0, 3.0, 4.0) == pytest.approx(count + amount, rel=1e-14)
    # Gradients by hand (psi(9) = H_8 - gamma_E, psi(2) = 1 - gamma_E, psi(3) = 1.5 - gamma_E).
    h8 = sum(1.0 / k for k in range(1, 9))
    _, gc = gi.loglik_count_terms_grad(x, 2.0, 3.0, 4.0)
    np.testing.assert_allclose(gc, [3.0 * (h8 - 1.0), h8 - 1.5 + math.log(4.0), 3.0 / 4.0],
                               rtol=1e-13)
    _, ga = gi.loglik_amount_terms_grad(x, m, g, 2.0, 3.0, 4.0)
    np.testing.assert_allclose(ga, [math.log(48.0) - 3.0 * math.log(16.0),
                                    -math.log(16.0), -9.0 / 16.0], rtol=1e-13)


def test_gradients_equal_finite_differences_row_by_row():
    x = np.array([1.0, 2.0, 5.0, 40.0])
    m = np.array([0.8, 25.0, 3.0, 110.0])
    g = np.array([0.0, -0.3, -1.7, -9.0])
    theta = np.array([1.7, 4.2, 9.0])
    for grad_fn, plain, data in gradient_rows(x, m, g, theta):
        grads = assert_gradients_are_central_differences(
            grad_fn, plain, data, theta, step=1e-5, values_rtol=1e-13, rtol=1e-8, atol=1e-9)
        assert grads.shape == (3, 4)
    # A scalar row gives a (3,) gradient.
    assert gi.loglik_count_terms_grad(2.0, *theta)[1].shape == (3,)
    assert gi.loglik_amount_terms_grad(2.0, 3.0, -0.1, *theta)[1].shape == (3,)


def test_the_gap_is_zero_without_repeat_purchases_and_jensen_otherwise():
    # Frequency-0 customers: monetary_value and log_spend_sum are 0 in a summary.
    x = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    m = np.array([0.0, 7.0, 5.0, 3.0, 4.0])
    s = np.array([0.0, 0.0, math.log(5.0), math.log(2.0) + math.log(4.0),
                  math.log(2.0) + math.log(4.0) + math.log(6.0)])
    with np.errstate(all="raise"):
        g = gi.log_spend_gap(x, m, s)
    np.testing.assert_allclose(g, [0.0, 0.0, 0.0, math.log(8.0) - 2.0 * math.log(3.0),
                                   math.log(48.0 / 64.0)], rtol=1e-14, atol=1e-15)
    assert g[0] == 0.0 and g[1] == 0.0 and g[2] == 0.0
    assert np.all(g <= 0.0)
    # Integer inputs and scalars.
    assert gi.log_spend_gap(0, 0, 0) == 0.0
    assert gi.log_spend_gap(2, 3, 1) == pytest.approx(1.0 - 2.0 * math.log(3.0), rel=1e-14)
    # A gap that changes nothing when money is rescaled.
    assert gi.log_spend_gap(3.0, 400.0, s[4] + 3 * math.log(100.0)) == pytest.approx(
        g[4], rel=1e-12)


def test_a_gap_with_a_zero_mean_and_repeat_purchases_is_not_finite():
    # A repeat customer with monetary_value 0 (a summary's 0-spend days) has log(0).
    with np.errstate(all="raise"):
        g = gi.log_spend_gap(np.array([2.0]), np.array([0.0]), np.array([-np.inf]))
    assert np.isnan(g[0]) or not np.isfinite(g[0])


def test_frequency_zero_customers_in_the_likelihood():
    # x = 0: the count terms are q ln v, the amount terms -q ln v, for any m > 0: the
    # density of no amounts is 1 (the model leaves such customers out; the formulas agree).
    p, q, v = 2.3, 3.1, 6.0
    assert gi.loglik_count_terms(0.0, p, q, v) == pytest.approx(q * math.log(v), rel=1e-13)
    assert gi.loglik_amount_terms(0.0, 5.0, 0.0, p, q, v) == pytest.approx(
        -q * math.log(v), rel=1e-13)
    assert gi.loglik(0.0, 5.0, 0.0, p, q, v) == pytest.approx(0.0, abs=1e-13)
    _, gc = gi.loglik_count_terms_grad(np.array([0.0, 1.0]), p, q, v)
    assert gc[0, 0] == 0.0
    assert gc[0, 1] == pytest.approx(stats_digamma(p + q) - stats_digamma(p), rel=1e-13)
    assert gc[1, 0] == pytest.approx(math.log(v), rel=1e-13)  # psi(q) - psi(q) + ln v


def stats_digamma(a):
    from scipy.special import digamma

    return float(digamma(a))


def test_random_follows_the_model_step_by_step():
    p, q, v = 2.0, 3.0, 5.0
    x = np.array([2.0, 0.0, 3.0, 2.0])
    out = gi.random(p, q, v, x, rng=42)
    assert out.shape == (4, 2)
    rng = np.random.default_rng(42)
    nu = rng.gamma(q, 1.0 / v, size=4)
    z2 = rng.gamma(p, 1.0 / nu[[0, 3]][:, None], size=(2, 2))  # the x = 2 rows first
    z3 = rng.gamma(p, 1.0 / nu[[2]][:, None], size=(1, 3))
    np.testing.assert_allclose(out[[0, 3], 0], z2.mean(axis=1), rtol=1e-14)
    np.testing.assert_allclose(out[[0, 3], 1], np.log(z2).sum(axis=1), rtol=1e-14)
    np.testing.assert_allclose(out[2], [z3.mean(), np.log(z3).sum()], rtol=1e-14)
    assert out[1, 0] == 0.0 and out[1, 1] == 0.0  # x = 0: the summary's (0, 0)
    # Non-integer frequencies are rounded; a generator is used as given.
    again = gi.random(p, q, v, x + np.array([0.2, -0.3, -0.4, 0.1]),
                      rng=np.random.default_rng(42))
    np.testing.assert_array_equal(again, out)


def test_random_sizes_and_broadcasting():
    out = gi.random(2.0, 3.0, 5.0, 3.0, rng=1, size=7)
    assert out.shape == (7, 2)
    assert np.all(out[:, 0] > 0)
    assert np.all(out[:, 1] <= 3.0 * np.log(out[:, 0]) + 1e-12)
    both = gi.random(np.array([2.0, 4.0]), 3.0, 5.0, np.array([[1.0], [2.0]]), rng=1)
    assert both.shape == (2, 2, 2)
    # One amount: its mean is itself and the log sum its log.
    np.testing.assert_allclose(both[0, :, 1], np.log(both[0, :, 0]), rtol=1e-14)
    none = gi.random(2.0, 3.0, 5.0, np.zeros(3), rng=1)
    np.testing.assert_array_equal(none, np.zeros((3, 2)))


def test_random_means_match_the_model():
    # E[mean amount] = p v / (q - 1); E[ln z] = psi(p) - psi(q) + ln v.
    p, q, v = 3.0, 4.0, 9.0
    out = gi.random(p, q, v, np.full(40_000, 2.0), rng=7)
    assert out[:, 0].mean() == pytest.approx(p * v / (q - 1.0), rel=0.02)
    assert out[:, 1].mean() / 2.0 == pytest.approx(
        stats_digamma(p) - stats_digamma(q) + math.log(v), abs=0.02)


def test_family_declares_the_summarys_columns():
    fam = gi.FAMILY
    assert fam.name == "spend"
    assert fam.observed == ("monetary_value", "log_spend_sum")
    assert fam.design == ("frequency",)
    assert fam.random is gi.random
    assert fam.jax is True


def test_reexports():
    from clvmodels.likelihoods import gamma_gamma as gg

    assert gi.expected_spend is gg.expected_spend
    assert gi.population_mean_spend is gg.population_mean_spend
    assert set(gi.__all__) >= {"loglik", "log_spend_gap", "random", "FAMILY"}


def test_one_repeat_purchase_gap_is_its_log_minus_the_log_mean():
    # With x = 1 the gap of a consistent summary is 0, but it is computed, not assumed:
    # a log_spend_sum from another summary shows (the model refuses such a summary).
    assert gi.log_spend_gap(1.0, 5.0, math.log(5.0) + 0.3) == pytest.approx(0.3, rel=1e-12)
    np.testing.assert_allclose(gi.log_spend_gap(np.array([1.0, 2.0]), np.array([5.0, 2.0]),
                                                np.array([math.log(4.0), 1.0])),
                               [math.log(0.8), 1.0 - 2.0 * math.log(2.0)], rtol=1e-12)


def test_loglik_passes_its_math_namespace_to_both_parts():
    from clvmodels.likelihoods._math import NUMPY

    calls: list[str] = []

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            return getattr(NUMPY, name)

    value = gi.loglik(3.0, 4.0, math.log(48.0) - 3.0 * math.log(4.0), 2.0, 3.0, 4.0, xp=Spy())
    assert value == pytest.approx(gi.loglik(3.0, 4.0, math.log(48.0) - 3.0 * math.log(4.0),
                                            2.0, 3.0, 4.0), rel=1e-14)
    # Count terms: three gammaln and log(v); amount terms: log(m) and log(v + x m).
    assert sorted(calls) == ["gammaln"] * 3 + ["log"] * 3


def test_random_broadcasts_every_parameter():
    assert gi.random(2.0, np.array([3.0, 4.0, 5.0]), 5.0, 2.0, rng=1).shape == (3, 2)
    assert gi.random(2.0, 3.0, np.array([5.0, 6.0, 7.0]), 2.0, rng=1).shape == (3, 2)
    assert gi.random(np.array([2.0, 3.0, 4.0]), 3.0, 5.0, 2.0, rng=1).shape == (3, 2)
    assert gi.random(2.0, 3.0, 5.0, np.array([1.0, 2.0, 3.0]), rng=1).shape == (3, 2)


def test_random_amounts_that_underflow_give_a_log_sum_of_minus_infinity_silently():
    # With a tiny p many amounts are 0.0 in floating point: their log is -inf, no warning.
    with np.errstate(all="raise"):
        out = gi.random(1e-3, 3.0, 5.0, np.full(20, 3.0), rng=0)
    assert np.isneginf(out[:, 1]).sum() > 5
    assert np.all(out[:, 0] >= 0.0)
