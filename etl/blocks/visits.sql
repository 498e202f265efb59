-- One row per session of range_sessions.sql (include that first): whether it starts in the
-- range, its bot flag, start, duration, bounce (exactly one event), the range's events and
-- page views in it, entry and exit page, and the referrer and UTM of its first event; all of
-- them over the session's events before its cut (in_session_cut, sessionize.sql).
visits AS (
  SELECT
    anonymous_id,
    session_no,
    bool_or(in_range AND is_session_start = 1) AS starts_in_range,
    bool_or(is_bot) AS is_bot,
    min(event_time) AS session_start,
    CAST(date_diff('millisecond', min(event_time), max(event_time)) AS double) / 1000 AS duration_s,
    date_diff('millisecond', min(event_time), max(event_time)) AS duration_ms,
    count(*) = 1 AS is_bounce,
    count_if(in_range) AS range_events,
    count_if(in_range AND event_type = 'page_view') AS range_page_views,
    min_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN seq END) AS entry_path,
    max_by(path, CASE WHEN event_type = 'page_view' AND path IS NOT NULL THEN seq END) AS exit_path,
    max(CASE WHEN is_session_start = 1 THEN referrer_host END) AS referrer_host,
    max(CASE WHEN is_session_start = 1 THEN utm_source END) AS utm_source,
    max(CASE WHEN is_session_start = 1 THEN utm_medium END) AS utm_medium,
    max(CASE WHEN is_session_start = 1 THEN utm_campaign END) AS utm_campaign
  FROM numbered
  WHERE in_session_cut
  GROUP BY anonymous_id, session_no
)
