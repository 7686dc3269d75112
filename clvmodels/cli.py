"""The ``clvmodels`` command line.

Every command reads a transaction log (CSV or Parquet path, a glob, or a bundled
data set named ``cdnow:sample`` / ``cdnow:master``), shows its progress on the
terminal, and on bad input prints one line ``error: ...`` and exits with code 2.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .data import rfm_summary
from .exceptions import DataError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Customer lifetime value from transaction logs.",
)
out = Console()
err = Console(stderr=True)

_BUNDLED = ("cdnow:sample", "cdnow:master")


class _Columns:
    """The column options shared by the commands."""

    customer_id = typer.Option("customer_id", "--customer-id", help="Customer id column.")
    datetime = typer.Option("date", "--datetime", help="Timestamp column.")
    amount = typer.Option("amount", "--amount", help="Amount column.")
    datetime_format = typer.Option(None, "--datetime-format",
                                   help="strftime format of text timestamps, e.g. %Y%m%d.")
    observation_end = typer.Option(None, "--observation-end",
                                   help="Last observed day (default: last transaction).")
    returns = typer.Option("error", "--returns",
                           help="Negative amounts: error, drop or net.")


def _source(log: str):
    """A path for DuckDB, or the bundled data set as a DataFrame."""
    if log in _BUNDLED:
        from .datasets import load_cdnow
        return load_cdnow(log.split(":")[1])
    return log


@contextlib.contextmanager
def _steps():
    """A spinner with the current step; errors become one line and exit code 2."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=not err.is_terminal)
    try:
        with progress:
            task = progress.add_task("starting")
            yield lambda text: progress.update(task, description=text)
    except (DataError, FileNotFoundError, ValueError) as error:
        err.print(f"[bold red]error:[/] {error}", markup=True, highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        frame.to_parquet(path)
    elif path.suffix.lower() == ".csv":
        frame.to_csv(path)
    else:
        raise ValueError(f"Cannot write {path}: use a .csv or .parquet file name.")


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _show(frame: pd.DataFrame, title: str) -> None:
    table = Table(title=title)
    table.add_column(frame.index.name or "")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for idx, row in frame.iterrows():
        table.add_row(str(idx), *(_fmt(v) for v in row))
    out.print(table)


@app.command()
def summary(
    log: str = typer.Argument(..., help="CSV/Parquet path or glob, or cdnow:sample / cdnow:master."),
    output: Path = typer.Option(..., "-o", "--output", help="Where to write (.csv or .parquet)."),
    customer_id: str = _Columns.customer_id,
    datetime: str = _Columns.datetime,
    amount: Optional[str] = _Columns.amount,
    observation_end: Optional[str] = _Columns.observation_end,
    calibration_end: Optional[str] = typer.Option(
        None, "--calibration-end", help="Split calibration/holdout at this day."),
    time_unit: str = typer.Option("D", "--time-unit", help="h, D, W, M or Y."),
    datetime_format: Optional[str] = _Columns.datetime_format,
    returns: str = _Columns.returns,
) -> None:
    """Summarise a transaction log into one RFM row per customer."""
    with _steps() as step:
        step(f"summarising {log}")
        frame = rfm_summary(
            _source(log), customer_id, datetime, amount or None,
            observation_period_end=observation_end, calibration_period_end=calibration_end,
            time_unit=time_unit, datetime_format=datetime_format, returns=returns)
        step(f"writing {output}")
        _write(frame, output)
    err.print(f"{len(frame):,} customers written to {output}")


@app.command()
def baseline(
    log: str = typer.Argument(..., help="CSV/Parquet path or glob, or cdnow:sample / cdnow:master."),
    customer_id: str = _Columns.customer_id,
    datetime: str = _Columns.datetime,
    amount: str = _Columns.amount,
    period: str = typer.Option("Y", "--period", help="Period of the rates: D, W, M or Y."),
    margin: float = typer.Option(1.0, "--margin", help="Profit margin, 0..1."),
    acquisition_cost: float = typer.Option(0.0, "--acquisition-cost", help="Cost to acquire one customer."),
    lifespan: Optional[float] = typer.Option(None, "--lifespan", help="Customer lifespan in periods."),
    churn_rate: Optional[float] = typer.Option(None, "--churn-rate", help="Churn per period."),
    conversion_rate: Optional[float] = typer.Option(
        None, "--conversion-rate", help="Visitor-to-customer conversion, for the affordable CPC."),
    observation_end: Optional[str] = _Columns.observation_end,
    datetime_format: Optional[str] = _Columns.datetime_format,
    returns: str = _Columns.returns,
) -> None:
    """Print the formula CLV: AOV x frequency x lifespan x margin - acquisition cost."""
    from .models.baseline import formula_clv

    with _steps() as step:
        step(f"computing the formula CLV of {log}")
        result = formula_clv(
            _source(log), customer_id, datetime, amount, period=period, margin=margin,
            acquisition_cost=acquisition_cost, lifespan=lifespan, churn_rate=churn_rate,
            conversion_rate=conversion_rate, observation_period_end=observation_end,
            datetime_format=datetime_format, returns=returns)
    frame = result.to_series().to_frame("value")
    frame.index.name = "figure"
    _show(frame, f"Formula CLV (rates per {result.period})")


@app.command()
def demo(
    output: Path = typer.Option(Path("out"), "-o", "--output", help="Folder for the results."),
) -> None:
    """Run the main job on the bundled CDNOW master log and write the results."""
    from .datasets import load_cdnow
    from .models.baseline import formula_clv, rfm_segments

    with _steps() as step:
        step("loading the CDNOW master log")
        tx = load_cdnow("master")
        step("summarising")
        rfm = rfm_summary(tx, "customer_id", "date", "amount",
                          calibration_period_end="1997-09-30", time_unit="W")
        rfm = rfm.join(rfm_segments(rfm))
        step(f"writing {output}")
        _write(rfm, output / "summary.csv")
        result = formula_clv(tx, "customer_id", "date", "amount", margin=0.3,
                             acquisition_cost=10.0)
    err.print(f"{len(rfm):,} customers summarised into {output / 'summary.csv'}")
    frame = result.to_series().to_frame("value")
    frame.index.name = "figure"
    _show(frame, "Formula CLV of CDNOW (rates per year, margin 30%, acquisition cost $10)")


def main() -> None:
    """Entry point of the ``clvmodels`` script."""
    app(prog_name="clvmodels")


if __name__ == "__main__":
    sys.exit(main())
