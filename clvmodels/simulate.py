r"""Simulate customers from the buy-till-you-die models, to check parameter recovery.

Two kinds of generators, all seeded through ``random_state`` (an int, ``None`` or a
:class:`numpy.random.Generator`) and vectorised:

* **transaction logs** (:func:`beta_geo`, :func:`modified_beta_geo`,
  :func:`pareto_nbd`): a DataFrame with columns ``customer_id`` (int64), ``date``
  (datetime64[ns]) and ``amount`` (float), one row per purchase, the first row of a
  customer being the first purchase. They follow each model's story purchase by
  purchase (exponential gaps between purchases, a dropout draw after every
  purchase or an exponential lifetime). ``df.attrs`` holds ``observation_end``
  and ``time_unit``.
* **summaries** (:func:`beta_geo_summary`, :func:`modified_beta_geo_summary`,
  :func:`pareto_nbd_summary`): the RFM summary directly (``frequency, recency, T``
  and ``monetary_value`` with ``spend``), without materialising the log. Given a
  customer's rates, the number of events of a Poisson process in a window is
  Poisson and, given that number, the event times are sorted uniforms; so the
  count and the time of the last purchase are drawn directly (the k-th of M
  sorted uniforms on (0, L) is ``L * Beta(k, M - k + 1)``). Ten million customers
  take seconds and memory proportional to the output (generated in chunks).

For logs larger than memory, :func:`write_log` writes a simulated log to Parquet
(one file or a folder of part files) a chunk of customers at a time.

Both kinds are in continuous time. :func:`clvmodels.rfm_summary` merges purchases
made on the same calendar day (the convention of the published CDNOW summary), so
a summary computed from a simulated log with a daily resolution has fewer repeat
purchases than the model generated when customers buy more than about once every
few days. To recover parameters from simulated logs, use purchase rates well
below one per day (``alpha`` large in days, e.g. mean rate ``r / alpha <= 0.05``
per day), a finer summary resolution, or the summary generators. ``resolution=``
floors the simulated timestamps (e.g. ``"D"`` to dates only) to mimic real data.

Spend (``spend=dict(p=..., q=..., v=...)``) follows the Gamma-Gamma model (Fader &
Hardie 2013, "The Gamma-Gamma model of monetary value", section 2): each
customer's :math:`\nu \sim \mathrm{Gamma}(q, v)` (shape ``q``, rate ``v``) and each
transaction's amount :math:`z \sim \mathrm{Gamma}(p, \nu)`, so a customer's mean
spend is :math:`p\nu^{-1}`. The summary's ``monetary_value`` is the mean amount of
the repeat purchases (0 without one), drawn as :math:`\mathrm{Gamma}(px, \nu)/x`.
Without ``spend`` every amount is 1.0.

Parameters follow the papers: ``alpha`` and ``beta`` are durations (rate
parameters of gamma distributions of rates) in ``time_unit``.

Examples
--------
>>> from clvmodels import simulate
>>> summary = simulate.pareto_nbd_summary(1000, r=0.55, alpha=10.6, s=0.61, beta=11.7,
...                                        T=39.0, time_unit="W", random_state=1)
>>> list(summary.columns), summary.attrs["time_unit"]
(['frequency', 'recency', 'T'], 'W')
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .covariates import BETA_GEO_LINKS, GAMMA_GAMMA_LINKS, PARETO_NBD_LINKS, link_parameters
from .units import normalize_unit, unit_days

__all__ = [
    "beta_geo",
    "beta_geo_beta_binom",
    "beta_geo_summary",
    "modified_beta_geo",
    "modified_beta_geo_summary",
    "pareto_nbd",
    "pareto_nbd_summary",
    "shifted_beta_geo",
    "write_log",
]

#: Customers generated per chunk by the summary generators (bounds memory).
_CHUNK = 1 << 20


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        raise TypeError("random_state must be an int, None or a numpy Generator "
                        "(np.random.default_rng), not a legacy RandomState.")
    return np.random.default_rng(random_state)


def _check_positive(**params) -> None:
    for name, value in params.items():
        v = float(value)
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{name} must be a positive finite number, got {value!r}.")


def _check_n(n_customers) -> int:
    n = int(n_customers)
    if n != n_customers or n < 1:
        raise ValueError(f"n_customers must be a positive whole number, got {n_customers!r}.")
    return n


def _check_spend(spend) -> dict | None:
    if spend is None:
        return None
    if not isinstance(spend, dict) or set(spend) != {"p", "q", "v"}:
        raise ValueError("spend must be a dict with keys 'p', 'q', 'v' (Gamma-Gamma "
                         f"parameters), got {spend!r}.")
    _check_positive(**{f"spend[{k!r}]": v for k, v in spend.items()})
    return {k: float(v) for k, v in spend.items()}


def _ages(T, n: int) -> np.ndarray:
    arr = np.asarray(T, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    elif arr.shape != (n,):
        raise ValueError(f"T must be a number or an array of n_customers={n} ages, "
                         f"got shape {arr.shape}.")
    if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError("T (customer ages) must be positive and finite.")
    return arr


# ----------------------------------------------------------------------------
# Summary-level generators
# ----------------------------------------------------------------------------

def _last_of_first(rng, n_first, n_total, length):
    """Time of the ``n_first``-th of ``n_total`` sorted uniforms on (0, length).

    ``length * Beta(n_first, n_total - n_first + 1)``; 0 where ``n_first == 0``.
    """
    has = n_first > 0
    out = np.zeros(n_first.shape)
    k = n_first[has].astype(float)
    out[has] = length[has] * rng.beta(k, n_total[has] - k + 1.0)
    return out


def _take(value, rows: slice):
    """A scalar parameter, or the rows of a per-customer one (covariates)."""
    return value if np.ndim(value) == 0 else value[rows]


def _summary(n, T, rng, spend, time_unit, draw_chunk: Callable, latent_names,
             return_latent: bool, covariates=None):
    """Run ``draw_chunk(rng, T_chunk, rows) -> (frequency, recency, latent...)`` in chunks.

    Returns the summary (with the ``covariates`` columns, if any), or ``(summary,
    latent)`` with ``return_latent`` (latent arrays are only kept when asked for).
    """
    ages = _ages(T, n)
    freq = np.empty(n, dtype=np.int64)
    rec = np.empty(n)
    names = list(latent_names) + (["nu"] if spend is not None else [])
    latent = {name: np.empty(n) for name in names} if return_latent else {}
    money = np.zeros(n) if spend is not None else None
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        f, r, *lat = draw_chunk(rng, ages[lo:hi], slice(lo, hi))
        freq[lo:hi] = f
        rec[lo:hi] = r
        if spend is not None:
            nu = rng.gamma(spend["q"], 1.0 / _take(spend["v"], slice(lo, hi)), size=hi - lo)
            has = f > 0
            total = np.zeros(hi - lo)
            total[has] = rng.gamma(spend["p"] * f[has], 1.0 / nu[has])
            money[lo:hi] = np.where(has, total / np.maximum(f, 1), 0.0)
            lat.append(nu)
        for name, value in zip(names, lat):
            if return_latent:
                latent[name][lo:hi] = value
    cols = {"frequency": freq, "recency": rec, "T": ages}
    if spend is not None:
        cols["monetary_value"] = money
    index = pd.Index(np.arange(n, dtype=np.int64), name="customer_id")
    summary = pd.DataFrame(cols, index=index)
    if covariates is not None:
        for col, values in pd.DataFrame(covariates).items():
            summary[col] = np.asarray(values, dtype=float)
    summary.attrs["time_unit"] = time_unit
    if not return_latent:
        return summary
    if "alive" in latent:
        latent["alive"] = latent["alive"].astype(bool)
    return summary, pd.DataFrame(latent, index=index.copy())


def _with_covariates(n, params, spend, links, covariates, coefficients):
    """Per-customer parameters (and spend) under the covariates' log-links."""
    if covariates is not None and len(pd.DataFrame(covariates)) != n:
        raise ValueError(f"covariates has {len(pd.DataFrame(covariates))} rows for "
                         f"n_customers={n}.")
    coefficients = dict(coefficients or {})
    spend_coefs = {k: v for k, v in coefficients.items() if str(k).startswith("spend_coef[")}
    rest = {k: v for k, v in coefficients.items() if k not in spend_coefs}
    params = link_parameters(params, links, covariates, rest, n)
    if spend_coefs:
        if spend is None:
            raise ValueError("spend_coef[...] coefficients need spend=dict(p=, q=, v=).")
        spend = link_parameters(spend, GAMMA_GAMMA_LINKS, covariates, spend_coefs, n)
    return params, spend


