"""End to end on one machine: log files -> summary -> fits -> CLV of every customer -> file.

Simulated BG/NBD logs with Gamma-Gamma spend (about 10 transactions per customer
over two years: one year of acquisition, one of observation) are written to
Parquet folders by :func:`clvmodels.simulate.write_log`, a chunk of customers at
a time. Each journey runs in a fresh process (``harness.measure``):

* clvmodels: :func:`clvmodels.pipeline.run_pipeline` (DuckDB summary, BG/NBD and
  Gamma-Gamma fits, CLV over 12 months with or without a 90% interval, Parquet
  export). Wall time and peak memory (VmHWM, reset between stages through
  ``/proc/self/clear_refs``) of every stage; the job checks that the export has
  one row per customer of the summary (``customers_lost`` must be 0). The
  machine is shared, so the CPU seconds of every stage (user + system, all
  threads; the summary's include the imports) are reported next to the wall
  time, and the load averages before and after each job.
* lifetimes 0.11.3: the same journey (``summary_data_from_transaction_data``,
  ``BetaGeoFitter``, ``GammaGammaFitter`` on repeat customers with positive spend,
  ``customer_lifetime_value``, Parquet export) on the largest log it survives,
  next to clvmodels on the same log.

    nice -n 10 .venv/bin/python benchmarks/bench_pipeline.py \\
        [--rows 10000000 100000000] [--lifetimes-rows 1000000] [--interval-rows 10000000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from harness import RESULTS, measure, merged, save

ROOT = Path(__file__).resolve().parent.parent
PARAMS = dict(r=1.0, alpha=32.0, a=1.0, b=12.0)
SPEND = dict(p=6.0, q=4.0, v=60.0)
END = "2025-12-31"  # 2024-01-01 + 365 days of acquisition + 365 days observed

# Per-stage peak memory: read VmHWM at the end of a stage, then reset it
# (writing 5 to /proc/self/clear_refs resets the peak to the current RSS).
STAGE_PEAKS = """
import warnings
from clvmodels.pipeline import run_pipeline
import pyarrow.parquet as pq
def vmhwm():
    with open('/proc/self/status') as f:
        return next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')) / 1024
import os
peaks, cpu = {}, {}
def progress(stage, seconds, message):
    peaks[stage] = vmhwm()
    cpu[stage] = sum(os.times()[:2]) - sum(cpu.values())
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')
def job(source, output, interval):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = run_pipeline(source, 'customer_id', 'date', 'amount', output=output, horizon=12,
                         time_unit='M', discount_rate=0.01, margin=0.3, interval=interval,
                         observation_period_end=@END@, progress=progress)
    exported = pq.ParquetFile(r.output).metadata.num_rows
    out = {'transactions': r.n_transactions, 'customers': r.n_customers,
           'exported_rows': exported, 'customers_lost': r.n_customers - exported,
           'unscored': r.n_unscored}
    for stage, seconds in r.seconds.items():
        out[f'{stage}_s'] = seconds
        out[f'{stage}_peak_mb'] = peaks[stage]
        out[f'{stage}_cpu_s'] = cpu[stage]
    return out
""".replace("@END@", repr(END))

LIFETIMES = """
import warnings
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data
def job(source, output):
    t0 = time.perf_counter()
    log = pd.read_parquet(source)
    s = summary_data_from_transaction_data(log, 'customer_id', 'date', 'amount', freq='D',
                                           observation_period_end=@END@)
    t1 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        bgf = BetaGeoFitter().fit(s['frequency'], s['recency'], s['T'])
        rep = s[(s['frequency'] > 0) & (s['monetary_value'] > 0)]
        ggf = GammaGammaFitter().fit(rep['frequency'], rep['monetary_value'])
        t2 = time.perf_counter()
        clv = ggf.customer_lifetime_value(bgf, s['frequency'], s['recency'], s['T'],
                                          s['monetary_value'], time=12, discount_rate=0.01,
                                          freq='D')
    (0.3 * clv).rename('clv').to_frame().to_parquet(output)
    t3 = time.perf_counter()
    return {'transactions': len(log), 'customers': len(s), 'exported_rows': len(clv),
            'customers_lost': len(s) - len(clv), 'summary_s': t1 - t0, 'fit_s': t2 - t1,
            'export_s': t3 - t2}
