-- Retention: weekly cohorts (ISO weeks, Monday 00:00 UTC) by the week a visitor was first seen
-- in the range: of cohort_users, active_users were active week_offset weeks later (offset 0 is
-- the cohort week). A visitor active before date_from counts as new in their first week of the
-- range: start the range on the lake's first day (or use the retention view) for lifetime cohorts.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from rollup_visitor_days, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*). Reads exactly the range's partitions. Visitors are told
-- apart by visitor_key (docs/decisions/0015-visitor-key.md).
WITH
active_days AS (
  SELECT dt, visitor_key, is_bot
  FROM rollup_visitor_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT dt, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY dt, @visitor, coalesce(is_bot, false)
),
weeks AS (
  SELECT DISTINCT visitor_key, CAST(date_trunc('week', CAST(dt AS date)) AS date) AS week
  FROM active_days
  WHERE :include_bots OR NOT is_bot
),
cohorted AS (
  SELECT week, min(week) OVER (PARTITION BY visitor_key) AS cohort_week
  FROM weeks
),
counts AS (
  SELECT cohort_week, week, count(*) AS active_users
  FROM cohorted
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
