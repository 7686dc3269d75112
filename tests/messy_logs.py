"""Messy invoice logs with a known clean truth, for the cleaning rules of rfm_summary.

:func:`messy_log` builds the kind of log an online shop exports: orders
(invoices) of several lines, cancellations that reference an earlier invoice on a
later day, returns on later days without an invoice, full refunds, exact
duplicate lines, zero prices, lines without a customer id and a few wholesale
customers. Alongside it, the truth: the clean purchase days (one row per customer
and day with the net amount) and what each cleaning rule must count.

The events are built so that the documented rule has one obvious answer: every
customer has at most one invoice per day; a cancellation takes at most what is
left of its invoice; a return without an invoice takes at most what is left of
the customer's most recent purchase day on or before it; a customer has at most
one return or cancellation per day. Returns dated before the customer's first
purchase match nothing and are counted as unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")
N_DAYS = 360


@dataclass
class Truth:
    """The clean log and what each rule must count."""

    days: pd.DataFrame  # customer_id, date (day), amount: the net purchase days
    observation_end: pd.Timestamp
    duplicate_rows: int = 0
    zero_rows: int = 0
    missing_id_rows: int = 0
    days_cancelled: int = 0
    netted_by_order_cents: int = 0
    netted_by_day_cents: int = 0
    return_rows_netted: int = 0
    return_rows_unmatched: int = 0
    unmatched_cents: int = 0
    reasons: dict = field(default_factory=dict)  # customer id -> reason of exclusion
    wholesale: list = field(default_factory=list)
    first_row_day: dict = field(default_factory=dict)  # customer id -> first day of any row


def messy_log(seed: int, n_customers: int = 40) -> tuple[pd.DataFrame, Truth]:
    """A messy invoice log and its truth (amounts in whole cents, dates with times)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    truth_days: dict[tuple[str, int], int] = {}  # (customer, day) -> cents left
    truth = Truth(days=pd.DataFrame(), observation_end=START + pd.Timedelta(days=N_DAYS - 1))
    invoice_no = iter(range(100_000, 10_000_000))

    def add(cid, day, invoice, line, cents):
        seconds = int(rng.integers(0, 86_400))
        rows.append({"customer_id": cid, "invoice": invoice, "stock_code": f"S{line:03d}",
                     "date": START + pd.Timedelta(days=int(day), seconds=seconds),
                     "amount": cents / 100})

    customers = [f"C{k:05d}" for k in rng.choice(90_000, size=n_customers, replace=False)]
    n_wholesale = int(rng.integers(1, 4))
    truth.wholesale = customers[:n_wholesale]
    for k, cid in enumerate(customers):
        scale = 1000 if k < n_wholesale else 1
        n_orders = int(rng.integers(2, 9)) if k < n_wholesale else int(rng.integers(1, 7))
        order_days = np.sort(rng.choice(np.arange(20, N_DAYS), size=n_orders, replace=False))
        buckets = []  # [day, invoice, cents left], one invoice per day
        for day in order_days:
            invoice = f"{next(invoice_no)}"
            total = 0
            for line in range(int(rng.integers(1, 4))):
                cents = int(round(rng.lognormal(np.log(1500), 0.3))) * scale
                add(cid, day, invoice, line, cents)
                total += cents
            buckets.append([int(day), invoice, total])
            if rng.random() < 0.15:  # a zero-price line (a free gift) on the invoice
                add(cid, day, invoice, 90, 0)
                truth.zero_rows += 1
        # Cancellations (same invoice, later day) and returns (no invoice, later day).
        n_events = int(rng.integers(0, 3)) if rng.random() < 0.6 else 0
        event_days: set[int] = set()
        for _ in range(n_events):
            b = buckets[int(rng.integers(len(buckets)))]
            day = int(b[0] + rng.integers(0, 25))
            if day >= N_DAYS or day in event_days:
                continue
            event_days.add(day)
        for day in sorted(event_days):
            by_invoice = rng.random() < 0.5
            if by_invoice:
                open_ = [b for b in buckets if b[0] <= day and b[2] > 0]
                if not open_:
                    continue
                target = open_[int(rng.integers(len(open_)))]
            else:
                open_ = [b for b in buckets if b[0] <= day and b[2] > 0]
                if not open_:
                    continue
                target = max(open_, key=lambda b: b[0])
            full = rng.random() < 0.4
            cents = target[2] if full else int(rng.integers(1, target[2] + 1))
            # The return may come as one or two lines.
            split = [cents] if cents < 2 or rng.random() < 0.7 else [cents // 2, cents - cents // 2]
            for j, part in enumerate(split):
                add(cid, day, target[1] if by_invoice else None, 50 + j, -part)
            target[2] -= cents
            truth.return_rows_netted += len(split)
            if by_invoice:
                truth.netted_by_order_cents += cents
            else:
                truth.netted_by_day_cents += cents
        # A return before the first purchase: nothing to net it against.
        if rng.random() < 0.1:
            cents = int(rng.integers(100, 5000))
            add(cid, int(rng.integers(0, order_days[0])), None, 70, -cents)
            truth.return_rows_unmatched += 1
            truth.unmatched_cents += cents
        for day, _, left in buckets:
            if left > 0:
                truth_days[(cid, day)] = left
            else:
                truth.days_cancelled += 1
        if all(left == 0 for _, _, left in buckets):
            truth.reasons[cid] = "all purchases cancelled by returns"

    # A customer with only returns, one with only zero prices.
    for cid, reason, cents in (("R00001", "only returns, no purchase", -1234),
                               ("Z00001", "no purchase left after dropping zero amounts", 0)):
        add(cid, int(rng.integers(0, N_DAYS)), None, 1, cents)
        truth.reasons[cid] = reason
        if cents < 0:
            truth.return_rows_unmatched += 1
            truth.unmatched_cents += -cents
        else:
            truth.zero_rows += 1

    log = pd.DataFrame(rows)
    log["customer_id"] = log["customer_id"].astype(object)
    log["invoice"] = log["invoice"].astype(object)
    truth.first_row_day = (log.groupby("customer_id")["date"].min().dt.floor("D")).to_dict()

    # Lines without a customer id (guest checkouts) and exact duplicates.
    n_missing = int(rng.integers(1, 6))
    guests = pd.DataFrame({
        "customer_id": [None] * n_missing,
        "invoice": [f"G{next(invoice_no)}" for _ in range(n_missing)],
        "stock_code": ["S001"] * n_missing,
        "date": [START + pd.Timedelta(days=int(d)) for d in rng.integers(0, N_DAYS, n_missing)],
        "amount": rng.integers(100, 9000, n_missing) / 100,
    })
    truth.missing_id_rows = n_missing
    n_dup = int(rng.integers(1, 8))
    dups = log.iloc[rng.choice(len(log), size=n_dup, replace=True)]
    truth.duplicate_rows = n_dup
    log = pd.concat([log, guests, dups], ignore_index=True)
    log = log.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)

    days = pd.DataFrame(
        [(cid, START + pd.Timedelta(days=day), cents / 100)
         for (cid, day), cents in truth_days.items()],
        columns=["customer_id", "date", "amount"])
    truth.days = days.sort_values(["customer_id", "date"]).reset_index(drop=True)
    return log, truth
