"""Honest numbers in a real headless Chromium against the real stack: percent and tiles agree
while a workflow runs, cancelling a pending job moves no bar, a cancelled workflow is not 100 %,
and a running job shows its ETA, its throughput chart and its log.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_ui import DESKTOP, PHONE, new_page, submit_workflow
from tests.e2e.test_workbench import new_tenant, synthetic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKFLOW_BAR = "[aria-label='Workflow progress']"
READ_BAR = """(selector) => {
    const bar = document.querySelector(selector);
    const tiles = bar?.closest('.progress')?.querySelector('.progress__tiles')?.textContent ?? '';
    return [Number(bar?.getAttribute('aria-valuenow')), tiles];
}"""


async def read_bar(page: Any, selector: str = WORKFLOW_BAR) -> tuple[int, int, int]:
    """The bar's percent and the tiles beside it, read at one moment: (percent, done, total)."""
    percent, tiles = await page.evaluate(READ_BAR, selector)
    done, total = (
        int(n.replace(",", "")) for n in tiles.replace("~", "").split(" tiles")[0].split(" / ")
    )
    return percent, done, total


async def test_percent_agrees_with_tiles_and_cancelling_moves_no_bar(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page, tenant = await new_tenant(browser, stack)
    workflow = await submit_workflow(
        page,
        stack,
        tenant,
        "honest numbers",
        synthetic("scan", 600, seconds_per_tile=0.05),
        synthetic("after", 100, branch="b", depends_on=["scan"]),
        synthetic("extra", 60, branch="c", depends_on=["scan"]),
    )
    await page.goto(f"{stack}/workflows/{workflow}")
    await page.locator(".job-row[data-job=scan][data-state=RUNNING]").wait_for(timeout=60_000)

    # while it runs, the percent is always the tiles done of the tiles expected (760: every
    # job's expected tiles from the start, so the total never jumps when one is planned)
    seen: list[tuple[int, int, int]] = []
    while len(seen) < 20 or seen[-1][1] == 0:
        percent, done, total = await read_bar(page)
        assert total == 760, f"the total moved: {done} / {total}"
        assert percent == 100 * done // total, f"{percent} % beside {done} / {total} tiles"
        seen.append((percent, done, total))
        await asyncio.sleep(0.15)
    eta = page.locator(f"{WORKFLOW_BAR} ~ .progress__text [data-testid=eta]")
    await eta.wait_for(timeout=30_000)
    await page.screenshot(path=str(screenshots / "01-running.png"), animations="disabled")
    phone = await new_page(browser, PHONE, color_scheme="light")
    await phone.add_init_script(f"localStorage.setItem('tessera.tenant', '{tenant}')")
    await phone.goto(f"{stack}/workflows/{workflow}")
    await phone.locator(".job-row[data-job=scan] [data-testid=eta]").wait_for(timeout=30_000)
    await phone.locator(".job-row[data-job=scan]").scroll_into_view_if_needed()
    await phone.screenshot(path=str(screenshots / "01-running-phone.png"), animations="disabled")
    await phone.close()

    # cancelling a pending job: its 60 expected tiles end, the percent does not jump
    before, done_before, _ = await read_bar(page)
    cancelled = await page.request.post(
        f"{stack}/v1/workflows/{workflow}/jobs/extra/cancel", headers={"X-User-ID": tenant}
    )
    assert cancelled.status == 200, await cancelled.text()
    await page.locator(".job-row[data-job=extra][data-state=CANCELLED]").wait_for()
    after, done_after, total = await read_bar(page)
    assert total == 760
    assert after - before <= 100 * (done_after - done_before) // total + 1, (before, after)
    await expect(page.locator(".stats-card").get_by_text("60 ended early")).to_be_visible()

    # the running job: its ETA, throughput chart and log
    await page.goto(f"{stack}/workflows/{workflow}/jobs/scan")
    await page.locator("[data-testid=job-detail][data-state=RUNNING]").wait_for()
    await page.locator("[data-testid=eta]").wait_for(timeout=30_000)
    await page.locator("[data-testid=throughput] svg path").first.wait_for(timeout=30_000)
    log = page.locator("[data-testid=job-log]")
    await expect(log).to_contain_text("submitted")
    await expect(log).to_contain_text("started attempt 1")
    await expect(log).to_contain_text("planned 600 tiles")
    await page.screenshot(
        path=str(screenshots / "02-job.png"), animations="disabled", full_page=True
    )

    # a cancelled workflow shows what was done, never a full bar
    stopped = await page.request.post(
        f"{stack}/v1/workflows/{workflow}/cancel", headers={"X-User-ID": tenant}
    )
    assert stopped.status == 200, await stopped.text()
    await page.goto(f"{stack}/workflows/{workflow}")
    await page.locator("[data-testid=workflow-detail][data-state=CANCELLED]").wait_for()
    percent, done, total = await read_bar(page)
    assert percent < 100 and percent == 100 * done // total
    assert await page.locator(f"{WORKFLOW_BAR} ~ .progress__text [data-testid=eta]").count() == 0
    await page.screenshot(path=str(screenshots / "03-cancelled.png"), animations="disabled")

    # the tenant's throughput on the admission page
    await page.goto(f"{stack}/admission")
    await page.locator("[data-testid=throughput] svg").wait_for(timeout=15_000)
    await page.screenshot(path=str(screenshots / "04-admission.png"), animations="disabled")

    # the list row at phone width, light and dark: no separator left dangling
    for scheme in ("light", "dark"):
        phone = await new_page(browser, PHONE, color_scheme=scheme)
        await phone.add_init_script(f"localStorage.setItem('tessera.tenant', '{tenant}')")
        await phone.goto(f"{stack}/workflows")
        row = phone.locator(".wf-row", has_text="honest numbers")
        await row.wait_for()
        await phone.screenshot(path=str(screenshots / f"05-phone-{scheme}.png"))
        assert phone.errors == []
    light = await new_page(browser, DESKTOP, color_scheme="light")
    await light.add_init_script(f"localStorage.setItem('tessera.tenant', '{tenant}')")
    await light.goto(f"{stack}/workflows/{workflow}/jobs/scan")
    await light.locator("[data-testid=job-log]").wait_for()
    await light.screenshot(path=str(screenshots / "06-job-light.png"), full_page=True)
    assert page.errors == []
