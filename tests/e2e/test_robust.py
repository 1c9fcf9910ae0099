"""The UI with what users really give it, in a real headless Chromium against the real stack: a
200-character workflow name and 64-character job ids at desktop and phone width (nothing wider than
the viewport, the whole name one tap away), a page that keeps still while its workflow runs, and
addresses that name nothing.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.a11y import assert_no_horizontal_overflow
from tests.e2e.test_ui import PHONE, new_page, submit_workflow
from tests.e2e.test_workbench import new_tenant, synthetic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# a name with a 120-character run that has nowhere to break, and ids as long as the API allows
LONG_NAME = "Whole-slide re-run for the " + "x" * 120 + " cohort, H&E stain, 40x, reviewed by two "
LONG_NAME += "pathologists"[: 200 - len(LONG_NAME)]
LONG_IDS = ("segment_" + "a" * 56, "measure_" + "b" * 56)
LAPTOP = {"width": 1366, "height": 768}


async def test_long_names_never_overflow_and_read_in_full_on_a_phone(
    stack: str, browser: Any, screenshots: Path
) -> None:
    assert len(LONG_NAME) == 200 and all(len(i) == 64 for i in LONG_IDS)
    page, tenant = await new_tenant(browser, stack)
    first, second = LONG_IDS
    workflow = await submit_workflow(
        page, stack, tenant, LONG_NAME,
        synthetic(first, 2000, seconds_per_tile=0.05),
        {**synthetic(second, 4), "branch": "b" * 64, "depends_on": [first]},
    )  # fmt: skip
    phone = await new_page(
        browser, PHONE, is_mobile=True, has_touch=True,
        storage_state=await page.context.storage_state(),
    )  # fmt: skip
    for size, p in (("desktop", page), ("phone", phone)):
        await p.goto(f"{stack}/workflows")
        await p.locator(f".wf-row[data-workflow='{workflow}'][data-state=RUNNING]").wait_for(
            timeout=60_000
        )
        await p.screenshot(path=str(screenshots / f"{size}-list.png"), animations="disabled")
        await assert_no_horizontal_overflow(p, f"list ({size})")
        await p.goto(f"{stack}/workflows/{workflow}")
        await p.locator(f".dag-node[data-job={first}]").wait_for()
        await p.screenshot(path=str(screenshots / f"{size}-workflow.png"), animations="disabled")
        await assert_no_horizontal_overflow(p, f"workflow ({size})")
        await p.goto(f"{stack}/workflows/{workflow}/jobs/{first}")
        await p.locator("[data-testid=job-detail]").wait_for()
        await p.get_by_role("link", name=LONG_NAME).wait_for()  # the crumb, cut but named
        await p.screenshot(path=str(screenshots / f"{size}-job.png"), animations="disabled")
        await assert_no_horizontal_overflow(p, f"job ({size})")

    # on a phone the name is cut, its whole is in the title and one tap away
    await phone.goto(f"{stack}/workflows/{workflow}")
    name = phone.locator("[data-testid=workflow-detail] h1 [data-testid=clamped]")
    await expect(name).to_have_attribute("title", LONG_NAME)
    cut = "el => el.scrollHeight > el.clientHeight + 1"
    assert await name.evaluate(cut)
    toggle = phone.get_by_role("button", name="Show full name")
    await toggle.tap()
    await expect(phone.get_by_role("button", name="Show less")).to_have_attribute(
        "aria-expanded", "true"
    )
    assert not await name.evaluate(cut)
    await phone.screenshot(path=str(screenshots / "phone-full-name.png"), animations="disabled")
    await assert_no_horizontal_overflow(phone, "workflow, the name in full (phone)")

    # the filter tabs fit a phone or scroll with a fade that shows it; the last one is reachable
    await phone.goto(f"{stack}/workflows")
    tabs = phone.get_by_role("tablist", name="Filter by state")
    if await tabs.evaluate("el => el.scrollWidth > el.clientWidth"):
        await expect(tabs).to_have_attribute("data-more", "end")
    await phone.get_by_role("tab", name="Cancelled").click()
    await expect(phone.get_by_role("tab", name="Cancelled")).to_have_attribute(
        "aria-selected", "true"
    )
    await assert_no_horizontal_overflow(phone, "list, filtered (phone)")

    # cancelling lists the long ids in a toast, which stays inside the phone's width
    await phone.goto(f"{stack}/workflows/{workflow}")
    await phone.get_by_role("button", name="Cancel workflow").click()
    await phone.get_by_role("button", name="Cancel every unfinished job?").click()
    toast = phone.locator(".toast", has_text=first)
    await toast.wait_for()
    await phone.screenshot(path=str(screenshots / "phone-toast.png"), animations="disabled")
    await assert_no_horizontal_overflow(phone, "toast (phone)")
    assert page.errors == [] and phone.errors == []


async def test_the_graph_stays_put_while_its_workflow_waits_runs_and_ends(
    stack: str, browser: Any
) -> None:
    page, tenant = await new_tenant(browser, stack)
    tenant_state = await page.context.storage_state()
    phone = await new_page(
        browser, PHONE, is_mobile=True, has_touch=True, storage_state=tenant_state
    )  # fmt: skip
    # a common laptop, where "#1 in the admission line" wrapped and the date after it did not
    laptop = await new_page(browser, LAPTOP, storage_state=tenant_state)
    pages = {"desktop": page, "laptop": laptop, "phone": phone}
    # as many other tenants as may run at once (3 in the tests) go first, so that this one waits
    # in the admission line ("#1 in the admission line") before it runs
    for _ in range(3):
        await submit_workflow(
            page, stack, str(uuid.uuid4()), "ahead", synthetic("ahead", 150, seconds_per_tile=0.05)
        )
    workflow = await submit_workflow(
        page, stack, tenant, "watched", synthetic("watched", 40, seconds_per_tile=0.05)
    )
    for p in pages.values():
        await p.goto(f"{stack}/workflows/{workflow}")
        await p.locator("[data-testid=dag] .dag-node").first.wait_for()
        await p.wait_for_timeout(400)  # the page's entrance (a 6 px rise) is over

    top = "() => document.querySelector('[data-testid=dag]').getBoundingClientRect().top + scrollY"
    state = "() => document.querySelector('[data-testid=workflow-detail]')?.dataset.state"
    seen: dict[str, dict[str, set[float]]] = {size: {} for size in pages}
    deadline = asyncio.get_running_loop().time() + 90
    while asyncio.get_running_loop().time() < deadline:
        for size, p in pages.items():
            now = await p.evaluate(state)
            seen[size].setdefault(now, set()).add(round(await p.evaluate(top), 1))
        if all("SUCCEEDED" in s for s in seen.values()):
            break
        await asyncio.sleep(0.1)
    for size, tops in seen.items():
        assert {"QUEUED", "RUNNING", "SUCCEEDED"} <= set(tops), (size, tops)
        every = set().union(*tops.values())
        assert max(every) - min(every) <= 1, f"the graph moved ({size}): {tops}"
    assert all(p.errors == [] for p in pages.values())


async def test_addresses_that_name_nothing_say_so(stack: str, browser: Any) -> None:
    page, tenant = await new_tenant(browser, stack)
    mine = await submit_workflow(page, stack, tenant, "mine", synthetic("only", 2))

    async def says(path: str, *texts: str) -> None:
        await page.goto(f"{stack}{path}")
        notice = page.get_by_test_id("not-found")
        for text in texts:
            await expect(notice).to_contain_text(text)
        await expect(page.get_by_role("button", name="Retry")).to_have_count(0)
        await expect(notice.get_by_role("link", name="Go to workflows")).to_be_visible()

    await says("/workflows/not-a-uuid", "No such workflow", "'not-a-uuid' cannot be a workflow id")
    await says(f"/workflows/{mine}/jobs/-bad-", "No such job", "'-bad-' cannot be a job id")
    await says(f"/workflows/{mine}/jobs/missing", "No such job", "no job 'missing'")
    await says("/workflows/not-a-uuid/jobs/only", "No such workflow")

    # another tenant's workflow (the API answers 404 for it as for none at all)
    other = str(uuid.uuid4())
    theirs = await submit_workflow(page, stack, other, "theirs", synthetic("x", 2))
    await says(
        f"/workflows/{theirs}",
        "No such workflow",
        f"not found for tenant {tenant}; it may belong to another tenant",
    )
    await says(f"/workflows/{theirs}/jobs/x", f"not found for tenant {tenant}")
    assert page.errors == []
