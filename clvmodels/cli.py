"""The ``clvmodels`` command line.

Every command reads a transaction log (CSV or Parquet path, a glob, or a bundled
data set named ``cdnow:sample`` / ``cdnow:master``) and shows its progress on the
terminal. Errors never show a Python traceback (unless ``clvmodels --debug ...``):

- bad input, a bad option value, a model that cannot be fitted or a broken
  saved model (any clvmodels error, or an error of the CSV/Parquet readers)
  prints one line ``error: ...`` with the advice the error carries; exit code 2;
- a file that cannot be read or written (missing, permission denied, a folder
  in the output path that is a file) prints one ``error:`` line naming the
  path; exit code 2;
- anything else is unexpected: one ``error:`` line asking to rerun with
  ``--debug``; exit code 1.

Every file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
import traceback
import warnings
from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ._io import atomic_path
from .attributes import (COVARIATE_GROUPS, _encode_named, _ids_kind, _matched, _naming,
                         _refuse_new_levels, _Wording)
from .attributes import _read as _read_attributes
from .covariates import join_attributes
from .data import customer_ids, rfm_summary
from .exceptions import ClvModelsWarning, ConvergenceError, DataError, NotFittedError
from .units import DEFAULT_TIME_UNIT

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Customer lifetime value from transaction logs.",
)
out = Console()
err = Console(stderr=True)

_BUNDLED = ("cdnow:sample", "cdnow:master")

#: Set by the global ``--debug`` and ``--quiet`` options.
_DEBUG = {"on": False}
_QUIET = {"on": False}


@app.callback()
def _options(
    debug: bool = typer.Option(False, "--debug",
                               help="Show the full Python traceback of an error."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress lines (errors and warnings still show)."),
) -> None:
    """Customer lifetime value from transaction logs."""
    _DEBUG["on"] = debug
    _QUIET["on"] = quiet


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", str(text).strip())


def _describe(error: Exception, source: str | None) -> tuple[int, str]:
    """The exit code and the one-line message of an error that ends a command."""
    reading = f"cannot read {source}: " if source else ""
    try:
        import pyarrow as pa

        if isinstance(error, pa.ArrowException):
            return 2, reading + f"{type(error).__name__}: {_one_line(error)}"
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    try:
        import duckdb

        if isinstance(error, duckdb.Error):
            return 2, reading + f"{type(error).__name__}: {_one_line(error)}"
    except ImportError:  # pragma: no cover - duckdb is a dependency
        pass
    if isinstance(error, OSError):
        where = " -> ".join(str(f) for f in (error.filename, error.filename2) if f)
        what = error.strerror or _one_line(error)
        hint = next((text for kind, text in (
            (FileNotFoundError, "check the path"),
            (PermissionError, "check its permissions"),
            ((FileExistsError, NotADirectoryError),
             "a part of the path is a file, not a folder: choose another path"),
            (IsADirectoryError, "it is a folder: give a file name"),
        ) if isinstance(error, kind)), "")
        return 2, f"{what}: {where}" + (f" ({hint})" if hint else "") if where else what
    if isinstance(error, (DataError, ConvergenceError, NotFittedError, ValueError,
                          MemoryError)):
        return 2, _one_line(error)
    return 1, (f"unexpected {type(error).__name__}: {_one_line(error)}. This is a bug or an "
               "input clvmodels does not handle yet; rerun with 'clvmodels --debug ...' to see "
               "the traceback and report it.")


def _command(func):
    """Register ``func`` as a command whose errors become one ``error:`` line."""

    @functools.wraps(func)
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            code, text = _describe(error, kwargs.get("log"))
            if _DEBUG["on"]:
                err.print("".join(traceback.format_exception(error)), markup=False,
                          highlight=False, soft_wrap=True, end="")
            err.print(f"[bold red]error:[/] {escape(text)}", markup=True, highlight=False,
                      soft_wrap=True)
            raise typer.Exit(code=code) from None

    return app.command()(run)


#: The cleaning options of the current command (see :func:`_cleaning_options`).
_CLEANING: dict = {}

_CLEANING_PARAMETERS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
    for name, option, kind in (
        ("order_id", typer.Option(
            None, "--order-id", help="Order/invoice id column: returns net against the "
                                     "lines of their order first (with --returns net)."),
         Optional[str]),
        ("missing_ids", typer.Option(
            "error", "--missing-ids", help="Rows without a customer id: error or drop "
                                           "(counted)."), str),
        ("duplicates", typer.Option(
            "keep", "--duplicates", help="Rows identical in every column: keep (counted) "
                                         "or drop."), str),
        ("zero_amounts", typer.Option(
            "keep", "--zero-amounts", help="Rows with a zero amount: keep (counted) or drop."),
         str),
        ("memory_limit", typer.Option(
            None, "--memory-limit", help="Most memory DuckDB holds while summarising files "
                                         "(e.g. 4GB; default: an eighth of the machine's)."),
         Optional[str]),
    )
]


def _cleaning_options(func):
    """Give a command the options of real logs (rfm_summary's ``order_id_col``,
    ``missing_ids``, ``duplicates``, ``zero_amounts``, ``memory_limit``); the command passes
    ``**_CLEANING`` wherever it summarises the log."""

    @functools.wraps(func)
    def run(*args, order_id=None, missing_ids="error", duplicates="keep",
            zero_amounts="keep", memory_limit=None, **kwargs):
        _CLEANING.clear()
        _CLEANING.update(order_id_col=order_id, missing_ids=missing_ids,
                         duplicates=duplicates, zero_amounts=zero_amounts,
                         memory_limit=memory_limit)
        return func(*args, **kwargs)

    signature = inspect.signature(func)
    run.__signature__ = signature.replace(
        parameters=[*signature.parameters.values(), *_CLEANING_PARAMETERS])
    return run


def _check_range(option: str, value: float, low: float, high: float, *,
                 low_open: bool = False, high_open: bool = False, meaning: str = "") -> None:
    """Refuse an option value outside its range with one clear message."""
    below = value <= low if low_open else value < low
    above = value >= high if high_open else value > high
    if value != value or below or above:
        if high == float("inf"):
            allowed = f"{'>' if low_open else '>='} {low:g}"
        else:
            allowed = (f"in {'(' if low_open else '['}{low:g}, {high:g}"
                       f"{')' if high_open else ']'}")
        raise ValueError(f"{option} must be {allowed}{meaning}, got {value:g}.")


def _check_clv_options(horizon: int, margin: float, interval: float,
                       discount_rate: float) -> None:
    """The ranges of the CLV options of ``predict`` and ``run``."""
    _check_range("--horizon", horizon, 0, float("inf"),
                 meaning=" (steps of --time-unit; 0: the remaining lifetime)")
    if horizon == 0 and not discount_rate > 0:
        raise ValueError("--horizon 0 (the remaining lifetime) needs a --discount-rate above 0: "
                         "undiscounted, a lifetime's expected purchases can be infinite.")
    _check_range("--margin", margin, 0.0, 1.0, meaning=" (a share of revenue)")
    _check_range("--interval", interval, 0.0, 1.0, high_open=True,
                 meaning=" (e.g. 0.9; 0 for no interval)")
    _check_range("--discount-rate", discount_rate, -1.0, float("inf"), low_open=True)


class _Opt:
    """The options shared by the commands."""

    customer_id = typer.Option("customer_id", "--customer-id", help="Customer id column.")
    datetime = typer.Option("date", "--datetime", help="Timestamp column.")
    amount = typer.Option("amount", "--amount", help="Amount column.")
    datetime_format = typer.Option(None, "--datetime-format",
                                   help="strftime format of text timestamps, e.g. %Y%m%d.")
    observation_end = typer.Option(None, "--observation-end",
                                   help="Last observed day (default: last transaction).")
    returns = typer.Option("error", "--returns",
                           help="Negative amounts: error, drop or net.")
    log = typer.Argument(..., help="CSV/Parquet path or glob, or cdnow:sample / cdnow:master.")
    time_unit = typer.Option(DEFAULT_TIME_UNIT, "--time-unit",
                             help="h, D, W (default, weeks), M or Y.")
    calibration_end = typer.Option(None, "--calibration-end", help="The cutoff.")
    cutoff = typer.Option(None, "--cutoff", help="Several cutoffs (repeat the option).")
    holdout_length = typer.Option(None, "--holdout-length",
                                  help="Holdout after each cutoff, in --time-unit.")
    method = typer.Option("mle", "--method",
                          help="Inference: mle, nuts (full posterior), map or advi.")
    draws = typer.Option(1000, "--draws", help="NUTS: draws per chain (2 chains).")
    seed = typer.Option(0, "--seed", help="Seed of the sampler and of the CLV draws.")
    penalizer = typer.Option(
        0.0, "--penalizer",
        help="L2 penalty of the maximum-likelihood fits of the purchase and spend models "
             "(lifetimes' penalizer_coef, e.g. 0.01 for small or degenerate data); 0: none.")
    # The CLV options of predict and run (margin also of baseline).
    horizon = typer.Option(
        52, "--horizon", help="Steps of --time-unit to add up; 0: the customer's remaining "
                              "lifetime (needs --discount-rate > 0; column dert instead of "
                              "expected_purchases).")
    clv_time_unit = typer.Option(DEFAULT_TIME_UNIT, "--time-unit",
                                 help="Unit of the summary and horizon (default W, weeks).")
    discount_rate = typer.Option(0.0, "--discount-rate",
                                 help="Discount rate per --discount-period.")
    discount_period = typer.Option("Y", "--discount-period", help="Period of the discount rate.")
    margin = typer.Option(1.0, "--margin", help="Profit margin, 0..1.")
    interval = typer.Option(0.9, "--interval", help="Width of the CLV interval (0 for none).")
    # Customer attributes (covariates) of fit, predict, backtest and report.
    attributes = typer.Option(
        None, "--attributes",
        help="CSV or Parquet file of static customer attributes (channel, region, age...), "
             "one row per customer; every customer of the log needs a row, rows of other "
             "customers are ignored. Text columns are one-hot encoded (0/1 columns named "
             "column_level; the first level in sorted order is the reference, as "
             "clvmodels.one_hot), numeric ones are used as they are.")
    attributes_id = typer.Option(
        None, "--attributes-id",
        help="Customer id column of --attributes (default: the --customer-id column). Ids "
             "are read as the log's are: text stays text ('007' is not 7).")
    purchase_covariates = typer.Option(
        None, "--purchase-covariates",
        help="Comma-separated covariates of the purchase rate: attributes (a text attribute "
             "means all its 0/1 columns) or 0/1 columns (channel_web: that level against all "
             "others). Default with --attributes and no covariate option: every attribute.")
    dropout_covariates = typer.Option(
        None, "--dropout-covariates",
        help="Comma-separated covariates of the dropout (as --purchase-covariates).")
    spend_covariates = typer.Option(
        None, "--spend-covariates",
        help="Comma-separated covariates of the spend per transaction, Gamma-Gamma's v (as "
             "--purchase-covariates).")


def _source(log: str):
    """A path for DuckDB, or the bundled data set as a DataFrame."""
    if log in _BUNDLED:
        from .datasets import load_cdnow
        return load_cdnow(log.split(":")[1])
    return log


@contextlib.contextmanager
def _steps():
    """Progress of the current step (errors are reported by :func:`_command`).

    On a terminal: a live spinner. Otherwise (a notebook's ``!clvmodels ...``, a
    log file, CI), whatever ``FORCE_COLOR`` says: one plain line per step, never
    cursor-control codes. ``--quiet``: nothing. Warnings raised meanwhile
    (exclusions, convergence doubts) are shown after the work as one ``warning:``
    line each, not as Python tracebacks.
    """
    live = _live_terminal()
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                        TimeElapsedColumn(), console=err, transient=True,
                        disable=not live or _QUIET["on"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClvModelsWarning)
        try:
            with progress:
                task = progress.add_task("starting")
                if live or _QUIET["on"]:
                    yield lambda text: progress.update(task, description=text)
                else:
                    yield _plain_step
        finally:
            seen = set()
            for w in caught:
                text = str(w.message)
                if issubclass(w.category, ClvModelsWarning) and text not in seen:
                    seen.add(text)
                    err.print(f"[yellow]warning:[/] {escape(text)}", markup=True, highlight=False,
                              soft_wrap=True)


def _live_terminal() -> bool:
    """Whether stderr is a real terminal (``FORCE_COLOR`` forces colour, not a tty)."""
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):
        return False


def _plain_step(text: str) -> None:
    """One plain progress line (no spinner, no cursor control)."""
    err.print(f"... {escape(text)}", markup=True, highlight=False, soft_wrap=True)


def _write(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (with its index) to a .csv or .parquet file, atomically."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise ValueError(f"Cannot write {path}: use a .csv or .parquet file name.")
    with atomic_path(path) as temp:
        if suffix == ".csv":
            frame.to_csv(temp)
        else:
            frame.to_parquet(temp)


#: Short metric names, so that a leaderboard table fits 80 columns.
_SHORT_METRICS = {"bias_pct": "bias %", "spearman": "rank r", "top10_capture": "top10",
                  "top20_capture": "top20"}


def _show_leaderboard(result, title: str) -> None:
    """The overall recommendation, then the leaderboard as one table per target with
    models in rows (fits 80 columns)."""
    board = result.leaderboard()
    for target in dict.fromkeys(board.columns.get_level_values(0)):
        frame = board[target].round(3).rename(columns=_SHORT_METRICS)
        frame.index.name = "model"
        _show(frame, f"{title}: {target}", compact=True)
    table = result.recommendation()
    if not table.empty:
        best = table.index[table["recommended"]][0]
        biased = ", ".join(table.index[table["biased"]])
        out.print(f"Recommended: [bold]{escape(best)}[/] (best mean rank over the MAE, RMSE and "
                  f"|bias| of purchases and revenue"
                  + (f"; not recommended, total off by more than "
                     f"{table.attrs['bias_limit_pct']:g}%: {escape(biased)}" if biased else "")
                  + ")." + (f" {escape(table.attrs['note'])}" if table.attrs.get("note") else ""),
                  soft_wrap=False)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4g}"
    return str(value)


def _show(frame: pd.DataFrame, title: str, compact: bool = False) -> None:
    table = (Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 0), pad_edge=False)
             if compact else Table(title=title))
    # Names are text, not markup: a covariate's coefficient is purchase_coef[channel_web].
    names = [str(idx) for idx in frame.index]
    table.add_column(escape(str(frame.index.name or "")), overflow="fold")
    for col in frame.columns:
        table.add_column(escape(str(col)), justify="right")
    for name, (_, row) in zip(names, frame.iterrows()):
        table.add_row(escape(name), *(escape(_fmt(v)) for v in row))
    out.print(table)


@_command
@_cleaning_options
def summary(
    log: str = _Opt.log,
    output: Path = typer.Option(..., "-o", "--output", help="Where to write (.csv or .parquet)."),
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: Optional[str] = _Opt.amount,
    observation_end: Optional[str] = _Opt.observation_end,
    calibration_end: Optional[str] = typer.Option(
        None, "--calibration-end", help="Split calibration/holdout at this day."),
    time_unit: str = _Opt.time_unit,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    include_first_transaction: bool = typer.Option(
        False, "--include-first-transaction",
        help="Count the first purchase in frequency and monetary_value (descriptive; "
             "the models refuse such a summary)."),
) -> None:
    """Summarise a transaction log into one RFM row per customer."""
    with _steps() as step:
        step(f"summarising {log}")
        frame = rfm_summary(
            _source(log), customer_id, datetime, amount or None,
            observation_period_end=observation_end, calibration_period_end=calibration_end,
            time_unit=time_unit, datetime_format=datetime_format, returns=returns,
            include_first_transaction=include_first_transaction, **_CLEANING)
        from .export import check_id_types

        check_id_types(frame.index, customer_id)
        step(f"writing {output}")
        _write(frame, output)
    err.print(f"{len(frame):,} customers written to {output}")


@_command
@_cleaning_options
def baseline(
    log: str = _Opt.log,
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    period: str = typer.Option("Y", "--period", help="Period of the rates: D, W, M or Y."),
    margin: float = _Opt.margin,
    acquisition_cost: float = typer.Option(0.0, "--acquisition-cost", help="Cost to acquire one customer."),
    lifespan: Optional[float] = typer.Option(None, "--lifespan", help="Customer lifespan in periods."),
    churn_rate: Optional[float] = typer.Option(None, "--churn-rate", help="Churn per period."),
    conversion_rate: Optional[float] = typer.Option(
        None, "--conversion-rate", help="Visitor-to-customer conversion, for the affordable CPC."),
    setting: str = typer.Option(
        "noncontractual", "--setting",
        help="noncontractual (shops: lifespan from retention over --window) or contractual "
             "(subscriptions: churn per --billing-period from payments that stopped)."),
    window: str = typer.Option("Y", "--window", help="Retention window: D, W, M, Y or days."),
    billing_period: str = typer.Option("M", "--billing-period",
                                       help="Billing period: D, W, M, Y or days."),
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
) -> None:
    """Print the formula CLV: AOV x frequency x lifespan x margin - acquisition cost."""
    from .models.baseline import formula_clv

    _check_range("--margin", margin, 0.0, 1.0, meaning=" (a share of revenue)")
    with _steps() as step:
        step(f"computing the formula CLV of {log}")
        result = formula_clv(
            _source(log), customer_id, datetime, amount, period=period, margin=margin,
            acquisition_cost=acquisition_cost, lifespan=lifespan, churn_rate=churn_rate,
            conversion_rate=conversion_rate, setting=setting,
            window=_duration(window), billing_period=_duration(billing_period),
            observation_period_end=observation_end, datetime_format=datetime_format,
            returns=returns, **_CLEANING)
    frame = result.to_series().to_frame("value")
    frame.index.name = "figure"
    _show(frame, f"Formula CLV (rates per {result.period})")


def _duration(text: str):
    """A unit code as given, or a number of days."""
    try:
        return float(text)
    except ValueError:
        return text


_PURCHASE_MODELS = {
    "bgnbd": ("clvmodels.models.beta_geo", "BetaGeoModel"),
    "mbgnbd": ("clvmodels.models.modified_beta_geo", "ModifiedBetaGeoModel"),
    "pareto_nbd": ("clvmodels.models.pareto_nbd", "ParetoNBDModel"),
}


def _purchase_model(name: str, method: str, penalizer: float = 0.0, **covariates):
    """A purchase model by its CLI name; ``covariates``: ``purchase_covariates=``,
    ``dropout_covariates=``."""
    import importlib

    if name not in _PURCHASE_MODELS:
        raise ValueError(f"Unknown model {name!r}: use one of {sorted(_PURCHASE_MODELS)}.")
    module, cls = _PURCHASE_MODELS[name]
    return getattr(importlib.import_module(module), cls)(method=method, penalizer=penalizer,
                                                         **covariates)


def _check_penalizer(penalizer: float, method: str = "mle") -> None:
    """``--penalizer``: finite, >= 0, and for maximum-likelihood fits only."""
    _check_range("--penalizer", penalizer, 0.0, float("inf"), high_open=True,
                 meaning=" and finite (lifetimes' penalizer_coef; 0: none)")
    if penalizer > 0 and method != "mle":
        raise ValueError(f"--penalizer applies to --method mle only, not {method}: the priors "
                         "of a Bayesian fit play the role of a penalty.")


def _fit_pair(rfm: pd.DataFrame, model: str, step, method: str = "mle", draws: int = 1000,
              seed: int = 0, penalizer: float = 0.0, covariates: dict | None = None):
    """Fit the purchase model and Gamma-Gamma; ``covariates``: ``{group: [columns]}``
    (purchase, dropout, spend) read from ``rfm``."""
    from .models.gamma_gamma import GammaGammaModel

    settings = {} if method == "mle" else {"draws": draws, "random_state": seed,
                                           "progressbar": False}
    how = "" if method == "mle" else f" by {method}"
    # Only the groups with covariates are passed (a model without is built as before).
    kwargs = {k: v for k, v in _covariate_kwargs(covariates).items() if v}
    spend_kwargs = {k: kwargs.pop(k) for k in ("spend_covariates",) if k in kwargs}
    named = [c for cols in (covariates or {}).values() for c in cols]
    step(f"fitting {model}{how}" + (f" with covariates {', '.join(dict.fromkeys(named))}"
                                    if named else ""))
    purchases = _purchase_model(model, method, penalizer, **kwargs).fit(rfm, **settings)
    step(f"fitting Gamma-Gamma (spend){how}")
    spend = GammaGammaModel(nonpositive_spend="exclude", method=method, penalizer=penalizer,
                            **spend_kwargs).fit(rfm, **settings)
    return purchases, spend


def _recommended_model(log, rfm, step, *, customer_id, datetime, amount, horizon, time_unit,
                       datetime_format, returns, attributes=None, covariates=None,
                       penalizer=0.0) -> str:
    """``predict --model auto``: the purchase model a backtest recommends.

    BG/NBD, MBG/NBD and Pareto/NBD (each with Gamma-Gamma) are fitted on the log
    up to ``horizon`` steps before its end (half the log when it is shorter than
    twice that) and scored on the rest; the pick is
    :meth:`BacktestResult.recommendation`'s. With ``attributes`` (the encoded
    covariates, one row per customer) the three are the covariate versions
    (``covariates``: ``{group: [columns]}``, with ``penalizer``).
    """
    from .backtest import backtest as run
    from .backtest import covariate_models
    from .units import unit_days

    end = pd.Timestamp(rfm.attrs["observation_period_end"])
    span_days = float(rfm["T"].max()) * unit_days(time_unit)
    holdout_days = min(horizon * unit_days(time_unit), span_days / 2.0) if horizon else (
        span_days / 2.0)  # --horizon 0 (lifetime): half the log
    cutoff = (end - pd.Timedelta(days=holdout_days)).normalize()
    step(f"choosing the model: backtest with the holdout after {cutoff.date()}")
    from .models.gamma_gamma import GammaGammaModel

    if attributes is None:
        candidates = {name: (_purchase_model(name, "mle"),
                             GammaGammaModel(nonpositive_spend="exclude"))
                      for name in _PURCHASE_MODELS}
    else:
        candidates = covariate_models(covariates, penalizer)
    result = run(_source(log), customer_id, datetime, amount, calibration_period_end=cutoff,
                 observation_period_end=end, time_unit=time_unit, models=candidates,
                 progress=step, datetime_format=datetime_format, returns=returns,
                 interval=None, customer_attributes=attributes,
                 **_CLEANING)  # the recommendation needs no intervals
    table = result.recommendation()
    chosen = str(table.index[table["recommended"]][0])
    err.print(f"model chosen by the backtest: {chosen} (mean rank "
              f"{table.loc[chosen, 'mean_rank']:.2f} over MAE, RMSE and |bias| of purchases "
              f"and revenue, holdout after {cutoff.date()})"
              + (f"; {table.attrs['note']}" if table.attrs.get("note") else ""),
              highlight=False, soft_wrap=True)
    return chosen.removesuffix("_covariates")


# --------------------------------------------------------------------------- customer attributes

#: The saved models' record of the text attributes' levels (beside purchases.json).
_LEVELS_FILE = "attributes.json"


def _split_names(text: str | None) -> list[str] | None:
    """``"a, b"`` -> ``["a", "b"]``; None stays None (the option was not given)."""
    if text is None:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def _covariate_options(attributes, purchase, dropout, spend) -> dict | None:
    """The covariate options as ``{group: [names] or None}``, or None without
    ``--attributes`` (refusing a covariate option without it)."""
    given = {"purchase": _split_names(purchase), "dropout": _split_names(dropout),
             "spend": _split_names(spend)}
    if attributes is None:
        named = [f"--{group}-covariates" for group, names in given.items() if names is not None]
        if named:
            raise ValueError(f"{', '.join(named)} need(s) --attributes FILE: the customer "
                             "attributes (one row per customer) the covariates are read from.")
        return None
    if all(names is None for names in given.values()):
        given["purchase"] = []  # every attribute (resolved once the file is read)
        given["default"] = True
    return given


def _wording(path: Path) -> _Wording:
    """How the attributes messages read on the command line: the file is
    ``--attributes FILE``, the ids it is matched to the log's."""
    return _Wording(f"--attributes {path}", id_hint="name it with --attributes-id",
                    ids_are="the log's customer ids are", ids_as="as the log does",
                    like_ids="as the log's are", customers="the log's",
                    saved="The saved model's covariate")


