"""Shared fixtures: the published CDNOW summary and models fitted on it."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings

# CI explores the same examples on every run (a red build is then reproducible);
# locally every run explores new ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _lifetimes_dataset(name: str) -> str:
    import lifetimes

    return os.path.join(os.path.dirname(lifetimes.__file__), "datasets", name)


@pytest.fixture(scope="session")
def _cdnow_summary_cached() -> pd.DataFrame:
    raw = pd.read_csv(_lifetimes_dataset("cdnow_customers_summary_with_transactions.csv"))
    summary = pd.DataFrame(
        {
            "frequency": raw["x"].to_numpy(dtype=np.int64),
            "recency": raw["t_x"].to_numpy(dtype=float),
            "T": raw["T"].to_numpy(dtype=float),
            "monetary_value": raw["zbar"].to_numpy(dtype=float),
        },
        index=pd.Index(raw["ID"].to_numpy(), name="customer_id"),
    )
    summary.attrs["time_unit"] = "W"
    return summary


@pytest.fixture
def cdnow_summary(_cdnow_summary_cached) -> pd.DataFrame:
    """The published 2,357-customer CDNOW summary (weeks), a fresh copy per test."""
    summary = _cdnow_summary_cached.copy()
    summary.attrs = dict(_cdnow_summary_cached.attrs)
    return summary


@pytest.fixture(scope="session")
def fitted_bgnbd(_cdnow_summary_cached):
    from clvmodels.models.beta_geo import BetaGeoModel

    return BetaGeoModel().fit(_cdnow_summary_cached.copy())


@pytest.fixture(scope="session")
def fitted_mbgnbd(_cdnow_summary_cached):
    from clvmodels.models.modified_beta_geo import ModifiedBetaGeoModel

    return ModifiedBetaGeoModel().fit(_cdnow_summary_cached.copy())


@pytest.fixture(scope="session")
def fitted_gamma_gamma(_cdnow_summary_cached):
    from clvmodels.models.gamma_gamma import GammaGammaModel

    return GammaGammaModel().fit(_cdnow_summary_cached.copy())


@pytest.fixture(scope="session")
def cdnow_rfm_summary() -> pd.DataFrame:
    """The CDNOW sample summarised from the bundled transactions by
    :func:`clvmodels.rfm_summary` (exact times, not rounded to 2 decimals)."""
    import clvmodels

    log = clvmodels.datasets.load_cdnow("sample")
    return clvmodels.rfm_summary(log, "customer_id", "date", "amount",
                                 calibration_period_end="1997-09-30", time_unit="W")


@pytest.fixture(scope="session")
def spark():
    """One Spark local-mode session for every Spark test (tests/test_spark*.py)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = (SparkSession.builder.master("local[2]").appName("clvmodels-tests")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.default.parallelism", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
