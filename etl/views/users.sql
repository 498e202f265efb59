-- One row per user_id (Segment's identify, docs/segment.md): the traits of its latest identify
-- (JSON text, as sent: a later identify replaces the whole set, it does not merge), when it was
-- identified last, first and last seen over every event carrying the user_id, and the latest
-- anonymous_id it was seen with. Reads the app's whole history: filter app_id.
CREATE OR REPLACE VIEW users AS
SELECT
  app_id,
  user_id,
  max_by(traits, CASE WHEN event_type = 'identify' AND traits IS NOT NULL THEN event_time END) AS traits,
  max(CASE WHEN event_type = 'identify' THEN event_time END) AS last_identified,
  min(event_time) AS first_seen,
  max(event_time) AS last_seen,
  max_by(anonymous_id, CASE WHEN anonymous_id IS NOT NULL THEN event_time END) AS last_anonymous_id
FROM events
WHERE user_id IS NOT NULL
GROUP BY app_id, user_id