def _naming_file(path: Path | None, id_col: str):
    """Re-raise the attributes errors of ``join_attributes`` with the file and its id
    column named (the user sees one ``error:`` line)."""
    return contextlib.nullcontext() if path is None else _naming(f"--attributes {path}",
                                                                  id_col)


def _log_ids(source, customer_id: str) -> pd.Index:
    """The distinct customer ids of a log, of the type every summary of it has
    (:func:`clvmodels.data.customer_ids`)."""
    return customer_ids(source, customer_id)


def _customer_attributes(path: Path, id_col: str, summary: pd.DataFrame, options: dict,
                         exact: bool = False) -> tuple[pd.DataFrame, dict, dict]:
    """Read ``--attributes``, check it against the log's customers (``summary``'s index,
    its columns: the names an attribute must not take) and encode the covariates
    (``options``: see :func:`_covariate_options`; ``exact``: the names are a saved
    model's columns).

    Returns the encoded columns indexed like ``summary``, ``{group: [columns]}`` and the
    levels of the text attributes used (:class:`clvmodels.attributes.EncodedAttributes`).
    """
    wording = _wording(path)
    raw = _read_attributes(path, id_col, _ids_kind(summary.index), wording)
    rows = _matched(raw, summary, wording.name, id_col)
    return _encode_named(rows, options, wording, exact=exact)


