"""Migrations on a database that already holds read models: what 0003 changes and keeps."""

from __future__ import annotations

import json
import uuid

import asyncpg
import pytest

from tessera.readmodel.schema import drop_read_models, migrate, migration_files

pytestmark = pytest.mark.integration


async def test_summaries_projected_with_a_server_path_are_made_relative(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        older = [(name, sql) for name, sql in migration_files() if name < "0003"]
        for _, sql in older:
            await conn.execute(sql)
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY)")
        await conn.executemany(
            "INSERT INTO schema_migrations (name) VALUES ($1)", [(n,) for n, _ in older]
        )
        tenant, workflow = uuid.uuid4(), uuid.uuid4()
        relative = f"{tenant}/{workflow}/mask/attempt-1"
        await conn.execute(
            """INSERT INTO workflows (workflow_id, tenant_id, name, state, jobs_total, spec,
                   submitted_at, updated_at, last_seq)
               VALUES ($1, $2, 'w', 'SUCCEEDED', 2, '{}', now(), now(), 1)""",
            workflow,
            tenant,
        )
        for job, source in (("cells", f"/srv/results/{relative}"), ("other", None)):
            await conn.execute(
                """INSERT INTO jobs (workflow_id, job_id, tenant_id, position, type, branch,
                       params, depends_on, retries, state, created_at, updated_at, last_seq,
                       summary)
                   VALUES ($1, $2, $3, 0, 'cell_segmentation', 'main', '{}', '[]', 0,
                       'SUCCEEDED', now(), now(), 1, $4)""",
                workflow,
                job,
                tenant,
                json.dumps({"mask_source": source, "cell_count": 3}),
            )

        await migrate(conn)

        rows = await conn.fetch("SELECT job_id, summary FROM jobs ORDER BY job_id")
        assert [(r["job_id"], json.loads(r["summary"])) for r in rows] == [
            ("cells", {"mask_source": relative, "cell_count": 3}),
            ("other", {"mask_source": None, "cell_count": 3}),
        ]
        # the idempotency keys are the gateway's, not a read model: a replay keeps them
        await conn.execute(
            "INSERT INTO idempotency_keys (tenant_id, key, request_hash, resource, expires_at) "
            "VALUES ($1, 'k', 'h', 'w', now())",
            tenant,
        )
        await drop_read_models(conn)
        await migrate(conn)
        assert await conn.fetchval("SELECT count(*) FROM idempotency_keys") == 1
    finally:
        await conn.close()
