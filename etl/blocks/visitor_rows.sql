-- Per visitor and dimension over the range: events and page views, summed over its days, from the
-- rollup_visitor_days table up to :rolled_through and from raw events after it (user actions
-- only). visitor_key: the visitor's 64-bit key (docs/decisions/0015-visitor-key.md), what the
-- distinct-visitor counts count. Bots included: filter is_bot. Summed over days here, once, so
-- the panels that read it (and a page that composes them) group about a third of the rows: in the
-- benchmark lake a visitor is active on 3.6 of 30 days (docs/performance-dashboard.md).
-- Parameters: :app_id, :date_from, :date_to, :rolled_through.
visitor_rows AS (
  SELECT visitor_key, is_bot, bot_reason, browser, device_type, os, country,
         sum(events) AS events, sum(page_views) AS page_views
  FROM (
    SELECT dt, visitor_key, is_bot, bot_reason, browser, device_type, os, country, events, page_views
    FROM rollup_visitor_days
    WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    UNION ALL
    SELECT dt, from_big_endian_64(substr(md5(to_utf8(anonymous_id)), 1, 8)) AS visitor_key, coalesce(is_bot, false) AS is_bot, bot_reason,
           browser, device_type, os, country,
           count(*) AS events, count_if(event_type = 'page_view') AS page_views
    FROM events
    WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
      AND event_type NOT IN ('identify', 'group', 'alias')
    GROUP BY dt, anonymous_id, coalesce(is_bot, false), bot_reason, browser, device_type, os, country
  ) visitor_days
  GROUP BY visitor_key, is_bot, bot_reason, browser, device_type, os, country
)
