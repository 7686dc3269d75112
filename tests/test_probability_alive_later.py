"""P(alive) t after the end of observation, for every purchase model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clvmodels import simulate
from clvmodels.likelihoods import beta_geo, modified_beta_geo, pareto_nbd

CASES = [
    (simulate.beta_geo_summary, beta_geo, dict(r=0.8, alpha=10.0, a=0.8, b=2.5), "p"),
    (simulate.modified_beta_geo_summary, modified_beta_geo,
     dict(r=0.8, alpha=10.0, a=0.8, b=2.5), "p"),
    (simulate.pareto_nbd_summary, pareto_nbd, dict(r=0.8, alpha=10.0, s=0.6, beta=12.0), "mu"),
]


@pytest.mark.parametrize("simulator, formulas, params, rate", CASES,
                         ids=["bgnbd", "mbgnbd", "pareto_nbd"])
def test_the_mean_over_customers_is_the_share_alive_later(simulator, formulas, params, rate):
    # Law of total probability: with the true parameters, the mean over customers of
    # P(alive at T + t | history) is the share of the simulated customers alive at
    # T + t, computed from their latent rates (BG/NBD: a customer alive at T with
    # rate lam and dropout p survives t with probability exp(-lam p t); Pareto/NBD:
    # exp(-mu t)).
    n = 100_000
    summary, latent = simulator(n, T=30.0, random_state=7, return_latent=True, **params)
    x, t_x, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    for t in (0.0, 10.0, 52.0):
        hazard = latent["lam"] * latent["p"] if rate == "p" else latent["mu"]
        survive = latent["alive"] * np.exp(-hazard * t)
        predicted = formulas.probability_alive_at(t, x, t_x, T, *params.values())
        assert abs(predicted.mean() - survive.mean()) < 4 * survive.std() / np.sqrt(n) + 1e-4


@pytest.fixture(scope="module")
def models(_cdnow_summary_cached, fitted_bgnbd, fitted_mbgnbd):
    from clvmodels.models.pareto_nbd import ParetoNBDModel

    return [fitted_bgnbd, fitted_mbgnbd, ParetoNBDModel().fit(_cdnow_summary_cached.copy())]


def test_fitted_models_predict_alive_later(models, _cdnow_summary_cached):
    summary = _cdnow_summary_cached
    for model in models:
        now = model.probability_alive(summary)
        np.testing.assert_allclose(model.probability_alive(summary, t=0.0), now, rtol=1e-12)
        later = model.probability_alive(summary, t=52.0)
        much_later = model.probability_alive(summary, t=520.0)
        assert (later <= now + 1e-12).all() and (much_later <= later + 1e-12).all()
        assert (later < now).mean() > 0.99  # every customer may still drop out
        # One horizon per customer, aligned by id.
        t = pd.Series(np.where(np.arange(len(summary)) % 2, 52.0, 520.0),
                      index=summary.index).iloc[::-1]
        each = model.probability_alive(summary, t=t)
        odd = t.reindex(summary.index) == 52.0
        np.testing.assert_allclose(each[odd], later[odd], rtol=1e-12)
        np.testing.assert_allclose(each[~odd], much_later[~odd], rtol=1e-12)
        band = model.probability_alive(summary.iloc[:50], t=52.0, interval=0.9, n_draws=100,
                                       random_state=0)
        assert ((band["lower"] <= band["mean"] + 1e-12)
                & (band["mean"] <= band["upper"] + 1e-12)).all()


def test_bgnbd_one_time_buyers_are_no_longer_certain_to_be_alive(fitted_bgnbd,
                                                                 _cdnow_summary_cached):
    once = _cdnow_summary_cached[_cdnow_summary_cached["frequency"] == 0]
    assert (fitted_bgnbd.probability_alive(once) == 1.0).all()
    assert (fitted_bgnbd.probability_alive(once, t=52.0) < 1.0).all()


def test_the_report_warns_about_bgnbd_one_time_buyers():
    import warnings

    import clvmodels
    from clvmodels.models.beta_geo import BetaGeoModel
    from clvmodels.models.gamma_gamma import GammaGammaModel
    from clvmodels.models.pareto_nbd import ParetoNBDModel
    from clvmodels.report.html import render_report

    log = clvmodels.datasets.load_cdnow("sample")
    notes = {}
    for name, model in (("bgnbd", BetaGeoModel()), ("pareto_nbd", ParetoNBDModel())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = clvmodels.backtest(log, "customer_id", "date", "amount",
                                        calibration_period_end="1997-09-30", time_unit="W",
                                        models={name: (model, GammaGammaModel())})
        notes[name] = "calls every customer without one alive" in render_report(result)
    assert notes == {"bgnbd": True, "pareto_nbd": False}
