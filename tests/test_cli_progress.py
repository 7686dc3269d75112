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
