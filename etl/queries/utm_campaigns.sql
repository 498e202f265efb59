-- UTM campaigns: sessions per (utm_source, utm_medium, utm_campaign) of the session's first
-- event, for sessions that carry at least a source or a campaign.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_utm_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
utm_rows AS (
  SELECT visitor_key, is_bot, utm_source, utm_medium, utm_campaign, sessions, bounces
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, utm_source, utm_medium, utm_campaign, sessions, bounces
  FROM rollup_utm_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
)
SELECT
  utm_source,
  utm_medium,
  utm_campaign,
  CAST(sum(sessions) AS bigint) AS sessions,
  count(DISTINCT visitor_key) AS visitors,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM utm_rows
WHERE (utm_source IS NOT NULL OR utm_campaign IS NOT NULL) AND (:include_bots OR NOT is_bot)
GROUP BY utm_source, utm_medium, utm_campaign
ORDER BY sessions DESC, utm_source, utm_medium, utm_campaign
LIMIT 100