_COVARIATES_DOC = """covariates, coefficients
        Static covariates (:mod:`clvmodels.covariates`): a DataFrame with one
        numeric row per customer (its columns are added to the summary) and a
        dict of coefficients named as the fitted model's, e.g.
        ``{"purchase_coef[web]": 0.5, "dropout_coef[age]": -0.3,
        "spend_coef[web]": 0.2}``; each customer's parameters are then scaled by
        the model's log-links (``alpha * exp(-purchase_coef . x)``, ...)."""


def pareto_nbd_summary(n_customers, r, alpha, s, beta, T, random_state=None, *,
                       spend=None, time_unit="D", return_latent=False,
                       covariates=None, coefficients=None):
    r"""RFM summary of customers simulated from the Pareto/NBD model.

    Each customer has a purchase rate :math:`\lambda \sim \mathrm{Gamma}(r, \alpha)`
    and a lifetime :math:`\tau \sim \mathrm{Exp}(\mu)`,
    :math:`\mu \sim \mathrm{Gamma}(s, \beta)` (Schmittlein, Morrison & Colombo 1987).
    Purchases while alive form a Poisson process, observed over ``(0, T]`` after the
    first purchase: the count is :math:`\mathrm{Poisson}(\lambda\min(\tau, T))` and
    the last purchase is the maximum of that many uniforms on
    :math:`(0, \min(\tau, T))`.

    Parameters
    ----------
    n_customers
        Number of customers.
    r, alpha, s, beta
        Model parameters (``alpha``, ``beta`` in ``time_unit``).
    T
        Age of every customer at the end of observation (a number or one per customer).
    random_state
        Seed or :class:`numpy.random.Generator`.
    spend
        ``dict(p=, q=, v=)``: add ``monetary_value`` from the Gamma-Gamma model.
    time_unit
        Unit of ``T``, ``recency``, ``alpha``, ``beta`` (stored in ``attrs``).
    return_latent
        Also return a DataFrame of the latent ``lam``, ``mu``, ``lifetime``,
        ``alive`` (at ``T``) and, with ``spend``, ``nu``.
    {covariates}

    Returns
    -------
    DataFrame indexed by ``customer_id`` with ``frequency`` (int64), ``recency``,
    ``T`` (floats, continuous time) [, ``monetary_value``]; ``(summary, latent)``
    with ``return_latent``.
    """
    n = _check_n(n_customers)
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    spend = _check_spend(spend)
    rng = _rng(random_state)
    unit = normalize_unit(time_unit)
    P, spend = _with_covariates(n, {"alpha": alpha, "beta": beta}, spend, PARETO_NBD_LINKS,
                                covariates, coefficients)

    def draw(rng, ages, rows):
        m = ages.size
        lam = rng.gamma(r, 1.0 / _take(P["alpha"], rows), size=m)
        mu = rng.gamma(s, 1.0 / _take(P["beta"], rows), size=m)
        life = rng.exponential(1.0, size=m) / mu
        window = np.minimum(life, ages)
        count = rng.poisson(lam * window)
        rec = _last_of_first(rng, count, count, window)
        return count, rec, lam, mu, life, (life > ages).astype(float)

    return _summary(n, T, rng, spend, unit, draw, ("lam", "mu", "lifetime", "alive"),
                    return_latent, covariates)


