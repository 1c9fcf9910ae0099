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

from tessera.bus import (
    JetStreamBus,
    MemoryBus,
    WorkConsumer,
    WorkMessage,
    WorkQueue,
    patiently,
    pull,
    retry_delay,
)
from tessera.bus.jetstream import seeds
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
    assert js.streams["TILES"].num_replicas == 1  # created with the setting's count


async def test_streams_are_scaled_up_to_the_setting_keeping_the_operators_limits() -> None:
    edited = api.StreamConfig(name="EVENTS", num_replicas=1, max_age=3600.0, duplicate_window=5.0)
    js = StreamsAPI({"EVENTS": edited})
    bus = JetStreamBus(SimpleNamespace(jetstream=lambda: js), "tessera", replicas=3)  # type: ignore[arg-type]

    await bus.ensure_streams()

    events = js.streams["EVENTS"]
    assert events.num_replicas == 3
    assert events.max_age == 3600.0  # the operator's limit stays
    assert events.duplicate_window == 120.0  # Tessera's deduplication relies on its window
    js.updates.clear()
    await bus.ensure_streams()
    assert js.updates == []  # nothing differs: nothing updated


def test_a_nats_url_names_one_server_or_a_clusters_seeds() -> None:
    assert seeds("nats://a:4222") == ["nats://a:4222"]
    assert seeds("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    with pytest.raises(BusError, match="no NATS server"):
        seeds(" , ")


class Electing:
    """A work consumer whose first fetches fail as JetStream's do while its stream elects a
    leader (503, no responders)."""

    def __init__(self, consumer: WorkConsumer, failures: int) -> None:
        self.consumer, self.failures = consumer, failures

    async def fetch(self, batch: int, timeout: float) -> list[WorkMessage]:
        if self.failures:
            self.failures -= 1
            raise BusError("fetch failed: ServiceUnavailableError")
        return await self.consumer.fetch(batch, timeout)

    async def close(self) -> None:
        await self.consumer.close()


async def no_wait(_: float) -> None:
    """A back-off that does not sleep: the test counts tries, not seconds."""


async def test_pull_asks_again_after_a_failed_fetch() -> None:
    bus = MemoryBus("tpull")
    await bus.ensure_streams()
    queue = WorkQueue(bus.names.tiles_stream, "inference", bus.names.tiles())
    consumer = Electing(await bus.work_consumer(queue), failures=2)
    await bus.publish_work(bus.names.tiles("a"), b"batch", msg_id="1")

    got = []
    async for msgs in pull(consumer, lambda: bool(got), timeout=0.01, wait=no_wait):
        got.extend(msgs)

    assert [m.data for m in got] == [b"batch"] and consumer.failures == 0


class Flaky(MemoryBus):
    """A memory bus whose first publishes fail as JetStream's do in an election."""

    failures = 2

    async def publish_work(self, subject: str, payload: bytes, **kwargs: Any) -> int:
        if self.failures:
            self.failures -= 1
            raise BusError("publish failed: nats: no response from stream")
        return await super().publish_work(subject, payload, **kwargs)


async def test_patiently_publishes_once_the_bus_takes_it_again() -> None:
    bus = Flaky("tpatient")
    await bus.ensure_streams()

    def publish() -> Awaitable[int]:
        return bus.publish_work(bus.names.results("a"), b"result", msg_id="r1")

    await patiently(publish, patience=5.0, every=0.01)

    assert bus.failures == 0
    assert await bus.in_flight(bus.names.results_stream, bus.names.results()) == {
        bus.names.results("a"): 1
    }
    bus.failures = 100
    with pytest.raises(BusError, match="no response"):
        await patiently(publish, patience=0.05, every=0.01)


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
