"""predict_clv, column by column, on summaries of a few customers and models with
parameters set by hand (mutants of export.py's predict_clv; see tests/mutation/README.md).

Every value of the export is compared with an independent computation on the same
rows (the models' own predictions, ``customer_lifetime_value``, ``rfm_segments``,
``lifecycle_stages``), every option is shown to change what it should, and the files
are read back and compared with the table in memory. The whole file runs in a few
seconds (no fit).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from clvmodels.clv import customer_lifetime_value
from clvmodels.data import ExcludedCustomers
from clvmodels.exceptions import DataError, DataWarning
from clvmodels.export import _is_missing, predict_clv
from clvmodels.models.baseline import rfm_segments
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.stages import lifecycle_stages

RFM = ["frequency", "recency", "T", "monetary_value"]


def _models():
    """BG/NBD (weeks) and Gamma-Gamma with fixed parameters and a small covariance."""
    bg = BetaGeoModel().with_parameters({"r": 0.8, "alpha": 6.0, "a": 0.6, "b": 1.8},
                                        time_unit="W")
    bg.cov_log_ = pd.DataFrame(np.eye(4) * 0.01, index=bg.cov_log_.index,
                               columns=bg.cov_log_.columns)
    gg = GammaGammaModel().with_parameters({"p": 6.0, "q": 4.0, "v": 15.0})
    gg.cov_log_ = pd.DataFrame(np.eye(3) * 0.01, index=gg.cov_log_.index,
                               columns=gg.cov_log_.columns)
    return bg, gg


BG, GG = _models()

ROWS = [  # frequency, recency, T, monetary_value (weeks)
    (0, 0.0, 30.0, 0.0),
    (1, 10.0, 30.0, 25.0),
    (3, 25.0, 40.0, 12.5),
    (6, 50.0, 52.0, 40.0),
    (2, 4.0, 60.0, 8.0),
    (0, 0.0, 2.0, 0.0),
    (4, 20.0, 26.0, 30.0),
]
IDS = [f"k{i}" for i in range(len(ROWS))]


def _summary(rows=ROWS, ids=None, name="customer_id", unit="W"):
    ids = IDS[:len(rows)] if ids is None else ids
    summary = pd.DataFrame([r[:4] for r in rows], columns=RFM,
                           index=pd.Index(ids, name=name))
    summary.attrs = {"time_unit": unit}
    return summary


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return func(*args, **kwargs)


def _no_warning(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return func(*args, **kwargs)


SETTINGS = dict(horizon=10, time_unit="W", discount_rate=0.05, discount_period="Y",
                margin=0.3, interval=0.8, n_draws=30, random_state=5)


# --------------------------------------------------------------------------- every column


def test_every_column_against_the_models():
    summary = _summary()
    out = _no_warning(predict_clv, summary, BG, GG, **SETTINGS)
    assert list(out.columns) == ["customer_id", *RFM, "probability_alive",
                                 "expected_purchases", "expected_spend", "clv", "clv_lower",
                                 "clv_upper", "segment", "stage", "model", "horizon",
                                 "time_unit", "unscored_reason"]
    assert out.index.tolist() == list(range(7))
    assert out["customer_id"].tolist() == IDS
    for col in RFM:
        assert out[col].dtype == np.float64
        np.testing.assert_array_equal(out[col].to_numpy(), summary[col].to_numpy(float))
    np.testing.assert_allclose(out["probability_alive"], BG.probability_alive(summary),
                               rtol=1e-12)
    np.testing.assert_allclose(out["expected_purchases"],
                               BG.expected_purchases(summary, t=10.0), rtol=1e-9)
    np.testing.assert_allclose(out["expected_spend"], GG.expected_spend(summary), rtol=1e-12)
    clv = customer_lifetime_value(BG, GG, summary, **SETTINGS)
    for col in ("clv", "clv_lower", "clv_upper", "expected_purchases", "expected_spend"):
        np.testing.assert_allclose(out[col], clv[col], rtol=1e-12)
    assert (out["clv_lower"] < out["clv"]).all() and (out["clv"] < out["clv_upper"]).all()
    # By hand: customer k6 (x = 4, m = 30) spends p (v + x m) / (p x + q - 1) = 30.
    assert out["expected_spend"].iloc[6] == pytest.approx(6 * (15 + 4 * 30) / (24 + 3),
                                                          rel=1e-12)
    assert out["segment"].tolist() == rfm_segments(summary)["segment"].tolist()
    assert out["stage"].tolist() == lifecycle_stages(summary).astype(str).tolist()
    assert out["model"].tolist() == ["BetaGeoModel + GammaGammaModel"] * 7
    assert out["horizon"].dtype == np.int64 and out["horizon"].tolist() == [10] * 7
    assert out["time_unit"].tolist() == ["W"] * 7
    assert out["unscored_reason"].isna().all()
    for col in ("segment", "stage", "model", "time_unit", "unscored_reason"):
        assert out[col].dtype == "string", col
    for col in out.columns[1:11]:
        assert out[col].dtype == np.float64, col


def test_the_defaults():
    """Undiscounted, margin 1, a 90% interval of the expected CLV over 200 draws of seed 0."""
    summary = _summary()
    out = _no_warning(predict_clv, summary, BG, GG, horizon=10, time_unit="W")
    expected = customer_lifetime_value(BG, GG, summary, horizon=10, time_unit="W",
                                       interval=0.9, n_draws=200, random_state=0)
    for col in ("clv", "clv_lower", "clv_upper"):
        np.testing.assert_allclose(out[col], expected[col], rtol=1e-12)
    np.testing.assert_allclose(out["clv"], out["expected_spend"] * out["expected_purchases"],
                               rtol=1e-9)


def test_the_summary_is_not_modified():
    summary = _summary()
    copy = summary.copy()
    _no_warning(predict_clv, summary, BG, GG, **SETTINGS)
    pd.testing.assert_frame_equal(summary, copy)
    assert summary.attrs == {"time_unit": "W"}


def test_a_summary_in_days_is_converted_to_the_models_weeks():
    """The scored rows keep the summary's attributes: its time unit converts recency
    and T to the model's weeks, and the stages read their gaps in days."""
    weeks = _summary()
    days = _summary([(f, 7 * r, 7 * T, m) for f, r, T, m in ROWS], unit="D")
    in_weeks = _no_warning(predict_clv, weeks, BG, GG, horizon=10, time_unit="W",
                           interval=None)
    in_days = _no_warning(predict_clv, days, BG, GG, horizon=10, time_unit="W",
                          interval=None)
    for col in ("probability_alive", "expected_purchases", "clv"):
        np.testing.assert_allclose(in_days[col], in_weeks[col], rtol=1e-9)
    np.testing.assert_array_equal(in_days["T"], 7 * weeks["T"].to_numpy())
    assert in_days["stage"].tolist() == lifecycle_stages(days).astype(str).tolist()
    # Read as days (the default unit), weeks would make k0 and k4 new customers.
    plain = weeks.copy()
    plain.attrs = {}
    assert in_weeks["stage"].tolist() == lifecycle_stages(weeks).astype(str).tolist()
    assert in_weeks["stage"].tolist() != _quiet(lifecycle_stages, plain).astype(str).tolist()


