"""Shared pieces of the models' random generators and the :class:`Family` declaration.

Each likelihood module declares, next to its log-likelihood, ``random(*params,
*design, weight=None, rng=None, size=None)`` (the model's story, to simulate
customers) and ``FAMILY``: how the Bayesian engine makes a PyMC distribution of
it (:func:`clvmodels.inference.bayes.build_pymc_model`).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["Family"]


@dataclass(frozen=True)
class Family:
    """How a model's likelihood becomes a PyMC distribution.

    Attributes
    ----------
    name
        Name of the observed variable (``"purchases"``, ``"spend"``).
    observed
        Data columns that are the random value, in the value's last axis.
    design
        Data columns that are fixed inputs of the distribution (``T``: the
        observation window; Gamma-Gamma: the number of purchases averaged).
    random
        ``random(*params, *design, weight, rng=, size=)``.
    jax
        Whether the log-likelihood can be compiled to JAX (NUTS by numpyro).
    """

    name: str
    observed: tuple[str, ...]
    design: tuple[str, ...]
    random: Callable
    jax: bool = True


def scalar_draws(random: Callable) -> Callable:
    """Let a generator take scalar parameters and no ``size``: one customer.

    The generators index their arrays (``out[has] = ...``), which numpy's draws of
    0-d parameters (Python floats) cannot be; with every parameter a scalar and no
    ``size`` (or ``size=()``) the generator runs for one customer, ``size=1``, and
    the result loses that axis: ``()`` for a spend, ``(2,)`` for ``(frequency,
    recency)``.
    """
    signature = inspect.signature(random)
    params = list(signature.parameters)[:list(signature.parameters).index("weight")]

    @functools.wraps(random)
    def wrapper(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        given = call.arguments
        if _shape(given["size"], *(given[name] for name in params)) == ():
            given["size"] = 1
            return random(*call.args, **call.kwargs)[0]
        return random(*call.args, **call.kwargs)

    return wrapper


def _shape(size, *arrays) -> tuple:
    if size is not None:
        return tuple(np.atleast_1d(size).astype(int)) if np.ndim(size) else (int(size),)
    return np.broadcast_shapes(*(np.shape(a) for a in arrays))


def _bcast(shape, *arrays):
    return [np.broadcast_to(np.asarray(a, dtype=float), shape) for a in arrays]


def _purchases_until(rng, lam, T, k):
    """Repeat purchases of customers with a Poisson(lam) purchase process on (0, T]
    who stop after their ``k``-th repeat purchase: ``(x, t_x)``.

    With ``M ~ Poisson(lam T)`` events in ``(0, T]`` the customer makes
    ``x = min(M, k)`` purchases, the last at the x-th of M sorted uniform times,
    ``T * Beta(x, M - x + 1)``.
    """
    m = rng.poisson(np.minimum(lam * T, 1e12))
    x = np.minimum(m, k)
    t_x = np.zeros(np.shape(x))
    has = x > 0
    t_x[has] = T[has] * rng.beta(x[has], m[has] - x[has] + 1.0)
    return x, t_x
