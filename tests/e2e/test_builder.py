"""The builder's problems in a real headless Chromium against the real stack: each is shown once,
next to what it names, in the form and in JSON mode.

Screenshots land in `.state/e2e/<test>/` (TESSERA_E2E_SCREENSHOTS to move them).
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.test_ui import DESKTOP, PHONE, SMALL_SLIDE, new_page

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def spec(*jobs: dict[str, Any], name: str = "e2e: builder problems") -> str:
    return json.dumps({"name": name, "jobs": list(jobs)}, indent=2)


def synthetic(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "type": "synthetic", "params": {"tiles": 4}, **fields}


async def json_mode(page: Any, stack: str, text: str) -> Any:
    await page.goto(f"{stack}/workflows/new")
    await page.locator("[data-testid=job-card]").first.wait_for()
    await page.get_by_role("tab", name="JSON").click()
    editor = page.get_by_label("Workflow JSON")
    await editor.fill(text)
    return editor


def overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


async def test_a_refused_slide_is_marked_on_its_job_in_json_mode_and_in_the_form(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page = await new_page(browser, DESKTOP)
    cards = page.locator("[data-testid=problem-card]")
    submit = page.get_by_role("button", name="Submit workflow")

    # JSON mode: the gateway refuses a slide it does not have; a card names the job
    mask = {"id": "mask", "type": "tissue_mask", "branch": "qc", "slide": "nope.svs"}
    editor = await json_mode(page, stack, spec(synthetic("load"), mask))
    await expect(cards).to_have_count(0)
    await submit.click()
    card = cards.filter(has_text="nope.svs")
    await expect(card).to_have_attribute("data-job", "mask")
    await expect(card).to_contain_text("mask")
    await expect(card).to_contain_text("slide: no such file under the data root")
    await expect(cards).to_have_count(1)
    await expect(page.get_by_text("its reasons are shown next to the jobs")).to_be_visible()
    await page.screenshot(
        path=str(screenshots / "01-json-refused-slide.png"), animations="disabled"
    )

    # the form: the same refusal at that job's slide field, and only there
    await page.get_by_role("tab", name="Form").click()
    job = page.locator("[data-testid=job-card][data-job=mask]")
    await expect(job.locator("[name=slide]")).to_have_attribute("aria-invalid", "true")
    await expect(job.locator("[data-testid=field-problem]")).to_have_text(
        "no such file under the data root (nope.svs)"
    )
    await expect(page.locator("[data-testid=job-card].has-error")).to_have_count(1)
    await expect(page.get_by_text("no such file under the data root")).to_have_count(1)
    await job.scroll_into_view_if_needed()
    await page.screenshot(
        path=str(screenshots / "02-form-refused-slide.png"), animations="disabled"
    )

    # another tenant's upload reads as missing; editing the job clears the old refusal at once
    other = f"uploads/{uuid.uuid4()}/a.svs"
    await page.get_by_role("tab", name="JSON").click()
    await editor.fill((await editor.input_value()).replace("nope.svs", other))
    await expect(cards).to_have_count(0)
    await submit.click()
    await expect(cards.filter(has_text=other)).to_have_attribute("data-job", "mask")

    # refused from the form too: the card stays marked until its slide is changed
    await page.get_by_role("tab", name="Form").click()
    await expect(job.locator("[data-testid=field-problem]")).to_contain_text(other)
    async with page.expect_response(lambda r: r.url.endswith("/v1/workflows")) as answer:
        await submit.click()
    assert (await answer.value).status == 422
    await expect(job.locator("[data-testid=field-problem]")).to_contain_text(other)
    await job.locator("select[name=slide]").select_option(SMALL_SLIDE)
    await expect(job.locator("[name=slide]")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator("[data-testid=job-card].has-error")).to_have_count(0)
    await submit.click()
    await page.wait_for_url(re.compile(r"/workflows/[0-9a-f-]{36}$"))
    assert page.errors == []

    phone = await new_page(browser, PHONE, is_mobile=True, has_touch=True, color_scheme="light")
    await json_mode(phone, stack, spec(synthetic("load"), mask))
    await phone.get_by_role("button", name="Submit workflow").click()
    await phone.locator("[data-testid=problem-card][data-job=mask]").wait_for()
    await phone.screenshot(
        path=str(screenshots / "03-phone-json-refused-slide.png"), full_page=True
    )
    await phone.get_by_role("tab", name="Form").click()
    await phone.locator(
        "[data-testid=job-card][data-job=mask] [data-testid=field-problem]"
    ).wait_for()
    await phone.screenshot(
        path=str(screenshots / "04-phone-form-refused-slide.png"), full_page=True
    )
    assert phone.errors == []


async def test_a_cycle_is_named_once_beside_the_preview_and_broken_json_leaves_nothing_stale(
    stack: str, browser: Any, screenshots: Path
) -> None:
    page = await new_page(browser, DESKTOP, color_scheme="light")
    cycle = page.get_by_text(re.compile("cycle"))
    problems = page.locator("[data-testid=workflow-problems]")
    dag = page.locator("[data-testid=dag]")

    # a -> b -> a: said once, naming the jobs, beside the graph and not over it
    a, b = synthetic("a", depends_on=["b"]), synthetic("b", depends_on=["a"])
    editor = await json_mode(page, stack, spec(a, b, synthetic("c")))
    await expect(problems).to_have_text(
        re.compile(r"^the dependencies form a cycle: (a -> b -> a|b -> a -> b)$")
    )
    await expect(cycle).to_have_count(1)
    await expect(page.locator(".dag__warning")).to_have_count(0)
    await expect(dag.locator(".dag-node")).to_have_count(3)
    await expect(dag.locator(".dag-node.has-problem")).to_have_count(2)
    assert not overlaps(await problems.bounding_box(), await dag.bounding_box())

    # the gateway's refusal of the same cycle: still said once
    await page.get_by_role("button", name="Submit workflow").click()
    await expect(page.get_by_text("dependency cycle")).to_have_count(0)
    await expect(cycle).to_have_count(1)
    await page.screenshot(path=str(screenshots / "01-json-cycle.png"), animations="disabled")

    # a job's own problem on a card that names it
    text = spec(a, b, synthetic("c", params={"tiles": 0}))
    await editor.fill(text)
    await expect(page.locator("[data-testid=problem-card]")).to_have_count(1)
    await expect(page.locator("[data-testid=problem-card][data-job=c]")).to_contain_text(
        "params.tiles: at least 1"
    )
    await expect(cycle).to_have_count(1)

    # broken JSON: only where it breaks; no stale problems, no stale graph
    await editor.fill(text.replace('"b",', '"b"', 1))
    await expect(page.locator("[data-testid=json-problem]")).to_have_text(
        re.compile(r"^Line 16, column 7: expected ',' or '}', found '\"'$")
    )
    await page.get_by_role("button", name="Line 16, column 7").click()  # the caret goes there
    assert await editor.evaluate("e => e.value.slice(e.selectionStart, e.selectionStart + 6)") == (
        '"type"'
    )
    await expect(problems).to_have_count(0)
    await expect(page.locator("[data-testid=problem-card]")).to_have_count(0)
    await expect(page.locator(".dag-node")).to_have_count(0)
    await expect(page.get_by_text("Fix the JSON to see the graph")).to_be_visible()
    await expect(page.get_by_role("button", name="Submit workflow")).to_be_disabled()
    await page.get_by_role("tab", name="Form").click()  # not from JSON that cannot be read
    await expect(editor).to_be_visible()
    await page.screenshot(path=str(screenshots / "02-json-broken.png"), animations="disabled")

    # mended: the problems and the graph follow the text again
    await editor.fill(text)
    await expect(cycle).to_have_count(1)
    await expect(dag.locator(".dag-node")).to_have_count(3)

    # the form says the same, once: the cycle beside the graph, the parameter at its field
    await page.get_by_role("tab", name="Form").click()
    await expect(cycle).to_have_count(1)
    job_c = page.locator("[data-testid=job-card][data-job=c]")
    await expect(job_c.locator("input[name=tiles]")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_text("at least 1", exact=True)).to_have_count(1)
    await page.screenshot(path=str(screenshots / "03-form-cycle.png"), animations="disabled")
    assert page.errors == []

    phone = await new_page(browser, PHONE, is_mobile=True, has_touch=True)
    await json_mode(phone, stack, text)
    phone_problems = phone.locator("[data-testid=workflow-problems]")
    await phone_problems.wait_for()
    phone_dag = phone.locator("[data-testid=dag]")
    assert not overlaps(await phone_problems.bounding_box(), await phone_dag.bounding_box())
    await phone.screenshot(path=str(screenshots / "04-phone-json-cycle.png"), full_page=True)
    assert phone.errors == []
