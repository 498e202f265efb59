-- The session rule, written once: over a CTE `scoped` (app_id, anonymous_id, event_time, the
-- tie columns below and whatever else the includer needs), per (app_id, anonymous_id) an event
-- 30 minutes or more after the previous one starts a new session (the tracker's rule,
-- web/tracker.js). Adds prev_time, seq (order within the visitor), is_session_start (0/1),
-- session_no (the visitor's session number) and in_session_cut (below). Included by etl/views/session_events.sql and,
-- through range_sessions.sql, by every session query in etl/queries.
-- Ties in event_time are ordered by what the session queries read of an event (event_type,
-- event_name, path, referrer_host, utm_source, utm_medium, utm_campaign; NULL last), then by
-- event_id. Events tied on all of those are interchangeable for every answer (entry and exit
-- page, the first event's source, funnel steps), so the queries over bounded ranges pass
-- event_id as NULL and never read it: it is most of the bytes a session query scans. The
-- session_events view passes the real event_id, for a total order. chalicelib/lake/rollup.py
-- sorts by the same keys (docs/decisions/0011-modeled-lake.md).
ordered AS (
  SELECT
    *,
    lag(event_time) OVER (PARTITION BY app_id, anonymous_id ORDER BY event_time, event_type, event_name, path, referrer_host, utm_source, utm_medium, utm_campaign, event_id) AS prev_time,
    row_number() OVER (PARTITION BY app_id, anonymous_id ORDER BY event_time, event_type, event_name, path, referrer_host, utm_source, utm_medium, utm_campaign, event_id) AS seq
  FROM scoped
),
flagged AS (
  SELECT
    *,
    CASE WHEN prev_time IS NULL OR date_diff('millisecond', prev_time, event_time) >= 1800000 THEN 1 ELSE 0 END AS is_session_start
  FROM ordered
),
-- in_session_cut: the event is before midnight (UTC) of the day after its session's start day,
-- where chalicelib/lake/rollup.py cuts a session (a day's rollups read that day and the next).
-- Sessions start by the rule above either way; a session's end, duration, exit page, bot flag
-- and funnel steps read only its events in the cut, so a session running more than a day past
-- its start day gets the same answer from rollups and from raw events, for every range. The
-- session's start is the running max of start times over the same window as session_no (one
-- sort): starts come in time order, so the latest start so far is this session's.
numbered AS (
  SELECT *,
         sum(is_session_start) OVER (PARTITION BY app_id, anonymous_id ORDER BY seq ROWS UNBOUNDED PRECEDING) AS session_no,
         event_time < date_add('day', 2, CAST(CAST(
           max(CASE WHEN is_session_start = 1 THEN event_time END) OVER (PARTITION BY app_id, anonymous_id ORDER BY seq ROWS UNBOUNDED PRECEDING)
         AS date) AS timestamp)) AS in_session_cut
  FROM flagged
)
