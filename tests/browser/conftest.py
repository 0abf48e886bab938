"""The gallery in a real browser: Debian's chromium driven by Playwright, against the local cloud.

The gallery server (``localcloud/gallery.py``) runs in this process on a free port, serving the
built site (``make gallery-build``) and the deployed stack's API URL (``make deploy-local``);
``make test-browser`` does both first. The browser is ``/usr/bin/chromium`` from Debian's
``chromium`` package (``make install-browser``): Playwright never downloads one of its own.
Each test step leaves a screenshot in ``test-artifacts/browser/`` (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from localcloud import gallery as gallery_server
from localcloud.outputs import api_url, stack_outputs

# The deployed API as the integration tests call it (to make images faster than a browser would).
from tests.integration.conftest import deployed_api, outputs

__all__ = ["deployed_api", "outputs"]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "browser"


@pytest.fixture(scope="session")
def api() -> str:
    return api_url(stack_outputs(gallery_server.OUTPUTS))


@pytest.fixture(scope="session")
def gallery() -> Iterator[gallery_server.GalleryServer]:
    if not (gallery_server.SITE / "index.html").is_file():
        pytest.fail("the gallery is not built: run `make gallery-build` (make test-browser does)")
    server = gallery_server.build_server(0)
    gallery_server.serve_in_thread(server)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install-browser` (make test-browser does)")
    with sync_playwright() as playwright:
        # Root (as in CI) cannot use chromium's user-namespace sandbox.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


class Steps:
    """Numbered screenshots of one test, named after what each step shows."""

    def __init__(self, page: Page, folder: Path) -> None:
        self._page = page
        self._folder = folder
        self._count = 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()

    def shot(self, name: str) -> None:
        self._count += 1
        self._page.screenshot(path=str(self._folder / f"{self._count:02d}-{name}.png"), full_page=True)


@pytest.fixture
def problems() -> list[str]:
    """What the page complained about: uncaught script errors and resources the security policy blocked."""
    return []


@pytest.fixture
def page(browser: Browser, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    yield page
    context.close()


@pytest.fixture
def steps(page: Page, request: pytest.FixtureRequest) -> Steps:
    return Steps(page, SCREENSHOTS / re.sub(r"[^A-Za-z0-9_-]+", "_", request.node.name))
