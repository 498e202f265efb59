-- Sessions per first page viewed (entry_path), by the day the session started; people only.
CREATE OR REPLACE VIEW entry_pages AS
SELECT app_id, dt, entry_path AS path, count(*) AS entries, count_if(is_bounce) AS bounces, count(DISTINCT anonymous_id) AS visitors
FROM sessions
WHERE NOT is_bot AND entry_path IS NOT NULL
GROUP BY app_id, dt, entry_path
