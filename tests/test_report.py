"""The backtest report: one self-contained HTML file, its tables, its rendering."""

from __future__ import annotations

import base64
import dataclasses
import io
import shutil
import subprocess
import sys
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clvmodels
from clvmodels.backtest import (
    BacktestResult,
    Candidate,
    GradientBoostingModel,
    ModelPair,
    PastRateModel,
    backtest,
)
from clvmodels.exceptions import ClvModelsWarning
from clvmodels.models.baseline import BaselineModel
from clvmodels.report import report_tables, write_report, write_tables
from clvmodels.report.tables import format_metric, format_number, gain_curve

BAD_NAME = "bad <model> & co"


class _Failing(Candidate):
    """A candidate that cannot be fitted (exercises the failures table and escaping)."""

    def fit(self, summary, history):
        raise ValueError("cannot fit <script>alert(1)</script> & friends")


def _models() -> dict:
    models = {
        "baseline": ModelPair(BaselineModel()),
        "past_rate": ModelPair(PastRateModel()),
        "gbm": GradientBoostingModel(max_iter=10),
    }
    try:
        from clvmodels.models.beta_geo import BetaGeoModel
        from clvmodels.models.gamma_gamma import GammaGammaModel
    except ImportError:  # pragma: no cover - the parametric models are being written
        pass
    else:
        models["bgnbd"] = ModelPair(BetaGeoModel(), GammaGammaModel())
    models[BAD_NAME] = _Failing()
    return models


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    tx = clvmodels.datasets.load_cdnow("sample")
    return backtest(tx, "customer_id", "date", "amount", calibration_period_end="1997-09-30",
                    models=_models())


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    """(report path, tables folder, HTML text, snapshot of the result before writing)."""
    import matplotlib

    folder = tmp_path_factory.mktemp("report")
    # Reading rcParams["backend"] may resolve the backend (importing pyplot): read it raw.
    snapshot = {
        "pyplot_loaded": "matplotlib.pyplot" in sys.modules,
        "frames": {k: getattr(result, k).copy(deep=True)
                   for k in ("metrics", "predictions", "calibration", "tracking", "failures")},
        "summaries": {c: (s.copy(deep=True), dict(s.attrs)) for c, s in result.summaries.items()},
        "rc": {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"},
        "backend": dict.__getitem__(matplotlib.rcParams, "backend"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the report itself must not warn
        path = write_report(result, folder / "report.html", title="CDNOW <sample> & co",
                            tables_dir=folder / "tables")
    return path, folder / "tables", path.read_text(encoding="utf-8"), snapshot


class _Collector(HTMLParser):
    """Tags, attributes, nesting errors and the leaderboard cells of a report."""

    VOID = {"meta", "img", "br", "hr", "link", "input", "col", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict]] = []
        self.ids: set[str] = set()
        self.text: list[str] = []
        self.board: list[list[tuple[str, str]]] = []  # rows of (class, text)
        self._in_board = False
        self._cell: list | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "table" and "board" in (attrs.get("class") or ""):
            self._in_board = True
        if self._in_board and tag == "tr":
            self.board.append([])
        if self._in_board and tag in ("td", "th") and self.board:
            self._cell = [attrs.get("class") or tag, ""]
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
        if self._in_board and tag in ("td", "th") and self._cell is not None:
            self.board[-1].append(tuple(self._cell))
            self._cell = None
        if tag == "table":
            self._in_board = False

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell[1] += data


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


# ---------------------------------------------------------------------------
# The HTML file


def test_report_is_one_file_and_returns_its_path(written, result):
    path, tables, text, _ = written
    assert isinstance(path, Path) and path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html", "tables"]
    assert text.startswith("<!DOCTYPE html>")
    assert f"clvmodels {clvmodels.__version__}" in text
    assert "Generated " in text


def test_html_is_well_formed_and_escaped(written):
    _, _, text, _ = written
    parser = _parse(text)
    assert parser.errors == []
    assert parser.stack == []
    # Title, model names and failure reasons are escaped, never live markup.
    assert "<sample>" not in text and "CDNOW &lt;sample&gt; &amp; co" in text
    assert "<model>" not in text and "bad &lt;model&gt; &amp; co" in text
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_report_is_self_contained(written):
    _, _, text, _ = written
    parser = _parse(text)
    images = [a for t, a in parser.tags if t == "img"]
    assert len(images) >= 4  # tracking, calibration, gain, matrices
    for attrs in images:
        assert attrs["src"].startswith("data:image/png;base64,")
        png = base64.b64decode(attrs["src"].split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert attrs.get("alt")
    assert 'src="http' not in text
    for tag, attrs in parser.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed")
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#") and href[1:] in parser.ids, href
    for needle in ("http://", "https://", "@import", "url("):
        assert needle not in text


def _section_rows(text: str, section: str) -> dict[str, list[str]]:
    """Row label -> cell texts of the first table of a report section."""
    import re

    body = text.split(f'<section id="{section}">', 1)[1].split("</section>", 1)[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", body):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        if cells:
            rows[cells[0]] = cells[1:]
    return rows


def test_sections_are_present(written, result):
    _, _, text, _ = written
    ids = _parse(text).ids
    assert {"data", "leaderboard", "tracking", "calibration", "gain", "matrices",
            "parameters", "failures"} <= ids
    # The data section's figures, computed here from the raw log (purchase days).
    tx = clvmodels.datasets.load_cdnow("sample")
    days = tx.assign(day=tx["date"].dt.normalize())
    cutoff = pd.Timestamp("1997-09-30")
    cal, hold = days[days["day"] <= cutoff], days[days["day"] > cutoff]
    repeat_cal = int((cal.groupby("customer_id")["day"].nunique() - 1).sum())
    repeat_hold = int(hold.groupby("customer_id")["day"].nunique().sum())
    share = hold["customer_id"].nunique() / tx["customer_id"].nunique()
    rows = _section_rows(text, "data")
    assert rows["Customers"] == [f"{tx['customer_id'].nunique():,}"] == ["2,357"]
    assert rows["Transactions in the log"] == [f"{len(tx):,}"]
    assert rows["Calibration period"] == ["1997-01-01 to 1997-09-30 (38.9 weeks)"]
    assert rows["Holdout period"] == ["1997-09-30 to 1998-06-30 (39 weeks)"]
    assert rows["Time unit"] == ["weeks (W)"]
    assert rows["Repeat purchases, calibration"] == [f"{repeat_cal:,}"]
    assert rows["Repeat purchases, holdout"] == [f"{repeat_hold:,}"]
    assert rows["Revenue, holdout"] == [f"{hold['amount'].sum():,.1f}"]
    assert rows["Customers buying in the holdout"] == [f"{100 * share:.1f}%"]
    assert rows["Exclusions"] == ["none"]
    for label in ("MAE", "Spearman", "Top 10%", "AUC", "Brier"):
        assert label in text
    if ("bgnbd", pd.Timestamp("1997-09-30")) in result.fitted:
        assert "BetaGeoModel" in text and "GammaGammaModel" in text
        assert "Lower 95%" in text and "Log-likelihood" in text
        assert "bgnbd (BetaGeoModel)" in text  # the matrices use the BG/NBD model


#: The rule of each metric, written out here (not read from the library).
LOWER_IS_BETTER = {"mae", "rmse", "brier"}
HIGHER_IS_BETTER = {"spearman", "top10_capture", "top20_capture", "gini", "auc"}


def _expected_winners(board: pd.DataFrame) -> dict:
    """The best models of each metric: a set, several when their values are within a
    relative 1e-6 of the best (a tie, e.g. two naive models scoring alike)."""
    expected = {}
    for (target, metric), column in board.items():
        values = column.dropna()
        if metric == "bias_pct":
            score = values.abs()
            best = score.min()
        elif metric in LOWER_IS_BETTER:
            score = values
            best = score.min()
        else:
            assert metric in HIGHER_IS_BETTER, metric
            score = values
            best = score.max()
        expected[(target, metric)] = {m for m in values.index
                                      if abs(score[m] - best) <= 1e-6 * max(abs(best), 1e-300)}
    return expected


def test_leaderboard_lists_every_model_and_highlights_winners(written, result):
    _, _, text, _ = written
    board = result.leaderboard()
    expected = _expected_winners(board)
    rows = [r for r in _parse(text).board if r and r[0][0] == "th" and r[0][1] in board.index]
    assert [r[0][1] for r in rows] == list(board.index)
    assert set(board.index) == {"baseline", "past_rate", "gbm", "bgnbd"}
    columns = list(board.columns)
    assert len(columns) == 7 + 7 + 2
    highlighted = set()
    for row in rows:
        cells = row[1:]
        assert len(cells) == len(columns)
        for (target, metric), (cls, value) in zip(columns, cells):
            assert value == format_metric(board.loc[row[0][1], (target, metric)], metric)
            if "win" in cls.split():
                highlighted.add((target, metric, row[0][1]))
    # One highlighted cell per metric (several for a tie), on the models the rule picks.
    assert highlighted == {(t, m, w) for (t, m), names in expected.items() for w in names}
    entries = [next(iter(names)) if len(names) == 1 else
               "tie: " + ", ".join(n for n in board.index if n in names)
               for names in expected.values()]
    counts = pd.Series(entries).value_counts()
    top = counts.index[0]
    lead = (f"<b>{top}</b> (indistinguishable) on" if top.startswith("tie: ")
            else f"<b>{top}</b> is best on")
    assert f"{lead} {counts.iloc[0]} of {len(columns)} metrics" in text
    # The model that failed everywhere is not ranked but is reported.
    assert BAD_NAME not in board.index


def test_result_and_matplotlib_state_untouched(written, result):
    import matplotlib

    _, _, _, snap = written
    for name, frame in snap["frames"].items():
        pd.testing.assert_frame_equal(getattr(result, name), frame)
    for cutoff, (frame, attrs) in snap["summaries"].items():
        pd.testing.assert_frame_equal(result.summaries[cutoff], frame)
        assert result.summaries[cutoff].attrs == attrs
    if not snap["pyplot_loaded"]:
        assert "matplotlib.pyplot" not in sys.modules
    assert dict.__getitem__(matplotlib.rcParams, "backend") == snap["backend"]
    assert {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"} == snap["rc"]


# ---------------------------------------------------------------------------
# Tables


def test_tables_match_the_leaderboard(written, result):
    _, tables, _, _ = written
    board = result.leaderboard()
    csv = pd.read_csv(tables / "leaderboard.csv").set_index("model")
    assert list(csv.index) == list(board.index)
    assert list(csv.columns) == [f"{t}_{m}" for t, m in board.columns]
    np.testing.assert_allclose(csv.to_numpy(), board.to_numpy(), rtol=1e-12, equal_nan=True)

    md = (tables / "leaderboard.md").read_text(encoding="utf-8").splitlines()
    assert len(md) == 2 + len(board)
    assert md[0].startswith("| model | purchases_mae |")
    for line, (model, values) in zip(md[2:], board.iterrows()):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == model
        assert cells[1:] == [format_metric(v, m) for (_, m), v in values.items()]


def test_other_tables_are_written(written, result):
    _, tables, _, _ = written
    for name in ("metrics", "calibration", "parameters", "diagnostics", "data_summary",
                 "failures"):
        assert (tables / f"{name}.csv").is_file() and (tables / f"{name}.md").is_file()
        frame = pd.read_csv(tables / f"{name}.csv")
        md = (tables / f"{name}.md").read_text(encoding="utf-8").splitlines()
        assert len(md) == 2 + len(frame)  # header, rule, one line per row
        assert md[0] == "| " + " | ".join(frame.columns) + " |"
    metrics = pd.read_csv(tables / "metrics.csv")
    assert len(metrics) == len(result.metrics)
    assert metrics["model"].tolist() == result.metrics["model"].tolist()
    assert metrics["metric"].tolist() == result.metrics["metric"].tolist()
    np.testing.assert_allclose(metrics["value"], result.metrics["value"], rtol=1e-12,
                               equal_nan=True)
    calibration = pd.read_csv(tables / "calibration.csv")
    assert len(calibration) == len(result.calibration)
    for col in ("predicted", "actual", "customers"):
        np.testing.assert_allclose(calibration[col], result.calibration[col], rtol=1e-12)
    failures = pd.read_csv(tables / "failures.csv")
    assert failures["model"].tolist() == [BAD_NAME]
    data = pd.read_csv(tables / "data_summary.csv")
    summary = result.summaries[pd.Timestamp("1997-09-30")]
    assert data["customers"].tolist() == [len(summary)]
    assert data["repeat_purchases_calibration"].tolist() == [summary["frequency"].sum()]
    assert data["repeat_purchases_holdout"].tolist() == [summary["frequency_holdout"].sum()]
    assert data["revenue_holdout"].iloc[0] == pytest.approx(summary["revenue_holdout"].sum())
    assert data["share_active_holdout"].iloc[0] == pytest.approx(
        (summary["frequency_holdout"] > 0).mean())
    params = pd.read_csv(tables / "parameters.csv")
    diagnostics = pd.read_csv(tables / "diagnostics.csv")
    key = ("bgnbd", pd.Timestamp("1997-09-30"))
    if key in result.fitted:
        for role, model in result.fitted[key].fitted_models.items():
            rows = params[(params["model"] == "bgnbd") & (params["component"] == role)]
            rows = rows.set_index("parameter").loc[model.params_.index]
            ci = model.confidence_intervals(0.95)
            np.testing.assert_allclose(rows["estimate"], model.params_, rtol=1e-12)
            np.testing.assert_allclose(rows["standard_error"], model.standard_errors_,
                                       rtol=1e-12)
            np.testing.assert_allclose(rows["lower"], ci["lower"], rtol=1e-12)
            np.testing.assert_allclose(rows["upper"], ci["upper"], rtol=1e-12)
            diag = diagnostics[(diagnostics["model"] == "bgnbd")
                               & (diagnostics["component"] == role)].iloc[0]
            assert diag["model_class"] == type(model).__name__
            assert diag["log_likelihood"] == pytest.approx(model.log_likelihood_, rel=1e-12)
            assert diag["aic"] == pytest.approx(model.aic_, rel=1e-12)
            assert diag["customers"] == model.n_customers_
            assert bool(diag["converged"]) is True
        # The spend model is fitted on repeat customers only.
        spend_rows = diagnostics[(diagnostics["model"] == "bgnbd")
                                 & (diagnostics["component"] == "spend")]
        assert spend_rows["customers"].tolist() == [(summary["frequency"] > 0).sum()]
    assert "gbm" not in set(params["model"])  # no parameters to show


def test_report_tables_are_copies(result):
    tables = report_tables(result)
    tables["metrics"]["value"] = 0.0
    assert not (result.metrics["value"] == 0.0).all()


def test_write_tables_refuses_unknown_names(result, tmp_path):
    with pytest.raises(ValueError, match="Unknown table"):
        write_tables(result, tmp_path, names=["leaderboard", "nope"])


# ---------------------------------------------------------------------------
# Other results: several cutoffs, no parametric model, a model that breaks


def test_several_cutoffs(tmp_path):
    tx = clvmodels.datasets.load_cdnow("sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClvModelsWarning)
        res = backtest(tx, "customer_id", "date", "amount",
                       cutoffs=["1997-06-30", "1997-09-30"], holdout_length=20,
                       models={"baseline": ModelPair(BaselineModel()),
                               "past_rate": ModelPair(PastRateModel())})
    text = write_report(res, tmp_path / "r.html").read_text(encoding="utf-8")
    parser = _parse(text)
    assert parser.errors == []
    assert "Averaged over 2 cutoffs" in text
    assert "Cutoff 1997-06-30" in text and "Cutoff 1997-09-30" in text
    assert "transactions after observation end" in text  # the exclusions are shown


def _subset(result: BacktestResult, keep: set[str]) -> BacktestResult:
    def pick(frame):
        return frame[frame["model"].isin(keep)].reset_index(drop=True)

    return dataclasses.replace(
        result, metrics=pick(result.metrics), predictions=pick(result.predictions),
        calibration=pick(result.calibration), tracking=pick(result.tracking),
        failures=pick(result.failures),
        fitted={k: v for k, v in result.fitted.items() if k[0] in keep})


def test_machine_learning_model_only(result, tmp_path):
    res = _subset(result, {"gbm"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text = write_report(res, tmp_path / "gbm.html").read_text(encoding="utf-8")
    assert _parse(text).errors == []
    assert "None of the models gives a cohort tracking curve" in text
    assert "no matrix to show" in text
    assert "No fitted model has parameters" in text
    assert "Models that could not be fitted" not in text


class _Broken:
    """A fitted model whose predictions fail: the report notes it and goes on."""

    params_ = pd.Series({"r": 1.0})
    log_likelihood_ = -1.0

    def probability_alive(self, summary):
        raise RuntimeError("numerical trouble")

    def expected_purchases(self, summary, t):
        raise RuntimeError("numerical trouble")


class _BrokenPair(Candidate):
    fitted_models = {"purchases": _Broken()}


def test_a_failing_section_becomes_a_note(result, tmp_path):
    cutoff = pd.Timestamp("1997-09-30")
    res = dataclasses.replace(result, fitted={**result.fitted, ("baseline", cutoff): _BrokenPair()})
    with pytest.warns(ClvModelsWarning, match="numerical trouble"):
        text = write_report(res, tmp_path / "broken.html").read_text(encoding="utf-8")
    assert "could not be drawn: RuntimeError: numerical trouble" in text
    assert _parse(text).errors == []


# ---------------------------------------------------------------------------
# Helpers


def test_number_formats():
    assert format_number(2357) == "2,357"
    assert format_number(2357.0) == "2,357"
    assert format_number(0.24259, 4) == "0.2426"
    assert format_number(30.408) == "30.4"
    assert format_number(70976.43, 6) == "70,976.4"
    assert format_number(float("nan")) == "\u2014"
    assert format_number(True) == "yes"
    assert format_metric(-12.146, "bias_pct") == "-12.1%"
    assert format_metric(0.4702, "top10_capture") == "47.0%"
    assert format_metric(0.75712, "auc") == "0.757"
    assert format_metric(None, "mae") == "\u2014"


def test_gain_curve_properties():
    rng = np.random.default_rng(0)
    actual = rng.gamma(0.5, 10.0, size=500) * (rng.random(500) < 0.4)
    predicted = actual + rng.normal(0, 5, size=500)
    curve = gain_curve(actual, predicted)
    gain, perfect = curve["gain"].to_numpy(), curve["perfect"].to_numpy()
    assert gain[0] == 0 and gain[-1] == pytest.approx(1.0)
    assert np.all(np.diff(gain) >= -1e-12) and np.all(perfect >= gain - 1e-12)
    assert curve["lift"].iloc[-1] == pytest.approx(1.0)
    assert gain_curve(np.zeros(3), np.ones(3))["gain"].isna().all()


# ---------------------------------------------------------------------------
# Rendering in a real browser


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def test_renders_in_headless_chromium(written, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (CI installs Debian's chromium in .ci/run).")
    path, _, _, _ = written
    shot = tmp_path / "report.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
           "--v=0", f"--screenshot={shot}", "--window-size=1280,4000",
           path.resolve().as_uri()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    page_errors = [line for line in run.stderr.splitlines()
                   if "Uncaught" in line or ":CONSOLE(" in line
                   or "Failed to load resource" in line or "net::ERR_" in line]
    assert page_errors == []
    assert shot.is_file() and shot.stat().st_size > 50_000

    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(shot.read_bytes()), format="png")
    assert pixels.shape[:2] == (4000, 1280)
    rgb = pixels[..., :3]
    assert float(rgb.std()) > 0.05
    not_white = (rgb < 0.9).any(axis=-1).mean()
    assert not_white > 0.02  # text, tables and figures, not an empty page
