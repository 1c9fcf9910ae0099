"""The re-run contract between the gateway and the branch-sequencer (NATS request/reply).

Subject: `Names.rpc(RPC_SERVICE, "rerun")`, beside the cancel contract (`tessera.cancel`). The
sequencer answers only once `JobRerun` is in the log, or with the state that refused it, so the
gateway can say 200, 404 or 409 truthfully.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

RERUN = "rerun"


class RerunRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: UUID
    workflow_id: UUID
    job_id: str


class RerunReply(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: Literal["accepted", "refused", "not_found"]
    state: str | None = Field(default=None, description="the job's state if refused")
    jobs: list[str] = Field(default_factory=list, description="job ids now PENDING again")
    message: str = ""
    seq: int = Field(
        default=0, ge=0, description="accepted: the log sequence folded to after the JobRerun"
    )
