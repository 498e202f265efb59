-- Entry pages: sessions per first page viewed (path), with visitors and bounces.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include session_rows
SELECT
  entry_path AS path,
  count(*) AS entries,
  count(DISTINCT visitor_key) AS visitors,
  count_if(is_bounce) AS bounces,
  CAST(count_if(is_bounce) AS double) / count(*) AS bounce_rate
FROM session_rows
WHERE entry_path IS NOT NULL AND (:include_bots OR NOT is_bot)
GROUP BY entry_path
ORDER BY entries DESC, path
LIMIT 100