def _check_levels(folder: Path, rows_levels: dict, path: Path) -> None:
    """Refuse text attribute levels the saved models were not fitted with: a new level
    would silently count as the reference level."""
    import json

    record = folder / _LEVELS_FILE
    if not record.exists():
        return
    try:
        fitted = json.loads(record.read_text(encoding="utf-8"))["levels"]
    except (ValueError, KeyError, TypeError) as error:
        raise DataError(f"{record} is not the record of levels 'clvmodels fit' writes "
                        f"({type(error).__name__}: {_one_line(error)}); fit the models again.",
                        rule="unreadable") from error
    _refuse_new_levels(rows_levels, fitted, f"--attributes {path}",
                       f"the models in {folder} were", "Refit with 'clvmodels fit'.")


def _covariate_kwargs(groups: dict | None) -> dict:
    """The models' keyword arguments of ``{group: [columns]}`` (empty groups: None)."""
    groups = groups or {}
    return {f"{group}_covariates": (list(groups.get(group) or []) or None)
            for group in COVARIATE_GROUPS}


def _save_levels(folder: Path, levels: dict) -> None:
    """Record the text attributes' levels of the fitted covariates beside the models (an
    older record is removed: it belongs to other models)."""
    import json

    from ._io import write_text

    record = folder / _LEVELS_FILE
    if levels:
        write_text(record, json.dumps({"levels": levels}, indent=1) + "\n")
    elif record.exists():
        record.unlink()