def _geometric_summary(n, r, alpha, a, b, T, rng, spend, unit, return_latent, *,
                       at_first: bool, covariates=None, coefficients=None):
    P, spend = _with_covariates(n, {"alpha": alpha, "a": a, "b": b}, spend, BETA_GEO_LINKS,
                                covariates, coefficients)

    def draw(rng, ages, rows):
        m = ages.size
        lam = rng.gamma(r, 1.0 / _take(P["alpha"], rows), size=m)
        p = rng.beta(_take(P["a"], rows), _take(P["b"], rows), size=m)
        # Repeat purchases made before dropping out: the dropout is drawn after
        # every repeat purchase (BG/NBD) or after every purchase including the first
        # (MBG/NBD).
        k = rng.geometric(p) - (1 if at_first else 0)
        total = rng.poisson(lam * ages)  # events of the purchase process in (0, T]
        count = np.minimum(total, k)
        rec = _last_of_first(rng, count, total, ages)
        alive = (total < k).astype(float)
        return count, rec, lam, p, alive

    return _summary(n, T, rng, spend, unit, draw, ("lam", "p", "alive"), return_latent,
                    covariates)


def beta_geo_summary(n_customers, r, alpha, a, b, T, random_state=None, *,
                     spend=None, time_unit="D", return_latent=False, covariates=None,
                     coefficients=None):
    r"""RFM summary of customers simulated from the BG/NBD model.

    Fader, Hardie & Lee (2005): purchase rate :math:`\lambda \sim \mathrm{Gamma}(r,
    \alpha)`; after each repeat purchase the customer drops out with probability
    :math:`p \sim \mathrm{Beta}(a, b)`, so the number of repeat purchases before
    dropping out is :math:`K \sim \mathrm{Geometric}(p)` on ``1, 2, ...``. With
    :math:`M \sim \mathrm{Poisson}(\lambda T)` events of the purchase process in
    ``(0, T]``, the customer makes :math:`\min(M, K)` repeat purchases, the last at
    the :math:`\min(M, K)`-th of :math:`M` sorted uniforms on ``(0, T)``.

    Parameters and return value as :func:`pareto_nbd_summary` (latent columns
    ``lam``, ``p``, ``alive``); with ``covariates``, the coefficients are
    ``purchase_coef[col]``, ``dropout_coef_a[col]``, ``dropout_coef_b[col]``
    (and ``spend_coef[col]``), as :class:`~clvmodels.BetaGeoModel`'s.
    """
    n = _check_n(n_customers)
    _check_positive(r=r, alpha=alpha, a=a, b=b)
    spend = _check_spend(spend)
    rng = _rng(random_state)
    return _geometric_summary(n, r, alpha, a, b, T, rng, spend, normalize_unit(time_unit),
                              return_latent, at_first=False, covariates=covariates,
                              coefficients=coefficients)


