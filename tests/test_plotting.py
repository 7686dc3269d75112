"""clvmodels.plotting: each plot rendered (not blank, labelled) and its data read back.

The plotted arrays are compared with values computed directly from the summary
or the model, on the CDNOW sample (weekly, calibration to 1997-09-30).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import plotting

matplotlib = pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def summary():
    tx = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvmodels.rfm_summary(tx, "customer_id", "date", "amount",
                                     calibration_period_end="1997-09-30", time_unit="W")


@pytest.fixture(scope="module")
def bgf(summary):
    return clvmodels.BetaGeoModel().fit(summary)


@pytest.fixture(scope="module")
def ggf(summary):
    return clvmodels.GammaGammaModel().fit(summary)


def _check_rendered(ax):
    """The figure renders with the Agg canvas, is not blank and the axes are labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = ax.figure
    FigureCanvasAgg(fig)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())
    assert len(np.unique(image.reshape(-1, 4), axis=0)) > 1
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def _cell(model, frequency, recency, T, method, *args):
    one = pd.DataFrame({"frequency": [float(frequency)], "recency": [float(recency)],
                        "T": [float(T)], "monetary_value": [1.0]})
    return float(np.asarray(getattr(model, method)(one, *args))[0])


@pytest.mark.parametrize("model_class", [clvmodels.BetaGeoModel,
                                         clvmodels.ModifiedBetaGeoModel,
                                         clvmodels.ParetoNBDModel])
def test_probability_alive_matrix_any_transaction_model(summary, model_class):
    model = model_class().fit(summary)
    ax = plotting.plot_probability_alive_matrix(model, summary, n_recency=10)
    _check_rendered(ax)
    frequencies, recencies, T = plotting.matrix_grid(summary, n_recency=10)
    values = np.asarray(ax.collections[0].get_array()).reshape(len(frequencies), len(recencies))
    assert T == pytest.approx(float(summary["T"].max()))
    for f, j in [(0, 5), (1, 3), (3, 10), (5, 7)]:
        r = 0.0 if f == 0 else recencies[j]
        assert values[f, j] == pytest.approx(_cell(model, f, r, T, "probability_alive"),
                                             rel=1e-9)
    # Recent buyers are more likely alive than customers silent since long ago.
    assert values[3, -1] > values[3, 1]


def test_frequency_recency_matrix_values_and_horizon(summary, bgf):
    ax = plotting.plot_frequency_recency_matrix(bgf, summary, t=13, n_recency=8)
    _check_rendered(ax)
    frequencies, recencies, T = plotting.matrix_grid(summary, n_recency=8)
    values = np.asarray(ax.collections[0].get_array()).reshape(len(frequencies), len(recencies))
    assert values[2, 4] == pytest.approx(
        _cell(bgf, 2, recencies[4], T, "expected_purchases", 13), rel=1e-9)
    assert values[0, 6] == pytest.approx(_cell(bgf, 0, 0.0, T, "expected_purchases", 13),
                                         rel=1e-9)
    assert "13 weeks" in ax.get_title()
    # A given Axes is drawn on and returned.
    from matplotlib.figure import Figure

    given = Figure().add_subplot()
    assert plotting.plot_frequency_recency_matrix(bgf, summary, ax=given) is given


def test_period_transactions_counts(summary, bgf):
    ax = plotting.plot_period_transactions(bgf, summary, max_frequency=5, n_draws=20)
    _check_rendered(ax)
    actual = [p.get_height() for p in ax.containers[0]]
    model = np.array([p.get_height() for p in ax.containers[1]])
    f = summary["frequency"].to_numpy()
    expected = [int((f == k).sum()) for k in range(5)] + [int((f >= 5).sum())]
    assert actual == expected
    # Every simulation places every customer in one bar.
    assert model.sum() == pytest.approx(len(summary))
    # The fitted BG/NBD reproduces the share of customers without repeat purchases.
    assert model[0] == pytest.approx(expected[0], rel=0.05)
    assert [t.get_text() for t in ax.get_xticklabels()][-1] == "5+"