def _summarise_log(log, customer_id, datetime, amount, observation_end, time_unit,
                   datetime_format, returns):
    return rfm_summary(_source(log), customer_id, datetime, amount,
                       observation_period_end=observation_end, time_unit=time_unit,
                       datetime_format=datetime_format, returns=returns, **_CLEANING)


@_command
@_cleaning_options
def fit(
    log: str = _Opt.log,
    output: Path = typer.Option(..., "-o", "--output", help="Folder for the fitted models (JSON)."),
    model: str = typer.Option("bgnbd", "--model", help="bgnbd, mbgnbd or pareto_nbd."),
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    time_unit: str = _Opt.time_unit,
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    method: str = _Opt.method,
    draws: int = _Opt.draws,
    seed: int = _Opt.seed,
    penalizer: float = _Opt.penalizer,
    attributes: Optional[Path] = _Opt.attributes,
    attributes_id: Optional[str] = _Opt.attributes_id,
    purchase_covariates: Optional[str] = _Opt.purchase_covariates,
    dropout_covariates: Optional[str] = _Opt.dropout_covariates,
    spend_covariates: Optional[str] = _Opt.spend_covariates,
) -> None:
    """Fit a purchase model and Gamma-Gamma; save both as JSON (posterior draws of
    NUTS/ADVI fits as NetCDF beside them) and show the estimates.

    With --attributes the models have covariates (every attribute shifts the
    purchase rate unless --purchase-covariates, --dropout-covariates or
    --spend-covariates say otherwise); the levels of the text attributes are saved
    in attributes.json beside the models, so that 'predict' refuses new levels.
    """
    options = _covariate_options(attributes, purchase_covariates, dropout_covariates,
                                 spend_covariates)
    _check_penalizer(penalizer, method)
    with _steps() as step:
        step(f"summarising {log}")
        rfm = _summarise_log(log, customer_id, datetime, amount, observation_end, time_unit,
                             datetime_format, returns)
        groups, levels = None, {}
        if attributes is not None:
            step(f"reading the customer attributes {attributes}")
            encoded, groups, levels = _customer_attributes(
                attributes, attributes_id or customer_id, rfm, options)
            rfm = join_attributes(rfm, encoded)
        purchases, spend = _fit_pair(rfm, model, step, method, draws, seed, penalizer,
                                     covariates=groups)
        output.mkdir(parents=True, exist_ok=True)
        purchases.save(output / "purchases.json")
        spend.save(output / "spend.json")
        _save_levels(output, levels)
    for fitted in (purchases, spend):
        _show(fitted.summary(), f"{type(fitted).__name__}: log-likelihood "
                                f"{fitted.log_likelihood_:,.2f}")
    err.print(f"models saved in {output}/purchases.json and {output}/spend.json")


