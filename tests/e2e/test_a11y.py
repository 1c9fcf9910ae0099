"""An accessibility tour in a real headless Chromium against the real stack: axe-core on every page
at desktop and phone width, in the light and the dark theme (no violation of serious or critical
impact), and the keyboard: the skip link, graph nodes that open on Enter, a slide drawer that
holds the focus and gives it back.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.a11y import assert_accessible
from tests.e2e.test_ui import DESKTOP, PHONE, new_page, submit_workflow

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLIDE = "CMU-1-Small-Region.svs"
MASK_AND_COUNT = (
    {"id": "mask", "type": "tissue_mask", "slide": SLIDE},
    {
        "id": "count",
        "type": "synthetic",
        "branch": "side",
        "depends_on": ["mask"],
        "params": {"tiles": 6, "seconds_per_tile": 0.01},
    },
)


async def first_visit(browser: Any, stack: str, theme: str = "dark") -> tuple[Any, str]:
    """A page of a tenant of its own, and its one succeeded workflow: a mask, a job after it.
    The note on what a tenant is, shown on this first visit, passes axe and is then dismissed."""
    page = await new_page(browser, DESKTOP, color_scheme=theme)
    await page.goto(f"{stack}/workflows")
    await page.get_by_text("No workflows yet").wait_for()
    await page.get_by_role("complementary", name="About your tenant").wait_for()
    await assert_accessible(page, f"first visit ({theme})")
    await page.get_by_role("button", name="Got it").click()
    tenant = await page.evaluate("localStorage.getItem('tessera.tenant')")
    workflow = await submit_workflow(page, stack, tenant, "mask and count", *MASK_AND_COUNT)
    await page.goto(f"{stack}/workflows/{workflow}")
    await page.locator("[data-testid=workflow-detail][data-state=SUCCEEDED]").wait_for(
        timeout=120_000
    )
    return page, workflow


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_every_page_passes_axe_at_both_sizes(
    stack: str, browser: Any, screenshots: Path, theme: str
) -> None:
    first, workflow = await first_visit(browser, stack, theme)
    tenant = await first.context.storage_state()
    for size, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        phone = viewport is PHONE
        page = await new_page(
            browser, viewport, color_scheme=theme, storage_state=tenant,
            is_mobile=phone, has_touch=phone,
        )  # fmt: skip

        async def check(name: str, page: Any = page, size: str = size) -> None:
            where = f"{name} ({size}, {theme})"
            await page.screenshot(
                path=str(screenshots / f"{size}-{name}.png"), animations="disabled"
            )
            await assert_accessible(page, where)

        await page.goto(f"{stack}/workflows")
        await page.locator(f".wf-row[data-workflow='{workflow}']").wait_for()
        await check("list")
        await page.goto(f"{stack}/workflows/{workflow}")
        await page.locator("[data-testid=workflow-detail] .dag-node[data-job=count]").wait_for()
        await check("workflow")
        await page.goto(f"{stack}/workflows/{workflow}/jobs/mask")
        await page.locator("[data-testid=deep-zoom] canvas").first.wait_for()
        await page.locator("[data-testid=summary]").wait_for()
        await check("job")
        await page.goto(f"{stack}/workflows/new")
        await page.locator("[data-testid=job-card]").first.wait_for()
        await check("builder")
        await page.get_by_role("tab", name="JSON").click()
        await page.get_by_label("Workflow JSON").wait_for()
        await check("builder-json")
        await page.goto(f"{stack}/slides")
        await page.locator(f"[data-slide='{SLIDE}'] img").wait_for()
        await check("slides")
        await page.locator(f"[data-slide='{SLIDE}']").click()
        await page.get_by_role("dialog", name=SLIDE).locator("canvas").first.wait_for()
        await check("slide-drawer")
        await page.goto(f"{stack}/admission")
        await page.locator("[data-testid=admission]").wait_for()
        await check("admission")
        assert page.errors == []
        await page.context.close()


async def test_the_keyboard_reaches_content_graph_nodes_and_the_slide_drawer(
    stack: str, browser: Any
) -> None:
    page, _ = await first_visit(browser, stack)

    # the first Tab reaches the skip link, which moves the focus past the navigation
    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    await skip.wait_for()
    assert await skip.evaluate("el => el === document.activeElement")
    box = await skip.bounding_box()
    assert box is not None and box["y"] >= 0, box  # in sight once focused
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "content"

    # a graph node opens its job on Enter, another on Space
    node = page.locator(".react-flow__node", has=page.locator(".dag-node[data-job=count]"))
    await node.focus()
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/jobs/count$"))
    await page.go_back()
    node = page.locator(".react-flow__node", has=page.locator(".dag-node[data-job=mask]"))
    await node.focus()
    await page.keyboard.press(" ")
    await page.wait_for_url(re.compile(r"/jobs/mask$"))

    # the slide drawer holds the focus while open, and gives it back to its card when closed
    await page.goto(f"{stack}/slides")
    card = page.locator(f"[data-slide='{SLIDE}']")
    await card.locator("img").wait_for()
    await card.focus()
    await page.keyboard.press("Enter")
    drawer = page.get_by_role("dialog", name=SLIDE)
    await drawer.locator("canvas").first.wait_for()
    for _ in range(12):
        await page.keyboard.press("Tab")
        inside = await drawer.evaluate("(el) => el.contains(document.activeElement)")
        assert inside, await page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
    for _ in range(3):
        await page.keyboard.press("Shift+Tab")
        assert await drawer.evaluate("(el) => el.contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await drawer.wait_for(state="detached")
    assert await card.evaluate("el => el === document.activeElement")
    assert page.errors == []
