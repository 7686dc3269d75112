"""Coverage of the backtest's 90% intervals on logs simulated from known parameters.

For each purchase model (BG/NBD, MBG/NBD, Pareto/NBD) and seed: a transaction log of
``--customers`` customers is simulated from the model with known parameters and
Gamma-Gamma amounts (acquisition over 180 days, observed 730 days after it), then
:func:`clvmodels.backtest` fits that model (and Gamma-Gamma) on the log up to
2024-12-31 and scores the holdout that follows (about 78 weeks). The figures are
those of :meth:`clvmodels.backtest.BacktestResult.interval_coverage`, i.e. what the
report shows: the share of customers whose holdout purchases and revenue fall
inside their 90% predictive interval and inside their 90% "expected" interval.

A predictive interval of purchases should cover between 90% and 95% of customers
(its bounds are whole numbers, so it holds at least 90% of the probability); the
expected interval (parameter uncertainty only) covers few.

    PYTHONPATH=. python benchmarks/bench_coverage.py            # 5 seeds x 4,000
    PYTHONPATH=. python benchmarks/bench_coverage.py --seeds 2 --customers 2000

Writes ``results/coverage.csv`` (one row per model, seed, target and kind) and
``results/coverage.md`` (mean, min and max over the seeds).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import clvmodels  # noqa: E402
from clvmodels import simulate  # noqa: E402
from clvmodels.backtest import ModelPair  # noqa: E402

RESULTS = HERE / "results"
SPEND = dict(p=6.0, q=4.0, v=15.0)
#: (simulator, model class, parameters in days) per model.
CASES = {
    "bgnbd": (simulate.beta_geo, clvmodels.BetaGeoModel,
              dict(r=0.8, alpha=40.0, a=0.8, b=2.5)),
    "mbgnbd": (simulate.modified_beta_geo, clvmodels.ModifiedBetaGeoModel,
               dict(r=0.8, alpha=40.0, a=0.8, b=2.5)),
    "pareto_nbd": (simulate.pareto_nbd, clvmodels.ParetoNBDModel,
                   dict(r=0.8, alpha=40.0, s=0.6, beta=200.0)),
}
CUTOFF = "2024-12-31"


def coverage(name: str, seed: int, customers: int) -> pd.DataFrame:
    """The interval coverage of one simulated log, fitted with the model it came from."""
    simulator, model_class, params = CASES[name]
    log = simulator(customers, **params, observation_length=730, acquisition_period=180,
                    time_unit="D", spend=SPEND, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = clvmodels.backtest(
            log, "customer_id", "date", "amount", calibration_period_end=CUTOFF,
            observation_period_end=log.attrs["observation_end"], time_unit="W",
            models={name: ModelPair(model_class(), clvmodels.GammaGammaModel(
                nonpositive_spend="exclude"))})
    table = result.interval_coverage()
    table.insert(1, "seed", seed)
    table["holdout_weeks"] = float(next(iter(result.summaries.values()))[
        "duration_holdout"].iloc[0])
    return table.drop(columns=["cutoff"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--customers", type=int, default=4000)
    parser.add_argument("--models", nargs="*", default=list(CASES), choices=list(CASES))
    args = parser.parse_args(argv)
    frames = []
    for name in args.models:
        for seed in range(args.seeds):
            start = time.perf_counter()
            frames.append(coverage(name, seed, args.customers))
            sys.stderr.write(f"{name} seed {seed}: {time.perf_counter() - start:.1f} s\n")
    rows = pd.concat(frames, ignore_index=True)
    RESULTS.mkdir(exist_ok=True)
    rows.to_csv(RESULTS / "coverage.csv", index=False)
    summary = (rows.groupby(["model", "target", "kind"], sort=False)["coverage"]
               .agg(["mean", "min", "max"]).reset_index())
    summary.insert(3, "seeds", args.seeds)
    summary.insert(4, "customers", args.customers)
    lines = [
        "# Coverage of the backtest's 90% intervals on simulated logs",
        "",
        f"{args.seeds} logs of {args.customers:,} customers per model, simulated from the "
        "model's known parameters with Gamma-Gamma amounts; each fitted with that model "
        "(maximum likelihood) on the calibration period and scored on the holdout of "
        f"{rows['holdout_weeks'].iloc[0]:.1f} weeks (`python benchmarks/bench_coverage.py`). "
        "Coverage: share of customers whose actual holdout value lies inside their interval. "
        "Target for predictive intervals of purchases: 90-95%.",
        "",
        summary.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    (RESULTS / "coverage.md").write_text("\n".join(lines))
    sys.stdout.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
