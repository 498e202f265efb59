-- Entry pages: sessions per first page viewed (path), with visitors and bounces.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim entry) through :months_through and the visitors of the sessions
-- starting later not in them. The answer is the raw events' either way (docs/lake.md, *The
-- modeled lake*; clickstream/lake/month_reads.py has the two arms).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_entry_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
entry_rows AS (
  SELECT visitor_key, is_bot, entry_path, sessions, bounces, session_start
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, entry_path, sessions, bounces, CAST(NULL AS timestamp) AS session_start
  FROM rollup_entry_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
),
parts AS (
  SELECT entry_path, CAST(NULL AS bigint) AS visitors, sessions, bounces
  FROM entry_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT entry_path, count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM @month_rows_entry AS mr
  GROUP BY entry_path
  UNION ALL
  SELECT entry_path, count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM entry_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL
    AND CAST(session_start AS date) > CAST(@months_upto AS date) AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'entry' AND m.visitor_key = v.visitor_key
      AND m.entry_path IS NOT DISTINCT FROM v.entry_path AND @month_seen AND @month_later
  )
  GROUP BY entry_path
)
SELECT
  entry_path AS path,
  CAST(sum(sessions) AS bigint) AS entries,
  CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors,
  CAST(sum(bounces) AS bigint) AS bounces,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM parts
WHERE entry_path IS NOT NULL
GROUP BY entry_path
ORDER BY entries DESC, path
LIMIT 100
