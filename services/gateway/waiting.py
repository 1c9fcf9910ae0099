"""Why a PENDING job waits, in words, derived from the read models (pure: time is an input).

A job starts when its tenant is admitted, it heads its lane, its dependencies succeeded, its
retry backoff (if any) is over and one of `MAX_WORKERS` slots is free (docs/architecture.md,
"Scheduling"). `waiting_reasons` names the first of these that holds a job back, in that order,
from what the gateway reads anyway: the workflow's jobs, the tenant's place in the admission
line and the number of jobs running. It explains the branch-sequencer's rules; it decides
nothing, so a reason may trail the scheduler by the read models' lag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, Field

from tessera.readmodel import queries
from tessera.workflows import TERMINAL_JOB_STATES

WaitingKind = Literal["admission", "lane", "dependencies", "retry", "worker_slot"]


class WaitingDetails(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int | None = Field(
        default=None, description="admission: the tenant's 1-based place in the waiting line"
    )
    tenants_ahead: int | None = Field(default=None, description="admission: tenants before it")
    jobs: list[str] = Field(
        default_factory=list,
        description="lane: the job ahead of it in its branch; dependencies: those not succeeded",
    )
    branch: str | None = Field(default=None, description="lane: the branch")
    until: datetime | None = Field(default=None, description="retry: when the next attempt is due")
    next_attempt: int | None = Field(default=None, description="retry: the attempt to come")
    running: int | None = Field(default=None, description="worker_slot: jobs running now")
    max_workers: int | None = Field(default=None, description="worker_slot: MAX_WORKERS")


class Waiting(BaseModel):
    """What a PENDING job waits for: `kind` for programs, `words` for people."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: WaitingKind
    words: str = Field(examples=["waits for job 'mask' ahead of it in branch 'cells' (RUNNING)"])
    details: WaitingDetails = Field(default_factory=WaitingDetails)


def waiting_reasons(
    workflow_state: str,
    jobs: Sequence[Mapping[str, Any]],
    *,
    admission_position: int | None,
    running: int,
    max_workers: int,
    now: datetime,
) -> dict[str, Waiting]:
    """The reason of every PENDING job of one workflow, by job id.

    `jobs` are the workflow's job rows (job_id, position, branch, depends_on, state, attempt,
    retries, retry_at); `admission_position` is the tenant's live place in the line, if it
    waits; `running` the jobs running now across all tenants.
    """
    by_id = {job["job_id"]: job for job in jobs}
    lanes: dict[str, list[Mapping[str, Any]]] = {}
    for job in sorted(jobs, key=lambda j: j["position"]):
        lanes.setdefault(job["branch"], []).append(job)
    out: dict[str, Waiting] = {}
    for lane in lanes.values():
        for index, job in enumerate(lane):
            if job["state"] != "PENDING":
                continue
            ahead = next((j for j in lane[:index] if j["state"] not in TERMINAL_JOB_STATES), None)
            out[job["job_id"]] = _reason(
                workflow_state, job, ahead, by_id, admission_position, running, max_workers, now
            )
    return out


def _reason(
    workflow_state: str,
    job: Mapping[str, Any],
    ahead: Mapping[str, Any] | None,
    by_id: Mapping[str, Mapping[str, Any]],
    admission_position: int | None,
    running: int,
    max_workers: int,
    now: datetime,
) -> Waiting:
    if workflow_state == "QUEUED":
        return _admission(admission_position)
    retry_at = job.get("retry_at")
    if job["attempt"] > 0 and retry_at is not None and retry_at > now:
        next_attempt = job["attempt"] + 1
        return Waiting(
            kind="retry",
            words=f"retries at {retry_at:%H:%M:%S} UTC (attempt {next_attempt} of "
            f"{job['retries'] + 1}) after its attempt {job['attempt']} failed",
            details=WaitingDetails(until=retry_at, next_attempt=next_attempt),
        )
    if ahead is not None:
        return Waiting(
            kind="lane",
            words=f"waits for job {ahead['job_id']!r} ahead of it in branch {job['branch']!r} "
            f"({ahead['state']})",
            details=WaitingDetails(jobs=[ahead["job_id"]], branch=job["branch"]),
        )
    unmet = [d for d in job["depends_on"] if d in by_id and by_id[d]["state"] != "SUCCEEDED"]
    if unmet:
        names = ", ".join(repr(d) for d in unmet)
        states = ", ".join(by_id[d]["state"] for d in unmet)
        noun = "dependency" if len(unmet) == 1 else "dependencies"
        return Waiting(
            kind="dependencies",
            words=f"waits for its {noun} {names} to succeed ({states})",
            details=WaitingDetails(jobs=unmet),
        )
    details = WaitingDetails(running=running, max_workers=max_workers)
    if running >= max_workers:
        words = f"waits for a free worker slot: all {max_workers} are busy"
    else:
        words = f"next for a worker slot ({running} of {max_workers} busy)"
    return Waiting(kind="worker_slot", words=words, details=details)


def _admission(position: int | None) -> Waiting:
    if position is None:  # queued a moment ago, or the line moved: admission decides next
        return Waiting(kind="admission", words="waits for its tenant to be admitted")
    ahead = position - 1
    others = "nobody is ahead" if ahead == 0 else f"{ahead} tenant{'s' * (ahead != 1)} ahead"
    return Waiting(
        kind="admission",
        words=f"waits for its tenant's turn: #{position} in the admission line, {others}",
        details=WaitingDetails(position=position, tenants_ahead=ahead),
    )


async def read_waiting(
    conn: asyncpg.Connection,
    tenant_id: Any,
    workflow: Mapping[str, Any],
    *,
    max_workers: int,
    now: datetime,
) -> dict[str, Waiting]:
    """`waiting_reasons` of a workflow row with its jobs, reading what else they need (the
    tenant's place in line only while the workflow is QUEUED); nothing when no job is PENDING."""
    jobs = workflow["jobs"]
    if not any(job["state"] == "PENDING" for job in jobs):
        return {}
    position = None
    if workflow["state"] == "QUEUED":
        position = (await queries.admission_status(conn, tenant_id))["position"]
    running = await queries.running_jobs(conn)
    return waiting_reasons(
        workflow["state"],
        jobs,
        admission_position=position,
        running=running,
        max_workers=max_workers,
        now=now,
    )
