"""The /report form and the /r/ tracking page in a real headless Chromium, offline: only the loopback
server is reachable, Leaflet comes from /static, the county is drawn from the layers API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from ecopatrol.runtime import Runtime
from tests.ecopatrol.helpers_reports import T0, WEST_TOWNSHIP, bearer, image_bytes, load_county, serve, token

pytestmark = pytest.mark.browser
SCREENSHOTS = Path("/tmp/ecopatrol-report-pages")
LOCAL_OBSERVED = (T0 - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def site(runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    load_county(runtime, tmp_path / "layers")
    with serve(runtime) as (url, _client):
        yield url


@pytest.fixture
def offline(page):  # type: ignore[no-untyped-def]
    """The page, with every request outside the loopback server refused and recorded."""
    outside: list[str] = []

    def route(r):  # type: ignore[no-untyped-def]
        if r.request.url.startswith(("http://127.0.0.1", "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.outside_requests = outside
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    return page


def _wait_for_map(page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        "document.querySelectorAll('#map path.leaflet-interactive').length >= 2", timeout=15000
    )
    page.wait_for_function("document.querySelectorAll('#map path').length >= 3", timeout=15000)


def test_the_form_works_offline_and_the_stranger_sees_the_status(
    offline,
    site: str,
    runtime: Runtime,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    page = offline
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 400, "height": 860})
    page.goto(f"{site}/report")
    _wait_for_map(page)
    assert page.evaluate("typeof window.L") == "object"
    assert page.locator(".township-label", has_text=WEST_TOWNSHIP).count() == 1
    assert page.locator("h1").inner_text() == "生态违法线索举报"

    page.locator(".chip", has_text="枪声或枪支").click()
    page.locator('[data-field="shots_heard"]').fill("3")
    page.locator('[data-field="bearing_deg"]').fill("120")
    page.locator('[data-field="weapon_seen"]').check()
    page.locator("#map").scroll_into_view_if_needed()
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    assert "已选位置" in page.locator("#picked").inner_text()
    page.locator("#observed_at").fill(LOCAL_OBSERVED)
    page.locator("#description").fill("山脊上传来三声枪响")
    photo = tmp_path / "scene.jpg"
    photo.write_bytes(image_bytes("JPEG", (320, 240)))
    page.locator("#photos").set_input_files(str(photo))
    assert page.locator("#photo-list li").count() == 1
    page.locator("#reporter_name").fill("赵六")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / "report-form.png"), full_page=True)
    page.locator("#submit").click()

    page.wait_for_selector("#done:not([hidden])", timeout=15000)
    code = page.locator("#code").inner_text()
    assert len(code.replace("-", "")) == 16
    page.wait_for_function("document.getElementById('qr').naturalWidth > 0", timeout=10000)
    page.screenshot(path=str(SCREENSHOTS / "report-done.png"), full_page=True)
    status_url = page.locator("#status-link").get_attribute("href")
    assert status_url.endswith(f"/r/{code}")

    commander = bearer(token(runtime, "commander"))
    import httpx

    with httpx.Client(base_url=site, headers=commander) as client:
        stored = client.get("/api/v1/reports").json()["items"]
        assert len(stored) == 1 and stored[0]["category"] == "firearm"
        full = client.get(f"/api/v1/reports/{stored[0]['id']}").json()
        assert full["details"] == {
            "shots_heard": 3,
            "bearing_deg": 120.0,
            "distance_m": None,
            "weapon_seen": True,
        }
        assert full["reporter"]["name"] == "赵六" and full["photo_count"] == 1
        assert full["observed_at"].startswith(LOCAL_OBSERVED)
        client.post(f"/api/v1/reports/{stored[0]['id']}/triage")

    stranger = page.context.browser.new_context(locale="zh-CN")
    other = stranger.new_page()
    other.goto(status_url)
    assert other.locator("#status").inner_text() == "已研判"
    assert other.locator(".timeline li.done").count() == 2
    text = other.locator("body").inner_text()
    assert code in text and "赵六" not in text and "枪响" not in text
    other.screenshot(path=str(SCREENSHOTS / "tracking-zh.png"), full_page=True)
    other.locator("a.lang").click()
    assert other.locator("#status").inner_text() == "Triaged"
    other.screenshot(path=str(SCREENSHOTS / "tracking-en.png"), full_page=True)
    stranger.close()
    assert page.outside_requests == []
    assert page.js_errors == []


def test_english_my_location_and_server_errors_shown(offline, site: str, runtime: Runtime) -> None:  # type: ignore[no-untyped-def]
    page = offline
    page.context.grant_permissions(["geolocation"])
    page.context.set_geolocation({"latitude": 28.8005, "longitude": 120.7000, "accuracy": 10})
    page.goto(f"{site}/report?lang=en")
    _wait_for_map(page)
    assert page.locator("h1").inner_text() == "Report an environmental offence"
    page.locator("#submit").click()
    assert "Choose what happened" in page.locator("#errors").inner_text()

    page.locator(".chip", has_text="Illegal fishing").click()
    page.locator('[data-field="method"]').select_option("net")
    page.locator("#place_name").fill("no such place")
    page.locator("#observed_at").fill(LOCAL_OBSERVED)
    page.locator("#submit").click()
    page.wait_for_function("document.getElementById('errors').innerText.includes('no township')")
    assert page.locator("#place_name.invalid").count() == 1

    page.locator("#locate").click()
    page.wait_for_function("document.getElementById('picked').innerText.includes('28.80050')")
    assert WEST_TOWNSHIP in page.locator("#picked").inner_text()
    assert page.locator("#place_name").input_value() == ""
    page.locator("#submit").click()
    page.wait_for_selector("#done:not([hidden])", timeout=15000)
    assert "lang=en" in page.locator("#status-link").get_attribute("href")

    with __import__("httpx").Client(base_url=site, headers=bearer(token(runtime, "commander"))) as client:
        stored = client.get("/api/v1/reports").json()["items"][0]
    assert stored["location"]["coordinates"] == pytest.approx([120.7, 28.8005], abs=1e-6)
    assert stored["placement"]["township"] == WEST_TOWNSHIP
    page.screenshot(path=str(SCREENSHOTS / "report-en-done.png"), full_page=True)
    assert page.outside_requests == [] and page.js_errors == []
