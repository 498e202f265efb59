-- What the other views leave out: events from bot user agents (is_bot), per app, UTC day,
-- reason (bot_reason: known_crawler, user_agent_contains:<word>, missing_user_agent) and browser.
CREATE OR REPLACE VIEW bot_traffic AS
SELECT
  app_id, dt, bot_reason, browser,
  count(*) AS events, count_if(event_type = 'page_view') AS page_views, count(DISTINCT @visitor) AS visitors
FROM events
WHERE coalesce(is_bot, false) AND event_type NOT IN ('identify', 'group', 'alias')
GROUP BY app_id, dt, bot_reason, browser
