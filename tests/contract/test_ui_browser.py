"""/ui in a real browser: Debian's headless Chromium, driven by playwright, logs in with a key,
watches a running job's bar grow without a reload, and sees the job complete."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from ui_helpers import ALPHA, batch_lines, dashboard_server, start_batch

CHROMIUM = Path("/usr/bin/chromium")
HOW = ("the dashboard's browser test needs Debian's Chromium and playwright: "
       "`apt-get install chromium` and `pip install -e '.[test]'`")

try:
    from playwright.sync_api import Locator, sync_playwright
except ImportError:
    pytest.skip(f"playwright is not installed; {HOW}", allow_module_level=True)
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing; {HOW}", allow_module_level=True)

RECORDS = 16
LATENCY_MS = 300  # a record at a time: the job runs for about five seconds


def width(bar: Locator) -> float:
    box = bar.bounding_box()
    assert box is not None
    return float(box["width"])


def test_a_running_jobs_bar_grows_until_the_job_completes(tmp_path: Path) -> None:
    with dashboard_server(tmp_path, LATENCY_MS) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{server.url}/ui/")
            assert page.url == f"{server.url}/ui/login"
            page.fill("#token", ALPHA.token)
            page.click("form.login button")
            page.wait_for_url(f"{server.url}/ui/")

            job = start_batch(server, ALPHA, batch_lines(RECORDS, "gpt-4o-mini"))
            row = page.locator(f'tr[data-job="{job}"]')
            row.wait_for(timeout=10_000)  # the page's script adds the new job's row
            track, done = row.locator("rect.track"), row.locator('[data-bar="success"]')
            failed = row.locator('[data-bar="errors"]')
            seen: list[float] = []
            deadline = time.monotonic() + 30
            while row.locator('[data-field="status"]').inner_text() != "Completed":
                assert time.monotonic() < deadline, f"still {seen} after 30 s"
                seen.append(width(done))
                time.sleep(0.25)
            full = width(track)
            assert any(0 < w < full for w in seen), f"never part-way: {seen} of {full}"
            assert seen == sorted(seen), f"the bar went back: {seen}"
            assert width(done) + width(failed) == pytest.approx(full, abs=1)
            assert row.locator('[data-field="progress_text"]').inner_text() == (
                f"{RECORDS + 1} / {RECORDS + 1}, 1 failed")

            row.locator("a[data-link]").click()
            page.wait_for_url(f"{server.url}/ui/jobs/{job}")
            assert page.locator(".detail [data-field=status]").inner_text() == "Completed"
            assert page.locator(".outputs a").count() == 2  # the output and the error file
            assert "messages must be a list" in page.locator(".error-lines").inner_text()
        finally:
            browser.close()
