"""The viewer that measures, in a real headless Chromium against the real stack: a cell
segmentation of the demo slide (the dark-blobs model), its scale bar, the cells in view, a cell
clicked for its area and centroid, the view's deep link surviving a reload, and a slide from the
slides page used in a new workflow.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow.parquet as pq
import pytest
from playwright.async_api import expect

from tessera.gateway.settings import GatewaySettings
from tests.e2e.a11y import assert_accessible
from tests.e2e.test_ui import DESKTOP, PHONE, new_page, submit_workflow
from tests.integration.dataplane.conftest import blobs_model  # noqa: F401  (fixture)
from tests.integration.gateway.conftest import CMU

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def view_of(url: str) -> dict[str, float]:
    query = parse_qs(urlsplit(url).query)
    return {k: float(query[k][0]) for k in ("zoom", "x", "y") if k in query}


async def settled_view(page: Any) -> dict[str, float]:
    """The viewer's position once it has opened and written it into the URL."""
    await page.locator(".viewer[data-opened]").wait_for()
    await page.wait_for_function("() => new URL(location.href).searchParams.has('zoom')")
    return view_of(page.url)


async def click_the_middle(page: Any, x_um: float) -> Any:
    """Point at the middle of the viewer (its x in µm is read out), click there: the cell panel."""
    viewer = page.get_by_test_id("deep-zoom")
    await viewer.scroll_into_view_if_needed()
    await page.wait_for_load_state("networkidle")
    box = await viewer.bounding_box()
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    cursor = page.get_by_test_id("cursor")
    await cursor.wait_for()
    read = re.match(r"([\d,]+\.\d), [\d,]+\.\d µm", await cursor.inner_text())
    assert read and abs(float(read.group(1).replace(",", "")) - x_um) < 1, read
    await page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    panel = page.locator("[data-testid=cell-panel][data-cell]")
    await panel.wait_for()
    await expect(page.get_by_test_id("cell-outline")).to_be_attached()
    return panel


async def test_measure_cells_in_the_viewer_and_link_to_the_view(
    stack: str,
    browser: Any,
    screenshots: Path,
    settings: GatewaySettings,
    blobs_model: Path,  # noqa: F811
) -> None:
    page = await new_page(browser, DESKTOP)
    await page.goto(f"{stack}/workflows")
    await page.get_by_text("No workflows yet").wait_for()
    tenant = await page.evaluate("localStorage.getItem('tessera.tenant')")
    params = {"model": str(blobs_model), "tile_size": 512, "halo": 64}
    job = {"id": "cells", "type": "cell_segmentation", "slide": CMU, "params": params}
    workflow = await submit_workflow(page, stack, tenant, "cells of CMU", job)
    job_url = f"{stack}/workflows/{workflow}/jobs/cells"
    await page.goto(job_url)
    await page.locator("[data-testid=job-detail][data-state=SUCCEEDED]").wait_for(timeout=240_000)

    # the whole slide in view: every cell of the job counted, a scale bar with magnification
    detail = await page.request.get(
        f"{stack}/v1/workflows/{workflow}/jobs/cells", headers={"X-User-ID": tenant}
    )
    summary = (await detail.json())["summary"]
    await settled_view(page)
    counted = page.locator(f"[data-testid=cells-in-view][data-count='{summary['cell_count']}']")
    await counted.wait_for()
    assert summary["cell_count"] > 100
    await expect(page.get_by_test_id("scale-bar")).to_have_text(
        re.compile(r"^\d+(\.\d+)? (µm|mm)\d+(\.\d+)?\u00d7$")
    )

    # a deep link to a cell: the largest one, in the middle of the view at 2 screen px per px
    cells = pq.read_table(settings.results_root / summary["results"] / "cells.parquet")
    largest = max(cells.to_pylist(), key=lambda row: row["area_px"])
    x, y = largest["centroid_x"], largest["centroid_y"]
    link = f"{job_url}?zoom=2&x={x:.0f}&y={y:.0f}"
    await page.goto(link)
    assert await settled_view(page) == {"zoom": 2, "x": round(x), "y": round(y)}
    panel = await click_the_middle(page, x * 0.499)
    await expect(panel).to_have_attribute("data-cell", str(largest["id"]))
    await expect(panel).to_contain_text(f"{largest['area_um2']:.0f}")
    await expect(panel).to_contain_text("µm²")
    await page.wait_for_function(
        "n => Number(document.querySelector('[data-testid=cells-in-view]')?.dataset.count) < n",
        arg=summary["cell_count"],
    )
    in_view = int(await page.get_by_test_id("cells-in-view").get_attribute("data-count") or 0)
    assert 0 < in_view < summary["cell_count"]
    await assert_accessible(page, "a job with a cell picked (desktop, dark)")
    await page.screenshot(path=str(screenshots / "01-cell-dark.png"), animations="disabled")
    card = page.locator(".viewer-card")
    await card.screenshot(path=str(screenshots / "02-cell-panel-dark.png"), animations="disabled")
    light = await new_page(
        browser, DESKTOP, color_scheme="light", storage_state=await page.context.storage_state()
    )
    await light.goto(link)
    await settled_view(light)
    await click_the_middle(light, x * 0.499)
    await light.locator(".viewer-card").screenshot(
        path=str(screenshots / "02-cell-panel-light.png"), animations="disabled"
    )

    # the overlay switched off, then a reload: the same place, the overlay still off
    await page.get_by_role("button", name="cell contours").click()
    await page.wait_for_function("() => location.search.includes('overlay=off')")
    await page.get_by_role("button", name="Zoom out").click()
    await page.wait_for_function(
        "() => Number(new URL(location.href).searchParams.get('zoom')) < 2"
    )
    before = view_of(page.url)
    await page.reload()
    after = await settled_view(page)
    assert after == pytest.approx(before, abs=1), (before, after)
    await expect(page.get_by_role("button", name="cell contours")).to_have_attribute(
        "aria-pressed", "false"
    )
    assert page.errors == []

    # at phone width, light: the same deep link
    phone = await new_page(
        browser, PHONE, is_mobile=True, has_touch=True, color_scheme="light",
        storage_state=await page.context.storage_state(),
    )  # fmt: skip
    await phone.goto(f"{job_url}?zoom=1&x={x:.0f}&y={y:.0f}")
    await settled_view(phone)
    await phone.locator("[data-testid=cells-in-view][data-count]").wait_for()
    await phone.evaluate("document.querySelector('.viewer-card').scrollIntoView()")
    await phone.wait_for_load_state("networkidle")
    await phone.screenshot(path=str(screenshots / "03-phone-light.png"), animations="disabled")
    assert phone.errors == []


