"""The web page in headless Chromium, following a real render on the session's local Ray.

The sequence is submitted before the farm has any node, so the page is seen
with nothing rendered; then the nodes start and the same page (never
reloaded) must show every shot rendered with its thumbnail, every cut's
verdict with its two boundary thumbnails, and the cost, all pushed over
server-sent events. Chromium is Debian's (/usr/bin/chromium); Playwright
never downloads a browser. Missing Chromium or Playwright is a skip here and
a failure in CI.
"""

from __future__ import annotations

import io
import os
import re
import shutil

import httpx
import pytest
import ray
from PIL import Image

from orchestrator.api.farm import RayFarm
from orchestrator.config.settings import FarmSettings
from orchestrator.coordinator.actor import CoordinatorActor
from orchestrator.interfaces.embedded import LOG_NAME
from orchestrator.interfaces.sdk import Client
from tests.api.support import DEMO, bearer, build_app, serving
from tests.builders import shot, spec

try:
    from playwright import sync_api
except ImportError:  # reported by _need, a failure in CI
    sync_api = None

pytestmark = [pytest.mark.ray, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = {"sh010": 2, "sh020": 2, "sh030": 1}  # chunks each, at 4 frames a chunk
SID = "demo:sq010"
LONG = 240_000  # ms; a bound on waiting for the render, not a timing assertion


def _need(what: str, present: bool) -> None:
    if not present:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is required in CI")
        pytest.skip(f"{what} is not available here")


@pytest.fixture(scope="module")
def farm(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("web")
    coordinator = (
        ray.remote(CoordinatorActor)
        .options(num_cpus=0, max_concurrency=64)
        .remote(str(out / LOG_NAME), str(out), FarmSettings(chunk_frames=4))
    )
    app = build_app(out, RayFarm(coordinator, timeout=120))
    try:
        with serving(app) as url:
            yield {"url": url, "coordinator": coordinator, "started": False}
    finally:
        ray.get(coordinator.shutdown.remote(), timeout=60)
        ray.kill(coordinator)  # its nodes go with it


def _submit(url: str) -> None:
    body = spec(
        shot("sh010", 1001, 1008),
        shot("sh020", 1009, 1014, angle=60),
        shot("sh030", 1015, 1018, angle=120),
        resolution=[64, 36],
    )
    with httpx.Client(base_url=url, headers=bearer(DEMO)) as c:
        assert c.post("/v1/sequences", json=body).status_code in (200, 201)


def _start_nodes(farm: dict) -> None:
    if not farm["started"]:
        ray.get(farm["coordinator"].start.remote(2, 0), timeout=180)
        farm["started"] = True


def test_the_page_follows_a_render_live_from_nothing_to_the_master(farm, tmp_path):
    _need("Chromium", shutil.which(CHROMIUM) is not None)
    _need("Playwright", sync_api is not None)
    url = farm["url"]
    _submit(url)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1100})
        expect = sync_api.expect
        expect.set_options(timeout=30_000)  # a loaded machine: a bound, not a timing assertion
        page.goto(url)
        page.fill("#token", DEMO)
        page.click("#auth button[type=submit]")
        row = page.get_by_test_id("sequence-row")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(SID)
        row.get_by_role("link").click()

        # Nothing rendered yet: the farm has no nodes.
        expect(page.locator("#seq-title")).to_have_text(SID)
        expect(page.locator("#seq-status")).to_have_text("rendering")
        cards = page.get_by_test_id("shot-card")
        expect(cards).to_have_count(len(SHOTS))
        for name, chunks in SHOTS.items():
            expect(page.locator(f'[data-shot="{name}"] [data-testid=chunks]')).to_have_text(f"0/{chunks} chunks")
        expect(page.get_by_test_id("cut")).to_have_count(2)
        expect(page.locator('[data-testid=cut][data-status="pending"]')).to_have_count(2)
        expect(page.locator("#seq-cost")).to_have_text("$0")
        expect(page.locator("#live")).to_have_text("live")
        page.evaluate("window.__sameDocument = true")

        # Now the farm gets nodes; the open page must follow on its own.
        _start_nodes(farm)
        expect(page.locator("#seq-status")).to_have_text("completed", timeout=LONG)
        for name, chunks in SHOTS.items():
            card = page.locator(f'[data-shot="{name}"]')
            expect(card.get_by_test_id("chunks")).to_have_text(f"{chunks}/{chunks} chunks")
            expect(card.locator("img.thumb")).to_have_attribute("data-loaded", "true")
        cuts = page.get_by_test_id("cut")
        for i in range(2):
            cut = cuts.nth(i)
            expect(cut.get_by_test_id("verdict")).not_to_have_text("pending")
            expect(cut.get_by_test_id("explanation")).not_to_be_empty()
            expect(cut.locator('img.thumb[data-loaded="true"]')).to_have_count(2)
        expect(page.locator("#seq-cost")).to_have_text(re.compile(r"^\$0\.0\d*[1-9]"))
        expect(page.locator("#seq-frames")).to_have_text("18/18")
        assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded
        shot_png = tmp_path / "web-page.png"
        page.screenshot(path=str(shot_png), full_page=True)
        browser.close()
    assert Image.open(shot_png).size[0] == 1280
    target = os.environ.get("SHOTFARM_SCREENSHOT")
    if target:
        shutil.copy(shot_png, target)


def test_previews_of_rendered_frames_are_tone_mapped_pngs(farm):
    url = farm["url"]
    _submit(url)  # the same spec as the page test: resumes it when that test ran
    _start_nodes(farm)
    with Client(url, DEMO) as client:
        for _ in client.watch(SID, after=0):
            pass
        assert client.sequence(SID).status.value == "completed"
    with httpx.Client(base_url=url, headers=bearer(DEMO), timeout=60) as c:
        frame = c.get(f"/v1/sequences/{SID}/shots/sh020/frames/1010/preview.png", params={"width": 48})
        master = c.get(f"/v1/sequences/{SID}/master/frames/1001/preview.png")
        sheet = c.get(f"/v1/sequences/{SID}/contact-sheet.png")
        handle = c.get(f"/v1/sequences/{SID}/shots/sh010/frames/1000/preview.png")
    assert frame.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(frame.content)).size == (48, 27)
    assert Image.open(io.BytesIO(master.content)).size == (320, 180)
    assert sheet.status_code == 200 and sheet.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert handle.status_code == 404  # sh010 has no handles: frame 1000 was never rendered
