-- Sessions per source, by the day the session started; people only. The source is the
-- session's first event: referrer_host (NULL: direct or unknown) and its UTM tags.
CREATE OR REPLACE VIEW traffic_sources AS
SELECT
  app_id, dt, referrer_host, utm_source, utm_medium, utm_campaign,
  count(*) AS sessions, count(DISTINCT anonymous_id) AS visitors, count_if(is_bounce) AS bounces
FROM sessions
WHERE NOT is_bot
GROUP BY app_id, dt, referrer_host, utm_source, utm_medium, utm_campaign
