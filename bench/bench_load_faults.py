"""Load and faults against `clickstream dev`: nothing acknowledged is lost, nothing is duplicated.

Bounded, loopback only, every process it signals is one it started (or its dev server started
for this run's data dir). ``python -m bench load_faults``; about 3 minutes on 2 busy cores.

What runs at once:

* 12 client threads send 3,000 requests of 10 events (unique event_ids), each retried with
  the same body on a connection error, a timeout or a 5xx, honouring Retry-After, until a 200;
* dynalite is killed (SIGKILL) at 25 % of the requests and restarted 3 s later on its port
  and data dir (by this script);
* `clickstream etl run` runs in a loop; 20 runs are interrupted (SIGINT or SIGTERM, at
  random) at a random moment;
* at 50 % the dev server is stopped (SIGSTOP) for longer than the settle delay, an export
  runs to completion meanwhile, then SIGCONT: requests stamped before the stop must not be
  acknowledged (issue 12, item 1), their retries are stored anew;
* 240 hostile requests (oversized or lying Content-Length, NUL bytes in paths, chunked
  bodies, bad JSON and keys, absurd dashboard parameters) never get a 500.

At the end the remaining window is exported and the lake is read back: every acknowledged
event_id must be there exactly once. Exit 0 when that holds and no answer was a 500.
"""

from __future__ import annotations

import collections
import http.client
import io
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import orjson

from bench._devstack import COMMAND, DevStack
from clickstream.localstack import BIN, wait_for_port

REQUESTS = int(os.environ.get("LOAD_REQUESTS", "3000"))
EVENTS = 10
WORKERS = 12
SETTLE_S = int(os.environ.get("LOAD_SETTLE_SECONDS", "30"))
STALL_S = float(os.environ.get("LOAD_STALL_SECONDS", str(SETTLE_S + 5)))
ETL_KILLS = int(os.environ.get("LOAD_ETL_KILLS", "20"))
HOSTILE = 240
ATTEMPT_TIMEOUT_S = 300.0  # long enough to see what a stalled server answers
MAX_ATTEMPTS = 30
DEADLINE_S = 900  # the whole run, whatever happens


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = 0
        self.acked: set[str] = set()
        self.statuses: collections.Counter[str] = collections.Counter()
        self.retries = 0
        self.gave_up = 0
        self.after_stall: collections.Counter[str] = collections.Counter()  # answers to requests sent before SIGSTOP
        self.etl: collections.Counter[str] = collections.Counter()
        self.hostile: collections.Counter[str] = collections.Counter()
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        with self.lock:
            self.notes.append(f"{time.strftime('%H:%M:%S')} {text}")
        print(f"  {time.strftime('%H:%M:%S')} {text}", flush=True)


def make_body(req: int) -> tuple[bytes, list[str]]:
    now = int(time.time() * 1000)
    ids = [f"lf-{req}-{i}" for i in range(EVENTS)]
    events = [
        {
            "event_id": eid,
            "event_type": "page_view",
            "timestamp": now - 500,
            "sent_at": now,
            "anonymous_id": f"anon-{req % 97}",
            "session_id": f"s-{req}",
            "url": f"https://shop.example/p/{req % 50}",
        }
        for eid in ids
    ]
    return orjson.dumps({"events": events}), ids


