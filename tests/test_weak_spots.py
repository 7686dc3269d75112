"""Behaviour that the rest of the suite only checked for shape, sign or order.

Each test here pins a value a user sees: the bounds of a confidence interval,
the estimates when a large-data code path is taken, every id of a chunked
export, the leaderboard's winner of each metric, and the figures of the
report's data summary. Expected values are computed independently of the code
under test (tabulated normal quantiles, a hand-built metrics table, pandas on
the raw transaction log).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.backtest import BacktestResult, ModelPair, backtest
from clvmodels.export import predict_clv
from clvmodels.inference import mle
from clvmodels.models.baseline import BaselineModel
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.report.html import _leaderboard_section
from clvmodels.report.tables import (
    _exclusions_text,
    data_summary_table,
    format_metric,
    format_number,
    unit_name,
)

# Tabulated standard normal quantiles (not computed by scipy, which the code uses).
Z95 = 1.959963984540054
Z90 = 1.6448536269514722


# ---------------------------------------------------------------------------
# Confidence intervals of the parameters


@pytest.mark.parametrize("level, z", [(0.95, Z95), (0.90, Z90)])
def test_log_interval_is_estimate_times_exp_of_z_se_log(fitted_bgnbd, level, z):
    est = fitted_bgnbd.params_
    se_log = np.sqrt(np.diag(fitted_bgnbd.cov_log_.to_numpy()))
    ci = fitted_bgnbd.confidence_intervals(level)
    np.testing.assert_allclose(ci["lower"], est * np.exp(-z * se_log), rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], est * np.exp(z * se_log), rtol=1e-12)
    # The log interval is asymmetric: the upper bound is further from the estimate.
    assert ((ci["upper"] - est) > (est - ci["lower"])).all()


@pytest.mark.parametrize("level, z", [(0.95, Z95), (0.90, Z90)])
def test_wald_interval_is_estimate_plus_minus_z_se(fitted_gamma_gamma, level, z):
    est = fitted_gamma_gamma.params_
    se = np.sqrt(np.diag(fitted_gamma_gamma.cov_.to_numpy()))
    ci = fitted_gamma_gamma.confidence_intervals(level, method="wald")
    np.testing.assert_allclose(ci["lower"], est - z * se, rtol=1e-12)
    np.testing.assert_allclose(ci["upper"], est + z * se, rtol=1e-12)


def test_summary_shows_the_log_interval(fitted_bgnbd):
    table = fitted_bgnbd.summary()
    ci = fitted_bgnbd.confidence_intervals(0.95)
    lower = next(c for c in table.columns if str(c).startswith("lower"))
    upper = next(c for c in table.columns if str(c).startswith("upper"))
    np.testing.assert_allclose(table[lower], ci["lower"], rtol=1e-12)
    np.testing.assert_allclose(table[upper], ci["upper"], rtol=1e-12)


# ---------------------------------------------------------------------------
# Code paths of large data in the maximum-likelihood engine


class _Cubic:
    """A stand-in objective: f = sum(c * theta**3) / 6 + theta' A theta / 2, exact gradient."""

    def __init__(self, n_rows, A=((4.0, 1.0, 0.5), (1.0, 3.0, 0.2), (0.5, 0.2, 2.0)),
                 c=(1.0, -2.0, 3.0)):
        self.n_rows = n_rows
        self.calls = 0
        self.A = np.array(A)
        self.c = np.array(c)

    def __call__(self, theta):
        self.calls += 1
        grad = self.A @ theta + self.c * theta ** 2 / 2
        return float(theta @ self.A @ theta / 2 + np.sum(self.c * theta ** 3) / 6), grad

    def exact_hessian(self, theta):
        return self.A + np.diag(self.c * theta)


@pytest.mark.parametrize("n_rows, central", [(100_000, True), (100_001, False)])
def test_hessian_switches_to_forward_differences_above_100k_rows(n_rows, central):
    obj = _Cubic(n_rows)
    theta = np.array([0.3, -0.7, 1.1])
    H = mle.hessian(obj, theta)
    k = len(theta)
    # Central differences cost 2k gradients, forward ones k + 1.
    assert obj.calls == (2 * k if central else k + 1)
    exact = obj.exact_hessian(theta)
    # Central differences are exact for a cubic up to rounding; forward ones err by
    # about step * c / 2 = 1.5e-6 on the diagonal.
    err = np.max(np.abs(H - exact))
    if central:
        assert err < 1e-8
    else:
        assert 1e-7 < err < 1e-5