def test_calibration_vs_holdout_by_frequency(summary, bgf):
    ax = plotting.plot_calibration_purchases_vs_holdout_purchases(bgf, summary, n=4)
    _check_rendered(ax)
    actual, model = ax.lines[0], ax.lines[1]
    assert list(actual.get_xdata()) == [0, 1, 2, 3, 4]
    f = summary["frequency"].to_numpy()
    holdout = summary["frequency_holdout"].to_numpy(dtype=float)
    horizon = float(summary["duration_holdout"].iloc[0])
    predicted = np.asarray(bgf.expected_purchases(summary, horizon), dtype=float)
    for k in range(4):
        assert actual.get_ydata()[k] == pytest.approx(holdout[f == k].mean())
        assert model.get_ydata()[k] == pytest.approx(predicted[f == k].mean())
    assert actual.get_ydata()[4] == pytest.approx(holdout[f >= 4].mean())
    assert model.get_ydata()[4] == pytest.approx(predicted[f >= 4].mean())


def test_calibration_vs_holdout_needs_a_holdout(summary, bgf):
    with pytest.raises(clvmodels.DataError, match="calibration_period_end"):
        plotting.plot_calibration_purchases_vs_holdout_purchases(
            bgf, summary.drop(columns=["frequency_holdout"]))


def test_customer_exposure_small_case():
    small = pd.DataFrame({"frequency": [2, 0, 1], "recency": [4.0, 0.0, 8.0],
                          "T": [10.0, 5.0, 8.0]}, index=["a", "b", "c"])
    small.attrs["time_unit"] = "W"
    ax = plotting.plot_customer_exposure(small, n=3)
    _check_rendered(ax)
    segments = np.array(ax.collections[0].get_segments())
    # Oldest first: T = 10, 8, 5 -> first purchase at 0, 2, 5; all end at 10.
    np.testing.assert_allclose(segments[:, 0, 0], [0.0, 2.0, 5.0])
    np.testing.assert_allclose(segments[:, 1, 0], [10.0, 10.0, 10.0])
    np.testing.assert_allclose(ax.collections[1].get_offsets()[:, 0], [0.0, 2.0, 5.0])
    # Last purchases: first purchase + recency.
    np.testing.assert_allclose(ax.collections[2].get_offsets()[:, 0], [4.0, 10.0, 5.0])
    assert "weeks" in ax.get_xlabel()
    assert len(plotting.plot_customer_exposure(small, n=2).collections[0].get_segments()) == 2


def test_spend_distribution(summary, ggf):
    ax = plotting.plot_spend_distribution(ggf, summary, bins=30)
    _check_rendered(ax)
    keep = (summary["frequency"] > 0) & (summary["monetary_value"] > 0)
    z = summary.loc[keep, "monetary_value"].to_numpy(dtype=float)
    edges = np.linspace(0.0, float(np.quantile(z, 0.99)) * 1.2, 31)
    density, _ = np.histogram(z, bins=edges, density=True)
    np.testing.assert_allclose([p.get_height() for p in ax.patches], density)
    line = ax.lines[0]
    model = np.asarray(line.get_ydata())
    # The model's density integrates to one over the bins, and its mean is near
    # the observed mean of the customers' mean spend (the model is fitted to them).
    width = np.diff(edges)
    assert float((model * width).sum()) == pytest.approx(1.0)
    centres = np.asarray(line.get_xdata())
    assert float((model * width * centres).sum()) == pytest.approx(
        float((density * width * centres).sum()), rel=0.15)


