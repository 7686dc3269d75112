"""Data sets bundled with clvmodels (no network needed).

CDNOW: the purchases of CDs by the cohort of 23,570 customers who first bought at
the CDNOW online shop in the first quarter of 1997, followed until the end of June
1998 (Fader & Hardie). ``"sample"`` is the 1/10th sample of 2,357 customers used in
the papers.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_cdnow"]

_FILES = {"sample": "CDNOW_sample.txt.gz", "master": "CDNOW_master.txt.gz"}


def load_cdnow(kind: str = "sample") -> pd.DataFrame:
    """Load the CDNOW transaction log.

    Parameters
    ----------
    kind
        ``"sample"`` (2,357 customers, 6,919 rows) or ``"master"`` (23,570
        customers, 69,659 rows).

    Returns
    -------
    pandas.DataFrame
        Columns ``customer_id`` (int), ``date`` (datetime64), ``quantity`` (CDs
        bought, int) and ``amount`` (dollars, float); one row per purchase record,
        several may share a day.

    Examples
    --------
    >>> from clvmodels.datasets import load_cdnow
    >>> load_cdnow("sample").shape
    (6919, 4)
    """
    if kind not in _FILES:
        raise ValueError(f"kind must be 'sample' or 'master', got {kind!r}.")
    path = resources.files(__name__).joinpath(_FILES[kind])
    if kind == "sample":
        names = ["customer_id", "sample_id", "date", "quantity", "amount"]
        header = None
    else:
        names = ["customer_id", "date", "quantity", "amount"]
        header = 0
    with resources.as_file(path) as file:
        frame = pd.read_csv(file, sep=r"\s+", header=header, names=names,
                            compression="gzip", dtype={"date": str})
    frame["date"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    return frame[["customer_id", "date", "quantity", "amount"]]
