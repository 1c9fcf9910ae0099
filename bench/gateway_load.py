"""Gateway under load, on loopback only: rate limits, load shedding, no lost submissions, fan-out.

Starts the projector and a real uvicorn gateway as subprocesses (on embedded servers, or on
NATS_URL / DATABASE_URL / REDIS_URL when all three are set, in a fresh namespace and database),
then runs two bounded phases:

1. HTTP: `--tenants` tenants hammer reads and submissions well above their rate limits for
   `--seconds` (closed loop, `--per-tenant` requests in flight each). Prints responses/s,
   p50/p99 latency of accepted requests as the client saw it and the mean time inside the
   gateway per route, the gateway's CPU per response, the share of 429 and 503, the count of
   other 5xx (must be 0), and checks that every accepted submission is in the log
   (WorkflowSubmitted events == 202 answers, same ids) and nothing else is.
2. WebSocket: `--ws-clients` clients spread over `--ws-jobs` tenants (one workflow with one job
   each) while JobProgressed events are appended for every job at `--progress-hz`; prints the
   delivery lag from append to client (p50/p99/max) and how many clients saw the last update.

    .venv/bin/python bench/gateway_load.py                 # 15 s + 10 s, 50 tenants, 500 sockets
    .venv/bin/python bench/gateway_load.py --seconds 5 --ws-clients 100 --json out.json

Exit status 1 when a submission was lost or invented, or a 5xx other than 503 was answered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tessera.bus import Bus, JetStreamBus, read_events
from tessera.embedded import ServerURLs, embedded_stack, free_port
from tessera.events import JobProgressed, JobStarted, WorkflowSubmitted

SPEC = {"name": "bench", "jobs": [{"id": "a", "type": "synthetic", "params": {"tiles": 8}}]}

# --- the stack --------------------------------------------------------------------------------


@contextlib.contextmanager
def servers(state: Path) -> Iterator[ServerURLs]:
    env = [os.environ.get(k) for k in ("NATS_URL", "DATABASE_URL", "REDIS_URL")]
    if all(env):
        yield ServerURLs(*env)  # type: ignore[arg-type]
    else:
        with embedded_stack(state / "servers") as urls:
            yield urls


@contextlib.asynccontextmanager
async def fresh_database(url: str) -> AsyncIterator[str]:
    name = f"tessera_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(url)
    await admin.execute(f"CREATE DATABASE {name}")
    await admin.close()
    # the query may hold a path (embedded PostgreSQL: ?host=/path/to/socket-dir)
    head, _, query = url.partition("?")
    base = head.rpartition("/")[0]
    try:
        yield f"{base}/{name}" + (f"?{query}" if query else "")
    finally:
        admin = await asyncpg.connect(url)
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


def start(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_ready(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=2) as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise RuntimeError(f"gateway exited; see {log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"gateway not ready after 30 s; see {log}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- phase 1: HTTP ----------------------------------------------------------------------------


class KeepAlive:
    """A minimal HTTP/1.1 keep-alive client. httpx would cost this load generator more CPU per
    request than the gateway spends answering it, on the same two cores."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, tenant: str, body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        head = f"{method} {path} HTTP/1.1\r\nHost: gw\r\nX-User-ID: {tenant}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            self.writer.write(head.encode() + b"\r\n" + body)
            raw = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            status = int(raw[0].split()[1])
            headers = dict(line.lower().split(": ", 1) for line in raw[1:] if ": " in line)
            payload = await self.reader.readexactly(int(headers.get("content-length", 0)))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            self.close()
            raise
        if headers.get("connection") == "close":
            self.close()
        return status, payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class HttpStats:
    statuses: Counter[int] = field(default_factory=Counter)
    latency: list[float] = field(default_factory=list)
    accepted_ids: set[str] = field(default_factory=set)
    errors: Counter[str] = field(default_factory=Counter)


async def hammer(
    port: int, tenant: str, stats: HttpStats, until: float, budget: list[int], share: float
) -> None:
    conn, rng, spec = KeepAlive(port), random.Random(tenant), json.dumps(SPEC).encode()
    while time.monotonic() < until and budget[0] > 0:
        budget[0] -= 1
        submit = rng.random() < share
        t0 = time.perf_counter()
        try:
            if submit:
                status, body = await conn.request("POST", "/v1/workflows", tenant, spec)
            else:
                path = rng.choice(("/v1/workflows?limit=20", "/v1/admission"))
                status, body = await conn.request("GET", path, tenant)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            stats.errors[type(exc).__name__] += 1
            continue
        stats.statuses[status] += 1
        if status < 300:
            stats.latency.append(time.perf_counter() - t0)
            if submit:
                stats.accepted_ids.add(json.loads(body)["workflow_id"])
    conn.close()


async def http_phase(port: int, args: argparse.Namespace) -> tuple[HttpStats, float]:
    stats = HttpStats()
    tenants = [str(uuid.uuid4()) for _ in range(args.tenants)]
    budget = [args.max_requests]
    t0 = time.monotonic()
    workers = [
        hammer(port, tenant, stats, t0 + args.seconds, budget, args.submit_share)
        for tenant in tenants
        for _ in range(args.per_tenant)
    ]
    await asyncio.gather(*workers)
    return stats, time.monotonic() - t0


