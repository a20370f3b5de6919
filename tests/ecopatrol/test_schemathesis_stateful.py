"""A stateful schemathesis run over ``/openapi.json``, in-process, as a commander: sequences in which what
one call made (a report's id and tracking code, a unit, a person, a squad, a phone code and the token it
signs in, an alert, a silence) feeds the next call (read it, change it, move it, acknowledge, revoke,
delete), so handlers run on objects that exist, not only on random ids that answer 404. No answer is a
server error and answers conform to the schema.

The links are OpenAPI ``links`` added here, to a copy of the published document (``LINKS``); schemathesis'
own link inference is off, so the run follows exactly these. The alert stream is left out (it never ends).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Flaky
from schemathesis.config import SchemathesisConfig
from schemathesis.engine.errors import is_inconsistent_replay

from ecopatrol.config import Settings
from tests.ecopatrol.helpers_alerting import make_person
from tests.ecopatrol.helpers_fuzz import CHECKS, STREAM_PATH, commander_headers, open_fuzz_runtime
from tests.ecopatrol.helpers_reports import build_app, firearm_report

#: scenarios (Hypothesis examples) and calls per scenario: about 70 s on two cores (some 3000 calls)
SCENARIOS, STEPS_PER_SCENARIO = 150, 30
#: a suite that Hypothesis ends early as flaky is followed by another, at most this many in all
MAX_SUITES = 50
#: at least this many calls, over this many different links, get their input from a link and find the
#: object (2xx); runs of the bounds above make about 550 over 35 links
MIN_FOUND, MIN_FOUND_LINKS = 60, 12
#: a squad made before the run, so reports can be assigned to it and phones signed in for its members
SEED_SQUAD = "sq-fuzz"
#: only the links below: inferred ones would change with the schemathesis version
CONFIG = SchemathesisConfig.from_dict({"phases": {"stateful": {"inference": {"algorithms": []}}}})


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: after ``source`` answers ``status``, call ``target`` with ``parameters`` and
    ``body`` (merged into the generated body, or instead of it), each a runtime expression or a
    constant."""

    source: str
    status: str
    target: str
    parameters: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    name: str = ""
    merge_body: bool = True


REPORTS, REPORT = "/api/v1/reports", "/api/v1/reports/{report_id}"
MOVE, PHOTO = "/api/v1/reports/{report_id}/{action}", "/api/v1/reports/{report_id}/photos/{n}"
TRACK, QR = "/r/{code}", "/r/{code}/qr.svg"
UNITS, UNIT = "/api/v1/units", "/api/v1/units/{unit_id}"
PEOPLE, PERSON = "/api/v1/personnel", "/api/v1/personnel/{person_id}"
SQUADS, SQUAD, ROSTER = "/api/v1/squads", "/api/v1/squads/{squad_id}", "/api/v1/squads/{squad_id}/roster"
TOKENS, REVOKE = "/api/v1/tokens", "/api/v1/tokens/{token_id}/revoke"
PHONE_TOKENS, PHONE_REVOKE = "/api/v1/phone-tokens", "/api/v1/phone-tokens/{token_id}/revoke"
ALERTS, ALERT = "/api/v1/alerts", "/api/v1/alerts/{alert_id}"
ALERT_ACTIONS = ("ack", "en_route", "on_scene", "resolve", "decline")
SILENCES, SILENCE = "/api/v1/silences", "/api/v1/silences/{silence_id}"

# runtime expressions; lists answer newest first, so ``/0`` is the newest (wildcards such as ``/*/id``
# are only read in links schemathesis inferred itself)
_ID, _FIRST_ID, _FIRST_ITEM_ID = "$response.body#/id", "$response.body#/0/id", "$response.body#/items/0/id"
_CODE = {"code": "$response.body#/tracking_code"}
#: a report read back, sent again as a new one
_REPORT_AGAIN = {field: f"$response.body#/{field}"
                 for field in ("category", "observed_at", "location", "datum", "details", "description")}
_ALERT_FOLLOW_UPS = (f"GET {ALERT}", *(f"POST {ALERT}/{a}" for a in ALERT_ACTIONS),
                     f"GET {ALERT}/photos", f"GET {ALERT}/deliveries")
