"""The backtest measures how often the holdout falls inside each model's intervals.

The coverage the backtest and its report give is checked against a computation of
its own from what the backtest holds (the calibration summary with the holdout
actuals, the fitted models): predictive bounds of purchases from the conditional
distribution P(X(t) = n | history) summed by hand, the other bounds through the
public API (``expected_purchases``, ``customer_lifetime_value``) with the seeds the
backtest documents.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.backtest import (
    INTERVAL_DRAWS,
    INTERVAL_SEED,
    REVENUE_SIMULATIONS,
    ModelPair,
    PastRateModel,
)
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel
from clvmodels.report import report_tables
from clvmodels.report.html import render_report

CUTOFF = pd.Timestamp("1997-09-30")
TRANSACTION_MODELS = ("bgnbd", "mbgnbd", "pareto_nbd")


def _spend():
    return GammaGammaModel(nonpositive_spend="exclude")


@pytest.fixture(scope="module")
def result():
    log = clvmodels.datasets.load_cdnow("sample")
    models = {"bgnbd": ModelPair(BetaGeoModel(), _spend()),
              "mbgnbd": ModelPair(ModifiedBetaGeoModel(), _spend()),
              "pareto_nbd": ModelPair(ParetoNBDModel(), _spend()),
              "past_rate": ModelPair(PastRateModel())}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvmodels.backtest(log, "customer_id", "date", "amount",
                                  calibration_period_end=CUTOFF, time_unit="W", models=models)


def _predictive_purchase_bounds(model, summary, horizon, level):
    """From the probabilities of 0, 1, 2, ... purchases: the (1 - level) / 2 quantile,
    up to the first count where at least ``level`` of the probability lies above
    the mass below that quantile."""
    counts = np.arange(300)
    pmf = model.conditional_probability_of_purchases(summary, horizon, counts).to_numpy()
    cdf = np.cumsum(pmf, axis=1)
    lower = np.argmax(cdf >= (1 - level) / 2 - 1e-12, axis=1)
    below = np.where(lower > 0, cdf[np.arange(len(cdf)), lower - 1], 0.0)
    upper = np.argmax(cdf >= np.minimum(below + level, 1.0)[:, None] - 1e-12, axis=1)
    assert (cdf[:, -1] > 1 - 1e-9).all()  # 300 counts hold all of the probability
    return lower, upper


def _share_inside(lower, upper, actual) -> float:
    lower, upper, actual = (np.asarray(a, dtype=float) for a in (lower, upper, actual))
    return float(((lower <= actual) & (actual <= upper)).mean())


def test_coverage_matches_a_computation_from_the_backtest_data(result):
    summary = result.summaries[CUTOFF]
    horizon = float(summary["duration_holdout"].iloc[0])
    assert horizon == 39.0  # whole weeks: customer_lifetime_value takes the same horizon
    purchases = summary["frequency_holdout"].to_numpy()
    revenue = summary["revenue_holdout"].to_numpy()
    table = result.interval_coverage().set_index(["model", "target", "kind"])
    for name in TRANSACTION_MODELS:
        pair = result.fitted[(name, CUTOFF)]
        tm, sm = pair.transaction_model_, pair.spend_model_
        expected_purchases = tm.expected_purchases(summary, horizon, interval=0.9,
                                                   n_draws=INTERVAL_DRAWS,
                                                   random_state=INTERVAL_SEED)
        common = dict(horizon=39, time_unit="W", interval=0.9, random_state=INTERVAL_SEED)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            predictive_clv = clvmodels.customer_lifetime_value(
                tm, sm, summary, interval_kind="predictive",
                n_simulations=REVENUE_SIMULATIONS, **common)
            expected_clv = clvmodels.customer_lifetime_value(tm, sm, summary,
                                                             n_draws=INTERVAL_DRAWS, **common)
        want = {
            ("purchases", "predictive"): _share_inside(
                *_predictive_purchase_bounds(tm, summary, horizon, 0.9), purchases),
            ("purchases", "expected"): _share_inside(
                expected_purchases["lower"], expected_purchases["upper"], purchases),
            ("revenue", "predictive"): _share_inside(
                predictive_clv["clv_predictive_lower"], predictive_clv["clv_predictive_upper"],
                revenue),
            ("revenue", "expected"): _share_inside(
                expected_clv["clv_lower"], expected_clv["clv_upper"], revenue),
        }
        for (target, kind), share in want.items():
            row = table.loc[(name, target, kind)]
            assert row["coverage"] == pytest.approx(share, abs=1e-12), (name, target, kind)
            assert row["customers"] == len(summary) and row["level"] == 0.9
        # What the two kinds mean on CDNOW: the predictive interval holds about 90% of
        # the customers, the interval of the expected value almost nobody.
        assert want[("purchases", "predictive")] >= 0.85
        assert want[("revenue", "predictive")] >= 0.8
        assert want[("purchases", "expected")] < 0.05
        assert want[("revenue", "expected")] < 0.05
    # A model without intervals is not in the table; its bounds are NaN.
    assert "past_rate" not in set(result.interval_coverage()["model"])
    rows = result.predictions[result.predictions["model"] == "past_rate"]
    assert rows["purchases_predictive_lower"].isna().all()


def test_the_predictions_hold_every_customers_bounds(result):
    summary = result.summaries[CUTOFF]
    rows = result.predictions[result.predictions["model"] == "bgnbd"].set_index("customer_id")
    assert rows.index.equals(summary.index)
    lower, upper = _predictive_purchase_bounds(result.fitted[("bgnbd", CUTOFF)]
                                               .transaction_model_, summary, 39.0, 0.9)
    np.testing.assert_array_equal(rows["purchases_predictive_lower"], lower)
    np.testing.assert_array_equal(rows["purchases_predictive_upper"], upper)
    for target in ("purchases", "revenue"):
        for kind in ("predictive", "expected"):
            lo, hi = rows[f"{target}_{kind}_lower"], rows[f"{target}_{kind}_upper"]
            assert (lo <= hi).all() and lo.notna().all()


def test_the_report_shows_both_kinds_with_the_measured_coverage(result):
    html = render_report(result)
    section = html[html.index('<section id="intervals">'):]
    section = section[:section.index("</section>")]
    assert "predictive interval bounds what the customer will actually buy" in section
    assert "expected interval bounds only the model" in section
    for header in ("Purchases: predictive 90%", "Purchases: expected 90%",
                   "Revenue: predictive 90%", "Revenue: expected 90%"):
        assert header in section
    table = result.interval_coverage().set_index(["model", "target", "kind"])
    for name in TRANSACTION_MODELS:
        row = re.search(rf'<th scope="row">{name}</th>(.*?)</tr>', section).group(1)
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        shown = [f"{100 * table.loc[(name, t, k), 'coverage']:.1f}%"
                 for t in ("purchases", "revenue") for k in ("predictive", "expected")]
        assert cells == [*shown, "2,357"]
    assert '<th scope="row">past_rate</th>' not in section
    assert report_tables(result)["interval_coverage"].equals(result.interval_coverage())


def test_intervals_can_be_skipped():
    log = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quick = clvmodels.backtest(log, "customer_id", "date", "amount",
                                   calibration_period_end=CUTOFF, time_unit="W",
                                   models={"bgnbd": ModelPair(BetaGeoModel(), _spend())},
                                   interval=None)
    assert quick.interval_coverage().empty
    assert quick.predictions["purchases_predictive_lower"].isna().all()
    assert "No model gave per-customer intervals" in render_report(quick)


def test_the_recommendation_warns_about_bgnbd_one_time_buyers(result):
    html = render_report(result)
    board = html[html.index('<section id="leaderboard">'):]
    board = board[:board.index("</section>")]
    best = result.recommendation().query("recommended").index[0]
    said = "is a BG/NBD model" in board and "(P(alive) = 1)" in board
    assert said == (best == "bgnbd")
    # With BG/NBD alone it is the recommendation, and the note is there; with
    # MBG/NBD alone it is not.
    for name, noted in (("bgnbd", True), ("mbgnbd", False)):
        alone = dataclasses.replace(
            result, metrics=result.metrics[result.metrics["model"] == name],
            fitted={k: v for k, v in result.fitted.items() if k[0] == name})
        text = render_report(alone)
        lead = text[text.index('<section id="leaderboard">'):]
        lead = lead[:lead.index("</section>")]
        assert f"<b>Recommended: {name}</b>" in lead
        assert ("is a BG/NBD model" in lead) == noted


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 40))
def test_coverage_counts_the_customers_inside_for_any_row_order(data, n):
    from clvmodels.backtest import INTERVAL_COLUMNS, BacktestResult

    values = st.floats(0, 20, allow_nan=False, width=32)
    actual = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
    frame = pd.DataFrame({"model": "m", "cutoff": CUTOFF, "customer_id": np.arange(n),
                          "actual_purchases": actual, "actual_revenue": actual * 3.0})
    known = {}
    for column in INTERVAL_COLUMNS[::2]:  # each lower bound, then its upper
        lower = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
        width = np.array(data.draw(st.lists(values, min_size=n, max_size=n)))
        missing = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
        frame[column] = np.where(missing, np.nan, lower)
        frame[column.replace("_lower", "_upper")] = np.where(missing, np.nan, lower + width)
        target = column.split("_")[0]
        truth = actual if target == "purchases" else actual * 3.0
        inside = [lo <= a <= lo + w for lo, w, a, gone in zip(lower, width, truth, missing)
                  if not gone]
        known[tuple(column.split("_")[:2])] = (sum(inside) / len(inside) if inside else None,
                                               len(inside))
    shuffled = frame.sample(frac=1.0, random_state=data.draw(st.integers(0, 100)))
    for predictions in (frame, shuffled):
        result = BacktestResult(metrics=pd.DataFrame(), predictions=predictions,
                                calibration=pd.DataFrame(), tracking=pd.DataFrame(),
                                summaries={}, fitted={}, failures=pd.DataFrame(),
                                time_unit="W", settings={"interval": 0.8})
        table = result.interval_coverage().set_index(["target", "kind"])
        for key, (share, count) in known.items():
            if count == 0:  # every bound missing: that kind is left out
                assert key not in table.index
                continue
            assert table.loc[key, "coverage"] == pytest.approx(share, abs=1e-12)
            assert table.loc[key, "customers"] == count
            assert table.loc[key, "level"] == 0.8
