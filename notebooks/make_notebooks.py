"""Write the example notebooks (without outputs) from the cells below.

Edit the cells here and run ``python notebooks/make_notebooks.py``; the test suite
executes every notebook in this folder.
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

NOTEBOOKS = {
    "01_quickstart.ipynb": [
        new_markdown_cell(
            "# Quickstart: from a transaction log to every customer's CLV\n\n"
            "The CDNOW log ships with clvmodels: 23,570 customers who first bought CDs in "
            "early 1997, followed for 78 weeks. Replace it with your own log: a DataFrame, "
            "or the path of a CSV or Parquet file."),
        new_code_cell(
            "import tempfile\nfrom pathlib import Path\n\nimport clvmodels\n\n"
            "tx = clvmodels.datasets.load_cdnow(\"master\")\ntx.head()"),
        new_markdown_cell(
            "## 1. The RFM summary\nOne row per customer: repeat purchase days (`frequency`), "
            "time from first to last purchase (`recency`), age (`T`) and mean repeat spend "
            "(`monetary_value`), here in weeks."),
        new_code_cell(
            "summary = clvmodels.rfm_summary(tx, \"customer_id\", \"date\", \"amount\", "
            "time_unit=\"W\")\nsummary.describe()"),
        new_markdown_cell("## 2. BG/NBD for purchases, Gamma-Gamma for spend"),
        new_code_cell(
            "bg = clvmodels.BetaGeoModel().fit(summary)\n"
            "# One CDNOW customer has a repeat purchase of $0: the spend model leaves it out, with a warning.\n"
            "gg = clvmodels.GammaGammaModel(nonpositive_spend=\"exclude\").fit(summary)\nbg.summary()"),
        new_code_cell("gg.summary()"),
        new_markdown_cell("## 3. Who is still active, and how much will they buy?"),
        new_code_cell(
            "alive = bg.probability_alive(summary)\n"
            "next_year = bg.expected_purchases(summary, 52)\n"
            "summary.assign(p_alive=alive, purchases_next_52w=next_year)"
            ".sort_values(\"purchases_next_52w\", ascending=False).head()"),
        new_markdown_cell(
            "## 4. Discounted CLV with an interval\n52 weekly steps, 10% a year discount, "
            "30% margin. The interval carries the parameter uncertainty of both models."),
        new_code_cell(
            "clv = clvmodels.customer_lifetime_value(\n"
            "    bg, gg, summary, horizon=52, time_unit=\"W\", discount_rate=0.1,\n"
            "    discount_period=\"Y\", margin=0.3, interval=0.9, random_state=1)\n"
            "assert len(clv) == len(summary)\nclv.describe()"),
        new_markdown_cell("## 5. Export one row per customer"),
        new_code_cell(
            "out = Path(tempfile.mkdtemp()) / \"clv.csv\"\n"
            "clvmodels.predict_clv(summary, bg, gg, horizon=52, time_unit=\"W\", "
            "discount_rate=0.1,\n"
            "                      discount_period=\"Y\", margin=0.3, path=out)\n"
            "import pandas as pd\nexported = pd.read_csv(out)\n"
            "assert len(exported) == len(summary)\nexported.head()"),
        new_markdown_cell(
            "## 6. Check: the figures match the log and the published estimates\n"
            "The summary counts every customer and purchase day of the log; fitted on the "
            "39-week calibration sample of Fader, Hardie & Lee (2005), the models give the "
            "published estimates (BG/NBD: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, "
            "log-likelihood -9,582.4; Gamma-Gamma: p = 6.25, q = 3.74, v = 15.44)."),
        new_code_cell(
            "import numpy as np\n\n"
            "days = tx.assign(day=tx[\"date\"].dt.normalize()).drop_duplicates([\"customer_id\", \"day\"])\n"
            "assert len(summary) == tx[\"customer_id\"].nunique() == 23570\n"
            "assert summary.attrs[\"n_transactions\"] == len(tx) == 69659\n"
            "assert summary[\"frequency\"].sum() == len(days) - len(summary)\n"
            "assert sorted(exported[\"customer_id\"]) == sorted(summary.index)\n"
            "assert (clv[\"clv_lower\"] <= clv[\"clv\"]).all() and (clv[\"clv\"] <= clv[\"clv_upper\"]).all()\n\n"
            "sample = clvmodels.datasets.load_cdnow(\"sample\")\n"
            "calibration = clvmodels.rfm_summary(sample, \"customer_id\", \"date\", \"amount\",\n"
            "                                    calibration_period_end=\"1997-09-30\", time_unit=\"W\")\n"
            "bg_paper = clvmodels.BetaGeoModel().fit(calibration)\n"
            "np.testing.assert_allclose(bg_paper.params_[[\"r\", \"alpha\", \"a\", \"b\"]],\n"
            "                           [0.243, 4.414, 0.793, 2.426], rtol=2e-3)\n"
            "assert abs(bg_paper.log_likelihood_ - (-9582.4)) < 0.1\n"
            "gg_paper = clvmodels.GammaGammaModel(nonpositive_spend=\"exclude\").fit(calibration)\n"
            "np.testing.assert_allclose(gg_paper.params_[[\"p\", \"q\", \"v\"]], [6.25, 3.74, 15.44],\n"
            "                           rtol=2e-3)\n"
            "bg_paper.params_.round(3)"),
    ],
    "02_backtest.ipynb": [
        new_markdown_cell(
            "# Which model should I trust? A backtest on held-out time\n\n"
            "Every model is fitted on January-September 1997 and predicts the next 39 "
            "weeks; the predictions are compared with what the customers really did."),
        new_code_cell(
            "import tempfile\nfrom pathlib import Path\n\nimport numpy as np\nimport pandas as pd\n\n"
            "import clvmodels\n\n"
            "tx = clvmodels.datasets.load_cdnow(\"master\")\n"
            "result = clvmodels.backtest(tx, \"customer_id\", \"date\", \"amount\",\n"
            "                            calibration_period_end=\"1997-09-30\", "
            "time_unit=\"W\")\n"
            "result.leaderboard().round(3).T"),
        new_code_cell("result.winners()"),
        new_markdown_cell("Every prediction is kept, per model and customer:"),
        new_code_cell("result.predictions.head()"),
        new_markdown_cell("## The report to send to your manager\nOne self-contained HTML file."),
        new_code_cell(
            "path = result.report(Path(tempfile.mkdtemp()) / \"report.html\")\n"
            "path.stat().st_size > 0"),
        new_markdown_cell(
            "## Check: the backtest scores what the customers really did\n"
            "The actual holdout purchases are the purchase days after the cutoff in the log; "
            "each metric's winner follows its rule (bias: closest to 0)."),
        new_code_cell(
            "cutoff = pd.Timestamp(\"1997-09-30\")\n"
            "days = tx.assign(day=tx[\"date\"].dt.normalize()).drop_duplicates([\"customer_id\", \"day\"])\n"
            "holdout = days[days[\"day\"] > cutoff]\n"
            "per_model = result.predictions.groupby(\"model\")\n"
            "assert (per_model.size() == tx[\"customer_id\"].nunique()).all()\n"
            "assert len(holdout) == 19684\n"
            "assert (per_model[\"actual_purchases\"].sum() == len(holdout)).all()\n"
            "assert np.allclose(per_model[\"actual_revenue\"].sum(), tx.loc[tx[\"date\"] > cutoff, \"amount\"].sum())\n"
            "board, winners = result.leaderboard(), result.winners()\n"
            "bias = board[(\"purchases\", \"bias_pct\")]\n"
            "assert abs(bias[winners[(\"purchases\", \"bias_pct\")]]) == bias.abs().min()\n"
            "mae = board[(\"purchases\", \"mae\")]\n"
            "assert mae[winners[(\"purchases\", \"mae\")]] == mae.min()\n"
            "# The buy-till-you-die models beat the naive baselines on the holdout purchases.\n"
            "assert mae[\"bgnbd\"] < mae[\"baseline\"] and mae[\"bgnbd\"] < mae[\"past_rate\"]\n"
            "assert abs(bias[\"bgnbd\"]) < abs(bias[\"past_rate\"])\n"
            "bias.round(1)"),
    ],
    "03_bayesian_clv.ipynb": [
        new_markdown_cell(
            "# Bayesian CLV: how sure is the value of each customer?\n\n"
            "The same models, fitted by Bayesian inference (NUTS, through nutpie when it is "
            "installed). Every prediction then comes with an interval that carries the "
            "uncertainty of the parameters, and the CLV interval carries the uncertainty of "
            "both the purchase and the spend model."),
        new_code_cell(
            "import tempfile\nfrom pathlib import Path\n\nimport arviz as az\nimport pandas as pd\n\n"
            "import clvmodels\n\n"
            "tx = clvmodels.datasets.load_cdnow(\"master\")\n"
            "summary = clvmodels.rfm_summary(tx, \"customer_id\", \"date\", \"amount\", "
            "time_unit=\"W\")\nlen(summary)"),
        new_markdown_cell(
            "## 1. What do the priors say before seeing any purchase?\n"
            "The default priors are weak log-normals scaled to the data (see "
            "`clvmodels.priors`). Simulating customers from them shows what they imply: here "
            "the share of customers without a repeat purchase, per prior draw, next to the "
            "observed share."),
        new_code_cell(
            "prior = clvmodels.BetaGeoModel(method=\"nuts\").prior_predictive(\n"
            "    summary, draws=200, random_state=0)\n"
            "frequency = prior.prior_predictive[\"purchases\"].sel(column=\"frequency\")\n"
            "implied = (frequency == 0).mean(dim=\"row\").to_numpy().ravel()\n"
            "pd.Series({\"observed\": (summary[\"frequency\"] == 0).mean(),\n"
            "           \"prior 5%\": pd.Series(implied).quantile(0.05),\n"
            "           \"prior median\": pd.Series(implied).median(),\n"
            "           \"prior 95%\": pd.Series(implied).quantile(0.95)}).round(3)"),
        new_markdown_cell(
            "## 2. The posterior\nTwo chains of 1,000 draws after 1,000 tuning steps. "
            "`summary()` gives the posterior mean, standard deviation, the 95% highest-density "
            "interval, R-hat and the effective sample sizes; a fit with R-hat above 1.01, "
            "low ESS or divergences warns and says what to do."),
        new_code_cell(
            "bg = clvmodels.BetaGeoModel(method=\"nuts\").fit(summary, draws=1000, tune=1000, "
            "chains=2,\n                                               random_state=1)\n"
            "bg.summary().round(4)"),
        new_markdown_cell(
            "With 23,570 customers the data dominate the priors: the posterior means sit "
            "next to the maximum-likelihood estimates."),
        new_code_cell(
            "pd.DataFrame({\"maximum likelihood\": bg.mle_params_, \"posterior mean\": "
            "bg.params_}).round(4)"),
        new_code_cell("az.plot_trace(bg.idata_, var_names=[\"r\", \"alpha\", \"a\", \"b\"]);"),
        new_markdown_cell(
            "## 3. Predictions with intervals\nEvery prediction takes `interval=` and returns "
            "the posterior mean with equal-tailed bounds (`return_draws=True` gives every "
            "draw). Reductions run chunk by chunk, so millions of customers fit in memory."),
        new_code_cell(
            "purchases = bg.expected_purchases(summary, 52, interval=0.9)\n"
            "purchases.sort_values(\"mean\", ascending=False).head().round(3)"),
        new_code_cell("bg.probability_alive(summary, interval=0.9).describe().round(3)"),
        new_markdown_cell(
            "## 4. CLV over joint posterior draws\nGamma-Gamma by NUTS too; each CLV draw "
            "pairs a purchase-model draw with a spend-model draw, so the interval carries "
            "both uncertainties."),
        new_code_cell(
            "gg = clvmodels.GammaGammaModel(method=\"nuts\", nonpositive_spend=\"exclude\").fit(\n"
            "    summary, random_state=1)\n"
            "clv = clvmodels.customer_lifetime_value(\n"
            "    bg, gg, summary, horizon=52, time_unit=\"W\", discount_rate=0.1,\n"
            "    discount_period=\"Y\", margin=0.3, interval=0.9)\n"
            "assert len(clv) == len(summary)\n"
            "clv.sort_values(\"clv\", ascending=False).head().round(2)"),
        new_markdown_cell(
            "How wide are the intervals? Relative width of the 90% interval, for the "
            "customers worth more than $1:"),
        new_code_cell(
            "valuable = clv[clv[\"clv\"] > 1]\n"
            "((valuable[\"clv_upper\"] - valuable[\"clv_lower\"]) / valuable[\"clv\"])"
            ".describe().round(3)"),
        new_markdown_cell(
            "## 5. Save, load, export\nParameters and settings as JSON, the posterior as "
            "NetCDF beside it; no pickle."),
        new_code_cell(
            "folder = Path(tempfile.mkdtemp())\nbg.save(folder / \"purchases.json\")\n"
            "gg.save(folder / \"spend.json\")\nsorted(p.name for p in folder.iterdir())"),
        new_code_cell(
            "loaded = clvmodels.load(folder / \"purchases.json\")\n"
            "assert loaded.params_.equals(bg.params_)\n"
            "out = clvmodels.predict_clv(summary, loaded, clvmodels.load(folder / "
            "\"spend.json\"), horizon=52,\n"
            "                            time_unit=\"W\", discount_rate=0.1, "
            "discount_period=\"Y\", margin=0.3,\n"
            "                            path=folder / \"clv.parquet\")\n"
            "exported = pd.read_parquet(out)\nassert len(exported) == len(summary)\n"
            "exported.head()"),
        new_markdown_cell(
            "## 6. Faster alternatives\n`method=\"map\"` gives the posterior mode in about a "
            "second (with flat priors it is the maximum-likelihood estimate); "
            "`method=\"advi\"` a variational approximation of the posterior."),
        new_code_cell(
            "clvmodels.BetaGeoModel(method=\"map\").fit(summary).summary().round(4)"),
        new_markdown_cell(
            "## Check: a converged posterior next to the maximum-likelihood fit\n"
            "R-hat at most 1.01, no divergences, posterior means within 3% of the MLE, and "
            "the saved model predicts exactly what the fitted one does."),
        new_code_cell(
            "import numpy as np\n\n"
            "for model in (bg, gg):\n"
            "    assert model.diagnostics_[\"max_rhat\"] <= 1.01, model.diagnostics_\n"
            "    assert model.diagnostics_[\"divergences\"] == 0, model.diagnostics_\n"
            "    np.testing.assert_allclose(model.params_, model.mle_params_[model.params_.index], rtol=0.03)\n"
            "mle = clvmodels.BetaGeoModel().fit(summary)\n"
            "np.testing.assert_allclose(bg.mle_params_[mle.params_.index], mle.params_, rtol=1e-4)\n"
            "assert (clv[\"clv_lower\"] <= clv[\"clv\"]).all() and (clv[\"clv\"] <= clv[\"clv_upper\"]).all()\n"
            "assert ((purchases[\"lower\"] <= purchases[\"mean\"]) & (purchases[\"mean\"] <= purchases[\"upper\"])).all()\n"
            "again = loaded.expected_purchases(summary, 52)\n"
            "np.testing.assert_allclose(again, bg.expected_purchases(summary, 52), rtol=1e-12)\n"
            "assert sorted(exported[\"customer_id\"]) == sorted(summary.index)"),
    ],
    "04_large_logs_with_duckdb.ipynb": [
        new_markdown_cell(
            "# Logs larger than memory: DuckDB\n\n"
            "Pass a path (or a glob over many Parquet files) instead of a DataFrame and "
            "clvmodels summarises the log in SQL with DuckDB, which streams the files and "
            "spills to disk when needed: the log itself never enters pandas. Here we write "
            "a simulated log of 2 million rows in 8 files."),
        new_code_cell(
            "import tempfile\nfrom pathlib import Path\n\nimport numpy as np\nimport pandas as pd\n\n"
            "import clvmodels\n\n"
            "folder = Path(tempfile.mkdtemp())\nrng = np.random.default_rng(0)\n"
            "for part in range(8):\n"
            "    n = 250_000\n"
            "    pd.DataFrame({\n"
            "        \"customer_id\": rng.integers(0, 200_000, n),\n"
            "        \"ts\": np.datetime64(\"2023-01-01\") + rng.integers(0, 730, n).astype(\"timedelta64[D]\"),\n"
            "        \"amount\": rng.gamma(2.0, 25.0, n).round(2),\n"
            "    }).to_parquet(folder / f\"part-{part}.parquet\", index=False)\n"
            "sorted(p.name for p in folder.iterdir())"),
        new_code_cell(
            "summary = clvmodels.rfm_summary(str(folder / \"*.parquet\"), \"customer_id\", \"ts\", "
            "\"amount\",\n"
            "                                time_unit=\"W\")\n"
            "summary.attrs[\"n_transactions\"], len(summary)"),
        new_markdown_cell("The summary is small, so the models fit on it as usual:"),
        new_code_cell("bg = clvmodels.BetaGeoModel().fit(summary)\nbg.params_"),
        new_markdown_cell(
            "## Check: nothing lost on the way\nThe same counts computed with pandas from the "
            "files: every row, every customer and every purchase day is in the summary."),
        new_code_cell(
            "log = pd.concat(pd.read_parquet(p) for p in sorted(folder.glob(\"*.parquet\")))\n"
            "days = log.drop_duplicates([\"customer_id\", \"ts\"])\n"
            "assert summary.attrs[\"n_transactions\"] == len(log) == 2_000_000\n"
            "assert len(summary) == log[\"customer_id\"].nunique()\n"
            "assert summary[\"frequency\"].sum() == len(days) - len(summary)\n"
            "assert bg.converged_\n"
            "pandas_summary = clvmodels.rfm_summary(log, \"customer_id\", \"ts\", \"amount\", time_unit=\"W\")\n"
            "pd.testing.assert_frame_equal(summary.sort_index(), pandas_summary.sort_index(), check_dtype=False)"),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    main()
