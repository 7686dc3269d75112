"""Backtests of models with covariates: customer attributes joined to every cutoff's summary."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from clvmodels import BetaGeoModel, GammaGammaModel, backtest, join_attributes, rfm_summary
from clvmodels import plotting
from clvmodels.exceptions import ClvModelsWarning, DataError, DataWarning

from channel_logs import two_channel_log

CUTOFF = "2024-10-01"


@pytest.fixture(scope="module")
def two_channels():
    """A log of two kinds of customers: web buyers purchase about four times as often
    (BG/NBD with alpha 2 against 8, the same dropout), and their attributes."""
    log = two_channel_log(600, 78)
    attributes = pd.DataFrame({"web": np.repeat([1.0, 0.0], 600)},
                              index=pd.Index(np.arange(1200), name="customer_id"))
    # Rows for customers the log does not have are ignored.
    extra = pd.DataFrame({"web": [1.0]}, index=pd.Index([5000], name="customer_id"))
    return log, pd.concat([attributes, extra])


MODELS = {
    "plain": (BetaGeoModel(), GammaGammaModel()),
    "channel": (BetaGeoModel(purchase_covariates=["web"]), GammaGammaModel()),
}


def test_a_covariate_model_is_compared_on_held_out_time(two_channels):
    log, attributes = two_channels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = backtest(log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                          models=MODELS, customer_attributes=attributes, interval=0.8)
        summary = rfm_summary(log, "customer_id", "date", "amount",
                              calibration_period_end=CUTOFF, time_unit="W")
    # The cutoff's summary carries each customer's attribute, and no customer is lost.
    cut = result.summaries[pd.Timestamp(CUTOFF)]
    assert len(cut) == len(summary)
    np.testing.assert_array_equal(cut["web"], (cut.index < 600).astype(float))
    # Its predictions are those of the same model fitted directly on the joined summary.
    joined = join_attributes(summary, attributes)
    direct = BetaGeoModel(purchase_covariates=["web"]).fit(joined)
    horizon = float(summary["duration_holdout"].iloc[0])
    mine = result.predictions[result.predictions["model"] == "channel"].set_index("customer_id")
    np.testing.assert_allclose(mine.loc[summary.index, "predicted_purchases"],
                               direct.expected_purchases(joined, horizon), rtol=1e-6)
    assert direct.params_["purchase_coef[web]"] == pytest.approx(np.log(4.0), abs=0.3)
    # Both models are ranked; the plain one is fitted without the attribute.
    board = result.leaderboard()
    assert {"plain", "channel"} <= set(board.index)
    fitted = result.fitted[("channel", pd.Timestamp(CUTOFF))].transaction_model_
    pd.testing.assert_series_equal(fitted.params_, direct.params_, rtol=1e-6)
    plain = result.fitted[("plain", pd.Timestamp(CUTOFF))].transaction_model_
    assert list(plain.params_.index) == ["r", "alpha", "a", "b"]
    # The covariate model's intervals are per customer: web buyers' are wider.
    upper = mine.loc[summary.index, "purchases_predictive_upper"]
    assert upper[summary.index < 600].mean() > upper[summary.index >= 600].mean()


def test_customers_without_attributes_are_refused_and_counted(two_channels):
    log, attributes = two_channels
    with pytest.raises(DataError) as err:
        backtest(log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                 models=MODELS, customer_attributes=attributes.drop(index=[0, 1, 2]))
    assert err.value.rule == "missing_attributes" and err.value.n_rows == 3
    assert "3 of" in str(err.value) and err.value.column == "customer_id"
    assert err.value.examples == [0, 1, 2]
    # Ids of another type match no customer: the message says why.
    as_text = attributes.set_axis(attributes.index.astype(str))
    with pytest.raises(DataError, match="of type .*int.*str") as err:
        backtest(log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                 models=MODELS, customer_attributes=as_text)
    assert err.value.rule == "missing_attributes"


def test_join_attributes_rules():
    summary = pd.DataFrame({"frequency": [1, 0, 2]},
                           index=pd.Index(["a", "b", "c"], name="id"))
    summary.attrs["time_unit"] = "W"
    attributes = pd.DataFrame({"web": [0.0, 1.0, 1.0, 0.0]}, index=["c", "a", "b", "z"])
    joined = join_attributes(summary, attributes)
    assert joined.index.equals(summary.index) and joined.attrs == summary.attrs
    assert joined["web"].tolist() == [1.0, 1.0, 0.0]
    assert join_attributes(summary, None) is summary
    with pytest.raises(DataError) as err:
        join_attributes(summary, pd.concat([attributes, attributes.iloc[[0]]]))
    assert err.value.rule == "duplicate_ids" and err.value.n_rows == 2
    assert err.value.examples == ["c"]
    with pytest.raises(DataError) as err:
        join_attributes(summary, attributes.rename(columns={"web": "frequency"}))
    assert err.value.rule == "covariate_is_data_column" and err.value.column == "frequency"
    with pytest.raises(DataError, match="1 of 3 customers") as err:
        join_attributes(summary, attributes.drop(index="b"))
    assert err.value.examples == ["b"] and err.value.n_rows == 1


def test_matrices_and_report_show_the_reference_customer(two_channels, tmp_path):
    log, attributes = two_channels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summary = rfm_summary(log, "customer_id", "date", "amount",
                              calibration_period_end=CUTOFF, time_unit="W")
    joined = join_attributes(summary, attributes)
    model = BetaGeoModel(purchase_covariates=["web"]).fit(joined)
    base = model.params_[["r", "alpha", "a", "b"]].to_dict()
    reference = BetaGeoModel().with_parameters(base, time_unit="W")
    for mine, theirs in zip(plotting.matrix_values(model, joined, 10.0),
                            plotting.matrix_values(reference, summary, 10.0)):
        np.testing.assert_array_equal(mine, theirs)
    # The HTML report of a backtest with covariates draws every section.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        result = backtest(log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
                          models=MODELS, customer_attributes=attributes, interval=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClvModelsWarning)
        result.report(tmp_path / "report.html")
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "purchase_coef[web]" in html and "could not be drawn" not in html
