"""Tiler process: JobStarted → JobPlanned + tile batches on TILES, a window per running job."""

from __future__ import annotations

import asyncio

from tessera.service import Runtime, run_service
from tessera.tiler.handlers import Tiler
from tessera.tiler.settings import TilerSettings


async def serve(rt: Runtime[TilerSettings]) -> None:
    tiler = Tiler(rt.bus, rt.settings)

    def ready() -> None:
        rt.ready = True

    await tiler.run(rt.stop, on_ready=ready)


def main() -> None:
    asyncio.run(run_service("tiler", serve, TilerSettings()))


if __name__ == "__main__":
    main()
