"""The formula baseline's lifespan in the non-contractual and contractual settings."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import DataError, rfm_summary
from clvmodels.exceptions import DataWarning
from clvmodels.models.baseline import (
    BaselineModel,
    cohort_retention,
    estimate_lifespan,
    formula_clv,
)

START = pd.Timestamp("2020-01-01")


def shop_log(n=20_000, rate=6.0, mean_life=3.0, years=5.0, seed=0):
    """Customers acquired uniformly over ``years``, buying as a Poisson process at
    ``rate`` a year until an exponential lifetime with mean ``mean_life`` years."""
    rng = np.random.default_rng(seed)
    acq = rng.uniform(0, years, n)
    stop = np.minimum(acq + rng.exponential(mean_life, n), years)
    counts = rng.poisson(rate * (stop - acq))
    who = np.repeat(np.arange(n), counts)
    when = acq[who] + rng.uniform(0, 1, len(who)) * (stop - acq)[who]
    who, when = np.concatenate([np.arange(n), who]), np.concatenate([acq, when])
    return pd.DataFrame({"id": who, "date": START + pd.to_timedelta(when * 365.25, unit="D"),
                         "amount": 10.0}), START + pd.Timedelta(days=years * 365.25)


def subscription_log(n=5_000, churn=0.02, years=5.0, seed=0, skip=0.0):
    """Monthly payments from a uniform start; after each payment the subscriber
    leaves with probability ``churn``; ``skip``: share of payments missed."""
    rng = np.random.default_rng(seed)
    months = int(years * 12)
    start = rng.integers(0, months, n)
    paid = rng.geometric(churn, n)  # payments made if never censored
    n_pay = np.minimum(paid, months - start)
    who = np.repeat(np.arange(n), n_pay)
    k = np.arange(n_pay.sum()) - np.repeat(np.cumsum(n_pay) - n_pay, n_pay)
    month = start[who] + k
    keep = (k == 0) | (rng.uniform(size=len(k)) >= skip)
    dates = (pd.PeriodIndex.from_ordinals(pd.Period(START, "M").ordinal + month[keep], freq="M")
             .to_timestamp() + pd.Timedelta(days=4))
    end = pd.Period(START, "M") + months - 1
    return pd.DataFrame({"id": who[keep], "date": dates, "amount": 9.99}), end.to_timestamp() \
        + pd.Timedelta(days=4)


@pytest.fixture(scope="module")
def master():
    return clvmodels.datasets.load_cdnow("master")


def test_noncontractual_lifespan_recovers_a_known_truth():
    log, end = shop_log()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        f = formula_clv(log, "id", "date", "amount", observation_period_end=end)
    assert f.setting == "noncontractual" and f.lifespan_customers > 5_000
    assert f.lifespan == pytest.approx(3.0, rel=0.2)
    assert "retention" in f.lifespan_source
    # The same estimate from the summary, through BaselineModel.
    summary = rfm_summary(log, "id", "date", "amount", observation_period_end=end,
                          time_unit="W")
    model = BaselineModel().fit(summary)
    assert model.lifespan_ * 7 / 365.25 == pytest.approx(f.lifespan, rel=1e-9)
    assert model.lifespan_estimate_.n_customers == f.lifespan_customers


def test_contractual_lifespan_recovers_a_known_truth():
    log, end = subscription_log()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        f = formula_clv(log, "id", "date", "amount", setting="contractual", period="M",
                        observation_period_end=end)
    assert f.lifespan == pytest.approx(50.0, rel=0.1)
    assert f.setting == "contractual" and "stopped paying" in f.lifespan_source
    summary = rfm_summary(log, "id", "date", "amount", observation_period_end=end,
                          time_unit="D")
    model = BaselineModel(setting="contractual", lifespan_unit="M").fit(summary)
    assert model.lifespan_ / (365.25 / 12) == pytest.approx(f.lifespan, rel=1e-9)
    retention = cohort_retention(log, "id", "date", setting="contractual",
                                 observation_period_end=end)
    assert retention.lifespan == pytest.approx(f.lifespan, rel=1e-9)
    # Still subscribed: the first column is 1, the table never rises along a cohort.
    table = retention.table
    assert (table[0] == 1).all()
    assert (table.diff(axis=1).iloc[:, 1:].fillna(0) <= 1e-12).all().all()


def test_contractual_gaps_are_counted():
    log, end = subscription_log(n=400, skip=0.2, seed=3)
    with pytest.warns(DataWarning, match=r"subscribers have a gap between payments") as rec:
        formula_clv(log, "id", "date", "amount", setting="contractual",
                    observation_period_end=end)
    days = log.sort_values(["id", "date"])
    gap = days.groupby("id")["date"].diff().dt.days
    n_bad = int((gap > 30.4375 * 1.1).groupby(days["id"]).any().sum())
    assert any(f"{n_bad:,} of" in str(w.message) for w in rec)


def test_unknown_setting_is_a_data_error(master):
    for call in (lambda: formula_clv(master, "customer_id", "date", "amount", setting="shop"),
                 lambda: BaselineModel(setting="saas").fit(
                     rfm_summary(master.head(50), "customer_id", "date", "amount")),
                 lambda: cohort_retention(master, "customer_id", "date", setting="x")):
        with pytest.raises(DataError, match="Unknown setting") as err:
            call()
        assert err.value.rule == "unknown_setting"


def test_cdnow_gets_the_3_year_default_and_a_positive_clv(master):
    with pytest.warns(DataWarning, match="two retention windows"):
        f = formula_clv(master, "customer_id", "date", "amount", margin=0.3,
                        acquisition_cost=10.0)
    assert f.lifespan == 3.0 and f.lifespan_customers == 0
    daily = master.groupby(["customer_id", "date"])["amount"].sum()
    years = (master["date"].max() - master["date"].min()).days / 365.25
    assert f.clv == pytest.approx(daily.mean() * len(daily) / 23570 / years * 3 * 0.3 - 10)
    assert f.clv > 50


def test_formula_and_baseline_share_the_lifespan(master):
    f = formula_clv(master, "customer_id", "date", "amount", window=182.625, period="M")
    summary = rfm_summary(master, "customer_id", "date", "amount", time_unit="D")
    model = BaselineModel(window=182.625).fit(summary)
    assert model.lifespan_ / (365.25 / 12) == pytest.approx(f.lifespan, rel=1e-12)
    # The estimate by hand: base = first purchase before the last window and last
    # purchase in the window before last or later; retained = bought in the last window.
    silent = summary["T"] - summary["recency"]
    base = (summary["T"] > 182.625) & (silent <= 365.25)
    kept = base & (silent <= 182.625)
    r = kept.sum() / base.sum()
    assert f.lifespan_customers == base.sum()
    assert f.lifespan * 365.25 / 12 == pytest.approx(-182.625 / np.log(r))


def test_short_lifespan_and_negative_clv_warn(master):
    with pytest.warns(DataWarning) as rec:
        f = formula_clv(master, "customer_id", "date", "amount", lifespan=5.0, period="D",
                        margin=0.3, acquisition_cost=10.0)
    messages = " ".join(str(w.message) for w in rec)
    assert "shorter than the median time between" in messages
    assert "negative" in messages and f.clv < 0
    summary = rfm_summary(master, "customer_id", "date", "amount", time_unit="D")
    with pytest.warns(DataWarning, match="shorter than the median time"):
        BaselineModel(lifespan=5.0, lifespan_unit="D").fit(summary)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 1500), st.integers(0, 1500)),
                min_size=3, max_size=40),
       st.sampled_from(["noncontractual", "contractual"]))
def test_estimate_is_positive_and_order_free(rows, setting):
    x = np.array([r[0] for r in rows], float)
    T = np.array([max(r[1], r[2]) for r in rows], float)
    rec = np.where(x > 0, np.array([min(r[1], r[2]) for r in rows], float), 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        a = estimate_lifespan(x, rec, T, setting=setting, window=300.0)
        order = np.argsort(-T, kind="stable")
        b = estimate_lifespan(x[order], rec[order], T[order], setting=setting, window=300.0)
    assert a.lifespan_days > 0 and a.lifespan_days == pytest.approx(b.lifespan_days)
    assert a.n_customers == b.n_customers
    if not a.is_default and setting == "noncontractual":
        assert 0 < a.rate < 1


def test_cli_baseline_setting(tmp_path):
    import subprocess
    import sys

    log, end = subscription_log(n=300, seed=5)
    path = tmp_path / "subs.csv"
    log.to_csv(path, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", "baseline", str(path), "--customer-id", "id",
         "--setting", "contractual", "--period", "M", "--observation-end", str(end.date())],
        capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    f = formula_clv(log, "id", "date", "amount", setting="contractual", period="M",
                    observation_period_end=end)
    assert "contractual" in done.stdout and f"{f.lifespan:.4g}"[:4] in done.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", "baseline", str(path), "--customer-id", "id",
         "--setting", "retail"], capture_output=True, text=True)
    assert bad.returncode != 0 and "Unknown setting 'retail'" in bad.stderr


@pytest.mark.parametrize("setting", ["noncontractual", "contractual"])
def test_both_engines_and_any_row_order_give_the_same_formula(setting):
    log, end = subscription_log(n=600, seed=11)
    kwargs = dict(setting=setting, window="M", period="M", observation_period_end=end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        pandas = formula_clv(log, "id", "date", "amount", engine="pandas", **kwargs)
        duck = formula_clv(log.sample(frac=1, random_state=2), "id", "date", "amount",
                           engine="duckdb", **kwargs)
    assert pandas.lifespan == pytest.approx(duck.lifespan, rel=1e-12)
    assert pandas.clv == pytest.approx(duck.clv, rel=1e-12)
    assert pandas.lifespan_source == duck.lifespan_source
