"""The UI in a real headless Chromium against the real stack: compose a workflow in the builder,
submit it, watch it run with live progress to SUCCEEDED, open a job; at desktop and phone width.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.conftest import DATA_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SMALL_SLIDE = "openslide-python_small.svs"


async def new_page(browser: Any, viewport: dict[str, int], **options: Any) -> Any:
    context = await browser.new_context(
        viewport=viewport, **{"color_scheme": "dark", "device_scale_factor": 1, **options}
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: Any) -> None:
        # a refused request is the test's business, not a page error
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.errors = errors
    return page


async def submit_workflow(page: Any, stack: str, tenant: str, name: str, *jobs: Any) -> str:
    """Submit a workflow as the page's tenant through the API; its id."""
    answer = await page.request.post(
        f"{stack}/v1/workflows", headers={"X-User-ID": tenant}, data={"name": name, "jobs": jobs}
    )
    assert answer.status == 202, await answer.text()
    return str((await answer.json())["workflow_id"])


async def progress_samples(page: Any, selector: str, until_state: str, timeout: float) -> set[int]:
    """Read a progress bar's value until the page's `data-state` is `until_state`."""
    seen: set[int] = set()
    deadline = asyncio.get_running_loop().time() + timeout
    detail = page.locator("[data-testid=workflow-detail]")
    while asyncio.get_running_loop().time() < deadline:
        value = await page.locator(selector).first.get_attribute("aria-valuenow")
        if value is not None:
            seen.add(int(value))
        if await detail.get_attribute("data-state") == until_state:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"not {until_state} within {timeout} s; progress seen: {sorted(seen)}")


