"""Writes events into the PostgreSQL read models; every write is keyed so a replay is idempotent."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tessera.bus import Envelope
from tessera.events import (
    JobAttemptFailed,
    JobEvent,
    JobPlanned,
    JobProgressed,
    JobRerun,
    JobRetryScheduled,
    JobSucceeded,
    TenantActivated,
    TenantDequeued,
    TenantQueued,
    TenantReleased,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowQueued,
    WorkflowSubmitted,
)
from tessera.progress import RATE_WINDOW_S, Sample, estimate_tiles, rate
from tessera.projector.domain import (
    JobTiming,
    RateWindows,
    job_state_after,
    job_timing,
    transition_detail,
)
from tessera.readmodel import queries
from tessera.workflows import TERMINAL_JOB_STATES, WorkflowState

checkpoint = queries.projected_seq


async def set_checkpoint(conn: asyncpg.Connection, seq: int) -> None:
    await conn.execute(
        "INSERT INTO projector_checkpoint (projection, last_seq) VALUES ($1, $2) "
        "ON CONFLICT (projection) DO UPDATE SET last_seq = EXCLUDED.last_seq",
        queries.PROJECTION,
        seq,
    )


async def apply(
    conn: asyncpg.Connection,
    env: Envelope,
    timings: list[JobTiming] | None = None,
    windows: RateWindows | None = None,
) -> tuple[str, Any] | None:
    """Apply one event; returns (tenant_id, workflow_id) whose views changed, or None.

    A job timing the event completes is added to `timings` (observed once committed);
    `windows` keeps running attempts' recent samples between events (else they are read)."""
    windows = windows if windows is not None else RateWindows()
    ev = env.event
    at = ev.occurred_at
    if isinstance(ev, WorkflowSubmitted):
        await _workflow_submitted(conn, env.seq, ev)
    elif isinstance(ev, WorkflowQueued):
        await _set_workflow(
            conn,
            env.seq,
            ev.workflow_id,
            at,
            state=WorkflowState.QUEUED.value,
            queue_position=ev.position,
        )
    elif isinstance(ev, WorkflowAdmitted):
        await _set_workflow(
            conn, env.seq, ev.workflow_id, at, state=WorkflowState.RUNNING.value, started=True
        )
    elif isinstance(ev, WorkflowFinished):
        await _set_workflow(conn, env.seq, ev.workflow_id, at, state=ev.state.value, finished=True)
    elif isinstance(ev, JobRerun):
        await _job_rerun(conn, env.seq, ev)
        for job_id in ev.jobs:
            windows.forget(ev.workflow_id, job_id)
    elif isinstance(ev, TenantQueued | TenantActivated | TenantReleased | TenantDequeued):
        await _tenant(conn, env.seq, ev)
        return None
    elif isinstance(ev, JobEvent):
        timing = await _job_event(conn, env.seq, ev, windows)
        if timing is not None and timings is not None:
            timings.append(timing)
    else:  # pragma: no cover - the union is exhaustive
        return None
    return str(ev.tenant_id), ev.workflow_id


async def _workflow_submitted(conn: asyncpg.Connection, seq: int, ev: WorkflowSubmitted) -> None:
    spec = ev.spec
    inserted = await conn.fetchval(
        """INSERT INTO workflows (workflow_id, tenant_id, name, state, jobs_total, spec,
                                  submitted_at, updated_at, last_seq)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)
           ON CONFLICT (workflow_id) DO NOTHING RETURNING 1""",
        ev.workflow_id,
        ev.tenant_id,
        spec.name,
        WorkflowState.QUEUED.value,
        len(spec.jobs),
        spec.model_dump_json(),
        ev.occurred_at,
        seq,
    )
    if not inserted:
        return
    await conn.executemany(
        """INSERT INTO jobs (workflow_id, job_id, tenant_id, position, type, branch, slide, params,
                             depends_on, retries, state, created_at, updated_at, last_seq,
                             tiles_estimate)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'PENDING', $11, $11, $12, $13)""",
        [
            (
                ev.workflow_id,
                job.id,
                ev.tenant_id,
                i,
                job.type,
                job.branch,
                job.slide,
                json.dumps(job.params),
                json.dumps(list(job.depends_on)),
                job.retries,
                ev.occurred_at,
                seq,
                # events of before estimates: a synthetic job's can still be told
                ev.estimates[job.id]
                if job.id in ev.estimates
                else estimate_tiles(job.type, job.params, None),
            )
            for i, job in enumerate(spec.jobs)
        ],
    )
    await _roll_up(conn, ev.workflow_id, seq, ev.occurred_at)


