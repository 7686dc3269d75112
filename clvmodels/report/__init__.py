"""Reports of backtests: one self-contained HTML file, plus CSV and Markdown tables.

>>> result.report("backtest.html", tables_dir="tables")      # doctest: +SKIP

:func:`write_report` writes the HTML file; :func:`report_tables` returns the
tables as DataFrames and :func:`write_tables` writes them as CSV and Markdown.
The figures (:mod:`clvmodels.report.plots`) are matplotlib ``Figure`` objects,
made without pyplot.
"""

from .html import render_report, write_report
from .tables import report_tables, write_tables

__all__ = ["render_report", "report_tables", "write_report", "write_tables"]
