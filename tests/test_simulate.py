"""Simulators: moments against the models' closed forms, log vs summary, seeds, contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.optimize import minimize

from clvmodels import simulate
from clvmodels._checks import check_summary
from clvmodels.likelihoods import beta_geo as bg
from clvmodels.likelihoods import beta_geo_beta_binom as bgbb
from clvmodels.likelihoods import gamma_gamma as gg
from clvmodels.likelihoods import gamma_gamma_individual as ggi
from clvmodels.likelihoods import modified_beta_geo as mbg
from clvmodels.likelihoods import pareto_nbd as pnbd
from clvmodels.likelihoods import shifted_beta_geo as sbg
from clvmodels.units import unit_days

PNBD = dict(r=0.55, alpha=10.58, s=0.61, beta=11.67)   # CDNOW, weeks
BG = dict(r=0.243, alpha=4.414, a=0.793, b=2.426)
MBG = dict(r=0.525, alpha=6.183, a=0.891, b=1.614)
SPEND = dict(p=6.25, q=3.74, v=15.44)

MODELS = {
    "pareto_nbd": (simulate.pareto_nbd, simulate.pareto_nbd_summary, PNBD, pnbd),
    "beta_geo": (simulate.beta_geo, simulate.beta_geo_summary, BG, bg),
    "modified_beta_geo": (simulate.modified_beta_geo, simulate.modified_beta_geo_summary,
                          MBG, mbg),
}


def _summary_from_log(log: pd.DataFrame) -> pd.DataFrame:
    """Continuous-time summary of a simulated log (no same-day merging)."""
    unit = pd.Timedelta(days=unit_days(log.attrs["time_unit"]))
    g = log.groupby("customer_id")["date"]
    first, last, count = g.min(), g.max(), g.size()
    return pd.DataFrame({
        "frequency": (count - 1).astype(np.int64),
        "recency": (last - first) / unit,
        "T": (log.attrs["observation_end"] - first) / unit,
    })


def _z(observed_mean, expected_mean, sd, n):
    return (observed_mean - expected_mean) / (sd / np.sqrt(n))


# ---------------------------------------------------------------- moments

@pytest.mark.parametrize("name", list(MODELS))
def test_summary_moments_match_closed_forms(name):
    _, gen, params, formulas = MODELS[name]
    n, T = 200_000, 39.0
    summary = gen(n, **params, T=T, time_unit="W", random_state=11)
    f = summary["frequency"].to_numpy()
    expected = float(formulas.expected_purchases(T, *params.values()))
    assert abs(_z(f.mean(), expected, f.std(), n)) < 4
    for k in range(4):  # P(X(T) = k), the first one is the share of zero-repeaters
        p = float(np.squeeze(formulas.probability_of_purchases(k, T, *params.values())))
        share = np.mean(f == k)
        assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / n), (k, share, p)


def test_ages_per_customer():
    rng = np.random.default_rng(5)
    T = rng.uniform(1.0, 78.0, 100_000)
    summary = simulate.pareto_nbd_summary(len(T), **PNBD, T=T, random_state=3)
    np.testing.assert_array_equal(summary["T"].to_numpy(), T)
    f = summary["frequency"].to_numpy()
    expected = pnbd.expected_purchases(T, *PNBD.values()).mean()
    assert abs(_z(f.mean(), expected, f.std(), len(T))) < 4


@pytest.mark.parametrize("name", list(MODELS))
def test_latent_alive_matches_probability_alive(name):
    # E[alive | history] = P(alive | history): the simulator's latent status and the
    # model's P(alive) formula must agree on average, overall and by frequency.
    _, gen, params, formulas = MODELS[name]
    T = np.random.default_rng(1).uniform(10.0, 60.0, 100_000)
    summary, latent = gen(len(T), **params, T=T, time_unit="W", random_state=7,
                          return_latent=True)
    p = formulas.probability_alive(summary["frequency"].to_numpy(float),
                                   summary["recency"].to_numpy(), T, *params.values())
    alive = latent["alive"].to_numpy()
    for mask in (np.ones(len(T), bool), summary["frequency"].to_numpy() == 0,
                 summary["frequency"].to_numpy() >= 3):
        sd = np.sqrt(np.mean(p[mask] * (1 - p[mask])))
        if sd == 0:  # BG/NBD: no dropout without a repeat purchase
            assert alive[mask].mean() == p[mask].mean() == 1.0
        else:
            assert abs(_z(alive[mask].mean(), p[mask].mean(), sd, mask.sum())) < 4.5


def test_spend_moments():
    summary = simulate.pareto_nbd_summary(100_000, **PNBD, T=39.0, spend=SPEND,
                                          random_state=2)
    rep = summary[summary["frequency"] > 0]
    # E[mean spend | x] = p E[1/nu] = p v / (q - 1) (Gamma-Gamma), for every x
    mean = SPEND["p"] * SPEND["v"] / (SPEND["q"] - 1)
    m = rep["monetary_value"].to_numpy()
    assert abs(_z(m.mean(), mean, m.std(), len(m))) < 4
    assert (summary.loc[summary["frequency"] == 0, "monetary_value"] == 0).all()
    log = simulate.pareto_nbd(20_000, **PNBD, observation_length=39, time_unit="W",
                              spend=SPEND, random_state=2)
    a = log["amount"].to_numpy()
    assert abs(_z(a.mean(), mean, a.std(), len(a))) < 5  # amounts cluster by customer
    assert (a > 0).all()
    no_spend = simulate.beta_geo(100, **BG, observation_length=10, random_state=1)
    assert (no_spend["amount"] == 1.0).all()


# ---------------------------------------------------------------- log vs summary

@pytest.mark.parametrize("name", list(MODELS))
def test_log_and_summary_generators_agree(name):
    log_gen, sum_gen, params, _ = MODELS[name]
    n = 20_000
    log = log_gen(n, **params, observation_length=39.0, time_unit="W", acquisition_period=13.0,
                  random_state=21)
    from_log = _summary_from_log(log)
    T = from_log["T"].to_numpy()
    assert T.min() >= 39.0 - 1e-9 and T.max() <= 52.0 + 1e-9
    direct = sum_gen(n, **params, T=T, time_unit="W", random_state=22)
    f1, f2 = from_log["frequency"].to_numpy(), direct["frequency"].to_numpy()
    bins = np.minimum(np.concatenate([f1, f2]), 8)
    table = np.array([np.bincount(np.minimum(f, 8), minlength=9) for f in (f1, f2)])
    assert bins.max() == 8
    assert stats.chi2_contingency(table)[1] > 1e-3
    r1 = from_log["recency"].to_numpy()[f1 > 0]
    r2 = direct["recency"].to_numpy()[f2 > 0]
    assert stats.ks_2samp(r1, r2).pvalue > 1e-3
    # the repeat customers' recency relative to age, a second look at timing
    q1 = r1 / T[f1 > 0]
    q2 = r2 / T[f2 > 0]
    assert stats.ks_2samp(q1, q2).pvalue > 1e-3


# ---------------------------------------------------------------- contract

def test_log_contract():
    log = simulate.modified_beta_geo(500, **MBG, observation_length=52, time_unit="W",
                                     acquisition_period=26, start="2023-06-01",
                                     spend=SPEND, random_state=4)
    assert list(log.columns) == ["customer_id", "date", "amount"]
    assert log["customer_id"].dtype == np.int64
    assert log["date"].dtype == "datetime64[ns]"
    assert log["amount"].dtype == np.float64
    assert set(log["customer_id"]) == set(range(500))  # every customer has a first purchase
    assert log.equals(log.sort_values(["customer_id", "date"], kind="stable"))
    start, end = pd.Timestamp("2023-06-01"), log.attrs["observation_end"]
    assert end == start + pd.Timedelta(weeks=78)
    assert log["date"].min() >= start and log["date"].max() <= end
    first = log.groupby("customer_id")["date"].min()
    assert first.max() < start + pd.Timedelta(weeks=26)
    assert log.attrs["time_unit"] == "W"
    daily = simulate.beta_geo(300, **BG, observation_length=100, resolution="D", random_state=1)
    assert (daily["date"] == daily["date"].dt.floor("D")).all()


@pytest.mark.parametrize("name", list(MODELS))
def test_summary_contract(name):
    _, gen, params, _ = MODELS[name]
    summary = gen(3000, **params, T=30.0, spend=SPEND, time_unit="W", random_state=0)
    assert summary.index.name == "customer_id" and summary.index.dtype == np.int64
    assert list(summary.columns) == ["frequency", "recency", "T", "monetary_value"]
    assert summary["frequency"].dtype == np.int64
    assert summary.attrs["time_unit"] == "W"
    check_summary(summary, positive_monetary=True)
    f, rec = summary["frequency"].to_numpy(), summary["recency"].to_numpy()
    assert ((f == 0) == (rec == 0)).all() and (rec <= 30.0).all()
    plain = gen(10, **params, T=5.0)
    assert list(plain.columns) == ["frequency", "recency", "T"]
    assert plain.attrs["time_unit"] == "D"


def test_seeds_reproduce_exactly(monkeypatch):
    for gen, params in ((simulate.pareto_nbd_summary, PNBD), (simulate.beta_geo_summary, BG)):
        a = gen(5000, **params, T=39.0, spend=SPEND, random_state=42)
        b = gen(5000, **params, T=39.0, spend=SPEND, random_state=42)
        c = gen(5000, **params, T=39.0, spend=SPEND, random_state=43)
        pd.testing.assert_frame_equal(a, b)
        assert not a.equals(c)
    for gen, params in ((simulate.pareto_nbd, PNBD), (simulate.modified_beta_geo, MBG)):
        a = gen(500, **params, observation_length=20.0, acquisition_period=5.0,
                spend=SPEND, random_state=np.random.default_rng(9))
        b = gen(500, **params, observation_length=20.0, acquisition_period=5.0,
                spend=SPEND, random_state=np.random.default_rng(9))
        pd.testing.assert_frame_equal(a, b)
    # a shared Generator advances: two calls differ
    rng = np.random.default_rng(1)
    assert not simulate.beta_geo_summary(100, **BG, T=9.0, random_state=rng).equals(
        simulate.beta_geo_summary(100, **BG, T=9.0, random_state=rng))
    # chunked generation (as for ten million customers) keeps the contract
    monkeypatch.setattr(simulate, "_CHUNK", 1000)
    big = simulate.pareto_nbd_summary(5500, **PNBD, T=39.0, spend=SPEND, random_state=5)
    assert big.index.tolist() == list(range(5500))
    check_summary(big, positive_monetary=True)
    f = big["frequency"].to_numpy()
    expected = float(pnbd.expected_purchases(39.0, *PNBD.values()))
    assert abs(_z(f.mean(), expected, f.std(), len(f))) < 4


def test_invalid_arguments():
    with pytest.raises(ValueError, match="alpha"):
        simulate.pareto_nbd_summary(10, r=1, alpha=-1, s=1, beta=1, T=1)
    with pytest.raises(ValueError, match="n_customers"):
        simulate.beta_geo_summary(0, **BG, T=1)
    with pytest.raises(ValueError, match="spend"):
        simulate.beta_geo_summary(10, **BG, T=1, spend={"p": 1, "q": 2})
    with pytest.raises(ValueError, match="ages"):
        simulate.beta_geo_summary(10, **BG, T=np.ones(3))
    with pytest.raises(ValueError, match="time unit"):
        simulate.beta_geo_summary(10, **BG, T=1, time_unit="m")
    with pytest.raises(ValueError, match="acquisition_period"):
        simulate.pareto_nbd(10, **PNBD, observation_length=5, acquisition_period=-1)
    with pytest.raises(TypeError, match="Generator"):
        simulate.pareto_nbd(10, **PNBD, observation_length=5,
                            random_state=np.random.RandomState(0))


# ---------------------------------------------------------------- recovery

def test_pareto_nbd_parameters_are_recovered():
    rng = np.random.default_rng(8)
    T = rng.integers(27, 40, 30_000).astype(float)  # weekly cohorts, as CDNOW
    summary = simulate.pareto_nbd_summary(len(T), **PNBD, T=T, time_unit="W", random_state=8)
    u = summary.value_counts(["frequency", "recency", "T"]).reset_index()
    x, t_x, TT, w = (u[c].to_numpy(float) for c in ("frequency", "recency", "T", "count"))

    def nll(theta):
        return -np.dot(w, pnbd.loglik(x, t_x, TT, *np.exp(theta)))

    res = minimize(nll, np.zeros(4), method="BFGS", options={"gtol": 1e-5})
    h = 1e-4
    H = np.empty((4, 4))
    for i in range(4):
        for j in range(4):
            ei, ej = np.eye(4)[i] * h, np.eye(4)[j] * h
            H[i, j] = (nll(res.x + ei + ej) - nll(res.x + ei - ej)
                       - nll(res.x - ei + ej) + nll(res.x - ei - ej)) / (4 * h * h)
    se_log = np.sqrt(np.diag(np.linalg.inv(H)))
    z = (res.x - np.log(list(PNBD.values()))) / se_log
    assert np.all(np.abs(z) < 4), (np.exp(res.x), z)


# The likelihood modules' generators (each FAMILY's random) with scalar parameters:
# one customer, not a TypeError from indexing the Python floats numpy draws for 0-d
# parameters.

ONE_CUSTOMER = [
    (bg, (*BG.values(), 38.0), (2,)), (mbg, (*MBG.values(), 38.0), (2,)),
    (pnbd, (*PNBD.values(), 38.0), (2,)), (bgbb, (1.2, 0.75, 0.66, 2.8, 6.0), (2,)),
    (sbg, (0.7, 1.3, 5.0), (2,)), (gg, (*SPEND.values(), 3.0), ()),
    (ggi, (*SPEND.values(), 3.0), (2,))]


@pytest.mark.parametrize("module, params, shape", ONE_CUSTOMER,
                         ids=[m.__name__.rsplit(".", 1)[1] for m, _, _ in ONE_CUSTOMER])
def test_generators_take_scalar_parameters(module, params, shape):
    ones = [np.array([p]) for p in params]
    for seed in range(20):
        one = module.random(*params, rng=seed)
        assert np.shape(one) == shape
        # The draw of a one-customer array, without its customer axis.
        np.testing.assert_array_equal(one, module.random(*ones, rng=seed)[0])
        np.testing.assert_array_equal(module.random(*params, rng=seed, size=()), one)
        # weight by position, as the Bayesian engine passes it.
        np.testing.assert_array_equal(module.random(*params, None, rng=seed), one)
    assert np.shape(module.random(*params, rng=0, size=4)) == (4, *shape)
    assert np.shape(module.random(*params, rng=0, size=(2, 3))) == (2, 3, *shape)
    with pytest.raises(TypeError):
        module.random(*params[:-1], rng=0)  # a parameter missing
