"""Where the test servers come from: env URLs → Docker (testcontainers) → embedded wheels."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tessera.embedded import ServerURLs, embedded_stack

ENV_KEYS = ("NATS_URL", "DATABASE_URL", "REDIS_URL")


def docker_answers() -> bool:
    """True when a Docker daemon answers `/_ping` (checked by hand: docker-py leaks its socket)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(2)
            target: object = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            name, _, port = host.removeprefix("tcp://").partition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(2)
            target = (name, int(port or 2375))
        else:
            return False
        with sock:
            sock.connect(target)  # type: ignore[arg-type]
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return b" 200 " in sock.recv(1024)
    except OSError:
        return False


@contextlib.contextmanager
def docker_stack() -> Iterator[ServerURLs]:
    from testcontainers.community.nats import NatsContainer
    from testcontainers.postgres import PostgresContainer
    from testcontainers.redis import RedisContainer

    with (
        NatsContainer("nats:2.10-alpine", jetstream=True) as nats,
        PostgresContainer("postgres:16-alpine", driver=None) as pg,
        RedisContainer("redis:7-alpine") as redis,
    ):
        host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
        yield ServerURLs(
            nats_url=nats.nats_uri(),
            database_url=pg.get_connection_url(),
            redis_url=f"redis://{host}:{port}/0",
        )


@contextlib.contextmanager
def test_servers() -> Iterator[tuple[str, ServerURLs]]:
    """Yield (origin, urls). Partial env URLs are completed from embedded servers."""
    env = {k: os.environ.get(k) for k in ENV_KEYS}
    if all(env.values()):
        yield "env", ServerURLs(env["NATS_URL"], env["DATABASE_URL"], env["REDIS_URL"])  # type: ignore[arg-type]
        return
    if os.environ.get("TESSERA_TEST_DOCKER", "1") != "0" and docker_answers():
        with docker_stack() as urls:
            yield "docker", urls
        return
    with (
        tempfile.TemporaryDirectory(prefix="tessera-test-") as state,
        embedded_stack(Path(state)) as urls,
    ):
        yield (
            "embedded",
            ServerURLs(
                env["NATS_URL"] or urls.nats_url,
                env["DATABASE_URL"] or urls.database_url,
                env["REDIS_URL"] or urls.redis_url,
            ),
        )