async def time_inside_gateway(base: str) -> dict[str, float]:
    """Mean ms per request inside the gateway by route, from its own histogram: the server's
    share of the latency, without the load generator's own queueing."""
    async with httpx.AsyncClient(base_url=base) as http:
        text = (await http.get("/metrics")).text
    pattern = re.compile(
        r'^tessera_http_request_seconds_(sum|count)\{method="(\w+)",route="(/v1[^"]*)"\} (\S+)$'
    )
    totals: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if m := pattern.match(line):
            totals.setdefault(f"{m[2]} {m[3]}", {})[m[1]] = float(m[4])
    return {k: round(1000 * v["sum"] / v["count"], 1) for k, v in totals.items() if v["count"]}


async def logged_submissions(bus: Bus) -> list[str]:
    return [
        str(env.event.workflow_id)
        async for env in read_events(bus)
        if isinstance(env.event, WorkflowSubmitted)
    ]


async def projected(database_url: str, want: int, timeout: float = 15.0) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            n = int(await conn.fetchval("SELECT count(*) FROM workflows"))
            if n >= want or time.monotonic() > deadline:
                return n
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


# --- phase 2: WebSocket fan-out ---------------------------------------------------------------


@dataclass
class WsStats:
    lags: list[float] = field(default_factory=list)
    messages: int = 0
    ready: int = 0
    finished: int = 0
    retries: int = 0
    closed: Counter[int] = field(default_factory=Counter)
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def ws_client(
    url: str,
    wid: str,
    published: dict[tuple[str, int], float],
    last: int,
    stats: WsStats,
    total: int,
) -> None:
    while True:
        try:
            async with connect(url, open_timeout=30, max_queue=None) as ws:
                while True:
                    msg = json.loads(await ws.recv())
                    now = time.monotonic()
                    if msg["type"] == "ready":
                        stats.ready += 1
                        if stats.ready == total:
                            stats.all_ready.set()
                        continue
                    stats.messages += 1
                    done = msg["workflow"]["progress"]["tiles_done"]  # one job per workflow
                    if (sent := published.get((wid, done))) is not None:
                        stats.lags.append(now - sent)
                    if done >= last:
                        stats.finished += 1
                        await stats.stop.wait()
                        return
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else 1006
            if code == 4429 and exc.rcvd is not None:  # rate limited: wait as told, then retry
                stats.retries += 1
                wait = re.search(r"retry after (\d+) s", exc.rcvd.reason)
                await asyncio.sleep(float(wait[1]) if wait else 1.0)
                continue
            stats.closed[code] += 1
            return


