"""One API suite run over every parametric model.

Add a model by adding one line to ``MODELS``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clvmodels.exceptions import DataError, DataWarning, NotFittedError
from clvmodels.models.base import clone
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.data import rfm_summary
from clvmodels.datasets import load_cdnow
from clvmodels.models.gamma_gamma import GammaGammaModel
from clvmodels.models.gamma_gamma_individual import GammaGammaIndividualModel
from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel
from clvmodels.models.pareto_nbd import ParetoNBDModel
from clvmodels.persistence import load

MODELS = [
    pytest.param(BetaGeoModel, id="bgnbd"),
    pytest.param(ModifiedBetaGeoModel, id="mbgnbd"),
    pytest.param(ParetoNBDModel, id="pareto_nbd"),
    pytest.param(GammaGammaModel, id="gamma_gamma"),
    pytest.param(GammaGammaIndividualModel, id="gamma_gamma_individual"),
]


def predictions(model, summary) -> list:
    """Every per-customer prediction a model offers (duck-typed)."""
    out = []
    if hasattr(model, "expected_purchases"):
        out += [
            model.expected_purchases(summary, 39),
            model.expected_purchases(summary, [10, 52]),
            model.probability_alive(summary),
            model.probability_of_no_purchase(summary, 10),
            model.conditional_probability_of_purchases(summary, 10, [0, 1, 2]),
        ]
    if hasattr(model, "expected_spend"):
        out.append(model.expected_spend(summary))
    return out


def unconditional(model) -> list:
    out = []
    if hasattr(model, "expected_purchases_new_customer"):
        out += [model.expected_purchases_new_customer(39),
                model.probability_of_purchases(39, [0, 1, 2])]
    if hasattr(model, "population_mean_spend"):
        out.append(model.population_mean_spend())
    return out


@pytest.fixture(scope="module")
def _log_spend_summary() -> pd.DataFrame:
    """The CDNOW sample's summary with ``log_spend_sum`` (weeks; the days of $0 dropped,
    which leaves 2,349 customers), for the model fitted on individual amounts. Its ids are
    renumbered 1..n like the published summary's, which ``BAD_INPUTS`` picks rows by."""
    with pytest.warns(DataWarning, match="8 customers left with no purchase"):
        summary = rfm_summary(load_cdnow("sample"), "customer_id", "date", "amount",
                              time_unit="W", log_spend=True, zero_amounts="drop")
    summary.index = pd.Index(np.arange(1, len(summary) + 1), name="customer_id")
    return summary


def _data_of(cls, published: pd.DataFrame, log_spend: pd.DataFrame) -> pd.DataFrame:
    """A fresh copy of the summary ``cls`` is fitted on."""
    source = log_spend if cls is GammaGammaIndividualModel else published
    summary = source.copy()
    summary.attrs = dict(source.attrs)
    return summary


@pytest.fixture
def cdnow_summary(request, _cdnow_summary_cached, _log_spend_summary) -> pd.DataFrame:
    """The summary of the test's model (this module's ``cls``): the published CDNOW
    summary, or the CDNOW sample's with ``log_spend_sum``."""
    cls = request.node.callspec.params.get("cls") if hasattr(request.node, "callspec") else None
    return _data_of(cls, _cdnow_summary_cached, _log_spend_summary)


@pytest.fixture(scope="module")
def fitted(_cdnow_summary_cached, _log_spend_summary):
    cache = {}

    def get(cls):
        if cls not in cache:
            cache[cls] = cls().fit(_data_of(cls, _cdnow_summary_cached, _log_spend_summary))
        return cache[cls]

    return get


@pytest.mark.parametrize("cls", MODELS)
def test_clone_is_unfitted_with_the_same_arguments(cls, fitted):
    model = fitted(cls)
    copy = clone(model)
    assert type(copy) is cls
    assert copy.get_params() == model.get_params()
    assert not copy.is_fitted()
    assert model.is_fitted()


@pytest.mark.parametrize("cls", MODELS)
def test_parameters_follow_sklearn_conventions(cls):
    model = cls(tol=1e-9)
    assert model.get_params()["tol"] == 1e-9
    assert model.set_params(max_iter=50) is model and model.max_iter == 50
    with pytest.raises(ValueError, match="no parameter"):
        model.set_params(not_an_argument=1)
    assert cls.__name__ in repr(model)