async def test_a_slide_by_its_link_used_in_a_new_workflow(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page = await new_page(browser, DESKTOP, color_scheme="light")
    await page.goto(f"{stack}/slides?slide={CMU}")
    drawer = page.get_by_role("dialog", name=CMU)
    await drawer.locator("[data-testid=deep-zoom] canvas").first.wait_for()
    await expect(drawer.get_by_test_id("scale-bar")).to_contain_text("\u00d7")  # the magnification
    await page.wait_for_load_state("networkidle")
    await page.screenshot(path=str(screenshots / "01-slide-drawer.png"), animations="disabled")
    await page.keyboard.press("Escape")
    await drawer.wait_for(state="detached")
    assert "slide=" not in page.url

    await page.locator(f"[data-slide='{CMU}']").click()
    await page.wait_for_url(re.compile(r"/slides\?slide="))
    await drawer.get_by_role("link", name="Use this slide in a new workflow").click()
    await page.wait_for_url(re.compile(r"/workflows/new\?slide="))
    cards = page.locator("[data-testid=job-card]")
    await expect(cards).to_have_count(2, timeout=30_000)  # a lazy page, on a busy machine
    for k in range(2):
        await expect(cards.nth(k).locator("select[name=slide]")).to_have_value(CMU)
    await expect(page.get_by_label("Workflow name")).to_have_value(f"analysis of {CMU}")
    await page.screenshot(path=str(screenshots / "02-builder-preset.png"), animations="disabled")

    phone = await new_page(browser, PHONE, is_mobile=True, has_touch=True)
    await phone.goto(f"{stack}/slides?slide={CMU}")
    await (
        phone.get_by_role("dialog", name=CMU)
        .locator("[data-testid=deep-zoom] canvas")
        .first.wait_for()
    )
    await phone.wait_for_load_state("networkidle")
    await phone.screenshot(path=str(screenshots / "03-phone-drawer.png"), animations="disabled")
    assert phone.errors == []

    await page.goto(f"{stack}/slides?slide=nope.svs")
    await page.get_by_text("No slide nope.svs for this tenant").wait_for()
    assert page.errors == []
