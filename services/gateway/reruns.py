"""Re-run requests go to the branch-sequencer, the authority on job states (NATS request/reply).

Like a cancel (`gateway/cancellation.py`): a workflow the sequencer forgot, finished more than
`TESSERA_FINISHED_RETENTION_S` ago, is answered from the read model: 409 for the tenant's job
(it can be submitted again, "Edit as new" in the UI), 404 for anything else.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from tessera.bus import Bus
from tessera.errors import Conflict, NotFound
from tessera.gateway.cancellation import ask_sequencer
from tessera.readmodel import queries
from tessera.rerun import RERUN, RerunReply, RerunRequest


async def request_rerun(
    bus: Bus, pool: asyncpg.Pool, tenant: UUID, workflow_id: UUID, job_id: str
) -> RerunReply:
    """Ask the sequencer; raise NotFound / Conflict for its refusals, BusError if none answers."""
    request = RerunRequest(tenant_id=tenant, workflow_id=workflow_id, job_id=job_id)
    reply = await ask_sequencer(bus, RERUN, request, RerunReply)
    what = f"{workflow_id}/{job_id}"
    if reply.outcome == "not_found":
        async with pool.acquire() as conn:
            job = await queries.job_outcome(conn, tenant, workflow_id, job_id)
        if job is not None:
            raise Conflict(
                f"{what} finished too long ago to be re-run: submit the workflow again",
                state=job["state"],
            )
        raise NotFound("job", what)
    if reply.outcome == "refused":
        state = reply.state or "unknown"
        raise Conflict(reply.message or f"{what} cannot be re-run: it is {state}", state=state)
    return reply