_PERSON_FOLLOW_UPS = (f"GET {PERSON}", f"PATCH {PERSON}", f"DELETE {PERSON}")
_SQUAD_FOLLOW_UPS = (f"GET {SQUAD}", f"PATCH {SQUAD}", f"GET {ROSTER}", f"PUT {ROSTER}")


def _report_follow_ups(source: str, status: str, report_id: str, *, again: bool) -> list[Link]:
    """What can follow an answer naming a report (``report_id`` points at its id): read it, move it
    (any step, or assigned to the seeded squad), its tracking page and photos, and (``again``, when the
    answer is the whole report) send it again as a new report."""
    by_id = {"report_id": report_id}
    code = {"code": report_id.removesuffix("id") + "tracking_code"}
    links = [Link(source, status, f"GET {REPORT}", by_id), Link(source, status, f"POST {MOVE}", by_id),
             Link(source, status, f"POST {MOVE}", {**by_id, "action": "assign"}, {"squad_id": SEED_SQUAD},
                  name="assign to the seeded squad"),
             Link(source, status, f"GET {PHOTO}", by_id)]
    if again:
        links += [Link(source, status, f"GET {TRACK}", code), Link(source, status, f"GET {QR}", code),
                  Link(source, status, f"POST {REPORTS}", body=_REPORT_AGAIN, name="report it again",
                       merge_body=False)]
    return links


LINKS: tuple[Link, ...] = (
    # a report: read it, follow it by its tracking code, move it through its life, send it again
    *_report_follow_ups(f"POST {REPORTS}", "201", _ID, again=True),
    *_report_follow_ups(f"GET {REPORT}", "200", _ID, again=True),
    *_report_follow_ups(f"POST {MOVE}", "200", _ID, again=True),
    *_report_follow_ups(f"GET {REPORTS}", "200", _FIRST_ITEM_ID, again=False),
    *(Link("POST /api/v1/public/reports", "201", f"GET {target}", _CODE) for target in (TRACK, QR)),
    # a unit: read it and its fixes, put a person in it
    *(Link(f"POST {UNITS}", "201", target, {"unit_id": "$response.body#/unit_id"})
      for target in (f"GET {UNIT}", f"GET {UNIT}/fixes")),
    Link(f"POST {UNITS}", "201", f"POST {PEOPLE}", body={"unit_id": "$response.body#/unit_id"}),
    Link(f"GET {UNITS}", "200", f"GET {UNIT}", {"unit_id": "$response.body#/0/unit_id"}),
    # a person: read, change, remove
    *(Link(f"POST {PEOPLE}", "201", target, {"person_id": _ID}) for target in _PERSON_FOLLOW_UPS),
    *(Link(f"GET {PEOPLE}", "200", target, {"person_id": _FIRST_ID}) for target in _PERSON_FOLLOW_UPS),
    Link(f"PATCH {PERSON}", "200", f"GET {PERSON}", {"person_id": _ID}),
    # a token: a squad member's phone code signs a phone in, and its token is revoked; so is a listed one
    Link(f"GET {SQUADS}", "200", "POST /api/v1/phone-codes",
         body={"person_id": "$response.body#/0/members/0/id"}),
    Link("POST /api/v1/phone-codes", "201", "POST /m/login", body={"code": "$response.body#/code"}),
    *(Link("POST /m/login", "200", f"POST {target}", {"token_id": "$response.body#/token_id"})
      for target in (PHONE_REVOKE, REVOKE)),
    Link(f"GET {TOKENS}", "200", f"POST {REVOKE}", {"token_id": _FIRST_ID}),
    Link(f"GET {PHONE_TOKENS}", "200", f"POST {PHONE_REVOKE}", {"token_id": _FIRST_ID}),
    # a squad: read, change, roster; only a squad made in the run is disbanded (the seeded one stays)
    *(Link(f"POST {SQUADS}", "201", target, {"squad_id": _ID})
      for target in (*_SQUAD_FOLLOW_UPS, f"DELETE {SQUAD}")),
    *(Link(f"GET {SQUADS}", "200", target, {"squad_id": _FIRST_ID}) for target in _SQUAD_FOLLOW_UPS),
    Link(f"PATCH {SQUAD}", "200", f"GET {SQUAD}", {"squad_id": _ID}),
    # an alert: read it, move it through its life, its photos and deliveries; silence its rule
    *(Link(f"GET {ALERTS}", "200", target, {"alert_id": _FIRST_ITEM_ID}) for target in _ALERT_FOLLOW_UPS),
    *(Link(f"POST {ALERT}/{action}", "200", target, {"alert_id": _ID})
      for action in ALERT_ACTIONS for target in _ALERT_FOLLOW_UPS
      if target != f"POST {ALERT}/{action}"),
    Link(f"GET {ALERTS}", "200", f"POST {SILENCES}", merge_body=False, body={
        "matchers": ['rule="{$response.body#/items/0/rule}"'], "duration_min": 60,
        "comment": "a listed alert's rule, for an hour"}),
    # a silence: read it, expire it
    *(Link(f"{source} {SILENCES}", status, f"{method} {SILENCE}", {"silence_id": pointer})
      for source, status, pointer in (("POST", "201", _ID), ("GET", "200", _FIRST_ID))
      for method in ("GET", "DELETE")),
)


