"""What can go wrong when querying the lake, in the project's two kinds (chalicelib.errors)."""

from __future__ import annotations

from chalicelib.errors import TerminalError, TransientError


class QueryError(TerminalError):
    """The SQL, the query name or a parameter is wrong: the same call fails again."""


class ParamError(QueryError):
    """A parameter is missing, unknown or malformed; the message names it and what it takes."""


class ScanCutoffReached(QueryError):
    """Athena cancelled the query, as the stack's workgroup cancels one that scans more than its
    per-query cutoff: run again, it is cancelled (and billed) again."""


class LakeUnavailable(TransientError):
    """S3, Athena or the local cache could not be read or written; a retry may help."""
