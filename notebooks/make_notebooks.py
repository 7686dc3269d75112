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
        new_markdown_cell(
            "## 7. Plots to check a fit\n"
            "`clvmodels.plotting` draws on a matplotlib `Axes` you give it (or a new figure) "
            "and returns it: repeat purchases in calibration, actual vs simulated from the "
            "model; holdout purchases by calibration frequency; P(alive) and expected "
            "purchases by frequency and recency. BG/NBD calls every customer without a "
            "repeat purchase alive (the bottom row of its P(alive) matrix is 1, however old "
            "they are); MBG/NBD and Pareto/NBD do not."),
        new_code_cell(
            "%matplotlib inline\n"
            "from matplotlib.figure import Figure\n\n"
            "from clvmodels import plotting\n\n"
            "fig = Figure(figsize=(12, 8), layout=\"constrained\")\n"
            "axes = fig.subplots(2, 2)\n"
            "plotting.plot_period_transactions(bg_paper, calibration, ax=axes[0, 0])\n"
            "plotting.plot_calibration_purchases_vs_holdout_purchases(bg_paper, calibration, "
            "ax=axes[0, 1])\n"
            "plotting.plot_probability_alive_matrix(bg_paper, calibration, ax=axes[1, 0])\n"
            "plotting.plot_frequency_recency_matrix(bg_paper, calibration, t=13, ax=axes[1, 1])\n"
            "fig"),
        new_markdown_cell(
            "Tracking the whole log (the model fitted on calibration forecasts after the "
            "dotted line), one customer's P(alive) over time with their purchases, when "
            "customers arrived and last bought, and the Gamma-Gamma spend check."),
        new_code_cell(
            "fig = Figure(figsize=(12, 8), layout=\"constrained\")\n"
            "axes = fig.subplots(2, 2)\n"
            "plotting.plot_cumulative_transactions(bg_paper, sample, \"customer_id\", \"date\",\n"
            "                                      calibration_period_end=\"1997-09-30\", "
            "ax=axes[0, 0])\n"
            "plotting.plot_probability_alive_history(bg_paper, sample, 4, \"customer_id\", "
            "\"date\", ax=axes[0, 1])\n"
            "plotting.plot_customer_exposure(calibration, n=60, ax=axes[1, 0])\n"
            "plotting.plot_spend_distribution(gg_paper, calibration, ax=axes[1, 1])\n"
            "fig"),
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
        new_markdown_cell(
            "## Do the intervals mean what they say?\n"
            "For BG/NBD, MBG/NBD and Pareto/NBD every customer gets two 90% intervals. The "
            "*predictive* one bounds what they will actually buy (or spend) in the holdout, "
            "so about 90% of customers should fall inside it; the *expected* one bounds only "
            "the model's average for them (parameter uncertainty), so few do: it is not a "
            "forecast range. The share of customers inside each (the report shows it too):"),
        new_code_cell(
            "result.interval_coverage().pivot_table(index=\"model\", columns=[\"target\", "
            "\"kind\"], values=\"coverage\", sort=False).round(3)"),
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
            "    }).to_parquet(folder / f\"part-{part}.parquet\", index=False, coerce_timestamps=\"us\")\n"
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
        new_markdown_cell(
            "## The same code on a Spark cluster\n\n"
            "When the log lives in a Spark cluster, `clvmodels.spark` computes the same summary "
            "in Spark (same convention, same options, same `DataError`s, the same numbers bit "
            "for bit), fits on the compressed rows and scores every customer in the executors. "
            "A job for `spark-submit` (clvmodels installed on the driver and the executors, "
            "e.g. `pip install \"clvmodels[spark]\"` in their image, or a packed virtualenv "
            "shipped with `--archives`):\n\n"
            "```python\n"
            "# clv_job.py\n"
            "from pyspark.sql import SparkSession\n"
            "import clvmodels\n"
            "from clvmodels import spark as cs\n\n"
            "spark = SparkSession.builder.appName(\"clv\").getOrCreate()\n"
            "log = spark.read.parquet(\"s3://shop/transactions/\")\n"
            "summary = cs.summary_sdf(log, \"customer_id\", \"ts\", \"amount\", time_unit=\"W\")\n"
            "bg = cs.fit(clvmodels.BetaGeoModel(), summary)\n"
            "gg = cs.fit(clvmodels.GammaGammaModel(), summary)\n"
            "scored = cs.score(summary, bg, gg, horizon=12, time_unit=\"M\", discount_rate=0.01)\n"
            "cs.write_clv(scored, \"s3://shop/clv/\", format=\"parquet\", mode=\"overwrite\")\n"
            "```\n\n"
            "```\n"
            "spark-submit --master yarn --deploy-mode cluster \\\n"
            "    --archives clv_env.tar.gz#env --conf spark.pyspark.python=./env/bin/python \\\n"
            "    clv_job.py\n"
            "```\n\n"
            "What comes to the driver, and how big it gets:\n\n"
            "* counts of every rule (a few numbers) and the customers the summary leaves out "
            "(usually a handful; `summary.attrs[\"excluded_customers\"]`);\n"
            "* with `returns=\"net\"`, the rows of the customers who have returns (netted by the "
            "same code as the other engines);\n"
            "* for each fit, the distinct rows of the model's columns with their counts "
            "(`cs.compress`, 32 bytes a row): for BG/NBD one row per distinct `(frequency, "
            "recency, T)`, which depends on the histories more than on the number of "
            "customers (CDNOW: 23,570 customers give 11,104 rows; a simulated million "
            "customers observed for two years 752,355 rows, 24 MB); for Gamma-Gamma one row "
            "per distinct `(frequency, monetary_value)`, up to one per repeat customer;\n"
            "* a few quantiles for the RFM segments and lifecycle stages.\n\n"
            "Never the log, and never one row per customer unless you call "
            "`summary.to_pandas()`. Scores are written by the executors. On one machine "
            "DuckDB (above) is much faster (28 times on 2 million transactions, "
            "`benchmarks/results/spark.md`); Spark pays for the JVM and its shuffles and earns "
            "it back when the log outgrows one machine. The same code runs here in local mode "
            "on one of the files (skipped when pyspark is not installed):"),
        new_code_cell(
            "import importlib.util\n\n"
            "if importlib.util.find_spec(\"pyspark\"):\n"
            "    from pyspark.sql import SparkSession\n"
            "    from clvmodels import spark as cs\n\n"
            "    spark = (SparkSession.builder.master(\"local[2]\")\n"
            "             .config(\"spark.ui.enabled\", \"false\")\n"
            "             .config(\"spark.sql.shuffle.partitions\", \"4\")\n"
            "             .config(\"spark.sql.session.timeZone\", \"UTC\").getOrCreate())\n"
            "    one_file = str(folder / \"part-0.parquet\")\n"
            "    spark_summary = cs.summary_sdf(spark.read.parquet(one_file), \"customer_id\", \"ts\",\n"
            "                                   \"amount\", time_unit=\"W\")\n"
            "    rows = cs.compress(spark_summary)\n"
            "    print(f\"{int(rows['weight'].sum()):,} customers compress to {len(rows):,} rows\")\n"
            "    bg_spark = cs.fit(clvmodels.BetaGeoModel(), spark_summary)\n"
            "    local = clvmodels.rfm_summary(one_file, \"customer_id\", \"ts\", \"amount\", "
            "time_unit=\"W\")\n"
            "    pd.testing.assert_frame_equal(spark_summary.to_pandas(), local)\n"
            "    spark.stop()\n"
            "    print(bg_spark.params_)"),
    ],
    "05_formula_vs_models.ipynb": [
        new_markdown_cell(
            "# The CLV formula, the models, and subscriptions\n\n"
            "The formula everyone starts with is *average order value x purchase frequency x "
            "lifespan x margin - acquisition cost*. Its weak point is the lifespan. This "
            "notebook computes it on CDNOW (a shop), sets it beside BG/NBD + Gamma-Gamma and "
            "asks the backtest which one to believe; then it turns to subscriptions, where "
            "cancellations are observed, with the shifted-beta-geometric model."),
        new_code_cell(
            "import warnings\n\nimport pandas as pd\n\nimport clvmodels\n"
            "from clvmodels.backtest import ModelPair\n\n"
            "tx = clvmodels.datasets.load_cdnow(\"master\")\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter(\"always\")\n"
            "    formula = clvmodels.formula_clv(tx, \"customer_id\", \"date\", \"amount\",\n"
            "                                    margin=0.3, acquisition_cost=10.0, "
            "conversion_rate=0.02)\n"
            "for w in caught:\n    print(\"warning:\", w.message)\n"
            "formula.to_series()"),
        new_markdown_cell(
            "## Why 3 years?\nIn a shop nobody says they left, so a month without a purchase "
            "is not churn. Counting it as churn is what month-to-month retention does, and "
            "it makes CDNOW customers look gone after a few weeks:"),
        new_code_cell(
            "monthly = clvmodels.kpis(tx, \"customer_id\", \"date\", \"amount\", period=\"M\")\n"
            "print(f\"mean monthly churn {monthly['churn_rate'].mean():.0%} -> lifespan "
            "{1 / monthly['churn_rate'].mean():.1f} months (wrong)\")\n"
            "monthly.head(6)"),
        new_markdown_cell(
            "clvmodels measures retention on a window that spans the purchase cycle: the "
            "share of customers active in one window who buy again in the next. CDNOW's 18 "
            "months hold less than two one-year windows, so the formula falls back to the "
            "3-year rule of thumb, with a warning. With half-year windows there is enough "
            "history; the result says how it was estimated and on how many customers:"),
        new_code_cell(
            "half = clvmodels.formula_clv(tx, \"customer_id\", \"date\", \"amount\", margin=0.3,\n"
            "                             acquisition_cost=10.0, window=182.625)\n"
            "half.lifespan, half.lifespan_source, half.clv"),
        new_markdown_cell(
            "## The models on the same data\nBG/NBD for purchases and Gamma-Gamma for spend, "
            "fitted on January-September 1997; the backtest compares their predictions of "
            "the next 39 weeks with the formula baseline's (which uses the same lifespan "
            "estimator as `formula_clv`)."),
        new_code_cell(
            "with warnings.catch_warnings():\n"
            "    warnings.simplefilter(\"ignore\")\n"
            "    result = clvmodels.backtest(\n"
            "        tx, \"customer_id\", \"date\", \"amount\", calibration_period_end=\"1997-09-30\",\n"
            "        time_unit=\"W\", models={\n"
            "            \"baseline\": ModelPair(clvmodels.BaselineModel()),\n"
            "            \"bgnbd\": ModelPair(clvmodels.BetaGeoModel(),\n"
            "                               clvmodels.GammaGammaModel("
            "nonpositive_spend=\"exclude\"))})\n"
            "result.leaderboard().round(3).T"),
        new_code_cell("result.winners()"),
        new_markdown_cell(
            "Here the backtest supports BG/NBD + Gamma-Gamma on the error metrics (MAE, RMSE, "
            "bias), while the formula baseline ranks customers about as well. "
            "Where they disagree: the formula gives every customer the same lifespan, so it "
            "over-predicts for the many one-time buyers who have long gone and under-predicts "
            "for the loyal ones; BG/NBD's P(alive) separates them. The lifecycle stages show "
            "the same split with simple rules (each customer's own purchase rhythm):"),
        new_code_cell(
            "before = clvmodels.stages_at(tx, \"customer_id\", \"date\", \"1997-09-30\")\n"
            "after = clvmodels.stages_at(tx, \"customer_id\", \"date\", \"1998-06-30\")\n"
            "clvmodels.stage_migration(before, after)"),
        new_markdown_cell(
            "## Subscriptions: the shifted-beta-geometric model\nFader & Hardie (2007) "
            "publish the survivors of two cohorts of 1,000 subscribers. We fit on years 0-7 "
            "and forecast years 8-12. A constant churn (lifespan = 1 / churn) misses that "
            "retention rises as the likely leavers go first."),
        new_code_cell(
            "regular = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]\n"
            "sbg = clvmodels.ShiftedBetaGeoModel().fit(regular[:8])\n"
            "years = range(8, 13)\n"
            "churn = 1 - regular[7] / regular[6]  # the last observed year's churn\n"
            "pd.DataFrame({\"published\": regular[8:],\n"
            "              \"sBG\": (1000 * sbg.survival_curve(years)).round().to_numpy(),\n"
            "              \"constant churn\": [round(regular[7] * (1 - churn) ** (t - 7)) "
            "for t in years]},\n"
            "             index=pd.Index(years, name=\"year\"))"),
        new_code_cell(
            "sbg.retention_curve(range(1, 13)).round(3).to_frame().T"),
        new_markdown_cell(
            "The value of a new subscriber paying 100 a year, discounted at 10%, with a 90% "
            "interval from the parameters' uncertainty; and of the subscribers still active:"),
        new_code_cell(
            "print(sbg.customer_lifetime_value(payment=100.0, discount_rate=0.1, "
            "interval=0.9, random_state=0))\n"
            "subs = pd.DataFrame({\"t\": [1, 4, 7], \"churned\": [0, 0, 0]})\n"
            "sbg.customer_lifetime_value(subs, payment=100.0, discount_rate=0.1, "
            "interval=0.9, random_state=0)"),
    ],
    "06_messy_retail_logs.ipynb": [
        new_markdown_cell(
            "# Cleaning a real shop's invoice log\n\n"
            "Shop exports are messy: cancelled invoices, returns weeks later, lines "
            "exported twice, free gifts at price 0, guest orders without a customer id, "
            "a few wholesale buyers. clvmodels never cleans silently: each rule is an "
            "option, and each option counts what it did. We build a small log with all of "
            "these problems."),
        new_code_cell(
            "import numpy as np\nimport pandas as pd\n\nimport clvmodels\n"
            "from clvmodels.data import excluded_customers\n\n"
            "rng = np.random.default_rng(7)\nrows = []\n"
            "for c in range(300):\n"
            "    days = np.sort(rng.choice(360, size=rng.integers(1, 6), replace=False))\n"
            "    scale = 1000 if c < 3 else 1  # three wholesale buyers\n"
            "    for k, day in enumerate(days):\n"
            "        invoice = f\"{c}-{k}\"\n"
            "        for line in range(rng.integers(1, 4)):\n"
            "            rows.append((f\"C{c:04d}\", invoice, f\"S{line}\", day,\n"
            "                         round(rng.gamma(2.0, 8.0), 2) * scale))\n"
            "        if rng.random() < 0.1:  # a free gift\n"
            "            rows.append((f\"C{c:04d}\", invoice, \"GIFT\", day, 0.0))\n"
            "    if rng.random() < 0.2:  # the first invoice is cancelled a few days later\n"
            "        first = [r for r in rows if r[1] == f\"{c}-0\"]\n"
            "        rows.append((f\"C{c:04d}\", f\"{c}-0\", \"CANCEL\", days[0] + 3,\n"
            "                     -round(sum(r[4] for r in first), 2)))\n"
            "    if rng.random() < 0.1:  # a return without invoice, later\n"
            "        rows.append((f\"C{c:04d}\", None, \"RETURN\", days[-1] + 5, -5.0))\n"
            "rows += [(None, \"guest\", \"S0\", d, 12.5) for d in range(0, 360, 40)]\n"
            "log = pd.DataFrame(rows, columns=[\"customer_id\", \"invoice\", \"stock_code\", "
            "\"day\", \"amount\"])\n"
            "log[\"date\"] = pd.Timestamp(\"2024-01-01\") + pd.to_timedelta(log[\"day\"], unit=\"D\")\n"
            "log = pd.concat([log, log.sample(12, random_state=1)])  # lines exported twice\n"
            "log.describe(include=\"all\").T[[\"count\", \"unique\"]]"),
        new_markdown_cell(
            "## With the defaults, the log is refused\nGuest lines have no customer id: the "
            "error counts them and names the option that drops them."),
        new_code_cell(
            "try:\n"
            "    clvmodels.rfm_summary(log, \"customer_id\", \"date\", \"amount\", returns=\"net\")\n"
            "except clvmodels.DataError as err:\n"
            "    print(err)"),
        new_markdown_cell(
            "## Clean with explicit options\n"
            "`returns=\"net\"` nets each return against the same invoice (`order_id_col`), "
            "else against the customer's most recent purchase days on or before it, in "
            "whole cents; a fully refunded day is no longer a purchase. Duplicates, zero "
            "prices and guest lines are dropped. One warning lists every count."),
        new_code_cell(
            "import warnings\n\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter(\"always\")\n"
            "    summary = clvmodels.rfm_summary(\n"
            "        log, \"customer_id\", \"date\", \"amount\", returns=\"net\", "
            "order_id_col=\"invoice\",\n"
            "        duplicates=\"drop\", zero_amounts=\"drop\", missing_ids=\"drop\")\n"
            "for w in caught:\n    print(w.message)"),
        new_markdown_cell("Every count, in the summary's `attrs`:"),
        new_code_cell("pd.Series(summary.attrs[\"exclusions\"])"),
        new_code_cell("pd.Series(summary.attrs[\"notes\"])"),
        new_markdown_cell(
            "## No customer is lost\nThe customers the summary leaves out are listed with "
            "the reason; those who bought in the calibration period keep a row in the "
            "per-customer export."),
        new_code_cell(
            "left_out = excluded_customers(summary)\n"
            "assert set(summary.index) | set(left_out.index) == set(log[\"customer_id\"].dropna())\n"
            "left_out"),
        new_markdown_cell(
            "The wholesale buyers are kept but flagged: their `monetary_value` is far above "
            "everyone else's and would dominate the Gamma-Gamma spend model."),
        new_code_cell(
            "threshold = summary.attrs[\"notes\"][\"extreme_monetary_threshold\"]\n"
            "summary[summary[\"monetary_value\"] > threshold]"),
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
