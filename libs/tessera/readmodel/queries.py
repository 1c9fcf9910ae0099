"""Tenant-scoped reads of the read models. Every query takes the tenant: no cross-tenant reads
(the projector's checkpoint, a log position, and the number of jobs running, a count against
MAX_WORKERS, are the reads that are nobody's data)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from tessera.readmodel import listing
from tessera.workflows import TERMINAL_JOB_STATES

WORKFLOW_COLUMNS = """workflow_id, tenant_id, name, state, queue_position, jobs_total,
    jobs_finished, tiles_done, tiles_total, tiles_ended, estimated, rate, submitted_at,
    started_at, finished_at, updated_at, last_seq"""
JOB_COLUMNS = """workflow_id, job_id, position, type, branch, slide, params, depends_on, retries,
    state, attempt, tiles_done, tiles_total, tiles_expected, tiles_ended, estimated, rate,
    tissue_fraction, reason, summary, created_at, started_at, finished_at, updated_at, last_seq,
    retry_at"""


PROJECTION = "read_models"  # the projector's row in projector_checkpoint
TERMINAL_JOB_STATES_SQL = sorted(map(str, TERMINAL_JOB_STATES))  # as a text[] parameter


async def projected_seq(conn: asyncpg.Connection) -> int:
    """The log sequence up to which the read models hold every event (the projector's
    checkpoint)."""
    row = await conn.fetchval(
        "SELECT last_seq FROM projector_checkpoint WHERE projection = $1", PROJECTION
    )
    return int(row or 0)


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    for key in ("params", "depends_on", "summary", "spec"):
        if isinstance(out.get(key), str):
            out[key] = json.loads(out[key])
    return out


async def list_workflows(
    conn: asyncpg.Connection, tenant_id: UUID, query: listing.WorkflowQuery
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the tenant's workflows in the query's order, and the cursor of the next page
    (None at the end). Raises `listing.BadCursor` for a cursor of another list or sort."""
    sql, args = listing.build(query, tenant_id, WORKFLOW_COLUMNS)
    rows = await conn.fetch(sql, *args)
    items = [_row(r) for r in rows[: query.limit]]
    more = len(rows) > query.limit
    return items, listing.encode_cursor(items[-1], query) if more else None


async def get_workflow(
    conn: asyncpg.Connection, tenant_id: UUID, workflow_id: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 AND workflow_id = $2",
        tenant_id,
        workflow_id,
    )
    if row is None:
        return None
    workflow = _row(row)
    jobs = await conn.fetch(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND workflow_id = $2 "
        "ORDER BY position",
        tenant_id,
        workflow_id,
    )
    workflow["jobs"] = [_row(j) for j in jobs]
    return workflow


async def get_job(
    conn: asyncpg.Connection, tenant_id: UUID, workflow_id: UUID, job_id: str
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND workflow_id = $2 AND job_id = $3",
        tenant_id,
        workflow_id,
        job_id,
    )
    if row is None:
        return None
    job = _row(row)
    # its state history and its progress samples (both keyed by log sequence)
    for key, columns, table in (
        ("history", "event_type, state, attempt, detail", "job_history"),
        ("samples", "attempt, tiles_done, tiles_total, delta", "job_progress"),
    ):
        rows = await conn.fetch(
            f"SELECT seq, {columns}, at FROM {table} "
            "WHERE workflow_id = $1 AND job_id = $2 ORDER BY seq",
            workflow_id,
            job_id,
        )
        job[key] = [dict(r) for r in rows]
    return job


async def workflow_state(
    conn: asyncpg.Connection, tenant_id: UUID, workflow_id: UUID
) -> str | None:
    """A workflow's state alone (None: not the tenant's, or no such workflow)."""
    state = await conn.fetchval(
        "SELECT state FROM workflows WHERE tenant_id = $1 AND workflow_id = $2",
        tenant_id,
        workflow_id,
    )
    return None if state is None else str(state)


async def job_outcome(
    conn: asyncpg.Connection, tenant_id: UUID, workflow_id: UUID, job_id: str
) -> dict[str, Any] | None:
    """A job's state, type, slide and attempt, without its history: what serving results needs."""
    row = await conn.fetchrow(
        "SELECT state, type, slide, attempt FROM jobs "
        "WHERE tenant_id = $1 AND workflow_id = $2 AND job_id = $3",
        tenant_id,
        workflow_id,
        job_id,
    )
    return None if row is None else dict(row)


