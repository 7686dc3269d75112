"""Pareto/NBD's pytensor Op ``LogHypIntegral`` and its lazy creation.

The Op is how the Bayesian engine (and the pytensor engine of the likelihood)
evaluates log I(kappa, m, e) = log 2F1(e, 1; m + 1; -kappa): ``perform`` is the numpy
series and quadrature, the gradient the partials computed alongside. The class is
made on first use by the module's ``__getattr__`` and cached; every test here clears
the cache first, so that each one builds the class itself (mutmut's forked runs
would otherwise reuse the class made before the mutant was switched on). Graphs are
compiled with ``FAST_COMPILE`` (no C code; about a second each). See
tests/mutation/README.md, "Fifth round: likelihoods_random and likelihoods_pareto_op".
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytensor = pytest.importorskip("pytensor")
import pytensor.tensor as pt  # noqa: E402
from pytensor.gradient import DisconnectedType, NullTypeGradError  # noqa: E402

from clvmodels.likelihoods import pareto_nbd as pnbd  # noqa: E402
from clvmodels.likelihoods._math import pytensor_namespace  # noqa: E402

MODE = "FAST_COMPILE"
# Rows on the series (kappa <= 16) and on the quadrature (kappa > 16), e up to m + 1.
KAPPA = np.array([0.0, 0.3, 2.5, 15.0, 40.0, 900.0])
M = np.array([2.0, 0.7, 5.5, 1.2, 3.0, 0.4])
E = np.array([1.5, 0.2, 6.5, 2.0, 0.9, 1.1])


@pytest.fixture
def op_class(monkeypatch):
    """The Op class, made afresh by the module's ``__getattr__``."""
    monkeypatch.setattr(pnbd, "_OP_CLASS", None)
    return pnbd.LogHypIntegral


def _inputs():
    return pt.dvector("k"), pt.dvector("m"), pt.dvector("e")


def test_the_four_outputs_are_log_i_and_its_partials(op_class):
    k, m, e = _inputs()
    outs = op_class()(k, m, e)
    assert len(outs) == 4
    assert all(o.type == k.type for o in outs)
    f = pytensor.function([k, m, e], outs, mode=MODE)
    got = f(KAPPA, M, E)
    want = pnbd._log_I_numpy(KAPPA, M, E, grad=True)
    for g, w in zip(got, want):
        assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == KAPPA.shape
        np.testing.assert_allclose(g, w, rtol=1e-15, atol=0)
    # log I against Euler's integral at one point: I(2.5, 5.5, 6.5) = 5.5 int_0^1
    # (1 - u)^4.5 (1 + 2.5 u)^-6.5 du (A&S 15.3.1)
    from scipy import integrate

    value = 5.5 * integrate.quad(lambda u: (1 - u) ** 4.5 * (1 + 2.5 * u) ** -6.5, 0, 1,
                                 epsabs=0, epsrel=1e-13)[0]
    assert got[0][2] == pytest.approx(np.log(value), rel=1e-11)


def test_a_scalar_row(op_class):
    k, m, e = pt.dscalars("k", "m", "e")
    f = pytensor.function([k, m, e], op_class()(k, m, e), mode=MODE)
    got = f(3.0, 2.0, 1.5)
    want = pnbd._log_I_numpy(3.0, 2.0, 1.5, grad=True)
    for g, w in zip(got, want):
        assert np.ndim(g) == 0
        assert float(g) == pytest.approx(float(w), rel=1e-15)


def test_the_gradient_is_the_partials_times_the_incoming_gradient(op_class):
    # d/dtheta sum_i w_i log I_i = w_i * partial_i: against the partials and against
    # central differences of the compiled value.
    k, m, e = _inputs()
    w = pt.dvector("w")
    value = op_class()(k, m, e)[0]
    cost = (w * value).sum()
    grads = pytensor.grad(cost, [k, m, e])
    f = pytensor.function([k, m, e, w], [value, *grads], mode=MODE)
    weights = np.array([0.5, -2.0, 3.0, 1.5, -0.25, 4.0])
    out = f(KAPPA, M, E, weights)
    want = pnbd._log_I_numpy(KAPPA, M, E, grad=True)
    for g, w_part in zip(out[1:], want[1:]):
        np.testing.assert_allclose(g, weights * w_part, rtol=1e-14, atol=0)
    h = 1e-6
    for j, g in enumerate(out[1:]):
        args_hi = [KAPPA.copy(), M.copy(), E.copy()]
        args_lo = [KAPPA.copy(), M.copy(), E.copy()]
        args_hi[j] = args_hi[j] + h
        args_lo[j] = args_lo[j] - h
        if j == 0:  # kappa = 0 is the edge of the domain: one-sided there
            args_lo[0][0] = KAPPA[0]
        fd = (f(*args_hi, weights)[0] - f(*args_lo, weights)[0]) / (args_hi[j] - args_lo[j])
        np.testing.assert_allclose(g, weights * fd, rtol=2e-5, atol=1e-8)


def test_the_likelihood_engine_uses_the_op_for_its_gradient(op_class):
    # log_hyp_integral with the pytensor namespace builds this Op: its value and its
    # gradient (what the optimiser and NUTS use) are the numpy engine's.
    k, m, e = _inputs()
    out = pnbd.log_hyp_integral(k, m, e, xp=pytensor_namespace())
    assert isinstance(out.owner.op, op_class)
    grads = pytensor.grad(out.sum(), [k, m, e])
    f = pytensor.function([k, m, e], [out, *grads], mode=MODE)
    got = f(KAPPA, M, E)
    want = pnbd._log_I_numpy(KAPPA, M, E, grad=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-15, atol=0)