# --------------------------------------------------------------------------- options


def test_each_option_changes_the_values_as_it_should():
    summary = _summary()
    base = dict(horizon=10, time_unit="W", interval=None)
    plain = _no_warning(predict_clv, summary, BG, GG, **base)
    # margin multiplies the value, not the purchases.
    half = _no_warning(predict_clv, summary, BG, GG, **base, margin=0.5)
    np.testing.assert_allclose(half["clv"], 0.5 * plain["clv"], rtol=1e-12)
    np.testing.assert_allclose(half["expected_purchases"], plain["expected_purchases"])
    # Undiscounted: CLV = expected spend x expected purchases.
    np.testing.assert_allclose(plain["clv"], plain["expected_spend"]
                               * plain["expected_purchases"], rtol=1e-9)
    # horizon: purchases over 20 weeks.
    longer = _no_warning(predict_clv, summary, BG, GG, horizon=20, time_unit="W",
                         interval=None)
    np.testing.assert_allclose(longer["expected_purchases"],
                               BG.expected_purchases(summary, t=20.0), rtol=1e-9)
    assert longer["horizon"].tolist() == [20] * 7
    # time_unit: 10 months of 30.4375 days, written as "M".
    months = _no_warning(predict_clv, summary, BG, GG, horizon=10, time_unit="M",
                         interval=None)
    np.testing.assert_allclose(months["expected_purchases"],
                               BG.expected_purchases(summary, t=10 * 30.4375 / 7),
                               rtol=1e-9)
    assert months["time_unit"].tolist() == ["M"] * 7
    # discount_rate per week by default, per year with discount_period="Y".
    for rate, period in ((0.05, None), (0.05, "Y"), (0.5, "Y")):
        kw = dict(horizon=10, time_unit="W", discount_rate=rate, discount_period=period,
                  margin=0.7)
        out = _no_warning(predict_clv, summary, BG, GG, **kw, interval=None)
        np.testing.assert_allclose(out["clv"], customer_lifetime_value(BG, GG, summary, **kw)
                                   ["clv"], rtol=1e-12)
        assert (out["clv"] < 0.7 * plain["clv"]).all()
    weekly = _no_warning(predict_clv, summary, BG, GG, **base, discount_rate=0.05)
    yearly = _no_warning(predict_clv, summary, BG, GG, **base, discount_rate=0.05,
                         discount_period="Y")
    assert (weekly["clv"] < yearly["clv"]).all()