async def _set_workflow(
    conn: asyncpg.Connection,
    seq: int,
    workflow_id: Any,
    at: datetime,
    *,
    state: str,
    queue_position: int | None = None,
    started: bool = False,
    finished: bool = False,
) -> None:
    await conn.execute(
        """UPDATE workflows SET state = $4, queue_position = $5,
               started_at = CASE WHEN $6 THEN COALESCE(started_at, $2) ELSE started_at END,
               finished_at = CASE WHEN $7 THEN $2 ELSE finished_at END,
               updated_at = $2, last_seq = $3
           WHERE workflow_id = $1""",
        workflow_id,
        at,
        seq,
        state,
        queue_position,
        started,
        finished,
    )


async def _job_rerun(conn: asyncpg.Connection, seq: int, ev: JobRerun) -> None:
    """The jobs go back to PENDING (their attempts stay: the next start counts on); a workflow
    that had finished waits for admission again. The history records it on the job asked for
    (one row per log sequence)."""
    await conn.execute(
        """UPDATE jobs SET state = 'PENDING', reason = NULL, summary = NULL, finished_at = NULL,
               tiles_done = 0, tiles_total = 0, tissue_fraction = NULL, retry_at = NULL,
               planned = false, rate = NULL, updated_at = $3, last_seq = $4
           WHERE workflow_id = $1 AND job_id = ANY($2::text[])""",
        ev.workflow_id,
        ev.jobs,
        ev.occurred_at,
        seq,
    )
    others = [j for j in ev.jobs if j != ev.job_id]
    detail = "re-run" + (f" with {', '.join(others)}" if others else "")
    await conn.execute(
        """INSERT INTO job_history (seq, workflow_id, job_id, event_type, state, attempt,
                                    detail, at)
           VALUES ($1, $2, $3, $4, 'PENDING', $5, $6, $7) ON CONFLICT (seq) DO NOTHING""",
        seq,
        ev.workflow_id,
        ev.job_id,
        ev.type,
        ev.attempts.get(ev.job_id, 0),
        detail,
        ev.occurred_at,
    )
    if ev.spec is not None:  # it had finished: open again until admission decides
        await conn.execute(
            """UPDATE workflows SET state = 'QUEUED', queue_position = NULL, finished_at = NULL,
                   updated_at = $2, last_seq = $3
               WHERE workflow_id = $1""",
            ev.workflow_id,
            ev.occurred_at,
            seq,
        )
    await _roll_up(conn, ev.workflow_id, seq, ev.occurred_at)


async def _tenant(
    conn: asyncpg.Connection,
    seq: int,
    ev: TenantQueued | TenantActivated | TenantReleased | TenantDequeued,
) -> None:
    row = await conn.fetchrow(
        "SELECT active, waiting, position, queued_at FROM tenants WHERE tenant_id = $1",
        ev.tenant_id,
    )
    active, waiting, position, queued_at = (
        (row["active"], row["waiting"], row["position"], row["queued_at"])
        if row
        else (False, False, None, None)
    )
    if isinstance(ev, TenantQueued):
        # arrival in the line counts once: a re-announced position keeps it
        queued_at = queued_at if waiting else ev.occurred_at
        waiting, position = True, ev.position
    elif isinstance(ev, TenantActivated):  # admitted: its place in the line was granted
        active, waiting, position, queued_at = True, False, None, None
    elif isinstance(ev, TenantReleased):
        active = False
    else:  # TenantDequeued: left the line without a slot
        waiting, position, queued_at = False, None, None
    state = "ACTIVE" if active else "WAITING" if waiting else "IDLE"
    await conn.execute(
        """INSERT INTO tenants (tenant_id, state, active, waiting, position, queued_at,
                                updated_at, last_seq)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (tenant_id) DO UPDATE SET state = EXCLUDED.state,
             active = EXCLUDED.active, waiting = EXCLUDED.waiting,
             position = EXCLUDED.position, queued_at = EXCLUDED.queued_at,
             updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq""",
        ev.tenant_id,
        state,
        active,
        waiting,
        position,
        queued_at,
        ev.occurred_at,
        seq,
    )