def modified_beta_geo_summary(n_customers, r, alpha, a, b, T, random_state=None, *,
                              spend=None, time_unit="D", return_latent=False, covariates=None,
                              coefficients=None):
    r"""RFM summary of customers simulated from the MBG/NBD model.

    Batislam, Denizel & Filiztekin (2007): as :func:`beta_geo_summary`, but the
    customer may also drop out right after the first purchase, so the number of
    repeat purchases before dropping out is :math:`\mathrm{Geometric}(p) - 1` on
    ``0, 1, ...``. Covariates and coefficients as :func:`beta_geo_summary` (the
    links of :class:`~clvmodels.ModifiedBetaGeoModel` are BG/NBD's).
    """
    n = _check_n(n_customers)
    _check_positive(r=r, alpha=alpha, a=a, b=b)
    spend = _check_spend(spend)
    rng = _rng(random_state)
    return _geometric_summary(n, r, alpha, a, b, T, rng, spend, normalize_unit(time_unit),
                              return_latent, at_first=True, covariates=covariates,
                              coefficients=coefficients)


# ----------------------------------------------------------------------------
# Transaction logs
# ----------------------------------------------------------------------------

def _purchase_times(rng, lam, horizon, after_purchase: Callable | None, lifetime=None):
    """Repeat purchase times of every customer, gap by gap (the model's story).

    All customers draw an exponential gap at each round; a customer stops when the
    next purchase falls after ``horizon`` (or after ``lifetime``), or when
    ``after_purchase(active_index) -> bool mask`` says it dropped out after the
    purchase just made. Returns (customer index, time) of every repeat purchase.
    """
    n = lam.size
    limit = horizon if lifetime is None else np.minimum(horizon, lifetime)
    active = np.flatnonzero(lam > 0)
    clock = np.zeros(n)
    who, when = [], []
    while active.size:
        t = clock[active] + rng.exponential(1.0, size=active.size) / lam[active]
        made = t <= limit[active]
        active, t = active[made], t[made]
        clock[active] = t
        who.append(active)
        when.append(t)
        if after_purchase is not None and active.size:
            active = active[~after_purchase(active)]
    if who:
        return np.concatenate(who), np.concatenate(when)
    return np.empty(0, dtype=np.int64), np.empty(0)


def _log(n, first, times_who, times_when, rng, spend, *, observation_end, unit, start,
         resolution) -> pd.DataFrame:
    """Assemble the transaction log from first-purchase and repeat-purchase times."""
    cid = np.concatenate([np.arange(n, dtype=np.int64), times_who.astype(np.int64)])
    t = np.concatenate([first, first[times_who] + times_when])
    order = np.lexsort((t, cid))
    cid, t = cid[order], t[order]
    if spend is None:
        amount = np.ones(cid.size)
    else:
        nu = rng.gamma(spend["q"], 1.0 / spend["v"], size=n)
        amount = rng.gamma(spend["p"], 1.0 / nu[cid])
    origin = pd.Timestamp(start)
    ns = np.rint(t * unit_days(unit) * 86_400e9).astype(np.int64)
    dates = pd.to_datetime(origin.value + ns, unit="ns")
    if resolution is not None:
        dates = dates.floor(resolution)
    log = pd.DataFrame({"customer_id": cid, "date": dates, "amount": amount})
    log["date"] = log["date"].astype("datetime64[ns]")
    log.attrs["observation_end"] = origin + pd.Timedelta(
        np.rint(observation_end * unit_days(unit) * 86_400e9).astype(np.int64), unit="ns")
    log.attrs["time_unit"] = unit
    return log


