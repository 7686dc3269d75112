"""One time-unit default, the same in Python and in every CLI command: weeks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pandas as pd
import pytest
import typer.main
from typer.testing import CliRunner

import clvmodels
from clvmodels.cli import app
from clvmodels.units import DEFAULT_TIME_UNIT

#: Modules whose ``time_unit`` is not a default of the summaries: the simulators take
#: the unit in which the user states the model's parameters and lengths (changing it
#: would change the simulated log itself).
NOT_A_SUMMARY_UNIT = {"clvmodels.simulate"}


def _public_callables():
    """(qualified name, callable) of every public function and method of clvmodels."""
    seen = set()
    for info in pkgutil.walk_packages(clvmodels.__path__, "clvmodels."):
        if info.name in NOT_A_SUMMARY_UNIT or info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra (e.g. Spark) that is not installed
            continue
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != info.name:
                continue
            members = [(name, obj)]
            if inspect.isclass(obj):
                members = [(f"{name}.{m}", f) for m, f in vars(obj).items()
                           if not m.startswith("_") and callable(f)]
            for qualname, func in members:
                key = f"{info.name}.{qualname}"
                if key not in seen and callable(func):
                    seen.add(key)
                    yield key, func


def test_every_entry_point_defaults_to_weeks():
    python = {}
    for name, func in _public_callables():
        try:
            parameter = inspect.signature(func).parameters.get("time_unit")
        except (TypeError, ValueError):
            continue
        if parameter is not None and isinstance(parameter.default, str):
            python[name] = parameter.default
    cli = {}
    for name, command in typer.main.get_command(app).commands.items():
        for option in command.params:
            if option.name == "time_unit":
                cli[f"clvmodels {name}"] = option.default
    # The entry points users start from are all there...
    assert {"clvmodels.data.rfm_summary", "clvmodels.backtest.backtest",
            "clvmodels.pipeline.run_pipeline"} <= set(python)
    assert {f"clvmodels {c}" for c in ("summary", "fit", "predict", "run", "backtest",
                                      "report")} <= set(cli)
    # ...and every one of them says weeks.
    disagree = {k: v for k, v in {**python, **cli}.items() if v != DEFAULT_TIME_UNIT}
    assert disagree == {}
    assert DEFAULT_TIME_UNIT == "W"


def test_python_and_the_cli_write_the_same_summary_by_default(tmp_path):
    log = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        python = clvmodels.rfm_summary(log, "customer_id", "date", "amount")
        in_days = clvmodels.rfm_summary(log, "customer_id", "date", "amount", time_unit="D")
    out = tmp_path / "summary.csv"
    done = CliRunner().invoke(app, ["summary", "cdnow:sample", "-o", str(out)])
    assert done.exit_code == 0, done.output
    cli = pd.read_csv(out, index_col=0)
    assert python.attrs["time_unit"] == "W"
    pd.testing.assert_series_equal(cli["T"], python["T"], check_names=False, rtol=1e-9)
    pd.testing.assert_series_equal(cli["recency"], python["recency"], check_names=False,
                                   rtol=1e-9)
    # Weeks, not days: customer 4 has been a customer for 545 days, 77.86 weeks.
    assert in_days.loc[4, "T"] == 545.0
    assert python.loc[4, "T"] == pytest.approx(545 / 7)
    pd.testing.assert_series_equal(python["T"], in_days["T"] / 7.0)