async def _job_event(
    conn: asyncpg.Connection, seq: int, ev: JobEvent, windows: RateWindows
) -> JobTiming | None:
    at = ev.occurred_at
    timing = None
    key = (ev.workflow_id, ev.job_id)
    if isinstance(ev, JobPlanned):
        planned = await conn.fetchval(
            """UPDATE jobs SET tiles_total = $3, tiles_done = 0, tissue_fraction = $4,
                   planned = true, rate = NULL, updated_at = $5, last_seq = $6
               WHERE workflow_id = $1 AND job_id = $2 AND state = 'RUNNING' RETURNING tenant_id""",
            *key,
            ev.tiles_total,
            ev.tissue_fraction,
            at,
            seq,
        )
        if planned is not None:  # the plan is the attempt's first sample: 0 of its tiles
            await _sample(conn, seq, ev, planned, 0, ev.tiles_total, 0)
            windows.put(ev.workflow_id, ev.job_id, ev.attempt, [Sample(at, 0)])
    elif isinstance(ev, JobProgressed):
        await _progressed(conn, seq, ev, windows)
    elif isinstance(ev, JobAttemptFailed):  # the job stays RUNNING until the sequencer decides
        await conn.execute(
            """UPDATE jobs SET reason = $3, updated_at = $4, last_seq = $5
               WHERE workflow_id = $1 AND job_id = $2""",
            *key,
            ev.reason,
            at,
            seq,
        )
    state = job_state_after(ev)
    if state is not None:
        windows.forget(ev.workflow_id, ev.job_id)
        attempt = getattr(ev, "attempt", None)
        terminal = state in TERMINAL_JOB_STATES
        summary = ev.summary if hasattr(ev, "summary") else None
        # A job that ended stays ended: a cancelled running job's last result may still be
        # logged after its JobCancelled (the sequencer ignores it, and so does the read model).
        applied = await conn.fetchrow(
            """UPDATE jobs SET state = $3,
                   attempt = COALESCE($4, attempt),
                   started_at = CASE WHEN $3 = 'RUNNING' THEN COALESCE(started_at, $5)
                                     ELSE started_at END,
                   finished_at = CASE WHEN $6 THEN $5 ELSE finished_at END,
                   tiles_done = CASE WHEN $3 = 'SUCCEEDED' THEN tiles_total ELSE tiles_done END,
                   planned = planned OR $3 = 'SUCCEEDED',
                   rate = CASE WHEN $3 = 'RUNNING' THEN NULL ELSE rate END,
                   reason = COALESCE($7, reason),
                   summary = COALESCE($8::jsonb, summary),
                   retry_at = $11,
                   updated_at = $5, last_seq = $9
               WHERE workflow_id = $1 AND job_id = $2
                 AND state <> ALL($10::text[])
                 AND (NOT $12 OR (state = 'RUNNING' AND attempt = $4))
               RETURNING type, created_at, started_at""",
            *key,
            state.value,
            attempt,
            at,
            terminal,
            transition_detail(ev),
            json.dumps(summary) if summary is not None else None,
            seq,
            queries.TERMINAL_JOB_STATES_SQL,
            ev.retry_at if isinstance(ev, JobRetryScheduled) else None,
            # a result counts for the running attempt only: one of an attempt a cancel ended
            # may land after the job was re-run, PENDING again
            isinstance(ev, JobSucceeded),
        )
        if applied is None:
            return None
        timing = job_timing(ev, applied["type"], applied["created_at"], applied["started_at"])
    if state is not None or isinstance(ev, JobAttemptFailed):
        attempt = int(getattr(ev, "attempt", 0) or 0)
        recorded = state.value if state is not None else "RUNNING"
        await conn.execute(
            """INSERT INTO job_history (seq, workflow_id, job_id, event_type, state, attempt,
                                        detail, at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (seq) DO NOTHING""",
            seq,
            *key,
            ev.type,
            recorded,
            attempt,
            transition_detail(ev),
            at,
        )
    await _roll_up(conn, ev.workflow_id, seq, at)
    return timing


