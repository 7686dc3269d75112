"""Run every benchmark with its default cases, one after the other (``make bench``).

Each script measures clvmodels side by side with the anchor libraries in the same
run and writes ``results/<name>.csv`` and ``.md``; pass a script's own options by
running it directly (``python benchmarks/bench_pipeline.py --help``). Names given
on the command line pick scripts: ``python benchmarks/run.py summary pipeline``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ("summary", "mle", "bayes", "pipeline", "coverage")


def main(names: list[str]) -> int:
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        sys.stderr.write(f"unknown benchmark(s) {unknown}; choose from {list(SCRIPTS)}\n")
        return 2
    failed = []
    for name in names or SCRIPTS:
        sys.stderr.write(f"== bench_{name}.py\n")
        done = subprocess.run([sys.executable, str(HERE / f"bench_{name}.py")], cwd=HERE)
        if done.returncode:
            failed.append(name)
    if failed:
        sys.stderr.write(f"failed: {failed}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
