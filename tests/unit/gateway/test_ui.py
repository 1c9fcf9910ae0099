"""The built UI served at / with client routes falling back to index.html, and the API untouched.

The app is built but not started (no lifespan): the routes tried here touch no server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.ui import reserved

INDEX = "<!doctype html><div id=root></div>"


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('tessera')")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    return tmp_path


async def client_for(ui_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(GatewaySettings(ui_dir=ui_dir, rate_limit_enabled=False))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
        yield client


@pytest.fixture
async def gw(dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_for(dist):
        yield client


@pytest.mark.parametrize(
    "path", ["/", "/workflows", "/workflows/0b7e4f7e-5c1a-4d6b-9a53-6f2f0d3c1a11/jobs/cells.v2"]
)
async def test_client_routes_get_the_app(gw: httpx.AsyncClient, path: str) -> None:
    response = await gw.get(path)
    assert response.status_code == 200
    assert response.text == INDEX
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"


async def test_built_files_are_served_and_hashed_ones_cached_for_good(
    gw: httpx.AsyncClient,
) -> None:
    bundle = await gw.get("/assets/index-abc123.js")
    icon = await gw.get("/favicon.svg")
    head = await gw.head("/workflows")
    assert bundle.status_code == 200 and "tessera" in bundle.text
    assert "immutable" in bundle.headers["cache-control"]
    assert icon.status_code == 200 and icon.headers["cache-control"] == "no-cache"
    assert head.status_code == 200


async def test_a_missing_bundle_is_a_404_not_the_page(gw: httpx.AsyncClient) -> None:
    response = await gw.get("/assets/gone.js")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no such UI file: /assets/gone.js"


async def test_the_api_keeps_its_own_answers(gw: httpx.AsyncClient) -> None:
    missing = await gw.get("/v1/nothing-here")
    wrong_method = await gw.delete("/v1/workflows")
    no_tenant = await gw.get("/v1/workflows")
    openapi = await gw.get("/openapi.json")
    docs = await gw.get("/docs")
    posted = await gw.post("/workflows")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].startswith("no such route")
    assert wrong_method.status_code == 405
    assert no_tenant.status_code == 401
    assert openapi.json()["info"]["title"] == "Tessera"
    assert "/" not in openapi.json()["paths"]  # the UI is not part of the API
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert posted.status_code in (404, 405) and "error" in posted.json()


async def test_without_a_build_nothing_is_mounted(tmp_path: Path) -> None:
    async for gw in client_for(tmp_path / "missing"):
        response = await gw.get("/workflows")
        assert response.status_code == 404
        assert "error" in response.json()


def test_reserved_paths() -> None:
    for path in ("/v1", "/v1/workflows", "/docs", "/docs/oauth2-redirect", "/openapi.json"):
        assert reserved(path), path
    for path in ("/", "/workflows", "/v1x", "/docsy", "/metricsboard"):
        assert not reserved(path), path


async def test_ui_requests_are_counted_under_one_route_label(gw: httpx.AsyncClient) -> None:
    from tessera import telemetry

    def count(route: str) -> float:
        value = telemetry.HTTP_REQUESTS.labels("GET", route, "200")._value.get()
        return float(value)

    before = count("ui")
    assert (await gw.get("/workflows/some-id")).status_code == 200
    assert (await gw.get("/favicon.svg")).status_code == 200
    assert count("ui") == before + 2  # not one label per client route