def test_a_forward_hessian_that_is_not_positive_definite_is_computed_again_centrally():
    # Near the edge of the parameter space the curvature can be smaller than the error
    # of forward differences: here the third direction's curvature is 2e-6 and forward
    # differences err by step * c / 2 = -5e-6, a negative eigenvalue that would call
    # the parameter unidentified. Central differences are exact for a cubic.
    theta = np.zeros(3)
    obj = _Cubic(100_001, A=np.diag([4.0, 3.0, 2e-6]), c=(1.0, -2.0, -10.0))
    forced = mle.hessian(obj, theta, central=False)
    assert forced[2, 2] == pytest.approx(-3e-6, rel=1e-3)  # what forward differences give
    obj.calls = 0
    H = mle.hessian(obj, theta)
    k = len(theta)
    assert obj.calls == (k + 1) + 2 * k  # forward first, then central
    np.testing.assert_allclose(H, obj.exact_hessian(theta), rtol=0, atol=1e-10)
    np.linalg.cholesky(H)
    # Up to 100,000 rows the central scheme runs once, as before.
    small = _Cubic(100_000, A=obj.A, c=obj.c)
    np.testing.assert_allclose(mle.hessian(small, theta), H, rtol=0, atol=1e-12)
    assert small.calls == 2 * k


def test_forward_difference_fit_matches_the_central_one_on_cdnow(cdnow_summary, fitted_bgnbd,
                                                                  monkeypatch):
    used = []
    original = mle.hessian

    def forward(objective, theta, central=None):
        used.append(central)
        return original(objective, theta, central=False)

    monkeypatch.setattr(mle, "hessian", forward)
    model = BetaGeoModel().fit(cdnow_summary)
    assert used  # the fit went through the forced path
    np.testing.assert_allclose(model.params_, fitted_bgnbd.params_, rtol=1e-6)
    assert model.log_likelihood_ == pytest.approx(fitted_bgnbd.log_likelihood_, abs=1e-6)
    np.testing.assert_allclose(model.standard_errors_, fitted_bgnbd.standard_errors_, rtol=1e-3)
    np.testing.assert_allclose(model.cov_.to_numpy(), fitted_bgnbd.cov_.to_numpy(), rtol=2e-3,
                               atol=1e-12)