@_command
@_cleaning_options
def predict(
    log: str = _Opt.log,
    output: Path = typer.Option(..., "-o", "--output", help="Export file (.csv or .parquet)."),
    models: Optional[Path] = typer.Option(
        None, "--models", help="Folder written by 'clvmodels fit' (default: fit now)."),
    model: str = typer.Option(
        "bgnbd", "--model",
        help="Model to fit when --models is not given: bgnbd, mbgnbd, pareto_nbd, or auto "
             "(the one a backtest of the three recommends, holding out the last --horizon "
             "steps, or half the log if it is shorter than twice that)."),
    horizon: int = _Opt.horizon,
    time_unit: str = _Opt.clv_time_unit,
    discount_rate: float = _Opt.discount_rate,
    discount_period: str = _Opt.discount_period,
    margin: float = _Opt.margin,
    interval: float = _Opt.interval,
    interval_kind: str = typer.Option(
        "expected", "--interval-kind",
        help="expected: the interval of the expected CLV (clv_lower, clv_upper); "
             "predictive: of the value each customer will bring (clv_predictive_lower, "
             "clv_predictive_upper)."),
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    method: str = _Opt.method,
    draws: int = _Opt.draws,
    seed: int = _Opt.seed,
    penalizer: float = _Opt.penalizer,
    attributes: Optional[Path] = _Opt.attributes,
    attributes_id: Optional[str] = _Opt.attributes_id,
    purchase_covariates: Optional[str] = _Opt.purchase_covariates,
    dropout_covariates: Optional[str] = _Opt.dropout_covariates,
    spend_covariates: Optional[str] = _Opt.spend_covariates,
) -> None:
    """Write one row per customer: P(alive), expected purchases and spend, CLV and interval.

    Models with covariates (fitted now with --attributes, or in --models) read each
    customer's covariates from --attributes; every customer keeps a row.
    """
    from .export import predict_clv

    _check_clv_options(horizon, margin, interval, discount_rate)
    _check_penalizer(penalizer, method)
    if penalizer > 0 and models is not None:
        raise ValueError("--penalizer applies to models fitted now; the models in --models "
                         "were fitted already (pass --penalizer to 'clvmodels fit').")
    options = _covariate_options(attributes, purchase_covariates, dropout_covariates,
                                 spend_covariates)
    if models is not None and options is not None and not options.get("default"):
        raise ValueError("--purchase-covariates, --dropout-covariates and --spend-covariates "
                         "choose the covariates of models fitted now; those of the models in "
                         "--models were chosen by 'clvmodels fit'.")
    id_col = attributes_id or customer_id
    with _steps() as step:
        step(f"summarising {log}")
        rfm = _summarise_log(log, customer_id, datetime, amount, observation_end, time_unit,
                             datetime_format, returns)
        groups = encoded = None
        if models is None and attributes is not None:
            step(f"reading the customer attributes {attributes}")
            encoded, groups, _ = _customer_attributes(attributes, id_col, rfm, options)
            rfm = join_attributes(rfm, encoded)
        if models is None and model == "auto":
            extra = {} if encoded is None else dict(attributes=encoded, covariates=groups,
                                                    penalizer=penalizer)
            model = _recommended_model(log, rfm, step, customer_id=customer_id,
                                       datetime=datetime, amount=amount, horizon=horizon,
                                       time_unit=time_unit, datetime_format=datetime_format,
                                       returns=returns, **extra)
        if models is not None:
            step(f"loading models from {models}")
            purchases, spend = _load_models(models)
            needed = list(dict.fromkeys(
                [*getattr(purchases, "covariate_columns", list)(),
                 *getattr(spend, "covariate_columns", list)()]))
            if needed and attributes is None:
                raise ValueError(
                    f"The models in {models} have covariates ({', '.join(needed)}): pass "
                    "--attributes FILE, the customer attributes they were fitted with (one "
                    "row per customer of the log).")
            if attributes is not None and not needed:
                raise ValueError(
                    f"--attributes {attributes} is given but the models in {models} have no "
                    "covariates: fit them with --attributes, or leave it out.")
            if needed:
                step(f"reading the customer attributes {attributes}")
                encoded, _, levels = _customer_attributes(
                    attributes, id_col, rfm, {"purchase": needed}, exact=True)
                _check_levels(models, levels, attributes)
                rfm = join_attributes(rfm, encoded)
        else:
            purchases, spend = _fit_pair(rfm, model, step, method, draws, seed, penalizer,
                                         covariates=groups)
        step(f"scoring {len(rfm):,} customers into {output}")
        predict_clv(rfm, purchases, spend, horizon=horizon or None, time_unit=time_unit,
                    discount_rate=discount_rate, discount_period=discount_period,
                    margin=margin, interval=interval or None, path=output, random_state=seed,
                    interval_kind=interval_kind)
    err.print(f"{len(rfm):,} customers written to {output}")


