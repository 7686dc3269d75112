"""Exact values of the report tables (clvmodels/report/tables.py), fast.

Written for the mutation target ``report_tables_rest`` (tests/mutation/README.md): one
small BG/NBD backtest per module (300 simulated customers, two cutoffs, about a second)
and results built by hand from small frames and stand-in models, each table checked
against values worked out independently from the result's own frames and models.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.backtest import BacktestResult, ModelPair, backtest
from clvmodels.models.baseline import BaselineModel
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.report import tables
from clvmodels.report.tables import (
    _date,
    _is_missing,
    _join_exclusions,
    _markdown_cell,
    _model_exclusions_text,
    _notes_text,
    _plain_descriptions,
    _status,
    _summary_frame,
    cutoffs,
    diagnostics_table,
    fitted_components,
    gain_curve,
    interval_coverage_table,
    leaderboard_table,
    model_names,
    parameter_table,
    report_tables,
    to_markdown,
    write_tables,
)

DASH = "\u2014"
CUTS = [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-05-01")]


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    """Two cutoffs of a baseline and BG/NBD + Gamma-Gamma on 300 simulated customers."""
    tx = clvmodels.simulate.beta_geo(300, 0.5, 4.0, 0.8, 3.0, observation_length=104,
                                     time_unit="W", acquisition_period=26,
                                     spend={"p": 6.0, "q": 4.0, "v": 15.0}, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the simulated log's rounding notes
        return backtest(tx, "customer_id", "date", "amount",
                        cutoffs=[str(c.date()) for c in reversed(CUTS)], holdout_length=26,
                        models={"baseline": ModelPair(BaselineModel()),
                                "bgnbd": (BetaGeoModel(), GammaGammaModel())},
                        interval=0.8)


# ---------------------------------------------------------------------------
# Stand-ins for fitted models and hand-made results


class _Model:
    """A fitted model with whatever attributes a test gives it."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class OtherModel(_Model):
    pass


class _Candidate:
    def __init__(self, **components):
        self.fitted_models = components


class _Raising:
    """A candidate whose ``fitted_models`` raises AttributeError (a half-built pair)."""

    @property
    def fitted_models(self):
        raise AttributeError("not fitted")


def _hand_result(fitted, metrics_models=("a", "b"), failures=(), summaries=None,
                 metric_cuts=CUTS, time_unit="W") -> BacktestResult:
    metrics = pd.DataFrame(
        [{"model": m, "cutoff": c, "target": "purchases", "metric": "mae", "value": 1.0}
         for m in metrics_models for c in metric_cuts],
        columns=["model", "cutoff", "target", "metric", "value"])
    failed = pd.DataFrame(list(failures), columns=["model", "cutoff", "reason"])
    empty = pd.DataFrame()
    return BacktestResult(metrics=metrics, predictions=empty, calibration=empty,
                          tracking=empty, summaries=summaries or {}, fitted=fitted,
                          failures=failed, time_unit=time_unit)


# ---------------------------------------------------------------------------
# Small helpers


def test_is_missing_and_date():
    assert _is_missing(None) and _is_missing(float("nan")) and _is_missing(pd.NaT)
    assert _is_missing(np.float64("nan")) and _is_missing(pd.NA)
    assert not _is_missing(0) and not _is_missing("") and not _is_missing("x")
    assert not _is_missing([1.0, float("nan")])  # an array's truth value: not missing
    assert _date(None) == DASH and _date(pd.NaT) == DASH and _date(float("nan")) == DASH
    assert _date(pd.Timestamp("2025-05-01 13:45")) == "2025-05-01"
    assert _date("1997-09-30") == "1997-09-30"


def test_join_exclusions():
    assert _join_exclusions("none", "") == "none"
    assert _join_exclusions("rows: 3", "") == "rows: 3"
    assert _join_exclusions("none", "m: 2") == "m: 2"
    assert _join_exclusions("rows: 3", "m: 2") == "rows: 3; m: 2"


