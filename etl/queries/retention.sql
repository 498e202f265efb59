-- Retention: weekly cohorts (ISO weeks, Monday 00:00 UTC) by the week a visitor was first seen
-- in the range: of cohort_users, active_users were active week_offset weeks later (offset 0 is
-- the cohort week). A visitor active before date_from counts as new in their first week of the
-- range: start the range on the lake's first day (or use the retention view) for lifetime cohorts.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Through U (the month rows' last day, clickstream/lake/month_reads.py) the visitors are counted
-- without a key from the overall month rows (rollup_visitor_months): a row of month M has the
-- visitor's days of M (mask) and, in hist1..hist4, its days of the four months before, each
-- reduced to the last active day of each ISO week within its month (chalicelib/lake/month/weeks.py).
-- So a row knows its visitor's cohort week (the week of its first day from date_from: the first
-- hist day from date_from, oldest month first, else the first day of its own mask) and counts
-- the weeks of its mask's days in [date_from, U], less M's first week when that week began in
-- M - 1 and hist1 has a day of it from date_from (the row of M - 1 counts it). The k-th month of
-- the range reads hist1..hist{k} only (the months before it that are in the range), so a month
-- file is read with only the hist columns it needs. The days after U are read from the
-- visitor-day rows (the day rollups up to :rolled_through, raw events after): a later visitor's
-- cohort is its first day through U if the month rows have one (a key lookup, made only when the
-- range has days after U), else its first later week; a later week counts unless it is the week
-- of its last day through U (the month rows counted it). The answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*). Visitors are told apart by visitor_key
-- (docs/decisions/0015-visitor-key.md).
WITH
month_rows AS (
  -- the overall rows of the range's months through U, as (month, mask, hist) patterns; the mask
  -- and hist of people or of all rows (:include_bots; each arm read only when its setting holds)
  SELECT month, mask_all AS mask, 0 AS h1, 0 AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 0, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_all
  UNION ALL
  SELECT month, mask_people AS mask, 0 AS h1, 0 AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND mask_people <> 0 AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 0, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_people
  UNION ALL
  SELECT month, mask_all AS mask, hist1_all AS h1, 0 AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 1, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_all, hist1_all
  UNION ALL
  SELECT month, mask_people AS mask, hist1_people AS h1, 0 AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND mask_people <> 0 AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 1, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_people, hist1_people
  UNION ALL
  SELECT month, mask_all AS mask, hist1_all AS h1, hist2_all AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 2, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_all, hist1_all, hist2_all
  UNION ALL
  SELECT month, mask_people AS mask, hist1_people AS h1, hist2_people AS h2, 0 AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND mask_people <> 0 AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 2, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_people, hist1_people, hist2_people
  UNION ALL
  SELECT month, mask_all AS mask, hist1_all AS h1, hist2_all AS h2, hist3_all AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 3, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_all, hist1_all, hist2_all, hist3_all
  UNION ALL
  SELECT month, mask_people AS mask, hist1_people AS h1, hist2_people AS h2, hist3_people AS h3, 0 AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND mask_people <> 0 AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 3, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_people, hist1_people, hist2_people, hist3_people
  UNION ALL
  SELECT month, mask_all AS mask, hist1_all AS h1, hist2_all AS h2, hist3_all AS h3, hist4_all AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 4, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_all, hist1_all, hist2_all, hist3_all, hist4_all
  UNION ALL
  SELECT month, mask_people AS mask, hist1_people AS h1, hist2_people AS h2, hist3_people AS h3, hist4_people AS h4, count(*) AS n
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND mask_people <> 0 AND @months_upto >= :date_from
    AND month = date_format(date_add('month', 4, date_trunc('month', CAST(:date_from AS date))), '%Y-%m') AND month <= substr(@months_upto, 1, 7)
  GROUP BY month, mask_people, hist1_people, hist2_people, hist3_people, hist4_people
),
range_months AS (
  SELECT DISTINCT CAST(concat(month, '-01') AS date) AS mo FROM month_rows
),
month_live AS (
  -- per month: the bits (bit j: day j + 1) of its days in [date_from, U]
  SELECT mo, sum(CAST(power(2, b.j) AS bigint)) AS bits
  FROM range_months
  CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
  WHERE date_add('day', b.j, mo) BETWEEN CAST(:date_from AS date) AND CAST(@months_upto AS date)
    AND month(date_add('day', b.j, mo)) = month(mo)
  GROUP BY mo
),
hist_from AS (
  -- per month M: the bits of the days from date_from of each of the four months before it
  SELECT mo,
         sum(CASE WHEN h.i = 1 THEN CAST(power(2, b.j) AS bigint) ELSE 0 END) AS from1,
         sum(CASE WHEN h.i = 2 THEN CAST(power(2, b.j) AS bigint) ELSE 0 END) AS from2,
         sum(CASE WHEN h.i = 3 THEN CAST(power(2, b.j) AS bigint) ELSE 0 END) AS from3,
         sum(CASE WHEN h.i = 4 THEN CAST(power(2, b.j) AS bigint) ELSE 0 END) AS from4
  FROM range_months
  CROSS JOIN UNNEST(sequence(1, 4)) AS h(i)
  CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
  WHERE date_add('day', b.j, date_add('month', -h.i, mo)) >= CAST(:date_from AS date)
    AND month(date_add('day', b.j, date_add('month', -h.i, mo))) = month(date_add('month', -h.i, mo))
  GROUP BY mo
),
cut AS (
  -- each pattern's days in the range: its mask's through U (live), its hist days from date_from
  SELECT l.mo, r.n, bitwise_and(CAST(r.mask AS bigint), l.bits) AS live,
         bitwise_and(CAST(r.h1 AS bigint), coalesce(f.from1, 0)) AS h1,
         bitwise_and(CAST(r.h2 AS bigint), coalesce(f.from2, 0)) AS h2,
         bitwise_and(CAST(r.h3 AS bigint), coalesce(f.from3, 0)) AS h3,
         bitwise_and(CAST(r.h4 AS bigint), coalesce(f.from4, 0)) AS h4
  FROM month_rows r
  JOIN month_live l ON l.mo = CAST(concat(r.month, '-01') AS date)
  LEFT JOIN hist_from f ON f.mo = l.mo
),
cohorted AS (
  -- the cohort week, and whether M's first week began in M - 1 with a hist1 day of it
  SELECT mo, live, sum(n) AS n,
         CAST(date_trunc('week', CASE
           WHEN h4 <> 0 THEN date_add('day', CAST(round(log2(bitwise_and(h4, -h4))) AS integer), date_add('month', -4, mo))
           WHEN h3 <> 0 THEN date_add('day', CAST(round(log2(bitwise_and(h3, -h3))) AS integer), date_add('month', -3, mo))
           WHEN h2 <> 0 THEN date_add('day', CAST(round(log2(bitwise_and(h2, -h2))) AS integer), date_add('month', -2, mo))
           WHEN h1 <> 0 THEN date_add('day', CAST(round(log2(bitwise_and(h1, -h1))) AS integer), date_add('month', -1, mo))
           ELSE date_add('day', CAST(round(log2(bitwise_and(live, -live))) AS integer), mo)
         END) AS date) AS cohort_week,
         bitwise_and(h1, CAST(
           power(2, date_diff('day', date_add('month', -1, mo), mo))
           - power(2, date_diff('day', date_add('month', -1, mo), mo) - date_diff('day', date_trunc('week', mo), mo)) AS bigint
         )) <> 0 AS first_week_before
  FROM cut
  WHERE live <> 0
  GROUP BY 1, 2, 4, 5
),
month_weeks AS (
  -- week j of M (its first ISO week, + j) holds M's days 7j - w0 .. 7j - w0 + 6 (w0: the
  -- first week's days before M)
  SELECT cohort_week, CAST(date_add('day', 7 * w.j, date_trunc('week', mo)) AS date) AS week, n
  FROM cohorted
  CROSS JOIN UNNEST(sequence(0, 5)) AS w(j)
  WHERE bitwise_and(live, CAST(floor(CAST(127 * power(2, 7 * w.j) AS double) / power(2, date_diff('day', date_trunc('week', mo), mo))) AS bigint)) <> 0
    AND NOT (w.j = 0 AND first_week_before)
),
later_days AS (
  -- the visitor-days after U
  SELECT dt, visitor_key, is_bot
  FROM rollup_visitor_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through AND dt > @months_upto
  UNION ALL
  SELECT dt, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY dt, @visitor, coalesce(is_bot, false)
),
later_weeks AS (
  SELECT DISTINCT visitor_key, CAST(date_trunc('week', CAST(dt AS date)) AS date) AS week
  FROM later_days
  WHERE :include_bots OR NOT is_bot
),
seen_through AS (
  -- a later visitor's first and last day in [date_from, U] in the month rows (the key lookup)
  SELECT m.visitor_key, min(date_add('day', b.j, CAST(concat(m.month, '-01') AS date))) AS first_day,
         max(date_add('day', b.j, CAST(concat(m.month, '-01') AS date))) AS last_day
  FROM (
    SELECT month, visitor_key, mask_all AS mask
    FROM rollup_visitor_months
    WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @month_later AND @month_seen_all
      AND visitor_key IN (SELECT visitor_key FROM later_weeks)
    UNION ALL
    SELECT month, visitor_key, mask_people AS mask
    FROM rollup_visitor_months
    WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND @month_later AND @month_seen_people
      AND visitor_key IN (SELECT visitor_key FROM later_weeks)
  ) m
  CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
  WHERE bitwise_and(m.mask, CAST(power(2, b.j) AS bigint)) <> 0
    AND date_add('day', b.j, CAST(concat(m.month, '-01') AS date)) BETWEEN CAST(:date_from AS date) AND CAST(@months_upto AS date)
  GROUP BY m.visitor_key
),
later_counted AS (
  SELECT coalesce(CAST(date_trunc('week', s.first_day) AS date), min(t.week) OVER (PARTITION BY t.visitor_key)) AS cohort_week,
         t.week
  FROM later_weeks t
  LEFT JOIN seen_through s ON s.visitor_key = t.visitor_key
  WHERE s.last_day IS NULL OR t.week > CAST(date_trunc('week', s.last_day) AS date)
),
counts AS (
  SELECT cohort_week, week, CAST(sum(n) AS bigint) AS active_users
  FROM (
    SELECT cohort_week, week, n FROM month_weeks
    UNION ALL
    SELECT cohort_week, week, 1 AS n FROM later_counted
  ) a
  GROUP BY cohort_week, week
),
sized AS (
  SELECT
    cohort_week,
    week,
    active_users,
    max(CASE WHEN week = cohort_week THEN active_users END) OVER (PARTITION BY cohort_week) AS cohort_users
  FROM counts
)
SELECT
  cohort_week,
  date_diff('week', cohort_week, week) AS week_offset,
  cohort_users,
  active_users,
  CAST(active_users AS double) / cohort_users AS retention
FROM sized
ORDER BY cohort_week, week_offset
