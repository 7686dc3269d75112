"""Pareto/NBD's I(kappa, m, e) = 2F1(e, 1; m + 1; -kappa) against an independent
computation: the Pfaff series summed in 50-digit decimal arithmetic until its terms
fall below 1e-40 of the sum (no truncation rule, no grouping of rows, no quadrature),
and its partial derivatives by central differences of that sum with steps of 1e-15
(truncation error about 1e-30). Points reach every branch of ``_log_I_numpy``: each
group of series terms on both sides of its cut, kappa = 16 (the last series point)
and the quadrature beyond, both first scales of the quadrature, the rows grouped by
``_distinct`` and the pytensor Op (mutants of the series and quadrature that the
Pareto/NBD tests let through; see tests/mutation/README.md, "likelihoods_pareto_I").
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from functools import lru_cache

import numpy as np
import pytest
from scipy import optimize
from scipy import special as sp

from clvmodels.likelihoods import pareto_nbd as pnbd

_DIGITS = 40


@lru_cache(maxsize=None)
def _log_i_decimal(kappa, m, e):
    """log I by the Pfaff series (A&S 15.3.4) in decimal arithmetic, as a Decimal.

    ``I = (1 + kappa)^-1 sum_n (m + 1 - e)_n / (m + 1)_n zeta^n``, ``zeta = kappa / (1 + kappa)``,
    summed until a term is below 1e-40 of the sum in absolute value (the terms
    decrease: each is at most ``zeta`` times the one before, with ``e > 0``; they are
    negative when a difference step makes ``m + 1 - e`` negative).
    """
    with localcontext() as ctx:
        ctx.prec = _DIGITS + 12
        k, mm, ee = Decimal(kappa), Decimal(m), Decimal(e)
        z = k / (1 + k)
        c, d = mm + 1 - ee, mm + 1
        term = total = Decimal(1)
        eps = Decimal(10) ** -_DIGITS
        n = 0
        while n < 6 or abs(term) > eps * total:
            term = term * (c + n) / (d + n) * z
            total += term
            n += 1
        return total.ln() - (1 + k).ln()


def _log_i(kappa, m, e):
    return float(_log_i_decimal(Decimal(kappa), Decimal(m), Decimal(e)))


def _partials(kappa, m, e):
    """d log I / d kappa, d m, d e by central differences of the decimal sum."""
    out = []
    args = [Decimal(kappa), Decimal(m), Decimal(e)]
    with localcontext() as ctx:
        ctx.prec = _DIGITS + 12
        for i in range(3):
            h = Decimal("1e-15") * max(args[i], Decimal(1))
            up, down = list(args), list(args)
            up[i] += h
            down[i] -= h
            out.append(float((_log_i_decimal(*up) - _log_i_decimal(*down)) / (2 * h)))
    return out


def _kappa(zeta):
    return zeta / (1.0 - zeta)


def _need(z):
    """Terms the series needs at zeta = z: the tail bound zeta^(N+1) / (1 - zeta) below
    e^-37 (about 1e-16) of the sum."""
    return (37.0 - np.log1p(-z)) / -np.log(z)


# ---------------------------------------------------------------- the series

def test_the_cut_of_each_group_of_terms_is_where_the_series_needs_that_many_terms():
    cuts = pnbd._zeta_cuts()
    want = [optimize.brentq(lambda z, cap=cap: _need(z) - cap, 1e-6, 1.0 - 1e-12,
                            xtol=1e-300, rtol=1e-15, maxiter=500)
            for cap in pnbd._SERIES_BINS]
    np.testing.assert_allclose(cuts, want, rtol=1e-14, atol=0)
    # the cut itself needs at most that many terms, the next float above it more
    for cut, cap in zip(cuts, pnbd._SERIES_BINS):
        assert _need(cut) <= cap < _need(np.nextafter(cut, 2.0) * (1 + 1e-14))
    np.testing.assert_array_equal(cuts, pnbd._ZETA_CUTS)


#: Points just below and above each cut of the series (kappa <= 16, zeta <= 16/17: the
#: last group, 704 terms, serves zeta from its lower cut to 16/17, where 657 are needed).
_CUT_ZETAS = sorted(z for z in {*(c * (1 - 1e-9) for c in pnbd._ZETA_CUTS),
                                *(c * (1 + 1e-6) for c in pnbd._ZETA_CUTS), 1e-5}
                    if z <= 16 / 17)


@pytest.mark.parametrize("m, e", [(2.5, 1.1), (0.05, 1.0), (40.0, 0.3), (300.0, 290.0),
                                  (1.0, 2.0)])
def test_the_series_has_every_term_it_needs_at_the_cuts(m, e):
    kappa = np.array([_kappa(z) for z in _CUT_ZETAS] + [16.0])
    rng = np.random.default_rng(1)
    order = rng.permutation(kappa.size)  # rows of different groups interleaved
    got = pnbd.log_hyp_integral(kappa[order], m, e)
    want = np.array([_log_i(k, m, e) for k in kappa[order]])
    np.testing.assert_allclose(got, want, rtol=0, atol=3e-15)


@pytest.mark.parametrize("m, e", [(2.5, 1.1), (0.05, 1.0), (40.0, 0.3), (7.0, 7.5)])
def test_the_series_partials_at_the_cuts(m, e):
    kappa = np.array([_kappa(z) for z in _CUT_ZETAS[::2]] + [16.0])
    order = np.random.default_rng(2).permutation(kappa.size)
    k = kappa[order]
    value, *grads = pnbd._log_I_numpy(k, np.full(k.size, m), np.full(k.size, e), grad=True)
    np.testing.assert_allclose(value, [_log_i(x, m, e) for x in k], rtol=0, atol=3e-15)
    want = np.array([_partials(x, m, e) for x in k])
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, want[:, i], rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize("kappa", [1e-4, 0.5, 5.0, 16.0, 50.0])
@pytest.mark.parametrize("m", [0.2, 3.0, 40.0])
def test_the_partials_where_e_is_m_plus_one(kappa, m):
    # e = m + 1 is allowed (c = 0: I = 1 / (1 + kappa)); the series computed the partials
    # in m and e as sums of t_n C_n with t_n = 0 and C_n = inf, giving NaN (bug fixed
    # with this test). The likelihood reaches it when r + x or s vanishes next to the
    # other in floating point (e.g. x = 0, r = 1e-17, s = 1).
    e = m + 1.0
    value, *grads = pnbd._log_I_numpy(kappa, m, e, grad=True)
    quadrature = kappa > 16  # m = 0.2, kappa = 50: 4e-13 (its bound is 1e-10)
    assert value == pytest.approx(-np.log1p(kappa), rel=1e-11 if quadrature else 1e-14)
    np.testing.assert_allclose(grads, _partials(kappa, m, e),
                               rtol=1e-10 if quadrature else 1e-12, atol=1e-15)
    # d/dm + d/de = 0: I stays (1 + kappa)^-1 along e = m + 1
    assert grads[1] + grads[2] == pytest.approx(0.0, abs=1e-11 if quadrature else 1e-15)


def test_series_sums_of_a_hand_worked_case():
    # c = 1, d = 2: t_n = zeta^n / (n + 1); with zeta = 1/2 and 3 terms:
    # t = 1, 1/4, 1/12, 1/32; C_n = 1 + 1/2 + ..., D_n = 1/2 + 1/3 + ...
    zeta, c, d = np.array([0.5]), np.array([1.0]), np.array([2.0])
    total, s_zeta, s_c, s_d = pnbd._series_sum(zeta, c, d, 3, grad=True)
    t = [1.0, 1 / 4, 1 / 12, 1 / 32]
    C = [0.0, 1.0, 1.5, 1.5 + 1 / 3]
    D = [0.0, 1 / 2, 1 / 2 + 1 / 3, 1 / 2 + 1 / 3 + 1 / 4]
    assert total[0] == pytest.approx(sum(t), rel=1e-15)
    assert s_zeta[0] == pytest.approx(sum(n * t[n] for n in range(4)) / 0.5, rel=1e-15)
    assert s_c[0] == pytest.approx(sum(t[n] * C[n] for n in range(4)), rel=1e-15)
    assert s_d[0] == pytest.approx(sum(t[n] * D[n] for n in range(4)), rel=1e-15)
    alone, *rest = pnbd._series_sum(zeta, c, d, 3, grad=False)
    assert alone[0] == pytest.approx(sum(t), rel=1e-15) and rest == [None, None, None]
    # the inputs are not changed in place
    assert zeta[0] == 0.5 and c[0] == 1.0 and d[0] == 2.0


def test_closed_forms_of_the_series_region():
    # m = 1: U is uniform, I = ((1 + kappa)^(1 - e) - 1) / (kappa (1 - e)); e = 1: log1p / kappa
    for kappa in (1e-6, 0.3, 2.0, 9.0, 16.0):
        for e in (0.5, 1.7):
            want = np.log(np.expm1((1 - e) * np.log1p(kappa)) / (kappa * (1 - e)))
            assert pnbd.log_hyp_integral(kappa, 1.0, e) == pytest.approx(want, rel=1e-14,
                                                                        abs=1e-15)
        assert pnbd.log_hyp_integral(kappa, 1.0, 1.0) == pytest.approx(
            np.log(np.log1p(kappa) / kappa), rel=1e-14, abs=1e-15)
    # kappa = 0: I = 1 exactly; e = m + 1: I = (1 + kappa)^-1 (c = 0, one term)
    assert pnbd.log_hyp_integral(0.0, 3.0, 1.5) == 0.0
    assert pnbd.log_hyp_integral(np.array([0.0, 0.0]), 3.0, 1.5).tolist() == [0.0, 0.0]
    assert pnbd.log_hyp_integral(5.0, 3.0, 4.0) == pytest.approx(-np.log(6.0), rel=1e-15)


# ---------------------------------------------------------------- the quadrature

#: kappa > 16 with both first scales of the integrand: 1 / (1 + e kappa / m) (large m)
#: and m log(1 + 1 / kappa) (small m), and a decay rate rho far from 1.
_QUAD_POINTS = [(16.0 * (1 + 1e-12), 2.5, 1.1), (16.5, 3.0, 2.0), (40.0, 3.0, 1.7),
                (100.0, 0.5, 1.2), (30.0, 0.02, 0.3), (20.0, 1000.0, 31.0),
                (20.0, 1000.0, 1000.0), (60.0, 50.0, 0.05), (250.0, 8.0, 9.0),
                (1000.0, 10.0, 5.0), (17.0, 200.0, 150.0)]


def test_the_quadrature_against_the_decimal_series():
    k, m, e = (np.array(v) for v in zip(*_QUAD_POINTS))
    order = np.random.default_rng(3).permutation(k.size)
    got = pnbd.log_hyp_integral(k[order], m[order], e[order])
    want = [_log_i(*_QUAD_POINTS[i]) for i in order]
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("point", [p for p in _QUAD_POINTS if p[0] <= 300])
def test_the_quadrature_partials(point):
    value, *grads = pnbd._log_I_numpy(*(np.array([v]) for v in point), grad=True)
    assert value[0] == pytest.approx(_log_i(*point), rel=1e-13, abs=1e-14)
    np.testing.assert_allclose([g[0] for g in grads], _partials(*point), rtol=1e-11,
                               atol=1e-14)


@pytest.mark.parametrize("point", [(25.0, 10.0, 0.11), (200.0, 30.0, 0.31), (25.0, 3.0, 0.4)])
def test_the_quadrature_where_the_first_scale_is_the_distance_to_the_singularity(point):
    # m log(1 + 1/kappa) < 1 / (1 + e kappa / m): the head ends before the integrand's
    # pole at w = -m log(1 + 1/kappa); values within 4e-14 and partials within 3e-13
    # here (a head twice as long: 4e-13 and 8e-12)
    kappa, m, e = point
    assert m * np.log1p(1 / kappa) < 1 / (1 + e * kappa / m)
    value, *grads = pnbd._log_I_numpy(*(np.array([v]) for v in point), grad=True)
    assert value[0] == pytest.approx(_log_i(*point), rel=1e-13)
    np.testing.assert_allclose([g[0] for g in grads], _partials(*point), rtol=2e-12)


def test_the_quadrature_alone_on_hand_chosen_rows():
    # called directly, on 2-D rows, without going through the series at all
    k = np.array([[20.0, 300.0], [17.0, 64.0]])
    m = np.array([[2.0, 5.0], [0.3, 12.0]])
    e = np.array([[1.0, 4.0], [0.9, 13.0]])
    log_i, dk, dm, de = pnbd._quadrature(k, m, e, grad=True)
    assert log_i.shape == dk.shape == dm.shape == de.shape == (2, 2)
    np.testing.assert_array_equal(pnbd._quadrature(k, m, e, grad=False), log_i)
    for idx in np.ndindex(2, 2):
        point = (k[idx], m[idx], e[idx])
        # (17, 0.3, 0.9): 8e-13 (the quadrature's bound is 1e-10)
        assert log_i[idx] == pytest.approx(_log_i(*point), rel=1e-11)
        np.testing.assert_allclose([dk[idx], dm[idx], de[idx]], _partials(*point),
                                   rtol=1e-10)


def test_far_beyond_the_series_stays_close():
    # m = 1, kappa = 1e6: closed form; the quadrature's bound is 1e-10 up to kappa = 1e4
    for kappa, e in ((1e6, 0.5), (1e5, 2.0), (1e4, 1.0)):
        if e == 1.0:
            want = np.log(np.log1p(kappa) / kappa)
        else:
            want = np.log(np.expm1((1 - e) * np.log1p(kappa)) / (kappa * (1 - e)))
        assert pnbd.log_hyp_integral(kappa, 1.0, e) == pytest.approx(want, rel=1e-9)
    # hypergeometric reference where scipy's 2F1 is reliable (integer parameters)
    assert pnbd.log_hyp_integral(5e3, 3.0, 2.0) == pytest.approx(
        np.log(sp.hyp2f1(2.0, 1.0, 4.0, -5e3)), rel=1e-10)


# ---------------------------------------------------------------- rows, shapes, grouping

def test_shapes_and_broadcasting():
    k = np.array([[0.5, 20.0, 3.0], [16.0, 0.0, 400.0]])
    got = pnbd.log_hyp_integral(k, 2.0, np.array([1.5, 0.5, 2.5]))
    assert got.shape == (2, 3)
    e = np.broadcast_to([1.5, 0.5, 2.5], k.shape)
    for idx in np.ndindex(k.shape):
        assert got[idx] == pytest.approx(_log_i(k[idx], 2.0, e[idx]), rel=1e-13, abs=1e-15)
    # a math namespace without a name is numpy
    np.testing.assert_array_equal(pnbd.log_hyp_integral(k, 2.0, 1.5, xp=np),
                                  pnbd.log_hyp_integral(k, 2.0, 1.5))
    scalar = pnbd.log_hyp_integral(20.0, 2.0, 1.5)
    assert isinstance(scalar, float)  # a number, not a 0-d array
    assert scalar == pytest.approx(_log_i(20.0, 2.0, 1.5), rel=1e-13)
    grads = pnbd._log_I_numpy(3.0, 2.0, 1.5, grad=True)
    assert len(grads) == 4 and all(np.ndim(g) == 0 for g in grads)
    np.testing.assert_allclose(grads[1:], _partials(3.0, 2.0, 1.5), rtol=1e-11)
    # integer and single-precision input is computed in double precision
    assert pnbd.log_hyp_integral(np.array([3]), np.array([2]), np.array([1]))[0] == \
        pytest.approx(_log_i(3.0, 2.0, 1.0), rel=1e-14)
    k32 = np.array([0.75, 12.5, 40.0], dtype=np.float32)  # exact in single precision
    got = pnbd._log_I_numpy(k32, np.float32(2.5), np.float32(1.25), grad=True)
    for out, want in zip(got, pnbd._log_I_numpy(k32.astype(float), 2.5, 1.25, grad=True)):
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, want)


def test_many_repeated_rows_over_every_branch():
    # 1,500 rows, 20 distinct triples: _distinct groups them; every value and partial is
    # that of its triple, computed alone
    rng = np.random.default_rng(4)
    triples = [(_kappa(z), 2.5, 1.1) for z in pnbd._ZETA_CUTS] + [
        (16.0, 4.0, 3.0), (0.0, 1.0, 0.5), (20.0, 1000.0, 31.0), (300.0, 8.0, 9.0),
        (40.0, 3.0, 1.7), (0.01, 0.05, 1.0), (5.0, 3.0, 4.0), (1e3, 10.0, 5.0),
        (1e-3, 60.0, 2.0), (7.0, 0.5, 0.25), (30.0, 0.02, 0.3), (2.0, 2.5, 1.1)]
    idx = rng.integers(0, len(triples), 1500)
    k, m, e = (np.array(v)[idx] for v in zip(*triples))
    many = pnbd._log_I_numpy(k, m, e, grad=True)
    alone = [pnbd._log_I_numpy(*(np.array([v]) for v in t), grad=True) for t in triples]
    for j, out in enumerate(many):
        np.testing.assert_array_equal(out, np.array([alone[i][j][0] for i in idx]))
    want = np.array([_log_i(*t) for t in triples])
    np.testing.assert_allclose(many[0], want[idx], rtol=1e-13, atol=3e-15)


def test_each_distinct_row_is_computed_once_in_bounded_chunks(monkeypatch):
    # from 1,024 rows on, repeated triples are computed once; the rows beyond the series
    # go to the quadrature once each, at most 4,096 rows per call (memory: rows x nodes)
    series_rows, quad_rows = [], []
    series, quadrature = pnbd._series, pnbd._quadrature

    def spy_series(kappa, m, e, grad):
        series_rows.append(kappa.size)
        return series(kappa, m, e, grad)

    def spy_quadrature(kappa, m, e, grad):
        quad_rows.append(kappa.copy())
        assert kappa.size <= 4096 and len(quad_rows) <= 3
        return quadrature(kappa, m, e, grad)

    monkeypatch.setattr(pnbd, "_series", spy_series)
    monkeypatch.setattr(pnbd, "_quadrature", spy_quadrature)
    for n in (1023, 1024):
        pnbd.log_hyp_integral(np.arange(n) % 10 + 0.5, 2.0, 1.5)
    assert series_rows == [1023, 10]
    assert quad_rows == []
    # 9,000 distinct rows beyond the series, 1,000 within, shuffled
    rng = np.random.default_rng(6)
    kappa = rng.permutation(np.concatenate([16.0 + np.arange(1, 9001) / 10.0,
                                            np.arange(1000) / 100.0]))
    got = pnbd.log_hyp_integral(kappa, 3.0, 2.0)
    assert [q.size for q in quad_rows] == [4096, 4096, 808]
    np.testing.assert_array_equal(np.concatenate(quad_rows), kappa[kappa > 16])
    far = np.flatnonzero(kappa > 16)
    for row in [*far[[0, 4095, 4096, 8191, 8192, 8999]], np.flatnonzero(kappa <= 16)[-1]]:
        assert got[row] == pytest.approx(_log_i(kappa[row], 3.0, 2.0), rel=1e-13)


def test_distinct_codes_and_first_rows():
    kappa = np.array([1.0, 2.0, 1.0, 1.0, 2.0] * 300)
    m = np.array([3.0, 3.0, 3.0, 4.0, 3.0] * 300)
    e = np.array([0.5, 0.5, 0.5, 0.5, 0.7] * 300)
    codes, first = pnbd._distinct(kappa, m, e)
    # four distinct triples: one code each, and the first row of each code
    assert sorted(first.tolist()) == [0, 1, 3, 4]
    assert len(set(codes[:5].tolist())) == 4 and codes[0] == codes[2]
    np.testing.assert_array_equal(codes, np.tile(codes[:5], 300))
    for code, row in enumerate(first):
        assert row == np.flatnonzero(codes == code)[0]
    # mostly distinct rows: no grouping; exactly 70% distinct still grouped
    n = 1000
    assert pnbd._distinct(np.arange(n, dtype=float), np.ones(n), np.ones(n)) is None
    assert pnbd._distinct(np.arange(n, dtype=float) % 701, np.ones(n), np.ones(n)) is None
    seventy = pnbd._distinct(np.arange(n, dtype=float) % 700, np.ones(n), np.ones(n))
    assert seventy is not None and sorted(seventy[1].tolist()) == list(range(700))


def test_distinct_with_many_values_per_column():
    # 1,200 distinct triples, each column with 1,200 values, each triple twice: the codes
    # are compacted on the way (1,200^3 would not fit the lookup table)
    rng = np.random.default_rng(5)
    base = rng.permutation(1200).astype(float)
    k = np.concatenate([base, base[::-1]])
    m = np.concatenate([base * 2 + 1, base[::-1] * 2 + 1])
    e = np.concatenate([-base, -base[::-1]])
    codes, first = pnbd._distinct(k, m, e)
    assert sorted(first.tolist()) == list(range(1200))
    np.testing.assert_array_equal(codes[first], np.arange(1200))
    np.testing.assert_array_equal(codes[1200:], codes[:1200][::-1])
    # the same triples with one column constant collapse accordingly
    codes2, first2 = pnbd._distinct(k, np.ones(2400), np.ones(2400))
    np.testing.assert_array_equal(k[first2][codes2], k)


# ---------------------------------------------------------------- quadrature nodes

def test_the_middle_panels_integrate_polynomials_exactly():
    nodes, weights = pnbd._mid_nodes()
    panels = pnbd._MID_PANELS
    assert nodes.shape == weights.shape == (12 * panels,)
    assert np.all(np.diff(nodes) > 0) and 0 < nodes[0] and nodes[-1] < 1
    np.testing.assert_array_equal(nodes, pnbd._MID_U)
    np.testing.assert_array_equal(weights, pnbd._MID_WU)
    for p in range(panels):
        lo, hi = p / panels, (p + 1) / panels
        inside = (nodes > lo) & (nodes < hi)
        assert inside.sum() == 12
        for deg in (0, 1, 7, 23):  # 12 Gauss-Legendre points: exact to degree 23
            want = (hi ** (deg + 1) - lo ** (deg + 1)) / (deg + 1)
            got = np.sum(weights[inside] * nodes[inside] ** deg)
            assert got == pytest.approx(want, rel=1e-13)


# ---------------------------------------------------------------- the pytensor Op

def test_the_pytensor_op_computes_the_numpy_values_and_partials():
    pytensor = pytest.importorskip("pytensor")
    import pytensor.tensor as pt

    from clvmodels.likelihoods._math import pytensor_namespace

    k = pt.dvector("k")
    m = pt.dscalar("m")
    e = pt.dvector("e")
    out = pnbd.log_hyp_integral(k, m, e, xp=pytensor_namespace())
    grads = pytensor.grad(out.sum(), [k, m, e])
    f = pytensor.function([k, m, e], [out, *grads], mode="FAST_COMPILE")
    kv, ev = np.array([0.5, 20.0, 16.0]), np.array([1.5, 0.7, 2.5])
    value, gk, gm, ge = f(kv, 2.0, ev)
    want = pnbd._log_I_numpy(kv, np.full(3, 2.0), ev, grad=True)
    np.testing.assert_allclose(value, want[0], rtol=1e-15)
    np.testing.assert_allclose(gk, want[1], rtol=1e-15)
    assert gm == pytest.approx(want[2].sum(), rel=1e-14)
    np.testing.assert_allclose(ge, want[3], rtol=1e-15)
    # integer input is cast to float64
    ki = pt.lvector("ki")
    g = pytensor.function([ki], pnbd.log_hyp_integral(ki, 2.0, 1.5, xp=pytensor_namespace()),
                          mode="FAST_COMPILE")
    assert g(np.array([3]))[0] == pytest.approx(_log_i(3.0, 2.0, 1.5), rel=1e-14)
