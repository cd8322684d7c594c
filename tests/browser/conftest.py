"""Browser harness: a real ``jupyter lab`` subprocess, and Debian's Chromium driven by Playwright.

Fixtures: ``lab_server`` (one server for the session, serving ``lab_root``),
``page`` (a fresh Chromium page), ``browser_log``, ``screenshots`` and
``write_project``. Helpers to start more servers and drive the page live in
``lab_harness``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from lab_harness import CHROMIUM, CHROMIUM_FLAGS, BrowserLog, LabServer, run_lab

if TYPE_CHECKING:
    from playwright.sync_api import Page


def shared_fixtures(config: pytest.Config) -> Any:
    """The already loaded ``tests/conftest.py`` (for ``write_project``)."""
    module = config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    if module is None:
        pytest.fail("tests/conftest.py was not loaded; run pytest from the repository root")
    return module


@pytest.fixture(scope="session")
def write_project(pytestconfig: pytest.Config) -> Callable[..., Path]:
    """``tests/conftest.py``'s ``write_project(folder, name)``: a small hand-made project."""
    function: Callable[..., Path] = shared_fixtures(pytestconfig).write_project
    return function


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the session's ``jupyter lab`` serves; tests add their projects to it."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory: pytest.TempPathFactory, lab_root: Path) -> Iterator[LabServer]:
    """One ``jupyter lab`` with jellycell-jupyter enabled, for the whole session."""
    with run_lab(tmp_path_factory.mktemp("lab-home"), lab_root) as server:
        yield server


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests save screenshots: ``$JELLYCELL_SCREENSHOTS``, or a folder of the test run."""
    chosen = os.environ.get("JELLYCELL_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser_log() -> BrowserLog:
    """The console errors and uncaught exceptions of the test's page."""
    return BrowserLog()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can tell a failed test."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(
    request: pytest.FixtureRequest, tmp_path: Path, browser_log: BrowserLog, screenshots: Path
) -> Iterator[Page]:
    """A Chromium page from Debian's browser with an empty profile, downloads allowed.

    When the test fails, the page's last state is saved as ``FAILED-<test>.png``
    in the screenshots folder.
    """
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get update && apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            downloads_path=str(tmp_path / "downloads"),
        )
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 800}, accept_downloads=True
            )
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.on(
                "console",
                lambda message: (
                    browser_log.console_errors.append(message.text)
                    if message.type == "error"
                    else None
                ),
            )

            def page_error(error: Any) -> None:
                browser_log.page_errors.append(str(error))
                browser_log.page_error_stacks.append(error.stack or "")

            page.on("pageerror", page_error)
            yield page
            failed = getattr(request.node, "report_call", None)
            if failed is not None and failed.failed:
                page.screenshot(path=str(screenshots / f"FAILED-{request.node.name}.png"))
            context.close()
        finally:
            browser.close()
