"""Every /v1 route, called by another tenant with the owner's ids, answers 404 and leaks nothing.

The routes come from the app's own OpenAPI document, so a new route is covered the day it is
added; a route whose path names an id this test does not know fails until the test learns it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.gateway.conftest import (
    OPERATIONS,
    PARAM,
    headers,
    request_body,
    seed_owner,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def owned(make_gateway, projector, scheduler, slide_root: Path):
    """A gateway, an owner with one projected workflow and one uploaded slide, and an intruder
    (the scheduler answers cancel requests)."""
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    async with make_gateway(api_burst=1000, data_root=slide_root) as gw:
        secret, ids = await seed_owner(gw, slide_root, owner, headers(owner))
        yield gw, owner, intruder, secret, ids


def test_the_route_table_has_the_slide_and_overlay_routes() -> None:
    paths = {(m, p) for m, p, _ in OPERATIONS}
    slide = "/v1/slides/{slide}"
    overlay = "/v1/workflows/{workflow_id}/jobs/{job_id}/results/overlay"
    assert {
        ("GET", "/v1/slides"),
        ("POST", "/v1/slides"),
        ("GET", f"{slide}/info"),
        ("GET", f"{slide}/thumbnail.jpg"),
        ("GET", f"{slide}/dzi"),
        ("GET", f"{slide}/dzi.json"),
        ("GET", f"{slide}/dzi_files/{{level}}/{{col}}_{{row}}.jpeg"),
        ("GET", f"{overlay}.dzi"),
        ("GET", f"{overlay}.json"),
        ("GET", f"{overlay}_files/{{level}}/{{col}}_{{row}}.png"),
    } <= paths


def test_the_route_table_has_the_routes_this_issue_added() -> None:
    paths = {(m, p) for m, p, _ in OPERATIONS}
    assert ("GET", "/v1/workflows/{workflow_id}/jobs/{job_id}") in paths
    assert ("GET", "/v1/admission") in paths
    assert sum(1 for m, p, _ in OPERATIONS if PARAM.search(p)) >= 2


@pytest.mark.parametrize(
    ("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
async def test_another_tenant_gets_404_and_never_the_owners_data(
    owned: tuple[httpx.AsyncClient, uuid.UUID, uuid.UUID, str, dict[str, str]],
    method: str,
    path: str,
    op: dict[str, Any],
) -> None:
    gw, owner, intruder, secret, ids = owned
    names = PARAM.findall(path)
    unknown = [n for n in names if n not in ids]
    assert not unknown, f"teach this test an id of the owner for {unknown} ({method} {path})"
    url = path.format(**ids)
    body = request_body(op)

    as_intruder = await gw.request(method, url, json=body, headers=headers(intruder))
    assert secret not in as_intruder.text
    if names:
        assert as_intruder.status_code == 404, as_intruder.text
        assert as_intruder.json()["error"]["status"] == 404
        as_owner = await gw.request(method, url, json=body, headers=headers(owner))
        assert as_owner.status_code != 404, f"the owner's ids do not exist: {as_owner.text}"
        assert as_owner.status_code < 500
    else:  # nothing to name: it must not show the owner's workflows either
        assert ids["workflow_id"] not in as_intruder.text
        assert as_intruder.status_code < 500