@_command
@_cleaning_options
def run(
    log: str = typer.Argument(..., help="CSV/Parquet file, folder or glob (read by DuckDB)."),
    output: Path = typer.Option(..., "-o", "--output", help="Export file (.parquet or .csv)."),
    model: str = typer.Option("bgnbd", "--model", help="bgnbd, mbgnbd or pareto_nbd."),
    horizon: int = _Opt.horizon,
    time_unit: str = _Opt.clv_time_unit,
    discount_rate: float = _Opt.discount_rate,
    discount_period: str = _Opt.discount_period,
    margin: float = _Opt.margin,
    interval: float = _Opt.interval,
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    seed: int = _Opt.seed,
    penalizer: float = _Opt.penalizer,
) -> None:
    """Large logs end to end: DuckDB summary, BG/NBD + Gamma-Gamma, CLV of every
    customer streamed to a file (clvmodels.pipeline.run_pipeline).

    No customer attributes here: for models with covariates use 'clvmodels fit' and
    'clvmodels predict' with --attributes."""
    from .pipeline import run_pipeline

    _check_clv_options(horizon, margin, interval, discount_rate)
    _check_penalizer(penalizer)
    with _steps() as step:
        step(f"summarising {log}")
        result = run_pipeline(
            log, customer_id, datetime, amount, output=output, horizon=horizon or None,
            time_unit=time_unit, discount_rate=discount_rate, discount_period=discount_period,
            margin=margin, interval=interval or None, model=model, penalizer=penalizer,
            random_state=seed,
            progress=lambda stage, seconds, message: step(
                f"{stage} done in {seconds:.1f} s: {message}"),
            observation_period_end=observation_end, datetime_format=datetime_format,
            returns=returns, **_CLEANING)
    err.print(f"{result.n_customers:,} customers written to {output}")


