"""Do the tiler and the mergers count the same RESULTS partitions? Asked of RESULTS itself.

Both read `TESSERA_MERGER_PARTITIONS`, but from their own environments. A result's subject names
the partition the tiler chose, and its attempt key gives the partition this merger would
choose: a pending result where the two differ was routed with another count, and may be
consumed by no merger. Checked when a merger starts; it says so rather than refusing to start,
since such results stay in the work queue and a merger that refused would never start again.
"""

from __future__ import annotations

import structlog

from tessera.bus import Bus
from tessera.tiling.work import misrouted

log = structlog.get_logger(__name__)


async def check_partitions(bus: Bus, partitions: int) -> list[str]:
    """The pending results routed with another partition count (logged as an error)."""
    names = bus.names
    pending = await bus.in_flight(names.results_stream, names.results())
    wrong = misrouted(pending.keys(), partitions)
    if wrong:
        log.error(
            "merger_partitions_disagree",
            partitions=partitions,
            misrouted=len(wrong),
            example=wrong[0],
            hint="give the tiler and every merger the same TESSERA_MERGER_PARTITIONS",
        )
    return wrong
