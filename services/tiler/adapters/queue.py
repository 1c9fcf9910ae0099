"""The TILES stream as the tiler uses it: batches in flight per attempt, publish."""

from __future__ import annotations

from tessera.bus import Bus
from tessera.tiling.work import EMPTY_PLAN, MARKER_HEADER, JobRef, TileBatch


class TileQueue:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.stream = bus.names.tiles_stream

    async def in_flight(self) -> dict[str, int]:
        """Messages per tiles subject still in the stream (queued, or delivered but not acked)."""
        return await self.bus.in_flight(self.stream, self.bus.names.tiles())

    async def publish(self, subject: str, batch: TileBatch) -> None:
        await self.bus.publish_work(subject, batch.model_dump_json().encode(), msg_id=batch.msg_id)

    async def announce_empty(self, ref: JobRef, results_subject: str) -> None:
        """Tell the merger that an attempt has no tile at all (it finalises empty outputs)."""
        await self.bus.publish_work(
            results_subject,
            b"",
            msg_id=f"{ref.key}:{EMPTY_PLAN}",
            headers={MARKER_HEADER: EMPTY_PLAN},
        )