def _check_acquisition(acquisition_period) -> float:
    acq = float(acquisition_period)
    if not np.isfinite(acq) or acq < 0:
        raise ValueError(f"acquisition_period must be >= 0, got {acquisition_period!r}.")
    return acq


def _log_setup(n_customers, observation_length, acquisition_period, time_unit, spend,
               random_state):
    n = _check_n(n_customers)
    _check_positive(observation_length=observation_length)
    acq = _check_acquisition(acquisition_period)
    unit = normalize_unit(time_unit)
    rng = _rng(random_state)
    first = rng.uniform(0.0, acq, size=n) if acq > 0 else np.zeros(n)
    end = acq + float(observation_length)
    return n, unit, rng, first, end, _check_spend(spend)


_LOG_PARAMS_DOC = """
    Parameters
    ----------
    n_customers
        Number of customers (ids ``0 .. n_customers - 1``).
    observation_length
        Length of observation after the acquisition period, in ``time_unit``.
    time_unit
        Unit of ``observation_length``, ``acquisition_period`` and the durations
        among the model parameters.
    acquisition_period
        First purchases are spread uniformly over ``[0, acquisition_period)`` after
        ``start``; every customer is observed until
        ``start + acquisition_period + observation_length`` (``attrs['observation_end']``).
    start
        Date of the beginning of the acquisition period.
    spend
        ``dict(p=, q=, v=)``: Gamma-Gamma amounts (else every amount is 1.0).
    resolution
        ``None`` (exact timestamps) or a pandas frequency (``"D"``, ``"h"``, ...)
        to floor the timestamps to.
    random_state
        Seed or :class:`numpy.random.Generator`.

    Returns
    -------
    DataFrame with columns ``customer_id`` (int64), ``date`` (datetime64[ns]),
    ``amount`` (float), sorted by customer and date.
"""


def pareto_nbd(n_customers, r, alpha, s, beta, *, observation_length, time_unit="D",
               acquisition_period=0.0, start="2024-01-01", spend=None, resolution=None,
               random_state=None):
    """Transaction log of customers simulated from the Pareto/NBD model.

    Each customer draws :math:`\\lambda \\sim \\mathrm{Gamma}(r, \\alpha)`,
    :math:`\\mu \\sim \\mathrm{Gamma}(s, \\beta)` and a lifetime
    :math:`\\mathrm{Exp}(\\mu)` from the first purchase; repeat purchases follow at
    exponential gaps of rate :math:`\\lambda` until death or the observation end.
    """
    _check_positive(r=r, alpha=alpha, s=s, beta=beta)
    n, unit, rng, first, end, spend = _log_setup(
        n_customers, observation_length, acquisition_period, time_unit, spend, random_state)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    mu = rng.gamma(s, 1.0 / beta, size=n)
    life = rng.exponential(1.0, size=n) / mu
    who, when = _purchase_times(rng, lam, end - first, None, lifetime=life)
    return _log(n, first, who, when, rng, spend, observation_end=end, unit=unit,
                start=start, resolution=resolution)


def _geometric_log(n_customers, r, alpha, a, b, observation_length, time_unit,
                   acquisition_period, start, spend, resolution, random_state, at_first):
    _check_positive(r=r, alpha=alpha, a=a, b=b)
    n, unit, rng, first, end, spend = _log_setup(
        n_customers, observation_length, acquisition_period, time_unit, spend, random_state)
    lam = rng.gamma(r, 1.0 / alpha, size=n)
    p = rng.beta(a, b, size=n)
    if at_first:
        dead_at_start = rng.random(n) < p
        lam = np.where(dead_at_start, 0.0, lam)

    def dropout(active):
        return rng.random(active.size) < p[active]

    who, when = _purchase_times(rng, lam, end - first, dropout)
    return _log(n, first, who, when, rng, spend, observation_end=end, unit=unit,
                start=start, resolution=resolution)


def beta_geo(n_customers, r, alpha, a, b, *, observation_length, time_unit="D",
             acquisition_period=0.0, start="2024-01-01", spend=None, resolution=None,
             random_state=None):
    """Transaction log of customers simulated from the BG/NBD model.

    Each customer draws :math:`\\lambda \\sim \\mathrm{Gamma}(r, \\alpha)` and
    :math:`p \\sim \\mathrm{Beta}(a, b)`; repeat purchases follow at exponential gaps
    of rate :math:`\\lambda`, and after each repeat purchase the customer drops out
    with probability :math:`p` (Fader, Hardie & Lee 2005).
    """
    return _geometric_log(n_customers, r, alpha, a, b, observation_length, time_unit,
                          acquisition_period, start, spend, resolution, random_state,
                          at_first=False)