def test_the_interval_follows_the_draws_and_its_options():
    summary = _summary()
    out = _no_warning(predict_clv, summary, BG, GG, **SETTINGS)
    again = _no_warning(predict_clv, summary, BG, GG, **SETTINGS)
    pd.testing.assert_frame_equal(out, again)
    for change in (dict(random_state=6), dict(n_draws=40), dict(interval=0.5)):
        other = _no_warning(predict_clv, summary, BG, GG, **{**SETTINGS, **change})
        expected = customer_lifetime_value(BG, GG, summary, **{**SETTINGS, **change})
        np.testing.assert_allclose(other["clv_lower"], expected["clv_lower"], rtol=1e-12)
        np.testing.assert_allclose(other["clv_upper"], expected["clv_upper"], rtol=1e-12)
        assert not np.allclose(other["clv_upper"], out["clv_upper"], rtol=1e-9), change
        np.testing.assert_allclose(other["clv"], out["clv"], rtol=1e-12)


def test_the_predictive_interval_and_its_columns():
    summary = _summary()
    kw = {**SETTINGS, "interval_kind": "predictive"}
    out = _no_warning(predict_clv, summary, BG, GG, **kw)
    assert list(out.columns)[9:11] == ["clv_predictive_lower", "clv_predictive_upper"]
    assert "clv_lower" not in out.columns
    expected = customer_lifetime_value(BG, GG, summary, **kw)
    for col in ("clv", "clv_predictive_lower", "clv_predictive_upper"):
        np.testing.assert_allclose(out[col], expected[col], rtol=1e-12)
    assert (out["clv_predictive_upper"] > out["clv_predictive_lower"]).any()


def test_no_interval_means_no_bound_columns():
    out = _no_warning(predict_clv, _summary(), BG, GG, horizon=10, time_unit="W",
                      interval=None)
    assert list(out.columns)[5:9] == ["probability_alive", "expected_purchases",
                                      "expected_spend", "clv"]
    assert list(out.columns)[9] == "segment"


def test_the_remaining_lifetime_writes_dert_and_horizon_zero():
    summary = _summary()
    kw = dict(horizon=None, time_unit="W", discount_rate=0.01, margin=0.4)
    out = _no_warning(predict_clv, summary, BG, GG, **kw, interval=None)
    assert list(out.columns)[5:9] == ["probability_alive", "dert", "expected_spend", "clv"]
    assert "expected_purchases" not in out.columns
    expected = customer_lifetime_value(BG, GG, summary, **kw)
    np.testing.assert_allclose(out["dert"], expected["dert"], rtol=1e-12)
    np.testing.assert_allclose(out["clv"], 0.4 * out["expected_spend"] * out["dert"],
                               rtol=1e-9)
    assert out["horizon"].dtype == np.int64 and out["horizon"].tolist() == [0] * 7
    # With an interval, the bounds of the remaining lifetime's value.
    bounded = _no_warning(predict_clv, summary, BG, GG, **kw, interval=0.8, n_draws=20,
                          random_state=1)
    expected = customer_lifetime_value(BG, GG, summary, **kw, interval=0.8, n_draws=20,
                                       random_state=1)
    np.testing.assert_allclose(bounded["clv_upper"], expected["clv_upper"], rtol=1e-12)
    assert list(bounded.columns)[5:11] == ["probability_alive", "dert", "expected_spend",
                                           "clv", "clv_lower", "clv_upper"]


