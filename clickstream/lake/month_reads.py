"""How a panel reads the month rows (``rollup_visitor_months``; decision 0017 step 3), written
once as catalog placeholders (clickstream/lake/catalog.py) for the SQL files.

A panel's distinct visitors of [date_from, date_to] with a value are the sum of two arms:

* **The month arm**, through ``U``: the least of ``:date_to``, ``:months_through`` (how far the
  month rows are right) and ``:rolled_through`` (which the dashboard caps for a running period and
  pins to nothing for a filtered view: both reach the month arm through it). The month rows of
  the months overlapping [date_from, U] with a day of that range and ``prev`` NULL or before
  date_from are each one visitor, counted in the first month of the range it is active in:
  ``@month_rows_<dim>``, a derived table of the dimension's value columns (``FROM
  @month_rows_browser AS mr``). A range within one month tests the mask; a longer one reads one
  day column of each month instead (``_rows``). ``prev`` looks back LOOKBACK_MONTHS, so this is
  exact when [date_from, U] spans at most LOOKBACK_MONTHS + 1 calendar months; a longer range
  has no month arm (U is the day before date_from).
* **The later days**, after U (``dt > @months_upto``): the visitor-day rows the panel read before
  (day rollups to rolled_through, raw events after), each visitor counted unless a month row of
  its value has a day in [date_from, U] (an anti-join on the key, ``@month_seen``), guarded by
  ``@month_later`` (the range has days after U), so that a range ended by U reads no key of the
  month rows.

``@month_seen`` picks the mask of people or of all rows by ``:include_bots``;
``@month_seen_all`` takes all rows (bot_traffic), ``@month_seen_people`` people rows (a scan of
one flavour, under its own ``:include_bots`` arm). They name the month table's columns
unqualified (``month``, ``mask_*``), which no other table of a panel has, so they read the month
table's row in a correlated subquery too. ``@month_seen`` is a conjunction: write it after AND,
never after OR or NOT. Every parameter stays in a WHERE clause (Athena binds them only there).

U is therefore written out wherever it is used, two thirds of the dashboard page's SQL. DuckDB
binds parameters anywhere and binds a statement again at every run, so the local engine binds U
itself: ``with_upto`` puts the parameter ``:month_upto`` in U's place, its value ``upto`` computed
from the same values as U's SQL (tests/unit/test_month_upto.py checks the two agree), and leaves
out the scans of ``@month_rows_<dim>`` that the range cannot keep (``cases_of``; Athena plans them
to nothing itself once the values are bound, DuckDB binds and plans all it is given).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Mapping

from chalicelib.lake.month.dimensions import DIMENSIONS, LOOKBACK_MONTHS, TABLE, Dimension
from clickstream.lake import translate

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


ALL_CASES = (0, 1, 2, 3)  # _rows' scans: one month; date_from's month; months between; U's month


def cases_of(first: date, last: date) -> tuple[int, ...]:
    """Of ``_rows``' four scans, those whose WHERE a range [first, last] (last: U) can keep: the
    others select no row for it whatever the rows hold, since each case names where the row's
    month lies against the range's first and last months. A range within one month, or U before
    date_from (the first case's own guard then keeps nothing), keeps the first alone."""
    months = (last.year * 12 + last.month) - (first.year * 12 + first.month)
    if months <= 0:
        return (0,)
    return (1, 2, 3) if months > 1 else (1, 3)


@lru_cache(maxsize=None)  # 13 dimensions x a few kept sets; the catalog asks for each at every expansion
def _rows(dim: Dimension, kept: tuple[int, ...] = ALL_CASES) -> str:
    """``@month_rows_<dim>``: the month arm's rows of ``dim`` as a derived table of its value
    columns (``one`` for ``overall``), each row one visitor of [date_from, U] with its value (a
    day in the range, ``prev`` NULL or before date_from), told by where the row's month lies in
    the range. A range within one month reads the mask; a longer one reads one day column of
    each month instead of its mask: the last day (from date_from) in date_from's month, the first
    day (up to U) in U's, any day in the months between. One scan per case, each under a WHERE
    that only a range of that case keeps (Athena plans the others to nothing, as the bill
    estimate prunes them), because a scan reads every column it names in every file it reads.
    ``bot`` rows count all days."""
    flavour = (lambda c: f"{c}_all") if dim.bots_only else (lambda c: _FLAVOURED.format(column=c))
    columns = ", ".join(dim.value_names) or "1 AS one"
    head, tail = f"date_format({_FROM}, '%Y-%m')", f"date_format({_UPTO}, '%Y-%m')"
    scan = f"SELECT {columns} FROM {TABLE} WHERE app_id = :app_id AND dim = '{dim.name}' AND {_first(flavour('prev'))}"
    # U before date_from (nothing rolled up in the range, or no month arm): the first case needs
    # its own guard, the others find head >= tail
    days = f"CAST(power(2, day_of_month({_UPTO})) - power(2, day_of_month({_FROM}) - 1) AS bigint)"
    scans = (  # as ALL_CASES names them
        f"month = {head} AND month = {tail} AND {_UPTO} >= {_FROM} AND bitwise_and({flavour('mask')}, {days}) <> 0",
        f"month = {head} AND month < {tail} AND {flavour('last_day')} >= day_of_month({_FROM})",
        f"month > {head} AND month < {tail} AND {flavour('first_day')} IS NOT NULL",
        f"month = {tail} AND month > {head} AND {flavour('first_day')} <= day_of_month({_UPTO})",
    )
    return "(" + " UNION ALL ".join(f"{scan} AND {scans[i]}" for i in kept) + ")"


def placeholders() -> dict[str, str]:
    """The month arm's placeholders and their SQL (the module docstring says what each means)."""
    return {
        **{f"month_rows_{dim.name}": _rows(dim) for dim in DIMENSIONS},
        "months_upto": _UPTO_TEXT,
        "month_seen": _seen(_FLAVOURED.format(column="mask")),
        "month_seen_all": _seen("mask_all"),
        "month_seen_people": _seen("mask_people"),
        # in the later arm's anti-join: the range has days after U. A constant once the values are
        # bound, so an ended range (U = date_to) reads no month row for it (Trino folds the
        # subquery to nothing; clickstream.lake.billing prunes every month partition).
        "month_later": f"{_UPTO_TEXT} < :date_to",
    }


UPTO_PARAMETER = "month_upto"


def upto(values: Mapping[str, Any]) -> str | None:
    """U as its SQL computes it from ``values`` (YYYY-MM-DD); None when one of them is not a day."""
    try:
        first = date.fromisoformat(str(values["date_from"]))
        last = min(date.fromisoformat(str(values[name])) for name in ("date_to", "months_through", "rolled_through"))
        if (last.year * 12 + last.month) - (first.year * 12 + first.month) <= LOOKBACK_MONTHS:
            return last.isoformat()
        return (first - timedelta(days=1)).isoformat()
    except (KeyError, ValueError, OverflowError):
        return None


def with_upto(sql: str, values: Mapping[str, Any], prune: bool = True) -> tuple[str, dict[str, Any]]:
    """For an engine that binds parameters anywhere (DuckDB): ``sql`` with U's expression in the
    parameter ``:month_upto``'s place, bound to ``upto(values)``, and without the values it no
    longer names; with ``prune``, the scans of each ``@month_rows_<dim>`` that the range cannot
    keep left out (``cases_of``), as Athena plans them to nothing once it has bound the values
    (DuckDB binds and plans every scan it is given, at every run). The same answers otherwise
    (the page's SQL: 276 KB -> 76 KB for a range over two months). Unchanged when ``sql`` has no
    U or the values have no U."""
    value = upto(values) if _UPTO in sql else None
    if value is None:
        return sql, dict(values)
    kept = cases_of(date.fromisoformat(str(values["date_from"])), date.fromisoformat(value)) if prune else ALL_CASES
    if kept != ALL_CASES:
        for dim in DIMENSIONS:
            sql = sql.replace(_rows(dim), _rows(dim, kept))
    bound = sql.replace(_UPTO, f"CAST(:{UPTO_PARAMETER} AS date)")
    names = set(translate.parameter_names(bound))
    return bound, {**{k: v for k, v in values.items() if k in names}, UPTO_PARAMETER: value}
