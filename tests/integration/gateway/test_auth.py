"""Authenticated tenants (TESSERA_GATEWAY_AUTH=token and jwt) on the real gateway.

Every /v1 operation of the app's OpenAPI document (so a new route is covered the day it is added)
refuses a missing, expired or revoked, forged or otherwise invalid credential with 401, an
X-User-ID of another tenant than the credential's with 403, and another tenant's credential on
the owner's ids with 404, as in header mode. JWTs are signed with a key made here and their JWKS
served from a local HTTP server: nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tessera.embedded import free_port
from tessera.gateway.app import create_app
from tessera.gateway.tokens import PgTokenStore, new_token
from tests.integration.gateway.conftest import (
    OPERATIONS,
    PARAM,
    request_body,
    seed_owner,
    serve_in_thread,
)

pytestmark = pytest.mark.integration

PUBLIC = {("GET", "/v1/auth")}  # the descriptor: a credential is optional there
ISSUER, AUDIENCE = "https://login.test/realms/lab", "tessera"


def bearer(token: str, tenant: uuid.UUID | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if tenant is not None:
        out["X-User-ID"] = str(tenant)
    return out


@dataclass
class World:
    """A gateway in one auth mode; an owner with a slide and a workflow; an intruder."""

    gw: httpx.AsyncClient
    owner: uuid.UUID
    intruder: uuid.UUID
    owner_auth: dict[str, str]
    intruder_auth: dict[str, str]
    bad: dict[str, dict[str, str]]  # credentials that must all be 401, by what is wrong
    secret: str
    ids: dict[str, str]


async def check_every_route(world: World) -> None:
    """Calls every /v1 operation with every bad credential and the good ones; collects what is
    wrong so that one run names every offending route."""
    gw, wrong = world.gw, []
    for method, path, op in OPERATIONS:
        names = PARAM.findall(path)
        unknown = [n for n in names if n not in world.ids]
        assert not unknown, f"teach this test an id of the owner for {unknown} ({method} {path})"
        url, body = path.format(**world.ids), request_body(op)

        call = functools.partial(gw.request, method, url, json=body)

        for what, auth in world.bad.items():
            answer = await call(headers=auth)
            if (method, path) in PUBLIC and what in ("missing", "X-User-ID only"):
                if answer.status_code != 200 or answer.json()["tenant"] is not None:
                    wrong.append(f"{method} {path} {what}: {answer.status_code} {answer.text}")
                continue
            if answer.status_code != 401 or world.secret in answer.text:
                wrong.append(f"{method} {path} {what}: {answer.status_code} {answer.text[:200]}")
            elif answer.json()["error"]["status"] != 401:
                wrong.append(f"{method} {path} {what}: not an error body: {answer.text[:200]}")
        if (method, path) not in PUBLIC:
            mismatch = await call(headers={**world.owner_auth, "X-User-ID": str(world.intruder)})
            if mismatch.status_code != 403 or world.secret in mismatch.text:
                wrong.append(f"{method} {path} mismatching X-User-ID: {mismatch.status_code}")
        as_intruder = await call(headers=world.intruder_auth)
        # (a 404 may name the id the caller sent; a list must not show the owner's)
        leaked = world.secret in as_intruder.text or (
            not names and world.ids["workflow_id"] in as_intruder.text
        )
        if leaked:
            wrong.append(f"{method} {path} as another tenant: leaked the owner's data")
        if names and as_intruder.status_code != 404:
            wrong.append(f"{method} {path} as another tenant: {as_intruder.status_code}")
        if (not names and as_intruder.status_code in (401, 403)) or as_intruder.status_code >= 500:
            wrong.append(f"{method} {path} as another tenant: {as_intruder.status_code}")
        if method == "GET":  # the owner's credential works (other methods would change things)
            as_owner = await call(headers=world.owner_auth)
            if as_owner.status_code in (401, 403, 404) or as_owner.status_code >= 500:
                wrong.append(f"{method} {path} as the owner: {as_owner.status_code}")
    assert not wrong, "\n".join(wrong)


# --- token mode ---------------------------------------------------------------------------------


@pytest.fixture
async def token_world(make_gateway, projector, scheduler, slide_root: Path, pool):
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    overrides = {"auth": "token", "api_burst": 10_000, "auth_fail_burst": 100_000}
    async with make_gateway(data_root=slide_root, **overrides) as gw:
        store = PgTokenStore(pool)
        _, owner_token = await store.create(owner, "owner")
        _, intruder_token = await store.create(intruder, "intruder")
        revoked, revoked_token = await store.create(owner, "revoked")
        await store.revoke(revoked.token_id)
        secret, ids = await seed_owner(gw, slide_root, owner, bearer(owner_token))
        bad = {
            "missing": {},
            "X-User-ID only": {"X-User-ID": str(owner)},
            "revoked": bearer(revoked_token, owner),
            "forged": bearer(new_token()[1], owner),
            "forged secret of a real id": bearer(owner_token[:-4] + "AAAA", owner),
            "not a token": bearer("hello", owner),
            "basic scheme": {"Authorization": "Basic b3duZXI6cHc=", "X-User-ID": str(owner)},
        }
        yield World(
            gw, owner, intruder, bearer(owner_token), bearer(intruder_token), bad, secret, ids
        )


async def test_token_mode_every_route_refuses_what_is_not_the_tenants_token(
    token_world: World,
) -> None:
    await check_every_route(token_world)


async def test_the_descriptor_says_token_and_names_a_tokens_tenant(token_world: World) -> None:
    gw = token_world.gw
    described = (await gw.get("/v1/auth")).json()
    assert described == {"mode": "token", "tenant_header": "X-User-ID", "tenant": None, "jwt": None}
    mine = (await gw.get("/v1/auth", headers=token_world.owner_auth)).json()
    assert mine["tenant"] == str(token_world.owner)
    # a tenant's own X-User-ID beside its token is fine, and so is none
    listed = await gw.get("/v1/workflows", headers={**token_world.owner_auth})
    assert token_world.ids["workflow_id"] in listed.text
    refused = await gw.get("/v1/workflows")
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_revoked_token_is_refused_within_the_cache_time(make_gateway, pool) -> None:
    tenant = uuid.uuid4()
    async with make_gateway(auth="token", token_cache_s=0.3) as gw:
        store = PgTokenStore(pool)
        record, token = await store.create(tenant)
        assert (await gw.get("/v1/workflows", headers=bearer(token))).status_code == 200
        await store.revoke(record.token_id)
        await asyncio.sleep(0.35)
        refused = await gw.get("/v1/workflows", headers=bearer(token))
        assert refused.status_code == 401
        assert "revoked" in refused.json()["error"]["message"]


async def test_failed_authentication_is_limited_per_client_address(make_gateway, pool) -> None:
    tenant = uuid.uuid4()
    limits = {"auth": "token", "auth_fail_burst": 3, "auth_fail_rate_per_s": 0.1}
    async with make_gateway(**limits) as gw:
        _, token = await PgTokenStore(pool).create(tenant)
        for _ in range(3):
            assert (
                await gw.get("/v1/workflows", headers=bearer(new_token()[1]))
            ).status_code == 401
        locked = await gw.get("/v1/workflows", headers=bearer(new_token()[1]))
        assert locked.status_code == 429, locked.text
        assert locked.headers["Retry-After"] == "10"
        assert locked.json()["error"]["bucket"] == "auth_failures"
        # while locked out, even the right token is not looked at from this address
        assert (await gw.get("/v1/workflows", headers=bearer(token))).status_code == 429
        # missing credentials are not guesses: they are 401, not counted
        assert (await gw.get("/v1/admission")).status_code == 401
        # the shared bucket is per address: another one is not affected
        transport = httpx.ASGITransport(app=gw.app, client=("10.1.2.3", 4000))  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as other:
            assert (await other.get("/v1/workflows", headers=bearer(token))).status_code == 200


async def test_an_unauthenticated_x_user_id_spends_nobodys_rate_limit(make_gateway, pool) -> None:
    victim = uuid.uuid4()
    async with make_gateway(auth="token", api_burst=2, api_rate_per_s=0.01) as gw:
        _, token = await PgTokenStore(pool).create(victim)
        for _ in range(5):
            assert (
                await gw.get("/v1/workflows", headers={"X-User-ID": str(victim)})
            ).status_code == 401
        assert (await gw.get("/v1/workflows", headers=bearer(token))).status_code == 200


async def test_token_migration_survives_a_replay_of_the_read_models(pool) -> None:
    from tessera.readmodel.schema import drop_read_models, migrate

    async with pool.acquire() as conn:
        await migrate(conn)
    store = PgTokenStore(pool)
    record, _ = await store.create(uuid.uuid4(), "kept")
    async with pool.acquire() as conn:
        await drop_read_models(conn)
        assert "0004_api_tokens.sql" in await migrate(conn)  # re-run, and it changes nothing
    assert await store.list(record.tenant_id) == [record]


def test_the_cli_prints_a_token_once_lists_and_revokes_it(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tessera.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    tenant, cli = uuid.uuid4(), CliRunner()
    created = cli.invoke(app, ["tenants", "token", "create", str(tenant), "--label", "ci"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    token_id = token.split("_")[1]
    assert token.startswith(f"tsr_{token_id}_")
    listed = cli.invoke(app, ["tenants", "token", "list", "--tenant", str(tenant)])
    assert f"{token_id}  {tenant}" in listed.stdout and "active  ci" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout  # never the secret again
    revoked = cli.invoke(app, ["tenants", "token", "revoke", token_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert cli.invoke(app, ["tenants", "token", "revoke", "nosuchtoken0"]).exit_code == 1
    assert cli.invoke(app, ["tenants", "token", "create", "not-a-uuid"]).exit_code == 2


# --- the live stream and the logs ---------------------------------------------------------------


def ws_url(base: str, query: str = "") -> str:
    return base.replace("http://", "ws://") + "/v1/stream" + query


async def closed_with(url: str, **kwargs: Any) -> tuple[int, str]:
    async with connect(url, **kwargs) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


async def ready(url: str, **kwargs: Any) -> dict[str, Any]:
    async with connect(url, **kwargs) as ws:
        while (msg := json.loads(await ws.recv()))["type"] != "ready":
            pass
        return msg


async def test_streams_take_the_token_as_a_subprotocol_or_a_query_parameter_never_logged(
    settings, projector, pool, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    app = create_app(settings.model_copy(update={"auth": "token"}))
    caplog.set_level(logging.DEBUG)
    # uvicorn's own access and WebSocket lines, which print query strings, into caplog
    with serve_in_thread(app, log_config=None, log_level="debug", access_log=True) as base:
        _, token = await PgTokenStore(pool).create(tenant)
        protocols = [f"tenant.{tenant}", f"bearer.{token}"]
        assert (await ready(ws_url(base), subprotocols=protocols))["type"] == "ready"
        async with connect(ws_url(base), subprotocols=protocols) as ws:
            assert ws.subprotocol == f"tenant.{tenant}"  # the token is never echoed
        assert (await ready(ws_url(base, f"?cursor=now&access_token={token}")))["seq"] >= 0
        code, reason = await closed_with(ws_url(base, f"?tenant={other}&access_token={token}"))
        assert code == 4403 and "another tenant" in reason
        code, _ = await closed_with(ws_url(base), subprotocols=[f"bearer.{new_token()[1]}"])
        assert code == 4401
        code, reason = await closed_with(ws_url(base, f"?tenant={tenant}"))
        assert code == 4401 and "credential" in reason
        async with httpx.AsyncClient(base_url=base) as http:
            assert (await http.get("/v1/workflows", headers=bearer(token))).status_code == 200
            assert (await http.get(f"/v1/workflows?access_token={token}")).status_code == 401
            assert (await http.get("/v1/workflows", headers=bearer(token[:-1]))).status_code == 401
    out, err = capfd.readouterr()
    client_side = ("httpx", "httpcore", "websockets.client")  # this test's own clients
    server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith(client_side)]
    logged = "\n".join(server_lines) + out + err
    assert "WebSocket /v1/stream?cursor=now" in logged  # the lines are there...
    assert "GET /v1/workflows" in logged
    assert "authentication_failed" in logged
    assert f"sec-websocket-protocol: tenant.{tenant}, bearer.[hidden]" in logged.lower()  # DEBUG
    secret = token.rsplit("_", 1)[1]
    assert secret not in logged and secret[:-1] not in logged  # ...without the token


# --- jwt mode -----------------------------------------------------------------------------------


@dataclass
class Issuer:
    """An OIDC issuer of the test's own: an RSA key, its JWKS on a local port."""

    key: rsa.RSAPrivateKey
    jwks_url: str
    kid: str = "test-key"

    def token(
        self, tenant: uuid.UUID | None, *, key: rsa.RSAPrivateKey | None = None, **claims: Any
    ) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "someone",
            "iat": now,
            "exp": now + 300,
        }
        if tenant is not None:
            body["tenant_id"] = str(tenant)
        body.update(claims)
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@contextlib.contextmanager
def serve_jwks(jwks: dict[str, Any]) -> Iterator[str]:
    payload = json.dumps(jwks).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    with serve_jwks({"keys": [{**jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]}) as url:
        yield Issuer(key, url)


def jwt_settings(issuer: Issuer) -> dict[str, Any]:
    return {
        "auth": "jwt",
        "jwt_jwks_url": issuer.jwks_url,
        "jwt_issuer": ISSUER,
        "jwt_audience": AUDIENCE,
        "jwt_leeway_s": 0.0,
    }


@pytest.fixture
async def jwt_world(
    make_gateway, projector, scheduler, slide_root: Path, issuer: Issuer
) -> AsyncIterator[World]:
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    overrides = {"api_burst": 10_000, "auth_fail_burst": 100_000, **jwt_settings(issuer)}
    async with make_gateway(data_root=slide_root, **overrides) as gw:
        owner_auth = bearer(issuer.token(owner))
        secret, ids = await seed_owner(gw, slide_root, owner, owner_auth)
        now = int(time.time())
        unsigned = jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "tenant_id": str(owner)},
            None,
            algorithm="none",
        )
        bad = {
            "missing": {},
            "X-User-ID only": {"X-User-ID": str(owner)},
            "expired": bearer(issuer.token(owner, exp=now - 60, iat=now - 400), owner),
            "forged (another key)": bearer(issuer.token(owner, key=stranger), owner),
            "wrong audience": bearer(issuer.token(owner, aud="someone-else"), owner),
            "wrong issuer": bearer(issuer.token(owner, iss="https://evil.test"), owner),
            "no tenant claim": bearer(issuer.token(None), owner),
            "tenant claim not a UUID": bearer(issuer.token(None, tenant_id="lab-1"), owner),
            "unsigned (alg none)": bearer(unsigned, owner),
            "not a JWT": bearer("hello.there", owner),
        }
        yield World(
            gw, owner, intruder, owner_auth, bearer(issuer.token(intruder)), bad, secret, ids
        )


async def test_jwt_mode_every_route_refuses_what_is_not_the_tenants_token(
    jwt_world: World,
) -> None:
    await check_every_route(jwt_world)


async def test_the_descriptor_gives_the_issuer_and_audience_in_jwt_mode(jwt_world: World) -> None:
    described = (await jwt_world.gw.get("/v1/auth")).json()
    assert described["mode"] == "jwt"
    assert described["jwt"] == {"issuer": ISSUER, "audience": AUDIENCE, "tenant_claim": "tenant_id"}
    expired = jwt_world.bad["expired"]
    refused = await jwt_world.gw.get("/v1/auth", headers=expired)
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]


async def test_an_unreachable_jwks_is_a_503_not_a_401(make_gateway, issuer: Issuer) -> None:
    unreachable = {**jwt_settings(issuer), "jwt_jwks_url": f"http://127.0.0.1:{free_port()}/"}
    async with make_gateway(**unreachable) as gw:
        answer = await gw.get("/v1/workflows", headers=bearer(issuer.token(uuid.uuid4())))
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"]
