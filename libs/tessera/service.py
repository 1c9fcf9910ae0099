"""Runs one service process: logging, the bus, the ops endpoint, and a graceful drain on SIGTERM.

A service provides `async def serve(rt: Runtime[ItsSettings]) -> None` that works until `rt.stop`
is set and then returns after finishing the message in hand; `run_service` wires everything around
it. `rt.settings` is the service's own `Settings` subclass, built once by its `main.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from tessera.bus import Bus, JetStreamBus
from tessera.ops import serve_ops
from tessera.settings import Settings
from tessera.telemetry import configure_logging

log = structlog.get_logger(__name__)

DRAIN_GRACE_S = 10.0

S = TypeVar("S", bound=Settings)


@dataclass
class Runtime(Generic[S]):
    """What a running service gets: its settings, the bus, and the stop signal."""

    name: str
    settings: S
    bus: Bus
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ready: bool = False


Serve = Callable[[Runtime[S]], Coroutine[Any, Any, None]]


async def run_service(name: str, serve: Serve[S], settings: S) -> None:
    """Run `serve` until SIGTERM/SIGINT, then let it drain and close the connection."""
    configure_logging(settings.log_level, json=settings.log_json, service=name)
    bus: Bus = await JetStreamBus.connect(
        settings.nats_url,
        settings.namespace,
        name=f"tessera-{name}",
        replicas=settings.stream_replicas,
    )
    await bus.ensure_streams()
    rt = Runtime(name=name, settings=settings, bus=bus)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, rt.stop.set)

    def ready() -> bool:
        return rt.ready and bus.connected

    async with serve_ops(name, settings.ops_host, settings.ops_port, ready):
        log.info("service_started", namespace=settings.namespace)
        await supervise(rt, serve)
    await bus.close()
    log.info("service_stopped")


async def supervise(rt: Runtime[S], serve: Serve[S]) -> None:
    """Run `serve`; once `rt.stop` is set give it `DRAIN_GRACE_S` to return, then cancel it."""
    task = asyncio.create_task(serve(rt))
    stopper = asyncio.create_task(rt.stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        stopper.cancel()
        task.result()  # a service that ends on its own must say why
        return
    try:
        await asyncio.wait_for(task, DRAIN_GRACE_S)
    except TimeoutError:
        log.warning("drain_timeout", grace_s=DRAIN_GRACE_S)