def test_the_shape_is_known_without_computing_log_i(op_class):
    k, m, e = _inputs()
    outs = op_class()(k, m, e)
    f = pytensor.function([k, m, e], [o.shape for o in outs], mode=MODE)
    assert not any(isinstance(node.op, op_class) for node in f.maker.fgraph.toposort())
    for shape in f(np.ones(5), np.ones(5), np.ones(5)):
        np.testing.assert_array_equal(shape, [5])


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_inputs_other_than_float64_are_refused(op_class, which, dtype):
    args = [pt.dvector("k"), pt.dvector("m"), pt.dvector("e")]
    args[which] = pt.vector("x", dtype=dtype)
    with pytest.raises(TypeError, match="LogHypIntegral takes float64 inputs"):
        op_class()(*args)


def test_float64_inputs_and_numbers_are_accepted(op_class):
    k = pt.dvector("k")
    node = op_class()(k, np.array([2.0]), pt.constant(1.5, dtype="float64"))[0].owner
    assert [v.type.dtype for v in node.inputs] == ["float64"] * 3
    assert len(node.outputs) == 4


@pytest.mark.parametrize("output, wrt", [(1, 0), (2, 1), (3, 2)])
def test_second_derivatives_are_refused_by_name(op_class, output, wrt):
    # The Op gives first derivatives only: differentiating one of the partials (a
    # Hessian) fails with pytensor's "not implemented" error naming the input.
    k, m, e = _inputs()
    outs = op_class()(k, m, e)
    names = "kme"
    with pytest.raises(NullTypeGradError,
                       match=rf"for input {wrt} \({names[wrt]}\) of the LogHypIntegral op is "
                             r"not implemented\. second derivatives of log I"):
        pytensor.grad(outs[output].sum(), [k, m, e][wrt])
    # the Hessian of log I itself
    grad_k = pytensor.grad(outs[0].sum(), k)
    with pytest.raises(NullTypeGradError, match="second derivatives of log I"):
        pytensor.grad(grad_k.sum(), k)


def test_a_gradient_through_log_i_and_a_partial_is_refused(op_class):
    k, m, e = _inputs()
    outs = op_class()(k, m, e)
    with pytest.raises(NullTypeGradError, match="second derivatives of log I"):
        pytensor.grad((outs[0] + outs[2]).sum(), k)


def test_no_incoming_gradient_gives_zeros(op_class):
    # pytensor's L_op interface: with every output disconnected from the cost, the
    # gradient with respect to each input is zero (of the input's shape).
    k, m, e = _inputs()
    op = op_class()
    outs = op(k, m, e)
    none = [DisconnectedType()() for _ in outs]
    grads = op.L_op([k, m, e], outs, none)
    assert len(grads) == 3
    f = pytensor.function([k, m, e], grads, mode=MODE, on_unused_input="ignore")
    for g in f(KAPPA, M, E):
        np.testing.assert_array_equal(g, np.zeros(KAPPA.size))


def test_instances_are_equal_so_identical_nodes_merge(op_class):
    assert op_class() == op_class() and hash(op_class()) == hash(op_class())
    k, m, e = _inputs()
    f = pytensor.function([k, m, e], [op_class()(k, m, e)[0], op_class()(k, m, e)[0]],
                          mode=MODE)
    assert sum(isinstance(n.op, op_class) for n in f.maker.fgraph.toposort()) == 1


def test_the_class_is_made_once_and_reached_by_name(monkeypatch):
    monkeypatch.setattr(pnbd, "_OP_CLASS", None)
    made = []
    real = pnbd._make_op_class

    def spy():
        made.append(1)
        return real()

    monkeypatch.setattr(pnbd, "_make_op_class", spy)
    first = pnbd.LogHypIntegral
    assert isinstance(first, type) and first.__name__ == "LogHypIntegral"
    assert pnbd.LogHypIntegral is first
    assert getattr(pnbd, "LogHypIntegral") is first
    assert made == [1]
    assert pnbd._OP_CLASS is first


def test_other_names_raise_attribute_error_naming_them(op_class):
    with pytest.raises(AttributeError,
                       match=r"module 'clvmodels\.likelihoods\.pareto_nbd' has no attribute "
                             r"'LogHypIntegrals'"):
        pnbd.LogHypIntegrals  # noqa: B018
    assert not hasattr(pnbd, "loghypintegral")
    assert getattr(pnbd, "NoSuchThing", "default") == "default"


def test_the_class_and_graphs_holding_it_pickle_by_name(op_class):
    # PyMC's multiprocess sampler pickles the model's graph: the Op's class must be
    # found again under its module and name.
    assert op_class.__module__ == "clvmodels.likelihoods.pareto_nbd"
    assert op_class.__qualname__ == "LogHypIntegral"
    assert pickle.loads(pickle.dumps(op_class)) is op_class
    assert pickle.loads(pickle.dumps(op_class())) == op_class()
    k, m, e = _inputs()
    out = op_class()(k, m, e)[0]
    back = pickle.loads(pickle.dumps(out))
    assert isinstance(back.owner.op, op_class)
    f = pytensor.function(back.owner.inputs, back, mode=MODE)
    np.testing.assert_allclose(f(KAPPA, M, E), pnbd._log_I_numpy(KAPPA, M, E), rtol=1e-15)
