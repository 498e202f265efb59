"""Retention's history bits: a month's day mask reduced to the last active day of each ISO week
within that month (decision 0017 step 3; docs/performance-dashboard.md, *`retention` in the
month grain*).

Retention needs, per visitor, its cohort week and the weeks it came back in; a week split by a
month boundary is two fragments, each kept by its last active day, so that a row's four hist
columns give the cohort week and active weeks of the four months before its own. A day is kept
when no later active day of the same mask falls in its ISO week (weeks start on Monday): a
function of the month's mask alone, so the carry holds the reduced masks of the months it
remembers and the next build shifts them by one.
"""

from __future__ import annotations

from datetime import date

import numpy as np


def week_fragments(month: date) -> list[int]:
    """The bits (bit d-1: day d) of each ISO week's days within ``month``, in order."""
    if month.day != 1:
        raise ValueError(f"{month} is not a month's first day")
    next_month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    days = (next_month - month).days
    offset = month.weekday()  # 0: the month starts on a Monday
    fragments: dict[int, int] = {}
    for i in range(days):
        week = (i + offset) // 7
        fragments[week] = fragments.get(week, 0) | (1 << i)
    return list(fragments.values())


def last_of_weeks(masks: np.ndarray, month: date) -> np.ndarray:
    """Each of ``masks`` (int32, bits 0-30 the days of ``month``) reduced to its highest set
    bit within each ISO-week fragment of the month."""
    masks = np.asarray(masks, dtype=np.int64)
    out = np.zeros(masks.shape, dtype=np.int64)
    for fragment in week_fragments(month):
        part = masks & fragment
        # floor(log2(part)) from the float's exponent: exact, part < 2**31
        exponent = np.frexp(part.astype(np.float64))[1] - 1
        out |= np.where(part > 0, np.left_shift(np.int64(1), np.maximum(exponent, 0).astype(np.int64)), 0)
    return out.astype(np.int32)
