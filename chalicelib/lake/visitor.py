"""The visitor of an event: who its session and the distinct-visitor counts belong to.

The event's anonymous_id, or ``'user:' + user_id`` when it has none (decision 0016,
docs/decisions/0016-visitor-identity.md): Segment's contract accepts a message with a userId and
no anonymousId (a server-side call), and two users known only by their userId are two visitors,
never one NULL visitor. Written once per engine: ``VISITOR_SQL`` over a row of ``events`` (the
SQL placeholder ``@visitor``, clickstream/lake/catalog.py), ``visitor`` over one event (the live
view), chalicelib.lake.visitor_key.visitors over columns (the rollups). Derived tables and views
name the visitor ``anonymous_id`` (rollup_sessions, rollup_last_events, the sessions view).
Standard library only: the API function imports it (the live view).
"""

from __future__ import annotations

USER_PREFIX = "user:"
VISITOR_SQL = f"coalesce(anonymous_id, '{USER_PREFIX}' || user_id)"


def visitor(anonymous_id: str | None, user_id: str | None) -> str | None:
    """The visitor of one event (``VISITOR_SQL``); None when it has neither id."""
    if anonymous_id is not None:
        return anonymous_id
    return None if user_id is None else USER_PREFIX + user_id
