"""Read-your-writes on the real stack: writes answer a consistency token, reads that carry it
see the write (on any gateway replica), a just-submitted workflow is never 404, and a read the
read models cannot reach in time is a 503 with Retry-After."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from tessera.bus import Bus
from tessera.projector.handlers import Projector
from tests.conftest import running
from tests.integration.gateway.conftest import SYNTHETIC, headers

pytestmark = pytest.mark.integration

TOKEN = "X-Tessera-Seq"
UNLIMITED = {"rate_limit_enabled": False}


async def test_a_workflow_read_right_after_its_submission_is_never_404(
    make_gateway, projector
) -> None:
    tenant = uuid.uuid4()
    statuses: dict[int, int] = {}
    async with make_gateway(**UNLIMITED) as gw:
        for _ in range(1000):
            submitted = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
            assert submitted.status_code == 202, submitted.text
            wid = submitted.json()["workflow_id"]
            got = await gw.get(f"/v1/workflows/{wid}", headers=headers(tenant))
            statuses[got.status_code] = statuses.get(got.status_code, 0) + 1
            assert got.status_code != 200 or got.json()["id"] == wid
    assert statuses == {200: 1000}


async def test_reads_that_carry_a_writes_token_see_it_on_any_replica(
    make_gateway, projector, scheduler, bus: Bus
) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(**UNLIMITED) as one, make_gateway(**UNLIMITED) as other:
        for _ in range(50):
            submitted = await one.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
            token = submitted.headers[TOKEN]
            assert int(token) == submitted.json()["event_seq"]
            wid = submitted.json()["workflow_id"]
            listed = await other.get("/v1/workflows", headers={**headers(tenant), TOKEN: token})
            assert wid in [w["id"] for w in listed.json()["items"]]
            by_query = await other.get(
                f"/v1/workflows?min_seq={token}&state=QUEUED", headers=headers(tenant)
            )
            assert by_query.status_code == 200, by_query.text

        slow = {"jobs": [{"id": "a", "type": "synthetic", "params": {"tiles": 10_000}}]}
        submitted = await one.post("/v1/workflows", json=slow, headers=headers(tenant))
        wid = submitted.json()["workflow_id"]
        cancelled = await one.post(f"/v1/workflows/{wid}/cancel", headers=headers(tenant))
        assert cancelled.status_code == 200, cancelled.text
        token = cancelled.headers[TOKEN]
        assert int(token) == cancelled.json()["seq"] > submitted.json()["event_seq"]
        seen = await other.get(
            f"/v1/workflows/{wid}/jobs/a", headers={**headers(tenant), TOKEN: token}
        )
        assert seen.json()["state"] == "CANCELLED"
    assert int(token) <= await bus.last_sequence()


async def test_without_the_projector_a_tokened_read_is_503_and_is_served_once_it_catches_up(
    make_gateway, bus: Bus, pool: asyncpg.Pool
) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(read_wait_s=0.3, **UNLIMITED) as gw:
        submitted = await gw.post("/v1/workflows", json=SYNTHETIC, headers=headers(tenant))
        seq, wid = submitted.json()["event_seq"], submitted.json()["workflow_id"]

        loop = asyncio.get_running_loop()
        started = loop.time()
        stale = await gw.get("/v1/workflows", headers={**headers(tenant), TOKEN: str(seq)})
        assert stale.status_code == 503, stale.text
        assert stale.headers["Retry-After"] == "1"
        assert stale.json()["error"]["seq"] == seq and stale.json()["error"]["projected_seq"] == 0
        assert loop.time() - started < 3  # bounded: read_wait_s, not forever
        # without a token, the log says the workflow exists: not a 404 but "not yet"
        untokened = await gw.get(f"/v1/workflows/{wid}", headers=headers(tenant))
        assert untokened.status_code == 503, untokened.text
        # an id the log never had is a plain 404, at once; another tenant's id too
        assert (
            await gw.get(f"/v1/workflows/{uuid.uuid4()}", headers=headers(tenant))
        ).status_code == 404
        assert (
            await gw.get(f"/v1/workflows/{wid}", headers=headers(uuid.uuid4()))
        ).status_code == 404
        # a token no write gave (past the log's end) is the client's mistake
        bogus = await gw.get(f"/v1/workflows?min_seq={seq + 1000}", headers=headers(tenant))
        assert bogus.status_code == 400 and "past the end of the log" in bogus.text
        malformed = await gw.get("/v1/workflows", headers={**headers(tenant), TOKEN: "soon"})
        assert malformed.status_code == 422

    async with make_gateway(read_wait_s=10, **UNLIMITED) as patient:
        read = asyncio.create_task(
            patient.get("/v1/workflows", headers={**headers(tenant), TOKEN: str(seq)})
        )
        await asyncio.sleep(0.2)
        assert not read.done()  # it waits for the read models to reach the token
        async with running(Projector(bus, pool).run):
            answer = await asyncio.wait_for(read, 10)
    assert answer.status_code == 200 and answer.json()["items"][0]["id"] == wid
