"""The squad phone page ``/m`` in a real headless Chromium (mobile viewport, no internet): sign-in with a
one-time code, a reported alert ringing on the phones within a second, one member's acknowledgement on
the others' phones, positions recorded offline arriving exactly once, and a server restart missed by
nobody. Also the sign-in API: codes, tokens, revocation."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

import ecopatrol.store.alerts_schema
import ecopatrol.store.live_schema
import ecopatrol.store.reports_schema  # noqa: F401  (tables on the shared metadata, for TRUNCATE)
from ecopatrol.runtime import Runtime, system_clock_ms
from ecopatrol.store import Store, open_store
from tests.ecopatrol.helpers_live import Crew, Server, build_app, commander_token, seed_squad
from tests.ecopatrol.helpers_reports import NEAR_RIVER, load_county

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
SHOTS = Path("/tmp")


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    runtime.clock = system_clock_ms  # the browser's clock is the real one
    load_county(runtime, tmp_path / "county")
    return runtime


@pytest.fixture
def world(county: Runtime) -> Iterator[tuple[Runtime, Crew, str, Server]]:
    crew = seed_squad(county, 1)
    boss = commander_token(county)
    server = Server(build_app(county)).start()
    _post_report(server.url, boss, "other")  # warm the placement and rules up
    yield county, crew, boss, server
    server.stop()


def _post_report(base: str, token: str, category: str = "firearm",
                 where: tuple[float, float] = NEAR_RIVER) -> dict[str, Any]:
    details = {"shots_heard": 2} if category == "firearm" else {}
    body = {"category": category, "observed_at": datetime.now(UTC).isoformat(),
            "location": {"type": "Point", "coordinates": list(where)}, "details": details,
            "description": "桥下两声枪响，向东走了"}
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(f"{base}/api/v1/reports", json=body, headers=auth, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def _code(base: str, boss: str, person_id: str) -> str:
    r = httpx.post(f"{base}/api/v1/phone-codes", json={"person_id": person_id},
                   headers={"Authorization": f"Bearer {boss}"})
    assert r.status_code == 201, r.text
    return r.json()["code"]


def _phone(chromium: Any, base: str, code: str, *, lon: float = 120.70,
           lat: float = 28.805) -> tuple[Any, Any]:
    """A phone: a browser context with a position, signed in with a one-time code."""
    context = chromium.new_context(**PHONE, geolocation={"longitude": lon, "latitude": lat},
                                   permissions=["geolocation"])
    page = context.new_page()
    page.goto(f"{base}/m?code={code}")
    page.wait_for_selector("#home:not([hidden])", timeout=10_000)
    page.wait_for_selector("#conn.conn-live", timeout=10_000)
    return context, page


def _appeared_at_ms(page: Any, selector: str) -> None:
    """Note (in the page, by its own clock) when ``selector`` first appears."""
    page.evaluate("""sel => { window.__seen = null; const mark = () => { if (!window.__seen &&
        document.querySelector(sel)) { window.__seen = Date.now(); } };
        new MutationObserver(mark).observe(document.body, {subtree: true, childList: true}); mark(); }""",
                  selector)


# ------------------------------------------------------------------------------------- the page


@pytest.mark.browser
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_an_alert_rings_within_a_second_and_every_member_sees_the_others_act(
        world: tuple[Runtime, Crew, str, Server], chromium: Any) -> None:
    _runtime, _crew, boss, server = world
    a_ctx, a = _phone(chromium, server.url, _code(server.url, boss, "p1a"))
    b_ctx, b = _phone(chromium, server.url, _code(server.url, boss, "p1b"))
    try:
        a.click("#duty")  # on patrol: the page knows where the phone is
        a.wait_for_function("window.ecopatrolPhone.state.position !== null", timeout=5000)
        for page in (a, b):
            _appeared_at_ms(page, "[data-alert-id]")
        before_ms = time.time() * 1000
        report = _post_report(server.url, boss)
        for page in (a, b):
            page.wait_for_selector("[data-alert-id]", timeout=3000)
            shown_ms = page.evaluate("window.__seen")
            late_ms = shown_ms - before_ms
            assert late_ms < 1000, f"shown {late_ms:.0f} ms after the report was sent"
            assert page.evaluate("window.ecopatrolRings") >= 1  # sound and vibration fired
        card = a.locator("[data-alert-id]").first
        assert "紧急" in card.inner_text() and "待接警" in card.inner_text()
        assert " m · " in card.inner_text() or " km · " in card.inner_text()  # distance and bearing
        a.screenshot(path=str(SHOTS / "ecopatrol-phone-list.png"))

        card.click()
        a.wait_for_selector("#detail:not([hidden])")
        a.wait_for_selector("#map .alert-point", timeout=5000)  # the alert, the phone and the reach, drawn
        a.wait_for_selector("#map .phone-point", timeout=5000)
        a.wait_for_selector("#map .alert-reach", state="attached", timeout=5000)
        assert "km" in a.inner_text("#d-nav") or " m" in a.inner_text("#d-nav")
        assert str(report["id"]) in a.inner_text("#d-evidence")
        a.click("[data-action=ack]")
        b.wait_for_function("""() => { const c = document.querySelector('[data-alert-id]');
            return c && c.dataset.state === 'acknowledged' && c.innerText.includes('警员1')
                && c.innerText.includes('确认接警'); }""", timeout=1000)
        a.wait_for_selector("[data-action=ack]:disabled")
        a.screenshot(path=str(SHOTS / "ecopatrol-phone-detail.png"), full_page=True)

        b.click("[data-alert-id]")
        b.click("[data-action=on_scene]")
        a.wait_for_function("document.querySelector('#d-state').innerText.includes('已到场')", timeout=1000)
        b.click("[data-action=resolve]")
        b.click("#resolve-dialog input[value=confirmed]")
        b.fill("#resolve-dialog textarea[name=note]", "抓获两人，收缴猎枪一支")
        b.set_input_files("#resolve-form input[name=photo]", files=[
            {"name": "scene.png", "mimeType": "image/png", "buffer": _png()}])
        b.click("#resolve-ok")
        a.wait_for_selector("#detail[hidden]", state="attached", timeout=2000)  # resolved: off the list
        assert a.locator("[data-alert-id]").count() == 0
        boss_auth = {"Authorization": f"Bearer {boss}"}
        (done,) = httpx.get(f"{server.url}/api/v1/alerts", params={"state": "resolved"},
                            headers=boss_auth).json()["items"]
        photos = httpx.get(f"{server.url}/api/v1/alerts/{done['id']}/photos", headers=boss_auth).json()
        assert [(p["n"], p["content_type"], p["filename"]) for p in photos] == [(1, "image/png", "scene.png")]
        image = httpx.get(f"{server.url}/api/v1/alerts/{done['id']}/photos/1", headers=boss_auth)
        assert image.content == _png() and done["outcome"] == "confirmed"

        a.click("#open-report")  # a member files a report from where the phone is
        a.click("#report-categories input[value=snare]")
        a.fill("#report-form textarea[name=description]", "林下发现猎套五个")
        a.click("#report-ok")
        a.wait_for_selector("#report-result:not([hidden])", timeout=5000)
        assert "查询码" in a.inner_text("#report-result")
        b.wait_for_selector("[data-alert-id]", timeout=3000)  # the snare alert, on the squad's phones
        b.click("#lang-switch")
        assert b.inner_text("#open-report") == "File a report"
    finally:
        a_ctx.close()
        b_ctx.close()


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 60)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.browser
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_positions_recorded_offline_arrive_exactly_once(world: tuple[Runtime, Crew, str, Server],
                                                        chromium: Any) -> None:
    runtime, _crew, boss, server = world
    ctx, page = _phone(chromium, server.url, _code(server.url, boss, "p1c"))
    unit = "phone-p1c"
    lost_once: list[int] = []

    def lose_the_first_answer(route: Any) -> None:
        """The first send after the signal returns is stored, but its answer never reaches the phone."""
        if route.request.method == "POST" and not lost_once and page_offline_done:
            lost_once.append(route.fetch().status)
            route.abort("connectionreset")
            return
        route.continue_()

    page_offline_done = False
    try:
        page.route("**/api/v1/fixes", lose_the_first_answer)
        page.click("#duty")
        _wait_fixes(runtime, unit, 1, page)
        ctx.set_offline(True)
        track = [(120.70 + 0.0004 * i, 28.805 + 0.0002 * i) for i in range(1, 7)]
        for k, (lon, lat) in enumerate(track, start=1):
            ctx.set_geolocation({"longitude": lon, "latitude": lat, "accuracy": 8})
            page.wait_for_function(f"window.ecopatrolQueued === {k}", timeout=5000)
            page.wait_for_timeout(50)
        assert _fixes(runtime, unit) == 1  # nothing got through while offline
        page_offline_done = True
        ctx.set_offline(False)
        page.evaluate("window.dispatchEvent(new Event('online'))")
        deadline = time.monotonic() + 10
        while not lost_once:
            assert time.monotonic() < deadline, "the phone did not send when the signal came back"
            page.wait_for_timeout(50)
        page.evaluate("window.ecopatrolPhone.flush()")  # as its 10-second timer would
        page.wait_for_function("window.ecopatrolQueued === 0", timeout=10_000)
        assert lost_once == [200]  # the lost answer: stored, and sent again by the phone
        stored = _fixes(runtime, unit, rows=True)
        assert len(stored) == 7
        assert sorted((round(r[1], 4), round(r[2], 4)) for r in stored[1:]) == \
            sorted((round(lon, 4), round(lat, 4)) for lon, lat in track)
        page.evaluate("window.ecopatrolPhone.flush()")
        page.wait_for_timeout(500)
        assert _fixes(runtime, unit) == 7
    finally:
        ctx.close()


@pytest.mark.browser
@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_the_page_comes_back_after_a_server_restart_and_misses_nothing(
        county: Runtime, store: Store, chromium: Any) -> None:
    seed_squad(county, 1)
    boss = commander_token(county)
    server = Server(build_app(county)).start()
    port = server.port
    _post_report(server.url, boss)
    ctx, page = _phone(chromium, server.url, _code(server.url, boss, "p1a"))
    try:
        page.wait_for_selector("[data-alert-id]")
        first = page.get_attribute("[data-alert-id]", "data-alert-id")
        server.stop()  # killed
        page.wait_for_selector("#conn:not(.conn-live)", timeout=5000)
        url = store.engine.url.render_as_string(hide_password=False)
        reborn = Runtime(settings=county.settings, store=open_store(url), clock=system_clock_ms)
        server2 = Server(build_app(reborn), port=port).start()
        try:
            from ecopatrol.alerting import service
            service.act(reborn, first, "ack", "person:p1b")  # while the phone is still reconnecting
            _post_report(server2.url, boss, where=(120.712, 28.8004))  # another place: not a duplicate
            page.wait_for_selector("#conn.conn-live", timeout=10_000)
            page.wait_for_function("document.querySelectorAll('[data-alert-id]').length === 2", timeout=5000)
            page.wait_for_function(f"""document.querySelector('[data-alert-id="{first}"]')
                .dataset.state === 'acknowledged'""", timeout=5000)
            assert page.evaluate("window.ecopatrolPhone.state.snapshots") == 1  # replayed, not reloaded
        finally:
            server2.stop()
            reborn.store.dispose()
    finally:
        ctx.close()


# ------------------------------------------------------------------------------------ sign-in API


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_codes_are_single_use_bound_to_the_person_and_phones_can_be_revoked(
        world: tuple[Runtime, Crew, str, Server]) -> None:
    _runtime, crew, boss, server = world
    base = server.url
    code = _code(base, boss, "p1b")
    assert len(code) == 8
    session = httpx.post(f"{base}/m/login", json={"code": code.lower()}).json()
    assert session["person_id"] == "p1b" and session["squad_id"] == crew.squad_id
    assert session["unit_id"] == "phone-p1b" and len(session["members"]) == 3
    again = httpx.post(f"{base}/m/login", json={"code": code})
    assert again.status_code == 401
    token = session["token"]
    me = httpx.get(f"{base}/m/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "辅警1甲"
    auth = {"Authorization": f"Bearer {boss}"}
    nobody = httpx.post(f"{base}/api/v1/phone-codes", json={"person_id": "nobody"}, headers=auth)
    assert nobody.status_code == 404
    squad_token = crew.tokens["p1a"]
    refused = httpx.post(f"{base}/api/v1/phone-codes", json={"person_id": "p1a"},
                         headers={"Authorization": f"Bearer {squad_token}"})
    assert refused.status_code == 403
    listed = httpx.get(f"{base}/api/v1/phone-tokens", headers=auth).json()
    mine = next(t for t in listed if t["person_id"] == "p1b" and t["name"].startswith("phone"))
    assert httpx.post(f"{base}/api/v1/phone-tokens/{mine['id']}/revoke", headers=auth).status_code == 200
    assert httpx.get(f"{base}/m/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    page = httpx.get(f"{base}/m")
    assert page.status_code == 200 and "/static/vendor/leaflet/leaflet.js" in page.text
    assert "http://" not in page.text.replace(base, "") and "https://" not in page.text


def _fixes(runtime: Runtime, unit: str, rows: bool = False) -> Any:
    from sqlalchemy import select

    from ecopatrol.store.schema import fixes

    with runtime.store.read() as conn:
        found = conn.execute(select(fixes.c.time_ms, fixes.c.lon, fixes.c.lat).where(fixes.c.unit_id == unit)
                             .order_by(fixes.c.time_ms)).fetchall()
    return [tuple(r) for r in found] if rows else len(found)


def _wait_fixes(runtime: Runtime, unit: str, n: int, page: Any, timeout_s: float = 10) -> None:
    """Wait while letting Playwright dispatch (its route handlers run only inside its own calls)."""
    deadline = time.monotonic() + timeout_s
    while _fixes(runtime, unit) < n:
        assert time.monotonic() < deadline, f"fewer than {n} fixes for {unit}"
        page.wait_for_timeout(50)