def _load_models(folder: Path):
    """The purchase and spend models saved by ``clvmodels fit`` in ``folder``."""
    from .exceptions import ModelFileError
    from .models.gamma_gamma import GammaGammaModel
    from .models.parametric import TransactionModel
    from .persistence import load

    purchases, spend = load(folder / "purchases.json"), load(folder / "spend.json")
    for path, model, kind, what in (
            (folder / "purchases.json", purchases, TransactionModel, "a purchase model"),
            (folder / "spend.json", spend, GammaGammaModel, "a spend model (Gamma-Gamma)")):
        if not isinstance(model, kind):
            raise ModelFileError(
                path, f"it holds a {type(model).__name__}, not {what}.", rule="model_role",
                remedy="Keep the files 'clvmodels fit' wrote under their names.")
    return purchases, spend


def _cutoff_options(calibration_end, cutoff):
    if cutoff:
        return {"cutoffs": cutoff}
    return {"calibration_period_end": calibration_end}


@_command
@_cleaning_options
def backtest(
    log: str = _Opt.log,
    output: Path = typer.Option(Path("backtest"), "-o", "--output", help="Folder for the tables."),
    calibration_end: Optional[str] = _Opt.calibration_end,
    cutoff: Optional[list[str]] = _Opt.cutoff,
    holdout_length: Optional[float] = _Opt.holdout_length,
    time_unit: str = _Opt.time_unit,
    report: bool = typer.Option(True, "--report/--no-report", help="Also write report.html."),
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    penalizer: float = _Opt.penalizer,
    attributes: Optional[Path] = _Opt.attributes,
    attributes_id: Optional[str] = _Opt.attributes_id,
    purchase_covariates: Optional[str] = _Opt.purchase_covariates,
    dropout_covariates: Optional[str] = _Opt.dropout_covariates,
    spend_covariates: Optional[str] = _Opt.spend_covariates,
) -> None:
    """Compare every model on held-out time; write the tables (and the HTML report).

    With --attributes the covariate versions of BG/NBD, Pareto/NBD and MBG/NBD
    (bgnbd_covariates, ...) are compared too: do the attributes help?"""
    _check_penalizer(penalizer)
    options = _covariate_options(attributes, purchase_covariates, dropout_covariates,
                                 spend_covariates)
    with _steps() as step:
        result = _run_backtest(
            _source(log), step, customer_id=customer_id, datetime=datetime, amount=amount,
            calibration_end=calibration_end, cutoff=cutoff, tables=output,
            report_path=output / "report.html" if report else None, penalizer=penalizer,
            attributes=attributes, attributes_id=attributes_id, covariates=options,
            observation_period_end=observation_end, holdout_length=holdout_length,
            time_unit=time_unit, datetime_format=datetime_format, returns=returns)
    err.print(f"backtest written to {output}/")
    _show_leaderboard(result, "Leaderboard (mean over cutoffs)")


