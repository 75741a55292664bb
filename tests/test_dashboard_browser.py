"""End to end in a real browser: `streamlit run dashboard.py` on 127.0.0.1 over the committed
reference results, driven by Playwright with Debian's Chromium (headless). Each view is chosen
in the view selector, waited for, checked for Streamlit exception elements and for log axes
that span orders of magnitude more than their data (as drawn: plotly.js's own ranges), and
screenshotted whole (to tmp, or to $SWARM_BENCH_SCREENSHOTS as 128-colour PNGs: that is how
docs/*.png are made); choosing one puts its name in the URL. On Scaling it clicks a measured
point, checks its summary, opens its record in the Point view and checks that renders; a
`?view=Point&point=<id>` link opens the same record.

It also prints how long the first load and each widget change took until the page was drawn
again (a benchmark for the reader, never asserted: the tests do not depend on machine speed).

Skipped, with the reason, where Chromium or Playwright is not installed (.ci/run installs
both: `apt-get install chromium`, `pip install playwright`)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from harness.measure.env import REPO_ROOT
from tests.limits import limit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
VIEWS = {  # view -> text that shows once it has drawn
    "Scaling": "vs length, forward", "Encoders": "vs encoder count", "Decode": "vs context", "Quality": "mqar",
    "Efficiency": "quality vs cost", "Runs": "environment of each run", "History": "by commit",
    "Achieved vs limit": "achieved model FLOP/s", "Claims": "Verdicts come from the selected points",
    "Table": "download CSV", "Point": "Choose a point above",
}
LOG_AXES = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => {
  const layout = gd._fullLayout, out = [];
  for (const name of Object.keys(layout).filter(k => /^[xy]axis\\d*$/.test(k) && layout[k].type === 'log')) {
    const letter = name[0], id = letter + name.slice(5);
    const values = gd._fullData.filter(t => (t[letter + 'axis'] || letter) === id)
      .flatMap(t => Array.from(t[letter] || [])).filter(v => typeof v === 'number' && v > 0);
    if (values.length) out.push({title: (layout.title || {}).text, axis: name, range: layout[name].range,
                                 lo: Math.log10(Math.min(...values)), hi: Math.log10(Math.max(...values))});
  }
  return out;
})"""  # every log axis of the page as drawn: its range and its data's, in decades

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
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=limit(120_000))
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=limit(120_000))


def _timed(page, action, drawn: str) -> float:
    """Seconds from `action` until the text `drawn` shows and the script is idle again."""
    start = time.perf_counter()
    action()
    page.get_by_text(drawn).first.wait_for(timeout=limit(120_000))
    _wait_idle(page)
    return time.perf_counter() - start


def _choose(page, group: str, option: str):
    return lambda: page.get_by_role("radiogroup", name=group).get_by_text(option, exact=True).click()


def _check_axes(page, view: str) -> None:
    """No log axis spans more than a decade beyond its data on either side (a marker placed in
    the wrong units once stretched one to 10^288)."""
    for axis in page.evaluate(LOG_AXES):
        lo, hi = axis["range"]
        assert axis["lo"] - 1 <= lo and hi <= axis["hi"] + 1, (view, axis)


