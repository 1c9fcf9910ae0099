"""Inference process: one replica of the pool sharing the TILES consumer."""

from __future__ import annotations

import asyncio

from tessera.inference.handlers import InferenceWorker
from tessera.inference.settings import InferenceSettings
from tessera.service import Runtime, run_service


async def serve(rt: Runtime[InferenceSettings]) -> None:
    worker = InferenceWorker(rt.bus, rt.settings)

    def ready() -> None:
        rt.ready = True

    try:
        await worker.run(rt.stop, on_ready=ready)
    finally:
        await asyncio.to_thread(worker.close)


def main() -> None:
    asyncio.run(run_service("inference", serve, InferenceSettings()))


if __name__ == "__main__":
    main()
