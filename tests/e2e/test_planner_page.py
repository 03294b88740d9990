"""The planner dashboard in a real browser (Debian's headless Chromium) over the demo city:
hexagons, flows and totals drawn, nothing fetched from outside, a screenshot kept."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import requests

from tests.e2e.conftest import HTTP_TIMEOUT_S, running_demo
from tests.servers import missing

ARTIFACTS = Path(os.environ.get("GREENPOINTS_TEST_ARTIFACTS") or "test-artifacts")
BROWSER_TIMEOUT_S = 120


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        missing("Chromium (apt-get install chromium)")
    return found  # type: ignore[return-value]


def _browse(browser: str, url: str, *extra: str) -> str:
    done = subprocess.run(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1400,1000", "--virtual-time-budget=20000", *extra, url],
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_dashboard_shows_the_demo_citys_hexagons_and_flows(tmp_path):
    browser = _chromium()
    # Three days, ending yesterday in the city, hold a weekday whatever day the test runs:
    # weekend rides spread thinner than commutes, and two weekend days alone leave every
    # start atom under k riders (all suppressed).
    with running_demo(tmp_path, days=3, riders=1500) as (base_url, var_dir, *_):
        planner = json.loads((var_dir / "credentials.json").read_text())["planner"]
        access = requests.post(
            f"{base_url}/v1/oauth/token",
            timeout=HTTP_TIMEOUT_S,
            data={"grant_type": "client_credentials", **planner},
        ).json()["access_token"]
        page = f"{base_url}/planner#token={access}"
        dom = _browse(browser, page, "--dump-dom")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "planner.png"
        _browse(browser, page, f"--screenshot={shot.resolve()}")

    cells = int(re.search(r'id="map"[^>]*data-cells="(\d+)"', dom).group(1))
    flows = int(re.search(r'id="map"[^>]*data-flows="(\d+)"', dom).group(1))
    shown = len(re.findall(r'class="cell"', dom))
    assert cells > 20 and shown > 10 and flows > 0, re.search(r'id="status">([^<]*)', dom)
    assert "suppressed" in re.search(r'id="status">([^<]*)<', dom).group(1)
    assert re.search(r"<dt>trips</dt><dd>[\d,]+</dd>", dom)
    assert 'class="mode"' in dom  # mode share bars
    assert not re.search(r'(src|href)="https?://', dom)  # nothing from outside
    assert shot.stat().st_size > 20_000  # a drawn map, not a blank page
