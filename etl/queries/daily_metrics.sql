-- Daily metrics: one row per UTC day of the range with activity; the columns of the
-- daily_metrics view without app_id: dau, wau, mau (distinct visitors active that day /
-- in the 7 / 30 days ending that day), sessions that started that day, page_views that day,
-- bounce_rate and avg_session_duration_s of those sessions.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_totals.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Visitors: a window of w days (1, 7, 30) ending on day d counts a visitor with an active day in
-- [d - w + 1, d]. Through U (the month rows' last day, clickstream/lake/month_reads.py) they are
-- counted without a key from the month rows (rollup_visitor_months, dim overall): an active day x
-- counts the windows ending on x .. x + w - 1, from the first not counted by the visitor's active
-- day before it (the row's previous bit, or its prev), up to the day before its next one (the
-- `deltas`, summed up to each day). The days after U are counted from the visitor-day rows (the
-- day rollups, raw events after: etl/blocks/active_users.sql's day masks), less those visitors
-- whose last day through U (a key lookup, made only when the range has such days) is in the
-- window: the month rows counted them. WAU/MAU read the 29 days before the range too.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include session_totals
,
month_rows AS (
  -- The overall month rows of the months from date_from - 29 to U, the mask and prev of people
  -- or of all rows (:include_bots; each arm read only when its setting holds).
  SELECT month, mask_all AS mask, prev_all AS prev
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND :include_bots
    AND month BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m') AND substr(@months_upto, 1, 7)
  UNION ALL
  SELECT month, mask_people AS mask, prev_people AS prev
  FROM rollup_visitor_months
  WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots
    AND month BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m') AND substr(@months_upto, 1, 7)
),
month_patterns AS (
  -- days as integers from 1970-01-01 from here on
  SELECT date_diff('day', DATE '1970-01-01', CAST(concat(month, '-01') AS date)) AS mo,
         date_diff('day', DATE '1970-01-01', prev) AS pv, mask, count(*) AS n
  FROM month_rows
  WHERE mask <> 0
  GROUP BY month, prev, mask
),
month_bits AS (
  -- each pattern's active days x and the next one in its row (from the bits above x's)
  SELECT n, pv, mo + j AS x,
         CASE WHEN rest = 0 THEN NULL ELSE mo + j + 1 + CAST(round(log2(bitwise_and(rest, -rest))) AS integer) END AS next_x
  FROM (
    SELECT p.n, p.pv, p.mo, b.j, CAST(floor(CAST(p.mask AS double) / power(2, b.j + 1)) AS bigint) AS rest
    FROM month_patterns p
    CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
    WHERE bitwise_and(p.mask, CAST(power(2, b.j) AS bigint)) <> 0
  ) b
),
month_days AS (
  -- the active days through U, with the next one through U (NULL: none)
  SELECT n, pv, x, next_x
  FROM month_bits
  WHERE date_add('day', x, DATE '1970-01-01') <= CAST(@months_upto AS date)
    AND date_add('day', next_x, DATE '1970-01-01') <= CAST(@months_upto AS date)
  UNION ALL
  SELECT n, pv, x, CAST(NULL AS bigint) AS next_x
  FROM month_bits
  WHERE date_add('day', x, DATE '1970-01-01') <= CAST(@months_upto AS date)
    AND (next_x IS NULL OR date_add('day', next_x, DATE '1970-01-01') > CAST(@months_upto AS date))
),
month_deltas AS (
  -- day x counts the windows of width w ending on [max(x, previous day + w), min(x + w - 1,
  -- next day - 1)]: +n on the first, -n on the day after the last
  SELECT width, CASE WHEN side = 0 THEN first_day ELSE last_day + 1 END AS k,
         sum(CASE WHEN side = 0 THEN n ELSE -n END) AS delta
  FROM (
    SELECT w.width, n, greatest(x, coalesce(pv + w.width, x)) AS first_day,
           least(x + w.width - 1, coalesce(next_x - 1, x + w.width - 1)) AS last_day
    FROM month_days
    CROSS JOIN UNNEST(ARRAY[1, 7, 30]) AS w(width)
  ) s
  CROSS JOIN UNNEST(ARRAY[0, 1]) AS e(side)
  WHERE first_day <= last_day
  GROUP BY width, CASE WHEN side = 0 THEN first_day ELSE last_day + 1 END
),
day_views AS (
  -- the range's days with a user action, and their page views
  SELECT day, sum(page_views) AS page_views
  FROM (
    SELECT CAST(dt AS date) AS day, page_views
    FROM rollup_visitor_totals
    WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
      AND (:include_bots OR NOT is_bot)
    UNION ALL
    SELECT CAST(dt AS date) AS day, count_if(event_type = 'page_view') AS page_views
    FROM events
    WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
      AND (:include_bots OR NOT coalesce(is_bot, false))
      AND event_type NOT IN ('identify', 'group', 'alias')
    GROUP BY CAST(dt AS date)
  ) p
  GROUP BY day
),
month_counts AS (
  SELECT v.day, d.width, sum(d.delta) AS visitors
  FROM day_views v
  JOIN month_deltas d ON d.k <= date_diff('day', DATE '1970-01-01', v.day)
  GROUP BY v.day, d.width
),
later_rows AS (
  -- the visitor-days after U, from 29 days before the range
  SELECT app_id, CAST(dt AS date) AS day, visitor_key AS visitor
  FROM rollup_visitor_days
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND dt <= :rolled_through AND dt > @months_upto
    AND (:include_bots OR NOT is_bot)
  UNION ALL
  SELECT app_id, CAST(dt AS date) AS day, @visitor_key AS visitor
  FROM events
  WHERE app_id = :app_id
    AND dt BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m-%d') AND :date_to
    AND dt > :rolled_through
    AND (:include_bots OR NOT coalesce(is_bot, false))
    AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY app_id, CAST(dt AS date), @visitor
),
last_month_day AS (
  -- a later visitor's last active day through U in the month rows (the key lookup)
  SELECT m.app_id, m.visitor_key AS visitor, max(date_add('day', b.j, CAST(concat(m.month, '-01') AS date))) AS day
  FROM (
    SELECT app_id, month, visitor_key, mask_all AS mask
    FROM rollup_visitor_months
    WHERE app_id = :app_id AND dim = 'overall' AND :include_bots AND @month_later
      AND month BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m') AND substr(@months_upto, 1, 7)
      AND visitor_key IN (SELECT visitor FROM later_rows)
    UNION ALL
    SELECT app_id, month, visitor_key, mask_people AS mask
    FROM rollup_visitor_months
    WHERE app_id = :app_id AND dim = 'overall' AND NOT :include_bots AND @month_later
      AND month BETWEEN date_format(date_add('day', -29, CAST(:date_from AS date)), '%Y-%m') AND substr(@months_upto, 1, 7)
      AND visitor_key IN (SELECT visitor FROM later_rows)
  ) m
  CROSS JOIN UNNEST(sequence(0, 30)) AS b(j)
  WHERE bitwise_and(m.mask, CAST(power(2, b.j) AS bigint)) <> 0
    AND date_add('day', b.j, CAST(concat(m.month, '-01') AS date)) <= CAST(@months_upto AS date)
  GROUP BY m.app_id, m.visitor_key
),
later_active AS (
  -- active_users.sql's input (under the prefix `later`): the later visitor-days and those
  -- visitors' last day through U
  SELECT app_id, day, visitor, CAST(NULL AS bigint) AS page_views FROM later_rows
  UNION ALL
  SELECT app_id, day, visitor, CAST(NULL AS bigint) AS page_views FROM last_month_day
),
later_bounds AS (
  SELECT app_id, min(day) AS origin, max(day) AS until
  FROM later_active
  WHERE day BETWEEN CAST(:date_from AS date) AND CAST(:date_to AS date)
  GROUP BY app_id
),
-- @include active_users as later
,
seen_before AS (
  -- the later visitors the month rows counted in a window: their last day through U in it
  SELECT v.day, w.width, count(*) AS visitors
  FROM day_views v
  CROSS JOIN UNNEST(ARRAY[1, 7, 30]) AS w(width)
  JOIN last_month_day l ON l.day >= date_add('day', 1 - w.width, v.day)
  WHERE v.day > CAST(@months_upto AS date)
  GROUP BY v.day, w.width
),
counts AS (
  SELECT day, sum(dau) AS dau, sum(wau) AS wau, sum(mau) AS mau
  FROM (
    SELECT day, sum(CASE WHEN width = 1 THEN visitors ELSE 0 END) AS dau,
           sum(CASE WHEN width = 7 THEN visitors ELSE 0 END) AS wau,
           sum(CASE WHEN width = 30 THEN visitors ELSE 0 END) AS mau
    FROM month_counts
    GROUP BY day
    UNION ALL
    SELECT day, dau, wau, mau
    FROM later_daily
    WHERE day > CAST(@months_upto AS date)
    UNION ALL
    SELECT day, -sum(CASE WHEN width = 1 THEN visitors ELSE 0 END), -sum(CASE WHEN width = 7 THEN visitors ELSE 0 END),
           -sum(CASE WHEN width = 30 THEN visitors ELSE 0 END)
    FROM seen_before
    GROUP BY day
  ) c
  GROUP BY day
),
day_sessions AS (
  SELECT day, CAST(sum(sessions) AS bigint) AS sessions, CAST(sum(bounces) AS bigint) AS bounces,
         CAST(sum(duration_ms) AS double) / (1000 * sum(sessions)) AS avg_duration_s
  FROM session_totals
  WHERE :include_bots OR NOT is_bot
  GROUP BY day
)
SELECT
  v.day,
  CAST(c.dau AS bigint) AS dau,
  CAST(c.wau AS bigint) AS wau,
  CAST(c.mau AS bigint) AS mau,
  coalesce(s.sessions, 0) AS sessions,
  CAST(v.page_views AS bigint) AS page_views,
  CAST(s.bounces AS double) / s.sessions AS bounce_rate,
  s.avg_duration_s AS avg_session_duration_s
FROM day_views v
JOIN counts c ON c.day = v.day
LEFT JOIN day_sessions s ON s.day = v.day
WHERE v.day BETWEEN CAST(:date_from AS date) AND CAST(:date_to AS date) AND c.dau > 0
ORDER BY v.day