def _row_level_objective(summary):
    """The BG/NBD objective on one row per CDNOW customer (weights 1, weeks unscaled)."""
    data = [summary[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T")]
    return mle.make_objective(BetaGeoModel.likelihood, data, np.ones(len(summary)))


def test_warm_start_from_a_subsample_reaches_the_full_optimum_on_cdnow(cdnow_summary):
    # The warm start runs with more than 5 * warm_start_rows rows (150,000 by
    # default): a 400-row subsample makes CDNOW's 2,357 rows take that path.
    obj = _row_level_objective(cdnow_summary)
    starts = BetaGeoModel()._starts(np.zeros(4))
    direct = mle.maximize_likelihood(obj, starts, warm_start_rows=0)
    warm = mle.maximize_likelihood(obj, starts, warm_start_rows=400)
    assert obj.n_rows == 2357 > 5 * 400
    assert direct.converged and warm.converged
    assert not any("subsample" in a for a in direct.attempts)
    assert warm.attempts[0].startswith("subsample of 400 rows")
    assert warm.attempts[-1] == "Newton steps from the subsample optimum: converged"
    np.testing.assert_allclose(warm.theta, direct.theta, rtol=0, atol=1e-6)
    assert warm.nll == pytest.approx(direct.nll, rel=1e-12)
    # Fader, Hardie & Lee (2005): r = 0.243, alpha = 4.414, a = 0.793, b = 2.426.
    np.testing.assert_allclose(np.exp(warm.theta), [0.2426, 4.4135, 0.7929, 2.4258], rtol=2e-4)
    np.testing.assert_allclose(warm.hessian, direct.hessian, rtol=1e-3)


def test_forward_hessian_at_the_cdnow_optimum_is_close_to_the_central_one(cdnow_summary):
    obj = _row_level_objective(cdnow_summary)
    theta = np.log([0.24259291, 4.41353156, 0.79288615, 2.42575344])
    central = mle.hessian(obj, theta, central=True)
    forward = mle.hessian(obj, theta, central=False)
    scale = np.max(np.abs(central))
    assert np.max(np.abs(forward - central)) < 1e-4 * scale
    assert not np.array_equal(forward, central)  # two different schemes really ran
    np.testing.assert_allclose(np.linalg.inv(forward), np.linalg.inv(central), rtol=1e-3)


# ---------------------------------------------------------------------------
# Chunked export


@pytest.fixture(scope="module")
def cdnow_fit():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    # Shuffle the customers: the export keeps the input's order, not a sorted one.
    summary = summary.sample(frac=1.0, random_state=3)
    return summary, BetaGeoModel().fit(summary), GammaGammaModel().fit(summary)


EXPORT = dict(horizon=26, time_unit="W", discount_rate=0.1, discount_period="Y",
              interval=0.8, n_draws=20, random_state=1)


@pytest.mark.parametrize("chunk_size", [1178, 2356, 2357, 5000])
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_chunk_sizes_leaving_one_row_lose_no_customer(cdnow_fit, tmp_path, chunk_size, suffix):
    summary, bg, gg = cdnow_fit
    assert len(summary) == 2357  # 1178 and 2356 leave exactly one row in the last chunk
    expected = predict_clv(summary, bg, gg, **EXPORT, chunk_size=len(summary))
    path = predict_clv(summary, bg, gg, **EXPORT, chunk_size=chunk_size,
                       path=tmp_path / f"clv{suffix}")
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert back["customer_id"].tolist() == summary.index.tolist()
    assert back["customer_id"].is_unique
    np.testing.assert_allclose(back["clv"].to_numpy(float), expected["clv"].to_numpy(float),
                               rtol=1e-12)
    np.testing.assert_allclose(back["clv_upper"].to_numpy(float),
                               expected["clv_upper"].to_numpy(float), rtol=1e-12)
    # The last customer (alone in its chunk for 1178 and 2356) is scored like the others.
    last = summary.index[-1]
    row = back.set_index("customer_id").loc[last]
    assert row["clv"] == pytest.approx(float(expected.set_index("customer_id").loc[last, "clv"]),
                                       rel=1e-12)


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 6, 7, 8])
def test_small_chunks_in_memory_keep_every_id_in_order(cdnow_fit, chunk_size):
    summary, bg, gg = cdnow_fit
    part = summary.iloc[:7]
    part.attrs = dict(summary.attrs)
    whole = predict_clv(part, bg, gg, **EXPORT, chunk_size=100)
    chunked = predict_clv(part, bg, gg, **EXPORT, chunk_size=chunk_size)
    assert chunked["customer_id"].tolist() == part.index.tolist()
    pd.testing.assert_frame_equal(chunked, whole)


# ---------------------------------------------------------------------------
# The leaderboard's winners


def _metric_rows(values: dict) -> pd.DataFrame:
    rows = []
    for (target, metric), per_model in values.items():
        for model, per_cutoff in per_model.items():
            for cutoff, value in zip(("1997-06-30", "1997-09-30"), per_cutoff):
                rows.append({"model": model, "cutoff": pd.Timestamp(cutoff), "target": target,
                             "metric": metric, "value": value})
    return pd.DataFrame(rows)


# Two cutoffs; the leaderboard averages them. Each metric's rule picks a different
# model than the other rules would.
HAND_METRICS = {
    # bias, means -20 / +5 / +12: closest to 0 is B (mean of |bias| would pick C,
    # the lowest A, the highest C).
    ("purchases", "bias_pct"): {"A": (-30.0, -10.0), "B": (25.0, -15.0), "C": (12.0, 12.0)},
    # lowest wins: A (the highest would be B)
    ("purchases", "mae"): {"A": (1.0, 1.0), "B": (3.0, 3.0), "C": (2.0, 2.0)},
    ("purchases", "rmse"): {"A": (5.0, 5.0), "B": (4.0, 4.0), "C": (6.0, 6.0)},
    # highest wins: C
    ("purchases", "spearman"): {"A": (0.2, 0.2), "B": (0.5, 0.5), "C": (0.9, 0.9)},
    # highest wins: B; C has no value at all and is not ranked
    ("alive", "auc"): {"A": (0.6, 0.6), "B": (0.8, 0.8), "C": (np.nan, np.nan)},
    # lowest wins: C
    ("alive", "brier"): {"A": (0.3, 0.3), "B": (0.2, 0.2), "C": (0.1, 0.1)},
}
HAND_WINNERS = {("purchases", "mae"): "A", ("purchases", "rmse"): "B",
                ("purchases", "bias_pct"): "B", ("purchases", "spearman"): "C",
                ("alive", "auc"): "B", ("alive", "brier"): "C"}


