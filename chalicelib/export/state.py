"""The export's checkpoint and lease: one DynamoDB item, changed only by conditional writes.

Fields: ``watermark`` (every item received at or before it is in the lake), ``seq``
(last committed run), ``lease_owner``/``lease_until``, and, while a run is under way,
``p_seq``/``p_lo``/``p_hi``/``p_groups``/``p_done``: the window it promised to export, and
``p_claim_<g>``/``p_claim_by_<g>``: who is exporting group g, until when (``claim``).

Why the pending window is written *before* any file::

    run A: begin(seq=7, lo, hi) ── write files part-7-* ──╳ crash
    run B: acquire (A's lease expired) → sees p_seq=7 → redoes (lo, hi] → the same
           items, the same deterministic file names: files are overwritten, not added
           → commit(7): watermark = hi

Every write below is conditional on the caller still owning the lease (or, for a
worker, on the pending run still being ``seq``), so a run that lost its lease to
another can never move the watermark.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import LeaseHeld, TransientError
from chalicelib.store import keys, retry


@dataclass(frozen=True)
class Pending:
    seq: int
    lo_ms: int
    hi_ms: int
    groups: list[list[int]]
    done: frozenset[int] = field(default_factory=frozenset)
    started_ms: int = 0

    @property
    def complete(self) -> bool:
        return len(self.done) == len(self.groups)


@dataclass(frozen=True)
class ExportState:
    watermark_ms: int | None
    seq: int
    pending: Pending | None


class LeaseLost(TransientError):
    """Another run took the lease; this run's writes were not committed."""


def _state_from(item: dict[str, Any]) -> ExportState:
    pending = None
    if "p_seq" in item:
        pending = Pending(
            seq=int(item["p_seq"]["N"]),
            lo_ms=int(item["p_lo"]["N"]),
            hi_ms=int(item["p_hi"]["N"]),
            groups=json.loads(item["p_groups"]["S"]),
            done=frozenset(int(x) for x in item.get("p_done", {}).get("NS", [])),
            started_ms=int(item.get("p_started", {}).get("N", "0")),
        )
    return ExportState(
        watermark_ms=int(item["watermark"]["N"]) if "watermark" in item else None,
        seq=int(item.get("seq", {}).get("N", "0")),
        pending=pending,
    )