def test_notes_text():
    assert _notes_text({}) == "none"
    assert _notes_text({"duplicate_rows_kept": 0, "extreme_monetary_threshold": 12.5}) == "none"
    notes = {"duplicate_rows_kept": 1255, "zero_amount_rows_kept": np.int64(3),
             "odd_share": 0.25, "extreme_monetary_customers": 4,
             "extreme_monetary_threshold": 491.72}
    assert _notes_text(notes) == (
        "duplicate rows kept: 1,255; zero amount rows kept: 3; odd share: 0.25; "
        "extreme monetary customers: 4 (monetary value above 492)")
    # Without a threshold the count stands alone; a float count is shown as it is.
    assert _notes_text({"extreme_monetary_customers": 2}) == "extreme monetary customers: 2"
    assert _notes_text({"extreme_monetary_customers": 2, "extreme_monetary_threshold": 0}) \
        == "extreme monetary customers: 2"
    assert _notes_text({"a_b": 2.0, "c": "x"}) == "a b: 2.0; c: x"


def test_plain_descriptions():
    assert _plain_descriptions("W") == {
        "lifespan": "expected customer lifespan (weeks)",
        "mean_spend": "average spend per repeat purchase, all repeat customers"}
    assert _plain_descriptions("D")["lifespan"] == "expected customer lifespan (days)"


def test_status():
    assert _status(_Model(fit_status_="at boundary", converged_=True)) == "at boundary"
    assert _status(_Model(fit_status_="", converged_=True)) == "converged"
    assert _status(_Model(fit_status_=None, converged_=False)) == "not converged"
    assert _status(_Model(converged_=np.bool_(True))) == "converged"
    assert _status(_Model()) == DASH
    assert _status(_Model(converged_=None)) == DASH


def test_summary_frame():
    frame = pd.DataFrame({"estimate": [1.0]}, index=["r"])
    assert _summary_frame(_Model(summary=lambda: frame)) is frame
    assert _summary_frame(_Model()) is None
    assert _summary_frame(_Model(summary="not callable")) is None
    assert _summary_frame(_Model(summary=lambda: "text")) is None

    def needs_an_argument(level):
        return frame

    assert _summary_frame(_Model(summary=needs_an_argument)) is None


def test_fitted_components():
    purchases, spend = _Model(), _Model()
    pair = _Candidate(purchases=purchases, spend=spend)
    components = fitted_components(pair)
    assert components == {"purchases": purchases, "spend": spend}
    assert list(components) == ["purchases", "spend"]
    assert components is not pair.fitted_models  # a copy
    single = _Model()
    assert fitted_components(single) == {"model": single}
    empty = _Candidate()
    assert fitted_components(empty) == {"model": empty}
    raising = _Raising()
    assert fitted_components(raising) == {"model": raising}
    listed = _Model(fitted_models=[purchases])
    assert fitted_components(listed) == {"model": listed}


def test_cutoffs_from_summaries_else_metrics():
    summaries = {CUTS[1]: pd.DataFrame(), CUTS[0]: pd.DataFrame()}
    assert cutoffs(_hand_result({}, summaries=summaries, metric_cuts=[])) == CUTS
    # Without summaries: the metrics' cutoffs, each once, in time order.
    got = cutoffs(_hand_result({}, metric_cuts=[str(CUTS[1].date()), CUTS[0]]))
    assert got == CUTS and all(isinstance(c, pd.Timestamp) for c in got)


def test_model_names_scored_then_failed():
    failures = [("c", CUTS[0], "x"), ("a", CUTS[0], "y"), ("d", CUTS[1], "z"),
                ("c", CUTS[1], "w")]
    assert model_names(_hand_result({}, ("b", "a"), failures)) == ["b", "a", "c", "d"]
    assert model_names(_hand_result({}, ("b", "a"))) == ["b", "a"]


def test_fitted_items_in_report_order():
    m = {k: _Model() for k in ("b1", "b0", "a1", "z", "p", "s")}
    fitted = {("z", CUTS[0]): m["z"],                       # fitted, but in no table
              ("a", str(CUTS[1].date())): m["a1"],
              ("b", CUTS[1]): m["b1"], ("b", CUTS[0]): m["b0"],
              ("pair", CUTS[0]): _Candidate(purchases=m["p"], spend=m["s"])}
    result = _hand_result(fitted, ("b", "a"), [("pair", CUTS[0], "x")])
    items = list(tables._fitted_items(result))
    assert [(n, c, r) for n, c, r, _ in items] == [
        ("b", CUTS[0], "model"), ("b", CUTS[1], "model"), ("a", CUTS[1], "model"),
        ("pair", CUTS[0], "purchases"), ("pair", CUTS[0], "spend"), ("z", CUTS[0], "model")]
    assert [model for *_, model in items] == [m["b0"], m["b1"], m["a1"], m["p"], m["s"], m["z"]]
    assert isinstance(items[2][1], pd.Timestamp)


