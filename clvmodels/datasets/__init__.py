"""Data sets bundled with clvmodels (no network needed).

CDNOW: the purchases of CDs by the cohort of 23,570 customers who first bought at
the CDNOW online shop in the first quarter of 1997, followed until the end of June
1998 (Fader & Hardie). ``"sample"`` is the 1/10th sample of 2,357 customers used in
the papers.

Donations: the repeat donations of the 11,104 people who first donated to a
non-profit in 1995, per year 1996-2001, compressed into 22 rows with counts
(Fader, Hardie & Shang 2010, the BG/BB paper; the same file ships with lifetimes).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["load_cdnow", "load_donations"]

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


def load_donations() -> pd.DataFrame:
    """The donations summary of Fader, Hardie & Shang (2010), for the BG/BB model.

    Returns
    -------
    pandas.DataFrame
        22 rows, columns ``frequency`` (years 1996-2001 with a donation),
        ``recency`` (the last such year, 1 = 1996, 0 if none), ``n_periods`` (6)
        and ``weights`` (the number of donors with that history; 11,104 in all).

    Examples
    --------
    >>> from clvmodels.datasets import load_donations
    >>> rows = load_donations()
    >>> rows.shape, int(rows["weights"].sum())
    ((22, 4), 11104)
    """
    with resources.as_file(resources.files(__name__).joinpath("donations.csv")) as file:
        frame = pd.read_csv(file)
    return frame.rename(columns={"periods": "n_periods"})
