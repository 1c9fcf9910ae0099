"""Admission process: wiring only (settings, the bus, the decider loop, drain on SIGTERM)."""

from __future__ import annotations

import asyncio

from tessera.service import Runtime, run_service
from tessera.settings import Settings

from .domain import AdmissionState
from .handlers import Admission


def main() -> None:
    settings = Settings()  # MAX_ACTIVE_TENANTS is a shared setting: the gateway shows it too

    async def serve(rt: Runtime) -> None:
        def ready() -> None:
            rt.ready = True

        state = AdmissionState(max_active_tenants=settings.max_active_tenants)
        await Admission(rt.bus, state).run(rt.stop, on_ready=ready)

    asyncio.run(run_service("admission", serve, settings))


if __name__ == "__main__":
    main()