""".replace("@END@", repr(END))


NOTES = """
`seconds` is the wall time of the whole journey and `<stage>_s` of each stage
(summary, fit, export); `<stage>_cpu_s` the CPU seconds of the process in the stage
(user + system, all threads), which depend much less on the other users of the shared
machine than the wall time; `<stage>_peak_mb` the peak resident memory in the stage
(VmHWM, reset between stages) and `peak_mb` the largest of them. `load_before` and
`load_after` are the 1, 5 and 15-minute load averages of the 2-core machine around
each job: above 2, the job waited for the CPU. The jobs run with `nice -n 10`.
`customers_lost` (summary customers minus exported rows) is 0 in every run; the
benchmark stops otherwise. Rows of one `case` may come from different runs; the
ratios against lifetimes (`pipeline_ratios.md`) are from one run.
"""


def write_log(rows: int, folder: Path) -> dict:
    from clvmodels import simulate

    start = time.perf_counter()
    simulate.write_log(folder, max(1, rows // 10), params=PARAMS, spend=SPEND,
                       observation_length=365, acquisition_period=365, resolution="s",
                       chunk_customers=500_000, random_state=12)
    return {"seconds": time.perf_counter() - start}


def load() -> str:
    """Load averages over 1, 5 and 15 minutes (the machine is shared)."""
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--lifetimes-rows", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--interval-rows", type=int, nargs="*", default=[1_000_000],
                        help="log sizes also run with a 90%% CLV interval")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--workdir", default=None, help="where the logs are written")
    parser.add_argument("--log-dir", default=None,
                        help="keep the simulated logs here (log-<rows>/) and reuse them on "
                             "the next run instead of writing them again")
    args = parser.parse_args()

    rows_out = []
    sizes = sorted(set(args.rows) | set(args.lifetimes_rows) | set(args.interval_rows))
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for n in sizes:
            folder = Path(args.log_dir or tmp) / f"log-{n}"
            case = f"{n:,} transactions"
            if not (args.log_dir and any(folder.glob("*.parquet"))):
                before = load()
                wrote = write_log(n, folder)
                rows_out.append({"benchmark": "write_log", "case": case,
                                 "library": "clvmodels", "seconds": wrote["seconds"],
                                 "load_before": before, "load_after": load()})
                print(rows_out[-1], flush=True)
            source = repr(str(folder))
            jobs = []
            if n in args.rows or n in args.lifetimes_rows:
                jobs.append(("clvmodels (no interval)", STAGE_PEAKS,
                             f"job({source}, {repr(str(Path(tmp) / 'out.parquet'))}, None)"))
            if n in args.interval_rows:
                jobs.append(("clvmodels (90% interval)", STAGE_PEAKS,
                             f"job({source}, {repr(str(Path(tmp) / 'out.parquet'))}, 0.9)"))
            if n in args.lifetimes_rows:
                jobs.append(("lifetimes", "import time\n" + LIFETIMES,
                             f"job({source}, {repr(str(Path(tmp) / 'lt.parquet'))})"))
            for library, setup, job in jobs:
                before = load()
                result = measure(setup, job, timeout=args.timeout, cwd=ROOT)
                rows_out.append({"benchmark": "pipeline", "case": case, "library": library,
                                 **result, "load_before": before, "load_after": load()})
                print(rows_out[-1], flush=True)
                if "customers_lost" in result and result["customers_lost"] != 0:
                    raise SystemExit(f"{library} lost {result['customers_lost']} customers")
            if not args.log_dir:
                subprocess.run(["rm", "-rf", str(folder)], check=False)

    rows_out = merged(rows_out, "pipeline")
    for row in rows_out:
        # VmHWM is reset between stages: the journey's peak is the largest stage peak
        # (the first stage's includes the imports).
        stages = [row.get(f"{s}_peak_mb") for s in ("summary", "fit", "export")]
        if all(isinstance(v, float) and v == v for v in stages):
            row["peak_mb"] = max(stages)
    frame = save(rows_out, "pipeline")
    with open(RESULTS / "pipeline.md", "a") as md:
        md.write(NOTES)
    print(frame.to_string(index=False))
    ours = frame[frame["library"] == "clvmodels (no interval)"].set_index("case")
    anchor = frame[frame["library"] == "lifetimes"].set_index("case")
    both = ours.index.intersection(anchor.index)
    if len(both):
        ratio = pd.DataFrame({
            "speedup": anchor.loc[both, "seconds"] / ours.loc[both, "seconds"],
            "memory_ratio": ours.loc[both, "peak_mb"] / anchor.loc[both, "peak_mb"],
        })
        print(ratio.to_string())
        (RESULTS / "pipeline_ratios.md").write_text(ratio.to_markdown(floatfmt=".3g") + "\n")


if __name__ == "__main__":
    main()
