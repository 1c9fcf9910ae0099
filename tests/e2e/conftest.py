"""The whole stack for a browser: gateway (serving the built UI) on a real port, projector,
scheduler and data plane in this process, and a headless Chromium driven by Playwright.

Chromium is the system's (`apt-get install chromium`; `.ci/run` installs it), never a download.
Without it or without a UI build (`make ui`) the tests skip, except under CI where they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tessera.gateway.app import create_app
from tessera.gateway.settings import GatewaySettings
from tessera.settings import REPO_ROOT
from tests.integration.dataplane.conftest import (  # noqa: F401  (fixtures)
    DataPlane,
    _one_torch_thread,
    dataplane,
    dp_base,
)
from tests.integration.gateway.conftest import serve_in_thread

UI_DIST = REPO_ROOT / "ui" / "dist"
SCREENSHOTS = Path(os.environ.get("TESSERA_E2E_SCREENSHOTS", REPO_ROOT / ".state" / "e2e"))


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        _missing("no chromium on PATH (apt-get install -y chromium)")
    assert path is not None
    return path


@pytest.fixture(scope="session")
def ui_dist() -> Path:
    if not (UI_DIST / "index.html").is_file():
        _missing("the UI is not built (make ui)")
    return UI_DIST


@pytest.fixture
def screenshots(request: pytest.FixtureRequest) -> Path:
    folder = SCREENSHOTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@pytest.fixture
async def stack(
    settings: GatewaySettings,
    ui_dist: Path,
    projector: object,
    scheduler: object,
    dataplane: DataPlane,  # noqa: F811
) -> AsyncIterator[str]:
    """Everything a workflow needs to run to the end; yields the gateway's base URL."""
    await dataplane.merger(progress_interval_s=0.2)
    await dataplane.inference()
    await dataplane.tiler()
    with serve_in_thread(create_app(settings.model_copy(update={"ui_dir": ui_dist}))) as url:
        yield url


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield browser
        finally:
            await browser.close()
