"""The visitor-month grain of decision 0017 (step 2): ``rollup_visitor_months`` and its carry,
built from the day rollups in key-range slices. Pure (tables in, tables out); the export's
housekeeping does the reading and writing.

* ``dimensions``: what the table holds, its dimensions and schemas;
* the key-range plan and the selection of a range's rows are chalicelib/lake/key_ranges.py's,
  shared with the day rebuild, which deals its slices by the same ranges;
* ``weeks``: retention's reduction of a month's days to each ISO week's last;
* ``build``: the build of one month (or one key range of it) from the carry of the month before.
"""

from chalicelib.lake.key_ranges import ALL_KEYS, KeyRange, KeyRangeError, plan_ranges, row_groups, select
from chalicelib.lake.month.build import MonthBuild, MonthInputError, add_months, build_dimension, build_month
from chalicelib.lake.month.dimensions import (
    DIMENSIONS,
    HISTORY_MONTHS,
    LOOKBACK_MONTHS,
    MONTH_SCHEMAS,
    SOURCE_COLUMNS,
    Dimension,
    carry_schema,
    month_schema,
)

__all__ = [
    "ALL_KEYS",
    "DIMENSIONS",
    "HISTORY_MONTHS",
    "LOOKBACK_MONTHS",
    "MONTH_SCHEMAS",
    "SOURCE_COLUMNS",
    "Dimension",
    "KeyRange",
    "KeyRangeError",
    "MonthBuild",
    "MonthInputError",
    "add_months",
    "build_dimension",
    "build_month",
    "carry_schema",
    "month_schema",
    "plan_ranges",
    "row_groups",
    "select",
]
