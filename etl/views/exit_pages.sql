-- Sessions per last page viewed (exit_path), by the day the session started; people only.
CREATE OR REPLACE VIEW exit_pages AS
SELECT app_id, dt, exit_path AS path, count(*) AS exits, count(DISTINCT anonymous_id) AS visitors
FROM sessions
WHERE NOT is_bot AND exit_path IS NOT NULL
GROUP BY app_id, dt, exit_path
