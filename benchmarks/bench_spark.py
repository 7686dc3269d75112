"""Spark (local mode) against DuckDB on the same simulated log, in the same run.

The log is the one of ``bench_pipeline.py`` (simulated BG/NBD customers with
Gamma-Gamma spend, about 10 transactions per customer, second timestamps),
written to a Parquet folder by :func:`clvmodels.simulate.write_log`. Each journey
runs in a fresh process (``harness.measure``):

* DuckDB: :func:`clvmodels.rfm_summary` on the files, BG/NBD and Gamma-Gamma fits
  on the pandas summary, :func:`clvmodels.predict_clv` to Parquet (12 months, no
  interval).
* Spark: ``spark.read.parquet``, :func:`clvmodels.spark.summary_sdf`, fits on the
  compressed rows (:func:`clvmodels.spark.fit`), :func:`clvmodels.spark.score`
  written by :func:`clvmodels.spark.write_clv`, in ``local[2]`` (the machine's 2
  cores; driver memory 6 GB). The job also reports how many rows the fits
  collected to the driver, and checks that the export has one row per customer.

Both summaries are compared (customers, total frequency, total of
``monetary_value``): the benchmark stops if they differ.

    nice -n 10 .venv/bin/python benchmarks/bench_spark.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness import RESULTS, measure, save

ROOT = Path(__file__).resolve().parent.parent
PARAMS = dict(r=1.0, alpha=32.0, a=1.0, b=12.0)
SPEND = dict(p=6.0, q=4.0, v=60.0)
END = "2025-12-31"

COMMON = """
import time, warnings, os
import pandas as pd
import clvmodels
def totals(s):
    return {'customers': len(s), 'frequency_total': int(s['frequency'].sum()),
            'monetary_total': float(s['monetary_value'].sum())}
"""

DUCKDB = COMMON + """
def job(source, output):
    t = {}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        s = clvmodels.rfm_summary(source + '/*.parquet', 'customer_id', 'date', 'amount',
                                  observation_period_end=@END@, time_unit='W')
        t1 = time.perf_counter()
        bg = clvmodels.BetaGeoModel().fit(s)
        gg = clvmodels.GammaGammaModel().fit(s)
        t2 = time.perf_counter()
        clvmodels.predict_clv(s, bg, gg, horizon=12, time_unit='M', discount_rate=0.01,
                              interval=None, path=output)
    t3 = time.perf_counter()
    return {'summary_s': t1 - t0, 'fit_s': t2 - t1, 'score_s': t3 - t2, **totals(s),
            'r': float(bg.params_['r'])}
""".replace("@END@", repr(END))

SPARK = COMMON + """
import sys
os.environ.setdefault('PYSPARK_PYTHON', sys.executable)  # the executors' Python
from pyspark.sql import SparkSession
from clvmodels import spark as cs
spark = (SparkSession.builder.master('local[2]').config('spark.ui.enabled', 'false')
         .config('spark.ui.showConsoleProgress', 'false')
         .config('spark.sql.shuffle.partitions', '8')
         .config('spark.driver.memory', '6g').config('spark.sql.session.timeZone', 'UTC')
         .config('spark.sql.execution.arrow.pyspark.enabled', 'true').getOrCreate())
spark.sparkContext.setLogLevel('ERROR')
def job(source, output):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        log = spark.read.parquet(source)
        s = cs.summary_sdf(log, 'customer_id', 'date', 'amount',
                           observation_period_end=@END@, time_unit='W')
        t1 = time.perf_counter()
        rows = cs.compress(s)
        bg = cs.fit(clvmodels.BetaGeoModel(), s)
        gg = cs.fit(clvmodels.GammaGammaModel(), s)
        t2 = time.perf_counter()
        cs.write_clv(cs.score(s, bg, gg, horizon=12, time_unit='M', discount_rate=0.01,
                              interval=None), output, mode='overwrite')
        t3 = time.perf_counter()
    exported = spark.read.parquet(output).count()
    local = s.frame.select('frequency', 'monetary_value').toPandas()
    return {'summary_s': t1 - t0, 'fit_s': t2 - t1, 'score_s': t3 - t2, **totals(local),
            'exported_rows': exported, 'fit_rows_collected': len(rows),
            'r': float(bg.params_['r'])}
""".replace("@END@", repr(END))

NOTES = """
`seconds` is the wall time of the journey (summary, fits, scoring written to
Parquet) and `<stage>_s` of each stage; `peak_mb` the peak resident memory of the
Python process (for Spark the driver's Python only: the JVM runs in its own process
and is not counted). `fit_rows_collected` is the number of distinct (frequency,
recency, T) rows the BG/NBD fit brought to the driver. `load_before` and
`load_after` are the load averages of the shared 2-core machine around each job.
"""


def load() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    from clvmodels import simulate

    out = []
    case = f"{args.rows:,} transactions"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        folder = Path(tmp) / "log"
        simulate.write_log(folder, max(1, args.rows // 10), params=PARAMS, spend=SPEND,
                           observation_length=365, acquisition_period=365, resolution="s",
                           chunk_customers=500_000, random_state=12)
        for library, setup, target in (("clvmodels DuckDB", DUCKDB, "duck.parquet"),
                                       ("clvmodels Spark local[2]", SPARK, "spark_out")):
            before = load()
            start = time.perf_counter()
            result = measure(setup, f"job({str(folder)!r}, {str(Path(tmp) / target)!r})",
                             timeout=args.timeout, cwd=ROOT)
            out.append({"benchmark": "spark", "case": case, "library": library, **result,
                        "process_s": time.perf_counter() - start, "load_before": before,
                        "load_after": load()})
            print(out[-1], flush=True)
        subprocess.run(["rm", "-rf", str(folder)], check=False)
    duck, spark = out
    for key in ("customers", "frequency_total"):
        if duck.get(key) != spark.get(key):
            raise SystemExit(f"The summaries differ in {key}: {duck.get(key)} vs {spark.get(key)}")
    if abs(duck["monetary_total"] - spark["monetary_total"]) > 1e-9 * abs(duck["monetary_total"]):
        raise SystemExit("The summaries differ in monetary_value.")
    if spark.get("exported_rows") != spark.get("customers"):
        raise SystemExit("Spark lost customers between the summary and the export.")
    frame = save(out, "spark")
    ratio = pd.DataFrame({
        "stage": ["summary", "fit", "score", "journey"],
        "spark_over_duckdb": [spark[f"{s}_s"] / duck[f"{s}_s"] for s in ("summary", "fit", "score")]
        + [spark["seconds"] / duck["seconds"]],
    })
    with open(RESULTS / "spark.md", "a") as md:
        md.write(NOTES + "\nRatios (Spark time / DuckDB time, same run):\n\n"
                 + ratio.to_markdown(index=False, floatfmt=".3g") + "\n")
    print(frame.to_string(index=False))
    print(ratio.to_string(index=False))


if __name__ == "__main__":
    main()