async def test_compose_submit_and_watch_a_workflow_run(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page = await new_page(browser, DESKTOP)

    def shot(name: str, target: Any = None, **options: Any) -> Any:
        where = str(screenshots / f"{name}.png")
        return (target or page).screenshot(path=where, animations="disabled", **options)

    await page.goto(f"{stack}/")
    await page.wait_for_url(re.compile(r"/workflows$"))
    await page.get_by_text("No workflows yet").wait_for()
    await page.locator("[data-testid=stream-status][data-status=live]").wait_for()
    await shot("01-empty")

    # compose: two synthetic jobs in two lanes, the second after the first
    await page.get_by_role("link", name="New workflow").first.click()
    await page.get_by_label("Workflow name").fill("e2e: two lanes")
    first = page.locator("[data-testid=job-card]").nth(0)
    await first.locator("input[name=tiles]").fill("60")
    await first.locator("input[name=seconds_per_tile]").fill("0.1")
    await page.get_by_role("button", name="Synthetic job").click()
    second = page.locator("[data-testid=job-card]").nth(1)
    await second.locator("input[name=branch]").fill("side")
    await second.locator("input[name=tiles]").fill("30")
    await second.locator("input[name=seconds_per_tile]").fill("0.05")
    await second.get_by_role("button", name="load", exact=True).click()  # depends on "load"
    await expect(page.locator("[data-testid=dag] .dag-node")).to_have_count(2)
    await expect(page.get_by_test_id("dag-loading")).to_have_count(0)  # drawn: no loading left
    await shot("02-builder")

    # submit: the builder takes us to the workflow, which runs with live progress
    await page.get_by_role("button", name="Submit workflow").click()
    await page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    detail = page.locator("[data-testid=workflow-detail]")
    await detail.wait_for()
    await page.locator("[data-testid=workflow-detail][data-state=RUNNING]").wait_for(timeout=30_000)
    await page.locator(".job-row[data-state=RUNNING]").first.wait_for(timeout=30_000)
    await page.wait_for_function(
        "() => Number(document.querySelector('[aria-label=\"Workflow progress\"]')"
        "?.getAttribute('aria-valuenow')) >= 25",
        timeout=30_000,
    )
    await shot("03-running")
    seen = await progress_samples(
        page, "[aria-label='Workflow progress']", "SUCCEEDED", timeout=120
    )
    assert any(0 < v < 100 for v in seen), f"no progress between 0 and 100 was shown: {seen}"
    await expect(page.locator(".job-row[data-state=SUCCEEDED]")).to_have_count(2)
    await page.get_by_text("2 / 2").wait_for()
    await page.locator("[aria-label='Workflow progress'][aria-valuenow='100']").wait_for()
    await shot("04-succeeded")
    workflow_url = page.url

    # the list shows it finished, from the same live data
    await page.get_by_role("link", name="Workflows").first.click()
    row = page.locator(".wf-row", has_text="e2e: two lanes")
    await expect(row).to_have_attribute("data-state", "SUCCEEDED")
    await shot("05-list")

    # a job: its history from the log and its summary
    await page.goto(f"{workflow_url}/jobs/load")
    job = page.locator("[data-testid=job-detail][data-state=SUCCEEDED]")
    await job.wait_for()
    await page.locator("[data-testid=job-history] li").nth(1).wait_for()
    events = await page.locator(".timeline__event").all_inner_texts()
    assert events[0] == "JobStarted" and events[-1] == "JobSucceeded", events
    await page.locator("[data-testid=summary]").wait_for()
    await page.locator("[data-testid=tile-progress] .tile.is-done").first.wait_for()
    await shot("06-job")

    # a refused workflow: the gateway's reasons next to the form
    await page.goto(f"{stack}/workflows/new")
    await page.get_by_role("tab", name="JSON").click()
    await page.get_by_label("Workflow JSON").fill(
        '{"name": "bad", "jobs": [{"id": "mask", "type": "tissue_mask", "slide": "nope.svs"}]}'
    )
    await page.get_by_role("button", name="Submit workflow").click()
    await page.locator("[role=alert]").filter(has_text="nope.svs").first.wait_for()
    await page.get_by_label("Workflow JSON").fill(
        '{"name": "bad", "jobs": [{"id": "c", "type": "synthetic", "params": {"tiles": 0}}]}'
    )
    await page.get_by_role("button", name="Submit workflow").click()
    await page.locator("[role=alert]").filter(has_text="params.tiles").first.wait_for()
    await page.get_by_role("tab", name="Form").click()  # the reason moves next to its field
    card = page.locator("[data-testid=job-card]", has_text="greater than or equal to 1")
    await card.wait_for()
    await shot("07-refused")

    await page.goto(f"{stack}/admission")
    await page.locator("[data-testid=admission]").wait_for()
    await shot("08-admission")
    await page.goto(f"{stack}/slides")
    await page.wait_for_load_state("networkidle")
    await shot("09-slides")
    assert page.errors == []

    # phone width, as the same tenant: the same pages stay usable
    tenant = await page.context.storage_state()
    phone = await new_page(browser, PHONE, is_mobile=True, has_touch=True, storage_state=tenant)
    await phone.goto(f"{stack}/workflows")
    await phone.locator(".wf-row[data-state=SUCCEEDED]").first.wait_for()
    await shot("10-phone-list", phone)
    await phone.goto(workflow_url)
    await phone.locator("[data-testid=workflow-detail][data-state=SUCCEEDED]").wait_for()
    await shot("11-phone-detail", phone, full_page=True)
    await phone.goto(f"{stack}/workflows/new")
    await phone.locator("[data-testid=job-card]").first.wait_for()
    await shot("12-phone-builder", phone, full_page=True)
    assert phone.errors == []


async def test_a_tissue_mask_over_its_slide_and_a_second_tenant(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page = await new_page(browser, DESKTOP, color_scheme="light")
    await page.goto(f"{stack}/workflows/new")

    # a tissue mask of the demo slide, the slide picked from the gateway's list
    await page.get_by_label("Workflow name").fill("CMU tissue")
    await page.get_by_role("button", name="Remove job load").click()
    await page.get_by_role("button", name="Tissue mask").click()
    card = page.locator("[data-testid=job-card]").first
    await card.locator("select[name=slide]").select_option("CMU-1-Small-Region.svs")
    await page.get_by_role("button", name="Submit workflow").click()
    await page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    await page.locator("[data-testid=workflow-detail][data-state=SUCCEEDED]").wait_for(
        timeout=120_000
    )
    await page.screenshot(path=str(screenshots / "00-workflow-light.png"), animations="disabled")
    await page.locator(".dag-node[data-job=mask]").click()
    await page.locator("[data-testid=job-detail][data-state=SUCCEEDED]").wait_for()

    # the slide in the viewer with the mask over it, whose opacity can be changed
    viewer = page.locator("[data-testid=deep-zoom]")
    await viewer.wait_for()
    await page.get_by_role("button", name="tissue mask", exact=True).wait_for()
    await page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=deep-zoom] canvas').length > 0"
    )
    await page.wait_for_load_state("networkidle")
    await page.get_by_label("Overlay opacity").fill("0.8")
    await viewer.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshots / "01-mask-light.png"), animations="disabled")
    await expect(page.locator("[data-testid=summary]")).to_have_count(1)
    assert page.errors == []

    phone = await new_page(
        browser, PHONE, is_mobile=True, has_touch=True, color_scheme="light",
        storage_state=await page.context.storage_state(),
    )  # fmt: skip
    await phone.goto(page.url)
    await phone.locator("[data-testid=deep-zoom] canvas").first.wait_for()
    await phone.wait_for_load_state("networkidle")
    await phone.locator("[data-testid=deep-zoom]").scroll_into_view_if_needed()
    await phone.screenshot(path=str(screenshots / "03-phone-job.png"), animations="disabled")
    assert phone.errors == []

    # an upload of this tenant's own, with progress, then listed as its own
    tenant = await page.evaluate("localStorage.getItem('tessera.tenant')")
    uploads = DATA_ROOT / "uploads" / tenant
    try:
        await page.goto(f"{stack}/slides")
        await page.locator("[data-slide='CMU-1-Small-Region.svs'] img").wait_for()
        await page.locator("input[type=file]").set_input_files(DATA_ROOT / SMALL_SLIDE)
        mine = page.locator(f"[data-slide='uploads/{tenant}/{SMALL_SLIDE}']")
        await mine.get_by_text("your upload").wait_for()
        await mine.locator("img").wait_for()
        await page.screenshot(path=str(screenshots / "04-slides.png"), animations="disabled")
        await page.locator("[data-slide='CMU-1-Small-Region.svs']").click()
        drawer = page.get_by_role("dialog", name="CMU-1-Small-Region.svs")
        await drawer.locator("[data-testid=deep-zoom] canvas").first.wait_for()
        await page.wait_for_load_state("networkidle")
        await page.screenshot(path=str(screenshots / "05-slide-viewer.png"), animations="disabled")
        await page.keyboard.press("Escape")
        await drawer.wait_for(state="detached")
        # the upload deleted from its drawer: the first click arms the button, the second deletes
        await mine.click()
        own = page.get_by_role("dialog", name=SMALL_SLIDE)
        await own.get_by_role("button", name="Delete upload").click()
        await own.get_by_role("button", name="Click again to delete").wait_for()
        await page.screenshot(path=str(screenshots / "06-delete-upload.png"), animations="disabled")
        await own.get_by_role("button", name="Click again to delete").click()
        await own.wait_for(state="detached")
        await mine.wait_for(state="detached")
        assert not (uploads / SMALL_SLIDE).exists()
    finally:
        shutil.rmtree(uploads, ignore_errors=True)

    # another tenant sees none of it
    await page.get_by_test_id("tenant-button").click()
    await page.get_by_role("menuitem", name="New tenant").click()
    await page.goto(f"{stack}/workflows")
    await page.get_by_text("No workflows yet").wait_for()
    await page.get_by_test_id("tenant-button").click()
    await page.screenshot(path=str(screenshots / "02-tenants.png"), animations="disabled")


