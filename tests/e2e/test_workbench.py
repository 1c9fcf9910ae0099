"""The UI as a workbench, in a real headless Chromium against the real stack: why a job waits,
re-running a failed job from its row.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_ui import DESKTOP, new_page, submit_workflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def synthetic(job_id: str, tiles: int, **fields: Any) -> dict[str, Any]:
    params = {"tiles": tiles, "seconds_per_tile": fields.pop("seconds_per_tile", 0.02)}
    params |= fields.pop("params", {})
    return {"id": job_id, "type": "synthetic", "params": params, **fields}


async def new_tenant(browser: Any, stack: str) -> tuple[Any, str]:
    """A page of a tenant of its own (made on the first visit), with nothing submitted yet."""
    page = await new_page(browser, DESKTOP)
    await page.goto(f"{stack}/workflows")
    await page.get_by_text("No workflows yet").wait_for()
    return page, await page.evaluate("localStorage.getItem('tessera.tenant')")


async def test_a_waiting_job_says_why_and_a_failed_job_is_rerun_to_success(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page, tenant = await new_tenant(browser, stack)

    async def submit(name: str, *jobs: dict[str, Any]) -> str:
        return await submit_workflow(page, stack, tenant, name, *jobs)

    # a job behind another in its lane says which one it waits for
    lane = await submit(
        "one lane", synthetic("slow", 2000, seconds_per_tile=0.05), synthetic("next", 4)
    )
    await page.goto(f"{stack}/workflows/{lane}")
    await page.locator(".job-row[data-job=slow][data-state=RUNNING]").wait_for(timeout=60_000)
    reason = page.locator(".job-row[data-job=next] [data-testid=waiting-reason]")
    await expect(reason).to_have_attribute("data-kind", "lane")
    await expect(reason).to_contain_text("waits for job 'slow' ahead of it in branch 'main'")
    await page.screenshot(path=str(screenshots / "01-waiting.png"), animations="disabled")
    await page.goto(f"{stack}/workflows/{lane}/jobs/next")
    await expect(page.locator("[data-testid=waiting-reason]")).to_contain_text("'slow'")
    cancelled = await page.request.post(
        f"{stack}/v1/workflows/{lane}/cancel", headers={"X-User-ID": tenant}
    )
    assert cancelled.status == 200, await cancelled.text()

    # a job whose first attempt fails, and the job after it in its lane, skipped for it
    failing = await submit(
        "fails once",
        synthetic("flaky", 6, params={"failing_attempts": 1}),
        synthetic("after", 4),
    )
    await page.goto(f"{stack}/workflows/{failing}")
    await page.locator("[data-testid=workflow-detail][data-state=FAILED]").wait_for(timeout=60_000)
    await page.locator(".job-row[data-job=after][data-state=SKIPPED]").wait_for()
    await page.screenshot(path=str(screenshots / "02-failed.png"), animations="disabled")
    flaky = page.locator(".job-row[data-job=flaky]")
    await flaky.get_by_role("button", name="Re-run job flaky").click()
    await page.get_by_text("Job flaky re-run").wait_for()
    await page.locator("[data-testid=workflow-detail][data-state=SUCCEEDED]").wait_for(
        timeout=60_000
    )
    await expect(flaky).to_have_attribute("data-state", "SUCCEEDED")
    await expect(flaky.get_by_text("attempt 2")).to_be_visible()
    await expect(page.locator(".job-row[data-job=after]")).to_have_attribute(
        "data-state", "SUCCEEDED"
    )
    await page.screenshot(path=str(screenshots / "03-rerun.png"), animations="disabled")
    assert page.errors == []


async def test_find_a_workflow_by_search_and_sort_then_clone_it_into_the_builder(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page, tenant = await new_tenant(browser, stack)
    alpha = await submit_workflow(
        page, stack, tenant, "alpha run", synthetic("load", 4), synthetic("more", 4, branch="b")
    )
    await submit_workflow(page, stack, tenant, "beta run", synthetic("load", 4))
    await expect(page.locator(".wf-row")).to_have_count(2)

    # search by name: the URL holds the view, so a link (or a reload) shows the same
    await page.get_by_label("Search workflows by name or id").fill("ALPHA")
    await page.wait_for_url(re.compile(r"[?&]q=ALPHA"))
    rows = page.locator(".wf-row[data-workflow]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-workflow", alpha)
    await page.get_by_label("Search workflows by name or id").fill(alpha[:8])  # its short id
    await page.wait_for_url(re.compile(rf"[?&]q={alpha[:8]}"))
    await expect(rows).to_have_count(1)
    await page.get_by_label("Search workflows by name or id").fill("")
    await page.get_by_label("Sort workflows").select_option("name-desc")  # the search goes with it
    await page.wait_for_url(re.compile(r"/workflows\?sort=name-desc$"))
    await page.reload()
    await expect(page.locator(".wf-row .wf-row__name")).to_have_text(["beta run", "alpha run"])
    await page.screenshot(path=str(screenshots / "01-sorted.png"), animations="disabled")

    # "Edit as new": the builder starts from a copy, submitted as a new workflow
    await page.goto(f"{stack}/workflows/{alpha}")
    await page.get_by_role("link", name="Edit as new").click()
    await page.wait_for_url(re.compile(rf"/workflows/new\?from={alpha}$"))
    await expect(page.get_by_label("Workflow name")).to_have_value("alpha run (copy)")
    await expect(page.locator("[data-testid=job-card]")).to_have_count(2)
    await page.screenshot(path=str(screenshots / "02-clone.png"), animations="disabled")
    await page.get_by_role("button", name="Submit workflow").click()
    await page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    assert alpha not in page.url
    await page.get_by_role("heading", name="alpha run (copy)").wait_for()
    assert page.errors == []


async def test_the_sidebar_counts_the_admission_line_as_the_admission_page_and_the_api_do(
    stack: str, browser: Any
) -> None:
    page, tenant = await new_tenant(browser, stack)
    await page.goto(f"{stack}/workflows")
    badge = page.locator("[data-testid=admission-badge]")
    await badge.wait_for()
    # live first: going live reads every view again, which would hide a badge that lags
    await page.locator("[data-testid=stream-status][data-status=live]").first.wait_for()
    await page.wait_for_timeout(500)

    async def line() -> dict[str, Any]:
        answer = await page.request.get(f"{stack}/v1/admission", headers={"X-User-ID": tenant})
        return dict(await answer.json())

    # as many other tenants as may run at once (3 in the tests) go first, then this one waits
    for _ in range(3):
        await submit_workflow(
            page, stack, str(uuid.uuid4()), "ahead", synthetic("ahead", 150, seconds_per_tile=0.05)
        )
    await submit_workflow(page, stack, tenant, "mine", synthetic("mine", 10))

    # the tenant's own work changed state: the sidebar reads the line again at once (it used to
    # wait for its 8 s poll and showed other figures than the API meanwhile)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4
    while True:
        before = await line()
        shown = await badge.get_attribute("data-waiting"), await badge.inner_text()
        after = await line()
        agreed = before == after and before["state"] == "WAITING"
        if agreed and shown[0] == str(after["waiting_tenants"]) and "waiting · #" in shown[1]:
            break
        assert loop.time() < deadline, f"the sidebar showed {shown}, the API {after}"
        await asyncio.sleep(0.1)

    # the admission page shows the same line as the sidebar beside it
    await page.goto(f"{stack}/admission")
    board = page.locator("[data-testid=admission]")
    await board.wait_for()
    label = page.locator(".stat__label", has_text=re.compile(r"^Waiting$"))
    waiting = board.locator(".stat", has=label).locator(".stat__value")
    await expect(waiting).to_have_text(await badge.get_attribute("data-waiting") or "?")