def _run_backtest(source, step, *, customer_id="customer_id", datetime="date",
                  amount="amount", calibration_end=None, cutoff=None, tables=None,
                  report_path=None, penalizer=0.0, attributes=None, attributes_id=None,
                  covariates=None, **options):
    """Run the backtest; write its tables to ``tables`` and its report to ``report_path``.

    ``penalizer`` > 0: the default models with that penalty of their
    maximum-likelihood fits (``backtest.default_models``). ``attributes`` (a file,
    its id column ``attributes_id``): the default models and their covariate
    versions (``covariates``: the options, see :func:`_covariate_options`), with the
    encoded attributes joined to every cutoff's summary."""
    from .backtest import backtest as run
    from .backtest import covariate_models, default_models

    if not calibration_end and not cutoff:
        raise ValueError("pass --calibration-end or --cutoff")
    models = default_models(penalizer=penalizer) if penalizer > 0 else None
    extra, id_col = {}, attributes_id or customer_id
    if attributes is not None:
        step(f"reading the customer attributes {attributes}")
        customers = pd.DataFrame(index=_log_ids(source, customer_id))
        encoded, groups, _ = _customer_attributes(attributes, id_col, customers, covariates)
        models = {**default_models(penalizer=penalizer),
                  **covariate_models(groups, penalizer)}
        extra["customer_attributes"] = encoded
    with _naming_file(attributes, id_col):
        result = run(source, customer_id, datetime, amount,
                     **_cutoff_options(calibration_end, cutoff), progress=step, models=models,
                     **extra, **{**_CLEANING, **options})
    if tables is not None:
        step(f"writing {tables}")
        for name, frame in (("metrics", result.metrics), ("predictions", result.predictions)):
            with atomic_path(tables / f"{name}.csv") as temp:
                frame.to_csv(temp, index=False)
    if report_path is not None:
        step(f"writing {report_path}")
        result.report(report_path, tables_dir=tables)
    return result


@_command
@_cleaning_options
def report(
    log: str = _Opt.log,
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="The HTML file."),
    calibration_end: Optional[str] = _Opt.calibration_end,
    cutoff: Optional[list[str]] = _Opt.cutoff,
    holdout_length: Optional[float] = _Opt.holdout_length,
    time_unit: str = _Opt.time_unit,
    customer_id: str = _Opt.customer_id,
    datetime: str = _Opt.datetime,
    amount: str = _Opt.amount,
    observation_end: Optional[str] = _Opt.observation_end,
    datetime_format: Optional[str] = _Opt.datetime_format,
    returns: str = _Opt.returns,
    penalizer: float = _Opt.penalizer,
    attributes: Optional[Path] = _Opt.attributes,
    attributes_id: Optional[str] = _Opt.attributes_id,
    purchase_covariates: Optional[str] = _Opt.purchase_covariates,
    dropout_covariates: Optional[str] = _Opt.dropout_covariates,
    spend_covariates: Optional[str] = _Opt.spend_covariates,
) -> None:
    """Run the backtest and write the model comparison as one HTML file (with
    --attributes, the covariate models too: see 'clvmodels backtest --help')."""
    _check_penalizer(penalizer)
    options = _covariate_options(attributes, purchase_covariates, dropout_covariates,
                                 spend_covariates)
    with _steps() as step:
        _run_backtest(
            _source(log), step, customer_id=customer_id, datetime=datetime, amount=amount,
            calibration_end=calibration_end, cutoff=cutoff, report_path=output,
            penalizer=penalizer, attributes=attributes, attributes_id=attributes_id,
            covariates=options,
            observation_period_end=observation_end, holdout_length=holdout_length,
            time_unit=time_unit, datetime_format=datetime_format, returns=returns)
    err.print(f"report written to {output}")


@_command
def demo(
    output: Path = typer.Option(Path("out"), "-o", "--output", help="Folder for the results."),
) -> None:
    """Backtest every model on the bundled CDNOW master log; write the report and CLV export.

    Calibration: January to September 1997 (39 weeks); holdout: the next 39 weeks.
    Then BG/NBD + Gamma-Gamma are fitted on the whole log and every customer's
    CLV over the next 52 weeks (10% a year discount) is written to clv.csv.
    """
    from .datasets import load_cdnow
    from .export import predict_clv

    with _steps() as step:
        step("loading the CDNOW master log")
        tx = load_cdnow("master")
        result = _run_backtest(tx, step, calibration_end="1997-09-30", time_unit="W",
                               tables=output, report_path=output / "report.html")
        step("fitting BG/NBD and Gamma-Gamma on the whole log")
        rfm = rfm_summary(tx, "customer_id", "date", "amount", time_unit="W")
        purchases, spend = _fit_pair(rfm, "bgnbd", step)
        step(f"scoring {len(rfm):,} customers")
        predict_clv(rfm, purchases, spend, horizon=52, time_unit="W", discount_rate=0.1,
                    discount_period="Y", path=output / "clv.csv")
    _show_leaderboard(result, "Leaderboard on the CDNOW holdout (weeks 40-78)")
    err.print(f"report: {output / 'report.html'}   per-customer CLV: {output / 'clv.csv'}")


def main() -> None:
    """Entry point of the ``clvmodels`` script."""
    app(prog_name="clvmodels")


if __name__ == "__main__":
    sys.exit(main())
