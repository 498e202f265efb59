-- One row per session (see session_events for the 30-minute rule). A session belongs to the
-- UTC day it started on (dt), even when it runs past midnight, up to midnight at the end of the
-- day after it (in_session_cut: later events count in no session, as in the rollups); late
-- events (received days after they happened) join the session their event_time places them in.
-- session_id is the event_id of the session's first event. Attributes of the visit (source,
-- campaign, country, device, browser, OS) come from that first event; entry/exit are the first
-- and last page views. is_bounce: a session of exactly one event. is_bot: any event came from
-- a bot user agent. Bots are kept here; filter is_bot = false for people only.
CREATE OR REPLACE VIEW sessions AS
SELECT
  app_id,
  min_by(event_id, session_seq) AS session_id,
  anonymous_id,
  max(user_id) AS user_id,
  min(event_time) AS session_start,
  max(event_time) AS session_end,
  CAST(date_diff('millisecond', min(event_time), max(event_time)) AS double) / 1000 AS duration_s,
  count(*) AS event_count,
  count_if(event_type = 'page_view') AS page_views,
  count(*) = 1 AS is_bounce,
  min_by(url, CASE WHEN event_type = 'page_view' AND url IS NOT NULL THEN session_seq END) AS entry_url,
  max_by(url, CASE WHEN event_type = 'page_view' AND url IS NOT NULL THEN session_seq END) AS exit_url,
  max(CASE WHEN is_session_start THEN utm_source END) AS utm_source,
  max(CASE WHEN is_session_start THEN referrer_host END) AS referrer_host,
  max(CASE WHEN is_session_start THEN country END) AS country,
  max(CASE WHEN is_session_start THEN device_type END) AS device_type,
  max(CASE WHEN is_session_start THEN browser END) AS browser,
  max(CASE WHEN is_session_start THEN os END) AS os,
  bool_or(is_bot) AS is_bot,
  min_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN session_seq END) AS entry_path,
  max_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN session_seq END) AS exit_path,
  max(CASE WHEN is_session_start THEN utm_medium END) AS utm_medium,
  max(CASE WHEN is_session_start THEN utm_campaign END) AS utm_campaign,
  date_format(min(event_time), '%Y-%m-%d') AS dt
FROM session_events
WHERE in_session_cut
GROUP BY app_id, anonymous_id, session_no
