-- Daily, weekly and monthly active users, written once: over a CTE `active` (app_id, day,
-- anonymous_id, page_views: one row per visitor and day with activity), `daily` gives per app
-- and day dau, page_views, wau and mau (distinct visitors active that day / in the 7 / 30 days
-- ending that day). Rolling counts without a range join: a visitor active on day d is counted
-- on d .. d+6 (WAU) and d .. d+29 (MAU). Active days closer than the window merge into one
-- run, so a visitor adds +1 on the day a run starts and -1 on the day after it ends; the
-- running sum is the count. Days with no activity but a window still open get a row with
-- dau = 0. Included by etl/views/daily_metrics.sql and etl/queries/daily_metrics.sql.
runs AS (
  SELECT
    app_id,
    day,
    page_views,
    lag(day) OVER (PARTITION BY app_id, anonymous_id ORDER BY day) AS prev_day,
    lead(day) OVER (PARTITION BY app_id, anonymous_id ORDER BY day) AS next_day
  FROM active
),
shifted AS (
  -- An active day adds to its own day (dau, page views, +1 where a run starts) and, where a
  -- run ends, -1 on the day after its 7- and 30-day windows close.
  SELECT
    r.app_id,
    CAST(date_add('day', s.shift, r.day) AS date) AS day,
    CASE WHEN s.shift = 0 THEN 1 ELSE 0 END AS d_dau,
    CASE WHEN s.shift = 0 THEN r.page_views ELSE 0 END AS d_page_views,
    CASE
      WHEN s.shift = 0 AND (r.prev_day IS NULL OR date_diff('day', r.prev_day, r.day) > 7) THEN 1
      WHEN s.shift = 7 AND (r.next_day IS NULL OR date_diff('day', r.day, r.next_day) > 7) THEN -1
      ELSE 0
    END AS d_wau,
    CASE
      WHEN s.shift = 0 AND (r.prev_day IS NULL OR date_diff('day', r.prev_day, r.day) > 30) THEN 1
      WHEN s.shift = 30 AND (r.next_day IS NULL OR date_diff('day', r.day, r.next_day) > 30) THEN -1
      ELSE 0
    END AS d_mau
  FROM runs r
  CROSS JOIN UNNEST(ARRAY[0, 7, 30]) AS s(shift)
),
daily AS (
  SELECT
    app_id,
    day,
    sum(d_dau) AS dau,
    sum(d_page_views) AS page_views,
    sum(sum(d_wau)) OVER (PARTITION BY app_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS wau,
    sum(sum(d_mau)) OVER (PARTITION BY app_id ORDER BY day ROWS UNBOUNDED PRECEDING) AS mau
  FROM shifted
  GROUP BY app_id, day
)