def with_links(document: dict[str, Any], links: tuple[Link, ...]) -> dict[str, Any]:
    """A copy of the OpenAPI ``document`` with ``links`` on the responses they start from."""
    document = json.loads(json.dumps(document))
    operation_ids = {f"{method.upper()} {path}": operation["operationId"]
                     for path, operations in document["paths"].items()
                     for method, operation in operations.items()}
    for link in links:
        method, path = link.source.split(" ", 1)
        response = document["paths"][path][method.lower()]["responses"][link.status]
        definition: dict[str, Any] = {"operationId": operation_ids[link.target],
                                      "parameters": link.parameters}
        if link.body is not None:
            definition["requestBody"] = link.body
        if not link.merge_body:
            definition["x-schemathesis"] = {"merge_body": False}
        name = link.name or link.target
        assert name not in response.get("links", {}), f"two links named {name!r} from {link.source}"
        response.setdefault("links", {})[name] = definition
    return document


@dataclass
class Seeded:
    app: FastAPI
    headers: Callable[[], dict[str, str]]


@pytest.fixture
def seeded(settings: Settings, tmp_path: Path) -> Iterator[Seeded]:
    """The fuzzing runtime with a squad (1 police + 2 auxiliary, car-1) and an open alert, made through
    the API before the app's lifespan starts (so the firearm report's rules run at once)."""
    with open_fuzz_runtime(settings, tmp_path) as runtime:
        headers = commander_headers(runtime)
        app = build_app(runtime)
        client = TestClient(app)
        h = headers()
        members = [make_person(client, h, "警员甲", "police"), make_person(client, h, "辅警乙", "auxiliary"),
                   make_person(client, h, "辅警丙", "auxiliary")]
        squad = client.post(SQUADS, json={"id": SEED_SQUAD, "name": "巡护组", "members": members,
                                          "units": ["car-1"]}, headers=h)
        assert squad.status_code == 201, squad.text
        assert client.post(REPORTS, json=firearm_report(), headers=h).status_code == 201
        assert client.get(ALERTS, headers=h).json()["items"], "the firearm report raised no alert"
        yield Seeded(app, headers)


@dataclass
class LinkLog:
    """What the state machine did: finished scenarios, every call and the calls whose input a link
    supplied (by answer), and every failed check."""

    scenarios: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    followed: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, label: str, status_code: int, link: str | None) -> None:
        self.calls[f"{label} {status_code}"] += 1
        if link is not None:
            self.followed[f"{link} {status_code}"] += 1

    def followed_to_success(self) -> Counter[str]:
        return Counter({key: n for key, n in self.followed.items() if key.rsplit(" ", 1)[1].startswith("2")})


def linked_schema(app: FastAPI) -> Any:
    """The app's ``/openapi.json`` with ``LINKS``, called in-process, without the alert stream."""
    document = TestClient(app).get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(with_links(document, LINKS), config=CONFIG)
    schema.app = app  # what ``schemathesis.openapi.from_asgi`` does: calls go to the app in-process
    return schema.exclude(path=STREAM_PATH)


