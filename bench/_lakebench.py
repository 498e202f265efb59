"""Shared helpers for the export benchmarks (transform, read path, incrementality).

* realistic items, built by ``plan_batch`` exactly as the API stores them;
* DynamoDB item size and write units, as DynamoDB bills them;
* one-core pinning, timing, the machine's description;
* a private local stack (dynalite + s3rver on free ports, data under /tmp) and a
  many-threaded BatchWriteItem loader for it;
* request counters for the export's DynamoDB Queries.

Every benchmark measures its baseline in the same run and reports the ratio: the
machines are shared and noisy, so only ratios compare across runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

# The benchmarks only ever talk to their own local servers.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from chalicelib import clients  # noqa: E402
from chalicelib.collect.enrich import request_facts  # noqa: E402
from chalicelib.collect.ingest import plan_batch  # noqa: E402
from chalicelib.settings import Settings, from_env  # noqa: E402
from chalicelib.store.events import write_chunk  # noqa: E402
from clickstream.admin.tables import ensure_bucket, ensure_table  # noqa: E402

Item = dict[str, Any]
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
# A fixed "now" keeps partitions, windows and file names identical from run to run.
NOW_MS = int(datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc).timestamp() * 1000)

# -- realistic events ---------------------------------------------------------------
APPS = ("shop", "blog", "docs")
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/"
    "15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
PAGES = (
    ("/products/espresso-machine-pro", "Espresso Machine Pro | Touchwood"),
    ("/products/grinder", "Burr Grinder | Touchwood"),
    ("/blog/how-to-dial-in-espresso", "How to dial in espresso"),
    ("/docs/getting-started/install", "Install - Touchwood docs"),
    ("/cart", "Your cart"),
    ("/", "Touchwood - Coffee gear"),
)
UTMS = (
    "",
    "?utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale",
    "?utm_source=google&utm_medium=cpc&utm_campaign=brand&utm_term=espresso+machine&utm_content=ad-variant-b",
    "?utm_source=twitter&utm_medium=social&utm_campaign=launch",
)
REFERRERS = (
    None,
    "https://www.google.com/search?q=best+espresso+machine",
    "https://news.ycombinator.com/item?id=38000000",
    "https://t.co/abc123",
)
EVENT_TYPES = ("page_view", "page_view", "page_view", "click", "scroll", "conversion", "custom")
LOCALES = (("de-DE", "Europe/Berlin"), ("en-US", "America/New_York"), ("en-GB", "Europe/London"), ("fr-FR", "Europe/Paris"))
SCREENS = ((1920, 1080), (390, 844), (1440, 900), (820, 1180))


def _event(rng: random.Random, sent_ms: int, visitor: int, lag_ms: int = 0) -> dict[str, Any]:
    """One event as web/tracker.js sends it: UUID ids, the page, properties and context."""
    path, title = rng.choice(PAGES)
    event_type = rng.choice(EVENT_TYPES)
    locale, tz = rng.choice(LOCALES)
    width, height = rng.choice(SCREENS)
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": event_type,
        "event_name": {"click": "add_to_cart", "custom": "newsletter_signup", "conversion": "purchase"}.get(
            event_type, event_type
        ),
        "timestamp": sent_ms - lag_ms - rng.randint(0, 5_000),
        "sent_at": sent_ms,
        "anonymous_id": str(uuid.UUID(int=random.Random(visitor).getrandbits(128), version=4)),
        "session_id": str(uuid.UUID(int=random.Random(visitor * 16 + rng.randint(1, 3)).getrandbits(128), version=4)),
        "url": f"https://touchwood.example{path}{rng.choice(UTMS)}",
        "referrer": rng.choice(REFERRERS),
        "title": title,
        "properties": {"sku": f"TW-{rng.randint(100, 999)}", "price": round(rng.uniform(5, 900), 2), "qty": rng.randint(1, 3)}
        if event_type in ("click", "conversion")
        else {"scroll_depth": rng.choice((25, 50, 75, 100))}
        if event_type == "scroll"
        else {"section": path.split("/")[1] or "home"},
        "context": {"locale": locale, "timezone": tz, "screen": {"width": width, "height": height}},
    }
    if visitor % 4 == 0:
        event["user_id"] = f"user-{visitor:06d}"
    if visitor % 10 == 0:
        event["context"]["geo"] = {"lat": round(rng.uniform(-60, 60), 4), "lon": round(rng.uniform(-120, 120), 4), "accuracy": 25}
    return {k: v for k, v in event.items() if v is not None}


def make_items(
    n: int,
    settings: Settings,
    lo_ms: int,
    hi_ms: int,
    seed: int = 7,
    per_request: int = 20,
    event_lag_ms: int = 0,
) -> list[Item]:
    """``n`` event items received evenly in (lo_ms, hi_ms], in requests of ``per_request`` events.

    Each request comes from one visitor (one user agent, IP and country), as a browser
    tracker sends them; ``event_lag_ms`` makes event times run that far behind (events
    queued offline: ``timestamp`` that much before ``sent_at``).
    """
    rng = random.Random(seed)
    items: list[Item] = []
    requests = -(-n // per_request)
    countries = ("de", "us", "gb", "fr", "nl")
    loose = settings.with_(max_event_age_days=3650, max_future_hours=24 * 3650)
    for r in range(requests):
        count = min(per_request, n - r * per_request)
        received = lo_ms + 1 + (hi_ms - lo_ms - 1) * r // max(1, requests - 1) if requests > 1 else hi_ms
        visitor = rng.randrange(1 << 24)
        facts = request_facts(
            APPS[visitor % len(APPS)],
            received,
            f"81.{visitor >> 16 & 255}.{visitor >> 8 & 255}.{visitor & 255}",
            {"user-agent": AGENTS[visitor % len(AGENTS)], "cloudfront-viewer-country": countries[visitor % len(countries)]},
        )
        events = [_event(rng, received - 500, visitor, event_lag_ms) for _ in range(count)]
        plan = plan_batch(events, facts, loose, f"req-{seed}-{r}")
        assert plan.accepted == count, plan.rejected[:3]
        items.extend(plan.items)
    return items


# -- what an item costs in DynamoDB ---------------------------------------------------
def _number_bytes(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").strip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def item_bytes(item: Item) -> int:
    """Item size as DynamoDB bills it: attribute names plus values (strings as UTF-8)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        if "S" in value:
            size += len(value["S"].encode())
        elif "N" in value:
            size += _number_bytes(value["N"])
        else:
            raise ValueError(f"unexpected attribute type in {name}: {value}")
    return size


