"""Gateway fixtures: the app with settings of the test's choosing, in-process or on a real port.

`make_gateway(**overrides)` gives an httpx client on the in-process app (lifespan included);
`live_gateway(**overrides)` serves the app with uvicorn on a free loopback port, in a thread of
its own (its own event loop), for WebSockets and for clients that block (schemathesis).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tessera.embedded import free_port
from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tests.conftest import DATA_ROOT
from tests.polling import eventually

SYNTHETIC = {"name": "load", "jobs": [{"id": "a", "type": "synthetic", "params": {"tiles": 4}}]}
CMU, SMALL = "CMU-1-Small-Region.svs", "openslide-python_small.svs"

# every /v1 operation of the app's own OpenAPI document: a route is covered the day it is added
OPENAPI = create_app().openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, ops in OPENAPI["paths"].items()
    if path.startswith("/v1")
    for method, op in ops.items()
]
PARAM = re.compile(r"{(\w+)}")


def headers(tenant: str | uuid.UUID) -> dict[str, str]:
    return {"X-User-ID": str(tenant)}


def request_body(op: dict[str, Any]) -> Any:
    """The first example of an operation's JSON body (None when it takes none)."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = content.get("schema", {})
    if "$ref" in schema:
        schema = OPENAPI["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return (schema.get("examples") or [{}])[0]


async def seed_owner(
    gw: httpx.AsyncClient, slide_root: Path, owner: uuid.UUID, auth: dict[str, str]
) -> tuple[str, dict[str, str]]:
    """An uploaded slide and a projected workflow of `owner` (whose requests carry `auth`):
    a secret name only the owner may see, and the ids every /v1 path may name."""
    secret = f"secret-{uuid.uuid4().hex}"
    spec = {"name": secret, "jobs": [{"id": "a", "type": "synthetic"}]}
    uploaded = await gw.post(
        "/v1/slides",
        params={"name": "owned.svs"},  # the secret would be echoed back: it is in the URL
        content=(slide_root / SMALL).read_bytes(),
        headers=auth,
    )
    assert uploaded.status_code == 201, uploaded.text
    accepted = await gw.post("/v1/workflows", json=spec, headers=auth)
    assert accepted.status_code == 202, accepted.text
    wid = accepted.json()["workflow_id"]
    await eventually(
        lambda: gw.get(f"/v1/workflows/{wid}", headers=auth),
        lambda answer: answer.status_code == 200,
        what=f"workflow {wid} projected",
    )
    ids = {
        "workflow_id": wid,
        "job_id": "a",
        "slide": uploaded.json()["slide"],
        "owner": str(owner),  # the upload's own route: uploads/{owner}/{name}
        "name": "owned.svs",
        "image": "thumbnail",  # the associated image every test slide holds
        # Deep Zoom tile 0/0_0 exists for every image (1x1 pixel)
        "level": "0",
        "col": "0",
        "row": "0",
    }
    return secret, ids


@pytest.fixture
def slide_root(tmp_path: Path) -> Path:
    """A data root of the test's own (uploads write into it) with copies of the real slides."""
    root = tmp_path / "slides"
    root.mkdir()
    for name in (CMU, SMALL):
        shutil.copy(DATA_ROOT / name, root / name)
    return root


@pytest.fixture
def make_gateway(
    settings: GatewaySettings,
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    @contextlib.asynccontextmanager
    async def make(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings.model_copy(update=overrides))
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://gw") as client,
        ):
            client.app = app  # type: ignore[attr-defined]
            yield client

    return make


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, **config_overrides: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free port until the block ends; yields the base URL."""
    port = free_port()
    config = uvicorn.Config(
        app,
        **{
            "host": "127.0.0.1",
            "port": port,
            "log_level": "warning",
            "loop": "asyncio",
            "lifespan": "on",
            **config_overrides,
        },
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@pytest.fixture
async def live_gateway(
    settings: GatewaySettings,
) -> AsyncIterator[Callable[..., contextlib.AbstractContextManager[str]]]:
    @contextlib.contextmanager
    def live(**overrides: Any) -> Iterator[str]:
        with serve_in_thread(create_app(settings.model_copy(update=overrides))) as url:
            yield url

    yield live
    await asyncio.sleep(0)
