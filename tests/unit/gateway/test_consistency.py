"""The gateway's view of the projector's checkpoint: announcements wake waiting reads, a lost
announcement is healed by re-reading the checkpoint, and a read past it gives up in time."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from tessera.bus import MemoryBus
from tessera.gateway.consistency import Projection


class FakeDb:
    """A pool whose checkpoint row says `seq` and counts its reads."""

    def __init__(self) -> None:
        self.seq = 0
        self.reads = 0

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeDb]:
        yield self

    async def fetchval(self, query: str, *args: Any) -> int:
        self.reads += 1
        return self.seq


BUS = MemoryBus()


def projection(db: FakeDb) -> Projection:
    return Projection(BUS, db, recheck_s=0.05)  # type: ignore[arg-type]


async def announce(data: bytes) -> None:
    """What the projector announces, as the bus delivers it (the handler runs in a task)."""
    await BUS.announce(BUS.names.projected, data)
    for _ in range(3):
        await asyncio.sleep(0)


def announced(seq: int) -> bytes:
    return json.dumps({"seq": seq}).encode()


async def test_an_announcement_wakes_the_reads_waiting_for_it() -> None:
    db = FakeDb()
    proj = projection(db)
    await proj.start()
    db.reads = 0
    waiting = asyncio.create_task(proj.reached(7, timeout=30))
    await asyncio.sleep(0)
    await announce(announced(6))
    assert not waiting.done()
    await announce(announced(7))
    assert await asyncio.wait_for(waiting, 1) is True
    await proj.stop()
    assert db.reads == 0  # woken by the announcement, not by reading the database


async def test_a_lost_announcement_is_healed_by_reading_the_checkpoint() -> None:
    db = FakeDb()
    proj = projection(db)
    db.seq = 9  # projected, but the announcement never came
    assert await proj.reached(9, timeout=5) is True
    assert proj.seq == 9 and db.reads >= 1


async def test_a_read_past_the_checkpoint_gives_up_after_its_timeout() -> None:
    db = FakeDb()
    proj = projection(db)
    await proj.start()
    await announce(announced(3))
    assert await proj.reached(4, timeout=0.12) is False
    assert await proj.reached(3, timeout=0) is True
    await announce(b"not json")  # ignored, logged
    await announce(announced(2))  # an older one changes nothing
    assert proj.seq == 3
    await proj.stop()
