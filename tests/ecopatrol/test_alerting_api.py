"""The alerting API on both backends: squads of exactly 1 police + 2 auxiliary (422 says what is
wrong), personnel, squad state and position, who sees which alert, declines that reassign, silences
that suppress, the rules in force."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecopatrol.alerting import service
from ecopatrol.runtime import Runtime
from tests.ecopatrol.helpers_alerting import (
    DAY_MS,
    MIN_MS,
    NIGHT_MS,
    SQUAD_SPOTS,
    Field,
    field_setup,
    make_person,
    token,
)


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def _detail(response) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    return response.json()["detail"]


# --- squads ---------------------------------------------------------------------------------------


def test_a_squad_of_two_police_and_one_auxiliary_is_refused_saying_why(night: Field) -> None:
    c, h = night.client, night.commander
    police = [make_person(c, h, "甲警官", "police"), make_person(c, h, "乙警官", "police")]
    aux = make_person(c, h, "丙辅警", "auxiliary")
    response = c.post("/api/v1/squads", json={"name": "错组", "members": [*police, aux]}, headers=h)
    assert response.status_code == 422
    messages = [d["msg"] for d in _detail(response)]
    assert all(d["loc"] == ["body", "members"] for d in _detail(response))
    assert any("1 police" in m and "2" in m and "甲警官" in m and "乙警官" in m for m in messages)
    assert any("2 auxiliary" in m and "1" in m for m in messages)


def test_a_squad_needs_three_known_people_each_in_no_other_squad(night: Field) -> None:
    c, h = night.client, night.commander
    taken = night.members["sq-west"][1]  # an auxiliary officer already in sq-west
    police = make_person(c, h, "丁警官", "police")
    aux = make_person(c, h, "戊辅警", "auxiliary")
    response = c.post("/api/v1/squads", json={"name": "新组", "members": [police, aux, taken]}, headers=h)
    assert response.status_code == 422
    assert any("sq-west" in d["msg"] for d in _detail(response))
    response = c.post("/api/v1/squads", json={"name": "新组", "members": [police, aux, "nobody"]}, headers=h)
    assert response.status_code == 422
    assert any("nobody" in d["msg"] for d in _detail(response))
    response = c.post("/api/v1/squads", json={"name": "新组", "members": [police, aux, aux]}, headers=h)
    assert response.status_code == 422
    assert any("2 auxiliary" in d["msg"] for d in _detail(response))
    # and the valid one is accepted
    other = make_person(c, h, "己辅警", "auxiliary")
    assert c.post("/api/v1/squads", json={"name": "新组", "members": [police, aux, other]},
                  headers=h).status_code == 201


def test_squads_show_state_and_last_position(night: Field) -> None:
    squads = {s["id"]: s for s in night.client.get("/api/v1/squads", headers=night.commander).json()}
    assert set(squads) == set(SQUAD_SPOTS)
    west = squads["sq-west"]
    assert west["state"] == "available"
    assert west["position"]["coordinates"] == pytest.approx(list(SQUAD_SPOTS["sq-west"]))
    assert sorted(m["role"] for m in west["members"]) == ["auxiliary", "auxiliary", "police"]
    # a squad off duty by its roster (day shift, at night)
    night.client.put("/api/v1/squads/sq-east/roster", json={"shifts": [{"start": "08:00", "end": "20:00"}]},
                     headers=night.commander)
    east = night.client.get("/api/v1/squads/sq-east", headers=night.commander).json()
    assert east["state"] == "off_duty"
    # busy while en route to an alert
    night.report("firearm")
    (alert,) = night.alerts()
    night.client.post(f"/api/v1/alerts/{alert['id']}/en_route", headers=night.squad_tokens["sq-west"])
    assert night.client.get("/api/v1/squads/sq-west", headers=night.commander).json()["state"] == "busy"


def test_an_off_duty_or_busy_squad_is_not_assigned(night: Field) -> None:
    night.client.put("/api/v1/squads/sq-west/roster", json={"shifts": [{"start": "08:00", "end": "20:00"}]},
                     headers=night.commander)
    night.report("firearm")
    (alert,) = night.alerts()
    assert alert["squad"]["id"] == "sq-mid"  # the nearest squad on duty


def test_no_squad_available_leaves_the_alert_unassigned_and_tells_the_commander_at_once(night: Field) -> None:
    for squad in SQUAD_SPOTS:
        night.client.put(f"/api/v1/squads/{squad}/roster", json={"shifts": []}, headers=night.commander)
    night.report("firearm")
    (alert,) = night.alerts()
    assert alert["squad"] is None
    assert [e["reason"] for e in alert["timeline"] if e["kind"] == "unassigned"] == ["none_available"]
    assert [e["reason"] for e in alert["timeline"] if e["kind"] == "escalated"] == ["unassigned"]
    # a squad comes on duty: the next tick assigns it
    night.client.put("/api/v1/squads/sq-mid/roster", json={"shifts": [{"start": "00:00", "end": "00:00"}]},
                     headers=night.commander)
    service.escalation_tick(night.runtime)
    assert night.alert(alert["id"])["squad"]["id"] == "sq-mid"


def test_personnel_crud_and_role_changes_that_would_break_a_squad(night: Field) -> None:
    c, h = night.client, night.commander
    person = c.post("/api/v1/personnel", json={"name": "庚警官", "role": "police", "phone": "000-1111"},
                    headers=h).json()
    assert person["squad_id"] is None and person["status"] == "active"
    patched = c.patch(f"/api/v1/personnel/{person['id']}", json={"phone": "000-2222"}, headers=h)
    assert patched.json()["phone"] == "000-2222"
    assert c.delete(f"/api/v1/personnel/{person['id']}", headers=h).status_code == 204
    assert c.get(f"/api/v1/personnel/{person['id']}", headers=h).status_code == 404
    member = night.members["sq-west"][0]
    refused = c.patch(f"/api/v1/personnel/{member}", json={"role": "auxiliary"}, headers=h)
    assert refused.status_code == 422 and "sq-west" in _detail(refused)[0]["msg"]
    assert c.delete(f"/api/v1/personnel/{member}", headers=h).status_code == 409
    bad = c.post("/api/v1/personnel", json={"name": "x", "role": "chief"}, headers=h)
    assert bad.status_code == 422 and _detail(bad)[0]["loc"] == ["body", "role"]
    assert c.post("/api/v1/personnel", json={"name": "x", "role": "police"},
                  headers=night.partner).status_code == 403


# --- alerts: visibility, actions, decline ------------------------------------------------------------


def test_squads_see_and_move_their_own_alerts_only(night: Field) -> None:
    night.report("firearm")
    (alert,) = night.alerts()
    mine, other = night.squad_tokens["sq-west"], night.squad_tokens["sq-east"]
    assert [a["id"] for a in night.alerts(mine)] == [alert["id"]]
    assert night.alerts(other) == []
    assert night.client.get(f"/api/v1/alerts/{alert['id']}", headers=other).status_code == 404
    assert night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=other).status_code == 404
    assert night.client.get("/api/v1/alerts", headers=night.partner).status_code == 403
    assert night.client.get("/api/v1/alerts", params={"squad": "sq-west"}, headers=other).status_code == 403
    ack = night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=mine)
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    again = night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=mine)
    assert again.status_code == 200 and len(again.json()["timeline"]) == len(ack.json()["timeline"])
    no_outcome = night.client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={}, headers=mine)
    assert no_outcome.status_code == 422 and _detail(no_outcome)[0]["loc"] == ["body", "outcome"]
    done = night.client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"outcome": "false_report"},
                             headers=mine).json()
    assert done["state"] == "resolved" and done["outcome"] == "false_report"
    back = night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=mine)
    assert back.status_code == 409
    assert night.client.get(f"/api/v1/alerts/{alert['id']}/photos", headers=mine).json() == []
    report_id = int(alert["evidence"]["report_ids"][0])
    assert night.client.get(f"/api/v1/reports/{report_id}", headers=night.commander).json()["status"] \
        == "rejected"


def test_filters(night: Field) -> None:
    night.report("firearm")
    night.report("electrofishing")
    assert {a["severity"] for a in night.alerts(severity="high")} == {"high"}
    assert len(night.alerts(severity=["high", "critical"])) == 2
    assert len(night.alerts(state="open")) == 2 and night.alerts(state="resolved") == []
    assert [a["rule"] for a in night.alerts(rule="fishing-night-river")] == ["fishing-night-river"]
    bad = night.client.get("/api/v1/alerts", params={"state": "closed"}, headers=night.commander)
    assert bad.status_code == 422


def test_a_declined_alert_goes_to_the_next_nearest_squad(night: Field) -> None:
    night.report("firearm")
    (alert,) = night.alerts()
    assert alert["squad"]["id"] == "sq-west"
    response = night.client.post(f"/api/v1/alerts/{alert['id']}/decline",
                                 json={"reason": "vehicle_unavailable", "note": "flat tyre"},
                                 headers=night.squad_tokens["sq-west"])
    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["squad"]["id"] == "sq-mid" and moved["declined_squads"] == ["sq-west"]
    declined = [e for e in moved["timeline"] if e["kind"] == "declined"]
    assert [(e["reason"], e["data"]["note"], e["data"]["squad_id"]) for e in declined] == [
        ("vehicle_unavailable", "flat tyre", "sq-west")]
    assert moved["timeline"][-1]["kind"] in ("assigned", "notified")
    # the former squad no longer sees it; the new one does and may decline too
    assert night.alerts(night.squad_tokens["sq-west"]) == []
    second = night.client.post(f"/api/v1/alerts/{alert['id']}/decline", json={"reason": "too_far"},
                               headers=night.squad_tokens["sq-mid"]).json()
    assert second["squad"]["id"] == "sq-east"
    bad = night.client.post(f"/api/v1/alerts/{alert['id']}/decline", json={"reason": "lazy"},
                            headers=night.squad_tokens["sq-east"])
    assert bad.status_code == 422


# --- silences ------------------------------------------------------------------------------------------


def test_a_silence_suppresses_matching_alerts_until_it_is_expired(night: Field) -> None:
    response = night.client.post("/api/v1/silences", json={
        "matchers": ['township="东溪乡"', 'category="firearm"'], "duration_min": 120,
        "comment": "hunting-club shooting practice, approved"}, headers=night.commander)
    assert response.status_code == 201, response.text
    silence = response.json()
    assert silence["status"] == "active" and silence["created_by"]
    night.report("firearm")
    assert night.alerts() == []  # suppressed: not created
    night.report("electrofishing")  # not matched by the silence
    assert [a["rule"] for a in night.alerts()] == ["fishing-night-river"]
    listed = night.client.get("/api/v1/silences", headers=night.commander).json()
    assert [s["id"] for s in listed] == [silence["id"]]
    expired = night.client.delete(f"/api/v1/silences/{silence['id']}", headers=night.commander)
    assert expired.status_code == 200 and expired.json()["status"] == "expired"
    night.report("firearm")
    assert {a["rule"] for a in night.alerts()} == {"fishing-night-river", "firearm-night-river"}


def test_a_silence_mutes_an_open_alert_at_once_and_unmutes_when_it_ends(night: Field) -> None:
    night.report("firearm")
    (alert,) = night.alerts()
    silence = night.client.post("/api/v1/silences", json={
        "matchers": [f'rule="{alert["rule"]}"'], "duration_min": 30, "comment": "known: a test"},
        headers=night.commander).json()
    muted = night.alert(alert["id"])
    assert muted["muted_by"] == {"reason": "silenced", "by": silence["id"]}
    night.advance_to(night.runtime.now_ms() + 31 * MIN_MS)
    service.escalation_tick(night.runtime)
    live = night.alert(alert["id"])
    assert live["muted_by"] is None
    assert [e["kind"] for e in live["timeline"]].count("unmuted") == 1


def test_bad_silences_are_422_naming_the_field(night: Field) -> None:
    h = night.commander
    bad = night.client.post("/api/v1/silences",
                            json={"matchers": ["township"], "duration_min": 5, "comment": "x"}, headers=h)
    assert bad.status_code == 422 and _detail(bad)[0]["loc"] == ["body", "matchers", 0]
    none = night.client.post("/api/v1/silences", json={"matchers": ['a="b"'], "comment": "x"}, headers=h)
    assert none.status_code == 422 and _detail(none)[0]["loc"] == ["body", "ends_at"]
    squad = night.client.post("/api/v1/silences",
                              json={"matchers": ['a="b"'], "duration_min": 5, "comment": "x"},
                              headers=night.squad_tokens["sq-west"])
    assert squad.status_code == 403


def test_the_rules_in_force_are_listed(night: Field) -> None:
    body = night.client.get("/api/v1/rules", headers=night.commander).json()
    by_name = {r["name"]: r for r in body["rules"]}
    assert by_name["firearm"]["runs"] == "on_report"
    assert by_name["foot-patrol-silent"]["runs"] == {"interval_min": 1.0}
    assert body["escalation"]["policies"]["critical"]["ack_within_min"] == 2
    assert body["escalation"]["reports"] == {"triage_min": 3.0, "assign_min": 5.0}
    assert body["sources"]["rules"] == "defaults"


def test_report_overdue_codes_are_in_the_alert(runtime: Runtime, tmp_path: Path) -> None:
    gen = field_setup(runtime, tmp_path / "layers", DAY_MS)
    f = next(gen)
    for squad in SQUAD_SPOTS:
        f.client.put(f"/api/v1/squads/{squad}/roster", json={"shifts": []}, headers=f.commander)
    f.report("firearm")
    (alert,) = f.alerts()
    assert [r["status"] for r in alert["reports"]] == ["triaged"]  # raised an alert: triaged at once
    f.advance_to(f.runtime.now_ms() + 6 * MIN_MS)  # nobody assigned after 5 min: past the limit
    assert [r["overdue"] for r in f.alert(alert["id"])["reports"]] == ["yellow"]
    f.advance_to(f.runtime.now_ms() + 5 * MIN_MS)
    assert [r["overdue"] for r in f.alert(alert["id"])["reports"]] == ["red"]
    gen.close()


def test_tokens_without_a_squad_see_nothing(night: Field) -> None:
    lost = token(night.runtime, "squad")
    assert night.client.get("/api/v1/alerts", headers=lost).status_code == 403


def test_resolving_with_photos_keeps_them_with_the_alert_and_refuses_what_is_not_an_image(
        night: Field) -> None:
    from PIL import Image

    night.report("firearm")
    (alert,) = night.alerts()
    mine = night.squad_tokens[alert["squad"]["id"]]
    url = f"/api/v1/alerts/{alert['id']}/resolve"
    not_image = night.client.post(url, data={"outcome": "confirmed"},
                                  files=[("photo", ("x.jpg", b"not an image", "image/jpeg"))], headers=mine)
    assert not_image.status_code == 422 and _detail(not_image)[0]["loc"] == ["body", "photo", 0]
    no_outcome = night.client.post(url, data={"note": "x"}, headers=mine,
                                   files=[("photo", ("a.png", b"", "image/png"))])
    assert no_outcome.status_code == 422 and _detail(no_outcome)[0]["loc"] == ["body", "outcome"]
    assert night.alert(alert["id"])["state"] != "resolved"  # nothing half-done
    images = []
    for colour in ((200, 0, 0), (0, 0, 200)):
        out = io.BytesIO()
        Image.new("RGB", (40, 30), colour).save(out, format="PNG")
        images.append(out.getvalue())
    files = [("photo", (f"p{i}.png", img, "image/png")) for i, img in enumerate(images)]
    done = night.client.post(url, data={"outcome": "confirmed", "note": "收缴电鱼器"}, headers=mine,
                             files=files)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "resolved" and done.json()["outcome"] == "confirmed"
    listed = night.client.get(f"/api/v1/alerts/{alert['id']}/photos", headers=mine).json()
    assert [p["n"] for p in listed] == [1, 2]
    assert night.client.get(f"/api/v1/alerts/{alert['id']}/photos/2", headers=mine).content == images[1]
    other = next(t for s, t in night.squad_tokens.items() if s != alert["squad"]["id"])
    assert night.client.get(f"/api/v1/alerts/{alert['id']}/photos/1", headers=other).status_code == 404
