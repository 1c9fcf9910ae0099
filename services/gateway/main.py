"""Gateway process: uvicorn serving the FastAPI app."""

from __future__ import annotations

import uvicorn

from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tessera.telemetry import configure_logging


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.log_level, json=settings.log_json, service="gateway")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
