"""Gateway process: uvicorn serving the FastAPI app.

Gateways keep no state of their own (the log, the read models and the rate limits' Redis are
shared), so any number may run. On one host they share one port: each binds it with
SO_REUSEPORT and the kernel spreads new connections over the processes that listen
(`tessera up --gateways N`); in Kubernetes a Service does the same across pods.
"""

from __future__ import annotations

import socket

import uvicorn

from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tessera.telemetry import configure_logging


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A bound TCP socket for `host:port` that other processes may bind too if `reuse_port`."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        if not hasattr(socket, "SO_REUSEPORT"):
            sock.close()
            raise OSError("SO_REUSEPORT is not available here: set TESSERA_GATEWAY_REUSE_PORT=0")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def main() -> None:
    settings = GatewaySettings()
    configure_logging(settings.log_level, json=settings.log_json, service="gateway")
    config = uvicorn.Config(create_app(settings), log_level="warning", timeout_graceful_shutdown=10)
    sock = listening_socket(settings.host, settings.port, reuse_port=settings.reuse_port)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
