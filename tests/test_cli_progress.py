"""CLI progress fit for logs and notebooks: plain lines when not on a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest


def _plain(text: str) -> str:
    """Without colour codes (allowed when FORCE_COLOR asks for them)."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _summary(tmp_path, *extra, force_color: bool):
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    if force_color:
        env["FORCE_COLOR"] = "1"  # what a notebook kernel sets for `!clvmodels ...`
    return subprocess.run(
        [sys.executable, "-m", "clvmodels.cli", *extra, "summary", "cdnow:sample",
         "-o", str(tmp_path / "s.csv")],
        capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("force_color", [False, True])
def test_one_plain_line_per_step_without_cursor_codes(tmp_path, force_color):
    done = _summary(tmp_path, force_color=force_color)
    assert done.returncode == 0, done.stderr
    # No live display: no hidden cursor, carriage return, erased line or cursor move.
    for code in ("\x1b[?25l", "\r", "\x1b[2K", "\x1b[1A"):
        assert code not in done.stderr
    steps = [line for line in _plain(done.stderr).splitlines() if "... " in line]
    assert [line.split("... ", 1)[1] for line in steps] == [
        "summarising cdnow:sample", f"writing {tmp_path / 's.csv'}"]


def test_quiet_silences_progress(tmp_path):
    done = _summary(tmp_path, "--quiet", force_color=True)
    assert done.returncode == 0, done.stderr
    assert "... " not in _plain(done.stderr)
    assert "2,357 customers written" in _plain(done.stderr)


def test_the_terminal_leaderboard_fits_80_columns(monkeypatch):
    import io

    import numpy as np
    import pandas as pd
    from rich.console import Console

    import clvmodels.cli as cli
    from clvmodels.backtest import METRICS, TARGETS

    columns = pd.MultiIndex.from_tuples([(t, m) for t in TARGETS for m in METRICS[t]])
    models = ["baseline", "past_rate", "bgnbd", "pareto_nbd", "mbgnbd", "gbm", "bgnbd_bayes"]
    board = pd.DataFrame(np.random.default_rng(0).normal(0, 100, (len(models), len(columns))),
                         index=models, columns=columns)
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "out", Console(file=buffer, width=80))
    cli._show_leaderboard(board, "Leaderboard")
    text = buffer.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    for target in TARGETS:  # one table per target, every model in full with its values
        assert any(line.strip() == f"Leaderboard: {target}" for line in lines)
        for model in models:
            row = next(line.split() for line in lines[[i for i, line in enumerate(lines)
                                                        if f"Leaderboard: {target}" in line][0]:]
                       if line.split()[:1] == [model])
            assert row[1:] == [cli._fmt(v) for v in board.loc[model, target].round(3)]
