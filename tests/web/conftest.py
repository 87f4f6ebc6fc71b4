"""The web pages in a real browser: Debian's chromium driven by Playwright, against `registry up`.

Every page a test opens goes through `look`: a screenshot under `screenshots/` (kept out of
the repository) and an axe-core accessibility check that fails on serious or critical findings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import bearer_session
from tests.servers import running_registry_up

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
AXE = ROOT / "build" / "web-tests" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Bounds of the browser's waits: a page or click, and a conversion seen from the page.
PAGE_TIMEOUT_MS = 20_000
CONVERSION_TIMEOUT_MS = 300_000
PHONE = {"width": 390, "height": 844}


@dataclass
class RunningRegistry:
    url: str
    admin_token: str

    def page(self, path: str) -> str:
        return self.url + path


@pytest.fixture(scope="session")
def registry_up(tmp_path_factory) -> Iterator[RunningRegistry]:
    data_dir = tmp_path_factory.mktemp("web") / "data"
    with running_registry_up(data_dir, log=data_dir.parent / "registry-up.log") as (url, _):
        yield RunningRegistry(url, (data_dir / "admin.token").read_text().strip())


@pytest.fixture(scope="session")
def api(registry_up):
    """The REST API as a script would call it, with the admin token."""
    return bearer_session(registry_up.admin_token)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    assert AXE.exists(), "axe-core is missing: `npm install --prefix build/web-tests axe-core`"
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh temporary --user-data-dir of its own.
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()


def new_context(browser: Browser, **options) -> BrowserContext:
    context = browser.new_context(accept_downloads=True, **options)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    return context


def sign_in(page: Page, registry: RunningRegistry, token: str) -> None:
    page.goto(registry.page("/ui/sign-in"))
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/ui/$"))


@pytest.fixture(scope="session")
def admin(browser, registry_up) -> Iterator[Page]:
    """A page signed in with the admin token, shared by the tests (one browser session)."""
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, registry_up, registry_up.admin_token)
    yield page
    context.close()


def look(page: Page, name: str) -> None:
    """Save a screenshot of the page and fail on serious or critical axe-core violations."""
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("async () => (await axe.run(document)).violations")
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
    assert not serious, f"{name}: {serious}"


@pytest.fixture(scope="session")
def keras_sample(tmp_path_factory):
    from registry.testing.tf_samples import build_keras_model

    return build_keras_model(tmp_path_factory.mktemp("keras"))


@pytest.fixture(scope="session")
def int8_breaking_sample(tmp_path_factory):
    """A Keras model whose int8 variant fails parity: its version can't be promoted."""
    from registry.testing.tf_samples import build_outlier_weight_keras

    return build_outlier_weight_keras(tmp_path_factory.mktemp("outlier"))


@dataclass
class Uploaded:
    """The Keras model uploaded through the form, as the browser saw it become ready."""

    version_url: str
    reloaded: bool


@pytest.fixture(scope="session")
def uploaded(admin, registry_up, keras_sample) -> Uploaded:
    page = admin
    page.goto(registry_up.page("/ui/upload"))
    look(page, "upload-name")
    page.get_by_label("Model name").fill("two-by-two")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Model file").set_input_files(str(keras_sample.path))
    look(page, "upload-form")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r"/ui/models/two-by-two/versions/1$"))
    look(page, "version-converting")
    # Marks this document: a reload or navigation would lose the mark.
    page.evaluate("window.sameDocument = true")
    page.locator("#version-status").get_by_text(re.compile("ready|failed")).wait_for(
        timeout=CONVERSION_TIMEOUT_MS
    )
    reloaded = not page.evaluate("window.sameDocument === true")
    return Uploaded(page.url, reloaded)
