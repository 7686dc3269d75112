"""Retention KPIs per period and lifecycle stages."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels import DataError, kpis, lifecycle_stages, rfm_summary
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.stages import stage_counts, stage_migration, stages_at

LOG = pd.DataFrame({
    "id": ["a", "a", "a", "a", "b", "b", "c", "d", "d"],
    "ts": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-02-03", "2024-03-09",
                          "2024-01-20", "2024-03-02", "2024-02-10", "2024-03-15",
                          "2024-03-20"]),
    "amount": [10.0, 5.0, 20.0, 30.0, 8.0, 12.0, 40.0, 7.0, 3.0],
})


def direct_kpis(log: pd.DataFrame) -> pd.DataFrame:
    """The KPIs the obvious way: one loop over months."""
    days = log.groupby(["id", log["ts"].dt.normalize()])["amount"].sum().reset_index()
    days["m"] = days["ts"].dt.to_period("M")
    first = days.groupby("id")["ts"].min()
    rows = {}
    months = pd.period_range(days["m"].min(), days["m"].max(), freq="M")
    for i, m in enumerate(months):
        now = days[days["m"] == m]
        active = set(now["id"])
        before = set(days.loc[days["m"] == m - 1, "id"]) if i else set()
        to_date = days[days["m"] <= m].groupby("id").size()
        new = {c for c in active if first[c].to_period("M") == m}
        if not active:  # a month without purchases
            rows[m] = {"active_customers": 0, "new_customers": 0,
                       "retention_rate": 0.0 if before else np.nan,
                       "repeat_purchase_rate": np.nan, "orders": 0, "revenue": 0.0,
                       "orders_per_customer": np.nan, "average_order_value": np.nan,
                       "revenue_per_customer": np.nan}
            continue
        rows[m] = {
            "active_customers": len(active), "new_customers": len(new),
            "retention_rate": len(active & before) / len(before) if before else np.nan,
            "repeat_purchase_rate": np.mean([to_date[c] >= 2 for c in active]),
            "orders": len(now), "revenue": now["amount"].sum(),
            "orders_per_customer": len(now) / len(active),
            "average_order_value": now["amount"].sum() / len(now),
            "revenue_per_customer": now["amount"].sum() / len(active),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_kpis_against_a_direct_computation():
    table = kpis(LOG, "id", "ts", "amount", period="M")
    expected = direct_kpis(LOG)
    assert list(table.index.astype(str)) == ["2024-01", "2024-02", "2024-03"]
    # By hand: Jan a, b (both new); Feb a, c (c new; a kept of {a, b}); Mar a, b, d.
    assert table["active_customers"].tolist() == [2, 2, 3]
    assert table["new_customers"].tolist() == [2, 1, 1]
    assert table["retention_rate"].tolist()[1:] == [0.5, 0.5]
    assert table["average_order_value"].iloc[0] == pytest.approx((15 + 8) / 2)
    for col in expected.columns:
        np.testing.assert_allclose(table[col].to_numpy(float), expected[col].to_numpy(float),
                                   err_msg=col)
    np.testing.assert_allclose(table["churn_rate"], 1 - table["retention_rate"])
    assert table["complete"].tolist() == [True, True, False]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 120), st.integers(1, 50)),
                min_size=1, max_size=40))
def test_kpis_match_the_direct_computation_on_any_log(rows):
    log = pd.DataFrame({"id": [f"c{r[0]}" for r in rows],
                        "ts": pd.Timestamp("2023-11-01") + pd.to_timedelta([r[1] for r in rows],
                                                                           unit="D"),
                        "amount": [float(r[2]) for r in rows]})
    table = kpis(log.sample(frac=1, random_state=0), "id", "ts", "amount")
    expected = direct_kpis(log)
    for col in expected.columns:
        np.testing.assert_allclose(table[col].to_numpy(float), expected[col].to_numpy(float),
                                   err_msg=col)
    assert table["new_customers"].sum() == log["id"].nunique()


def stage_summary(rows, unit="D"):
    frame = pd.DataFrame(rows, columns=["frequency", "recency", "T"], dtype=float)
    frame.attrs["time_unit"] = unit
    return frame


def test_stages_follow_each_customers_rhythm():
    # Fortnightly buyer silent 10 days: active; 30 days: at risk (> 1.5 gaps); 50
    # days: lapsed (> 3 gaps). A twice-a-year buyer silent 200 days is still active.
    # A 30-day-old customer: new.
    summary = stage_summary([(10, 140, 150), (10, 140, 170), (10, 140, 190),
                             (2, 360, 560), (0, 0, 30), (1, 180, 900)])
    stages = lifecycle_stages(summary)
    assert stages.tolist() == ["active", "at_risk", "lapsed", "active", "new", "lapsed"]
    assert stage_counts(stages).to_dict() == {"new": 1, "active": 2, "at_risk": 1, "lapsed": 2}
    # One-time buyers get the median gap of the repeat customers (7, 7, 180 -> 7): silent
    # for 95 days, lapsed (with a 180-day gap they would be active).
    one = lifecycle_stages(stage_summary([(10, 70, 400), (10, 70, 120), (2, 360, 600),
                                          (0, 0, 95)]))
    assert one.iloc[3] == "lapsed"
    # The same in weeks.
    weeks = summary.copy()
    weeks[["recency", "T"]] /= 7
    weeks.attrs["time_unit"] = "W"
    assert lifecycle_stages(weeks).tolist() == stages.tolist()


def test_contractual_stages_and_bad_setting():
    summary = stage_summary([(5, 152, 160), (5, 152, 200), (0, 0, 20)])
    assert lifecycle_stages(summary, setting="contractual").tolist() == [
        "active", "churned", "new"]
    with pytest.raises(DataError, match="Unknown setting"):
        lifecycle_stages(summary, setting="subscription")


def test_stages_with_a_model_use_probability_alive():
    log = clvmodels.datasets.load_cdnow("sample")
    summary = rfm_summary(log, "customer_id", "date", "amount", time_unit="W")
    model = BetaGeoModel().fit(summary)
    stages = lifecycle_stages(summary, model=model, new_within=0.0 + 1e-9)
    alive = model.probability_alive(summary)
    expected = np.select([alive >= 0.7, alive >= 0.3], ["active", "at_risk"], "lapsed")
    assert (stages.astype(str).to_numpy() == expected).all()
    assert len(stages) == len(summary) and stages.index.equals(summary.index)


def test_migration_between_two_dates_keeps_every_customer():
    log = clvmodels.datasets.load_cdnow("sample")
    before = stages_at(log, "customer_id", "date", "1997-02-28")
    after = stages_at(log, "customer_id", "date", "1998-06-30")
    matrix = stage_migration(before, after)
    assert matrix.to_numpy().sum() == len(after) == 2357
    assert matrix.loc["not yet a customer"].sum() == 2357 - len(before)
    for stage in matrix.index.drop("not yet a customer"):
        assert matrix.loc[stage].sum() == (before == stage).sum()
    # A customer's row and column are their stages on the two dates.
    cid = after.index[0]
    row = before.get(cid, "not yet a customer")
    assert matrix.loc[row, after[cid]] >= 1


def test_customer_base_section_of_the_report():
    from clvmodels.backtest import ModelPair, backtest
    from clvmodels.models.baseline import BaselineModel
    from clvmodels.report import render_report
    from clvmodels.report.customer_base import customer_base, customer_base_section

    log = clvmodels.datasets.load_cdnow("sample")
    base = customer_base(log, "customer_id", "date", "amount", margin=0.3,
                         acquisition_cost=10.0, conversion_rate=0.02)
    assert base.kpis["new_customers"].sum() == 2357
    assert base.stages.size == 2357 and base.migration.to_numpy().sum() == 2357
    assert "3-year rule" in base.note  # 18 months: the lifespan is the default
    html = customer_base_section(base)
    f = base.formula
    assert f"{f.average_order_value:,.2f}" in html and f"{f.max_cost_per_click:,.2f}" in html
    verdict = "above" if f.ltv_cac >= 3 else "below"
    assert f"{f.ltv_cac:.1f}:1, {verdict} the 3:1 rule of thumb" in html
    assert "data:image/png;base64," in html  # the cohort heat map
    for stage, n in stage_counts(base.stages).items():
        assert f'<th scope="row">{stage}</th><td class="num">{n:,}</td>' in html
    # From a backtest result alone: the stages of the calibration customers and the
    # baseline's lifespan, and a note on what the log would add.
    with pytest.warns(clvmodels.exceptions.DataWarning):
        result = backtest(log, "customer_id", "date", "amount",
                          calibration_period_end="1997-09-30",
                          models={"baseline": ModelPair(BaselineModel())})
    text = render_report(result)
    section = text[text.index('<section id="customer-base">'):]
    assert 'href="#customer-base"' in text and "need the transaction log" in section
    assert "3-year default" in section
    summary = next(iter(result.summaries.values()))
    active = int((lifecycle_stages(summary) == "active").sum())
    assert f'<th scope="row">active</th><td class="num">{active:,}</td>' in section
