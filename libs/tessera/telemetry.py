"""Logs and metrics: structlog JSON lines with tenant/workflow/job ids, Prometheus metrics.

Metric objects live here, one place, so that every service exports the same names; each process
exposes them on its ops port (see `tessera.ops`) and the gateway on its own `/metrics`.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram


def configure_logging(level: str = "INFO", *, json: bool = True, service: str = "tessera") -> None:
    """Set up structlog once per process; `bind_contextvars(tenant_id=...)` adds ids to lines."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper(), force=True)
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


def ids_of(event: Any) -> dict[str, str]:
    """The tenant/workflow/job ids an event carries, for log lines and bound context."""
    out = {}
    for key in ("tenant_id", "workflow_id", "job_id"):
        value = getattr(event, key, None)
        if value is not None:
            out[key] = str(value)
    return out


EVENTS_APPENDED = Counter("tessera_events_appended_total", "Events appended to the log", ["type"])
EVENTS_APPLIED = Counter(
    "tessera_events_applied_total", "Events applied by a consumer", ["consumer"]
)
QUEUE_DEPTH = Gauge("tessera_queue_depth", "Jobs waiting to run", ["scope"])
BRANCH_QUEUE_DEPTH = Gauge(
    "tessera_branch_queue_depth",
    "Jobs waiting per lane (tenant, branch name), the deepest TOP_LANES lanes only",
    ["tenant", "branch"],
)
TOP_LANES = 10  # bounds the label sets of tessera_branch_queue_depth
WORKER_ACTIVE_JOBS = Gauge("tessera_worker_active_jobs", "Jobs RUNNING system-wide")
INFERENCE_WORKERS = Gauge(
    "tessera_inference_workers", "Inference workers consuming TILES in this process"
)
ADMISSION_WAITERS = Gauge("tessera_admission_waiters", "Tenants waiting for an active slot")
ADMISSION_ACTIVE = Gauge("tessera_admission_active_tenants", "Tenants holding an active slot")
SNAPSHOT_SEQ = Gauge("tessera_snapshot_seq", "Log sequence of the role's newest snapshot", ["role"])
LEADER = Gauge("tessera_leader", "1 while this replica holds the role's lease", ["role"])
JOB_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
JOB_LATENCY = Histogram(
    "tessera_job_latency_seconds",
    "Job wall time from its first JobStarted to its terminal event (log time)",
    ["type"],
    buckets=JOB_BUCKETS,
)
JOB_QUEUED = Histogram(
    "tessera_job_queued_seconds",
    "Time from the workflow's submission to the job's first JobStarted (log time)",
    ["type"],
    buckets=JOB_BUCKETS,
)
TILES_PROCESSED = Counter("tessera_tiles_processed_total", "Tiles through inference", ["job_type"])
HTTP_REQUESTS = Counter(
    "tessera_http_requests_total", "Gateway requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "tessera_http_request_seconds", "Gateway request latency", ["method", "route"]
)
RATE_LIMITED = Counter(
    "tessera_rate_limit_rejections_total", "Requests refused by rate limits", ["bucket"]
)
PROJECTOR_LAG = Gauge(
    "tessera_projector_last_seq", "Last event sequence applied to the read models"
)
PROJECTOR_BEHIND = Gauge(
    "tessera_projector_behind_events", "Events in the log not yet applied to the read models"
)

# What a decider reports only while it leads: cleared when it stops leading, so that a standby
# (or a deposed leader) never adds a stale figure to the leader's in a `sum()`.
DECIDER_GAUGES: dict[str, tuple[Gauge, ...]] = {
    "admission": (ADMISSION_ACTIVE, ADMISSION_WAITERS),
    "branch-sequencer": (WORKER_ACTIVE_JOBS, QUEUE_DEPTH, BRANCH_QUEUE_DEPTH),
}


def clear_decider_gauges(role: str) -> None:
    """Drop what `role` reported as leader: labelled gauges lose their series, others read 0."""
    for gauge in DECIDER_GAUGES.get(role, ()):
        if gauge._labelnames:
            gauge.clear()
        else:
            gauge.set(0)


def set_lane_depths(depths: list[tuple[str, str, int]]) -> None:
    """Replace the per-lane depths with `depths` ((tenant, branch, jobs) of the top lanes)."""
    BRANCH_QUEUE_DEPTH.clear()
    for tenant, branch, jobs in depths:
        BRANCH_QUEUE_DEPTH.labels(tenant=tenant, branch=branch).set(jobs)
