-- Custom events: events other than page views (LIKE_WOOD, UNLIKE_WOOD, CLICK_LANG, GEO_LOC, ...)
-- per event_type and event_name, with the visitors who sent them.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from the rollup tables, later days from raw events; visitors from the month rows
-- (rollup_visitor_months, dim event) through :months_through and the later days' visitors not in
-- them. The answer is the raw events' either way (docs/lake.md, *The modeled lake*;
-- clickstream/lake/month_reads.py has the two arms).
-- The rolled-up days' events are rollup_event_totals' (keyless day totals, decision 0017 step 1),
-- in rows without a visitor; their event-visitor rows carry no measure (count(DISTINCT) and sum()
-- skip the NULLs).
WITH event_rows AS (
  SELECT dt, event_type, event_name, visitor_key, is_bot, CAST(NULL AS bigint) AS events
  FROM rollup_event_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND dt > @months_upto  -- days the month rows hold give no key here (month_reads.py)
  UNION ALL
  SELECT dt, event_type, event_name, CAST(NULL AS bigint) AS visitor_key, is_bot, events
  FROM rollup_event_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT dt, event_type, event_name, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot,
         count(*) AS events
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type <> 'page_view' AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY dt, event_type, event_name, @visitor, coalesce(is_bot, false)
),
parts AS (
  SELECT event_type, event_name, CAST(NULL AS bigint) AS visitors, events
  FROM event_rows
  WHERE :include_bots OR NOT is_bot
  UNION ALL
  SELECT event_type, event_name, count(*), CAST(NULL AS bigint)
  FROM @month_rows_event AS mr
  GROUP BY event_type, event_name
  UNION ALL
  SELECT event_type, event_name, count(DISTINCT visitor_key), CAST(NULL AS bigint)
  FROM event_rows v
  WHERE (:include_bots OR NOT is_bot) AND visitor_key IS NOT NULL AND dt > @months_upto AND NOT EXISTS (
    SELECT 1 FROM rollup_visitor_months m
    WHERE m.app_id = :app_id AND m.dim = 'event' AND m.visitor_key = v.visitor_key
      AND m.event_type IS NOT DISTINCT FROM v.event_type AND m.event_name IS NOT DISTINCT FROM v.event_name
      AND @month_seen AND @month_later
  )
  GROUP BY event_type, event_name
)
SELECT event_type, event_name, CAST(sum(events) AS bigint) AS events, CAST(coalesce(sum(visitors), 0) AS bigint) AS visitors
FROM parts
GROUP BY event_type, event_name
ORDER BY events DESC, event_type, event_name
LIMIT 100