@pytest.mark.parametrize("cls", MODELS)
def test_fit_returns_self_and_refits_reproducibly(cls, fitted, cdnow_summary):
    model = cls()
    assert model.fit(cdnow_summary) is model
    pd.testing.assert_series_equal(model.params_, fitted(cls).params_)
    assert model.log_likelihood_ == fitted(cls).log_likelihood_
    first = model.params_.copy()
    half = cdnow_summary.iloc[: len(cdnow_summary) // 2].copy()
    half.attrs = dict(cdnow_summary.attrs)
    model.fit(half)
    assert not np.allclose(model.params_, first)
    assert model.data_fingerprint_ != fitted(cls).data_fingerprint_
    assert model.data_fingerprint(half) == model.data_fingerprint_


@pytest.mark.parametrize("cls", MODELS)
def test_unfitted_use_raises_not_fitted(cls, cdnow_summary, tmp_path):
    model = cls()
    with pytest.raises(NotFittedError, match="fit"):
        predictions(model, cdnow_summary)
    with pytest.raises(NotFittedError):
        unconditional(model)
    for call in (model.summary, model.confidence_intervals, lambda: model.save(tmp_path / "m"),
                 lambda: model.sample_parameters(3)):
        with pytest.raises(NotFittedError):
            call()


#: Constructor arguments that differ from every default (the round trip must keep them).
NON_DEFAULT = {
    "BetaGeoModel": {"initial_params": {"r": 0.5, "alpha": 3.0, "a": 1.0, "b": 2.0}},
    "ModifiedBetaGeoModel": {"initial_params": {"r": 0.5, "alpha": 3.0, "a": 1.0, "b": 2.0}},
    "ParetoNBDModel": {"initial_params": {"r": 0.5, "alpha": 8.0, "s": 0.5, "beta": 9.0}},
    "GammaGammaModel": {"correlation_threshold": 0.6, "nonpositive_spend": "exclude"},
    "GammaGammaIndividualModel": {"correlation_threshold": 0.6, "nonpositive_spend": "exclude"},
}


def _same(a, b) -> None:
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    elif isinstance(a, float) and np.isnan(a):
        assert isinstance(b, float) and np.isnan(b)
    else:
        assert a == b and type(a) is type(b), (a, b)


@pytest.mark.parametrize("cls", MODELS)
def test_save_load_round_trip(cls, cdnow_summary, tmp_path):
    arguments = {"tol": 1e-9, "max_iter": 321, **NON_DEFAULT[cls.__name__]}
    model = cls(**arguments).fit(cdnow_summary)
    defaults = cls().get_params()
    assert all(model.get_params()[k] != defaults[k] for k in arguments)
    path = tmp_path / "model.json"
    model.save(path)
    doc = json.loads(path.read_text())
    assert doc["class"] == cls.__name__
    fitted_on = ((cdnow_summary["frequency"] > 0).sum()
                 if issubclass(cls, GammaGammaModel) else 2357)
    assert doc["data_fingerprint"]["n_customers"] == model.n_customers_ == fitted_on
    assert set(doc["params"]) == set(model.params_.index)
    assert "clvmodels_version" in doc and "init_params" in doc
    loaded = load(path)
    assert type(loaded) is cls
    assert loaded.get_params() == model.get_params()
    for name, value in arguments.items():
        assert getattr(loaded, name) == value
    # Every learned attribute comes back equal (the optimiser's trace is not saved).
    learned = {k for k in vars(model) if k.endswith("_") and not k.startswith("_")}
    assert learned - {k for k in vars(loaded) if k.endswith("_")} == {"optimizer_result_"}
    for name in sorted(learned - {"optimizer_result_"}):
        _same(getattr(loaded, name), getattr(model, name))
    pd.testing.assert_frame_equal(loaded.summary(), model.summary())
    assert loaded.data_fingerprint_ == model.data_fingerprint(cdnow_summary)
    for a, b in zip(predictions(loaded, cdnow_summary), predictions(model, cdnow_summary)):
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b)
        else:
            pd.testing.assert_series_equal(a, b)
    for a, b in zip(unconditional(loaded), unconditional(model)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # Parameter draws (the intervals of predictions) come from the saved covariance.
    pd.testing.assert_frame_equal(loaded.sample_parameters(50, random_state=2),
                                  model.sample_parameters(50, random_state=2))
    # A loaded model refits like the original (its arguments are in force).
    refit = load(path).fit(cdnow_summary)
    np.testing.assert_allclose(refit.params_, model.params_, rtol=1e-9)


def test_load_refuses_other_files(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a saved clvmodels model"):
        load(path)
    path.write_text(json.dumps({"format": "clvmodels.model", "format_version": 1,
                                "class": "Evil", "module": "os", "params": {}}))
    with pytest.raises(ValueError, match="Unknown model class"):
        load(path)


@pytest.mark.parametrize("cls", MODELS)
def test_input_is_not_mutated(cls, fitted, cdnow_summary):
    before = cdnow_summary.copy()
    attrs = dict(cdnow_summary.attrs)
    cls().fit(cdnow_summary)
    predictions(fitted(cls), cdnow_summary)
    pd.testing.assert_frame_equal(cdnow_summary, before)
    assert cdnow_summary.attrs == attrs


@pytest.mark.parametrize("cls", MODELS)
def test_predictions_are_indexed_by_customer_id(cls, fitted, cdnow_summary):
    named = cdnow_summary.head(20).copy()
    named.index = pd.Index([f"c{i:03d}" for i in range(20)], name="client")
    named.attrs = dict(cdnow_summary.attrs)
    for out in predictions(fitted(cls), named):
        assert out.index.equals(named.index)


BAD_INPUTS = [
    ("frequency", "negative", lambda s: s.assign(frequency=s["frequency"].where(s.index > 3, -1))),
    ("frequency", "not_whole", lambda s: s.assign(frequency=s["frequency"] + 0.5)),
    ("frequency", "not_finite", lambda s: s.assign(frequency=s["frequency"].astype(float)
                                                   .where(s.index != 2, np.nan))),
    ("frequency", "missing_columns", lambda s: s.drop(columns="frequency")),
    ("frequency", "not_numeric", lambda s: s.assign(frequency=s["frequency"].astype(str))),
]
BAD_SPEND_LOGS = [
    ("log_spend_sum", "missing_columns", lambda s: s.drop(columns="log_spend_sum")),
    # Customer 1 bought 3 times for 23.72 on average: a sum of logs of 1,000 is impossible.
    ("log_spend_sum", "inconsistent_log_spend", lambda s: s.assign(
        log_spend_sum=s["log_spend_sum"].where(s.index != 1, 1000.0))),
]
BAD_TIMES = [
    ("recency", "recency_after_T", lambda s: s.assign(recency=s["recency"].where(
        s.index != 1, s["T"] + 1))),
    ("T", "not_finite", lambda s: s.assign(T=s["T"].where(s.index > 5, np.inf))),
]


@pytest.mark.parametrize("cls", MODELS)
@pytest.mark.parametrize("column,rule,corrupt", BAD_INPUTS + BAD_SPEND_LOGS + BAD_TIMES,
                         ids=[f"{c}-{r}" for c, r, _ in BAD_INPUTS + BAD_SPEND_LOGS + BAD_TIMES])
def test_bad_input_raises_data_error(cls, column, rule, corrupt, fitted, cdnow_summary):
    if column not in cls.data_columns:
        pytest.skip(f"{cls.__name__} does not use {column}")
    bad = corrupt(cdnow_summary)
    with pytest.raises(DataError) as err:
        cls().fit(bad)
    assert err.value.rule == rule
    assert err.value.column == column
    assert column in str(err.value)
    if rule not in ("missing_columns", "not_numeric"):  # whole-column rules
        assert err.value.n_rows >= 1
        assert str(err.value.n_rows) in str(err.value)
    if column == "log_spend_sum":  # predictions need x and the mean spend only (FH eq. 5)
        predictions(fitted(cls), bad)
    else:
        with pytest.raises(DataError):
            predictions(fitted(cls), bad)


@pytest.mark.parametrize("cls", MODELS)
def test_bad_weights_and_empty_data_raise_data_error(cls, cdnow_summary):
    with pytest.raises(DataError) as err:
        cls().fit(cdnow_summary, weights=np.ones(3))
    assert err.value.rule == "length_mismatch"
    w = np.ones(len(cdnow_summary))
    w[:4] = -1
    with pytest.raises(DataError) as err:
        cls().fit(cdnow_summary, weights=w)
    assert err.value.n_rows == 4 and err.value.column == "weights"
    with pytest.raises(DataError, match="not in the summary"):
        cls().fit(cdnow_summary, weights="no_such_column")
    with pytest.raises(DataError, match="no customers"):
        cls().fit(cdnow_summary.iloc[:0])
    with pytest.raises(DataError, match="No row"):
        cls().fit(cdnow_summary, weights=np.zeros(len(cdnow_summary)))


@pytest.mark.parametrize("cls", MODELS)
def test_summary_intervals_and_parameter_draws(cls, fitted):
    model = fitted(cls)
    table = model.summary()
    assert list(table.index) == cls.param_names()
    assert list(table.columns) == ["estimate", "standard_error", "lower 95%", "upper 95%"]
    theta = model.params_.to_numpy()
    se_log = np.sqrt(np.diag(model.cov_log_.to_numpy()))
    # Tabulated quantiles of the normal distribution: 1.959964 (95%), 1.644854 (90%).
    np.testing.assert_allclose(table["estimate"], theta, rtol=1e-15)
    np.testing.assert_allclose(table["standard_error"], np.sqrt(np.diag(model.cov_.to_numpy())),
                               rtol=1e-12)
    np.testing.assert_allclose(table["lower 95%"], theta * np.exp(-1.959963985 * se_log),
                               rtol=1e-9)
    np.testing.assert_allclose(table["upper 95%"], theta * np.exp(1.959963985 * se_log),
                               rtol=1e-9)
    wald = model.confidence_intervals(0.9, method="wald")
    se = model.standard_errors_.to_numpy()
    np.testing.assert_allclose(wald["lower"], theta - 1.644853627 * se, rtol=1e-9)
    np.testing.assert_allclose(wald["upper"], theta + 1.644853627 * se, rtol=1e-9)
    # Full delta-method Jacobian: cov = diag(theta) cov_log diag(theta).
    np.testing.assert_allclose(model.cov_.to_numpy(),
                               model.cov_log_.to_numpy() * np.outer(theta, theta))
    assert np.all(np.linalg.eigvalsh(model.cov_.to_numpy()) > 0)
    # Parameter draws: log-normal around the estimate with covariance cov_log_.
    draws = model.sample_parameters(4000, random_state=0)
    assert list(draws.columns) == cls.param_names() and len(draws) == 4000
    logs = np.log(draws.to_numpy())
    assert np.all(np.abs(logs.mean(axis=0) - np.log(theta)) < 4 * se_log / np.sqrt(4000))
    np.testing.assert_allclose(np.cov(logs, rowvar=False), model.cov_log_.to_numpy(),
                               rtol=0.1, atol=0.1 * np.outer(se_log, se_log).max())
    again = model.sample_parameters(4000, random_state=0)
    pd.testing.assert_frame_equal(draws, again)
    other = model.sample_parameters(4000, random_state=1)
    assert not np.allclose(other.to_numpy(), draws.to_numpy())
    # AIC = 2k - 2 log L, BIC = k log n - 2 log L.
    k, n = len(theta), model.n_customers_
    assert model.aic_ == pytest.approx(2 * k - 2 * model.log_likelihood_, rel=1e-12)
    assert model.bic_ == pytest.approx(k * np.log(n) - 2 * model.log_likelihood_, rel=1e-12)


@pytest.mark.parametrize("cls", MODELS)
def test_with_parameters_predicts_without_fitting(cls, fitted, cdnow_summary):
    model = fitted(cls)
    copy = cls().with_parameters(model.params_.to_dict(), time_unit="W")
    for a, b in zip(predictions(copy, cdnow_summary), predictions(model, cdnow_summary)):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    assert copy.standard_errors_.isna().all()
    with pytest.raises(ValueError, match="lacks"):
        cls().with_parameters({})
