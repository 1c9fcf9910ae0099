"""WS /v1/stream on a real uvicorn: tenant isolation, resume from a cursor, credentials."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any
from uuid import UUID

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tessera.bus import Bus
from tessera.events import JobProgressed, JobStarted
from tests.integration.gateway.conftest import headers
from tests.polling import eventually

pytestmark = pytest.mark.integration

TILES = 60


def ws_url(base: str, **query: object) -> str:
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return base.replace("http://", "ws://") + "/v1/stream" + (f"?{qs}" if qs else "")


async def submit(
    http: httpx.AsyncClient, tenant: uuid.UUID, name: str = "w", jobs: str = "a"
) -> str:
    """A workflow of one synthetic job per letter of `jobs`, each in its own branch."""
    spec = {
        "name": name,
        "jobs": [
            {"id": j, "type": "synthetic", "branch": j, "params": {"tiles": TILES}} for j in jobs
        ],
    }
    answer = await http.post("/v1/workflows", json=spec, headers=headers(tenant))
    assert answer.status_code == 202, answer.text
    return str(answer.json()["workflow_id"])


def tiles_done(listed: dict[str, Any]) -> dict[str, int]:
    return {w["id"]: w["progress"]["tiles_done"] for w in listed["items"]}


async def projected(http: httpx.AsyncClient, tenant: uuid.UUID, workflow: str) -> None:
    await eventually(
        lambda: http.get(f"/v1/workflows/{workflow}", headers=headers(tenant)),
        lambda answer: answer.is_success,
        what=f"workflow {workflow} projected",
    )


async def receive(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def until_ready(ws: ClientConnection) -> tuple[list[dict[str, Any]], int]:
    updates = []
    while (msg := await receive(ws))["type"] != "ready":
        updates.append(msg)
    return updates, msg["seq"]


async def until(ws: ClientConnection, wanted: Any, seen: list[dict[str, Any]]) -> None:
    while True:
        msg = await receive(ws)
        seen.append(msg)
        if msg["type"] == "workflow" and wanted(msg):
            return


def started(msg: dict[str, Any], wid: str) -> bool:
    return msg["workflow"]["id"] == wid and any(j["state"] == "RUNNING" for j in msg["jobs"])


async def test_a_stream_carries_only_its_own_tenants_workflows(
    live_gateway, projector, bus: Bus
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    with live_gateway() as base:
        async with httpx.AsyncClient(base_url=base) as http:
            a_old, b_old = await submit(http, a), await submit(http, b)
            async with (
                connect(ws_url(base, cursor=0), additional_headers=headers(a)) as ws_a,
                connect(ws_url(base, tenant=b)) as ws_b,
            ):
                backlog_a, _ = await until_ready(ws_a)
                backlog_b, _ = await until_ready(ws_b)
                a_new, b_new = await submit(http, a), await submit(http, b)
                # B's changes enter the log before A's last one: had they leaked, they'd be
                # in A's stream by the time A sees its own
                await bus.append(JobStarted(tenant_id=b, workflow_id=uuid.UUID(b_old), job_id="a"))
                await bus.append(JobStarted(tenant_id=a, workflow_id=uuid.UUID(a_old), job_id="a"))
                live_a: list[dict[str, Any]] = []
                live_b: list[dict[str, Any]] = []
                await until(ws_a, lambda m: started(m, a_old), live_a)
                await until(ws_b, lambda m: started(m, b_old), live_b)
    seen_a = [m["workflow"]["id"] for m in backlog_a + live_a]
    seen_b = [m["workflow"]["id"] for m in backlog_b + live_b]
    assert set(seen_a) == {a_old, a_new}
    assert set(seen_b) == {b_old, b_new}
    text_a = json.dumps(backlog_a + live_a)
    assert b_old not in text_a and b_new not in text_a and str(b) not in text_a


async def test_resuming_from_the_last_seq_received_misses_nothing(
    live_gateway, projector, bus: Bus
) -> None:
    tenant = uuid.uuid4()
    rng = random.Random(11)
    view: dict[str, tuple[int, int]] = {}  # workflow -> (seq, tiles done) as the client saw it
    jobs: dict[str, dict[str, dict[str, Any]]] = {}  # workflow -> job -> the job as merged
    cursor = 0

    def apply(msg: dict[str, Any], after: int, into: dict[str, Any] = jobs) -> int:
        if msg["type"] == "ready":
            assert msg["seq"] >= after
            return int(msg["seq"])
        assert msg["seq"] > after  # strictly increasing within a connection, past the cursor
        workflow = msg["workflow"]
        if into is jobs:
            view[workflow["id"]] = (msg["seq"], workflow["progress"]["tiles_done"])
        held = into.setdefault(workflow["id"], {})
        for job in msg["jobs"]:  # only the jobs that changed: merged by their own last_seq
            assert msg["jobs_since"] < job["last_seq"] <= msg["seq"]
            if job["id"] not in held or held[job["id"]]["last_seq"] < job["last_seq"]:
                held[job["id"]] = job
        return int(msg["seq"])

    with live_gateway(ws_page_size=2) as base:  # catch-ups and refreshes take several pages
        async with httpx.AsyncClient(base_url=base) as http:
            wids = [await submit(http, tenant, f"w{i}", jobs="abc") for i in range(5)]
            for wid in wids:
                for job_id in "abc":
                    await bus.append(
                        JobStarted(tenant_id=tenant, workflow_id=UUID(wid), job_id=job_id)
                    )
            done = {(wid, job_id): 0 for wid in wids for job_id in "abc"}
            # a second client that holds what it saw now and comes back only at the end
            early: dict[str, dict[str, dict[str, Any]]] = {}
            async with connect(ws_url(base, cursor=0), additional_headers=headers(tenant)) as ws:
                early_cursor = 0
                while (msg := await receive(ws))["type"] != "ready":
                    early_cursor = apply(msg, early_cursor, early)

            async def produce() -> None:
                for _ in range(150):
                    wid, job_id = rng.choice(sorted(done))
                    done[wid, job_id] = min(TILES, done[wid, job_id] + 1)
                    await bus.append(
                        JobProgressed(
                            tenant_id=tenant,
                            workflow_id=uuid.UUID(wid),
                            job_id=job_id,
                            tiles_done=done[wid, job_id],
                            tiles_total=TILES,
                        )
                    )
                    await asyncio.sleep(rng.choice([0, 0, 0.002, 0.01]))

            producer = asyncio.create_task(produce())
            reconnects = 0
            try:
                while not producer.done():  # read a few messages, drop the line, come back
                    url = ws_url(base, cursor=cursor)
                    async with connect(url, additional_headers=headers(tenant)) as ws:
                        reconnects += 1
                        for _ in range(rng.randint(1, 6)):
                            try:
                                cursor = apply(await receive(ws, timeout=0.5), cursor)
                            except TimeoutError:
                                break
                await producer
            finally:
                producer.cancel()
            expected = {wid: sum(done[wid, j] for j in "abc") for wid in wids}
            listed = await eventually(  # the projector catches up with the last events
                lambda: http.get("/v1/workflows", headers=headers(tenant)),
                lambda listed: tiles_done(listed.json()) == expected,
                what="the last events projected",
                show=lambda listed: tiles_done(listed.json()),
            )
            url = ws_url(base, cursor=cursor)
            async with connect(url, additional_headers=headers(tenant)) as ws:
                while (msg := await receive(ws))["type"] != "ready":
                    cursor = apply(msg, cursor)
            url = ws_url(base, cursor=early_cursor)  # its catch-up takes many pages
            async with connect(url, additional_headers=headers(tenant)) as ws:
                while (msg := await receive(ws))["type"] != "ready":
                    early_cursor = apply(msg, early_cursor, early)
            details = [
                (await http.get(f"/v1/workflows/{wid}", headers=headers(tenant))).json()
                for wid in wids
            ]
    assert reconnects > 3
    # the jobs merged from the deltas are the jobs the REST view shows, field by field
    assert {d["id"]: {j["id"]: j for j in d["jobs"]} for d in details} == jobs == early
    assert {(wid, j): job["progress"]["tiles_done"] for wid, held in jobs.items()
            for j, job in held.items()} == done  # fmt: skip
    assert {wid: tiles for wid, (_, tiles) in view.items()} == expected
    assert {w["id"]: w["last_seq"] for w in listed.json()["items"]} == {
        wid: seq for wid, (seq, _) in view.items()
    }


@pytest.mark.parametrize(
    ("query", "extra", "code", "needle"),
    [
        ({}, {}, 4401, "tenant is required"),
        ({"tenant": "bob"}, {}, 4400, "must be a UUID"),
        ({"tenant": uuid.uuid4()}, headers(uuid.uuid4()), 4400, "differ"),
        ({"cursor": "-1"}, headers(uuid.uuid4()), 4400, "cursor"),
    ],
    ids=["missing", "malformed", "conflicting", "bad-cursor"],
)
async def test_a_stream_without_a_valid_tenant_is_closed_with_a_readable_code(
    live_gateway, query: dict, extra: dict, code: int, needle: str
) -> None:
    with live_gateway() as base:
        async with connect(ws_url(base, **query), additional_headers=extra) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert needle in closed.value.rcvd.reason


async def test_browsers_name_the_tenant_in_a_subprotocol_and_streams_are_rate_limited(
    live_gateway, projector
) -> None:
    tenant = uuid.uuid4()
    with live_gateway(api_burst=2, api_rate_per_s=0.1) as base:
        async with connect(ws_url(base), subprotocols=[f"tenant.{tenant}"]) as ws:
            assert ws.subprotocol == f"tenant.{tenant}"
            assert await until_ready(ws) == ([], 0)
        async with connect(ws_url(base), subprotocols=[f"tenant.{tenant}"]) as ws:
            await until_ready(ws)
        async with connect(ws_url(base), subprotocols=[f"tenant.{tenant}"]) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4429
    assert "retry after 10 s" in closed.value.rcvd.reason


async def test_cursor_now_skips_the_backlog_and_goes_live(live_gateway, projector) -> None:
    tenant = uuid.uuid4()
    with live_gateway() as base:
        async with httpx.AsyncClient(base_url=base) as http:
            old = await submit(http, tenant, "old")
            await projected(http, tenant, old)  # else the backlog may be read before it is there
            async with connect(ws_url(base, tenant=tenant, cursor=0)) as full:
                backlog, latest = await until_ready(full)
            assert [m["workflow"]["id"] for m in backlog] == [old]
            async with connect(ws_url(base, tenant=tenant, cursor="now")) as ws:
                first = await receive(ws)
                assert first == {"type": "ready", "seq": latest}  # no backlog at all
                new = await submit(http, tenant, "new")
                seen: list[dict[str, Any]] = []
                await until(ws, lambda m: m["workflow"]["id"] == new, seen)
                assert {m["workflow"]["id"] for m in seen if m["type"] == "workflow"} == {new}
            async with connect(ws_url(base, tenant=tenant, cursor="later")) as bad:
                with pytest.raises(ConnectionClosed) as closed:
                    await receive(bad)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_a_client_that_dropped_mid_catch_up_still_gets_every_job_change(
    live_gateway, projector, bus: Bus
) -> None:
    """Its cursor names the last workflow it was sent, and a job of a workflow it was not sent yet
    may have changed before that: the resumed catch-up must bring it."""
    tenant = uuid.uuid4()
    held: dict[str, dict[str, dict[str, Any]]] = {}

    def apply(msg: dict[str, Any]) -> int:
        jobs = held.setdefault(msg["workflow"]["id"], {})
        for job in msg["jobs"]:
            if job["id"] not in jobs or jobs[job["id"]]["last_seq"] < job["last_seq"]:
                jobs[job["id"]] = job
        return int(msg["seq"])

    def progress(wid: str, job_id: str) -> JobProgressed:
        return JobProgressed(tenant_id=tenant, workflow_id=UUID(wid), job_id=job_id,
                             tiles_done=1, tiles_total=TILES)  # fmt: skip

    with live_gateway() as base:
        async with httpx.AsyncClient(base_url=base) as http:
            first, second = await submit(http, tenant, "w1", "ab"), await submit(http, tenant)
            for wid, job_id in ((first, "a"), (first, "b"), (second, "a")):
                await bus.append(JobStarted(tenant_id=tenant, workflow_id=UUID(wid), job_id=job_id))
            await projected(http, tenant, second)
            async with connect(ws_url(base, tenant=tenant, cursor=0)) as ws:
                backlog, cursor = await until_ready(ws)
            for msg in backlog:
                apply(msg)
            # first's a changes, then second, then first's b: first now sorts after second
            for wid, job_id in ((first, "a"), (second, "a"), (first, "b")):
                await bus.append(progress(wid, job_id))
            await eventually(
                lambda: http.get(f"/v1/workflows/{first}", headers=headers(tenant)),
                lambda got: got.json()["progress"]["tiles_done"] == 2,
                what="both of the first workflow's tiles projected",
                show=lambda got: got.text,
            )
            async with connect(ws_url(base, tenant=tenant, cursor=cursor)) as ws:
                msg = await receive(ws)  # second only, then the line drops
                assert msg["workflow"]["id"] == second
                cursor = apply(msg)
            async with connect(ws_url(base, tenant=tenant, cursor=cursor)) as ws:
                missed, _ = await until_ready(ws)
            for msg in missed:
                apply(msg)
            detail = (await http.get(f"/v1/workflows/{first}", headers=headers(tenant))).json()
    assert held[first] == {job["id"]: job for job in detail["jobs"]}
    assert held[first]["a"]["progress"]["tiles_done"] == 1