# --------------------------------------------------------------------------- names


def test_model_names():
    summary = _summary()
    out = _no_warning(predict_clv, summary, BG, GG, horizon=10, time_unit="W", interval=None,
                      model_name="my pair")
    assert out["model"].tolist() == ["my pair"] * 7
    assert out["model"].dtype == "string"


def test_an_unnamed_index_is_written_as_customer_id_and_a_named_one_keeps_its_name(tmp_path):
    kw = dict(horizon=10, time_unit="W", interval=None)
    out = _no_warning(predict_clv, _summary(name=None), BG, GG, **kw)
    assert out.columns[0] == "customer_id" and out["customer_id"].tolist() == IDS
    named = _no_warning(predict_clv, _summary(name="client"), BG, GG, **kw)
    assert named.columns[0] == "client" and named["client"].tolist() == IDS
    path = _no_warning(predict_clv, _summary(name="client"), BG, GG, **kw,
                       path=tmp_path / "x.parquet", chunk_size=3)
    assert pq.read_schema(path).names[0] == "client"
    assert pq.read_table(path).column("client").to_pylist() == IDS


def test_mixed_ids_are_refused_with_the_index_name():
    summary = _summary(ids=pd.Index([1, "1", 2, 3, 4, 5, 6], dtype=object), name="client")
    with pytest.raises(DataError, match=r"customer ids \('client'\) mix types: 6 int, 1 str") \
            as info:
        predict_clv(summary, BG, GG, horizon=10, time_unit="W", interval=None)
    assert info.value.column == "client"


# --------------------------------------------------------------------------- unscored rows

BAD = [  # the first, third and sixth customers cannot be scored
    (1, 40.0, 30.0, 25.0),        # recency > T
    (1, 10.0, 30.0, 25.0),
    (3, 25.0, 40.0, 0.0),         # repeat purchases without spend
    (6, 50.0, 52.0, 40.0),
    (2, 4.0, 60.0, 8.0),
    (2, 4.0, 60.0, -1.0),         # repeat purchases without spend
    (4, 20.0, 26.0, 30.0),
]


def test_unscored_customers_keep_their_row_their_values_and_a_reason():
    summary = _summary(BAD)
    with pytest.warns(DataWarning) as record:
        out = predict_clv(summary, BG, GG, **SETTINGS)
    assert len(record) == 1
    assert str(record[0].message) == (
        "3 of 7 customers cannot be scored (2 repeat purchases but monetary_value <= 0; "
        "1 recency is larger than T); they are kept with empty predictions and the reason "
        "in 'unscored_reason'.")
    bad = [0, 2, 5]
    good = [1, 3, 4, 6]
    assert out["customer_id"].tolist() == IDS
    assert out["unscored_reason"].iloc[bad].tolist() == [
        "recency is larger than T", "repeat purchases but monetary_value <= 0",
        "repeat purchases but monetary_value <= 0"]
    assert out["unscored_reason"].iloc[good].isna().all()
    for col in RFM:  # the RFM values as they were, also for unscored customers
        np.testing.assert_array_equal(out[col].to_numpy(), summary[col].to_numpy(float))
    values = ["probability_alive", "expected_purchases", "expected_spend", "clv",
              "clv_lower", "clv_upper"]
    assert (out[values].dtypes == np.float64).all()
    assert out[values].iloc[bad].isna().all().all()
    assert out[values].iloc[good].notna().all().all()
    scorable = summary.iloc[good]
    clv = customer_lifetime_value(BG, GG, scorable, **SETTINGS)
    for col in ("clv", "clv_lower", "clv_upper", "expected_purchases", "expected_spend"):
        np.testing.assert_allclose(out[col].iloc[good], clv[col], rtol=1e-12)
    np.testing.assert_allclose(out["probability_alive"].iloc[good],
                               BG.probability_alive(scorable), rtol=1e-12)
    # Segments and stages of the scorable customers among themselves.
    assert out["segment"].iloc[good].tolist() == rfm_segments(scorable)["segment"].tolist()
    assert out["stage"].iloc[good].tolist() == lifecycle_stages(scorable).astype(str).tolist()
    assert out["segment"].iloc[bad].isna().all() and out["stage"].iloc[bad].isna().all()
    assert out["horizon"].tolist() == [10] * 7 and out["time_unit"].tolist() == ["W"] * 7
    assert out["model"].tolist() == ["BetaGeoModel + GammaGammaModel"] * 7