@pytest.fixture
def hand_result() -> BacktestResult:
    empty = pd.DataFrame({"model": pd.Series([], dtype=object)})
    return BacktestResult(metrics=_metric_rows(HAND_METRICS), predictions=empty,
                          calibration=empty, tracking=empty, summaries={}, fitted={},
                          failures=empty, time_unit="W")


def test_winners_follow_each_metrics_rule(hand_result):
    board = hand_result.leaderboard()
    assert board.loc["B", ("purchases", "bias_pct")] == pytest.approx(5.0)
    assert board.loc["A", ("purchases", "bias_pct")] == pytest.approx(-20.0)
    assert hand_result.winners().to_dict() == HAND_WINNERS


def test_report_highlights_the_hand_computed_winners(hand_result):
    html = _leaderboard_section(hand_result)
    # B wins 3 metrics, C 2, A 1 (counted by hand from HAND_WINNERS' comments).
    assert "<b>B</b> is best on 3 of 6 metrics; then C on 2, A on 1." in html
    import re

    rows = {}
    for row in re.findall(r"<tr><th scope=\"row\">(.*?)</th>(.*?)</tr>", html):
        rows[row[0]] = re.findall(r'<td class="([^"]*)"', row[1])
    board_columns = [("purchases", "mae"), ("purchases", "rmse"), ("purchases", "bias_pct"),
                     ("purchases", "spearman"), ("alive", "auc"), ("alive", "brier")]
    assert set(rows) == {"A", "B", "C"}
    for model, classes in rows.items():
        highlighted = {col for col, cls in zip(board_columns, classes) if "win" in cls.split()}
        assert highlighted == {col for col, w in HAND_WINNERS.items() if w == model}, model


# ---------------------------------------------------------------------------
# The report's data summary against the raw transaction log


def test_data_summary_figures_equal_a_computation_from_the_log():
    tx = clvmodels.datasets.load_cdnow("sample")
    cutoff = pd.Timestamp("1997-09-30")
    result = backtest(tx, "customer_id", "date", "amount", calibration_period_end=cutoff,
                      models={"baseline": ModelPair(BaselineModel())})
    row = data_summary_table(result).iloc[0]

    days = tx.assign(day=tx["date"].dt.normalize())
    before = days[days["day"] <= cutoff]
    after = days[days["day"] > cutoff]
    customers = before["customer_id"].unique()
    repeat_cal = int((before.groupby("customer_id")["day"].nunique() - 1).sum())
    after = after[after["customer_id"].isin(customers)]
    repeat_hold = int(after.groupby("customer_id")["day"].nunique().sum())

    assert row["cutoff"] == cutoff
    assert row["customers"] == len(customers) == 2357
    assert row["transactions"] == len(tx)
    assert row["calibration_start"] == days["day"].min()
    assert row["calibration_end"] == cutoff
    assert row["calibration_length"] == pytest.approx((cutoff - days["day"].min()).days / 7)
    assert row["holdout_start"] == cutoff
    assert row["holdout_end"] == days["day"].max()
    assert row["holdout_length"] == pytest.approx((days["day"].max() - cutoff).days / 7)
    assert row["time_unit"] == "W"
    assert row["repeat_purchases_calibration"] == repeat_cal
    assert row["repeat_purchases_holdout"] == repeat_hold
    assert row["revenue_holdout"] == pytest.approx(after["amount"].sum(), rel=1e-12)
    assert row["share_active_holdout"] == pytest.approx(
        after["customer_id"].nunique() / len(customers), rel=1e-12)
    assert row["exclusions"] == "none"


