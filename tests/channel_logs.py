"""Transaction logs of two kinds of customers, for the tests of covariate models.

Web buyers (ids ``0 .. n - 1``) purchase about four times as often as shop buyers
(ids ``n .. 2n - 1``): BG/NBD with alpha 2 against 8, the same r, dropout and
Gamma-Gamma spend, so a purchase covariate "web" has the coefficient log 4.
"""

from __future__ import annotations

import pandas as pd

from clvmodels import simulate

SPEND = {"p": 6.0, "q": 4.0, "v": 15.0}


def two_channel_log(n: int, weeks: float, seeds: tuple[int, int] = (1, 2),
                    shuffle: bool = True) -> pd.DataFrame:
    """The log of ``n`` web and ``n`` shop buyers observed for ``weeks`` weeks, daily
    timestamps, amounts rounded to cents; ``shuffle``: rows in random order."""
    web = simulate.beta_geo(n, 0.8, 2.0, 0.6, 3.0, observation_length=weeks, time_unit="W",
                            spend=SPEND, resolution="D", random_state=seeds[0])
    shop = simulate.beta_geo(n, 0.8, 8.0, 0.6, 3.0, observation_length=weeks, time_unit="W",
                             spend=SPEND, resolution="D", random_state=seeds[1])
    shop = shop.assign(customer_id=shop["customer_id"] + n)
    log = pd.concat([web, shop], ignore_index=True)
    if shuffle:
        log = log.sample(frac=1.0, random_state=0)
    log["amount"] = log["amount"].round(2)
    return log