def state_machine(schema: Any, headers: Callable[[], dict[str, str]], log: LinkLog) -> type[Any]:
    """The schema's state machine: each call with a fresh commander token and no redirect followed,
    checked by ``CHECKS`` only, and logged."""
    base = schema.as_state_machine()

    class Workflow(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers(), "allow_redirects": False}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None,
                              **kwargs: Any) -> None:
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None,
                                       recorder=self.recorder)
            except BaseException as exc:  # kept even if Hypothesis later calls the run flaky
                log.failures.append(f"{case.operation.label}: {exc}")
                raise

        def step(self, input: Any) -> Any:
            output = super().step(input)
            link = None
            if input.transition is not None and input.is_applied:
                source = self.recorder.cases[input.transition.parent_id].value.operation.label
                link = f"{source} -> {input.case.operation.label}"
            log.record(input.case.operation.label, output.response.status_code, link)
            return output

        def teardown(self) -> None:
            log.scenarios += 1
            super().teardown()

    return Workflow


def run_scenarios(machine: type[Any], log: LinkLog, scenarios: int, steps: int) -> None:
    """Run ``machine`` until ``scenarios`` have finished. The API's state outlives a scenario, so a
    replayed prefix may branch differently and Hypothesis stop the suite as flaky; then, as schemathesis'
    own runner does, the next suite starts with the next seed (failed checks are in ``log`` either way)."""
    for seed in range(MAX_SUITES):
        if log.scenarios >= scenarios:
            return
        try:
            hypothesis.seed(seed)(machine).run(settings=hypothesis_settings(
                max_examples=scenarios - log.scenarios, stateful_step_count=steps, deadline=None,
                database=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
        except Exception as exc:
            if not (isinstance(exc, Flaky) or is_inconsistent_replay(exc)):
                raise
    raise AssertionError(f"{MAX_SUITES} suites ended early; {log.scenarios} of {scenarios} scenarios ran")


@pytest.mark.slow
def test_linked_sequences_never_crash_and_follow_links(seeded: Seeded) -> None:
    """No server error and schema-conformant answers along the links; and the links were followed:
    many calls got their input from an earlier answer and found the object (a 2xx)."""
    schema = linked_schema(seeded.app)
    log = LinkLog()
    machine = state_machine(schema, seeded.headers, log)
    assert schema.statistic.transitions.selected == len(LINKS), "a link lost its source or target"
    run_scenarios(machine, log, SCENARIOS, STEPS_PER_SCENARIO)
    assert not log.failures, "\n\n".join(log.failures)
    found = log.followed_to_success()
    print(f"\n{log.scenarios} scenarios, {log.calls.total()} calls, {log.followed.total()} through a link, "
          f"{found.total()} of them 2xx over {len(found)} links:", dict(sorted(found.items())))
    assert found.total() >= MIN_FOUND, f"links found an existing object {found.total()} times: {log.followed}"
    assert len(found) >= MIN_FOUND_LINKS, f"only {len(found)} links found an existing object: {found}"


@pytest.mark.parametrize("window", [
    {"start_ms": -13134691600776376261034294664581087232, "end_ms": -180},  # found by the stateful run
    {"start_ms": 0, "end_ms": 2**63},
    {"start_ms": -1, "end_ms": 1000},
    {"start_ms": 0, "end_ms": 253_402_300_800_000},  # 10000-01-01: past any datetime
])
def test_a_roster_window_out_of_range_is_refused_not_crashed(seeded: Seeded,
                                                             window: dict[str, int]) -> None:
    """Off or extra windows far outside epoch milliseconds were stored as they came and overflowed
    SQLite's INTEGER (a 500 on ``PUT /squads/{id}/roster``, ``PATCH`` and ``POST /squads``)."""
    client = TestClient(seeded.app, raise_server_exceptions=False)
    for kind in ("off", "extra"):
        response = client.put(f"{SQUADS}/{SEED_SQUAD}/roster", json={kind: [window]},
                              headers=seeded.headers())
        assert response.status_code == 422, response.text
        assert {tuple(item["loc"][:3]) for item in response.json()["detail"]} == {("body", kind, 0)}
    fine = client.put(f"{SQUADS}/{SEED_SQUAD}/roster", headers=seeded.headers(),
                      json={"off": [{"start_ms": 1_763_600_000_000, "end_ms": 1_763_603_600_000}]})
    assert fine.status_code == 200, fine.text
