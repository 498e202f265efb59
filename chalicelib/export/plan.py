"""Pure planning for the export: windows, key ranges, fan-out groups, object names.

Nothing here does I/O, so every rule is property-tested (tests/unit/test_export_plan.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from chalicelib.export.reader import KeyRange
from chalicelib.store import keys

DATASETS: tuple[keys.Dataset, ...] = ("events", "rejected_events")


@dataclass(frozen=True)
class Window:
    """Items received in (lo_ms, hi_ms]."""

    lo_ms: int
    hi_ms: int


def next_window(watermark_ms: int | None, now_ms: int, settle_ms: int, first_lookback_ms: int) -> Window | None:
    """The next window to export, or None when nothing can have settled since the watermark.

    ``hi`` stays ``settle_ms`` behind now: an item stamped ``received_at = t`` may still
    be in flight (API retries, up to the API function's timeout) for a while after t.
    Items at or before the watermark were all exported by committed runs.
    """
    lo = now_ms - first_lookback_ms if watermark_ms is None else watermark_ms
    hi = now_ms - settle_ms
    return Window(lo, hi) if hi > lo else None


def key_ranges(dataset: keys.Dataset, window: Window, shards: int, only: Sequence[int] | None = None) -> list[KeyRange]:
    wanted = None if only is None else set(only)
    lo, hi = keys.sort_key_bound(window.lo_ms), keys.sort_key_bound(window.hi_ms)
    return [
        KeyRange(pk, lo, hi)
        for pk in keys.partitions_between(dataset, window.lo_ms, window.hi_ms, shards)
        if wanted is None or keys.shard_of_partition(pk) in wanted
    ]


def shard_counts(ranges: Sequence[KeyRange], counts: Sequence[int], shards: int) -> list[int]:
    """Items per shard, summed over the hours of the window, from the counts of ``ranges``."""
    out = [0] * shards
    for key_range, n in zip(ranges, counts):
        out[keys.shard_of_partition(key_range.pk)] += n
    return out


def shard_major(ranges: Sequence[KeyRange]) -> list[KeyRange]:
    """``ranges`` shard after shard, hours in order within one: read in this order by a few
    threads, a read stopped at the budget has finished whole shards (all but a few)."""
    return sorted(ranges, key=lambda r: keys.shard_of_partition(r.pk))  # stable: hours stay in order


def finished_shards(ranges: Sequence[KeyRange], finished: Sequence[bool], shards: int) -> list[int]:
    """The shards each of whose ``ranges`` was read to its end."""
    unfinished = {keys.shard_of_partition(r.pk) for r, done in zip(ranges, finished, strict=True) if not done}
    return [s for s in range(shards) if s not in unfinished]


def groups_after_read(read: Sequence[int], counts: Sequence[int], budget: int, max_groups: int) -> list[list[int]] | None:
    """Groups for a window whose planning read finished the shards ``read`` before it stopped.

    Those shards (at most ``budget`` items between them: the read stops past it) are group 0,
    exported from what was read; the others are split by ``counts`` (items per shard, only
    those of unread shards are used) as ``assign_groups`` does. None when nothing was finished,
    every shard was (then the read was the whole window), or an unread shard is alone over the
    budget: the window must shrink (``plan_groups``), and what was read does not fit it.
    """
    done = sorted(set(read))
    rest = [s for s in range(len(counts)) if s not in set(done)]
    if not done or not rest or max_groups < 2 or max(counts[s] for s in rest) > budget:
        return None
    others = assign_groups([counts[s] for s in rest], budget, max_groups - 1)
    return [done] + [[rest[i] for i in g] for g in others]


@dataclass(frozen=True)
class GroupPlan:
    window: Window
    groups: list[list[int]]


def plan_groups(window: Window, counts: Sequence[int], budget: int, max_groups: int) -> GroupPlan | Window:
    """Groups for ``window`` given its per-shard counts, or the half window to count next.

    A shard is never split, so while one shard alone is over budget the window shrinks (its
    lower end stays: the watermark only moves forward); a window of one millisecond is
    exported as it is.
    """
    if max(counts, default=0) <= budget or window.hi_ms - window.lo_ms <= 1:
        return GroupPlan(window, assign_groups(counts, budget, max_groups))
    return Window(window.lo_ms, window.lo_ms + (window.hi_ms - window.lo_ms) // 2)


def assign_groups(shard_counts: Sequence[int], budget: int, max_groups: int) -> list[list[int]]:
    """Split shards into groups of at most ``budget`` items each, largest first (LPT).

    Every copy of one event_id lives in one shard (crc32 of the id), so a group sees all
    copies received in the window and can drop retries itself. A shard is never split;
    the caller shrinks the window when one shard alone is over budget.
    """
    total = sum(shard_counts)
    groups_needed = max(1, min(max_groups, -(-total // max(1, budget))))
    groups: list[list[int]] = [[] for _ in range(groups_needed)]
    loads = [0] * groups_needed
    for shard in sorted(range(len(shard_counts)), key=lambda s: -shard_counts[s]):
        target = loads.index(min(loads))
        groups[target].append(shard)
        loads[target] += shard_counts[shard]
    return [sorted(g) for g in groups if g]
