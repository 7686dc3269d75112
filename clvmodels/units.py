"""Time units: the single definition used by every clvmodels module.

A summary's recency and ``T``, a model's rates, a CLV horizon and a discount
rate's period are all expressed in one of these units. A month is 30.4375 days
(365.25 / 12) and a year 365.25 days; there are no hidden 30-day months.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TIME_UNIT", "TIME_UNITS", "convert", "normalize_unit", "unit_days"]

#: The time unit every clvmodels entry point uses when none is given: weeks, in
#: Python (``rfm_summary``, ``backtest``, ``run_pipeline``) and in every CLI
#: command (``--time-unit``). Weeks are the unit of the literature's CDNOW figures
#: (Fader, Hardie & Lee 2005), so published parameters compare directly.
DEFAULT_TIME_UNIT = "W"

#: Length of each unit in days.
TIME_UNITS: dict[str, float] = {
    "h": 1.0 / 24.0,
    "D": 1.0,
    "W": 7.0,
    "M": 365.25 / 12.0,
    "Y": 365.25,
}

_ALIASES = {
    "h": "h", "hour": "h", "hours": "h", "H": "h",
    "D": "D", "d": "D", "day": "D", "days": "D",
    "W": "W", "w": "W", "week": "W", "weeks": "W",
    "M": "M", "month": "M", "months": "M",
    "Y": "Y", "y": "Y", "year": "Y", "years": "Y",
}


def normalize_unit(unit: str) -> str:
    """Return the canonical code (``h, D, W, M, Y``) of a time unit.

    Long names (``"weeks"``) are accepted. A lower-case ``"m"`` is refused because it
    could mean minutes or months.
    """
    try:
        return _ALIASES[unit]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown time unit {unit!r}: use one of 'h' (hour), 'D' (day), "
            "'W' (week), 'M' (month = 30.4375 days) or 'Y' (year = 365.25 days)."
        ) from None


def unit_days(unit: str) -> float:
    """Length of ``unit`` in days."""
    return TIME_UNITS[normalize_unit(unit)]


def convert(value, from_unit: str, to_unit: str):
    """Convert a duration (scalar or array) from one unit to another."""
    return value * (unit_days(from_unit) / unit_days(to_unit))
