"""How many events one export invocation may hold: derived from the function's memory.

A group is exported in memory: the item lines its Queries return, the Arrow table, the
deduplicated table and the Parquet bodies. Measured in the Lambda emulation (python3.13, the
layer's pyarrow 20; ``.venv/bin/python -m bench.bench_export_memory``, docs/performance.md),
peak RSS grows by ~2.4 KiB per event on top of ~120 MiB (241 MiB at 50k events, 575 MiB at
200k, 1,776 MiB at 700k). So a group of the old 2,000,000-event budget needs ~4.8 GiB, more
than the 3,008 MB the export functions have, and Lambda kills it
(out of memory) on every retry: the run stays pending and nothing reaches the lake.

``events_for_memory`` inverts the measurement with a margin (only ``USABLE_FRACTION`` of the
memory is planned for: DynamoDB pages in flight, the dedup index of the last 48 hours and
allocator slack come on top), and ``effective_budget`` caps the configured budget with it, so a
smaller ``MemorySize`` (or a larger configured budget) can never plan a group that cannot fit.
"""

from __future__ import annotations

BASE_MIB = 125.0  # interpreter, pyarrow and the export's modules, before any event (fit: 122)
KIB_PER_EVENT = 2.45  # fit 2.42 KiB/event over 50k → 700k events (bench_export_memory), rounded up
USABLE_FRACTION = 0.6


def events_for_memory(memory_mb: int) -> int:
    """The most events a group may hold in a function of ``memory_mb`` MB (Lambda's MB are MiB)."""
    usable_mib = memory_mb * USABLE_FRACTION - BASE_MIB
    return max(1_000, int(usable_mib * 1024 / KIB_PER_EVENT) // 1_000 * 1_000)


def effective_budget(configured: int, memory_mb: int) -> int:
    """``configured``, capped by what ``memory_mb`` holds; ``memory_mb`` 0 (not in Lambda): ``configured``."""
    return min(configured, events_for_memory(memory_mb)) if memory_mb > 0 else configured
