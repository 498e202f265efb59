-- Overview: the headline numbers of the range, one row. visitors: distinct visitors (visitor_key) with
-- an event in the range; page_views and events: in the range (people only: events not from a bot); sessions, bounce_rate (share of
-- sessions with a single event) and avg_session_duration_s: sessions that started in the range.
-- Sessions as in etl/views/sessions.sql (30 minutes of inactivity per anonymous_id), counted by
-- the UTC day they start on: etl/blocks/session_totals.sql (`clickstream query --print NAME`
-- shows it expanded).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months) through :months_through and the later days' visitors not in them. The
-- answer is the raw events' either way (docs/lake.md, *The modeled lake*;
-- clickstream/lake/month_reads.py has the two arms).
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
WITH
-- @include session_totals
,
-- @include visitor_rows
,
activity AS (
  SELECT
    CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors,
    CAST(coalesce(sum(page_views), 0) AS bigint) AS page_views,
    CAST(coalesce(sum(events), 0) AS bigint) AS events
  FROM (
    SELECT CAST(NULL AS bigint) AS visitors, page_views, events
    FROM visitor_rows
    WHERE :include_bots OR NOT is_bot
    UNION ALL
    SELECT count(*), CAST(NULL AS bigint), CAST(NULL AS bigint)
    FROM @month_rows_overall AS mr
    UNION ALL
    SELECT count(DISTINCT visitor_key), CAST(NULL AS bigint), CAST(NULL AS bigint)
    FROM visitor_rows v
    WHERE (:include_bots OR NOT is_bot) AND dt > @months_upto AND NOT EXISTS (
      SELECT 1 FROM rollup_visitor_months m
      WHERE m.app_id = :app_id AND m.dim = 'overall' AND m.visitor_key = v.visitor_key AND @month_seen AND @month_later
    )
  ) parts
),
started AS (
  SELECT
    CAST(coalesce(sum(sessions), 0) AS bigint) AS sessions,
    CAST(sum(bounces) AS double) / nullif(sum(sessions), 0) AS bounce_rate,
    CAST(sum(duration_ms) AS double) / (1000 * nullif(sum(sessions), 0)) AS avg_session_duration_s
  FROM session_totals
  WHERE :include_bots OR NOT is_bot
)
SELECT a.visitors, s.sessions, a.page_views, a.events, s.bounce_rate, s.avg_session_duration_s
FROM activity a
CROSS JOIN started s
