"""The report service against a real store (SQLite and PostgreSQL): placement, county and time checks,
recent patrols, near duplicates, one transaction with the photos, the event after the commit, and the
lifecycle with its timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from pyproj import Geod

from ecopatrol.reports import repo, service
from ecopatrol.reports.photos import PhotoUpload
from ecopatrol.reports.problems import ReportProblem
from ecopatrol.reports.schemas import TransitionRequest
from ecopatrol.runtime import Runtime
from ecopatrol.store.audit_schema import audit_log
from ecopatrol.store.reports_schema import report_events, report_photos, reports
from ecopatrol.store.schema import fixes
from ecopatrol.store.tokens_repo import Principal
from geo.datum import wgs84_to_gcj02
from tests.conftest import T0_MS, FakeClock
from tests.ecopatrol.helpers_reports import (
    EAST_TOWNSHIP,
    IN_FOREST,
    NEAR_RIVER,
    RIVER,
    RIVER_LAT,
    T0,
    WEST_TOWNSHIP,
    firearm_report,
    image_bytes,
    iso,
    load_county,
)

GEOD = Geod(ellps="WGS84")
PARTNER = service.Submitter("api", "partner", "林业站 API", "林业站", 7)
COMMANDER = Principal(1, "commander", "值班长")
SQUAD = Principal(2, "squad", "一中队", squad_id="squad-1")
OTHER_SQUAD = Principal(3, "squad", "二中队", squad_id="squad-2")


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_county(runtime, tmp_path / "layers")
    return runtime


def _create(runtime: Runtime, body: dict, **kwargs) -> dict:  # type: ignore[no-untyped-def]
    kwargs.setdefault("submitter", PARTNER)
    return service.create_report(runtime, service.parse_report(body), **kwargs).body


def _problem(runtime: Runtime, body: dict, **kwargs) -> ReportProblem:  # type: ignore[no-untyped-def]
    with pytest.raises(ReportProblem) as err:
        _create(runtime, body, **kwargs)
    return err.value


def _count(runtime: Runtime, table: sa.Table) -> int:
    with runtime.store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(GEOD.inv(a[0], a[1], b[0], b[1])[2])


# --- placement --------------------------------------------------------------------------------------


def test_a_report_by_the_river_is_placed_on_its_reach_township_and_zone(county: Runtime) -> None:
    body = _create(county, firearm_report())
    placement = body["placement"]
    assert placement["reach_id"].startswith(RIVER)
    assert placement["river_name"] == RIVER
    expected_m = _metres(NEAR_RIVER, (NEAR_RIVER[0], RIVER_LAT))
    assert placement["distance_to_river_m"] == pytest.approx(expected_m, abs=0.5)
    assert placement["township"] == WEST_TOWNSHIP
    assert placement["cell_id"] is None
    assert len(placement["zone_ids"]) == 1
    assert body["status"] == "received" and body["location_source"] == "point"


def test_a_report_in_the_forest_gets_its_cell_and_no_reach_beyond_1_km(county: Runtime) -> None:
    body = _create(county, firearm_report(location={"type": "Point", "coordinates": list(IN_FOREST)}))
    placement = body["placement"]
    assert placement["township"] == EAST_TOWNSHIP
    assert placement["cell_id"] is not None
    assert placement["reach_id"] is None
    expected_m = _metres(IN_FOREST, (IN_FOREST[0], RIVER_LAT))
    assert expected_m > 1000
    assert placement["distance_to_river_m"] == pytest.approx(expected_m, abs=60)  # the far field is coarse


def test_gcj02_locations_are_stored_in_wgs84(county: Runtime) -> None:
    gcj_lon, gcj_lat = wgs84_to_gcj02(NEAR_RIVER[0], NEAR_RIVER[1])
    assert _metres(NEAR_RIVER, (float(gcj_lon), float(gcj_lat))) > 100  # the shift is real
    body = _create(
        county,
        firearm_report(
            location={"type": "Point", "coordinates": [float(gcj_lon), float(gcj_lat)]}, datum="gcj02"
        ),
    )
    lon, lat = body["location"]["coordinates"]
    assert _metres((lon, lat), NEAR_RIVER) < 0.05
    assert body["datum"] == "gcj02"
    assert body["placement"]["township"] == WEST_TOWNSHIP


@pytest.mark.parametrize(
    ("name", "source", "township"),
    [
        (WEST_TOWNSHIP, "township", WEST_TOWNSHIP),
        ("东溪", "township", WEST_TOWNSHIP),  # without 乡
        (f" {EAST_TOWNSHIP} ", "township", EAST_TOWNSHIP),
        (RIVER, "river", None),
        (f"{RIVER}-0002", "reach", WEST_TOWNSHIP),
    ],
)
def test_without_gps_a_place_name_locates_the_report(
    county: Runtime, name: str, source: str, township: str | None
) -> None:
    body = _create(county, firearm_report(location=None, place_name=name))
    assert body["location_source"] == source
    assert body["location_uncertainty_m"] > 0
    if township is not None:
        assert body["placement"]["township"] == township
    if source != "township":
        assert body["placement"]["reach_id"] is not None
        assert body["placement"]["distance_to_river_m"] < 1


def test_an_unknown_place_name_is_refused_with_the_known_ones(county: Runtime) -> None:
    problem = _problem(county, firearm_report(location=None, place_name="火星"))
    assert problem.status_code == 422
    assert problem.items[0]["loc"] == ["body", "place_name"]
    assert WEST_TOWNSHIP in str(problem.items[0]["msg"])


def test_neither_location_nor_place_name_is_refused(county: Runtime) -> None:
    problem = _problem(county, firearm_report(location=None))
    assert problem.items[0]["loc"] == ["body", "location"]


# --- county and time --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distance_m", "accepted"), [(2000, True), (4900, True), (5200, False), (50_000, False)]
)
def test_places_beyond_the_margin_outside_the_county_are_refused(
    county: Runtime, distance_m: float, accepted: bool
) -> None:
    east_edge = 120.76
    lon, lat, _ = GEOD.fwd(east_edge, 28.80, 90, distance_m)
    body = firearm_report(location={"type": "Point", "coordinates": [lon, lat]})
    if accepted:
        assert _create(county, body)["placement"]["township"] is None
        return
    problem = _problem(county, body)
    assert problem.items[0]["loc"] == ["body", "location"]
    assert "outside the county" in str(problem.items[0]["msg"])


def test_swapped_coordinates_are_outside_the_county(county: Runtime) -> None:
    problem = _problem(county, firearm_report(location={"type": "Point", "coordinates": [28.8, 120.7]}))
    assert problem.items[0]["loc"][:2] == ["body", "location"]


@pytest.mark.parametrize(
    ("offset_s", "accepted"), [(-3600, True), (200, True), (400, False), (86_400, False)]
)
def test_times_in_the_future_are_refused(county: Runtime, offset_s: int, accepted: bool) -> None:
    body = firearm_report(observed_at=iso(T0 + timedelta(seconds=offset_s)))
    if accepted:
        _create(county, body)
        return
    problem = _problem(county, body)
    assert problem.items[0]["loc"] == ["body", "observed_at"]
    assert "future" in str(problem.items[0]["msg"])


def test_the_stated_zone_is_kept(county: Runtime) -> None:
    body = _create(county, firearm_report(observed_at="2025-11-19T19:10:00-05:00"))
    assert body["observed_at"] == "2025-11-19T19:10:00-05:00"


# --- recent patrols ---------------------------------------------------------------------------------


def _fix(runtime: Runtime, unit: str, lon: float, lat: float, time_ms: int, *, outlier: bool = False) -> None:
    with runtime.store.write() as conn:
        conn.execute(
            sa.insert(fixes).values(
                unit_id=unit,
                time_ms=time_ms,
                lon=lon,
                lat=lat,
                source="test",
                mode="foot",
                outlier=outlier,
                received_ms=time_ms,
            )
        )


def _observed_ms(body: dict) -> int:  # type: ignore[type-arg]
    return T0_MS - 3_600_000  # firearm_report: an hour before the clock


def test_a_fix_within_1_km_in_the_previous_24_h_counts(county: Runtime) -> None:
    observed = _observed_ms({})
    lon, lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], 0, 600)
    _fix(county, "foot-1", lon, lat, observed - 2 * 3_600_000)
    far_lon, far_lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], 0, 1500)
    _fix(county, "car-9", far_lon, far_lat, observed - 600_000)
    patrol = _create(county, firearm_report())["patrol"]
    assert patrol["patrol_within_1km_24h"] is True
    assert patrol["last_patrol_unit_id"] == "foot-1"
    assert patrol["nearest_patrol_m"] == pytest.approx(600, abs=1)
    fix_at = datetime.fromtimestamp((observed - 2 * 3_600_000) / 1000, ZoneInfo("Asia/Shanghai"))
    assert patrol["last_patrol_at"] == fix_at.isoformat()


@pytest.mark.parametrize(
    ("hours_before", "distance_m", "outlier"),
    [(25, 300, False), (2, 1200, False), (-0.5, 300, False), (2, 300, True)],
)
def test_old_far_later_or_impossible_fixes_do_not_count(
    county: Runtime, hours_before: float, distance_m: float, outlier: bool
) -> None:
    lon, lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], 90, distance_m)
    _fix(county, "foot-1", lon, lat, _observed_ms({}) - int(hours_before * 3_600_000), outlier=outlier)
    assert _create(county, firearm_report())["patrol"]["patrol_within_1km_24h"] is False


@pytest.mark.parametrize(("gap_s", "passed"), [(60, True), (1200, False)])
def test_a_patrol_passing_between_two_distant_fixes_counts(county: Runtime, gap_s: int, passed: bool) -> None:
    """Two fixes 1.2 km either side of the point: the segment between them passes over it — unless the
    fixes are too far apart in time to be one track (max_gap_s is 600 s)."""
    t = _observed_ms({}) - 3 * 3_600_000
    for bearing, dt in ((270, 0), (90, gap_s * 1000)):
        lon, lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], bearing, 1200)
        _fix(county, "boat-2", lon, lat, t + dt)
    patrol = _create(county, firearm_report())["patrol"]
    assert patrol["patrol_within_1km_24h"] is passed
    if passed:
        assert patrol["nearest_patrol_m"] < 5
        assert patrol["last_patrol_unit_id"] == "boat-2"


# --- near duplicates --------------------------------------------------------------------------------


def _at(distance_m: float, minutes: float, category: str = "firearm") -> dict:  # type: ignore[type-arg]
    lon, lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], 60, distance_m)
    body = firearm_report(
        location={"type": "Point", "coordinates": [lon, lat]},
        observed_at=iso(T0 - timedelta(hours=1) + timedelta(minutes=minutes)),
    )
    if category != "firearm":
        body.update(category=category, details={})
    return body


def test_near_duplicates_link_to_the_first_report_and_are_kept(county: Runtime) -> None:
    first = _create(county, _at(0, 0))
    second = _create(county, _at(150, 20))
    third = _create(county, _at(190, -25))  # near the first, earlier, still linked to the first stored
    assert first["duplicate_of"] is None
    assert second["duplicate_of"] == first["id"]
    assert third["duplicate_of"] == first["id"]
    assert _count(county, reports) == 3


@pytest.mark.parametrize(
    ("distance_m", "minutes", "category"), [(250, 0, "firearm"), (0, 35, "firearm"), (0, 0, "snare")]
)
def test_farther_later_or_other_category_is_not_a_duplicate(
    county: Runtime, distance_m: float, minutes: float, category: str
) -> None:
    _create(county, _at(0, 0))
    assert _create(county, _at(distance_m, minutes, category))["duplicate_of"] is None


# --- one transaction, then the event ----------------------------------------------------------------


def test_the_event_is_published_after_the_commit(county: Runtime) -> None:
    seen: list[tuple[int, str | None]] = []

    def on_created(_topic: str, payload: dict) -> None:  # type: ignore[type-arg]
        with county.store.read() as conn:  # another connection: sees only committed data
            row = repo.get_report(conn, payload["report_id"])
        seen.append((payload["report_id"], row.status if row else None))

    county.events.subscribe("report.created", on_created)
    body = _create(county, firearm_report())
    assert seen == [(body["id"], "received")]


def test_photos_and_report_commit_together_or_not_at_all(
    county: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    published: list[object] = []
    county.events.subscribe("report.created", lambda _t, p: published.append(p))

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo, "insert_photos", broken)
    with pytest.raises(RuntimeError):
        _create(county, firearm_report(), uploads=[PhotoUpload("a.jpg", image_bytes())])
    assert (_count(county, reports), _count(county, report_photos), _count(county, report_events)) == (
        0,
        0,
        0,
    )
    assert published == []


def test_a_bad_photo_stores_nothing(county: Runtime) -> None:
    problem = _problem(
        county,
        firearm_report(),
        uploads=[PhotoUpload("a.jpg", image_bytes()), PhotoUpload("notes.txt", b"hello")],
    )
    assert problem.items[0]["loc"] == ["body", "photos", 1]
    assert "notes.txt" in str(problem.items[0]["msg"])
    assert _count(county, reports) == 0


def test_photo_exif_is_kept_and_mismatches_flagged(county: Runtime) -> None:
    far_lon, far_lat, _ = GEOD.fwd(NEAR_RIVER[0], NEAR_RIVER[1], 180, 3000)
    uploads = [
        PhotoUpload("near.jpg", image_bytes(gps=NEAR_RIVER, taken=T0 - timedelta(hours=1))),
        PhotoUpload("far.webp", image_bytes("WEBP", gps=(far_lon, far_lat), taken=T0 - timedelta(hours=9))),
    ]
    body = _create(county, firearm_report(), uploads=uploads)
    assert body["photo_count"] == 2
    assert body["photos"][1]["exif_lat"] == pytest.approx(far_lat, abs=1e-6)
    assert {(f["kind"], f["photo"]) for f in body["flags"]} == {
        ("exif_position_mismatch", 2),
        ("exif_time_mismatch", 2),
    }


# --- idempotency ------------------------------------------------------------------------------------


def test_a_resend_with_the_same_key_returns_the_first_answer(county: Runtime, clock: FakeClock) -> None:
    report = service.parse_report(firearm_report())
    first = service.create_report(county, report, submitter=PARTNER, idempotency_key="k-1")
    clock.advance(60)
    again = service.create_report(county, report, submitter=PARTNER, idempotency_key="k-1")
    assert again.replayed and not first.replayed
    assert (again.status_code, again.body) == (first.status_code, first.body)
    assert _count(county, reports) == 1
    other_sender = service.Submitter("api", "partner", "渔政站", "渔政站", 8)
    assert not service.create_report(county, report, submitter=other_sender, idempotency_key="k-1").replayed


def test_a_reused_key_with_another_report_is_refused(county: Runtime) -> None:
    service.create_report(
        county, service.parse_report(firearm_report()), submitter=PARTNER, idempotency_key="k"
    )
    with pytest.raises(ReportProblem) as err:
        service.create_report(
            county,
            service.parse_report(firearm_report(description="other")),
            submitter=PARTNER,
            idempotency_key="k",
        )
    assert err.value.items[0]["loc"] == ["header", "Idempotency-Key"]
    assert _count(county, reports) == 1


# --- lifecycle --------------------------------------------------------------------------------------


def _move(runtime: Runtime, report_id: int, action: str, who: Principal = COMMANDER, **body: str) -> dict:  # type: ignore[type-arg]
    return service.transition(
        runtime, report_id, action, principal=who, request=TransitionRequest(**body), base_url=""
    ).model_dump(mode="json")


def test_the_whole_life_is_recorded_with_who_and_when(county: Runtime, clock: FakeClock) -> None:
    report_id = _create(county, firearm_report())["id"]
    steps = [
        ("triage", COMMANDER, {}),
        ("assign", COMMANDER, {"squad_id": "squad-1"}),
        ("on_scene", SQUAD, {}),
        ("resolve", SQUAD, {"note": "two snares removed"}),
    ]
    for action, who, body in steps:
        clock.advance(600)
        result = _move(county, report_id, action, who, **body)
    assert result["status"] == "resolved"
    assert result["assigned_squad_id"] == "squad-1"
    timeline = result["timeline"]
    assert [e["status"] for e in timeline] == ["received", "triaged", "assigned", "on_scene", "resolved"]
    assert [e["actor"]["name"] for e in timeline[1:]] == ["值班长", "值班长", "一中队", "一中队"]
    times = [e["at"] for e in timeline]
    assert times == sorted(times) and len(set(times)) == 5
    assert timeline[-1]["note"] == "two snares removed"


PLANS: list[list[tuple[str, dict[str, str]]]] = [
    [("triage", {}), ("assign", {"squad_id": "squad-1", "note": "最近"})],
    [("triage", {}), ("reject", {"reason": "查无实据"})],
    [("assign", {"squad_id": "squad-1"})],  # refused at once: not triaged
    [("triage", {}), ("on_scene", {}), ("resolve", {})],  # the triage stays; on scene needs a squad
    [("triage", {}), ("reject", {})],  # the triage stays; a rejection needs a reason
]


def test_moving_several_reports_at_once_is_moving_each_in_turn(county: Runtime) -> None:
    """``move_on`` (one read, one update per report, one insert of events) leaves the same reports,
    timelines, refusals and audit entries as moving each report action by action."""
    batch = [_create(county, firearm_report())["id"] for _ in PLANS]
    alone = [_create(county, firearm_report())["id"] for _ in PLANS]
    missing = max(alone) + 100
    refused = service.move_on(county, [*((r, [(a, TransitionRequest(**b)) for a, b in plan])
                                         for r, plan in zip(batch, PLANS, strict=True)),
                                       (missing, [("triage", TransitionRequest())])], principal=COMMANDER)
    one_by_one = []
    for report_id, plan in zip(alone, PLANS, strict=True):
        for action, body in plan:
            try:
                _move(county, report_id, action, **body)
            except ReportProblem as exc:
                one_by_one.append(exc)
                break
    assert [(p.status_code, p.items) for p in refused[:-1]] == [(p.status_code, p.items) for p in one_by_one]
    assert refused[-1].status_code == 404 and len(refused) == 4

    def seen(report_id: int) -> tuple[dict, list[tuple], list[tuple]]:  # type: ignore[type-arg]
        body = service.read_report(county, report_id, principal=COMMANDER, base_url="").model_dump(
            mode="json")
        timeline = [(e["status"], e["actor"]["name"], e.get("reason"), e.get("note"))
                    for e in body["timeline"]]
        moves = sa.select(audit_log).where(audit_log.c.entity == "report",
                                           audit_log.c.entity_id == str(report_id),
                                           audit_log.c.action != "report.created").order_by(audit_log.c.seq)
        with county.store.read() as conn:
            trail = [(r.action, r.before_json, r.after_json) for r in conn.execute(moves)]
        return {k: body[k] for k in ("status", "assigned_squad_id", "reject_reason")}, timeline, trail

    assert [seen(r) for r in batch] == [seen(r) for r in alone]
    assert [seen(r)[0]["status"] for r in batch] == ["assigned", "rejected", "received", "triaged", "triaged"]


@pytest.mark.parametrize(
    ("done", "action", "needs"),
    [
        ([], "assign", "triage"),
        ([], "resolve", "triage"),
        (["triage"], "on_scene", "assign"),
        (["triage", "reject"], "triage", "already rejected"),
    ],
)
def test_invalid_transitions_are_409_with_the_way_forward(
    county: Runtime, done: list[str], action: str, needs: str
) -> None:
    report_id = _create(county, firearm_report())["id"]
    for step in done:
        _move(county, report_id, step, reason="not ours" if step == "reject" else None)  # type: ignore[arg-type]
    with pytest.raises(ReportProblem) as err:
        _move(county, report_id, action, squad_id="squad-1")
    assert err.value.status_code == 409
    assert needs in str(err.value.items[0]["msg"])


def test_rejecting_needs_a_reason_and_shows_it(county: Runtime) -> None:
    report_id = _create(county, firearm_report())["id"]
    with pytest.raises(ReportProblem) as err:
        _move(county, report_id, "reject")
    assert err.value.items[0]["loc"] == ["body", "reason"]
    body = _move(county, report_id, "reject", reason="电鱼者已离开，查无实据")
    assert body["status"] == "rejected" and body["reject_reason"] == "电鱼者已离开，查无实据"
    assert body["timeline"][-1]["reason"] == "电鱼者已离开，查无实据"


def test_squads_act_only_on_reports_assigned_to_them(county: Runtime) -> None:
    report_id = _create(county, firearm_report())["id"]
    with pytest.raises(ReportProblem) as err:
        _move(county, report_id, "triage", SQUAD)
    assert err.value.status_code == 403
    _move(county, report_id, "triage")
    _move(county, report_id, "assign", squad_id="squad-1")
    with pytest.raises(ReportProblem) as err:
        _move(county, report_id, "on_scene", OTHER_SQUAD)
    assert err.value.status_code == 403
    assert _move(county, report_id, "on_scene", SQUAD)["status"] == "on_scene"


def test_partners_read_their_own_organisation_only(county: Runtime) -> None:
    mine = _create(county, firearm_report())["id"]
    theirs = _create(
        county,
        firearm_report(description="x"),
        submitter=service.Submitter("api", "partner", "渔政", "渔政站", 9),
    )["id"]
    me = Principal(7, "partner", "林业站 API", org="林业站")
    assert service.read_report(county, mine, principal=me, base_url="").id == mine
    with pytest.raises(ReportProblem) as err:
        service.read_report(county, theirs, principal=me, base_url="")
    assert err.value.status_code == 404
    listed = service.list_reports(county, principal=me)
    assert [r.id for r in listed.items] == [mine] and listed.total == 1
    assert service.list_reports(county, principal=COMMANDER).total == 2


def test_the_public_status_shows_no_people(county: Runtime) -> None:
    body = _create(county, firearm_report())
    _move(county, body["id"], "triage")
    _move(county, body["id"], "assign", squad_id="squad-1", note="去东溪桥")
    status = service.public_status(county, body["tracking_code"].lower().replace("-", " ")).model_dump(
        mode="json"
    )
    text = repr(status)
    for secret in ("王五", "13800000000", "squad-1", "值班长", "去东溪桥", "林业站", "ridge"):
        assert secret not in text
    assert [s["status"] for s in status["timeline"]] == ["received", "triaged", "assigned"]
    assert status["status_label"]["zh"] == "已派警"


def test_place_locks_hold_back_a_possible_duplicate_and_nothing_farther(pg_store) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: a report being stored holds its category's locks around its place. A report of the
    same category within the duplicate radius waits for it, even across a square's edge; one farther
    away or of another category does not."""
    from sqlalchemy.exc import OperationalError

    lon, lat = 120.70999, 28.80001  # just west of a 0.01° edge
    with pg_store.engine.connect() as holder:
        holder.begin()
        repo.lock_place(holder, "firearm", lon, lat)

        def waits(category: str, at: tuple[float, float]) -> bool:
            with pg_store.engine.connect() as other, other.begin():
                other.execute(sa.text("SET LOCAL lock_timeout = '150ms'"))
                try:
                    repo.lock_place(other, category, *at)
                except OperationalError:
                    return True
                return False

        assert waits("firearm", (lon + 0.0015, lat))  # 146 m east, in the next square
        assert not waits("firearm", (lon + 0.03, lat))  # 2.9 km east
        assert not waits("snare", (lon, lat))
        holder.rollback()
    assert not waits("firearm", (lon + 0.0015, lat))