async def ws_phase(base: str, bus: Bus, args: argparse.Namespace) -> WsStats:
    stats = WsStats()
    tenants = [uuid.uuid4() for _ in range(args.ws_jobs)]
    wids = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for tenant in tenants:
            r = await http.post("/v1/workflows", json=SPEC, headers={"X-User-ID": str(tenant)})
            r.raise_for_status()
            wids.append(uuid.UUID(r.json()["workflow_id"]))
    for tenant, wid in zip(tenants, wids, strict=True):
        await bus.append(JobStarted(tenant_id=tenant, workflow_id=wid, job_id="a"))
    steps = max(2, int(args.ws_seconds * args.progress_hz))
    published: dict[tuple[str, int], float] = {}
    stream = base.replace("http://", "ws://") + "/v1/stream"
    n = len(tenants)
    clients = [
        asyncio.create_task(
            ws_client(
                f"{stream}?tenant={tenants[i % n]}",
                str(wids[i % n]),
                published,
                steps,
                stats,
                args.ws_clients,
            )
        )
        for i in range(args.ws_clients)
    ]
    try:
        await asyncio.wait_for(stats.all_ready.wait(), 60)
        t0 = time.monotonic()
        for k in range(1, steps + 1):
            for tenant, wid in zip(tenants, wids, strict=True):
                published[(str(wid), k)] = time.monotonic()
                event = JobProgressed(
                    tenant_id=tenant, workflow_id=wid, job_id="a", tiles_done=k, tiles_total=steps
                )
                await bus.append(event)
            await asyncio.sleep(max(0.0, t0 + k / args.progress_hz - time.monotonic()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(until(lambda: stats.finished >= args.ws_clients), timeout=10)
    finally:
        stats.stop.set()
        await asyncio.gather(*clients, return_exceptions=True)
    return stats


async def until(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - polling counters the clients bump
        await asyncio.sleep(0.05)


# --- report -----------------------------------------------------------------------------------


def ms(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return round(values[0] * 1000, 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000, 1)


def http_report(
    args: argparse.Namespace,
    stats: HttpStats,
    elapsed: float,
    cpu: float,
    inside: dict[str, float],
    logged: list[str],
    in_db: int,
) -> dict[str, Any]:
    served = sum(stats.statuses.values())
    accepted = sum(n for s, n in stats.statuses.items() if s < 300)
    return {
        "seconds": round(elapsed, 1),
        "tenants": args.tenants,
        "limits": f"api {args.api_rate}/s burst {args.api_burst}, submissions "
        f"{args.submit_rate}/s burst {args.submit_burst}, in flight {args.max_in_flight}",
        "responses_per_s": round(served / elapsed),
        "accepted_per_s": round(accepted / elapsed),
        "accepted_p50_ms": ms(stats.latency, 50),
        "accepted_p99_ms": ms(stats.latency, 99),
        "mean_ms_inside_gateway": inside,
        "gateway_cpu_ms_per_response": round(1000 * cpu / max(served, 1), 2),
        "gateway_cpu_cores": round(cpu / elapsed, 2),
        "share_429": round(stats.statuses[429] / max(served, 1), 3),
        "share_503": round(stats.statuses[503] / max(served, 1), 3),
        "other_5xx": sum(n for s, n in stats.statuses.items() if s >= 500 and s != 503),
        "client_errors": dict(stats.errors),
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "submissions_accepted": len(stats.accepted_ids),
        "submissions_in_log": len(logged),
        "lost": len(stats.accepted_ids - set(logged)),
        "invented": len(set(logged) - stats.accepted_ids),
        "projected": in_db,
    }


def ws_report(args: argparse.Namespace, ws: WsStats) -> dict[str, Any]:
    return {
        "clients": args.ws_clients,
        "jobs": args.ws_jobs,
        "progress_hz_per_job": args.progress_hz,
        "messages_delivered": ws.messages,
        "lag_p50_ms": ms(ws.lags, 50),
        "lag_p99_ms": ms(ws.lags, 99),
        "lag_max_ms": round(max(ws.lags, default=float("nan")) * 1000, 1),
        "clients_with_last_update": ws.finished,
        "connects_retried_after_4429": ws.retries,
        "closed": {str(k): v for k, v in ws.closed.items()},
    }


async def run(args: argparse.Namespace) -> int:
    state = Path(tempfile.mkdtemp(prefix="tessera-bench-"))
    ns = f"bench{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {}
    with servers(state) as urls:
        async with fresh_database(urls.database_url) as database_url:
            port = free_port()
            env = {
                **os.environ,
                **urls.env(),
                "DATABASE_URL": database_url,
                "TESSERA_NAMESPACE": ns,
                "TESSERA_LOG_LEVEL": "WARNING",
                "TESSERA_GATEWAY_PORT": str(port),
                "TESSERA_GATEWAY_API_RATE_PER_S": str(args.api_rate),
                "TESSERA_GATEWAY_API_BURST": str(args.api_burst),
                "TESSERA_GATEWAY_SUBMIT_RATE_PER_S": str(args.submit_rate),
                "TESSERA_GATEWAY_SUBMIT_BURST": str(args.submit_burst),
                "TESSERA_GATEWAY_MAX_IN_FLIGHT": str(args.max_in_flight),
            }
            projector = start("tessera.projector", env, state / "projector.log")
            gateway = start("tessera.gateway", env, state / "gateway.log")
            base = f"http://127.0.0.1:{port}"
            bus = await JetStreamBus.connect(urls.nats_url, ns, name="tessera-bench")
            try:
                await wait_ready(base, gateway, state / "gateway.log")
                cpu0 = cpu_seconds(gateway.pid)
                stats, elapsed = await http_phase(port, args)
                cpu = cpu_seconds(gateway.pid) - cpu0
                inside = await time_inside_gateway(base)
                logged = await logged_submissions(bus)
                in_db = await projected(database_url, len(stats.accepted_ids))
                report["http"] = http_report(args, stats, elapsed, cpu, inside, logged, in_db)
                if args.ws_clients:
                    report["ws"] = ws_report(args, await ws_phase(base, bus, args))
            finally:
                await bus.delete_streams()
                await bus.close()
                stop(gateway)
                stop(projector)
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))  # noqa: ASYNC240
    http = report["http"]
    ok = http["lost"] == 0 and http["invented"] == 0 and http["other_5xx"] == 0
    print("OK" if ok else "FAILED: lost or invented submissions, or a 5xx other than 503")
    return 0 if ok else 1


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=15.0, help="HTTP phase length")
    p.add_argument("--max-requests", type=int, default=200_000)
    p.add_argument("--tenants", type=int, default=50)
    p.add_argument("--per-tenant", type=int, default=2, help="requests in flight per tenant")
    p.add_argument("--submit-share", type=float, default=0.2)
    p.add_argument("--api-rate", type=float, default=2.0)
    p.add_argument("--api-burst", type=int, default=5)
    p.add_argument("--submit-rate", type=float, default=0.2)
    p.add_argument("--submit-burst", type=int, default=2)
    p.add_argument("--max-in-flight", type=int, default=64)
    p.add_argument("--ws-clients", type=int, default=500)
    p.add_argument("--ws-jobs", type=int, default=20)
    p.add_argument("--ws-seconds", type=float, default=10.0)
    p.add_argument("--progress-hz", type=float, default=4.0, help="JobProgressed per job per s")
    p.add_argument("--json", help="also write the figures here")
    sys.exit(asyncio.run(run(p.parse_args())))


if __name__ == "__main__":
    main()
