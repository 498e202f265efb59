-- One row per session that starts in the range [:date_from, :date_to], people and bots: from
-- the rollup_sessions table for days up to :rolled_through (the last day the ETL rolled up),
-- and from raw events after it (tail_sessions.sql + visits.sql). Both sides apply the same
-- session rule to the same events, so the union is what range_sessions.sql + visits.sql give
-- (tests/unit/test_rollup_equality.py checks it, row for row, over random lakes). visitor_key: the
-- visitor's 64-bit key (docs/decisions/0015-visitor-key.md), what the distinct-visitor counts count.
-- sessions, bounces: 1 and 0/1 for a raw tail session, NULL for a rolled-up one: a panel counting
-- sessions sums them with its keyless day totals (rollup_entry_totals, ..., decision 0017 step 1)
-- for the rolled-up days, in rows without a visitor, and counts visitors over these rows.
-- Rolled-up sessions only of the days after the month rows' (`dt > months_upto`): a panel
-- counts earlier days' visitors from rollup_visitor_months (clickstream/lake/month_reads.py).
-- Parameters: :app_id, :date_from, :date_to, :rolled_through.
-- @include tail_sessions
,
-- @include visits
,
session_rows AS (
  SELECT visitor_key, session_start, duration_s, is_bounce, is_bot, entry_path, exit_path, referrer_host,
         utm_source, utm_medium, utm_campaign, CAST(NULL AS bigint) AS sessions, CAST(NULL AS bigint) AS bounces
  FROM rollup_sessions
  WHERE app_id = :app_id AND dt BETWEEN :date_from AND :date_to AND dt <= :rolled_through
    AND dt > @months_upto  -- days the month rows hold give no key here (month_reads.py)
  UNION ALL
  SELECT @session_visitor_key AS visitor_key, session_start, duration_s, is_bounce, is_bot, entry_path,
         exit_path, referrer_host, utm_source, utm_medium, utm_campaign,
         CAST(1 AS bigint) AS sessions, CAST(CASE WHEN is_bounce THEN 1 ELSE 0 END AS bigint) AS bounces
  FROM visits
  WHERE starts_in_range
)
