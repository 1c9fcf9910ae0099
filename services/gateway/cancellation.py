"""Cancel requests go to the branch-sequencer, the authority on job states (NATS request/reply)."""

from __future__ import annotations

from uuid import UUID

from tessera.bus import Bus
from tessera.cancel import CANCEL, RPC_SERVICE, CancelReply, CancelRequest
from tessera.errors import Conflict, NotFound

CANCEL_TIMEOUT_S = 5.0


async def request_cancel(
    bus: Bus, tenant: UUID, workflow_id: UUID, job_id: str | None
) -> CancelReply:
    """Ask the sequencer; raise NotFound / Conflict for its refusals, BusError if none answers."""
    request = CancelRequest(tenant_id=tenant, workflow_id=workflow_id, job_id=job_id)
    raw = await bus.request(
        bus.names.rpc(RPC_SERVICE, CANCEL),
        request.model_dump_json().encode(),
        timeout=CANCEL_TIMEOUT_S,
    )
    reply = CancelReply.model_validate_json(raw)
    what = f"{workflow_id}/{job_id}" if job_id else str(workflow_id)
    if reply.outcome == "not_found":
        raise NotFound("job" if job_id else "workflow", what)
    if reply.outcome == "refused":
        state = reply.state or "unknown"
        raise Conflict(
            reply.message or f"{what} cannot be cancelled: it is {state}", state=reply.state
        )
    return reply