def test_no_scorable_customer_at_all():
    summary = _summary([BAD[0], BAD[2]])
    with pytest.warns(DataWarning, match=r"^2 of 2 customers cannot be scored \(1 recency is"):
        out = predict_clv(summary, BG, GG, horizon=10, time_unit="W", interval=None)
    assert out["clv"].isna().all() and out["segment"].isna().all()
    assert out["stage"].isna().all()
    assert out["segment"].dtype == "string" and out["stage"].dtype == "string"
    assert out["unscored_reason"].tolist() == ["recency is larger than T",
                                               "repeat purchases but monetary_value <= 0"]


def test_text_numbers_are_scored_like_numbers():
    """A bug found while writing these tests: unscorable_reasons reads "2" as 2, but
    predict_clv then handed the text columns to rfm_segments, which refused them."""
    numbers = _summary()
    text = numbers.astype(str)
    text.attrs = dict(numbers.attrs)
    out = _no_warning(predict_clv, text, BG, GG, **SETTINGS)
    expected = _no_warning(predict_clv, numbers, BG, GG, **SETTINGS)
    pd.testing.assert_frame_equal(out, expected)


def test_text_in_an_rfm_column_is_written_empty():
    """The same bug: a text value made the whole export fail instead of one row."""
    summary = _summary()
    summary["recency"] = summary["recency"].astype(object)
    summary.iloc[1, 1] = "soon"
    with pytest.warns(DataWarning, match=r"^1 of 7 customers cannot be scored \(1 missing or "
                                         r"non-numeric RFM value\)"):
        out = predict_clv(summary, BG, GG, horizon=10, time_unit="W", interval=None)
    assert out["recency"].dtype == np.float64
    assert np.isnan(out["recency"].iloc[1]) and np.isnan(out["clv"].iloc[1])
    assert out["recency"].iloc[2] == 25.0
    numbers = _summary()
    expected = _quiet(predict_clv, numbers.drop(index="k1"), BG, GG, horizon=10,
                      time_unit="W", interval=None)
    np.testing.assert_allclose(out["clv"].drop(index=1), expected["clv"], rtol=1e-12)


def test_excluded_customers_in_and_out_of_the_calibration_period():
    summary = _summary(BAD)
    frame = pd.DataFrame(
        {"reason": ["all purchases cancelled by returns", "zero amounts only",
                    "first purchase after the calibration end",
                    "first purchase after the calibration end"],
         "in_calibration_period": [True, True, False, False]},
        index=pd.Index(["x1", "x2", "x3", "x4"], name="customer_id"))
    summary.attrs["excluded_customers"] = ExcludedCustomers(frame)
    with pytest.warns(DataWarning) as record:
        out = predict_clv(summary, BG, GG, **SETTINGS)
    assert len(record) == 1
    assert str(record[0].message) == (
        "5 of 9 customers cannot be scored (2 repeat purchases but monetary_value <= 0; "
        "1 recency is larger than T; 1 excluded by rfm_summary: all purchases cancelled by "
        "returns; 1 excluded by rfm_summary: zero amounts only); they are kept with empty "
        "predictions and the reason in 'unscored_reason'. 2 customer(s) excluded by "
        "rfm_summary did not buy in the calibration period and have no row (see "
        "clvmodels.data.excluded_customers(summary)).")
    assert out["customer_id"].tolist() == [*IDS, "x1", "x2"]
    assert out["unscored_reason"].tolist()[7:] == [
        "excluded by rfm_summary: all purchases cancelled by returns",
        "excluded by rfm_summary: zero amounts only"]
    assert out.iloc[7:][[*RFM, "clv", "segment", "stage"]].isna().all().all()
    assert out["model"].tolist()[7:] == ["BetaGeoModel + GammaGammaModel"] * 2


