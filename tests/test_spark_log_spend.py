"""``log_spend=True`` in Spark: the same ``log_spend_sum`` as the pandas engine, bit for bit."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("pyspark")

import clvmodels  # noqa: E402
from clvmodels import spark as cs  # noqa: E402
from clvmodels.exceptions import DataWarning  # noqa: E402

pytestmark = [pytest.mark.filterwarnings("ignore::FutureWarning:pyspark"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def _quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        return function(*args, **kwargs)


@pytest.mark.parametrize("first", [False, True])
def test_spark_log_spend_equals_the_pandas_engine(spark, first):
    log = clvmodels.datasets.load_cdnow("sample")
    # A customer whose second purchase day is worth 0: NaN in every engine.
    log = pd.concat([log, pd.DataFrame({"customer_id": [999_999, 999_999],
                                        "date": pd.to_datetime(["1997-01-05", "1997-02-05"]),
                                        "amount": [10.0, 0.0]})], ignore_index=True)
    kwargs = dict(calibration_period_end="1997-09-30", time_unit="W", log_spend=True,
                  include_first_transaction=first)
    expected = _quiet(clvmodels.rfm_summary, log, "customer_id", "date", "amount", **kwargs)
    shuffled = log.sample(frac=1.0, random_state=3).reset_index(drop=True)
    got = _quiet(cs.rfm_summary, spark.createDataFrame(shuffled).repartition(4),
                 "customer_id", "date", "amount", **kwargs)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert np.isnan(got.loc[999_999, "log_spend_sum"])
    assert (got["log_spend_sum"].fillna(0) != 0).sum() > 500
