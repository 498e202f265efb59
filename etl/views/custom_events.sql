-- Events other than page views (LIKE_WOOD, UNLIKE_WOOD, CLICK_LANG, GEO_LOC, ...) per
-- event_type and event_name, per app and UTC day; people only.
CREATE OR REPLACE VIEW custom_events AS
SELECT app_id, dt, event_type, event_name, count(*) AS events, count(DISTINCT @visitor) AS visitors
FROM events
WHERE event_type <> 'page_view' AND event_type NOT IN ('identify', 'group', 'alias') AND NOT coalesce(is_bot, false)
GROUP BY app_id, dt, event_type, event_name
