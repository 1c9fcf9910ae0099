"""Merger process: RESULTS of one partition → job outputs, JobProgressed and JobSucceeded."""

from __future__ import annotations

import asyncio

from tessera.merger.handlers import Merger
from tessera.merger.settings import MergerSettings
from tessera.service import Runtime, run_service


async def serve(rt: Runtime[MergerSettings]) -> None:
    merger = Merger(rt.bus, rt.settings)

    def ready() -> None:
        rt.ready = True

    await merger.run(rt.stop, on_ready=ready)


def main() -> None:
    asyncio.run(run_service("merger", serve, MergerSettings()))


if __name__ == "__main__":
    main()