def _failed_condition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class StateStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    def _update(self, **kwargs: Any) -> dict[str, Any]:
        try:
            return self._client.update_item(TableName=self._table, Key=keys.EXPORT_STATE_KEY, ReturnValues="ALL_NEW", **kwargs)
        except BotoCoreError as exc:
            raise retry.storage_error(f"export state in {self._table} unreachable: {exc}", exc) from exc

    def read(self) -> ExportState:
        try:
            item = self._client.get_item(TableName=self._table, Key=keys.EXPORT_STATE_KEY, ConsistentRead=True).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"export state in {self._table} unreachable: {exc}", exc) from exc
        return _state_from(item)

    def lease(self) -> tuple[str | None, int | None]:
        """Who holds the lease and until when (epoch ms), as last written; (None, None) if free."""
        try:
            item = self._client.get_item(TableName=self._table, Key=keys.EXPORT_STATE_KEY, ConsistentRead=True).get("Item", {})
        except (ClientError, BotoCoreError) as exc:
            raise retry.storage_error(f"export state in {self._table} unreachable: {exc}", exc) from exc
        until = item.get("lease_until", {}).get("N")
        return item.get("lease_owner", {}).get("S"), int(until) if until else None

    def acquire(self, owner: str, now_ms: int, lease_ms: int) -> ExportState:
        """Take the lease if it is free, expired, or already ours; else ``LeaseHeld``."""
        try:
            resp = self._update(
                UpdateExpression="SET lease_owner = :me, lease_until = :until",
                ConditionExpression="attribute_not_exists(lease_until) OR lease_until < :now OR lease_owner = :me",
                ExpressionAttributeValues={
                    ":me": {"S": owner},
                    ":until": {"N": str(now_ms + lease_ms)},
                    ":now": {"N": str(now_ms)},
                },
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise LeaseHeld("another export run holds the lease; this run exits without exporting") from exc
            raise retry.storage_error(f"export state in {self._table}: {exc}", exc) from exc
        return _state_from(resp["Attributes"])

    def renew(self, owner: str, now_ms: int, lease_ms: int) -> None:
        self._owned_update(owner, "SET lease_until = :until", {":until": {"N": str(now_ms + lease_ms)}})

    def release(self, owner: str) -> None:
        try:
            self._owned_update(owner, "REMOVE lease_owner, lease_until", {})
        except LeaseLost:
            pass

    def begin(self, owner: str, pending: Pending) -> None:
        """Record the window this run will export, before writing any file."""
        self._owned_update(
            owner,
            "SET p_seq = :seq, p_lo = :lo, p_hi = :hi, p_groups = :groups, p_started = :started REMOVE p_done",
            {
                ":seq": {"N": str(pending.seq)},
                ":lo": {"N": str(pending.lo_ms)},
                ":hi": {"N": str(pending.hi_ms)},
                ":groups": {"S": json.dumps(pending.groups)},
                ":started": {"N": str(pending.started_ms)},
            },
            extra_condition="attribute_not_exists(p_seq)",
        )

    def mark_done(self, seq: int, group: int) -> None:
        """A group's files and dedup index are durable (called by fan-out workers too)."""
        try:
            self._update(
                UpdateExpression="ADD p_done :g",
                ConditionExpression="p_seq = :seq",
                ExpressionAttributeValues={":g": {"NS": [str(group)]}, ":seq": {"N": str(seq)}},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise LeaseLost(
                    f"run {seq} is no longer pending; group {group}'s files are redundant copies of committed ones"
                ) from exc
            raise retry.storage_error(f"export state in {self._table}: {exc}", exc) from exc

    def claim(self, seq: int, group: int, claimer: str, now_ms: int, claim_ms: int, worker: bool) -> bool:
        """Take group ``group`` of pending run ``seq`` before reading any of its items; False if
        it is done, no longer pending, or a live worker has it (then this caller must not run it).

        Why: a run finished inline (a CLI erasure's ``Exporter.exclusive``) while the Lambda
        worker invoked for a group still runs. Checking the pending state when the worker starts
        is not enough::

            worker:   read state (pending 7) ── read items ── write file 1 ......... write file 2
            erasure:                     acquire ── run group inline ── commit 7 ── delete items,
                                                                         rewrite the files ──┘
                                                                     (file 2: the rows are back)

        With a claim, the check and the taking are one conditional write. A worker's claim lasts
        ``claim_ms``, longer than the worker function's timeout (the export lease, 16 min > 15),
        so the worker is dead (Lambda's hard timeout) before anyone else may take its group: a
        coordinator finds the claim live and waits; the worker's last write precedes its
        ``mark_done``. A coordinator's own claim is fenced by the lease it holds (``lease_owner``,
        checked again at commit), so the next lease holder may take it over at once, as it
        redoes any crashed run's groups; a worker may not (it would write beside it).
        """
        # Free to take: no claim or an expired one; for the lease holder also any claim but a worker's.
        free, owner = "attribute_not_exists(#until) OR #until < :now", ""
        values: dict[str, Any] = {
            ":seq": {"N": str(seq)},
            ":g": {"N": str(group)},
            ":now": {"N": str(now_ms)},
            ":until": {"N": str(now_ms + claim_ms)},
            ":by": {"S": ("worker:" if worker else "lease:") + claimer},
        }
        if not worker:
            free, owner = f"{free} OR NOT begins_with(#by, :w)", "lease_owner = :me AND "
            values[":me"] = {"S": claimer}
            values[":w"] = {"S": "worker:"}
        condition = f"{owner}p_seq = :seq AND NOT contains(p_done, :g) AND ({free})"
        try:
            self._update(
                UpdateExpression="SET #until = :until, #by = :by",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#until": f"p_claim_{group}", "#by": f"p_claim_by_{group}"},
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if _failed_condition(exc):
                return False
            raise retry.storage_error(f"export state in {self._table}: {exc}", exc) from exc
        return True

    def commit(self, owner: str, pending: Pending) -> None:
        """Move the watermark to the window's end, once every group of the run is durable."""
        claims = "".join(f", p_claim_{g}, p_claim_by_{g}" for g in range(len(pending.groups)))
        self._owned_update(
            owner,
            f"SET watermark = :hi, seq = :seq REMOVE p_seq, p_lo, p_hi, p_groups, p_done, p_started{claims}",
            {":hi": {"N": str(pending.hi_ms)}, ":seq": {"N": str(pending.seq)}},
            extra_condition="p_seq = :seq",
        )

    def _owned_update(self, owner: str, expression: str, values: dict[str, Any], extra_condition: str | None = None) -> None:
        condition = "lease_owner = :me" + (f" AND {extra_condition}" if extra_condition else "")
        try:
            self._update(
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues={":me": {"S": owner}, **values},
            )
        except ClientError as exc:
            if _failed_condition(exc):
                raise LeaseLost(f"the export lease is no longer held by {owner}; nothing was committed") from exc
            raise retry.storage_error(f"export state in {self._table}: {exc}", exc) from exc