async def test_the_list_shows_every_state_live(stack: str, browser: Any, screenshots: Path) -> None:
    page = await new_page(browser, DESKTOP)
    await page.goto(f"{stack}/workflows")
    await page.get_by_text("No workflows yet").wait_for()
    tenant = await page.evaluate("localStorage.getItem('tessera.tenant')")

    async def submit(name: str, *jobs: dict[str, Any]) -> str:
        return await submit_workflow(page, stack, tenant, name, *jobs)

    def synthetic(job_id: str, tiles: int, **params: Any) -> dict[str, Any]:
        return {"id": job_id, "type": "synthetic", "params": {"tiles": tiles, **params}}

    failing = await submit("always fails", {**synthetic("flaky", 8, failure_probability=1.0)})
    stopped = await submit("stopped while running", synthetic("slow", 2000, seconds_per_tile=0.05))
    cancelled = await submit("cancelled", synthetic("first", 20), synthetic("second", 20))
    answer = await page.request.post(
        f"{stack}/v1/workflows/{cancelled}/cancel", headers={"X-User-ID": tenant}
    )
    assert answer.status in (200, 409), await answer.text()
    await submit("long run", synthetic("big", 400, seconds_per_tile=0.05))
    await submit("waits its turn", synthetic("next", 10))

    for wid, state in ((failing, "FAILED"), (cancelled, "CANCELLED")):
        await page.locator(f".wf-row[data-workflow='{wid}'][data-state={state}]").wait_for(
            timeout=60_000
        )
    await page.locator(".wf-row[data-state=RUNNING]").first.wait_for(timeout=60_000)
    await page.screenshot(path=str(screenshots / "01-states.png"), animations="disabled")

    await page.get_by_role("tab", name="Failed").click()
    await page.wait_for_url(re.compile(r"state=FAILED"))
    # the list loaded for this filter (the previous filter's rows stay until the new page arrives)
    rows = page.locator("[data-testid=workflow-list][data-filter=FAILED] .wf-row[data-workflow]")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-workflow", failing)
    await page.goto(f"{stack}/workflows/{failing}")
    await page.locator("[data-testid=workflow-detail][data-state=FAILED]").wait_for()
    await page.screenshot(path=str(screenshots / "02-failed.png"), animations="disabled")

    # a running job is cancelled from its row; its refusal once it ended shows the state
    await page.goto(f"{stack}/workflows/{stopped}")
    slow = page.locator(".job-row[data-job=slow][data-state=RUNNING]")
    await slow.wait_for(timeout=60_000)
    await slow.get_by_role("button", name="Cancel").click()  # asks first
    await slow.get_by_role("button", name="Cancel this job?").click()
    await page.locator("[data-testid=workflow-detail][data-state=CANCELLED]").wait_for(
        timeout=30_000
    )
    await page.locator(".job-row[data-job=slow][data-state=CANCELLED]").wait_for()
    answer = await page.request.post(
        f"{stack}/v1/workflows/{stopped}/jobs/slow/cancel", headers={"X-User-ID": tenant}
    )
    assert answer.status == 409 and (await answer.json())["error"]["state"] == "CANCELLED"
    await page.screenshot(path=str(screenshots / "03-cancelled.png"), animations="disabled")
    assert page.errors == []
