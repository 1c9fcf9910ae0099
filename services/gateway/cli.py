"""`tessera tenants token ...`: per-tenant API tokens for TESSERA_GATEWAY_AUTH=token (mounted by
the main CLI). Works on the database of DATABASE_URL; the gateway sees a change within its
TESSERA_GATEWAY_TOKEN_CACHE_S."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
from uuid import UUID

import asyncpg
import typer

from tessera.gateway.tokens import PgTokenStore, TokenRecord
from tessera.readmodel.schema import migrate
from tessera.settings import Settings

app = typer.Typer(no_args_is_help=True, help="Tenants: their API tokens.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens (TESSERA_GATEWAY_AUTH=token).")
app.add_typer(token_app, name="token")

T = TypeVar("T")


def _with_store(action: Callable[[PgTokenStore], Awaitable[T]]) -> T:
    async def run() -> T:
        pool = await asyncpg.create_pool(Settings().database_url, min_size=1, max_size=1)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            return await action(PgTokenStore(pool))
        finally:
            await pool.close()

    return asyncio.run(run())


def _line(record: TokenRecord) -> str:
    revoked = f"revoked {record.revoked_at:%Y-%m-%d %H:%M:%S}" if record.revoked_at else "active"
    created = f"{record.created_at:%Y-%m-%d %H:%M:%S}" if record.created_at else "?"
    return f"{record.token_id}  {record.tenant_id}  {created}  {revoked}  {record.label}".rstrip()


@token_app.command("create")
def create(
    tenant: Annotated[UUID, typer.Argument(help="the tenant's UUID")],
    label: Annotated[str, typer.Option(help="a note on who or what uses it")] = "",
) -> None:
    """Make an API token of TENANT and print it: the only time it is shown (only a digest of
    it is stored)."""
    record, token = _with_store(lambda store: store.create(tenant, label))
    typer.echo(f"token {record.token_id} of tenant {record.tenant_id} (shown once):", err=True)
    typer.echo(token)


@token_app.command("list")
def list_tokens(
    tenant: Annotated[UUID | None, typer.Option(help="only this tenant's tokens")] = None,
) -> None:
    """The tokens (id, tenant, created, state, label); never their secrets."""
    for record in _with_store(lambda store: store.list(tenant)):
        typer.echo(_line(record))


@token_app.command("revoke")
def revoke(token_id: Annotated[str, typer.Argument(help="the token's id (see `list`)")]) -> None:
    """Revoke a token: refused from then on (after the gateway's token cache, 5 s by default)."""
    record = _with_store(lambda store: store.revoke(token_id))
    if record is None:
        typer.echo(f"no token {token_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(_line(record))
