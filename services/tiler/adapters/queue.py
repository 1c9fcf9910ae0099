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
        info = await self.bus.js.stream_info(self.stream, subjects_filter=self.bus.names.tiles())
        return dict(info.state.subjects or {})

    async def publish(self, subject: str, batch: TileBatch) -> None:
        await self.bus.publish_work(subject, batch.model_dump_json().encode(), msg_id=batch.msg_id)

    async def announce_empty(self, ref: JobRef, results_subject: str) -> None:
        """Tell the merger that an attempt has no tile at all (it finalises empty outputs)."""
        await self.bus.js.publish(
            results_subject,
            b"",
            headers={"Nats-Msg-Id": f"{ref.key}:{EMPTY_PLAN}", MARKER_HEADER: EMPTY_PLAN},
        )
