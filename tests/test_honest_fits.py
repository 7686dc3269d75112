"""Honest fits: non-identified fits, non-positive spend, assumed units, the fit's
warnings on the model and in the report, and ties between indistinguishable models."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import clvmodels
from clvmodels.backtest import BacktestResult, ModelPair, PastRateModel, backtest, winner_names
from clvmodels.exceptions import (
    ClvModelsWarning,
    ConvergenceWarning,
    DataError,
    DataWarning,
)
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel
from clvmodels.report.html import render_report
from clvmodels.report.tables import data_summary_table, diagnostics_table


def _one_purchase_each(n: int = 60) -> pd.DataFrame:
    summary = pd.DataFrame({"frequency": 0.0, "recency": 0.0,
                            "T": np.linspace(5.0, 40.0, n), "monetary_value": 0.0},
                           index=pd.Index(np.arange(n), name="customer_id"))
    summary.attrs["time_unit"] = "W"
    return summary


# ---------------------------------------------------------------- not identified


@pytest.mark.parametrize("cls", [BetaGeoModel, ModifiedBetaGeoModel, ParetoNBDModel],
                         ids=lambda c: c.__name__)
def test_fit_where_everybody_bought_once_is_not_converged(cls):
    with pytest.warns(ConvergenceWarning, match="not identified by these data") as record:
        model = cls().fit(_one_purchase_each())
    text = " ".join(str(w.message) for w in record)
    assert "None of the 60 customers made a repeat purchase" in text
    assert "What to do" in text
    assert model.converged_ is False
    assert model.fit_status_ == "not identified"
    assert model.standard_errors_.isna().all()
    assert set(model.not_identified_) == set(model.param_names())
    assert any("not identified by these data" in w for w in model.fit_warnings_)


def test_backtest_reports_a_fit_that_is_not_identified():
    # Every customer buys once in the calibration period; some buy again after it.
    ids = np.arange(40)
    first = pd.Timestamp("2024-01-01") + pd.to_timedelta(ids, unit="D")
    again = pd.Timestamp("2024-03-15") + pd.to_timedelta(ids[::2], unit="D")
    log = pd.DataFrame({"customer_id": np.concatenate([ids, ids[::2]]),
                        "date": np.concatenate([first, again]),
                        "amount": 10.0})
    models = {"bgnbd": ModelPair(BetaGeoModel(), PastRateModel()),
              "past_rate": PastRateModel()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        result = backtest(log, "customer_id", "date", "amount",
                          calibration_period_end="2024-03-01", models=models)
    assert list(result.failures["model"]) == ["bgnbd"]
    assert "not identified by these data" in result.failures["reason"].iloc[0]
    assert "bgnbd" not in result.leaderboard().index
    html = render_report(result)
    assert "Models that could not be fitted" in html and "not identified by these data" in html


# ---------------------------------------------------------------- Gamma-Gamma spend


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_nonpositive_spend_error_counts_names_and_says_the_fix(data):
    n = data.draw(st.integers(8, 30))
    bad = sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n - 3)))
    amounts = data.draw(st.lists(st.sampled_from([0.0, -0.01, -5.0, -1e6]),
                                 min_size=len(bad), max_size=len(bad)))
    rng = np.random.default_rng(n)
    ids = [f"cust-{i:03d}" for i in range(n)]
    money = rng.gamma(5.0, 4.0, n)
    money[bad] = amounts
    summary = pd.DataFrame({"frequency": rng.integers(1, 6, n).astype(float),
                            "monetary_value": money}, index=pd.Index(ids, name="customer_id"))
    with pytest.raises(DataError) as info:
        GammaGammaModel().fit(summary)
    err = info.value
    assert err.rule == "non_positive_spend" and err.column == "monetary_value"
    assert err.n_rows == len(bad)
    assert err.examples == [ids[i] for i in bad[:5]]
    message = str(err)
    assert message.startswith(f"{len(bad)} customer(s) with repeat purchases")
    assert 'nonpositive_spend="exclude"' in message
    assert all(repr(ids[i]) in message for i in bad[:5])


def test_excluded_spend_customers_are_counted_on_the_model(cdnow_summary):
    summary = cdnow_summary.copy()
    repeat = summary.index[summary["frequency"] > 0]
    summary.loc[repeat[:3], "monetary_value"] = [0.0, -2.5, 0.0]
    with pytest.warns(DataWarning, match="3 customer"):
        model = GammaGammaModel(nonpositive_spend="exclude").fit(summary)
    assert model.exclusions_ == {"nonpositive_spend": 3}
    assert model.n_customers_ == int((cdnow_summary["frequency"] > 0).sum()) - 3
    assert any("left out of the Gamma-Gamma fit" in w for w in model.fit_warnings_)
    clean = GammaGammaModel().fit(cdnow_summary)
    assert clean.exclusions_ == {} and clean.fit_warnings_ == []


# ---------------------------------------------------------------- time unit


def _bare(cdnow_summary) -> pd.DataFrame:
    bare = cdnow_summary.copy()
    bare.attrs = {}
    return bare


def _unit_warnings(record) -> list[str]:
    return [str(w.message) for w in record if "assumes that recency and T are in days"
            in str(w.message)]


def test_missing_time_unit_warns_once_and_says_how(cdnow_summary):
    bare = _bare(cdnow_summary)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model = BetaGeoModel().fit(bare)
    said = _unit_warnings(record)
    assert len(said) == 1
    assert 'time_unit="W"' in said[0] and 'summary.attrs["time_unit"]' in said[0]
    assert model.time_unit_ == "D"
    assert said == [w for w in model.fit_warnings_ if "assumes that recency" in w]
    # Said either way: no warning.
    for fit in (lambda: BetaGeoModel().fit(bare, time_unit="W"),
                lambda: BetaGeoModel().fit(cdnow_summary),
                lambda: GammaGammaModel().fit(bare)):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fitted = fit()
        assert _unit_warnings(record) == []
        assert not any("assumes that recency" in w for w in fitted.fit_warnings_)


def test_fit_warnings_reach_the_caller_under_its_filters(cdnow_summary):
    bare = _bare(cdnow_summary)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClvModelsWarning)
        with pytest.raises(ClvModelsWarning, match="assumes that recency"):
            BetaGeoModel().fit(bare)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("ignore")
        model = BetaGeoModel().fit(bare)
    assert record == [] and len(model.fit_warnings_) == 1
    assert model.fit_status_ == "converged" and model.converged_ is True


# ---------------------------------------------------------------- ties and the report


def _result(values: dict[str, list[float]], fitted=None) -> BacktestResult:
    rows = [(name, pd.Timestamp("2020-01-01"), "purchases", metric, v)
            for name, vs in values.items()
            for metric, v in zip(("mae", "spearman", "bias_pct"), vs)]
    empty = pd.DataFrame()
    return BacktestResult(
        metrics=pd.DataFrame(rows, columns=["model", "cutoff", "target", "metric", "value"]),
        predictions=empty, calibration=empty, tracking=empty, summaries={},
        fitted=fitted or {}, failures=pd.DataFrame(columns=["model", "cutoff", "reason"]),
        time_unit="W")


@settings(max_examples=60, deadline=None)
@given(base=st.floats(0.01, 1e4), rel=st.floats(1e-12, 1e-2), sign=st.sampled_from([-1, 1]))
def test_winners_call_a_tie_within_the_noise(base, rel, sign):
    other = base * (1 + sign * rel)
    result = _result({"a": [base, 0.5, 2.0], "b": [other, 0.4, -3.0], "c": [base * 2, 0.1, 9.0]})
    winners = result.winners()
    mae = winners[("purchases", "mae")]
    if rel < 0.9e-6:
        assert mae == "tie: a, b" and winner_names(mae) == ["a", "b"]
    elif rel > 1.1e-6:
        assert mae == ("a" if other > base else "b")
    assert winners[("purchases", "spearman")] == "a"
    assert winners[("purchases", "bias_pct")] == "a"


class _Fitted:
    def __init__(self, ll):
        self.log_likelihood_ = ll


def test_models_with_the_same_log_likelihood_share_every_place():
    cut = pd.Timestamp("2020-01-01")
    fitted = {("bgnbd", cut): _Fitted(-12345.6781), ("mbgnbd", cut): _Fitted(-12345.6784),
              ("pareto_nbd", cut): _Fitted(-12399.1)}
    result = _result({"bgnbd": [1.0, 0.5, 2.0], "mbgnbd": [1.0001, 0.49, 2.5],
                      "pareto_nbd": [1.2, 0.4, 3.0]}, fitted)
    assert result.indistinguishable() == [["bgnbd", "mbgnbd"]]
    assert set(result.winners()) == {"tie: bgnbd, mbgnbd"}


def test_report_shows_ties_boundary_status_warnings_and_exclusions(tmp_path):
    log = clvmodels.simulate.pareto_nbd(800, r=0.8, alpha=40.0, s=1.0, beta=1e9,
                                       observation_length=400, time_unit="D",
                                       acquisition_period=100, spend=dict(p=6, q=4, v=15),
                                       resolution="D", random_state=11)
    # One repeat customer whose repeat purchases are free: left out of Gamma-Gamma.
    repeaters = log.groupby("customer_id").size()
    who = repeaters.index[repeaters >= 3][0]
    rows = log.index[log["customer_id"] == who][1:]
    log.loc[rows, "amount"] = 0.0
    spend = GammaGammaModel(nonpositive_spend="exclude")
    models = {"bgnbd": (BetaGeoModel(), spend), "bgnbd_again": (BetaGeoModel(), spend),
              "past_rate": PastRateModel()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        result = backtest(log, "customer_id", "date", "amount",
                          calibration_period_end="2024-12-01", time_unit="W", models=models)
    winners = result.winners()
    assert result.indistinguishable() == [["bgnbd", "bgnbd_again"]]
    for entry in winners:  # the two identical models always share their place
        names = winner_names(entry)
        assert ("bgnbd" in names) == ("bgnbd_again" in names)
    assert (winners == "tie: bgnbd, bgnbd_again").any()

    diag = diagnostics_table(result)
    purchases = diag[diag["component"] == "purchases"]
    assert set(purchases["status"]) == {"at boundary"}
    assert purchases["warnings"].str.contains("edge of the parameter space").all()
    spend_rows = diag[diag["component"] == "spend"]
    assert spend_rows["warnings"].str.contains("left out of the Gamma-Gamma fit").all()

    exclusions = data_summary_table(result)["exclusions"].iloc[0]
    assert ("customers with zero or negative spend left out of the spend model "
            "(GammaGammaModel of bgnbd, bgnbd_again): 1") in exclusions

    html = render_report(result)
    assert "at boundary" in html and "Warnings of the fits" in html
    assert "tie: bgnbd, bgnbd_again" in html
    assert "(GammaGammaModel of bgnbd, bgnbd_again): 1" in html
    assert ">converged: yes<" not in html and ">yes<" not in html.split("Fit diagnostics")[1]
