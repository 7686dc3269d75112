"""The command line on bad input: one ``error:`` line, exit code 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import clvmodels
from clvmodels import cli
from clvmodels.models.beta_geo import BetaGeoModel
from clvmodels.models.gamma_gamma import GammaGammaModel


def _run(*args, cwd=None):
    """Run ``python -m clvmodels.cli`` (PYTHONPATH inherited) and return the result."""
    return subprocess.run([sys.executable, "-m", "clvmodels.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, env=dict(os.environ),
                          timeout=600)


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def _log(path: Path, *, repeat: bool = True, n: int = 60) -> Path:
    """A small valid log with zero-padded text ids (``00001`` ...)."""
    rng = np.random.default_rng(1)
    rows = []
    for i in range(n):
        days = np.sort(rng.choice(300, size=(1 + i % 4) if repeat else 1, replace=False))
        rows += [(f"{i + 1:05d}", (pd.Timestamp("2021-01-01") + pd.Timedelta(int(d), "D"))
                  .strftime("%Y-%m-%d"), round(5 + 10 * rng.random(), 2)) for d in days]
    pd.DataFrame(rows, columns=["customer_id", "date", "amount"]).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every bad input of the integrity issue, and a good log and saved models."""
    d = tmp_path_factory.mktemp("cli")
    (d / "empty.csv").write_bytes(b"")
    (d / "x.csv").mkdir()
    (d / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    (d / "no_id.csv").write_text("client,date,amount\n1,2021-01-01,3.5\n2,2021-01-02,4\n")
    (d / "bad_dates.csv").write_text(
        "customer_id,date,amount\n1,yesterday,3.5\n2,2021-13-45,4\n3,2021-01-03,1\n")
    (d / "a_file").write_text("not a folder")
    _log(d / "good.csv")
    _log(d / "once.csv", repeat=False)
    tx = clvmodels.datasets.load_cdnow("sample")
    summary = clvmodels.rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
    models = d / "models"
    BetaGeoModel().fit(summary).save(models / "purchases.json")
    GammaGammaModel().fit(summary).save(models / "spend.json")
    tampered = d / "tampered"
    tampered.mkdir()
    doc = json.loads((models / "purchases.json").read_text())
    doc["params"]["r"] = -1
    (tampered / "purchases.json").write_text(json.dumps(doc))
    (tampered / "spend.json").write_text((models / "spend.json").read_text())
    swapped = d / "swapped"
    swapped.mkdir()
    (swapped / "purchases.json").write_text((models / "spend.json").read_text())
    (swapped / "spend.json").write_text((models / "purchases.json").read_text())
    return d


# (arguments with {d} for the folder, text the error line must contain)
BAD = {
    "0-byte CSV": (["summary", "{d}/empty.csv", "-o", "{d}/out/s.csv"], ""),
    "directory named x.csv": (["summary", "{d}/x.csv", "-o", "{d}/out/s.csv"], ""),
    "corrupt Parquet": (["summary", "{d}/corrupt.parquet", "-o", "{d}/out/s.csv"], ""),
    "missing id column": (["summary", "{d}/no_id.csv", "-o", "{d}/out/s.csv"], "customer_id"),
    "unparseable dates": (["summary", "{d}/bad_dates.csv", "-o", "{d}/out/s.csv"], "date"),
    "missing file": (["summary", "{d}/nothing.csv", "-o", "{d}/out/s.csv"], "nothing.csv"),
    "output parent is a file": (["summary", "{d}/good.csv", "-o", "{d}/a_file/s.csv"],
                                "a_file (a part of the path is a file"),
    "output is a folder": (["summary", "{d}/good.csv", "-o", "{d}/x.csv"],
                           "x.csv (it is a folder: give a file name)"),
    "bad output suffix": (["summary", "{d}/good.csv", "-o", "{d}/out/s.xlsx"], "s.xlsx"),
    "tampered model": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--models",
                        "{d}/tampered"], "purchases.json"),
    "swapped models": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--models",
                        "{d}/swapped"], "not a purchase model"),
    "missing models": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--models",
                        "{d}/no_models"], "no_models"),
    "--margin 1.5": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--margin", "1.5"],
                     "--margin must be in [0, 1]"),
    "--margin -0.1 (baseline)": (["baseline", "{d}/good.csv", "--margin", "-0.1"],
                                 "--margin must be in [0, 1]"),
    "--interval 1": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--interval", "1"],
                     "--interval must be in [0, 1)"),
    "--horizon -1": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv", "--horizon", "-1"],
                     "--horizon must be >= 0"),
    "--horizon 0 undiscounted": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv",
                                  "--horizon", "0"], "needs a --discount-rate above 0"),
    "--discount-rate -1": (["predict", "{d}/good.csv", "-o", "{d}/out/p.csv",
                            "--discount-rate", "-1"], "--discount-rate must be > -1"),
    "everyone bought once": (["fit", "{d}/once.csv", "-o", "{d}/out/models"], ""),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gives_one_error_line_and_exit_code_2(files, case):
    args, expected = BAD[case]
    result = _run(*(a.format(d=files) for a in args))
    errors = _error_lines(result.stderr)
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1, result.stderr
    assert expected in errors[0]
    assert "Traceback" not in result.stderr + result.stdout
    # Nothing was written (no partial file either).
    out = files / "out"
    assert not out.exists() or sorted(p.name for p in out.rglob("*") if p.is_file()) == []