# ---------------------------------------------------------------------------
# Exclusions of the fitted models


def test_model_exclusions_text():
    def gg(count, **more):
        return GammaGammaModel.__new__(GammaGammaModel), {"nonpositive_spend": count, **more}

    fitted = {}
    for name, cut, count, more in (("a", CUTS[1], 3, {"zero": 0}),
                                   ("b", CUTS[1], 3, {"odd_rule": 1.5}),
                                   ("c", CUTS[1], 1234, {}),
                                   ("a", CUTS[0], 9, {})):
        model, excl = gg(count, **more)
        model.exclusions_ = excl
        fitted[(name, cut)] = _Candidate(purchases=_Model(exclusions_={"other": 7}),
                                         spend=model)
    # The same rule, class and count at a cutoff: one entry naming both models.
    fitted[("d", CUTS[1])] = OtherModel(exclusions_={"nonpositive_spend": 3})
    fitted[("e", CUTS[1])] = _Model(exclusions_=None)
    result = _hand_result(fitted, ("a", "b", "c", "d", "e"))
    what = "customers with zero or negative spend left out of the spend model"
    assert _model_exclusions_text(result, str(CUTS[1].date())) == (
        "other (_Model of a, b, c): 7; "
        f"{what} (GammaGammaModel of a, b): 3; "
        "odd rule (GammaGammaModel of b): 1.50; "
        f"{what} (GammaGammaModel of c): 1,234; "
        f"{what} (OtherModel of d): 3")
    assert _model_exclusions_text(result, CUTS[0]) == (
        f"other (_Model of a): 7; {what} (GammaGammaModel of a): 9")
    assert _model_exclusions_text(_hand_result({}), CUTS[0]) == ""
    # A model fitted twice under one name at one cutoff is named once.
    twice = {("a", CUTS[0]): _Candidate(x=_Model(exclusions_={"r": 2}),
                                        y=_Model(exclusions_={"r": 2}))}
    assert _model_exclusions_text(_hand_result(twice, ("a",)), CUTS[0]) == "r (_Model of a): 2"


def test_data_summary_joins_the_model_exclusions(result):
    """The data summary's exclusions: the summary's own and those of the fitted models."""
    table = tables.data_summary_table(result)
    for cut, text in zip(table["cutoff"], table["exclusions"]):
        counts = result.summaries[cut].attrs["exclusions"]
        own = "; ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in counts.items() if v)
        models = _model_exclusions_text(result, cut)
        assert text == "; ".join(p for p in (own, models) if p)


# ---------------------------------------------------------------------------
# The tables of a real backtest


def test_the_backtest_has_what_the_tests_need(result):
    assert sorted(result.fitted) == [(m, c) for m in ("baseline", "bgnbd") for c in CUTS]
    assert len(result.failures) == 0
    assert cutoffs(result) == CUTS
    assert model_names(result) == ["baseline", "bgnbd"]


def test_parameter_table_against_the_fitted_models(result):
    table = parameter_table(result)
    expected = []
    for name in ("baseline", "bgnbd"):
        for cut in CUTS:
            candidate = result.fitted[(name, cut)]
            roles = (("purchases", "spend") if name == "bgnbd" else ("purchases",))
            for role in roles:
                model = candidate.fitted_models[role]
                if name == "baseline":
                    for param, value in model.params_.items():
                        desc = {"lifespan": "expected customer lifespan (weeks)",
                                "mean_spend": "average spend per repeat purchase, all "
                                              "repeat customers"}[param]
                        expected.append([name, cut, role, "BaselineModel", param, value,
                                         np.nan, np.nan, np.nan, "", desc])
                    continue
                summary = model.summary()
                described = {p.name: p.description for p in type(model).parameters}
                for param in summary.index:
                    s = summary.loc[param]
                    expected.append([name, cut, role, type(model).__name__, param,
                                     s["estimate"], s["standard_error"], s["lower 95%"],
                                     s["upper 95%"], "95%", described[param]])
    columns = ["model", "cutoff", "component", "model_class", "parameter", "estimate",
               "standard_error", "lower", "upper", "level", "description"]
    pd.testing.assert_frame_equal(table, pd.DataFrame(expected, columns=columns),
                                  check_exact=True)
    assert list(table["parameter"][table["model"] == "bgnbd"][:7]) == [
        "r", "alpha", "a", "b", "p", "q", "v"]
    assert (table["description"] != "").all()


