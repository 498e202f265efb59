"""How a panel reads the month rows (``rollup_visitor_months``; decision 0017 step 3), written
once as catalog placeholders (clickstream/lake/catalog.py) for the SQL files.

A panel's distinct visitors of [date_from, date_to] with a value are the sum of two arms:

* **The month arm**, through ``U``: the least of ``:date_to``, ``:months_through`` (how far the
  month rows are right) and ``:rolled_through`` (which the dashboard caps for a running period and
  pins to nothing for a filtered view: both reach the month arm through it). The month rows of
  the months overlapping [date_from, U] with a day of that range in their mask (``@month_seen``)
  and ``prev`` NULL or before date_from (``@month_first``) are each one visitor, counted in the
  first month of the range it is active in. ``prev`` looks back LOOKBACK_MONTHS, so this is exact
  when [date_from, U] spans at most LOOKBACK_MONTHS + 1 calendar months; a longer range has no
  month arm (U is the day before date_from).
* **The later days**, after U (``dt > @months_upto``): the visitor-day rows the panel read before
  (day rollups to rolled_through, raw events after), each visitor counted unless a month row of
  its value has a day in [date_from, U] (an anti-join on the key, ``@month_seen`` again).

``@month_later`` (the range has days after U) guards the anti-join, so that a range ended by U
reads no key of the month rows.
``@month_seen`` and ``@month_first`` pick the mask and prev of people or of all rows by
``:include_bots``; ``@month_seen_all`` and ``@month_first_all`` take all rows (bot_traffic),
``@month_seen_people`` people rows (a scan of one flavour, under its own ``:include_bots`` arm). They
name the month table's columns unqualified (``month``, ``mask_*``, ``prev_*``), which no other
table of a panel has, so they read the month table's row in a correlated subquery too.
``@month_seen`` is a conjunction: write it after AND, never after OR or NOT. Every parameter
stays in a WHERE clause (Athena binds them only there).
"""

from __future__ import annotations

from chalicelib.lake.month.dimensions import LOOKBACK_MONTHS

_FROM = "CAST(:date_from AS date)"
_LAST = "least(CAST(:date_to AS date), CAST(:months_through AS date), CAST(:rolled_through AS date))"
# U: _LAST while [date_from, _LAST] spans at most LOOKBACK_MONTHS + 1 calendar months, else the
# day before date_from (no month arm)
_UPTO = (
    f"CASE WHEN (year({_LAST}) * 12 + month({_LAST})) - (year({_FROM}) * 12 + month({_FROM})) <= {LOOKBACK_MONTHS} "
    f"THEN {_LAST} ELSE date_add('day', -1, {_FROM}) END"
)
_UPTO_TEXT = f"date_format({_UPTO}, '%Y-%m-%d')"  # U as a dt partition value
_FIRST_DAY = "CAST(concat(month, '-01') AS date)"  # the row's month (a partition value, YYYY-MM)
_FLAVOURED = "CASE WHEN :include_bots THEN {column}_all ELSE {column}_people END"


def _seen(mask: str) -> str:
    """The row's month overlaps [date_from, U] and its mask (bit d-1: day d) has a day in it."""
    lo = f"greatest(0, date_diff('day', {_FIRST_DAY}, {_FROM}))"
    hi = f"least(30, date_diff('day', {_FIRST_DAY}, {_UPTO}))"
    # three conjuncts, not one parenthesized: the first alone prunes the month partitions
    return (
        f"month BETWEEN date_format({_FROM}, '%Y-%m') AND date_format({_UPTO}, '%Y-%m') AND {_UPTO} >= {_FROM} "
        f"AND bitwise_and({mask}, CAST(power(2, {hi} + 1) - power(2, {lo}) AS bigint)) <> 0"
    )


def _first(prev: str) -> str:
    """The row's visitor had no day with its value before date_from (within the lookback): the
    row's month is the first of the range it is active in."""
    return f"({prev} IS NULL OR {prev} < {_FROM})"


def placeholders() -> dict[str, str]:
    """The month arm's placeholders and their SQL (the module docstring says what each means)."""
    return {
        "months_upto": _UPTO_TEXT,
        "month_seen": _seen(_FLAVOURED.format(column="mask")),
        "month_seen_all": _seen("mask_all"),
        "month_seen_people": _seen("mask_people"),
        "month_first": _first(_FLAVOURED.format(column="prev")),
        "month_first_all": _first("prev_all"),
        # in the later arm's anti-join: the range has days after U. A constant once the values are
        # bound, so an ended range (U = date_to) reads no month row for it (Trino folds the
        # subquery to nothing; clickstream.lake.billing prunes every month partition).
        "month_later": f"{_UPTO_TEXT} < :date_to",
    }