def _screenshot(page, path: Path, quantize: bool) -> None:
    """The whole page (the viewport stretched to the content, up to 3000 px), as 128 colours
    with `quantize` (PIL): the docs' screenshots stay small."""
    height = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight")
    page.set_viewport_size({"width": 1400, "height": max(900, min(height + 120, 3000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    if quantize:
        from PIL import Image

        Image.open(path).convert("RGB").quantize(colors=128).save(path, optimize=True)


def _click_a_point(page) -> None:
    """Click the fourth measured marker of the first chart, as a user would."""
    chart = page.locator(".js-plotly-plot").first
    chart.scroll_into_view_if_needed()
    box = chart.locator(".subplot.xy .scatterlayer .trace .points path").nth(3).bounding_box()  # not the status row
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def test_dashboard_in_chromium(dashboard_url, tmp_path, capsys):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install playwright)")
    shots = Path(os.environ.get("SWARM_BENCH_SCREENSHOTS") or tmp_path)
    quantize = bool(os.environ.get("SWARM_BENCH_SCREENSHOTS")) and importlib.util.find_spec("PIL") is not None
    shots.mkdir(parents=True, exist_ok=True)
    timings = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        timings.append(("first load (Scaling)", _timed(page, lambda: page.goto(dashboard_url), VIEWS["Scaling"])))
        timings.append(("Scaling: metric -> peak memory (first time)",
                        _timed(page, _choose(page, "metric", "peak memory (MiB; GPU allocated, else host RSS)"),
                               "peak memory (MiB; GPU allocated, else host RSS) vs length")))
        timings.append(("Scaling: metric -> latency (cached)",
                        _timed(page, _choose(page, "metric", "latency per step, median (ms)"),
                               "latency per step, median (ms) vs length")))
        timings.append(("Scaling: click a point -> its summary", _timed(page, lambda: _click_a_point(page),
                                                                        "open its full record")))
        shown = page.locator("[data-testid='stMain']").inner_text()
        assert "python run.py suite=scaling" in shown and "scaling · " in shown  # the point's label and command
        timings.append(("open its full record (Point view)",
                        _timed(page, lambda: page.get_by_role("button", name="open its full record").first.click(),
                               "Measure it again")))
        key = parse_qs(urlparse(page.url).query)["point"][0]
        assert parse_qs(urlparse(page.url).query)["view"] == ["Point"] and key.startswith(("scaling/", "h200/"))
        main = page.locator("[data-testid='stMain']")
        assert "python run.py suite=scaling" in main.inner_text() and "timing samples" in main.inner_text()
        main.locator(".main-svg").first.wait_for(timeout=limit(30_000))  # the samples' histogram drew
        assert page.locator("[data-testid='stException']").count() == 0, "exception in the Point view"
        timings.append(("a ?view=Point&point= link (a fresh page)",
                        _timed(page, lambda: page.goto(f"{dashboard_url}/?view=Point&point={key}"),
                               "Measure it again")))
        assert page.locator("[data-testid='stException']").count() == 0 and key in page.url.replace("%2F", "/")
        _screenshot(page, shots / "dashboard_point.png", quantize)
        page.goto(dashboard_url)
        _wait_idle(page)
        for view, drawn in VIEWS.items():
            timings.append((f"view -> {view} (first time)", _timed(page, _choose(page, "view", view), drawn)))
            panel = page.locator("[data-testid='stMain']")
            if view not in ("Runs", "Claims", "Table", "Point"):
                panel.locator(".main-svg").first.wait_for(timeout=limit(30_000))  # a plotly chart drew
            assert page.locator("[data-testid='stException']").count() == 0, f"exception in view {view}"
            assert parse_qs(urlparse(page.url).query).get("view", ["Scaling"]) == [view], page.url  # a link to it
            _check_axes(page, view)
            if view != "Point":  # its screenshot shows a record, above
                _screenshot(page, shots / f"dashboard_{view.lower().replace(' ', '_')}.png", quantize)
            if view == "History":
                timings.append(("History: against -> date (first time)",
                                _timed(page, _choose(page, "against", "date"), "by date")))
                _screenshot(page, shots / "dashboard_history_by_date.png", quantize)
                timings.append(("History: against -> commit (cached)",
                                _timed(page, _choose(page, "against", "commit"), VIEWS["History"])))
        for view in ("Scaling", "Claims", "Runs"):
            timings.append((f"view -> {view} (cached)", _timed(page, _choose(page, "view", view), VIEWS[view])))
        browser.close()
    assert {f"dashboard_{v.lower().replace(' ', '_')}.png" for v in VIEWS} <= {p.name for p in shots.glob("*.png")}
    with capsys.disabled():  # the benchmark, printed (not asserted)
        print(f"\ndashboard over results/reference in Chromium ({os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}):")
        for what, seconds in timings:
            print(f"  {what:48s} {seconds:6.2f} s")
