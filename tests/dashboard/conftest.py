"""A headless Chromium (the system's, driven by Selenium) and the loopback cluster of tests/integration.

The browser is Debian's ``chromium`` with its ``chromium-driver``; nothing is downloaded (Selenium
Manager stays offline). ``make test`` installs both with apt when they are missing and it runs as
root; otherwise these tests skip and say what to install.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import cluster, make_proxy  # noqa: F401  (the fixtures, shared)

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
DRIVER = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    found = [p for p in paths if os.access(p, os.X_OK)]
    return found[0] if found else shutil.which(name)


@pytest.fixture(scope="session")
def browser_paths() -> tuple[str, str]:
    binary, driver = _first(CHROMIUM, "chromium"), _first(DRIVER, "chromedriver")
    if binary is None or driver is None:
        pytest.skip("no system Chromium/chromedriver: `apt-get install -y chromium chromium-driver` "
                    "(make test does it when run as root)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("selenium is not installed: pip install -r requirements.lock (or the test extra)")
    return binary, driver


@pytest.fixture
def browser(browser_paths: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager fetch a browser or driver
    binary, driver = browser_paths
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,2400", "--no-first-run", "--disable-extensions"):
        opts.add_argument(arg)
    d = webdriver.Chrome(options=opts, service=Service(executable_path=driver))
    try:
        yield d
    finally:
        d.quit()


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    """Where screenshots go: $TIERROUTE_ARTEFACTS when set (CI keeps it), else the test's tmp dir."""
    out = Path(os.environ.get("TIERROUTE_ARTEFACTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    return out
