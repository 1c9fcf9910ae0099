"""GET /v1/workflows: search by name or id, sorts, a time range and pages, over real read models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tessera.bus import Bus
from tessera.events import WorkflowFinished, WorkflowSubmitted
from tessera.workflows import WorkflowSpec, WorkflowState
from tests.integration.gateway.conftest import headers

pytestmark = pytest.mark.integration

T0 = datetime(2030, 1, 1, tzinfo=UTC)
NAMES = ["Slide 42 cells", "biopsy b", "slide 7 mask", "Archive", "slide 42 again"]


async def names(gw: httpx.AsyncClient, seen: dict[str, str], **params: object) -> list[str]:
    answer = await gw.get("/v1/workflows", params=params, headers=seen)
    assert answer.status_code == 200, answer.text
    return [w["name"] for w in answer.json()["items"]]


async def test_the_list_is_searched_sorted_ranged_and_paged(
    make_gateway, projector, bus: Bus
) -> None:
    tenant, other = uuid.uuid4(), uuid.uuid4()
    ids = []
    for hour, name in enumerate(NAMES):
        wid = uuid.uuid4()
        ids.append(wid)
        spec = WorkflowSpec.model_validate(
            {"name": name, "jobs": [{"id": "a", "type": "synthetic"}]}
        )
        at = T0 + timedelta(hours=hour)
        await bus.append(
            WorkflowSubmitted(tenant_id=tenant, workflow_id=wid, spec=spec, occurred_at=at)
        )
    await bus.append(
        WorkflowFinished(tenant_id=tenant, workflow_id=ids[1], state=WorkflowState.FAILED)
    )
    theirs = WorkflowSpec.model_validate(
        {"name": "slide 42 theirs", "jobs": [{"id": "a", "type": "synthetic"}]}
    )
    last = await bus.append(
        WorkflowSubmitted(tenant_id=other, workflow_id=uuid.uuid4(), spec=theirs)
    )
    seen = headers(tenant) | {"X-Tessera-Seq": str(last)}  # reads wait until all is projected
    async with make_gateway() as gw:
        assert await names(gw, seen) == NAMES[::-1]  # newest first
        assert await names(gw, seen, q="SLIDE 42") == ["slide 42 again", "Slide 42 cells"]
        assert await names(gw, seen, q=str(ids[2])) == ["slide 7 mask"]
        assert await names(gw, seen, q=str(ids[3])[:8]) == ["Archive"]
        assert await names(gw, seen, q="%") == []  # a wildcard is a character
        assert await names(gw, seen, sort="name") == sorted(NAMES, key=str.lower)
        assert (
            await names(gw, seen, sort="name", order="desc") == sorted(NAMES, key=str.lower)[::-1]
        )
        assert await names(gw, seen, sort="state") == [
            "biopsy b",
            *[n for n in NAMES[::-1] if n != "biopsy b"],
        ]
        ranged = {
            "submitted_after": (T0 + timedelta(hours=1)).isoformat(),
            "submitted_before": (T0 + timedelta(hours=3)).isoformat(),
        }
        assert await names(gw, seen, **ranged) == ["slide 7 mask", "biopsy b"]

        pages, cursor = [], None
        while True:  # two at a time, oldest first: every one once
            params = {
                "sort": "created",
                "order": "asc",
                "limit": 2,
                **({"cursor": cursor} if cursor else {}),
            }
            page = (await gw.get("/v1/workflows", params=params, headers=headers(tenant))).json()
            pages.append([w["name"] for w in page["items"]])
            if (cursor := page["next_cursor"]) is None:
                break
        assert pages == [NAMES[0:2], NAMES[2:4], NAMES[4:]]

        bad = [
            {"submitted_after": "2030-01-01T00:00:00"},  # no time zone
            {"sort": "size"},
            {
                "submitted_after": ranged["submitted_before"],
                "submitted_before": ranged["submitted_after"],
            },
            {"cursor": "nope"},
        ]
        for params in bad:
            answer = await gw.get("/v1/workflows", params=params, headers=headers(tenant))
            assert answer.status_code in (400, 422), (params, answer.text)
