"""Schema migrations of the read models, kept as numbered SQL files beside this module."""

from __future__ import annotations

from importlib import resources

import asyncpg

MIGRATIONS = resources.files("tessera.readmodel") / "migrations"
READ_TABLES = (
    "job_progress",
    "job_history",
    "jobs",
    "workflows",
    "tenants",
    "projector_checkpoint",
)
_LOCK_KEY = 0x7E55E4A  # advisory lock: one migrator at a time across services


def migration_files() -> list[tuple[str, str]]:
    files = sorted(
        (p for p in MIGRATIONS.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name
    )
    return [(p.name, p.read_text()) for p in files]


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns their names. Safe to run concurrently."""
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        for name, sql in migration_files():
            if name in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    return applied


async def drop_read_models(conn: asyncpg.Connection) -> None:
    """Drop every read table (and the migration record) so that a replay starts from nothing."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        for table in READ_TABLES:
            await conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        await conn.execute("DROP TABLE IF EXISTS schema_migrations")
