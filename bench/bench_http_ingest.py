"""HTTP ingest against the local server (`clickstream dev`): requests/s and latency at 4 clients.

Four client threads, each on one kept-alive connection (as a browser or an SDK keeps one),
POST requests of 10 realistic events for DURATION_S seconds after a warm-up. Printed:
requests/s and events/s, p50/p99 latency, and where the CPU went: the API process (the
Chalice app in chalice's local gateway) against dynalite (DynamoDB) and s3rver, in CPU
seconds per 1,000 requests, from /proc.

Kept-alive connections are where the server's write pattern shows: a response sent as
two writes (headers, then body) waits for the client's delayed ACK under Nagle's
algorithm (~40 ms on Linux) unless the server sets TCP_NODELAY (issue 12, item 8).

Goal: every answer 200 and p50 under 40 ms, the delayed-ACK stall a two-write response pays
on every kept-alive request (a write is one BatchWriteItem to dynalite); the figure to compare
between machines is requests/s per CPU second.
"""

from __future__ import annotations

import http.client
import os
import random
import statistics
import threading
import time
import uuid

import orjson

from bench._devstack import DevStack
from bench.bench_ingest import USER_AGENTS, realistic_event

CLIENTS = 4
EVENTS_PER_REQUEST = 10
WARMUP_S = 3.0
DURATION_S = float(os.environ.get("BENCH_HTTP_SECONDS", "20"))
GOAL_P50_MS = 40.0


def body(rng: random.Random) -> bytes:
    now = int(time.time() * 1000)
    anonymous_id = f"anon-{rng.randrange(10_000)}"
    session = f"sess-{uuid.uuid4().hex[:8]}"
    return orjson.dumps({"events": [realistic_event(rng, now, anonymous_id, session) for _ in range(EVENTS_PER_REQUEST)]})


def client(
    port: int,
    key: str,
    seed: int,
    until: list[float],
    measure_from: float,
    latencies: list[float],
    statuses: dict[int, int],
    lock: threading.Lock,
) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json", "X-Api-Key": key, "User-Agent": USER_AGENTS[seed % len(USER_AGENTS)]}
    mine: list[float] = []
    seen: dict[int, int] = {}
    while True:
        payload = body(rng)
        started = time.perf_counter()
        if started >= until[0]:
            break
        conn.request("POST", "/v1/events", body=payload, headers=headers)
        resp = conn.getresponse()
        resp.read()
        took = time.perf_counter() - started
        if started >= measure_from:
            mine.append(took)
            seen[resp.status] = seen.get(resp.status, 0) + 1
    conn.close()
    with lock:
        latencies.extend(mine)
        for status, n in seen.items():
            statuses[status] = statuses.get(status, 0) + n


def main() -> int:
    print(
        f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), {os.cpu_count()} CPUs",
        flush=True,
    )
    with DevStack() as stack:
        key = stack.key
        start = time.perf_counter()
        measure_from = start + WARMUP_S
        until = [measure_from + DURATION_S]
        latencies: list[float] = []
        statuses: dict[int, int] = {}
        lock = threading.Lock()
        threads = [
            threading.Thread(target=client, args=(stack.port, key, i, until, measure_from, latencies, statuses, lock))
            for i in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        time.sleep(max(0.0, measure_from - time.perf_counter()))
        cpu_before = stack.cpu()
        time.sleep(max(0.0, until[0] - time.perf_counter()))
        cpu_after = stack.cpu()
        for t in threads:
            t.join()
    n = len(latencies)
    rps = n / DURATION_S
    cpu = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
    total_cpu = sum(cpu.values())
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(n - 1, int(n * 0.99))] * 1000
    print(
        f"{CLIENTS} clients, {EVENTS_PER_REQUEST} events per request, {DURATION_S:.0f} s measured after {WARMUP_S:.0f} s warm-up"
    )
    print(f"requests/s     {rps:8.1f}   ({rps * EVENTS_PER_REQUEST:,.0f} events/s; statuses {dict(sorted(statuses.items()))})")
    print(f"latency        p50 {p50:6.1f} ms   p99 {p99:6.1f} ms")
    per_k = {name: 1000 * c / n for name, c in cpu.items()} if n else {}
    print(
        "CPU            "
        + "   ".join(
            f"{name} {c:.1f} s ({100 * c / total_cpu:.0f} %, {per_k[name]:.2f} s/1k req)" for name, c in cpu.items() if total_cpu
        )
    )
    print(f"               {n / total_cpu if total_cpu else 0:.0f} requests per CPU second (all three processes)")
    ok = statuses.get(200, 0) == n and p50 <= GOAL_P50_MS
    print(f"goal p50 <= {GOAL_P50_MS:.0f} ms and every answer 200: {'met' if ok else 'missed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
