"""humanparse serve's page in a real browser: Debian's headless Chromium, driven by Playwright
(pointed at the system browser; nothing is downloaded), against a real ``humanparse serve``
process with the bundled parser. Where Chromium is missing the test is skipped, or fails
where HUMANPARSE_REQUIRE_BROWSER=1 (CI) says it must be there."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'humanparse[serve]')")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")

from humanparse.bundled import bundled_models, example_photos  # noqa: E402

pytestmark = pytest.mark.slow


def chromium() -> str:
    path = os.environ.get("HUMANPARSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no Chromium found (apt-get install chromium, or set HUMANPARSE_CHROMIUM to its path)"
        if os.environ.get("HUMANPARSE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    if not bundled_models():
        pytest.skip("the package was installed without its bundled models")
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "humanparse.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=2) as answer:
                    if json.load(answer)["status"] == "ok":
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    pytest.fail(f"humanparse serve did not start:\n{process.stdout.read()}")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def canvas_pixels(page) -> str:
    return page.evaluate("document.getElementById('overlay').toDataURL()")


def test_a_photo_chosen_or_dropped_on_the_page_shows_its_overlay_legend_and_joints(server):
    photos = example_photos()
    with urllib.request.urlopen(urllib.request.Request(
        f"{server}/v1/parse?label_png=false", data=photos[0].read_bytes(), headers={"Content-Type": "image/jpeg"},
    ), timeout=120) as answer:
        expected = json.load(answer)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            page.wait_for_function("document.getElementById('model').options.length > 0")
            page.set_input_files("#file", str(photos[0]))
            page.wait_for_selector("#legend li", timeout=120_000)

            # The overlay is the photo's size, and the legend lists the classes the API finds.
            size = page.evaluate("[document.getElementById('overlay').width, document.getElementById('overlay').height]")
            assert size == [expected["width"], expected["height"]]
            legend = page.eval_on_selector_all("#legend li", "items => items.map(li => li.dataset.class)")
            assert sorted(legend) == sorted(c["name"] for c in expected["classes"])
            assert page.is_visible("#overlay") and page.is_visible("#original")
            assert page.get_attribute("#download", "href").startswith("data:image/png;base64,")

            # The joints are drawn on the overlay and the toggle takes them off.
            with_joints = canvas_pixels(page)
            page.uncheck("#show-joints")
            without = canvas_pixels(page)
            assert without != with_joints
            page.check("#show-joints")
            assert canvas_pixels(page) == with_joints

            # A second photo dropped on the page replaces the first.
            data = list(photos[1].read_bytes())
            page.evaluate("""(bytes) => {
                const file = new File([new Uint8Array(bytes)], "dropped.jpg", {type: "image/jpeg"});
                const transfer = new DataTransfer();
                transfer.items.add(file);
                document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
            }""", data)
            page.wait_for_function("document.getElementById('status').textContent.startsWith('dropped.jpg')",
                                   timeout=120_000)
            assert canvas_pixels(page) != with_joints

            # An upload the server refuses is shown as its message.
            page.set_input_files("#file", files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not a picture"}])
            page.wait_for_selector("#status.error", timeout=60_000)
            assert "422" in page.inner_text("#status")
            assert errors == []
        finally:
            browser.close()