def test_only_excluded_customers_outside_the_period_warn_about_them_alone():
    summary = _summary()
    frame = pd.DataFrame({"reason": ["first purchase after the calibration end"],
                          "in_calibration_period": [False]},
                         index=pd.Index(["x9"], name="customer_id"))
    summary.attrs["excluded_customers"] = ExcludedCustomers(frame)
    with pytest.warns(DataWarning) as record:
        out = predict_clv(summary, BG, GG, horizon=10, time_unit="W", interval=None)
    assert [str(w.message) for w in record] == [
        "1 customer(s) excluded by rfm_summary did not buy in the calibration period and "
        "have no row (see clvmodels.data.excluded_customers(summary))."]
    assert out["customer_id"].tolist() == IDS and out["unscored_reason"].isna().all()


# --------------------------------------------------------------------------- chunks and files


@pytest.mark.parametrize("chunk_size", [1, 3, 6])
def test_chunks_in_memory_equal_one_chunk(chunk_size):
    summary = _summary(BAD)
    whole = _quiet(predict_clv, summary, BG, GG, **SETTINGS, chunk_size=7)
    chunked = _quiet(predict_clv, summary, BG, GG, **SETTINGS, chunk_size=chunk_size)
    pd.testing.assert_frame_equal(chunked, whole)


@pytest.mark.parametrize("chunk_size", [1, 3])
def test_a_generator_seed_gives_the_same_draws_to_every_chunk(chunk_size):
    summary = _summary(BAD)
    settings = {k: v for k, v in SETTINGS.items() if k != "random_state"}
    whole = _quiet(predict_clv, summary, BG, GG, **settings, chunk_size=7,
                   random_state=np.random.default_rng(11))
    chunked = _quiet(predict_clv, summary, BG, GG, **settings, chunk_size=chunk_size,
                     random_state=np.random.default_rng(11))
    pd.testing.assert_frame_equal(chunked, whole)
    other = _quiet(predict_clv, summary, BG, GG, **settings, chunk_size=7,
                   random_state=np.random.default_rng(12))
    assert not np.allclose(other["clv_lower"].dropna(), whole["clv_lower"].dropna())