def test_parameter_table_of_stand_in_models():
    with_summary = _Model(params_={"x": 1.0}, summary=lambda: pd.DataFrame(
        {"estimate": [2.0, 3.0], "standard_error": [0.5, 0.25],
         "lower 80%": [1.0, 2.0], "upper 80%": [4.0, 5.0]}, index=["x", "y"]))
    raw = _Model(params_={"lifespan": 10.0, "mean_spend": 2.5}, time_unit_="D")
    no_unit = _Model(params_={"lifespan": 4.0})
    levelless = _Model(params_={"k": 1.0}, summary=lambda: pd.DataFrame(
        {"estimate": [7.0], "lower": [6.0], "upper": [8.0]}, index=["k"]))
    fitted = {("a", CUTS[0]): with_summary, ("b", CUTS[0]): _Model(),  # no params_: left out
              ("c", CUTS[0]): raw, ("d", CUTS[0]): no_unit, ("e", CUTS[0]): levelless}
    table = parameter_table(_hand_result(fitted, ("a", "b", "c", "d", "e"), time_unit="M"))
    nan = np.nan
    expected = pd.DataFrame([
        ["a", CUTS[0], "model", "_Model", "x", 2.0, 0.5, 1.0, 4.0, "80%", ""],
        ["a", CUTS[0], "model", "_Model", "y", 3.0, 0.25, 2.0, 5.0, "80%", ""],
        ["c", CUTS[0], "model", "_Model", "lifespan", 10.0, nan, nan, nan, "",
         "expected customer lifespan (days)"],
        ["c", CUTS[0], "model", "_Model", "mean_spend", 2.5, nan, nan, nan, "",
         "average spend per repeat purchase, all repeat customers"],
        ["d", CUTS[0], "model", "_Model", "lifespan", 4.0, nan, nan, nan, "",
         "expected customer lifespan (months)"],
        ["e", CUTS[0], "model", "_Model", "k", 7.0, nan, 6.0, 8.0, "", ""]],
        columns=["model", "cutoff", "component", "model_class", "parameter", "estimate",
                 "standard_error", "lower", "upper", "level", "description"])
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    empty = parameter_table(_hand_result({}))
    assert empty.empty and list(empty.columns) == list(expected.columns)


def test_diagnostics_table_against_the_fitted_models(result):
    table = diagnostics_table(result)
    rows = []
    for cut in CUTS:
        for role in ("purchases", "spend"):
            m = result.fitted[("bgnbd", cut)].fitted_models[role]
            rows.append(["bgnbd", cut, role, type(m).__name__, "mle", m.log_likelihood_, m.aic_,
                         m.bic_, bool(m.converged_), m.fit_status_, float(m.n_customers_),
                         " | ".join(m.fit_warnings_), np.nan, np.nan, np.nan])
    expected = pd.DataFrame(rows, columns=[
        "model", "cutoff", "component", "model_class", "method", "log_likelihood", "aic",
        "bic", "converged", "status", "customers", "warnings", "max_rhat", "min_ess_bulk",
        "divergences"])
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    # The likelihood's value, not another attribute's, and the class of each component.
    bg = result.fitted[("bgnbd", CUTS[0])].fitted_models["purchases"]
    assert table["log_likelihood"].iloc[0] == bg.log_likelihood_ < 0
    assert table["aic"].iloc[0] == pytest.approx(2 * 4 - 2 * bg.log_likelihood_)
    assert list(table["model_class"]) == ["BetaGeoModel", "GammaGammaModel"] * 2
    assert table["customers"].iloc[0] == 300.0


