"""The report shows what the summary kept but flagged (attrs["notes"])."""

from __future__ import annotations

import warnings

import clvmodels
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.report.html import render_report
from clvmodels.report.tables import data_summary_table


def test_extreme_spenders_and_kept_duplicates_reach_the_report():
    log = clvmodels.datasets.load_cdnow("sample")
    # One repeat customer becomes a wholesale buyer: 10,000 times their amounts.
    repeat = log.groupby("customer_id")["date"].nunique()
    wholesale = repeat[repeat > 3].index[0]
    log.loc[log["customer_id"] == wholesale, "amount"] *= 10_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = clvmodels.rfm_summary(log, "customer_id", "date", "amount",
                                        calibration_period_end="1997-09-30", time_unit="W")
        result = clvmodels.backtest(log, "customer_id", "date", "amount",
                                    calibration_period_end="1997-09-30", time_unit="W",
                                    models={"bgnbd": (BetaGeoModel(), GammaGammaModel(
                                        nonpositive_spend="exclude"))})
    notes = summary.attrs["notes"]
    assert notes["extreme_monetary_customers"] == 1
    row = data_summary_table(result).iloc[0]
    assert "extreme monetary customers: 1" in row["notes"]
    assert f"duplicate rows kept: {notes['duplicate_rows_kept']:,}" in row["notes"]
    html = render_report(result)
    assert "Kept but flagged" in html and "extreme monetary customers: 1" in html


def test_a_rolling_backtest_shows_the_calibration_of_every_cutoff():
    import re

    from clvmodels.backtest import PastRateModel

    log = clvmodels.datasets.load_cdnow("sample")
    cuts = ["1997-06-30", "1997-09-30", "1997-12-31"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clvmodels.backtest(log, "customer_id", "date", "amount", cutoffs=cuts,
                                    holdout_length=13, time_unit="W",
                                    models={"past_rate": PastRateModel()})
    html = render_report(result)
    section = html[html.index('<section id="calibration">'):]
    section = section[:section.index("</section>")]
    alts = re.findall(r'alt="Calibration at the cutoff (\d{4}-\d{2}-\d{2})', section)
    assert alts == cuts
