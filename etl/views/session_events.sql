-- Every event with the session it belongs to, computed from event_time (never the client's
-- session_id) by the session rule in etl/blocks/sessionize.sql: per (app_id, anonymous_id), an
-- event 30 minutes or more after the previous one starts a new session.
-- in_session_cut: the event is before midnight at the end of the day after its session's start
-- day, where the rollups cut a session (sessionize.sql); `sessions` reads only those events.
-- The base of `sessions`, and of funnels over whole sessions in QuickSight.
-- Reads the app's whole history: filter app_id; for dashboards use etl/queries (bounded).
CREATE OR REPLACE VIEW session_events AS
WITH scoped AS (
  SELECT
    app_id, dt, event_id, event_time, event_type, event_name, @visitor AS anonymous_id, user_id, url, path,
    referrer_host, utm_source, utm_medium, utm_campaign, country, device_type, browser, os,
    coalesce(is_bot, false) AS is_bot, geo_lat, geo_lon, properties
  FROM events
  WHERE event_type NOT IN ('identify', 'group', 'alias')  -- not user actions (docs/lake.md)
),
-- @include sessionize
SELECT
  app_id, dt, event_id, event_time, event_type, event_name, @visitor AS anonymous_id, user_id, url, path,
  referrer_host, utm_source, utm_medium, utm_campaign, country, device_type, browser, os, is_bot,
  geo_lat, geo_lon, properties,
  first_value(event_id) OVER (PARTITION BY app_id, anonymous_id, session_no ORDER BY seq) AS session_id,
  session_no,
  row_number() OVER (PARTITION BY app_id, anonymous_id, session_no ORDER BY seq) AS session_seq,
  is_session_start = 1 AS is_session_start,
  in_session_cut
FROM numbered