def test_diagnostics_table_of_stand_in_models():
    nuts = _Model(log_likelihood_=-10.5, aic_=25.0, bic_=None, converged_=np.bool_(True),
                  fit_status_="partly identified", n_customers_=np.int64(40),
                  fit_warnings_=["first", "second"], method="nuts",
                  diagnostics_={"max_rhat": 1.01, "min_ess_bulk": 400, "divergences": 0})
    bare = _Model(log_likelihood_=-1.0)
    off = _Model(log_likelihood_=-2.0, converged_=0, fit_warnings_=None,
                 diagnostics_={"max_rhat": None})
    fitted = {("a", CUTS[0]): nuts, ("b", CUTS[0]): _Model(params_={}),  # no likelihood
              ("c", CUTS[1]): bare, ("d", CUTS[1]): off}
    table = diagnostics_table(_hand_result(fitted, ("a", "b", "c", "d")))
    nan = np.nan
    expected = pd.DataFrame([
        ["a", CUTS[0], "model", "_Model", "nuts", -10.5, 25.0, nan, True,
         "partly identified", 40.0, "first | second", 1.01, 400.0, 0.0],
        ["c", CUTS[1], "model", "_Model", "mle", -1.0, nan, nan, None, DASH, nan, "",
         nan, nan, nan],
        ["d", CUTS[1], "model", "_Model", "mle", -2.0, nan, nan, False, "not converged", nan,
         "", nan, nan, nan]],
        columns=["model", "cutoff", "component", "model_class", "method", "log_likelihood",
                 "aic", "bic", "converged", "status", "customers", "warnings", "max_rhat",
                 "min_ess_bulk", "divergences"])
    pd.testing.assert_frame_equal(table, expected, check_exact=True)
    assert table["converged"].tolist() == [True, None, False]
    assert type(table["converged"].iloc[0]) is bool
    empty = diagnostics_table(_hand_result({}))
    assert empty.empty and list(empty.columns) == list(expected.columns)


def test_leaderboard_table_flattens_the_leaderboard(result):
    table = leaderboard_table(result)
    board = result.leaderboard()
    assert list(table.columns) == ["model"] + [f"{t}_{m}" for t, m in board.columns]
    assert table["model"].tolist() == ["baseline", "bgnbd"]
    assert table.columns[1] == "purchases_mae"
    for i, name in enumerate(["baseline", "bgnbd"]):
        values = result.metrics[(result.metrics["model"] == name)
                                & (result.metrics["target"] == "purchases")
                                & (result.metrics["metric"] == "mae")]["value"]
        assert table["purchases_mae"].iloc[i] == pytest.approx(values.mean(), rel=1e-15)
    np.testing.assert_array_equal(table.drop(columns="model").to_numpy(), board.to_numpy())
    assert table.index.tolist() == [0, 1]


def test_interval_coverage_table(result):
    table = interval_coverage_table(result)
    pd.testing.assert_frame_equal(table, result.interval_coverage())
    assert len(table) == 2 * 2 * 2  # bgnbd's cutoffs x targets x kinds (no baseline intervals)
    assert set(table["level"]) == {0.8}

    class NoIntervals:
        pass

    empty = interval_coverage_table(NoIntervals())
    assert empty.empty and list(empty.columns) == [
        "model", "cutoff", "target", "kind", "level", "coverage", "customers", "median_width"]


def test_report_tables_are_the_tables_and_copies(result):
    got = report_tables(result)
    assert list(got) == ["leaderboard", "metrics", "calibration", "interval_coverage",
                         "parameters", "diagnostics", "data_summary", "failures"]
    pd.testing.assert_frame_equal(got["leaderboard"], leaderboard_table(result))
    pd.testing.assert_frame_equal(got["metrics"], result.metrics)
    pd.testing.assert_frame_equal(got["calibration"], result.calibration)
    pd.testing.assert_frame_equal(got["interval_coverage"], result.interval_coverage())
    pd.testing.assert_frame_equal(got["parameters"], parameter_table(result))
    pd.testing.assert_frame_equal(got["diagnostics"], diagnostics_table(result))
    pd.testing.assert_frame_equal(got["data_summary"], tables.data_summary_table(result))
    pd.testing.assert_frame_equal(got["failures"], result.failures)
    for name in ("metrics", "calibration", "failures"):
        assert got[name] is not getattr(result, name)


# ---------------------------------------------------------------------------
# The gain curve