async def running_jobs(conn: asyncpg.Connection) -> int:
    """How many jobs run now, all tenants together: a count against MAX_WORKERS, nobody's
    data (the partial index `jobs_running` holds only those rows)."""
    return int(await conn.fetchval("SELECT count(*) FROM jobs WHERE state = 'RUNNING'"))


async def slide_in_use(conn: asyncpg.Connection, tenant_id: UUID, slide: str) -> bool:
    """Whether a job of the tenant that has not ended (PENDING, RUNNING) names this slide."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE tenant_id = $1 AND slide = $2 "
            "AND state <> ALL($3::text[]))",
            tenant_id,
            slide,
            TERMINAL_JOB_STATES_SQL,
        )
    )


async def latest_change(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    """The log sequence of the tenant's last workflow change (0 when it has none)."""
    seq = await conn.fetchval(
        "SELECT COALESCE(max(last_seq), 0) FROM workflows WHERE tenant_id = $1", tenant_id
    )
    return int(seq)


async def workflow_changes(
    conn: asyncpg.Connection, tenant_id: UUID, *, since: int, limit: int, jobs_since: int
) -> list[dict[str, Any]]:
    """The tenant's workflows changed after log sequence `since`, in the order of their last
    change, at most `limit`, each with those of its jobs that changed after `jobs_since`: what a
    live stream sends and a resuming client missed (it holds the rest already). Pages of one
    catch-up move `since` on and keep `jobs_since` where the client stood.

    One snapshot, so that a workflow's row and its jobs agree.
    """
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await conn.fetch(
            f"SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE tenant_id = $1 AND last_seq > $2 "
            "ORDER BY last_seq LIMIT $3",
            tenant_id,
            since,
            limit,
        )
        if not rows:
            return []
        jobs = await conn.fetch(
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND workflow_id = ANY($2::uuid[])"
            " AND last_seq > $3 ORDER BY workflow_id, position",
            tenant_id,
            [r["workflow_id"] for r in rows],
            jobs_since,
        )
    by_workflow: dict[UUID, list[dict[str, Any]]] = {}
    for job in jobs:
        by_workflow.setdefault(job["workflow_id"], []).append(_row(job))
    out = []
    for row in rows:
        workflow = _row(row)
        workflow["jobs"] = by_workflow.get(workflow["workflow_id"], [])
        out.append(workflow)
    return out


async def admission_status(conn: asyncpg.Connection, tenant_id: UUID) -> dict[str, Any]:
    """Active and waiting tenant counts, and this tenant's state and live place in the line.

    The place is counted now among the waiting tenants in order of arrival, so it moves up as
    others are admitted even though `TenantQueued.position` was fixed when the tenant queued.
    A tenant without a row has never queued: its state is None. The waiting count is the
    line's length, as admission counts it (`len(line)`): an active tenant whose new workflows
    queue behind the waiters is in the line too, and has a place in it, so leaving it out (as
    before) showed "#3" beside "2 waiting".
    """
    row = await conn.fetchrow(
        """WITH me AS (SELECT state, waiting, COALESCE(queued_at, updated_at) AS arrived,
                              last_seq, updated_at
                       FROM tenants WHERE tenant_id = $1)
           SELECT (SELECT count(*) FROM tenants WHERE active) AS active_tenants,
                  (SELECT count(*) FROM tenants WHERE waiting) AS waiting_tenants,
                  me.state, me.updated_at,
                  CASE WHEN me.waiting THEN 1 + (
                      SELECT count(*) FROM tenants t
                      WHERE t.waiting
                        AND (COALESCE(t.queued_at, t.updated_at), t.last_seq)
                            < (me.arrived, me.last_seq))
                  END AS position
           FROM (SELECT 1) AS one LEFT JOIN me ON true""",
        tenant_id,
    )
    return dict(row)


async def tenant_progress(
    conn: asyncpg.Connection, tenant_id: UUID, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """The tiles the tenant's jobs newly did in [since, until]: `(at, tiles)` per progress."""
    rows = await conn.fetch(
        "SELECT at, delta FROM job_progress WHERE tenant_id = $1 AND at >= $2 AND at <= $3 "
        "AND delta > 0 ORDER BY at",
        tenant_id,
        since,
        until,
    )
    return [(r["at"], r["delta"]) for r in rows]


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    """Every read table in a stable order: used to compare a live projection with a replay."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, order in (
        ("workflows", "workflow_id"),
        ("jobs", "workflow_id, job_id"),
        ("job_history", "seq"),
        ("job_progress", "seq"),
        ("tenants", "tenant_id"),
        ("projector_checkpoint", "projection"),
    ):
        out[table] = [_row(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY {order}")]
    return out
