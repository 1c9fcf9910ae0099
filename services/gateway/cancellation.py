"""Cancel requests go to the branch-sequencer, the authority on job states (NATS request/reply).

The sequencer forgets a workflow `TESSERA_FINISHED_RETENTION_S` after it finished; a cancel it
does not know is then answered from the read model, where an ended job stays ended: 409 with the
state for the tenant's finished work, 404 for anything else.
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

import asyncpg
from pydantic import BaseModel

from tessera.bus import Bus
from tessera.cancel import CANCEL, RPC_SERVICE, CancelReply, CancelRequest
from tessera.errors import Conflict, NotFound
from tessera.gateway.consistency import log_position
from tessera.readmodel import queries
from tessera.workflows import TERMINAL_JOB_STATES, TERMINAL_WORKFLOW_STATES

CANCEL_TIMEOUT_S = 5.0  # re-runs too
Reply = TypeVar("Reply", bound=BaseModel)


async def ask_sequencer(bus: Bus, verb: str, request: BaseModel, answer: type[Reply]) -> Reply:
    """One request to the branch-sequencer's `verb`; BusError when none answers in time."""
    raw = await bus.request(
        bus.names.rpc(RPC_SERVICE, verb),
        request.model_dump_json().encode(),
        timeout=CANCEL_TIMEOUT_S,
    )
    return answer.model_validate_json(raw)


async def request_cancel(
    bus: Bus, pool: asyncpg.Pool, tenant: UUID, workflow_id: UUID, job_id: str | None
) -> CancelReply:
    """Ask the sequencer; raise NotFound / Conflict for its refusals, BusError if none answers."""
    request = CancelRequest(tenant_id=tenant, workflow_id=workflow_id, job_id=job_id)
    reply = await ask_sequencer(bus, CANCEL, request, CancelReply)
    what = f"{workflow_id}/{job_id}" if job_id else str(workflow_id)
    if reply.outcome == "not_found":
        ended: frozenset[str]
        async with pool.acquire() as conn:
            if job_id is None:
                state = await queries.workflow_state(conn, tenant, workflow_id)
                ended = TERMINAL_WORKFLOW_STATES
            else:
                job = await queries.job_outcome(conn, tenant, workflow_id, job_id)
                state = None if job is None else job["state"]
                ended = TERMINAL_JOB_STATES
        if state in ended:
            raise Conflict(f"{what} cannot be cancelled: it is {state}", state=state)
        raise NotFound("job" if job_id else "workflow", what)
    if reply.outcome == "refused":
        state = reply.state or "unknown"
        raise Conflict(
            reply.message or f"{what} cannot be cancelled: it is {state}", state=reply.state
        )
    if not reply.seq:  # a sequencer of before the token: the log's end is past its appends
        reply = reply.model_copy(update={"seq": await log_position(bus)})
    return reply
