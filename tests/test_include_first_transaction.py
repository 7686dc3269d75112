"""rfm_summary(include_first_transaction=True), as lifetimes' option of the same name."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels import DataError, rfm_summary


def _summaries(**kwargs):
    tx = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tx, {engine: rfm_summary(tx, "customer_id", "date", "amount", engine=engine,
                                        time_unit="D", **kwargs)
                    for engine in ("pandas", "duckdb")}


@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_equals_lifetimes_with_the_first_transaction(engine):
    from lifetimes.utils import summary_data_from_transaction_data

    tx, ours = _summaries(include_first_transaction=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # lifetimes means every row; merge the same-day rows first, as clvmodels does.
        daily = tx.groupby(["customer_id", tx["date"].dt.normalize()], as_index=False)["amount"].sum()
        theirs = summary_data_from_transaction_data(
            daily, "customer_id", "date", monetary_value_col="amount", freq="D",
            include_first_transaction=True)
    summary = ours[engine]
    assert summary.attrs["include_first_transaction"] is True
    theirs = theirs.loc[summary.index]
    np.testing.assert_array_equal(summary["frequency"], theirs["frequency"])
    np.testing.assert_allclose(summary["recency"], theirs["recency"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary["T"], theirs["T"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(summary["monetary_value"], theirs["monetary_value"], rtol=1e-12)


def test_only_frequency_and_monetary_value_change_and_engines_agree():
    _, plain = _summaries()
    _, first = _summaries(include_first_transaction=True)
    pd.testing.assert_frame_equal(first["pandas"], first["duckdb"], check_exact=True)
    a, b = plain["pandas"], first["pandas"]
    np.testing.assert_array_equal(b["frequency"], a["frequency"] + 1)
    pd.testing.assert_frame_equal(a[["recency", "T"]], b[["recency", "T"]], check_exact=True)
    # Mean over every purchase day = (first day + repeat total) / (repeat days + 1).
    tx = clvmodels.datasets.load_cdnow("sample")
    days = tx.groupby(["customer_id", tx["date"].dt.normalize()])["amount"].sum()
    np.testing.assert_allclose(b["monetary_value"], days.groupby(level=0).mean().loc[b.index],
                               rtol=1e-12)
    changed = b["monetary_value"] != a["monetary_value"]
    assert changed.sum() > 0.9 * len(b)


def test_holdout_columns_are_unchanged():
    _, plain = _summaries(calibration_period_end="1997-09-30")
    _, first = _summaries(calibration_period_end="1997-09-30", include_first_transaction=True)
    cols = ["frequency_holdout", "monetary_value_holdout", "revenue_holdout",
            "duration_holdout"]
    pd.testing.assert_frame_equal(plain["duckdb"][cols], first["duckdb"][cols], check_exact=True)


@pytest.mark.parametrize("model", [clvmodels.BetaGeoModel, clvmodels.GammaGammaModel])
def test_models_refuse_a_summary_with_the_first_transaction(model):
    _, first = _summaries(include_first_transaction=True)
    with pytest.raises(DataError, match="include_first_transaction=False") as info:
        model().fit(first["pandas"])
    assert info.value.rule == "first_transaction_included"


def test_a_bad_value_is_refused():
    tx = clvmodels.datasets.load_cdnow("sample")
    with pytest.raises(ValueError, match="include_first_transaction must be True or False"):
        rfm_summary(tx, "customer_id", "date", "amount", include_first_transaction="yes")


def test_cli_summary_option(tmp_path):
    import subprocess
    import sys

    outs = {}
    for flag in ([], ["--include-first-transaction"]):
        out = tmp_path / f"s{len(flag)}.csv"
        done = subprocess.run([sys.executable, "-m", "clvmodels.cli", "summary", "cdnow:sample",
                               "-o", str(out), *flag], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        outs[len(flag)] = pd.read_csv(out, index_col=0)
    np.testing.assert_array_equal(outs[1]["frequency"], outs[0]["frequency"] + 1)