def test_gain_curve_by_hand():
    actual = [0.0, 3.0, 1.0, 2.0, 4.0]  # total 10
    predicted = [5.0, 1.0, 4.0, 2.0, 3.0]
    # Ranked by prediction: 0, 2, 4, 3, 1 -> actual 0, 1, 4, 2, 3 -> 0, .1, .5, .7, 1.
    # Ranked by actual: 4, 1, 3, 2, 0 -> 4, 3, 2, 1, 0 -> .4, .7, .9, 1, 1.
    curve = gain_curve(actual, predicted, n_points=6)
    expected = pd.DataFrame({
        "share_targeted": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "gain": [0.0, 0.0, 0.1, 0.5, 0.7, 1.0],
        "perfect": [0.0, 0.4, 0.7, 0.9, 1.0, 1.0],
        "lift": [np.nan, 0.0, 0.25, 0.5 / 0.6, 0.875, 1.0]})
    pd.testing.assert_frame_equal(curve, expected, rtol=1e-12)
    # Three points on four customers: the top half holds the best two (2 of the 4 points).
    curve = gain_curve([1, 0, 3, 0], np.array([4, 3, 2, 1]), n_points=3)
    np.testing.assert_allclose(curve["share_targeted"], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve["gain"], [0.0, 0.25, 1.0])
    np.testing.assert_allclose(curve["perfect"], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(curve["lift"], [np.nan, 0.5, 1.0])
    # A share between two customers counts the customer it reaches into (ceil).
    curve = gain_curve([1.0, 1.0, 2.0], [3.0, 2.0, 1.0], n_points=5)
    # k = ceil(x * 3) = 0, 1, 2, 3, 3 customers at x = 0, .25, .5, .75, 1.
    np.testing.assert_allclose(curve["gain"], [0.0, 0.25, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(curve["perfect"], [0.0, 0.5, 0.75, 1.0, 1.0])


def test_gain_curve_every_point_of_the_default_grid():
    """101 points on 10 customers: share i/100 is the top ceil(i/10) customers, exactly."""
    actual = np.arange(1.0, 11.0)          # total 55
    predicted = -actual                     # the worst ranking: smallest buyers first
    curve = gain_curve(actual, predicted)
    assert len(curve) == 101
    ascending = np.concatenate([[0.0], np.cumsum(actual)]) / 55.0
    descending = np.concatenate([[0.0], np.cumsum(actual[::-1])]) / 55.0
    k = [-(-i * 10 // 100) for i in range(101)]
    np.testing.assert_allclose(curve["gain"], ascending[k], rtol=0, atol=1e-15)
    np.testing.assert_allclose(curve["perfect"], descending[k], rtol=0, atol=1e-15)


def test_gain_curve_ties_keep_the_input_order():
    # Equal predictions: the first listed is taken first (a stable sort).
    curve = gain_curve([0.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 1.0], n_points=5)
    np.testing.assert_allclose(curve["gain"], [0.0, 0.0, 0.25, 0.25, 1.0])
    # Equal actual values: the perfect curve does not depend on their order.
    curve = gain_curve([2.0, 2.0, 0.0, 0.0], [0.0, 1.0, 2.0, 3.0], n_points=5)
    np.testing.assert_allclose(curve["perfect"], [0.0, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_allclose(curve["gain"], [0.0, 0.0, 0.0, 0.5, 1.0])


def test_gain_curve_without_a_total():
    for actual, predicted in (([], []), ([0.0, 0.0], [1.0, 2.0]), ([1.0, -2.0], [1.0, 2.0])):
        curve = gain_curve(actual, predicted, n_points=4)
        assert list(curve.columns) == ["share_targeted", "gain", "perfect", "lift"]
        np.testing.assert_allclose(curve["share_targeted"], [0.0, 1 / 3, 2 / 3, 1.0])
        assert curve[["gain", "perfect", "lift"]].isna().all().all()
    # A tiny positive total is a total.
    curve = gain_curve([1e-300, 0.0], [0.0, 1.0], n_points=3)
    np.testing.assert_allclose(curve["gain"], [0.0, 0.0, 1.0])
    # Integers are read as floats (no integer division).
    curve = gain_curve(np.array([1, 2]), np.array([2, 1]), n_points=2)
    np.testing.assert_allclose(curve["gain"], [0.0, 1.0])
    assert curve["gain"].dtype == float
    curve = gain_curve([1, 2], [2, 1], n_points=3)
    np.testing.assert_allclose(curve["gain"], [0.0, 1 / 3, 1.0])


def test_gain_curve_lift_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = gain_curve([1.0, 0.0], [1.0, 0.0], n_points=3)
    assert math.isnan(curve["lift"].iloc[0]) and curve["lift"].iloc[1] == 2.0


# ---------------------------------------------------------------------------
# Markdown and files


def test_markdown_cells():
    assert _markdown_cell(pd.Timestamp("2025-05-01 10:00"), "cutoff") == "2025-05-01"
    assert _markdown_cell(1.23456, "value") == "1.235"
    assert _markdown_cell(1.23456, "x") == "1.235"
    assert _markdown_cell(1.23456, "mae") == "1.23"
    assert _markdown_cell(1.23456, "purchases_mae") == "1.23"
    assert _markdown_cell(1.23456, "odd_name") == "1.235"
    assert _markdown_cell(0.557427, "purchases_top10_capture") == "55.7%"
    assert _markdown_cell(-5.315, "revenue_bias_pct") == "-5.3%"
    assert _markdown_cell(0.71234, "alive_auc") == "0.712"
    assert _markdown_cell(np.float32(0.5), "gini") == "0.500"
    assert _markdown_cell(12345, "customers") == "12,345"
    assert _markdown_cell(np.int64(7), "purchases_mae") == "7"
    assert _markdown_cell(True, "flag") == "yes" and _markdown_cell(np.bool_(False), "f") == "no"
    assert _markdown_cell(float("nan"), "alive_auc") == DASH
    assert _markdown_cell(None, "reason") == DASH
    assert _markdown_cell(pd.NaT, "cutoff") == DASH
    assert _markdown_cell("a|b\nc", "reason") == "a\\|b c"
    assert _markdown_cell(["x"], "reason") == "['x']"


def test_to_markdown_of_a_tiny_frame():
    frame = pd.DataFrame({
        "model": ["bg|nbd", "base"],
        "cutoff": [pd.Timestamp("2025-05-01"), pd.Timestamp("2025-03-01")],
        "purchases_bias_pct": [12.345, -0.04],
        "customers": [1234, 5],
        "ok": [True, False],
        "a|b": [0.000012345, 2.5e6],
    })
    assert to_markdown(frame) == (
        "| model | cutoff | purchases_bias_pct | customers | ok | a\\|b |\n"
        "| --- | --- | ---: | ---: | --- | ---: |\n"
        "| bg\\|nbd | 2025-05-01 | +12.3% | 1,234 | yes | 1.234e-05 |\n"
        "| base | 2025-03-01 | -0.0% | 5 | no | 2,500,000 |\n")
    assert to_markdown(frame.iloc[:0]) == (
        "| model | cutoff | purchases_bias_pct | customers | ok | a\\|b |\n"
        "| --- | --- | ---: | ---: | --- | ---: |\n")


def test_write_tables_writes_csv_and_markdown(result, tmp_path):
    folder = tmp_path / "a" / "b"
    written = write_tables(result, folder)
    expected = report_tables(result)
    assert list(written) == list(expected)
    for name, paths in written.items():
        assert paths == {"csv": folder / f"{name}.csv", "md": folder / f"{name}.md"}
        assert paths["md"].read_text(encoding="utf-8") == to_markdown(expected[name])
        back = pd.read_csv(paths["csv"])
        assert list(back.columns) == list(expected[name].columns)  # no index column
        assert len(back) == len(expected[name])
    back = pd.read_csv(folder / "parameters.csv")
    np.testing.assert_array_equal(back["estimate"], expected["parameters"]["estimate"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.{s}" for n in expected for s in ("csv", "md"))


def test_write_tables_some_names_and_unknown_names(result, tmp_path):
    written = write_tables(result, tmp_path, names=("diagnostics", "failures"))
    assert list(written) == ["diagnostics", "failures"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "diagnostics.csv", "diagnostics.md", "failures.csv", "failures.md"]
    assert (tmp_path / "failures.md").read_text(encoding="utf-8") == (
        "| model | cutoff | reason |\n| --- | --- | --- |\n")
    assert write_tables(result, tmp_path / "none", names=[]) == {}
    with pytest.raises(ValueError) as caught:
        write_tables(result, tmp_path / "bad", names=["parameters", "nope", "also"])
    assert str(caught.value) == (
        "Unknown table(s) ['also', 'nope']; choose from ['calibration', 'data_summary', "
        "'diagnostics', 'failures', 'interval_coverage', 'leaderboard', 'metrics', "
        "'parameters'].")
    assert not (tmp_path / "bad" / "parameters.csv").exists()


# ---------------------------------------------------------------------------
# Kills for the survivors of the first "after" run (tests/mutation/README.md)


def test_gain_curve_of_one_customer_and_of_booleans():
    # One customer with purchases is a curve, not a missing one.
    curve = gain_curve([2.0], [1.0], n_points=3)
    np.testing.assert_allclose(curve["gain"], [0.0, 1.0, 1.0])
    np.testing.assert_allclose(curve["lift"], [np.nan, 2.0, 1.0])
    # Whether a customer bought (a boolean target), ranked by a boolean flag.
    curve = gain_curve(np.array([True, False, True, True]),
                       np.array([False, True, True, False]), n_points=5)
    # By prediction: 1, 2, 0, 3 -> actual 0, 1, 1, 1 -> 0, 1/3, 2/3, 1.
    np.testing.assert_allclose(curve["gain"], [0.0, 0.0, 1 / 3, 2 / 3, 1.0])
    np.testing.assert_allclose(curve["perfect"], [0.0, 1 / 3, 2 / 3, 1.0, 1.0])


def test_gain_curve_without_a_total_is_float_nan_and_silent():
    for actual in ([], [0.0, 0.0], [1.0, -1.0]):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no 0 / 0 of a division by the total
            curve = gain_curve(actual, np.arange(len(actual), dtype=float), n_points=3)
        for column in ("gain", "perfect", "lift"):
            assert curve[column].dtype == np.float64


def test_gain_curve_ties_of_many_customers_keep_the_input_order():
    """40 customers, predictions tied in two groups: numpy's default (unstable) sort
    would take the tied customers in another order than the list's."""
    predicted = np.array([1.0, 2.0] * 20)
    actual = np.arange(40, dtype=float)            # customer i bought i
    curve = gain_curve(actual, predicted, n_points=41)
    order = list(range(1, 40, 2)) + list(range(0, 40, 2))  # the 2s first, in list order
    expected = np.concatenate([[0.0], np.cumsum(actual[order])]) / actual.sum()
    np.testing.assert_allclose(curve["gain"], expected, rtol=1e-12, atol=1e-15)


def test_markdown_text_that_looks_like_a_number_is_kept_as_written():
    assert _markdown_cell("1234.5", "reason") == "1234.5"
    assert _markdown_cell("0.5", "purchases_mae") == "0.5"
    frame = pd.DataFrame({"model": ["007"], "reason": ["1e3"]})
    assert to_markdown(frame) == "| model | reason |\n| --- | --- |\n| 007 | 1e3 |\n"


def test_notes_after_a_zero_note_are_kept():
    assert _notes_text({"duplicate_rows_kept": 0, "zero_amount_rows_kept": 5}) \
        == "zero amount rows kept: 5"
    assert _notes_text({"extreme_monetary_threshold": 10.0, "extreme_monetary_customers": 2}) \
        == "extreme monetary customers: 2 (monetary value above 10)"


def test_parameter_table_levels_and_missing_estimates():
    hdi = _Model(params_={"k": 1.0}, summary=lambda: pd.DataFrame(
        {"estimate": [1.0], "lower 94% HDI of k": [0.5], "upper 94% HDI of k": [1.5]},
        index=["k"]))
    no_estimate = _Model(params_={"k": 1.0}, summary=lambda: pd.DataFrame(
        {"standard_error": [0.25]}, index=["k"]))
    unset = _Model(params_={"lifespan": None, "mean_spend": 3})
    none_set = _Model(params_={"lifespan": None})  # read as a float: NaN
    fitted = {("a", CUTS[0]): hdi, ("b", CUTS[0]): no_estimate, ("c", CUTS[0]): unset,
              ("d", CUTS[0]): none_set}
    table = parameter_table(_hand_result(fitted, ("a", "b", "c", "d")))
    assert table["level"].tolist() == ["94% HDI of k", "", "", "", ""]
    assert math.isnan(table["estimate"].iloc[4])
    assert table[["lower", "upper"]].iloc[0].tolist() == [0.5, 1.5]
    assert math.isnan(table["estimate"].iloc[1]) and table["standard_error"].iloc[1] == 0.25
    assert math.isnan(table["estimate"].iloc[2]) and table["estimate"].iloc[3] == 3.0
    assert table["parameter"].tolist() == ["k", "k", "lifespan", "mean_spend", "lifespan"]
