"""clvmodels: customer lifetime value from transaction logs.

transactions -> :func:`rfm_summary` -> models -> predictions -> backtest, report, export.
"""

from . import datasets
from .data import read_transactions, rfm_summary
from .exceptions import ConvergenceError, DataError, NotFittedError

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError",
    "DataError",
    "NotFittedError",
    "datasets",
    "read_transactions",
    "rfm_summary",
]