def write_units(item: Item) -> int:
    """1 WRU per started KB of item size (standard table, on-demand)."""
    return -(-item_bytes(item) // 1024)


# -- the machine, timing ----------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import pyarrow

    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "pyarrow": pyarrow.__version__,
    }


def pin_one_core(cpu: int = 0) -> None:
    """Everything on one core: the process, and pyarrow's CPU and I/O pools."""
    import pyarrow as pa

    os.sched_setaffinity(0, {cpu})
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def summary(seconds: Sequence[float]) -> dict[str, float]:
    return {"best_s": round(min(seconds), 4), "median_s": round(statistics.median(seconds), 4), "runs": len(seconds)}


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None, name: str) -> argparse.Namespace:
    """Flags from ``python -m bench.bench_<name> ...``; defaults under ``python -m bench <names>``."""
    if argv is None:
        argv = [] if Path(sys.argv[0]).name == "__main__.py" else sys.argv[1:]
    return parser.parse_args(list(argv))


def emit(result: dict[str, Any], json_path: str | None) -> None:
    text = json.dumps(result, indent=2, sort_keys=False, default=str)
    print(text)
    if json_path:
        Path(json_path).write_text(text + "\n")


# -- a private local stack ----------------------------------------------------------------
@contextlib.contextmanager
def local_stack(data_dir: str | None = None, keep: bool = False) -> Iterator[Any]:
    """dynalite + s3rver on free ports with data under /tmp; stopped (and the data removed) at the end."""
    from clickstream.localstack import LocalStack, free_port

    path = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="clickstream-bench-", dir="/tmp"))
    stack = LocalStack(path, dynamodb_port=free_port(), s3_port=free_port())
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        if not keep and not data_dir:
            shutil.rmtree(path, ignore_errors=True)


def stack_settings(stack: Any, name: str | None = None, **overrides: Any) -> Settings:
    """Settings for a fresh table and bucket on ``stack`` (production shard count unless overridden)."""
    name = name or f"b-{uuid.uuid4().hex[:10]}"
    env = {**stack.env(), "CLICKSTREAM_TABLE": name, "CLICKSTREAM_BUCKET": name}
    settings = from_env(env).with_(**overrides) if overrides else from_env(env)
    ensure_table(clients.dynamodb(settings), settings.table)
    ensure_bucket(clients.s3(settings), settings.bucket)
    return settings


@dataclass
class LoadResult:
    items: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


def load(settings: Settings, items: Sequence[Item], threads: int = 16, progress: bool = False) -> LoadResult:
    """BatchWriteItem (25 items a request) from ``threads`` threads; every item stored or raise."""
    client = clients.dynamodb(settings)
    chunks = [list(items[i : i + 25]) for i in range(0, len(items), 25)]
    done = [0]
    lock = threading.Lock()
    started = time.perf_counter()

    def write(chunk: list[Item]) -> None:
        write_chunk(client, settings.table, chunk, attempts=12)
        if progress:
            with lock:
                done[0] += len(chunk)
                if done[0] % 100_000 < len(chunk):
                    rate = done[0] / (time.perf_counter() - started)
                    print(f"  loaded {done[0]:,} items ({rate:,.0f}/s)", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(write, c) for c in chunks]:
            future.result()
    return LoadResult(len(items), time.perf_counter() - started)


