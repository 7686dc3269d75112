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
    cli._show_leaderboard(_result(board), "Leaderboard")
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


def _result(board):
    """A BacktestResult whose leaderboard is ``board`` (one cutoff)."""
    import pandas as pd

    from clvmodels.backtest import BacktestResult

    cutoff = pd.Timestamp("2024-01-01")
    metrics = pd.DataFrame([(model, cutoff, target, metric, board.loc[model, (target, metric)])
                            for model in board.index for target, metric in board.columns],
                           columns=["model", "cutoff", "target", "metric", "value"])
    empty = pd.DataFrame()
    return BacktestResult(metrics=metrics, predictions=empty, calibration=empty,
                          tracking=empty, summaries={}, fitted={}, failures=empty,
                          time_unit="W")


def test_the_recommendation_ranks_all_error_metrics_and_skips_biased_models():
    import pandas as pd

    from clvmodels.backtest import METRICS, TARGETS

    columns = pd.MultiIndex.from_tuples([(t, m) for t in TARGETS for m in METRICS[t]])
    board = pd.DataFrame(0.5, index=["formula", "naive", "model"], columns=columns)
    # The formula has the best rank on every metric but one, yet misses a third of
    # the revenue; the model is second everywhere with small biases.
    values = {
        ("purchases", "mae"): (0.7, 1.0, 0.8), ("purchases", "rmse"): (1.7, 2.0, 1.8),
        ("purchases", "bias_pct"): (5.0, 45.0, -8.0),
        ("revenue", "mae"): (30.0, 40.0, 32.0), ("revenue", "rmse"): (90.0, 120.0, 92.0),
        ("revenue", "bias_pct"): (-33.0, 44.0, -10.0),
    }
    for column, (a, b, c) in values.items():
        board[column] = [a, b, c]
    table = _result(board).recommendation()
    # Ranks (1 best) of mae, rmse, |bias| for purchases then revenue:
    # formula 1,1,1,1,1,2 -> 7/6; model 2,2,2,2,2,1 -> 11/6; naive 3 everywhere.
    assert table["mean_rank"].round(6).to_dict() == {"formula": 1.166667, "model": 1.833333,
                                                     "naive": 3.0}
    assert table["biased"].to_dict() == {"formula": True, "model": False, "naive": True}
    assert table["recommended"].to_dict() == {"formula": False, "model": True, "naive": False}
    # With a looser limit nothing is biased and the best mean rank wins.
    loose = _result(board).recommendation(bias_limit_pct=50.0)
    assert not loose["biased"].any() and loose.index[loose["recommended"]][0] == "formula"
    assert loose.attrs["note"] == ""
    # Every model biased: the best mean rank, with a note saying none is trustworthy.
    strict = _result(board).recommendation(bias_limit_pct=1.0)
    assert strict.index[strict["recommended"]][0] == "formula" and strict.attrs["note"]
    # The report says the same, first in its leaderboard section.
    from clvmodels.report.html import _recommendation_html

    html = _recommendation_html(_result(board))
    assert html.startswith('<p class="headline"><b>Recommended: model</b> (mean rank 1.83')
    assert "formula (purchases +5.0%, revenue -33.0%)" in html
    assert "naive (purchases +45.0%, revenue +44.0%)" in html
