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
    "tessera_branch_queue_depth", "Jobs waiting per lane (top lanes)", ["lane"]
)
WORKER_ACTIVE_JOBS = Gauge("tessera_worker_active_jobs", "Jobs RUNNING system-wide")
ADMISSION_WAITERS = Gauge("tessera_admission_waiters", "Tenants waiting for an active slot")
ADMISSION_ACTIVE = Gauge("tessera_admission_active_tenants", "Tenants holding an active slot")
SNAPSHOT_SEQ = Gauge("tessera_snapshot_seq", "Log sequence of the role's newest snapshot", ["role"])
LEADER = Gauge("tessera_leader", "1 while this replica holds the role's lease", ["role"])
JOB_LATENCY = Histogram(
    "tessera_job_latency_seconds",
    "Job wall time from JobStarted to a terminal event",
    ["type"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
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