@pytest.mark.parametrize("chunk_size", [3, 6])  # the last chunk holds one customer
@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_files_equal_the_table_in_memory(tmp_path, suffix, chunk_size):
    summary = _summary(BAD)
    expected = _quiet(predict_clv, summary, BG, GG, **SETTINGS)
    path = _quiet(predict_clv, summary, BG, GG, **SETTINGS, chunk_size=chunk_size,
                  path=tmp_path / f"clv{suffix}")
    assert path == tmp_path / f"clv{suffix}"
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert list(back.columns) == list(expected.columns)
    assert back["customer_id"].tolist() == IDS
    for col in ("frequency", "recency", "T", "monetary_value", "probability_alive",
                "expected_purchases", "expected_spend", "clv", "clv_lower", "clv_upper"):
        np.testing.assert_allclose(back[col].to_numpy(float), expected[col].to_numpy(float),
                                   rtol=1e-12, err_msg=col)
    for col in ("segment", "stage", "model", "time_unit", "unscored_reason"):
        assert back[col].astype(object).where(back[col].notna(), None).tolist() == \
            expected[col].astype(object).where(expected[col].notna(), None).tolist(), col
    assert back["horizon"].tolist() == [10] * 7
    if suffix == ".parquet":  # strings read back as str, NaN-missing: same values
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)
        types = {f.name: str(f.type) for f in pq.read_schema(path)}
        numbers = {c: "double" for c in expected.columns[1:11]}
        # Text ids: large_string from pandas 3's string dtype, string from pandas 2.2's
        # object columns.
        assert types.pop("customer_id") in ("large_string", "string")
        assert types == {**numbers, "segment": "string",
                         "stage": "string", "model": "string", "horizon": "int64",
                         "time_unit": "string", "unscored_reason": "string"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_of_one_customer(tmp_path, suffix):
    summary = _summary(ROWS[1:2])
    expected = _no_warning(predict_clv, summary, BG, GG, **SETTINGS)
    path = _no_warning(predict_clv, summary, BG, GG, **SETTINGS, chunk_size=1,
                       path=tmp_path / f"clv{suffix}")
    back = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    assert len(back) == 1 and back["customer_id"].tolist() == ["k0"]
    np.testing.assert_allclose(back["clv"], expected["clv"], rtol=1e-12)


def test_an_empty_summary_in_memory_has_the_columns_and_no_row():
    empty = _summary(ROWS[:0], ids=pd.Index([], dtype=object))
    out = _no_warning(predict_clv, empty, BG, GG, horizon=10, time_unit="W", interval=None)
    assert len(out) == 0
    assert list(out.columns) == ["customer_id", *RFM, "probability_alive",
                                 "expected_purchases", "expected_spend", "clv", "segment",
                                 "stage", "model", "horizon", "time_unit", "unscored_reason"]
    assert out["customer_id"].dtype == object and out["horizon"].dtype == np.int64
    for col in ("segment", "stage", "model", "time_unit", "unscored_reason"):
        assert out[col].dtype == "string", col
    for col in out.columns[1:9]:
        assert out[col].dtype == np.float64, col


# --------------------------------------------------------------------------- covariates


class _AgeModel:
    """Purchases and spend that grow with a covariate ``age`` (both models read it)."""

    def covariate_columns(self):
        return ["age"]

    def expected_purchases(self, summary, t):
        assert list(summary.columns).count("age") == 1
        return pd.Series(0.01 * t * summary["age"].to_numpy(float), index=summary.index)

    def expected_spend(self, summary):
        return pd.Series(2.0 * summary["age"].to_numpy(float), index=summary.index)


class _PlainModel:
    """No covariates, no ``covariate_columns`` and no P(alive)."""

    def expected_purchases(self, summary, t):
        return pd.Series(0.1 * t * (summary["frequency"] + 1.0), index=summary.index)

    def expected_spend(self, summary):
        return pd.Series(20.0, index=summary.index)


def test_covariates_of_the_models_reach_them_and_a_missing_one_is_a_reason():
    summary = _summary()
    summary["age"] = [30.0, 40.0, np.nan, 50.0, 20.0, 10.0, 60.0]
    model = _AgeModel()
    with pytest.warns(DataWarning, match=r"^1 of 7 customers cannot be scored \(1 missing or "
                                         r"non-numeric age\)"):
        out = predict_clv(summary, model, model, horizon=5, time_unit="W", interval=None)
    assert out["model"].tolist() == ["_AgeModel"] * 7
    assert "age" not in out.columns
    age = summary["age"].to_numpy()
    expected = 2.0 * age * 0.01 * 5 * age
    np.testing.assert_allclose(out["clv"], expected, rtol=1e-12)
    assert out["unscored_reason"].tolist()[2] == "missing or non-numeric age"
    assert out["probability_alive"].isna().all()
    # One model with the covariate, the other without covariate_columns.
    mixed = _quiet(predict_clv, summary, _PlainModel(), model, horizon=5, time_unit="W",
                   interval=None)
    assert mixed["model"].tolist() == ["_PlainModel + _AgeModel"] * 7
    np.testing.assert_allclose(mixed["clv"],
                               2.0 * age * 0.5 * (summary["frequency"] + 1.0), rtol=1e-12)


def test_duck_models_without_covariates():
    summary = _summary()
    out = _no_warning(predict_clv, summary, _PlainModel(), _PlainModel(), horizon=3,
                      time_unit="W", interval=None)
    assert out["model"].tolist() == ["_PlainModel + _PlainModel"] * 7
    np.testing.assert_allclose(out["clv"], 20.0 * 0.3 * (summary["frequency"] + 1.0),
                               rtol=1e-12)


# --------------------------------------------------------------------------- _is_missing


def test_is_missing():
    assert [_is_missing(v) for v in (None, np.nan, pd.NaT, pd.NA, float("nan"))] == [True] * 5
    assert [_is_missing(v) for v in (0, "", "nan", (1, 2), (None, None),
                                     np.array([1.0, np.nan]))] == [False] * 6
    assert all(type(_is_missing(v)) is bool for v in (None, 1, np.float64("nan")))
