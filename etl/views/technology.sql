-- Visitors, events and page views per device type, browser and OS (parsed from the user
-- agent at collection), per app and UTC day; people only.
CREATE OR REPLACE VIEW technology AS
SELECT
  app_id, dt, device_type, browser, os,
  count(DISTINCT @visitor) AS visitors, count(*) AS events, count_if(event_type = 'page_view') AS page_views
FROM events
WHERE NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY app_id, dt, device_type, browser, os
