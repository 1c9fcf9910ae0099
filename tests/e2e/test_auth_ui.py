"""The UI against a gateway that checks API tokens (TESSERA_GATEWAY_AUTH=token), in a real
headless Chromium: it asks for a token, refuses a wrong one, shows the token's tenant's workflows
and goes live on the stream; a revoked token brings the sign-in back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tessera.gateway.tokens import PgTokenStore
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_ui import DESKTOP, new_page
from tests.integration.gateway.conftest import serve_in_thread

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def token_gateway(
    settings: GatewaySettings, ui_dist: Path, projector: object, scheduler: object
) -> Iterator[str]:
    app = create_app(settings.model_copy(update={"ui_dir": ui_dist, "auth": "token"}))
    with serve_in_thread(app) as url:
        yield url


async def test_the_ui_asks_for_a_token_and_acts_as_its_tenant(
    token_gateway: str, pool: Any, browser: Any, screenshots: Path
) -> None:
    tenant = uuid.uuid4()
    store = PgTokenStore(pool)
    record, token = await store.create(tenant, "e2e")
    async with httpx.AsyncClient(base_url=token_gateway) as http:
        submitted = await http.post(
            "/v1/workflows",
            json={"name": "e2e: a token's workflow", "jobs": [{"id": "a", "type": "synthetic"}]},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert submitted.status_code == 202, submitted.text

    page = await new_page(browser, DESKTOP)
    await page.goto(f"{token_gateway}/")
    field = page.get_by_label("Token")
    await field.wait_for()
    await page.screenshot(path=str(screenshots / "01-sign-in.png"), animations="disabled")
    await assert_accessible(page, "sign-in")
    await field.fill("tsr_0123456789ab_not-a-real-one")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_text("unknown API token").wait_for()

    await field.fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(re.compile(r"/workflows$"))
    await page.get_by_text("e2e: a token's workflow").first.wait_for()
    await page.locator("[data-testid=stream-status][data-status=live]").wait_for()
    assert await page.evaluate("localStorage.getItem('tessera.tenant')") == str(tenant)
    await page.get_by_test_id("tenant-button").click()
    await page.get_by_test_id("tenant-explained").get_by_text("The tenant of your token").wait_for()
    await page.screenshot(path=str(screenshots / "02-signed-in.png"), animations="disabled")

    # revoked (the gateway's cache holds it up to 5 s): the next refused request asks again
    await store.revoke(record.token_id)
    await page.keyboard.press("Escape")
    await page.wait_for_timeout(5200)
    await page.reload()
    await page.get_by_label("Token").wait_for()
    assert await page.evaluate("localStorage.getItem('tessera.token')") is None
    assert not [e for e in page.errors if "401" not in e], page.errors
