"""The in-memory bus against the bus contract; the JetStream bus's stream set-up against a
stand-in JetStream API (no server). The JetStream bus runs the contract in
tests/integration/test_bus.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import nats.errors
import pytest
from nats.js import api
from nats.js.errors import NotFoundError, ServiceUnavailableError

from tessera.bus import JetStreamBus, MemoryBus, retry_delay
from tessera.bus.jetstream_handles import JetStreamConsumer
from tessera.errors import BusError
from tests.unit.bus_contract import BusContract, OutageContract
from tests.unit.gateway.ratelimit_contract import FakeClock


class TestMemoryBus(BusContract, OutageContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    async def bus(self, clock: FakeClock) -> MemoryBus:
        bus = MemoryBus("tcontract", clock=clock)
        await bus.ensure_streams()
        return bus

    @pytest.fixture
    def later(self, clock: FakeClock) -> Callable[[float], Awaitable[None]]:
        async def later(seconds: float) -> None:
            clock.advance(seconds)

        return later


class StreamsAPI:
    """JetStream's stream calls over a dict of configs."""

    def __init__(self, existing: dict[str, api.StreamConfig]) -> None:
        self.streams = existing
        self.updates: list[api.StreamConfig] = []

    async def stream_info(self, name: str) -> Any:
        if name not in self.streams:
            raise NotFoundError
        return SimpleNamespace(config=self.streams[name])

    async def add_stream(self, config: api.StreamConfig) -> None:
        self.streams[config.name or ""] = config

    async def update_stream(self, config: api.StreamConfig) -> None:
        self.updates.append(config)
        self.streams[config.name or ""] = config


async def test_a_starting_service_keeps_the_replicas_an_operator_gave_the_streams() -> None:
    js = StreamsAPI({"EVENTS": api.StreamConfig(name="EVENTS", num_replicas=3)})
    bus = JetStreamBus(SimpleNamespace(jetstream=lambda: js), "tessera")  # type: ignore[arg-type]

    await bus.ensure_streams()

    assert js.streams["EVENTS"].num_replicas == 3  # updated, not scaled back to one
    assert [c.name for c in js.updates] == ["EVENTS"]
    assert js.streams["TILES"].num_replicas is None  # created: the server's default, one


def test_bus_retries_back_off_exponentially_up_to_a_cap() -> None:
    assert [retry_delay(t) for t in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert retry_delay(0) == 0.5


@pytest.mark.parametrize(
    "error",
    [
        nats.errors.NoRespondersError(),
        ServiceUnavailableError(),
        nats.errors.ConnectionReconnectingError(),
    ],
)
async def test_a_jetstream_fetch_that_meets_an_outage_raises_a_bus_error(error: Exception) -> None:
    class Sub:
        async def fetch(self, batch: int, timeout: float) -> list[Any]:
            raise error

    with pytest.raises(BusError):
        await JetStreamConsumer(Sub()).fetch(1, 0.1)  # type: ignore[arg-type]