# ---------------------------------------------------------------------------
# Number formats of the report (boundaries of each rule)


@pytest.mark.parametrize("value, digits, text", [
    (0, 3, "0"), (0.0, 3, "0"), (1.0, 3, "1"), (-2.0, 3, "-2"),
    (True, 3, "yes"), (False, 3, "no"), (None, 3, "\u2014"), (float("nan"), 3, "\u2014"),
    (float("inf"), 3, "\u221e"), (float("-inf"), 3, "-\u221e"),
    (np.int64(1234567), 3, "1,234,567"), ("abc", 3, "abc"),
    (999_999_999_999_999.0, 3, "999,999,999,999,999"), (1e15, 3, "1.00e+15"),
    (123456.7, 3, "123,457"),            # magnitude 5: no decimals
    (1234567.8, 3, "1.23e+06"),          # magnitude 6: scientific
    (1234567.8, 4, "1.235e+06"), (1234567.8, 1, "1e+06"),
    (0.00012345, 3, "0.000123"),         # magnitude -4: decimals
    (0.000012345, 3, "1.23e-05"),        # magnitude -5: scientific
    (2.5, 3, "2.50"), (-2.5, 2, "-2.5"), (30.408, 3, "30.4"),
])
def test_format_number_boundaries(value, digits, text):
    assert format_number(value, digits) == text


@pytest.mark.parametrize("value, metric, text", [
    (1.0, "spearman", "1.000"), (12.3456, "auc", "12.346"),
    (5, "bias_pct", "+5.0%"), (-0.04, "bias_pct", "-0.0%"), (0.4702, "top10_capture", "47.0%"),
    (1234.5678, "mae", "1,235"), (12.3456, "mae", "12.3"), (1234.5678, "not_a_metric", "1,235"),
    (None, "mae", "\u2014"), (float("nan"), "auc", "\u2014"),
])
def test_format_metric_by_kind(value, metric, text):
    assert format_metric(value, metric) == text


def test_unit_names_and_exclusions_text():
    assert [unit_name(u) for u in ("h", "D", "W", "M", "Y", "Q", None)] == [
        "hours", "days", "weeks", "months", "years", "Q", "None"]
    assert _exclusions_text({}) == "none"
    assert _exclusions_text({"a_b": 0, "c_d": np.int64(1204), "e": "x"}) == "c d: 1,204; e: x"


def _summary_only_result(summary, cutoff) -> BacktestResult:
    empty = pd.DataFrame({"model": pd.Series([], dtype=object)})
    return BacktestResult(metrics=empty, predictions=empty, calibration=empty,
                          tracking=empty, summaries={pd.Timestamp(cutoff): summary}, fitted={},
                          failures=empty, time_unit="W")


def test_data_summary_without_holdout_columns():
    tx = clvmodels.datasets.load_cdnow("sample")
    # In days while the result says weeks: the summary's own unit counts.
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="D")
    summary.attrs["exclusions"] = {"rows_dropped_as_returns": 3, "other": 0}
    del summary.attrs["calibration_period_end"]
    end = pd.Timestamp("1998-06-30")
    result = _summary_only_result(summary, end)
    row = data_summary_table(result).iloc[0]
    assert row["customers"] == 2357 and row["transactions"] == 6919
    assert row["time_unit"] == "D"
    assert row["calibration_start"] == pd.Timestamp("1997-01-01")
    assert row["calibration_end"] == end  # the cutoff, without the attribute
    assert row["calibration_length"] == pytest.approx(545)
    assert row["holdout_end"] == end  # the summary's observation end
    for col in ("holdout_length", "repeat_purchases_holdout", "revenue_holdout",
                "share_active_holdout"):
        assert np.isnan(row[col]), col
    assert row["repeat_purchases_calibration"] == summary["frequency"].sum()
    assert row["exclusions"] == "rows dropped as returns: 3"
    # Without the observation end either, the holdout end is unknown.
    del summary.attrs["observation_period_end"]
    assert pd.isna(data_summary_table(result).iloc[0]["holdout_end"])


