"""Measure a job in a fresh process: wall time and peak memory, side by side.

Each job runs in its own Python process (so peak RSS is its own and imports are not
shared), with a time limit. Results are rows ``{benchmark, case, library, seconds,
peak_mb, ...extra}`` that the scripts write to ``benchmarks/results/*.csv`` and
summarise as ratios against the anchor library of the same run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"

_RUNNER = textwrap.dedent("""
    import json, sys, time
    setup, job, out = sys.argv[1], sys.argv[2], sys.argv[3]
    scope = {}
    exec(setup, scope)
    start = time.perf_counter()
    extra = eval(job, scope)
    seconds = time.perf_counter() - start
    # VmHWM: peak resident memory of this process's own address space. (ru_maxrss
    # would also count the parent's memory at fork, which Linux keeps across exec.)
    with open("/proc/self/status") as status:
        peak_kb = next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
    with open(out, "w") as f:  # not stdout: libraries may print there
        json.dump({"seconds": seconds, "peak_mb": peak_kb / 1024, "extra": extra or {}}, f)
""")


def measure(setup: str, job: str, *, timeout: float = 600.0, python: str = sys.executable,
            cwd: str | Path | None = None) -> dict:
    """Run ``setup`` (untimed) then ``job`` (timed; an expression returning a dict of
    extra figures) in a fresh interpreter (``python``, default this one; a comparison
    library may live in a venv of its own), in ``cwd``. Returns seconds, peak_mb and
    the extras, or ``{"error": ...}`` when the job fails or runs out of time."""
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        try:
            done = subprocess.run([python, "-c", _RUNNER, setup, job, str(result_file)],
                                  capture_output=True, text=True, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            return {"error": f"did not finish in {timeout:.0f} s"}
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1]
            return {"error": last[:200]}
        out = json.loads(result_file.read_text())
    return {"seconds": out["seconds"], "peak_mb": out["peak_mb"], **out["extra"]}


def save(rows: list[dict], name: str) -> pd.DataFrame:
    """Write the rows to ``results/<name>.csv`` and ``.md``; return the frame."""
    RESULTS.mkdir(exist_ok=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(RESULTS / f"{name}.csv", index=False)
    (RESULTS / f"{name}.md").write_text(frame.to_markdown(index=False, floatfmt=".4g") + "\n")
    return frame


def merged(rows: list[dict], name: str,
           keys: tuple[str, ...] = ("benchmark", "case", "library")) -> list[dict]:
    """The rows of the earlier ``results/<name>.csv``, those measured again (same
    ``keys``) replaced in place, new ones appended."""
    previous = RESULTS / f"{name}.csv"
    if not previous.exists():
        return rows
    new = {tuple(r[k] for k in keys): r for r in rows}
    earlier = pd.read_csv(previous).to_dict("records")
    out = [new.pop(tuple(r[k] for k in keys), r) for r in earlier]
    return out + [r for r in rows if tuple(r[k] for k in keys) in new]


def ratios(frame: pd.DataFrame, anchor: str, ours: str = "clvmodels",
           keys=("benchmark", "case")) -> pd.DataFrame:
    """Speed-up and memory ratio of ``ours`` against ``anchor`` in the same run."""
    keys = list(keys)
    a = frame[frame["library"] == anchor].set_index(keys)
    b = frame[frame["library"] == ours].set_index(keys)
    joined = b[["seconds", "peak_mb"]].join(a[["seconds", "peak_mb"]], rsuffix="_anchor",
                                            how="left")
    joined["speedup"] = joined["seconds_anchor"] / joined["seconds"]
    joined["memory_ratio"] = joined["peak_mb"] / joined["peak_mb_anchor"]
    return joined.reset_index()
