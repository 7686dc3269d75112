"""One horizon per customer: a Series t aligned to the summary's ids (issue: an N x N
matrix came back)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clvmodels import DataError


@pytest.fixture(scope="module")
def models(_cdnow_summary_cached, fitted_bgnbd, fitted_mbgnbd):
    from clvmodels.models.pareto_nbd import ParetoNBDModel

    return [fitted_bgnbd, fitted_mbgnbd,
            ParetoNBDModel().fit(_cdnow_summary_cached.copy())]


@settings(max_examples=15, deadline=None)
@given(horizons=st.lists(st.sampled_from([0.0, 1.0, 4.5, 13.0, 39.0, 52.0]), min_size=40,
                         max_size=40), seed=st.integers(0, 1000))
def test_each_customer_gets_the_prediction_of_their_own_horizon(models, _cdnow_summary_cached,
                                                                horizons, seed):
    summary = _cdnow_summary_cached.iloc[:40]
    # Given in any order: aligned by customer id, not by position.
    t = pd.Series(horizons, index=summary.index).sample(frac=1.0, random_state=seed)
    for model in models:
        got = model.expected_purchases(summary, t)
        assert isinstance(got, pd.Series) and got.index.equals(summary.index)
        by_horizon = model.expected_purchases(summary, sorted(set(horizons)))
        expected = [by_horizon.loc[c, t[c]] for c in summary.index]
        np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12, atol=1e-15)


def test_intervals_per_customer_equal_those_of_each_horizon(models, _cdnow_summary_cached):
    summary = _cdnow_summary_cached.iloc[:30]
    t = pd.Series(np.where(np.arange(30) % 2, 13.0, 52.0), index=summary.index)
    for model in models:
        got = model.expected_purchases(summary, t, interval=0.9, n_draws=200, random_state=3)
        for h in (13.0, 52.0):
            rows = t.index[t == h]
            alone = model.expected_purchases(summary, h, interval=0.9, n_draws=200,
                                             random_state=3)
            np.testing.assert_allclose(got.loc[rows].to_numpy(), alone.loc[rows].to_numpy(),
                                       rtol=1e-10)
        assert (got["lower"] < got["upper"]).all()


def test_unaligned_or_bad_horizons_are_refused(fitted_bgnbd, _cdnow_summary_cached):
    summary = _cdnow_summary_cached.iloc[:10]
    t = pd.Series(5.0, index=summary.index)
    with pytest.raises(DataError, match="1 customer\\(s\\) of the summary have no horizon") as err:
        fitted_bgnbd.expected_purchases(summary, t.iloc[1:])
    assert err.value.rule == "unaligned_horizons"
    with pytest.raises(DataError, match="2 id\\(s\\) of t are not in the summary"):
        fitted_bgnbd.expected_purchases(summary, pd.concat(
            [t, pd.Series(1.0, index=[-1, -2])]))
    bad = t.copy()
    bad.iloc[3] = -1.0
    with pytest.raises(DataError, match="1 row\\(s\\) of column 't'") as err:
        fitted_bgnbd.expected_purchases(summary, bad)
    assert err.value.rule == "bad_horizons"
