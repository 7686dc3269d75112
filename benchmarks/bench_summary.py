"""Transactions -> RFM summary: clvmodels (pandas and DuckDB engines) vs lifetimes.

Synthetic logs of 1M and 10M rows (about 10 rows per customer over two years)
are written once to Parquet; each library then summarises the same log in a fresh
process. lifetimes runs where it finishes within the time limit.

    .venv/bin/python benchmarks/bench_summary.py [--rows 1000000 10000000]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from harness import measure, ratios, save


def make_log(n_rows: int, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_customers = max(1, n_rows // 10)
    ids = rng.integers(0, n_customers, n_rows)
    start = np.datetime64("2022-01-01T00:00:00", "s")
    ts = start + rng.integers(0, 730 * 86400, n_rows).astype("timedelta64[s]")
    pd.DataFrame({"customer_id": ids, "ts": ts,
                  "amount": rng.gamma(2.0, 20.0, n_rows).round(2)}).to_parquet(path, index=False)


LOAD = "import pandas as pd; log = pd.read_parquet(@PATH@)"
JOBS = {
    "clvmodels (pandas)": (
        LOAD + "; import clvmodels",
        "(lambda s: {'customers': len(s)})(clvmodels.rfm_summary(log, 'customer_id', 'ts', "
        "'amount', time_unit='W'))"),
    "clvmodels (duckdb, from parquet)": (
        "import clvmodels",
        "(lambda s: {'customers': len(s)})(clvmodels.rfm_summary(@PATH@, 'customer_id', "
        "'ts', 'amount', time_unit='W'))"),
    "lifetimes": (
        LOAD + "; from lifetimes.utils import summary_data_from_transaction_data as f",
        "(lambda s: {'customers': len(s)})(f(log, 'customer_id', 'ts', 'amount', freq='W'))"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            path = Path(tmp) / f"log-{n}.parquet"
            make_log(n, path)
            for library, (setup, job) in JOBS.items():
                result = measure(setup.replace("@PATH@", repr(str(path))), job.replace("@PATH@", repr(str(path))),
                                 timeout=args.timeout)
                rows.append({"benchmark": "rfm_summary", "case": f"{n:,} rows",
                             "library": library, **result})
                print(rows[-1], flush=True)
    frame = save(rows, "summary")
    for ours in ("clvmodels (pandas)", "clvmodels (duckdb, from parquet)"):
        print(ratios(frame, anchor="lifetimes", ours=ours).to_string(index=False))


if __name__ == "__main__":
    main()
