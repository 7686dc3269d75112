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
    ],
    "02_backtest.ipynb": [
        new_markdown_cell(
            "# Which model should I trust? A backtest on held-out time\n\n"
            "Every model is fitted on January-September 1997 and predicts the next 39 "
            "weeks; the predictions are compared with what the customers really did."),
        new_code_cell(
            "import tempfile\nfrom pathlib import Path\n\nimport clvmodels\n\n"
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
