"""The cancel contract between the gateway and the branch-sequencer (NATS request/reply).

Subject: `Names.rpc(RPC_SERVICE, "cancel")`. A request cancels one job (`job_id` set) or every
job of a workflow that has not ended, running ones included (`job_id` None; refused once the
workflow has finished). The sequencer answers only after the cancellation is in the log, or with
the state that refused it, so the gateway can say 200, 404 or 409 truthfully.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

RPC_SERVICE = "sequencer"
CANCEL = "cancel"


class CancelRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: UUID
    workflow_id: UUID
    job_id: str | None = Field(default=None, description="None cancels the whole workflow")
    reason: str = Field(default="cancelled by user", max_length=500)


class CancelReply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["accepted", "refused", "not_found"]
    state: str | None = Field(default=None, description="the job's or workflow's state if refused")
    cancelled: list[str] = Field(default_factory=list, description="job ids now CANCELLED")
    message: str = ""
    seq: int = Field(
        default=0,
        ge=0,
        description="accepted: the log sequence the sequencer had folded to after "
        "appending the cancellation (the gateway's consistency token)",
    )
