-- Custom events: events other than page views (LIKE_WOOD, UNLIKE_WOOD, CLICK_LANG, GEO_LOC, ...)
-- per event_type and event_name, with the visitors who sent them.
-- Parameters: :app_id, :date_from, :date_to (YYYY-MM-DD, inclusive), :include_bots (boolean).
-- Days up to :rolled_through (the last day the ETL rolled up; the engine supplies it) are read
-- from rollup_event_days, later days from raw events: the answer is the raw events' either way
-- (docs/lake.md, *The modeled lake*). Reads exactly the range's partitions.
-- The rolled-up days' events are rollup_event_totals' (keyless day totals, decision 0017 step 1),
-- in rows without a visitor; their event-visitor rows carry no measure (count(DISTINCT) and sum()
-- skip the NULLs).
WITH event_rows AS (
  SELECT event_type, event_name, visitor_key, is_bot, CAST(NULL AS bigint) AS events
  FROM rollup_event_days
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT event_type, event_name, CAST(NULL AS bigint) AS visitor_key, is_bot, events
  FROM rollup_event_totals
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT event_type, event_name, @visitor_key AS visitor_key, coalesce(is_bot, false) AS is_bot,
         count(*) AS events
  FROM events
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt > :rolled_through
    AND event_type <> 'page_view' AND event_type NOT IN ('identify', 'group', 'alias')
  GROUP BY event_type, event_name, @visitor, coalesce(is_bot, false)
)
SELECT event_type, event_name, CAST(sum(events) AS bigint) AS events, count(DISTINCT visitor_key) AS visitors
FROM event_rows
WHERE :include_bots OR NOT is_bot
GROUP BY event_type, event_name
ORDER BY events DESC, event_type, event_name
LIMIT 100
