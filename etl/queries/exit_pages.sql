-- Exit pages: sessions per last page viewed (path), with visitors.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim exit) through :months_through and the visitors of the sessions
-- starting later not in them. The answer is the raw events' either way (docs/lake.md, *The
-- modeled lake*; clickstream/lake/month_reads.py has the two arms).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions are rollup_exit_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
exit_rows AS (
  SELECT visitor_key, is_bot, exit_path, sessions, session_start
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, exit_path, sessions, CAST(NULL AS timestamp) AS session_start
  FROM rollup_exit_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
),
parts AS (
  SELECT exit_path, CAST(NULL AS bigint) AS visitors, sessions
  FROM exit_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT exit_path, count(*), CAST(NULL AS bigint)
  FROM @month_rows_exit AS mr
  GROUP BY exit_path
  UNION ALL
  SELECT exit_path, count(DISTINCT visitor_key), CAST(NULL AS bigint)
  FROM exit_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL
    AND CAST(session_start AS date) > CAST(@months_upto AS date) AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'exit' AND m.visitor_key = v.visitor_key
      AND m.exit_path IS NOT DISTINCT FROM v.exit_path AND @month_seen AND @month_later
  )
  GROUP BY exit_path
)
SELECT
  exit_path AS path,
  CAST(sum(sessions) AS bigint) AS exits,
  CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors
FROM parts
WHERE exit_path IS NOT NULL
GROUP BY exit_path
ORDER BY exits DESC, path
LIMIT 100
