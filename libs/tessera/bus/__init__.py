"""The bus: a port (`port.Bus`) with a JetStream adapter and an in-memory fake.

Three streams per namespace (`tessera` gives the plain names the design uses):

- EVENTS   Limits retention, file storage: the event log, source of truth.
- TILES    WorkQueue: tile batches (coordinates only) for the inference pool.
- RESULTS  WorkQueue: compact per-tile results for the merger.

Services import the port's names from here; only `tessera.service`, the gateway's app and the
tools that connect to a server name `JetStreamBus`.
"""

from typing import TYPE_CHECKING

from tessera.bus.jetstream import JetStreamBus
from tessera.bus.memory import MemoryBus
from tessera.bus.port import (
    DUPLICATE_WINDOW_S,
    Bus,
    Entry,
    Envelope,
    Feed,
    KeyValue,
    Names,
    ObjectStore,
    Subscription,
    WorkConsumer,
    WorkMessage,
    WorkQueue,
    hold_in_progress,
    patiently,
    pull,
    read_events,
    retry_delay,
)

__all__ = [
    "DUPLICATE_WINDOW_S",
    "Bus",
    "Entry",
    "Envelope",
    "Feed",
    "JetStreamBus",
    "KeyValue",
    "MemoryBus",
    "Names",
    "ObjectStore",
    "Subscription",
    "WorkConsumer",
    "WorkMessage",
    "WorkQueue",
    "hold_in_progress",
    "patiently",
    "pull",
    "read_events",
    "retry_delay",
]

if TYPE_CHECKING:  # mypy checks that both adapters implement the port (and, through the
    # return types of its methods, the consumers, messages, feeds and buckets they hand out)

    def _adapters(js: JetStreamBus, mem: MemoryBus) -> tuple[Bus, Bus]:
        return js, mem