def test_plotting_is_a_module_attribute_without_importing_matplotlib():
    import subprocess
    import sys

    code = ("import sys, clvmodels; assert callable(clvmodels.plotting.plot_period_transactions); "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def log():
    return clvmodels.datasets.load_cdnow("sample")


def _full_summary(log):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clvmodels.rfm_summary(log, "customer_id", "date", time_unit="W",
                                     observation_period_end=log["date"].max())


def test_probability_alive_history_of_one_customer(log, bgf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = plotting.plot_probability_alive_history(bgf, log, 4, "customer_id", "date",
                                                     n_points=50)
    _check_rendered(ax)
    path = np.asarray(ax.lines[0].get_ydata())
    full = _full_summary(log)
    # The last point is the customer's P(alive) at the end of the log.
    assert path[-1] == pytest.approx(float(bgf.probability_alive(full.loc[[4]]).iloc[0]),
                                     rel=1e-6)
    assert path[0] == pytest.approx(1.0)  # no repeat purchase yet
    # One vertical line per purchase day; P(alive) jumps up at a purchase after a gap.
    assert len(ax.lines) - 1 == int(full.loc[4, "frequency"]) + 1
    assert path.min() < path[-1] < 1.0


def test_cumulative_and_incremental_tracking(log, bgf):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cum = plotting.plot_cumulative_transactions(bgf, log, "customer_id", "date",
                                                    calibration_period_end="1997-09-30")
        inc = plotting.plot_incremental_transactions(bgf, log, "customer_id", "date")
    _check_rendered(cum)
    _check_rendered(inc)
    full = _full_summary(log)
    actual, model = (np.asarray(line.get_ydata()) for line in cum.lines[:2])
    # At the end of the log: every repeat purchase day, and the model's expected
    # repeat purchases of every customer over their own T.
    assert actual[-1] == full["frequency"].sum()
    expected = np.asarray(bgf.expected_purchases_new_customer(full["T"].to_numpy()))
    assert model[-1] == pytest.approx(expected.sum(), rel=1e-6)
    assert np.all(np.diff(actual) >= 0) and np.all(np.diff(model) >= 0)
    np.testing.assert_allclose(np.cumsum(inc.lines[0].get_ydata()), actual)
    np.testing.assert_allclose(np.cumsum(inc.lines[1].get_ydata()), model)
    # Weekly points (the model's unit) over the 78 weeks of the sample.
    assert len(actual) == int(np.ceil(full["T"].max()))


def test_report_gain_and_lift_lines_stay_apart_when_models_rank_alike():
    from types import SimpleNamespace

    from clvmodels.report import plots

    rng = np.random.default_rng(0)
    actual = rng.gamma(1.0, 10.0, size=50)
    predicted = actual + rng.normal(0, 1, size=50)
    cutoff = pd.Timestamp("1997-09-30")
    # Three models with the same ranking: identical gain and lift curves.
    preds = pd.concat([pd.DataFrame({"model": name, "cutoff": cutoff, "actual_revenue": actual,
                                     "predicted_revenue": predicted * k})
                       for name, k in [("a", 1.0), ("b", 2.0), ("c", 3.0)]])
    result = SimpleNamespace(predictions=preds, summaries={cutoff: pd.DataFrame()},
                             time_unit="W")
    fig = plots.gain_figure(result, cutoff, colors={"a": "C0", "b": "C1", "c": "C2"})
    for ax in fig.axes:
        lines = [line for line in ax.lines if line.get_label() in ("a", "b", "c")]
        assert len(lines) == 3
        np.testing.assert_allclose(lines[0].get_ydata(), lines[2].get_ydata())
        looks = {(line.get_marker(), str(line.get_linestyle())) for line in lines}
        assert len(looks) == 3


def test_report_shows_one_matrix_per_transaction_model(summary, bgf):
    from types import SimpleNamespace

    from clvmodels.report import html, plots

    mbg = clvmodels.ModifiedBetaGeoModel().fit(summary)
    cutoff = pd.Timestamp("1997-09-30")
    names = ["bgnbd", "bgnbd_again", "mbgnbd"]
    result = SimpleNamespace(
        fitted={("bgnbd", cutoff): bgf, ("bgnbd_again", cutoff): bgf,
                ("mbgnbd", cutoff): mbg},
        metrics=pd.DataFrame({"model": names, "cutoff": cutoff}),
        failures=pd.DataFrame(), summaries={cutoff: summary}, time_unit="W")
    found = plots.matrix_models(result, cutoff)
    assert [(name, type(model).__name__) for name, _, model in found] == [
        ("bgnbd", "BetaGeoModel"), ("mbgnbd", "ModifiedBetaGeoModel")]
    text = html._matrices_section(result)
    assert text.count("<figure>") == 2
    assert "mbgnbd (ModifiedBetaGeoModel)" in text and "bgnbd (BetaGeoModel)" in text
