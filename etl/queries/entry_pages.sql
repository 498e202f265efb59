-- Entry pages: sessions per first page viewed (path), with visitors and bounces.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_entry_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
entry_rows AS (
  SELECT visitor_key, is_bot, entry_path, sessions, bounces
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, entry_path, sessions, bounces
  FROM rollup_entry_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
)
SELECT
  entry_path AS path,
  CAST(sum(sessions) AS bigint) AS entries,
  count(DISTINCT visitor_key) AS visitors,
  CAST(sum(bounces) AS bigint) AS bounces,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM entry_rows
WHERE entry_path IS NOT NULL AND (:include_bots OR NOT is_bot)
GROUP BY entry_path
ORDER BY entries DESC, path
LIMIT 100
