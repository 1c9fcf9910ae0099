"""The behaviour every `Bus` adapter must have; subclassed once per adapter.

A subclass provides a `bus` fixture (streams ensured, namespace its own) and a `later` fixture,
`await later(seconds)`, that lets that much time pass as the bus sees it: the in-memory bus moves
its fake clock, the JetStream bus sleeps. Ack waits, nak delays and key TTLs are therefore kept
short (`ACK_WAIT`) so that the JetStream run stays quick.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tessera.bus import Bus, WorkConsumer, WorkMessage, WorkQueue, read_events
from tessera.errors import BusError, ConcurrencyConflict, KeyConflict
from tessera.events import Event, WorkflowFinished, event_subject

Later = Callable[[float], Awaitable[None]]
MakeConsumer = Callable[..., Awaitable[WorkConsumer]]

ACK_WAIT = 1.0
TENANT = uuid.UUID("7c0a4b8e-1111-4a4a-9a9a-000000000001")


def finished(workflow: uuid.UUID | None = None, event_id: uuid.UUID | None = None) -> Event:
    return WorkflowFinished(
        event_id=event_id or uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        tenant_id=TENANT,
        workflow_id=workflow or uuid.uuid4(),
        state="SUCCEEDED",
    )


class BusContract:
    # --- the event log -------------------------------------------------------------------

    async def test_appends_are_read_back_in_order_with_their_sequences(self, bus: Bus) -> None:
        events = [finished() for _ in range(5)]
        seqs = [await bus.append(e) for e in events]

        assert seqs == [1, 2, 3, 4, 5]
        assert await bus.last_sequence() == 5
        read = [env async for env in read_events(bus)]
        assert [env.seq for env in read] == seqs
        assert [env.event.event_id for env in read] == [e.event_id for e in events]
        assert read[0].subject == event_subject(
            bus.names.ns, TENANT, events[0].workflow_id, "WorkflowFinished"
        )

    async def test_a_feed_starts_where_asked_and_follows_live(self, bus: Bus) -> None:
        for _ in range(3):
            await bus.append(finished())
        async with bus.feed(start_seq=3) as feed:
            first = await feed.get(timeout=5)
            assert first is not None and first.seq == 3
            assert await feed.get(timeout=0.2) is None
            live = finished()
            await bus.append(live)
            got = await feed.get(timeout=5)
            assert got is not None and got.seq == 4 and got.event.event_id == live.event_id

    async def test_a_feed_batch_takes_what_is_buffered(self, bus: Bus) -> None:
        for _ in range(4):
            await bus.append(finished())
        async with bus.feed() as feed:
            seen: list[int] = []
            while len(seen) < 4:
                seen += [env.seq for env in await feed.batch(max_size=3, timeout=5)]
            assert seen == [1, 2, 3, 4]
            assert await feed.batch(timeout=0.1) == []

    async def test_a_feed_filters_by_subject(self, bus: Bus) -> None:
        mine, other = uuid.uuid4(), uuid.uuid4()
        await bus.append(finished(other))
        await bus.append(finished(mine))
        await bus.append(finished(other))
        subject = event_subject(bus.names.ns, TENANT, mine, "WorkflowFinished")
        async with bus.feed(subject=subject) as feed:
            env = await feed.get(timeout=5)
            assert env is not None and env.seq == 2
            assert await feed.get(timeout=0.2) is None
        assert await bus.last_sequence_of(subject) == 2
        assert await bus.last_sequence_of(subject.replace(str(mine), str(uuid.uuid4()))) is None
        last = await bus.last_event_of(subject)
        assert last is not None and last.workflow_id == mine
        assert await bus.last_event_of(subject.replace(str(mine), str(uuid.uuid4()))) is None

    async def test_the_same_event_id_is_stored_once(self, bus: Bus) -> None:
        event = finished()
        first = await bus.append(event)
        again = await bus.append(event)

        assert again == first
        assert await bus.last_sequence() == 1

    async def test_an_append_with_a_stale_expectation_is_refused(self, bus: Bus) -> None:
        workflow = uuid.uuid4()
        seq = await bus.append(finished(workflow), expected_last_subject_seq=0)
        with pytest.raises(ConcurrencyConflict):
            await bus.append(finished(workflow), expected_last_subject_seq=0)
        await bus.append(finished(uuid.uuid4()))  # another subject does not matter
        assert await bus.append(finished(workflow), expected_last_subject_seq=seq) == 3
        assert await bus.last_sequence() == 3

    async def test_a_recreated_log_is_told_from_the_old_one(self, bus: Bus) -> None:
        before = await bus.log_created()
        await bus.append(finished())
        await bus.delete_streams()
        await asyncio.sleep(0.01)  # JetStream's creation time has a finite resolution
        await bus.ensure_streams()

        assert await bus.log_created() != before
        assert await bus.last_sequence() == 0

    # --- work queues ---------------------------------------------------------------------

    @pytest.fixture
    async def make_consumer(self, bus: Bus) -> AsyncIterator[MakeConsumer]:
        """Makes consumers of TILES and closes them afterwards (else a drain waits on them)."""
        made: list[WorkConsumer] = []

        async def make(durable: str = "workers", max_deliver: int = 5) -> WorkConsumer:
            made.append(
                await bus.work_consumer(
                    WorkQueue(
                        bus.names.tiles_stream,
                        durable,
                        bus.names.tiles(),
                        ack_wait=ACK_WAIT,
                        max_deliver=max_deliver,
                    )
                )
            )
            return made[-1]

        yield make
        for c in made:
            await c.close()

    async def _queued(self, bus: Bus, make_consumer: MakeConsumer, **kw: int) -> WorkConsumer:
        """A consumer of a queue that holds one message."""
        await bus.publish_work(bus.names.tiles("a"), b"x", msg_id="m")
        return await make_consumer(**kw)

    async def _one(self, consumer: WorkConsumer, timeout: float = 5.0) -> WorkMessage:
        msgs = await consumer.fetch(1, timeout)
        assert len(msgs) == 1
        msg: WorkMessage = msgs[0]
        return msg

    async def test_work_is_delivered_once_and_gone_when_acked(
        self, bus: Bus, make_consumer: MakeConsumer
    ) -> None:
        subject = bus.names.tiles("a")
        await bus.publish_work(subject, b"one", msg_id="m1", headers={"X-Kind": "tile"})
        consumer = await make_consumer()

        msg = await self._one(consumer)
        assert (msg.subject, msg.data, msg.num_delivered) == (subject, b"one", 1)
        assert msg.headers["X-Kind"] == "tile"
        assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {subject: 1}
        await msg.ack()

        assert await consumer.fetch(1, 0.2) == []
        assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {}

    async def test_work_comes_out_in_publish_order_and_each_to_one_fetcher(
        self, bus: Bus, make_consumer: MakeConsumer
    ) -> None:
        for i in range(4):
            await bus.publish_work(bus.names.tiles("a"), f"{i}".encode(), msg_id=f"m{i}")
        first, second = await make_consumer(), await make_consumer()

        a = await first.fetch(2, 5)
        b = await second.fetch(2, 5)
        assert [m.data for m in a + b] == [b"0", b"1", b"2", b"3"]
        for m in a + b:
            await m.ack()

    async def test_the_same_message_id_is_queued_once(self, bus: Bus) -> None:
        subject = bus.names.tiles("a")
        await bus.publish_work(subject, b"x", msg_id="same")
        await bus.publish_work(subject, b"x", msg_id="same")

        assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {subject: 1}

    async def test_a_nak_delivers_again_after_its_delay(
        self, bus: Bus, make_consumer: MakeConsumer, later: Later
    ) -> None:
        consumer = await self._queued(bus, make_consumer)

        await (await self._one(consumer)).nak()
        again = await self._one(consumer)
        assert again.num_delivered == 2
        await again.nak(delay=ACK_WAIT)
        assert await consumer.fetch(1, 0.2) == []
        await later(ACK_WAIT + 0.2)
        third = await self._one(consumer)
        assert third.num_delivered == 3
        await third.ack()

    async def test_unanswered_work_comes_back_after_the_ack_wait(
        self, bus: Bus, make_consumer: MakeConsumer, later: Later
    ) -> None:
        consumer = await self._queued(bus, make_consumer)

        held = await self._one(consumer)  # a worker that keeps it alive
        await later(ACK_WAIT * 0.6)
        await held.in_progress()
        await later(ACK_WAIT * 0.6)
        assert await consumer.fetch(1, 0.1) == []
        await later(ACK_WAIT * 0.6)  # ... then dies
        back = await self._one(consumer)
        assert back.num_delivered == 2
        await back.ack()

    async def test_work_is_not_delivered_past_max_deliver(
        self, bus: Bus, make_consumer: MakeConsumer, later: Later
    ) -> None:
        consumer = await self._queued(bus, make_consumer, max_deliver=2)

        await (await self._one(consumer)).nak()
        await (await self._one(consumer)).nak()
        await later(0.2)
        assert await consumer.fetch(1, 0.3) == []
        # still in the stream: the tiler counts it until someone removes it
        assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {
            bus.names.tiles("a"): 1
        }

    async def test_terminated_work_is_gone(
        self, bus: Bus, make_consumer: MakeConsumer, later: Later
    ) -> None:
        consumer = await self._queued(bus, make_consumer)

        await (await self._one(consumer)).term()
        await later(ACK_WAIT + 0.2)
        assert await consumer.fetch(1, 0.2) == []
        assert await bus.in_flight(bus.names.tiles_stream, bus.names.tiles()) == {}

    async def test_a_restarted_consumer_keeps_the_deliveries(
        self, bus: Bus, make_consumer: MakeConsumer, later: Later
    ) -> None:
        crashed = await self._queued(bus, make_consumer)
        await self._one(crashed)  # never answered

        await crashed.close()
        restarted = await make_consumer()
        await later(ACK_WAIT + 0.2)
        back = await self._one(restarted)
        assert back.num_delivered == 2
        await back.ack()

    async def test_a_work_queue_refuses_a_second_consumer_of_the_same_subjects(
        self, bus: Bus, make_consumer: MakeConsumer
    ) -> None:
        await make_consumer("first")
        with pytest.raises(BusError):
            await make_consumer("second")

    # --- core NATS ------------------------------------------------------------------------

    async def test_announcements_reach_matching_subscribers(self, bus: Bus) -> None:
        got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

        async def on(subject: str, data: bytes) -> None:
            got.put_nowait((subject, data))

        sub = await bus.subscribe(bus.names.view("*"), on)
        await asyncio.sleep(0.05)  # the subscription reaches the server
        await bus.announce(bus.names.view("t1"), b"hello")
        await bus.announce(bus.names.projected, b"not for it")
        assert await asyncio.wait_for(got.get(), 5) == (bus.names.view("t1"), b"hello")
        await sub.unsubscribe()
        await asyncio.sleep(0.05)
        await bus.announce(bus.names.view("t1"), b"late")
        await asyncio.sleep(0.1)
        assert got.empty()

    async def test_a_request_gets_its_answer_or_a_bus_error(self, bus: Bus) -> None:
        subject = bus.names.rpc("echo", "upper")
        with pytest.raises(BusError):
            await bus.request(subject, b"x", timeout=0.5)

        async def upper(data: bytes) -> bytes:
            return data.upper()

        async def broken(data: bytes) -> bytes:
            raise RuntimeError("bug")

        sub = await bus.serve(subject, upper, queue="echo")
        failing = await bus.serve(bus.names.rpc("echo", "broken"), broken)
        await asyncio.sleep(0.05)
        assert await bus.request(subject, b"abc") == b"ABC"
        assert b"error" in await bus.request(bus.names.rpc("echo", "broken"), b"")
        await sub.unsubscribe()
        await failing.unsubscribe()

    # --- buckets -------------------------------------------------------------------------

    async def test_key_values_compare_and_set_on_revisions(self, bus: Bus) -> None:
        kv = await bus.key_value(f"{bus.names.ns}_contract", ttl=60)

        rev = await kv.create("role", b"a")
        with pytest.raises(KeyConflict):
            await kv.create("role", b"b")
        entry = await kv.get("role")
        assert entry is not None and (entry.value, entry.revision) == (b"a", rev)
        with pytest.raises(KeyConflict):
            await kv.update("role", b"b", last=rev + 100)
        rev2 = await kv.update("role", b"b", last=rev)
        assert rev2 > rev
        with pytest.raises(KeyConflict):
            await kv.delete("role", last=rev)
        await kv.delete("role", last=rev2)
        assert await kv.get("role") is None
        assert await kv.create("role", b"c") > rev2  # free again

    async def test_key_values_expire_after_their_ttl(self, bus: Bus, later: Later) -> None:
        kv = await bus.key_value(f"{bus.names.ns}_short", ttl=ACK_WAIT)
        await kv.create("role", b"a")
        await later(ACK_WAIT * 1.5)

        assert await kv.get("role") is None
        await kv.create("role", b"b")

    async def test_objects_are_stored_by_name(self, bus: Bus) -> None:
        store = await bus.object_store(f"{bus.names.ns}_objects")

        assert await store.get("role") is None
        await store.put("role", b"x" * 300_000)
        await store.put("role", b"snapshot")
        assert await store.get("role") == b"snapshot"


class OutageContract:
    """An outage for as long as the test says (`bus.outage()`): requests fail with `BusError`,
    answers sent meanwhile are lost, and everything works again after it. Only the memory bus
    can be cut from a test; the JetStream bus's mapping of nats.py's errors onto `BusError` is
    checked in tests/unit/test_bus.py, and a real server's restart in
    tests/integration/dataplane/test_nats_restart.py."""

    async def test_requests_fail_with_a_bus_error_during_an_outage_and_work_after_it(
        self, bus: Any, later: Later
    ) -> None:
        await bus.publish_work(bus.names.tiles("a"), b"x", msg_id="m")
        consumer = await bus.work_consumer(
            WorkQueue(bus.names.tiles_stream, "workers", bus.names.tiles(), ack_wait=ACK_WAIT)
        )
        [held] = await consumer.fetch(1, 5)
        with bus.outage():
            assert not bus.connected
            for request in (
                bus.append(finished()),
                bus.publish_work(bus.names.tiles("a"), b"y", msg_id="n"),
                consumer.fetch(1, 0.1),
                bus.last_sequence(),
                bus.request(bus.names.rpc("x", "y"), b""),
            ):
                with pytest.raises(BusError):
                    await request
            await held.ack()  # lost
        assert bus.connected
        await later(ACK_WAIT + 0.2)
        [back] = await consumer.fetch(1, 5)  # the lost ack: delivered again
        assert back.num_delivered == 2
        await back.ack()
        assert await bus.append(finished()) == 1

    async def test_waiters_wake_when_the_outage_ends(self, bus: Any) -> None:
        bus.cut()
        waiting = asyncio.create_task(bus.until_reconnected(5))
        await asyncio.sleep(0.01)
        bus.restore()
        assert await asyncio.wait_for(waiting, 1) is True
        assert await bus.until_reconnected(0.01) is False  # no outage: nothing to wait for
