-- Weekly cohorts by first-seen week (ISO weeks, Monday 00:00 UTC), people only: of the
-- cohort_users first seen in cohort_week, active_users were active again week_offset weeks
-- later (week_offset 0 is the cohort week itself, so its retention is 1.0).
-- A visitor is an anonymous_id (one browser or device), else 'user:' || user_id (a userId-only
-- event). Reads the app's whole history.
CREATE OR REPLACE VIEW retention AS
WITH weeks AS (
  SELECT DISTINCT app_id, @visitor AS anonymous_id, CAST(date_trunc('week', CAST(dt AS date)) AS date) AS week
  FROM events
  WHERE NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
),
cohorted AS (
  SELECT app_id, week, min(week) OVER (PARTITION BY app_id, anonymous_id) AS cohort_week
  FROM weeks
),
counts AS (
  SELECT app_id, cohort_week, week, count(*) AS active_users
  FROM cohorted
  GROUP BY app_id, cohort_week, week
)
SELECT
  app_id,
  cohort_week,
  date_diff('week', cohort_week, week) AS week_offset,
  max(CASE WHEN week = cohort_week THEN active_users END) OVER (PARTITION BY app_id, cohort_week) AS cohort_users,
  active_users,
  CAST(active_users AS double) / max(CASE WHEN week = cohort_week THEN active_users END) OVER (PARTITION BY app_id, cohort_week) AS retention
FROM counts
