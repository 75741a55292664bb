"""End to end in a real browser: `streamlit run dashboard.py` on 127.0.0.1 over the committed
reference results, driven by Playwright with Debian's Chromium (headless). Each tab is opened,
waited for, checked for Streamlit exception elements and screenshotted (to tmp, or to
$SWARM_BENCH_SCREENSHOTS: that is how docs/*.png are made).

Skipped, with the reason, where Chromium or Playwright is not installed (.ci/run installs
both: `apt-get install chromium`, `pip install playwright`)."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from harness.measure.env import REPO_ROOT
from tests.limits import limit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TABS = ("Scaling", "Encoders", "Quality", "Efficiency", "Runs", "Achieved vs limit", "Claims", "Table")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (apt-get install chromium)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dashboard_url():
    port = _free_port()
    env = {**os.environ, "SWARM_BENCH_RESULTS": str(REPO_ROOT / "results" / "reference")}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + limit(60)
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"streamlit did not come up: {server.stdout.read() if server.poll() is not None else ''}")
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=limit(20))


def _wait_idle(page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=limit(60_000))
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=limit(60_000))


def test_dashboard_in_chromium(dashboard_url, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    shots = Path(os.environ.get("SWARM_BENCH_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(dashboard_url)
        _wait_idle(page)
        for tab in TABS:
            page.get_by_role("tab", name=tab).click()
            _wait_idle(page)
            panel = page.locator("[role='tabpanel']:visible")
            if tab not in ("Runs", "Claims", "Table"):
                panel.locator(".main-svg").first.wait_for(timeout=limit(30_000))  # a plotly chart drew
            assert page.locator("[data-testid='stException']").count() == 0, f"exception on tab {tab}"
            name = tab.lower().replace(" ", "_")
            page.screenshot(path=str(shots / f"dashboard_{name}.png"), full_page=True)
        browser.close()
    assert len(list(shots.glob("dashboard_*.png"))) == len(TABS)