# -- counting the export's DynamoDB requests ------------------------------------------------
@dataclass
class QueryCounter:
    """Counts the raw-HTTP Queries an ``Exporter`` sends (its ``reader``) and what they return."""

    requests: int = 0
    count_requests: int = 0
    items: int = 0
    counted: int = 0
    scanned: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, reader: Any) -> "QueryCounter":
        post = reader._post

        def counted_post(payload: dict[str, Any]) -> dict[str, Any]:
            page = post(payload)
            with self.lock:
                self.requests += 1
                self.scanned += int(page.get("ScannedCount", 0))
                if payload.get("Select") == "COUNT":
                    self.count_requests += 1
                    self.counted += int(page.get("Count", 0))
                else:
                    self.items += len(page.get("Items", []))
            return page

        reader._post = counted_post
        return self

    def as_dict(self) -> dict[str, int]:
        return {
            "query_requests": self.requests,
            "count_requests": self.count_requests,
            "items_read": self.items,
            "items_counted": self.counted,
            "items_scanned": self.scanned,
        }


@dataclass
class CallCounter:
    """Counts the boto3 calls a client makes (state item, compaction intents, S3), by operation."""

    calls: dict[str, int] = field(default_factory=dict)

    def attach(self, client: Any) -> "CallCounter":
        service = client.meta.service_model.service_name

        def count(model: Any, **_: Any) -> None:
            key = f"{service}.{model.name}"
            self.calls[key] = self.calls.get(key, 0) + 1

        client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.*", count)
        return self


def command(name: str, argv: Sequence[str] | None) -> str:
    """The command line that reproduces this run."""
    if argv is None and Path(sys.argv[0]).name == "__main__.py":
        return f".venv/bin/python -m bench {name}"
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join([".venv/bin/python -m", f"bench.bench_{name}", *args])


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(pid: int, busy_below: float = 0.05, timeout_s: float = 120.0) -> float:
    """Wait until ``pid`` (dynalite, compacting LevelDB after a bulk load) uses < 5% of a core."""
    hz = os.sysconf("SC_CLK_TCK")
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = _cpu_ticks(pid)
        time.sleep(1.0)
        if (_cpu_ticks(pid) - before) / hz < busy_below:
            break
    return time.monotonic() - started


# -- where a run's time goes ---------------------------------------------------------------
class ServerCpu:
    """CPU seconds the local servers (dynalite, s3rver) spend between ``start`` and ``stop``."""

    def __init__(self, stack: Any) -> None:
        self.pids = {"dynalite": stack.procs[0].pid, "s3rver": stack.procs[1].pid}
        self.hz = os.sysconf("SC_CLK_TCK")
        self.before: dict[str, int] = {}

    def start(self) -> "ServerCpu":
        self.before = {name: _cpu_ticks(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        return {f"{name}_cpu_s": round((_cpu_ticks(pid) - self.before[name]) / self.hz, 2) for name, pid in self.pids.items()}


@contextlib.contextmanager
def phases(exporter: Any) -> Iterator[dict[str, dict[str, float]]]:
    """Wall and CPU seconds of each step of ``run_once``: the reader's calls and the export modules'."""
    from chalicelib.export import dedup
    from chalicelib.lake import parquetio, transform

    totals: dict[str, dict[str, float]] = {}
    patched: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            wall0, cpu0 = time.perf_counter(), time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                entry = totals.setdefault(label, {"wall_s": 0.0, "cpu_s": 0.0, "calls": 0})
                entry["wall_s"] += time.perf_counter() - wall0
                entry["cpu_s"] += time.process_time() - cpu0
                entry["calls"] += 1

        patched.append((owner, name, original))
        setattr(owner, name, timed_call)

    wrap(exporter.reader, "count_many", "reader.count_many (COUNT per shard)")
    wrap(exporter.reader, "read_many", "reader.read_many (Query d)")
    wrap(transform, "lines_to_table", "transform.lines_to_table")
    wrap(transform, "split_partitions", "transform.split_partitions (generator only)")
    wrap(dedup, "first_received", "dedup.first_received")
    wrap(dedup, "load_seen", "dedup.load_seen")
    wrap(dedup, "drop_seen", "dedup.drop_seen")
    wrap(parquetio, "parquet_bytes", "parquetio.parquet_bytes")
    wrap(exporter.lake, "put_bytes", "lake.put_bytes (S3 PUT)")
    try:
        yield totals
    finally:
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)
        for entry in totals.values():
            entry["wall_s"], entry["cpu_s"] = round(entry["wall_s"], 2), round(entry["cpu_s"], 2)