def modified_beta_geo(n_customers, r, alpha, a, b, *, observation_length, time_unit="D",
                      acquisition_period=0.0, start="2024-01-01", spend=None,
                      resolution=None, random_state=None):
    """Transaction log of customers simulated from the MBG/NBD model.

    As :func:`beta_geo`, but the customer may also drop out right after the first
    purchase (Batislam, Denizel & Filiztekin 2007).
    """
    return _geometric_log(n_customers, r, alpha, a, b, observation_length, time_unit,
                          acquisition_period, start, spend, resolution, random_state,
                          at_first=True)


# ----------------------------------------------------------------------------
# Transaction logs written to Parquet in chunks of customers
# ----------------------------------------------------------------------------

#: Customers per block of :func:`write_log`; each block has its own random stream
#: (derived from the seed and the block's number), so the log does not depend on
#: ``chunk_customers``.
_LOG_BLOCK = 1 << 16

_LOG_MODELS = {"bgnbd": ("r", "alpha", "a", "b"), "mbgnbd": ("r", "alpha", "a", "b"),
               "paretonbd": ("r", "alpha", "s", "beta")}


def _log_block(rng, lo: int, hi: int, model: str, params: dict, acq: float, end: float,
               spend: dict | None):
    """Customers ``lo .. hi - 1``: (customer ids, purchase times, amounts), one row per
    purchase sorted by customer and time, times in the model's unit from the start.

    Drawn as :func:`beta_geo_summary` and :func:`pareto_nbd_summary` draw the
    summary (the number of repeat purchases and the time of the last one), then
    the earlier repeat purchases: given the last of ``n`` purchases at ``t_n``,
    the ``n - 1`` earlier ones are ``n - 1`` sorted uniforms on ``(0, t_n)``,
    drawn as normalised partial sums of ``n`` exponentials.
    """
    m = hi - lo
    first = rng.uniform(0.0, acq, size=m) if acq > 0 else np.zeros(m)
    length = end - first
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size=m)
    if model == "paretonbd":
        mu = rng.gamma(params["s"], 1.0 / params["beta"], size=m)
        window = np.minimum(rng.exponential(1.0, size=m) / mu, length)
        n = rng.poisson(lam * window)
        last = _last_of_first(rng, n, n, window)
    else:
        p = rng.beta(params["a"], params["b"], size=m)
        k = rng.geometric(p) - (1 if model == "mbgnbd" else 0)
        total = rng.poisson(lam * length)
        n = np.minimum(total, k)
        last = _last_of_first(rng, n, total, length)
    n_rep = int(n.sum())
    owner = np.repeat(np.arange(m), n)               # customer of each repeat purchase
    sums = np.cumsum(rng.exponential(1.0, size=n_rep))
    before = np.concatenate([[0.0], sums])[np.cumsum(n) - n]   # sum before the customer
    whole = np.concatenate([[0.0], sums])[np.cumsum(n)] - before
    with np.errstate(invalid="ignore", divide="ignore"):
        repeat_t = last[owner] * ((sums - before[owner]) / whole[owner])
    rows = n + 1
    cid = np.repeat(np.arange(lo, hi, dtype=np.int64), rows)
    is_first = np.zeros(cid.size, dtype=bool)
    is_first[np.cumsum(rows) - rows] = True
    t = np.repeat(first, rows)
    t[~is_first] += repeat_t
    if spend is None:
        amount = np.ones(cid.size)
    else:
        nu = rng.gamma(spend["q"], 1.0 / spend["v"], size=m)
        amount = rng.gamma(spend["p"], 1.0 / np.repeat(nu, rows))
    return cid, t, amount


