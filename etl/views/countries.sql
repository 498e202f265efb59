-- Visitors, events and page views per country (ISO 3166 alpha-2 from CloudFront's
-- viewer-country header; NULL when unknown), per app and UTC day; people only.
CREATE OR REPLACE VIEW countries AS
SELECT
  app_id, dt, country,
  count(DISTINCT @visitor) AS visitors, count(*) AS events, count_if(event_type = 'page_view') AS page_views
FROM events
WHERE NOT coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY app_id, dt, country
