-- UTM campaigns: sessions per (utm_source, utm_medium, utm_campaign) of the session's first
-- event, for sessions that carry at least a source or a campaign.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_rows.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim utm) through :months_through and the visitors of the sessions
-- starting later not in them. The answer is the raw events' either way (docs/lake.md, *The
-- modeled lake*; clickstream/lake/month_reads.py has the two arms).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- The rolled-up days' sessions and bounces are rollup_utm_totals (keyless day totals, decision 0017
-- step 1), in rows without a visitor; the rolled-up session rows carry none (session_rows.sql).
WITH
-- @include session_rows
,
utm_rows AS (
  SELECT visitor_key, is_bot, utm_source, utm_medium, utm_campaign, sessions, bounces, session_start
  FROM session_rows
  UNION ALL
  SELECT CAST(NULL AS bigint) AS visitor_key, is_bot, utm_source, utm_medium, utm_campaign, sessions, bounces, CAST(NULL AS timestamp) AS session_start
  FROM rollup_utm_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
),
parts AS (
  SELECT utm_source, utm_medium, utm_campaign, CAST(NULL AS bigint) AS visitors, sessions, bounces
  FROM utm_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT utm_source, utm_medium, utm_campaign, count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM @month_rows_utm AS mr
  GROUP BY utm_source, utm_medium, utm_campaign
  UNION ALL
  SELECT utm_source, utm_medium, utm_campaign, count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
  FROM utm_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL
    AND CAST(session_start AS date) > CAST(@months_upto AS date) AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'utm' AND m.visitor_key = v.visitor_key
      AND m.utm_source IS NOT DISTINCT FROM v.utm_source
      AND m.utm_medium IS NOT DISTINCT FROM v.utm_medium
      AND m.utm_campaign IS NOT DISTINCT FROM v.utm_campaign AND @month_seen AND @month_later
  )
  GROUP BY utm_source, utm_medium, utm_campaign
)
SELECT
  utm_source,
  utm_medium,
  utm_campaign,
  CAST(sum(sessions) AS bigint) AS sessions,
  CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors,
  CAST(sum(bounces) AS double) / sum(sessions) AS bounce_rate
FROM parts
WHERE (utm_source IS NOT NULL OR utm_campaign IS NOT NULL)
GROUP BY utm_source, utm_medium, utm_campaign
ORDER BY sessions DESC, utm_source, utm_medium, utm_campaign
LIMIT 100
