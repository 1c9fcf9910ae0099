"""Publishing tile results to RESULTS (with the per-tile timings in a header)."""

from __future__ import annotations

import json

from tessera.bus import Bus
from tessera.tiling.work import TIMINGS_HEADER


async def publish_result(
    bus: Bus, subject: str, payload: bytes, *, msg_id: str, timings: dict[str, float]
) -> None:
    timing = json.dumps({k: round(v, 5) for k, v in timings.items()})
    await bus.publish_work(subject, payload, msg_id=msg_id, headers={TIMINGS_HEADER: timing})