def test_data_summary_holdout_end_from_the_holdout_length():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W",
                                    calibration_period_end="1997-09-30")
    del summary.attrs["observation_period_end"]
    row = data_summary_table(_summary_only_result(summary, "1997-09-30")).iloc[0]
    assert row["holdout_length"] == pytest.approx(39)
    assert row["holdout_end"] == pd.Timestamp("1998-06-30")  # 39 weeks after the cutoff


def test_data_summary_of_an_empty_summary():
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W",
                                    calibration_period_end="1997-09-30").iloc[:0]
    row = data_summary_table(_summary_only_result(summary, "1997-09-30")).iloc[0]
    assert row["customers"] == 0
    assert row["calibration_length"] == 0.0
    assert row["calibration_start"] == pd.Timestamp("1997-09-30")
    assert np.isnan(row["holdout_length"])


# ---------------------------------------------------------------------------
# Backtest metrics at their edges


def test_metric_values_and_edges():
    from clvmodels.backtest import score_predictions

    label = np.array([0.0, 0.0, 1.0, 0.0, 1.0])
    p = np.array([0.1, 0.4, 0.35, 0.2, 0.9])
    alive = score_predictions(label, p, "alive")
    assert alive["brier"] == pytest.approx(np.mean((p - label) ** 2), rel=1e-12)
    assert alive["auc"] == pytest.approx(5 / 6)  # 5 of the 6 (buyer, non-buyer) pairs in order
    one = score_predictions(np.array([0.0, 0.0, 1.0]), np.array([0.1, 0.2, 0.9]), "alive")
    assert one["auc"] == 1.0  # a single buyer is enough
    lone = score_predictions(np.array([1.0, 1.0, 0.0]), np.array([0.3, 0.2, 0.25]), "alive")
    assert lone["auc"] == pytest.approx(0.5)  # ... and so is a single non-buyer
    assert np.isnan(score_predictions(np.zeros(3), np.array([0.1, 0.2, 0.3]), "alive")["auc"])
    assert np.isnan(score_predictions(np.ones(3), np.array([0.1, 0.2, 0.3]), "alive")["auc"])

    actual = np.array([5.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0])
    predicted = np.array([0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.2])
    m = score_predictions(actual, predicted, "purchases")
    assert m["top10_capture"] == pytest.approx(0.5)  # 1 customer: 5 of 10
    assert m["top20_capture"] == pytest.approx(0.8)  # 2 customers: 8 of 10
    small = score_predictions(np.array([0.0, 1.0]), np.array([0.2, 0.1]), "purchases")
    assert small["top10_capture"] == 0.0 and small["bias_pct"] == pytest.approx(-70.0)
    assert small["gini"] < 0  # the ranking is backwards
    # A total of 0 leaves the shares and the bias undefined; constant predictions
    # have no rank correlation; a prediction range below 1 still has one.
    zero = score_predictions(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]), "purchases")
    assert all(np.isnan(zero[k]) for k in ("bias_pct", "top10_capture", "top20_capture", "gini"))
    assert np.isnan(score_predictions(actual, np.ones(10), "purchases")["spearman"])
    assert score_predictions(np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.2, 0.3]),
                             "purchases")["spearman"] == pytest.approx(1.0)


def test_leaderboard_at_one_cutoff_keeps_the_models_order(hand_result):
    board = hand_result.leaderboard("1997-06-30")
    assert board.loc["A", ("purchases", "bias_pct")] == -30.0
    assert board.loc["B", ("purchases", "bias_pct")] == 25.0
    metrics = hand_result.metrics.copy()
    metrics["model"] = metrics["model"].map({"A": "zeta", "B": "alpha", "C": "mu"})
    metrics.loc[metrics["metric"] == "mae", "value"] = np.nan  # a metric nobody has
    result = BacktestResult(metrics=metrics, predictions=hand_result.predictions,
                            calibration=hand_result.calibration,
                            tracking=hand_result.tracking, summaries={}, fitted={},
                            failures=hand_result.failures, time_unit="W")
    assert list(result.leaderboard().index) == ["zeta", "alpha", "mu"]
    winners = result.winners()
    assert winners.name == "winner"
    # The empty metric is skipped, the ones after it are still ranked.
    assert ("purchases", "mae") not in winners.index
    assert winners[("alive", "brier")] == "mu" and winners[("purchases", "rmse")] == "alpha"