def client(
    stack: DevStack, key: str, work: collections.deque[int], tally: Tally, stalled: threading.Event, stop_at: float
) -> None:
    conn: http.client.HTTPConnection | None = None
    headers = {"Content-Type": "application/json", "X-Api-Key": key, "User-Agent": "load-faults/1"}
    while time.monotonic() < stop_at:
        try:
            req = work.popleft()
        except IndexError:
            break
        body, ids = make_body(req)
        for _attempt in range(MAX_ATTEMPTS):
            sent_before_stall = not stalled.is_set()
            status, retry_after = "error", 0.5
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=ATTEMPT_TIMEOUT_S)
                conn.request("POST", "/v1/events", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = str(resp.status)
                retry_after = float(resp.getheader("Retry-After") or 0.5)
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
            with tally.lock:
                tally.statuses[status] += 1
                if sent_before_stall and stalled.is_set():
                    tally.after_stall[status] += 1
            if status == "200":
                answer = orjson.loads(data)
                assert answer["accepted"] == EVENTS, answer
                with tally.lock:
                    tally.acked.update(ids)
                break
            with tally.lock:
                tally.retries += 1
            time.sleep(min(retry_after, 2.0) * (0.5 + random.random()))
        else:
            with tally.lock:
                tally.gave_up += 1
        with tally.lock:
            tally.done += 1
    if conn is not None:
        conn.close()


def etl_run(stack: DevStack, kill_after: float | None = None, sig: signal.Signals = signal.SIGINT) -> str:
    proc = subprocess.Popen(
        [str(COMMAND), "etl", "run"], env=stack.cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        output, _ = proc.communicate(timeout=kill_after if kill_after is not None else 300)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            return "hung after the signal: " + output
        where = "mid-export, lease released" if "lease is released" in output else "before taking the lease"
        return f"{sig.name} {where}"
    return (
        output.strip().split(" up to")[0].split(":")[0]
        if proc.returncode == 0
        else f"failed rc={proc.returncode}: {output.strip()[-200:]}"
    )


def etl_loop(stack: DevStack, tally: Tally, pause: threading.Event, finished: threading.Event, rng: random.Random) -> None:
    kills = 0
    while not finished.is_set() or kills < ETL_KILLS:  # the quota of interruptions is met even after the load
        if pause.is_set():
            time.sleep(0.2)
            continue
        if kills < ETL_KILLS:
            kills += 1
            outcome = etl_run(stack, kill_after=rng.uniform(0.5, 8.0), sig=rng.choice([signal.SIGINT, signal.SIGTERM]))
        else:
            outcome = etl_run(stack)
        with tally.lock:
            tally.etl[outcome] += 1
        time.sleep(rng.uniform(0.5, 2.0))


HOSTILE_REQUESTS: list[tuple[str, bytes]] = [
    ("oversized", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{"),
    ("length-abc", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}"),
    ("nul-static", b"GET /web/tracker\x00.js HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("nul-demo", b"GET /demo/\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    (
        "chunked",
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\n{}\r\n0\r\n\r\n",
    ),
    ("traversal", b"GET /web/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("dashboard-date", b"GET /dashboard/api/panels?app_id=demo&date_to=9999-12-31 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("dashboard-app", b"GET /dashboard/api/panels?app_id=demo%0A HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("garbage-line", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n"),
]


def hostile_with_key(key: str) -> list[tuple[str, bytes]]:
    def post(body: bytes, k: str = key) -> bytes:
        return (
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Api-Key: "
            + k.encode()
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    too_many = orjson.dumps({"events": [{"event_id": f"x{i}"} for i in range(600)]})
    return [
        ("bad-json", post(b"{not json")),
        ("bad-key", post(b"{}", "cs_nope")),
        ("too-many", post(too_many)),
        ("not-object", post(b"[1,2,3]")),
        ("deep", post(b"[" * 5000 + b"]" * 5000)),
    ]


def hostile_one(port: int, data: bytes) -> str:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
            sock.sendall(data)
            head = sock.recv(64)
        return head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "closed"
    except TimeoutError:
        return "timeout"
    except OSError:
        return "reset"


def hostile_loop(stack: DevStack, key: str, tally: Tally, rng: random.Random, finished: threading.Event) -> None:
    menu = HOSTILE_REQUESTS + hostile_with_key(key)
    for i in range(HOSTILE):
        if finished.is_set() and i < HOSTILE:
            pass  # finish the count even after the load: they are quick
        name, data = menu[i % len(menu)]
        outcome = hostile_one(stack.port, data)
        with tally.lock:
            tally.hostile[f"{name}:{outcome}"] += 1
        time.sleep(rng.uniform(0.02, 0.2))


def restart_dynalite(stack: DevStack) -> subprocess.Popen:
    node = shutil.which("node") or "node"
    proc = subprocess.Popen(
        [
            node,
            str(BIN / "dynalite"),
            "--port",
            str(stack.dynamodb_port),
            "--path",
            str(stack.data_dir / "dynamodb"),
            "--createTableMs",
            "0",
            "--deleteTableMs",
            "0",
            "--updateTableMs",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(stack.dynamodb_port, proc=proc)
    return proc


def read_lake(stack: DevStack, app_id: str) -> collections.Counter[str]:
    import boto3
    import pyarrow.parquet as pq

    from clickstream.target import settings_for

    settings = settings_for(None, stack.cli_env())
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        region_name=settings.region,
        aws_access_key_id="S3RVER",
        aws_secret_access_key="S3RVER",
    )
    counts: collections.Counter[str] = collections.Counter()
    prefix = f"{settings.lake_prefix}/events/app_id={app_id}/"
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".parquet"):
                data = s3.get_object(Bucket=settings.bucket, Key=obj["Key"])["Body"].read()
                counts.update(pq.read_table(io.BytesIO(data), columns=["event_id"]).column("event_id").to_pylist())
    return counts


def main() -> int:
    started = time.monotonic()
    stop_at = started + DEADLINE_S
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True, check=False).stdout.strip()}")
    print(
        f"{REQUESTS} requests x {EVENTS} events, {WORKERS} workers, settle {SETTLE_S} s, stall {STALL_S:.0f} s, "
        f"{ETL_KILLS} interrupted etl runs, {HOSTILE} hostile requests",
        flush=True,
    )
    tally = Tally()
    restarted: subprocess.Popen | None = None
    stack = DevStack(extra_env={"CLICKSTREAM_SETTLE_SECONDS": str(SETTLE_S)}).start()
    try:
        key, app_id = stack.key, stack.app_id
        work: collections.deque[int] = collections.deque(range(REQUESTS))
        stalled, pause_etl, finished = threading.Event(), threading.Event(), threading.Event()
        workers = [
            threading.Thread(target=client, args=(stack, key, work, tally, stalled, stop_at), daemon=True) for _ in range(WORKERS)
        ]
        etl_thread = threading.Thread(target=etl_loop, args=(stack, tally, pause_etl, finished, random.Random(3)), daemon=True)
        hostile_thread = threading.Thread(target=hostile_loop, args=(stack, key, tally, random.Random(5), finished), daemon=True)
        for t in [*workers, etl_thread, hostile_thread]:
            t.start()

        def wait_progress(fraction: float) -> None:
            while tally.done < REQUESTS * fraction and any(w.is_alive() for w in workers) and time.monotonic() < stop_at:
                time.sleep(0.05)

        # dynalite killed and restarted
        wait_progress(0.25)
        dynalite = stack.child_pid("dynalite")
        os.kill(dynalite, signal.SIGKILL)
        tally.note(f"killed dynalite (pid {dynalite}) at {tally.done} requests")
        time.sleep(3)
        restarted = restart_dynalite(stack)
        tally.note(f"restarted dynalite (pid {restarted.pid})")

        # the dev server stalled across an export
        wait_progress(0.5)
        pause_etl.set()
        assert stack.proc is not None
        os.kill(stack.proc.pid, signal.SIGSTOP)
        stalled.set()
        stop_t = time.monotonic()
        tally.note(f"SIGSTOP dev server (pid {stack.proc.pid}) at {tally.done} requests")
        time.sleep(SETTLE_S + 2)
        for _ in range(60):  # an interrupted run may have left its window pending; the lease is free
            outcome = etl_run(stack)
            if outcome.startswith("exported"):
                break
            time.sleep(1)
        tally.note(f"export while stalled: {outcome}")
        time.sleep(max(0.0, STALL_S - (time.monotonic() - stop_t)))
        os.kill(stack.proc.pid, signal.SIGCONT)
        tally.note(f"SIGCONT after {time.monotonic() - stop_t:.0f} s")
        pause_etl.clear()

        for w in workers:
            w.join(timeout=max(1.0, stop_at - time.monotonic()))
        finished.set()
        etl_thread.join(timeout=max(1.0, stop_at - time.monotonic()))
        hostile_thread.join(timeout=120)
        tally.note(f"load done: {tally.done} requests, {len(tally.acked)} events acknowledged")

        # export what is left: after the settle delay, until a run finds nothing new
        time.sleep(SETTLE_S + 1)
        final = [etl_run(stack) for _ in range(2)]
        tally.note(f"final exports: {final}")
        health = stack.request("GET", "/v1/health")[0]
        lake = read_lake(stack, app_id)
    finally:
        log = stack.stop()
        if restarted is not None:
            restarted.terminate()
            restarted.wait(timeout=10)

    lost = tally.acked - set(lake)
    duplicated = {k: n for k, n in lake.items() if n > 1}
    extra = set(lake) - tally.acked
    print(f"answers          {dict(sorted(tally.statuses.items()))}")
    print(f"retries          {tally.retries}  (gave up: {tally.gave_up})")
    print(f"sent before the stall, answered after it: {dict(tally.after_stall)}")
    print(f"etl runs         {dict(tally.etl)}")
    print(f"hostile          {dict(sorted(tally.hostile.items()))}")
    print(f"health after     {health}")
    print(f"acknowledged     {len(tally.acked)} events in {tally.done} requests")
    print(f"in the lake      {sum(lake.values())} rows, {len(lake)} event_ids ({len(extra)} stored but never acknowledged)")
    print(f"lost             {len(lost)}  {sorted(lost)[:5]}")
    print(f"duplicated       {len(duplicated)}  {list(duplicated.items())[:5]}")
    print(f"500 answers      {tally.statuses.get('500', 0) + sum(n for k, n in tally.hostile.items() if k.endswith(':500'))}")
    print(f"tracebacks       {log.count('Traceback')}")
    if "Traceback" in log:
        import re

        kinds = collections.Counter(
            m.group(0)[:160] for m in re.finditer(r"(?m)^[A-Za-z_.]+(?:Error|Exception|Interrupt)\b.*$", log)
        )
        for kind, n in kinds.most_common(8):
            print(f"                 {n} x {kind}")
    print(f"took             {time.monotonic() - started:.0f} s")
    ok = (
        not lost
        and not duplicated
        and tally.gave_up == 0
        and tally.done == REQUESTS
        and "500" not in tally.statuses
        and not any(k.endswith(":500") for k in tally.hostile)
        and health == 200
    )
    print(f"zero lost, zero duplicated, no 500: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