def write_log(path, n_customers, *, model="bgnbd", params, observation_length,
              time_unit="D", acquisition_period=0.0, start="2024-01-01", spend=None,
              resolution=None, chunk_customers=1_000_000, random_state=None):
    """Write a simulated transaction log to Parquet, a chunk of customers at a time.

    For logs larger than memory (benchmarks, tests of out-of-core pipelines): the
    generator holds one chunk of customers at a time, whatever ``n_customers``.
    The customers follow the same models as :func:`beta_geo`,
    :func:`modified_beta_geo` and :func:`pareto_nbd` (and amounts the Gamma-Gamma
    model), but each customer's purchases are drawn at once rather than gap by
    gap: the number of repeat purchases and the time of the last one as in
    :func:`beta_geo_summary` / :func:`pareto_nbd_summary`, then the earlier
    purchases as sorted uniforms before the last one (the same distribution).

    The log is the same for a seed whatever ``chunk_customers``: customers are
    drawn in fixed blocks of 65,536, each block from its own random stream
    (``numpy.random.SeedSequence(seed, spawn_key=(block,))``). It differs from the
    log of :func:`beta_geo` with the same seed (another drawing order).

    Parameters
    ----------
    path
        A ``.parquet`` file (one row group per chunk), or a folder that receives
        ``part-00000.parquet``, ``part-00001.parquet``, ... (one per chunk; the
        folder must not hold part files already).
    n_customers
        Number of customers (ids ``0 .. n_customers - 1``, every one with at least
        its first purchase).
    model
        ``"bgnbd"``, ``"mbgnbd"`` or ``"paretonbd"``.
    params
        The model's parameters: ``dict(r=, alpha=, a=, b=)`` or
        ``dict(r=, alpha=, s=, beta=)`` (durations in ``time_unit``).
    observation_length, time_unit, acquisition_period, start, spend, resolution
        As for :func:`beta_geo`. The log is observed until ``start +
        acquisition_period + observation_length``; pass that day as
        ``observation_period_end`` to :func:`clvmodels.rfm_summary` (the last
        purchase is earlier).
    chunk_customers
        Customers per part file or row group.
    random_state
        An int seed, ``None`` (fresh entropy) or a :class:`numpy.random.Generator`
        (one seed is drawn from it).

    Returns
    -------
    pathlib.Path
        ``path``. Columns: ``customer_id`` (int64), ``date`` (timestamp, microseconds),
        ``amount`` (float64), sorted by customer and date.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> from clvmodels import simulate
    >>> folder = tempfile.mkdtemp()
    >>> out = simulate.write_log(folder, 1000, params=dict(r=0.5, alpha=20.0, a=0.8, b=2.5),
    ...                          observation_length=365, chunk_customers=400, random_state=1)
    >>> sorted(p.name for p in out.glob("*.parquet"))
    ['part-00000.parquet', 'part-00001.parquet', 'part-00002.parquet']
    >>> int(pd.read_parquet(out)["customer_id"].nunique())
    1000
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    if model not in _LOG_MODELS:
        raise ValueError(f"model must be one of {sorted(_LOG_MODELS)}, got {model!r}.")
    names = _LOG_MODELS[model]
    if not isinstance(params, dict) or set(params) != set(names):
        raise ValueError(f"params of {model!r} must be a dict with keys {names}, got {params!r}.")
    _check_positive(**params)
    params = {k: float(v) for k, v in params.items()}
    n = _check_n(n_customers)
    chunk = _check_n(chunk_customers)
    _check_positive(observation_length=observation_length)
    acq = _check_acquisition(acquisition_period)
    spend = _check_spend(spend)
    unit = normalize_unit(time_unit)
    end = acq + float(observation_length)
    if isinstance(random_state, np.random.Generator):
        entropy = int(random_state.integers(2**63))
    elif random_state is None:
        entropy = np.random.SeedSequence().entropy
    else:
        entropy = int(random_state)
    us_per_unit = unit_days(unit) * 86_400e6
    origin_us = pd.Timestamp(start).value // 1000  # .value is in ns
    step_us = None if resolution is None else pd.Timedelta(pd.tseries.frequencies.to_offset(resolution)).value // 1000

    path = Path(path)
    single = path.suffix.lower() in (".parquet", ".pq")
    if single:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.glob("part-*.parquet")):
            raise FileExistsError(f"{path} already holds part files; use an empty folder.")
    schema = pa.schema([("customer_id", pa.int64()), ("date", pa.timestamp("us")),
                        ("amount", pa.float64())])

    def blocks():
        for b, lo in enumerate(range(0, n, _LOG_BLOCK)):
            seed = np.random.SeedSequence(entropy, spawn_key=(b,))
            yield _log_block(np.random.default_rng(seed), lo, min(n, lo + _LOG_BLOCK), model,
                             params, acq, end, spend)

    def table(cid, t, amount):
        us = origin_us + np.rint(t * us_per_unit).astype(np.int64)
        if step_us is not None:
            us = us // step_us * step_us
        return pa.table([pa.array(cid), pa.array(us.view("datetime64[us]")), pa.array(amount)],
                        schema=schema)

    writer = pq.ParquetWriter(path, schema) if single else None
    try:
        pending = []  # (cid, t, amount) arrays not written yet, in customer order
        source = blocks()
        for part, lo in enumerate(range(0, n, chunk)):
            hi = min(n, lo + chunk)
            while not pending or pending[-1][0][-1] < hi - 1:
                pending.append(next(source))
            cols = [np.concatenate(c) for c in zip(*pending)]
            cut = int(np.searchsorted(cols[0], hi))
            out = table(*(c[:cut] for c in cols))
            pending = [tuple(c[cut:] for c in cols)] if cut < cols[0].size else []
            if single:
                writer.write_table(out)
            else:
                pq.write_table(out, path / f"part-{part:05d}.parquet")
    finally:
        if writer is not None:
            writer.close()
    return path


for _f in (pareto_nbd, beta_geo, modified_beta_geo):
    _f.__doc__ = (_f.__doc__ or "") + _LOG_PARAMS_DOC
del _f


# ---------------------------------------------------------------------------
# Contractual: the shifted-beta-geometric model


def shifted_beta_geo(n_subscribers, alpha, beta, n_periods, random_state=None) -> pd.DataFrame:
    r"""Subscribers of the shifted-beta-geometric model (Fader & Hardie 2007).

    Each subscriber's churn probability is :math:`\theta \sim \mathrm{Beta}(\alpha,
    \beta)`; they renew at the end of each period with probability :math:`1 - \theta`,
    so the period in which they leave is geometric, :math:`T \ge 1`. Observed over
    ``n_periods`` (a number, or one per subscriber for several cohorts), a
    subscriber is a row ``t, churned, horizon``: ``(T, 1, n)`` if :math:`T \le n`,
    else ``(n, 0, n)`` (still subscribed after ``n`` periods), the input of
    :class:`~clvmodels.models.shifted_beta_geo.ShiftedBetaGeoModel`.

    Examples
    --------
    >>> from clvmodels import simulate
    >>> subs = simulate.shifted_beta_geo(1000, alpha=0.7, beta=1.2, n_periods=7,
    ...                                  random_state=1)
    >>> list(subs.columns), len(subs)
    (['t', 'churned', 'horizon'], 1000)
    """
    n = _check_n(n_subscribers)
    _check_positive(alpha=alpha, beta=beta)
    horizon = np.broadcast_to(np.asarray(n_periods, dtype=float), (n,)).copy()
    if np.any(~np.isfinite(horizon) | (horizon < 0) | (horizon != np.round(horizon))):
        raise ValueError("n_periods must be whole numbers >= 0.")
    rng = _rng(random_state)
    theta = np.clip(rng.beta(alpha, beta, size=n), 1e-300, 1.0)
    lifetime = rng.geometric(theta).astype(float)
    churned = lifetime <= horizon
    return pd.DataFrame({"t": np.where(churned, lifetime, horizon),
                         "churned": churned.astype(np.int64), "horizon": horizon})


def beta_geo_beta_binom(n_customers, alpha, beta, gamma, delta, n_periods,
                        random_state=None) -> pd.DataFrame:
    r"""Customers of the BG/BB model (Fader, Hardie & Shang 2010).

    Each customer has a transaction probability :math:`p \sim \mathrm{Beta}(\alpha,
    \beta)` and a dropout probability :math:`\theta \sim \mathrm{Beta}(\gamma,
    \delta)`; at each of ``n_periods`` opportunities after the first transaction
    (a number, or one per customer for several cohorts) an alive customer first
    dies with probability :math:`\theta`, else transacts with probability
    :math:`p`. A customer is a row ``frequency, recency, n_periods``, the input of
    :class:`~clvmodels.models.beta_geo_beta_binom.BetaGeoBetaBinomModel` (the
    generator is the model's own, :func:`clvmodels.likelihoods.beta_geo_beta_binom.random`).

    Examples
    --------
    >>> from clvmodels import simulate
    >>> donors = simulate.beta_geo_beta_binom(1000, 1.2, 0.75, 0.66, 2.8, n_periods=6,
    ...                                       random_state=1)
    >>> list(donors.columns), len(donors), int(donors["recency"].max()) <= 6
    (['frequency', 'recency', 'n_periods'], 1000, True)
    """
    from .likelihoods.beta_geo_beta_binom import random

    n = _check_n(n_customers)
    _check_positive(alpha=alpha, beta=beta, gamma=gamma, delta=delta)
    periods = np.broadcast_to(np.asarray(n_periods, dtype=float), (n,)).copy()
    if np.any(~np.isfinite(periods) | (periods < 0) | (periods != np.round(periods))):
        raise ValueError("n_periods must be whole numbers >= 0.")
    sim = random(alpha, beta, gamma, delta, periods, rng=_rng(random_state))
    return pd.DataFrame({"frequency": sim[:, 0].astype(np.int64),
                         "recency": sim[:, 1].astype(np.int64),
                         "n_periods": periods.astype(np.int64)})


pareto_nbd_summary.__doc__ = pareto_nbd_summary.__doc__.replace(
    "{covariates}", _COVARIATES_DOC)
