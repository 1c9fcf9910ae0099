"""Projector process: EVENTS → PostgreSQL read models, and `replay` to rebuild them."""

from __future__ import annotations

import asyncio

import asyncpg
import structlog

from tessera.bus import JetStreamBus
from tessera.projector.handlers import Projector
from tessera.projector.settings import ProjectorSettings
from tessera.readmodel.schema import drop_read_models, migrate
from tessera.service import Runtime, run_service
from tessera.settings import Settings

log = structlog.get_logger(__name__)


async def serve(rt: Runtime[ProjectorSettings]) -> None:
    pool = await asyncpg.create_pool(
        rt.settings.database_url, min_size=1, max_size=rt.settings.db_pool_size
    )
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        projector = Projector(rt.bus, pool)
        rt.ready = True
        await projector.run(rt.stop)
    finally:
        await pool.close()


async def replay(settings: Settings) -> int:
    """Drop the read models and rebuild them from the whole log; returns the last applied seq."""
    bus = await JetStreamBus.connect(
        settings.nats_url,
        settings.namespace,
        name="tessera-replay",
        replicas=settings.stream_replicas,
    )
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await bus.ensure_streams()
        end = await bus.last_sequence()
        async with pool.acquire() as conn:
            await drop_read_models(conn)
            await migrate(conn)
        projector = Projector(bus, pool)
        await projector.run(asyncio.Event(), until_seq=end)
        log.info("replay_done", last_seq=projector.last_seq)
        return projector.last_seq
    finally:
        await pool.close()
        await bus.close()


def main() -> None:
    asyncio.run(run_service("projector", serve, ProjectorSettings()))


if __name__ == "__main__":
    main()