def test_zero_padded_ids_are_fine(files, tmp_path):
    result = _run("summary", files / "good.csv", "-o", tmp_path / "s.csv")
    assert result.returncode == 0, result.stderr
    assert _error_lines(result.stderr) == []
    written = pd.read_csv(tmp_path / "s.csv", dtype=str, keep_default_na=False)
    assert len(written) == 60
    assert os.listdir(tmp_path) == ["s.csv"]


def test_debug_shows_the_traceback(files):
    result = _run("--debug", "summary", files / "no_id.csv", "-o", files / "out" / "s.csv")
    assert result.returncode == 2
    assert "Traceback" in result.stderr and "DataError" in result.stderr
    assert len(_error_lines(result.stderr)) == 1


def test_an_unexpected_error_exits_1_and_suggests_debug(files, monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "rfm_summary", broken)
    runner = CliRunner()
    result = runner.invoke(cli.app, ["summary", str(files / "good.csv"), "-o",
                                     str(files / "out" / "s.csv")])
    assert result.exit_code == 1
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    assert "unexpected KeyError" in errors[0] and "--debug" in errors[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("make_error", [
    lambda: __import__("duckdb").IOException("IO Error: No files found\nLINE 1: SELECT"),
    lambda: __import__("pyarrow").ArrowInvalid("Parquet magic bytes not found"),
    lambda: __import__("pyarrow").lib.ArrowNotImplementedError("no such codec"),
])
def test_reader_errors_become_one_line_naming_the_input(files, monkeypatch, make_error):
    """Whatever exception a reader raises (DuckDB, Arrow), the CLI names the input."""
    def broken(*args, **kwargs):
        raise make_error()

    monkeypatch.setattr(cli, "rfm_summary", broken)
    log = str(files / "good.csv")
    result = CliRunner().invoke(cli.app, ["summary", log, "-o", str(files / "out" / "s.csv")])
    assert result.exit_code == 2
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    assert errors[0].startswith(f"error: cannot read {log}: ")
    assert "\n" not in errors[0] and "Traceback" not in result.output


def test_a_good_predict_with_saved_models_writes_every_customer(files, tmp_path):
    result = _run("predict", files / "good.csv", "-o", tmp_path / "p.parquet", "--models",
                  files / "models", "--interval", "0")
    assert result.returncode == 0, result.stderr
    back = pd.read_parquet(tmp_path / "p.parquet")
    assert len(back) == 60
    assert (back["expected_purchases"] >= 0).all() and (back["clv"] >= 0).all()
    assert os.listdir(tmp_path) == ["p.parquet"]
