"""Bayesian fits and CLV intervals: clvmodels vs PyMC-Marketing, side by side in one run.

Cases
-----
* ``nuts``: NUTS with the same settings for both libraries (2 chains, 1,000 tuning
  and 1,000 kept draws per chain, at most 2 chains in parallel) on the CDNOW
  sample (BG/NBD and Gamma-Gamma) and on simulated BG/NBD customers (100k, 1M).
  Reported: wall time of ``fit`` (imports excluded, compilation included), peak
  memory, the smallest bulk ESS over the parameters and ESS per second, the
  largest R-hat and the number of divergences.
* ``map``: MAP estimates of BG/NBD at the same sizes.
* ``clv``: 12-month CLV with 90% intervals from the NUTS posteriors of BG/NBD and
  Gamma-Gamma (every posterior draw, 2,000) for the simulated customers.
* ``coverage``: repeated simulations from known BG/NBD parameters; share of 90%
  posterior intervals that contain the truth (clvmodels only).

Simulated data follow ``bench_mle.py``: BG/NBD with ``r=0.25, alpha=4, a=0.8,
b=2.5`` (weeks), Gamma-Gamma spend ``p=6, q=4, v=15``, ages of 39 to 53 weeks in
whole days and recency floored to whole days, as a daily transaction log gives
them. Identical histories are frequent in such data; clvmodels fits them as
weighted rows (the number of distinct rows is reported), PyMC-Marketing one row
per customer.

Every job runs in a fresh process (``harness``): wall time, and peak memory of
the job's process (``peak_mb``) and of its child processes (``children_peak_mb``:
PyMC's multiprocess sampler runs chains in children). PyMC-Marketing jobs run
under a memory cap (``--memory-cap-gb``, default 8) so that a job that would
exhaust the machine fails with a MemoryError instead.

PyMC-Marketing
--------------
``pip install pymc-marketing`` into the project's venv works with the project's
pins (pymc 5.28, pandas 3.1; PyMC-Marketing 0.19.2 was measured). If it ever
conflicts, install it into its own venv and point the script at that interpreter::

    python -m venv benchmarks/.venv-pymc-marketing
    benchmarks/.venv-pymc-marketing/bin/pip install pymc-marketing pyarrow
    .venv/bin/python benchmarks/bench_bayes.py \\
        --pmm-python benchmarks/.venv-pymc-marketing/bin/python

Run (about an hour with every case; each job sequential)::

    cd benchmarks
    ../.venv/bin/python bench_bayes.py --cases nuts map clv coverage \\
        --sizes 100000 1000000 --skip-pmm-above 100000 --timeout 2400

(``--libraries clvmodels --merge`` re-measures clvmodels only and replaces its
rows in an earlier results file.)

Results: ``benchmarks/results/bayes.csv`` and ``bayes.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from bench_mle import TRUTH, cdnow, simulated
from harness import measure, merged, save

HERE = Path(__file__).resolve().parent

NUTS = {"draws": 1000, "tune": 1000, "chains": 2}

LOAD = ("import warnings, json, resource, pandas as pd, numpy as np, arviz as az\n"
        "summary = pd.read_parquet(@PATH@)\nsummary.attrs['time_unit'] = 'W'\n"
        "repeat = summary[summary['frequency'] > 0]\n")

OURS = LOAD + ("import pymc, nutpie\n"
               "from clvmodels.models.beta_geo import BetaGeoModel\n"
               "from clvmodels.models.gamma_gamma import GammaGammaModel\n"
               "from clvmodels import customer_lifetime_value, load\n"
               "def children_mb():\n"
               "    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
               "def report(m):\n"
               "    d = m.diagnostics_ if m.method == 'nuts' else {}\n"
               "    out = dict(min_ess_bulk=d.get('min_ess_bulk'), max_rhat=d.get('max_rhat'),\n"
               "               divergences=d.get('divergences'), rows=m.n_rows_,\n"
               "               sampler=m.inference_.get('sampler'),\n"
               "               sampling_s=m.inference_.get('sampling_seconds'),\n"
               "               children_peak_mb=children_mb())\n"
               "    out.update({k: float(v) for k, v in m.params_.items()})\n"
               "    return out\n")

THEIRS = LOAD + ("import resource\n"
                 "resource.setrlimit(resource.RLIMIT_AS, (@CAP@, @CAP@))\n"
                 "warnings.simplefilter('ignore')\n"
                 "import pymc\n"
                 "from pymc_marketing.clv import BetaGeoModel, GammaGammaModel\n"
                 "data = summary.reset_index()\n"
                 "data = data.rename(columns={data.columns[0]: 'customer_id'})\n"
                 "gg_data = data[data['frequency'] > 0]\n"
                 "def children_mb():\n"
                 "    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
                 "def report(model, names, idata=None):\n"
                 "    idata = idata if idata is not None else model.idata\n"
                 "    post = idata.posterior[names]\n"
                 "    out = dict(children_peak_mb=children_mb(), rows=len(model.data))\n"
                 "    if post.sizes.get('draw', 1) > 1:\n"
                 "        out['min_ess_bulk'] = float(min(az.ess(post)[n] for n in names))\n"
                 "        out['max_rhat'] = float(max(az.rhat(post)[n] for n in names))\n"
                 "        out['divergences'] = int(idata.sample_stats['diverging'].sum())\n"
                 "    out.update({n: float(post[n].mean()) for n in names})\n"
                 "    return out\n")

SETTINGS = "draws={draws}, tune={tune}, chains={chains}".format(**NUTS)

JOBS = {
    # the fitted model is saved (JSON + NetCDF, a fraction of a second) for the CLV case
    ("nuts", "bgnbd", "clvmodels"): (
        OURS, f"(lambda m: (m.save(@SAVE@), report(m))[1])"
              f"(BetaGeoModel(method='nuts').fit(summary, {SETTINGS}, random_state=1))"),
    ("nuts", "bgnbd", "pymc-marketing"): (
        THEIRS, f"report(BetaGeoModel().fit(data, method='mcmc', {SETTINGS}, cores=2, "
                "random_seed=1, progressbar=False) and None or None, ['r', 'alpha', 'a', 'b'])"),
    ("nuts", "gamma-gamma", "clvmodels"): (
        OURS, f"(lambda m: (m.save(@SAVE@), report(m))[1])"
              f"(GammaGammaModel(method='nuts').fit(summary, {SETTINGS}, random_state=1))"),
    ("nuts", "gamma-gamma", "pymc-marketing"): (
        THEIRS, "(lambda m: (m.fit(gg_data, method='mcmc', " + SETTINGS + ", cores=2, "
                "random_seed=1, progressbar=False), report(m, ['p', 'q', 'v']))[1])"
                "(GammaGammaModel())"),
    ("map", "bgnbd", "clvmodels"): (
        OURS, "report(BetaGeoModel(method='map').fit(summary))"),
    ("map", "bgnbd", "pymc-marketing"): (
        THEIRS, "(lambda m: (m.fit(data, method='map', progressbar=False), "
                "report(m, ['r', 'alpha', 'a', 'b']))[1])(BetaGeoModel())"),
}
# Second fit in the same process (a notebook after its first fit): the set-up fits
# once, untimed, so per-process costs (imports, compiling or loading compiled
# code) are paid before the timed fit.
JOBS[("map, second fit in process", "bgnbd", "clvmodels")] = (
    OURS + "BetaGeoModel(method='map').fit(summary)\n",
    "report(BetaGeoModel(method='map').fit(summary))")
JOBS[("map, second fit in process", "bgnbd", "pymc-marketing")] = (
    THEIRS + "BetaGeoModel().fit(data, method='map', progressbar=False)\n",
    "(lambda m: (m.fit(data, method='map', progressbar=False), "
    "report(m, ['r', 'alpha', 'a', 'b']))[1])(BetaGeoModel())")
# PyMC-Marketing's BetaGeoModel.fit returns the InferenceData; keep the model.
JOBS[("nuts", "bgnbd", "pymc-marketing")] = (
    THEIRS, "(lambda m: (m.fit(data, method='mcmc', " + SETTINGS + ", cores=2, "
            "random_seed=1, progressbar=False), report(m, ['r', 'alpha', 'a', 'b']))[1])"
            "(BetaGeoModel())")

CLV_OURS = (OURS + "tm = load(@TM@); sm = load(@SM@)\n")
CLV_JOB = ("(lambda out: dict(customers=len(out), draws=len(tm._posterior_draws()), "
           "children_peak_mb=children_mb(), mean_width=float((out['clv_upper'] - "
           "out['clv_lower']).mean())))(customer_lifetime_value(tm, sm, summary, 12, 'M', "
           "discount_rate=0.01, interval=0.9))")
# PyMC-Marketing's CLV on the same posterior draws: its models are built on the
# data and given clvmodels' posterior (same parameter names), then
# GammaGammaModel.expected_customer_lifetime_value (which uses the posterior mean
# spend) is called as its documentation shows.
CLV_THEIRS = (THEIRS + "def with_posterior(model, nc, frame):\n"
              "    model.build_model(frame)\n"
              "    post = az.from_netcdf(nc).posterior\n"
              "    model.idata = az.InferenceData(posterior=post.load())\n"
              "    return model\n"
              "tm = with_posterior(BetaGeoModel(), @TM@, data)\n"
              "sm = with_posterior(GammaGammaModel(), @SM@, gg_data)\n")
CLV_THEIRS_JOB = ("(lambda out: dict(customers=int(out.sizes['customer_id']), "
                  "draws=int(out.sizes['chain'] * out.sizes['draw']), "
                  "children_peak_mb=children_mb()))(sm.expected_customer_lifetime_value("
                  "tm, data.copy(), future_t=12, discount_rate=0.01, time_unit='W'))")


def measure_in(python: str, setup: str, job: str, timeout: float) -> dict:
    """:func:`harness.measure` with ``python`` in this folder (jobs import bench_bayes)."""
    return measure(setup, job, timeout=timeout, python=python, cwd=HERE)


def coverage(n_sims: int, n_customers: int) -> dict:
    """Share of 90% posterior intervals containing the true parameters."""
    import warnings

    from clvmodels.exceptions import ConvergenceWarning
    from clvmodels.models.beta_geo import BetaGeoModel

    from clvmodels import simulate

    hits = []
    for i in range(n_sims):
        rng = np.random.default_rng(1000 + i)
        T = rng.integers(39 * 7, 53 * 7, n_customers) / 7.0
        s = simulate.beta_geo_summary(n_customers, **TRUTH, T=T, random_state=rng,
                                      time_unit="W")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = BetaGeoModel(method="nuts").fit(s, random_state=i)
        ci = model.confidence_intervals(0.9)
        hits.append([ci.loc[k, "lower"] <= v <= ci.loc[k, "upper"] for k, v in TRUTH.items()])
    share = np.mean(hits, axis=0)
    return {k: float(v) for k, v in zip(TRUTH, share)} | {"all": float(np.mean(hits)),
                                                         "simulations": n_sims}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["nuts", "map", "clv"],
                        choices=["nuts", "map", "clv", "coverage"])
    parser.add_argument("--sizes", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--pmm-python", default=sys.executable,
                        help="interpreter with pymc-marketing installed")
    parser.add_argument("--memory-cap-gb", type=float, default=8.0)
    parser.add_argument("--skip-pmm-above", type=int, default=10**9,
                        help="do not run PyMC-Marketing NUTS above this many customers")
    parser.add_argument("--coverage-sims", type=int, default=40)
    parser.add_argument("--name", default="bayes")
    parser.add_argument("--libraries", nargs="+", default=["clvmodels", "pymc-marketing"])
    parser.add_argument("--merge", action="store_true",
                        help="replace the matching rows of an earlier results/<name>.csv "
                             "instead of starting a new one")
    args = parser.parse_args()
    cap = str(int(args.memory_cap_gb * 2**30))
    rows: list[dict] = []

    keys = ("benchmark", "model", "case", "library")

    def record(bench, model, case, library, result):
        row = {"benchmark": bench, "model": model, "case": case, "library": library, **result}
        if row.get("min_ess_bulk") and row.get("seconds"):
            row["ess_per_s"] = row["min_ess_bulk"] / row["seconds"]
        rows.append(row)
        shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        print(json.dumps(shown), flush=True)
        save(merged(rows, args.name, keys) if args.merge else rows, args.name)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cases = [("cdnow sample", tmp / "cdnow.parquet", cdnow, 2357)]
        cases += [(f"{n:,} simulated", tmp / f"sim-{n}.parquet",
                   lambda p, n=n: simulated(n, p), n) for n in args.sizes]
        for case, path, make, n in cases:
            make(path)
            for bench in ("nuts", "map", "map, second fit in process"):
                if bench.split(",")[0] not in args.cases:
                    continue
                for model in ("bgnbd", "gamma-gamma"):
                    for library in ("clvmodels", "pymc-marketing"):
                        if (bench, model, library) not in JOBS or library not in args.libraries:
                            continue
                        if (library == "pymc-marketing" and bench == "nuts"
                                and n > args.skip_pmm_above):
                            record(bench, model, case, library,
                                   {"error": f"not run (> {args.skip_pmm_above:,} customers)"})
                            continue
                        setup, job = JOBS[(bench, model, library)]
                        setup = setup.replace("@PATH@", repr(str(path))).replace("@CAP@", cap)
                        job = job.replace("@SAVE@", repr(str(tmp / f"{model}.json")))
                        python = sys.executable if library == "clvmodels" else args.pmm_python
                        record(bench, model, case, library,
                               measure_in(python, setup, job, args.timeout))
            if "clv" in args.cases and "simulated" in case and "clvmodels" in args.libraries:
                tm, sm = tmp / "bgnbd.json", tmp / "gamma-gamma.json"
                if not ("nuts" in args.cases and tm.exists() and sm.exists()):
                    record("clv 12 months, 90% interval", "bgnbd + gamma-gamma", case,
                           "clvmodels", {"error": "needs the NUTS fits of the nuts case"})
                else:
                    setup = CLV_OURS.replace("@PATH@", repr(str(path))).replace(
                        "@TM@", repr(str(tm))).replace("@SM@", repr(str(sm)))
                    record("clv 12 months, 90% interval", "bgnbd + gamma-gamma", case,
                           "clvmodels",
                           measure_in(sys.executable, setup, CLV_JOB, args.timeout))
                    setup = CLV_THEIRS.replace("@PATH@", repr(str(path))).replace(
                        "@CAP@", cap).replace("@TM@", repr(str(tm.with_suffix(".nc")))).replace(
                        "@SM@", repr(str(sm.with_suffix(".nc"))))
                    if "pymc-marketing" in args.libraries:
                        record("clv 12 months, 90% interval", "bgnbd + gamma-gamma", case,
                               "pymc-marketing",
                               measure_in(args.pmm_python, setup, CLV_THEIRS_JOB,
                                          args.timeout))
                for f in (tm, sm, tm.with_suffix(".nc"), sm.with_suffix(".nc")):
                    f.unlink(missing_ok=True)
        if "coverage" in args.cases:
            setup = "import sys; sys.path.insert(0, '.')\nfrom bench_bayes import coverage\n"
            record("coverage of 90% intervals", "bgnbd", "3,000 simulated x "
                   f"{args.coverage_sims}", "clvmodels",
                   measure_in(sys.executable, setup, f"coverage({args.coverage_sims}, 3000)",
                       args.timeout * 4))
    frame = pd.DataFrame(rows)
    print(frame.to_string())


if __name__ == "__main__":
    main()
