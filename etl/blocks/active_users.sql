-- Daily, weekly and monthly active users, written once: over a CTE `active` (app_id, day,
-- visitor, page_views: rows of activity; a visitor and day may repeat; a row with a NULL visitor
-- holds page views only, as the rolled-up days' keyless totals do) and a CTE `bounds`
-- (app_id, origin, until: the first and last day to count, per app; `active` holds the 29 days
-- before origin too), `daily` gives per app and day with activity in [origin, until]: dau,
-- page_views, wau and mau (distinct visitors active that day / in the 7 / 30 days ending that
-- day). Included by etl/views/daily_metrics.sql and etl/queries/daily_metrics.sql.
--
-- No sort, no window: every visitor's activity is folded into 61-bit masks, one per "word" of
-- 32 counted days (bit b of word t is day origin + 32 * t + b - 29: the word's 32 days and the
-- 29 before them; an active day sets its bit in the one or two words that hold it). Visitors with
-- the same mask count together (`patterns`: a few thousand rows), and a day's dau, wau and mau
-- are the visitors of the patterns with its bit, one of its last 7 bits, one of its last 30 set.
-- Bit masks are powers of two, exact in a double up to 2^61, so power() builds them in both engines.
-- Exact, the same answer as a per-visitor window over days (tests/unit/test_sql_blocks.py).
-- Athena engine 3 is Trino: bitwise_or_agg(bigint) -> bigint and bitwise_and(x, y) are in Trino's
-- docs (functions/aggregate, *Bitwise aggregate functions*; functions/bitwise); DuckDB's are
-- bit_or and &, which sqlglot writes for them.
offsets AS (
  SELECT a.app_id, a.visitor, date_diff('day', b.origin, a.day) AS j, date_diff('day', b.origin, b.until) AS last_j
  FROM active a
  JOIN bounds b ON b.app_id = a.app_id
  WHERE a.day BETWEEN CAST(date_add('day', -29, b.origin) AS date) AND b.until AND a.visitor IS NOT NULL
),
words AS (
  SELECT app_id, t, visitor, bitwise_or_agg(CAST(power(2, j - 32 * t + 29) AS bigint)) AS mask
  FROM (
    SELECT app_id, visitor, j, last_j, CAST(floor(CAST(j + 29 AS double) / 32) AS bigint) - back AS t
    FROM offsets
    CROSS JOIN UNNEST(ARRAY[0, 1]) AS x(back)
  ) w
  WHERE t >= 0 AND j <= 32 * t + 31 AND 32 * t <= last_j
  GROUP BY app_id, t, visitor
),
patterns AS (
  SELECT app_id, t, mask, count(*) AS visitors
  FROM words
  GROUP BY app_id, t, mask
),
counted_days AS (
  SELECT
    p.app_id,
    32 * p.t + o.k AS j,
    sum(CASE WHEN bitwise_and(p.mask, CAST(power(2, o.k + 29) AS bigint)) <> 0 THEN p.visitors ELSE 0 END) AS dau,
    sum(CASE WHEN bitwise_and(p.mask, CAST(power(2, o.k + 30) - power(2, o.k + 23) AS bigint)) <> 0 THEN p.visitors ELSE 0 END) AS wau,
    sum(CASE WHEN bitwise_and(p.mask, CAST(power(2, o.k + 30) - power(2, o.k) AS bigint)) <> 0 THEN p.visitors ELSE 0 END) AS mau
  FROM patterns p
  CROSS JOIN UNNEST(sequence(0, 31)) AS o(k)
  GROUP BY p.app_id, 32 * p.t + o.k
),
viewed AS (
  SELECT a.app_id, a.day, sum(a.page_views) AS page_views
  FROM active a
  JOIN bounds b ON b.app_id = a.app_id
  WHERE a.day BETWEEN b.origin AND b.until
  GROUP BY a.app_id, a.day
),
daily AS (
  SELECT v.app_id, v.day, c.dau, v.page_views, c.wau, c.mau
  FROM viewed v
  JOIN bounds b ON b.app_id = v.app_id
  JOIN counted_days c ON c.app_id = v.app_id AND c.j = date_diff('day', b.origin, v.day)
)