async def _progressed(
    conn: asyncpg.Connection, seq: int, ev: JobProgressed, windows: RateWindows
) -> None:
    """The running job's tiles and its rate over the last RATE_WINDOW_S of its attempt's
    samples (log time, so a replay measures the same), and the sample itself."""
    key = (ev.workflow_id, ev.job_id)
    samples = windows.get(*key, ev.attempt)
    if samples is None:
        samples = await _window(conn, ev)
    delta = max(0, ev.tiles_done - samples[-1].done) if samples else ev.tiles_done
    samples.append(Sample(ev.occurred_at, ev.tiles_done))
    # one round trip: the running job's row, and its sample if it was running
    status = await conn.execute(
        """WITH job AS (
             UPDATE jobs SET tiles_done = GREATEST(tiles_done, $3), tiles_total = $4,
                 planned = true, rate = $7, updated_at = $5, last_seq = $6
             WHERE workflow_id = $1 AND job_id = $2 AND state = 'RUNNING' RETURNING tenant_id)
           INSERT INTO job_progress (seq, workflow_id, job_id, tenant_id, attempt, tiles_done,
                                     tiles_total, delta, at)
           SELECT $6, $1, $2, tenant_id, $8, $3, $4, $9, $5 FROM job
           ON CONFLICT (seq) DO NOTHING""",
        *key,
        ev.tiles_done,
        ev.tiles_total,
        ev.occurred_at,
        seq,
        rate(samples, ev.occurred_at),
        ev.attempt,
        delta,
    )
    if status.endswith(" 1"):  # "INSERT 0 1": the sample was taken
        windows.put(*key, ev.attempt, samples)


async def _window(conn: asyncpg.Connection, ev: JobProgressed) -> list[Sample]:
    """The attempt's samples its rate needs, from the last at or before the window's start."""
    rows = await conn.fetch(
        """SELECT at, tiles_done FROM job_progress
           WHERE workflow_id = $1 AND job_id = $2 AND attempt = $3
             AND at >= COALESCE((SELECT max(at) FROM job_progress
                                 WHERE workflow_id = $1 AND job_id = $2 AND attempt = $3
                                   AND at <= $4), '-infinity')
           ORDER BY at, seq""",
        ev.workflow_id,
        ev.job_id,
        ev.attempt,
        ev.occurred_at - timedelta(seconds=RATE_WINDOW_S),
    )
    return [Sample(r["at"], r["tiles_done"]) for r in rows]


async def _sample(
    conn: asyncpg.Connection,
    seq: int,
    ev: JobPlanned | JobProgressed,
    tenant: Any,
    done: int,
    total: int,
    delta: int,
) -> None:
    await conn.execute(
        """INSERT INTO job_progress (seq, workflow_id, job_id, tenant_id, attempt, tiles_done,
                                     tiles_total, delta, at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING""",
        seq,
        ev.workflow_id,
        ev.job_id,
        tenant,
        ev.attempt,
        done,
        total,
        delta,
        ev.occurred_at,
    )


async def _roll_up(conn: asyncpg.Connection, workflow_id: Any, seq: int, at: datetime) -> None:
    """Workflow progress: its jobs' expected, done and ended tiles summed (tessera.progress),
    and the rate of those running now."""
    await conn.execute(
        """UPDATE workflows w SET
               tiles_done = j.done, tiles_total = j.expected, tiles_ended = j.ended,
               estimated = j.estimated, rate = j.rate, jobs_finished = j.finished,
               updated_at = $2, last_seq = $3
           FROM (SELECT COALESCE(sum(tiles_done), 0) AS done,
                        COALESCE(sum(tiles_expected), 0) AS expected,
                        COALESCE(sum(tiles_ended), 0) AS ended,
                        COALESCE(bool_or(estimated), false) AS estimated,
                        sum(rate) FILTER (WHERE state = 'RUNNING') AS rate,
                        count(*) FILTER (WHERE state = ANY($4::text[])) AS finished
                 FROM jobs WHERE workflow_id = $1) j
           WHERE w.workflow_id = $1""",
        workflow_id,
        at,
        seq,
        queries.TERMINAL_JOB_STATES_SQL,
    )
