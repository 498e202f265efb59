-- The sessions that start in the range [:date_from, :date_to], people and bots, as their visitor
-- (decision 0016), start and the referrer host of their first user action: the sessions Top sources
-- (etl/queries/referrers.sql) counts, from the rollup_sessions table for days up to
-- :rolled_through and from raw events after it (tail_sessions.sql + visits.sql under the prefix
-- source_, as session_rows.sql takes them). What the dashboard's source filter picks visitors by
-- (clickstream/dashboard/scope.py); tests/unit/test_rollup_filters.py checks it against a Python
-- sessionization of the raw events. Parameters: :app_id, :date_from, :date_to, :rolled_through.
-- @include tail_sessions as source
,
-- @include visits as source
,
source_starts AS (
  SELECT anonymous_id AS visitor, session_start, referrer_host
  FROM rollup_sessions
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
  UNION ALL
  SELECT anonymous_id AS visitor, session_start, referrer_host
  FROM source_visits
  WHERE starts_in_range
)
