"""Fixtures shared by the whole suite.

Unit tests need none of these. Integration tests get real servers (see `tests/servers.py`) and an
isolated world per test: their own subject/stream namespace and their own PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest

from tessera.bus import Bus, JetStreamBus
from tessera.embedded import ServerURLs
from tessera.gateway.settings import GatewaySettings
from tessera.settings import REPO_ROOT, Settings
from tests.servers import test_servers

os.environ.setdefault("TESSERA_MODEL_OFFLINE", "1")  # tests never reach for the network
DATA_ROOT = REPO_ROOT / "data" / "slides"


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerURLs]:
    with test_servers() as (origin, urls):
        print(f"\ntest servers from {origin}: {urls}")
        yield urls


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture
async def database_url(servers: ServerURLs) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"tessera_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    yield _with_database(servers.database_url, name)
    admin = await asyncpg.connect(servers.database_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
def settings(
    servers: ServerURLs, database_url: str, namespace: str, tmp_path: Path
) -> GatewaySettings:
    return GatewaySettings(
        nats_url=servers.nats_url,
        database_url=database_url,
        redis_url=servers.redis_url,
        namespace=namespace,
        data_root=DATA_ROOT,
        results_root=tmp_path / "results",
        log_json=False,
        # generous: tests poll the API in tight loops; the rate-limit tests set their own
        api_rate_per_s=1000.0,
        api_burst=10_000,
        submit_rate_per_s=1000.0,
        submit_burst=10_000,
    )


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = await JetStreamBus.connect(settings.nats_url, settings.namespace, name="tessera-test")
    await bus.ensure_streams()
    yield bus
    await bus.delete_streams()
    await bus.close()


@contextlib.asynccontextmanager
async def running(coro_fn, *args) -> AsyncIterator[asyncio.Event]:  # type: ignore[no-untyped-def]
    """Run `coro_fn(*args, stop)` in the background for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(coro_fn(*args, stop))
    try:
        yield stop
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        except TimeoutError:
            task.cancel()
        if task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def projector(bus: Bus, pool: asyncpg.Pool) -> AsyncIterator[object]:
    """The projector running against this test's namespace and database."""
    from tessera.projector.handlers import Projector
    from tessera.readmodel.schema import migrate

    async with pool.acquire() as conn:
        await migrate(conn)
    proj = Projector(bus, pool)
    async with running(proj.run):
        yield proj


@pytest.fixture
async def gateway(settings: GatewaySettings, bus: Bus) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the gateway app in-process (lifespan included)."""
    from tessera.gateway.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client,
    ):
        yield client


@pytest.fixture
async def scheduler(bus: Bus) -> AsyncIterator[tuple[object, object]]:
    """Admission (3 active tenants) and the branch-sequencer (4 workers, 0.2 s backoff)."""
    from datetime import timedelta

    from tessera.admission.domain import AdmissionState
    from tessera.admission.handlers import Admission
    from tessera.branch_sequencer.domain import SequencerState
    from tessera.branch_sequencer.handlers import Sequencer

    admission = Admission(bus, AdmissionState(max_active_tenants=3))
    sequencer = Sequencer(bus, SequencerState(max_workers=4, retry_base=timedelta(seconds=0.2)))
    async with running(admission.run), running(sequencer.run):
        yield admission, sequencer
