"""Publishing tile results to RESULTS (with the per-tile timings in a header)."""

from __future__ import annotations

import json

import nats
from nats.js.errors import APIError

from tessera.bus import Bus
from tessera.errors import BusError
from tessera.tiling.work import TIMINGS_HEADER


async def publish_result(
    bus: Bus, subject: str, payload: bytes, *, msg_id: str, timings: dict[str, float]
) -> None:
    headers = {
        "Nats-Msg-Id": msg_id,
        TIMINGS_HEADER: json.dumps({k: round(v, 5) for k, v in timings.items()}),
    }
    try:
        await bus.js.publish(subject, payload, headers=headers)
    except (APIError, TimeoutError, nats.errors.Error) as exc:
        raise BusError(f"publish to {subject} failed: {exc}") from exc
