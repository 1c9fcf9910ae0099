"""The projector's cost per event, this code against another, on the same events in one run.

A synthetic log (workflows of a few synthetic jobs, each started, planned, progressed every
half second and succeeded) is applied event by event in transactions of 500, as the projector
does, into a PostgreSQL schema of its own per code: this tree's migrations and
`tessera.projector.adapters.store`, and the baseline revision's (its store module and
migrations are read from git; the rest of the code is this tree's). Passes alternate; the
median µs/event of each code is printed, overall and for JobProgressed alone (the event the
progress samples and the rate were added to).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/projection.py --baseline main
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg

from tessera.bus import Envelope
from tessera.events import (
    Event,
    JobPlanned,
    JobProgressed,
    JobStarted,
    JobSucceeded,
    WorkflowAdmitted,
    WorkflowFinished,
    WorkflowSubmitted,
)
from tessera.projector.adapters import store as this_store
from tessera.projector.domain import RateWindows
from tessera.readmodel.schema import migration_files
from tessera.workflows import WorkflowSpec, WorkflowState, validate_workflow

MIGRATIONS = "libs/tessera/readmodel/migrations"
STORE = "services/projector/adapters/store.py"
BATCH = 500


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def baseline(ref: str) -> tuple[ModuleType, list[tuple[str, str]]]:
    """The baseline's store module (loaded beside this tree's) and its migrations."""
    names = sorted(
        n
        for n in git("ls-tree", "--name-only", f"{ref}:{MIGRATIONS}").split()
        if n.endswith(".sql")
    )
    migrations = [(n, git("show", f"{ref}:{MIGRATIONS}/{n}")) for n in names]
    folder = Path(tempfile.mkdtemp(prefix="bench-projection-"))
    path = folder / "baseline_store.py"
    path.write_text(git("show", f"{ref}:{STORE}"))
    spec = importlib.util.spec_from_file_location("baseline_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_store"] = module
    spec.loader.exec_module(module)
    return module, migrations


def synthetic_log(workflows: int, jobs: int, progress: int) -> list[Envelope]:
    """A log of `workflows` workflows of `jobs` jobs, each with `progress` JobProgressed."""
    t0 = datetime(2030, 1, 1, tzinfo=UTC)
    events: list[Event] = []
    for w in range(workflows):
        tenant, workflow = uuid.uuid4(), uuid.uuid4()
        spec = validate_workflow(
            WorkflowSpec.model_validate(
                {
                    "jobs": [
                        {"id": f"j{j}", "type": "synthetic", "branch": f"b{j}",
                         "params": {"tiles": 10 * progress}}
                        for j in range(jobs)
                    ]
                }
            )
        )  # fmt: skip
        ids = {"tenant_id": tenant, "workflow_id": workflow}
        at = t0 + timedelta(minutes=w)
        events += [WorkflowSubmitted(**ids, spec=spec, occurred_at=at), WorkflowAdmitted(**ids)]
        for j in range(jobs):
            job = {**ids, "job_id": f"j{j}", "attempt": 1}
            events += [JobStarted(**job), JobPlanned(**job, tiles_total=10 * progress)]
            events += [
                JobProgressed(**job, tiles_done=10 * p, tiles_total=10 * progress,
                              occurred_at=at + timedelta(seconds=p / 2))
                for p in range(1, progress + 1)
            ]  # fmt: skip
            events.append(JobSucceeded(**job))
        events.append(WorkflowFinished(**ids, state=WorkflowState.SUCCEEDED))
    return [
        Envelope(seq=i + 1, subject=ev.type, event=ev)  # type: ignore[arg-type]
        for i, ev in enumerate(events)
    ]


async def one_pass(
    dsn: str, schema: str, migrations: list[tuple[str, str]], apply: Callable[..., Any],
    log: list[Envelope],
) -> dict[str, float]:  # fmt: skip
    """Apply the log into a fresh schema; µs per event, overall and by type."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    finally:
        await admin.close()
    conn = await asyncpg.connect(dsn, server_settings={"search_path": schema})
    try:
        for _, sql in migrations:
            await conn.execute(sql)
        spent: dict[str, float] = {}
        counts: dict[str, int] = {}
        for start in range(0, len(log), BATCH):
            async with conn.transaction():
                for env in log[start : start + BATCH]:
                    began = time.perf_counter()
                    await apply(conn, env)
                    took = time.perf_counter() - began
                    spent[env.event.type] = spent.get(env.event.type, 0.0) + took
                    counts[env.event.type] = counts.get(env.event.type, 0) + 1
        out = {kind: 1e6 * spent[kind] / counts[kind] for kind in spent}
        out["all"] = 1e6 * sum(spent.values()) / len(log)
        return out
    finally:
        await conn.close()
        admin = await asyncpg.connect(dsn)
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="main", help="git revision to compare with")
    parser.add_argument("--workflows", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--progress", type=int, default=60, help="JobProgressed per job")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    before_store, before_migrations = baseline(args.baseline)
    log = synthetic_log(args.workflows, args.jobs, args.progress)
    codes: dict[str, tuple[list[tuple[str, str]], Callable[[], Callable[..., Any]]]] = {
        f"baseline {args.baseline}": (before_migrations, lambda: before_store.apply),
        # as the projector runs it: the running attempts' windows kept between events
        "this tree": (migration_files(), lambda: partial(this_store.apply, windows=RateWindows())),
    }
    results: dict[str, list[dict[str, float]]] = {name: [] for name in codes}
    for _ in range(args.passes):
        for i, (name, (migrations, make)) in enumerate(codes.items()):
            results[name].append(
                await one_pass(dsn, f"bench_projection_{i}", migrations, make(), log)
            )
    print(f"{len(log)} events ({args.workflows} workflows x {args.jobs} jobs x "
          f"{args.progress} progress), median of {args.passes} passes, µs/event:")  # fmt: skip
    for name, passes in results.items():
        overall = statistics.median(p["all"] for p in passes)
        progressed = statistics.median(p["JobProgressed"] for p in passes)
        print(f"  {name:>20}: all {overall:7.0f}   JobProgressed {progressed:7.0f}")


if __name__ == "__main__":
    asyncio.run(main())
