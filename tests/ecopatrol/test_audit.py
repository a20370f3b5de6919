"""The evidence trail on both backends: a report's life, an alert's life, squads, people and tokens
leave chained entries with who, when and before → after; nothing is audited that did not commit;
the database refuses edits; ``verify`` (and ``ecopatrol audit verify``) names the first bad seq after
rows are changed, removed, slipped in, cut off or rewritten behind the triggers' back."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from ecopatrol import audit
from ecopatrol.audit.chain import GENESIS, HASHED_FIELDS, Entry, canonical_json, entry_hash, link
from ecopatrol.cli import app
from ecopatrol.reports import repo, service
from ecopatrol.reports.photos import PhotoUpload
from ecopatrol.reports.problems import ReportProblem
from ecopatrol.reports.schemas import TransitionRequest
from ecopatrol.runtime import Runtime
from ecopatrol.store import Store
from ecopatrol.store.audit_schema import audit_head, audit_log
from ecopatrol.store.tokens_repo import Principal, create_token, revoke_token
from tests.conftest import FakeClock
from tests.ecopatrol.helpers_alerting import NIGHT_MS, Field, field_setup
from tests.ecopatrol.helpers_reports import firearm_report, image_bytes, load_county

PARTNER = service.Submitter("api", "partner", "林业站 API", "林业站", 7)
COMMANDER = Principal(1, "commander", "值班长")
SQUAD = Principal(2, "squad", "一中队", squad_id="squad-1")


# --- the chain, pure -------------------------------------------------------------------------------


def _rows(n: int) -> list[dict[str, Any]]:
    entries = [Entry("commander:甲", f"thing.step{i}", "thing", str(i), {"n": i}, {"n": i + 1}, 1000 + i)
               for i in range(n)]
    return list(link(entries, after_seq=0, after_hash=GENESIS))


def test_entries_are_numbered_from_1_and_each_chains_to_the_one_before() -> None:
    rows = _rows(3)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == GENESIS
    assert [r["prev_hash"] for r in rows[1:]] == [r["hash"] for r in rows[:-1]]
    assert all(entry_hash(r["prev_hash"], r) == r["hash"] for r in rows)


@pytest.mark.parametrize("field", [*HASHED_FIELDS, "prev_hash"])
def test_the_hash_covers_every_field_and_the_previous_hash(field: str) -> None:
    row = _rows(2)[1]
    changed = dict(row)
    changed[field] = (row[field] + 1) if isinstance(row[field], int) else str(row[field]) + " "
    assert entry_hash(changed["prev_hash"], changed) != row["hash"]


def test_canonical_json_is_sorted_compact_and_keeps_chinese_text() -> None:
    assert canonical_json({"b": 1, "a": [1, "东溪乡"], "c": None}) == '{"a":[1,"东溪乡"],"b":1,"c":null}'
    assert canonical_json(None) is None


# --- fixtures and helpers ----------------------------------------------------------------------------


@pytest.fixture
def county(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_county(runtime, tmp_path / "layers")
    return runtime


@pytest.fixture
def night(runtime: Runtime, tmp_path: Path) -> Iterator[Field]:
    yield from field_setup(runtime, tmp_path / "layers", NIGHT_MS)


def _entries(runtime: Runtime, **filters: Any) -> list[dict[str, Any]]:
    with runtime.store.read() as conn:
        rows = audit.entries(conn, limit=100_000, **filters)
    return [{**r._asdict(), "before": json.loads(r.before_json) if r.before_json else None,
             "after": json.loads(r.after_json) if r.after_json else None} for r in rows]


def _verify(store: Store, **kwargs: Any) -> audit.Verdict:
    with store.read() as conn:
        return audit.verify(conn, **kwargs)


def _create(runtime: Runtime, **kwargs: Any) -> int:
    return service.create_report(runtime, service.parse_report(firearm_report()), submitter=PARTNER,
                                 **kwargs).report_id


def _move(runtime: Runtime, report_id: int, action: str, who: Principal = COMMANDER, **body: str) -> None:
    service.transition(runtime, report_id, action, principal=who, request=TransitionRequest(**body),
                       base_url="")


def _report_life(runtime: Runtime, clock: FakeClock) -> int:
    """A report received, triaged, assigned, on scene, resolved: 5 entries."""
    report_id = _create(runtime, uploads=[PhotoUpload("a.jpg", image_bytes())])
    for action, who, body in [("triage", COMMANDER, {}), ("assign", COMMANDER, {"squad_id": "squad-1"}),
                              ("on_scene", SQUAD, {}), ("resolve", SQUAD, {"note": "two snares removed"})]:
        clock.advance(600)
        _move(runtime, report_id, action, who, **body)
    return report_id


@contextmanager
def _tampering(store: Store) -> Iterator[sa.Connection]:
    """A connection with the append-only triggers out of the way, as a superuser could do (PostgreSQL:
    disabled inside this transaction only; SQLite: the test's own file, dropped)."""
    with store.engine.begin() as conn:
        if store.is_postgres:
            conn.execute(sa.text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            conn.execute(sa.text("ALTER TABLE audit_head DISABLE TRIGGER USER"))
        else:
            for name in ("audit_log_moves_head", "audit_log_no_update", "audit_log_no_delete",
                         "audit_head_forward", "audit_head_no_delete"):
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
        yield conn
        if store.is_postgres:
            conn.execute(sa.text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
            conn.execute(sa.text("ALTER TABLE audit_head ENABLE TRIGGER USER"))


def _row(conn: sa.Connection, seq: int) -> dict[str, Any]:
    return dict(conn.execute(sa.select(audit_log).where(audit_log.c.seq == seq)).one()._mapping)


# --- what is recorded ---------------------------------------------------------------------------------


def test_a_reports_life_is_recorded_with_who_when_and_before_after(county: Runtime, clock: FakeClock) -> None:
    start = clock.now
    report_id = _report_life(county, clock)
    trail = _entries(county, entity="report", entity_id=str(report_id))
    assert [e["action"] for e in trail] == ["report.created", "report.triage", "report.assign",
                                           "report.on_scene", "report.resolve"]
    assert [e["actor"] for e in trail] == ["partner:林业站 API", *["commander:值班长"] * 2,
                                          *["squad:一中队"] * 2]
    assert [e["at_ms"] for e in trail] == [start + 600_000 * i for i in range(5)]
    created = trail[0]
    assert created["before"] is None
    assert created["after"]["status"] == "received" and created["after"]["category"] == "firearm"
    with county.store.read() as conn:
        stored = repo.get_report(conn, report_id)
        photo_sha = [p.sha256 for p in repo.photos_of(conn, report_id)]
    assert created["after"]["tracking_code"] == stored.tracking_code
    assert created["after"]["photos_sha256"] == photo_sha and len(photo_sha) == 1
    statuses = ["received", "triaged", "assigned", "on_scene", "resolved"]
    for entry, old, new in zip(trail[1:], statuses[:-1], statuses[1:], strict=True):
        assert entry["before"]["status"] == old and entry["after"]["status"] == new
    assert trail[2]["before"]["assigned_squad_id"] is None
    assert trail[2]["after"]["assigned_squad_id"] == "squad-1"
    assert trail[4]["after"]["note"] == "two snares removed"
    verdict = _verify(county.store)
    assert verdict.ok and verdict.count == len(_entries(county)) >= 5
    with county.store.read() as conn:
        assert audit.head(conn) == (verdict.last_seq, verdict.last_hash)


def test_what_did_not_commit_is_not_audited(county: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    report_id = _create(county)
    before = len(_entries(county))
    with pytest.raises(ReportProblem):
        _move(county, report_id, "resolve")  # 409: not allowed from "received"

    def broken(*_args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(repo, "insert_photos", broken)
    with pytest.raises(RuntimeError):
        _create(county, uploads=[PhotoUpload("a.jpg", image_bytes())])
    with pytest.raises(RuntimeError), county.store.write() as conn:
        audit.record(conn, actor="system", action="thing.made", entity="thing", entity_id=1, after={})
        raise RuntimeError("rolled back")
    assert len(_entries(county)) == before
    monkeypatch.undo()
    _create(county)  # the next commit chains on as if nothing had happened
    assert _verify(county.store).ok and len(_entries(county)) == before + 1


def test_one_transaction_appends_its_entries_at_commit_in_order(store: Store) -> None:
    with store.write() as conn:
        for i in range(3):
            audit.record(conn, actor="system", action="thing.made", entity="thing", entity_id=i,
                         after={"i": i}, at_ms=i)
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one() == 0
    with store.read() as conn:
        rows = audit.entries(conn)
    assert [(r.seq, r.entity_id) for r in rows] == [(1, "0"), (2, "1"), (3, "2")]


def test_an_alerts_life_is_recorded_assignment_decline_and_state_changes(night: Field) -> None:
    night.report("firearm")
    (alert,) = night.alerts()
    west, mid = night.squad_tokens["sq-west"], night.squad_tokens["sq-mid"]
    response = night.client.post(f"/api/v1/alerts/{alert['id']}/decline", json={"reason": "too_far"},
                                 headers=west)
    assert response.status_code == 200, response.text
    assert night.client.post(f"/api/v1/alerts/{alert['id']}/ack", headers=mid).status_code == 200
    done = night.client.post(f"/api/v1/alerts/{alert['id']}/resolve", json={"outcome": "confirmed"},
                             headers=mid)
    assert done.status_code == 200, done.text
    trail = _entries(night.runtime, entity="alert", entity_id=alert["id"])
    created = trail[0]
    assert created["action"] == "alert.created" and created["before"] is None
    assert created["after"]["squad_id"] == "sq-west" and created["after"]["rule"] == alert["rule"]
    assert created["after"]["evidence"]["report_ids"] == alert["evidence"]["report_ids"]
    declined = next(e for e in trail if "declined" in e["action"].split(".")[1].split("+"))
    assert "assigned" in declined["action"]
    assert declined["before"]["squad_id"] == "sq-west" and declined["after"]["squad_id"] == "sq-mid"
    assert declined["before"]["declined_squads"] == [] and declined["after"]["declined_squads"] == ["sq-west"]
    assert declined["actor"] != "system"
    acked = next(e for e in trail if e["action"].startswith("alert.acknowledged"))
    assert (acked["before"]["state"], acked["after"]["state"]) == ("open", "acknowledged")
    resolved = trail[-1]
    assert resolved["action"].startswith("alert.resolved")
    assert resolved["before"]["state"] == "acknowledged" and resolved["after"]["outcome"] == "confirmed"
    seqs = [e["seq"] for e in trail]
    assert seqs == sorted(seqs) and trail.index(declined) < trail.index(acked) < len(trail) - 1
    # the report followed its alert, as the system
    report_id = alert["evidence"]["report_ids"][0]
    moved = _entries(night.runtime, entity="report", entity_id=str(report_id))
    assert [e["action"] for e in moved][:3] == ["report.created", "report.triage", "report.assign"]
    assert moved[1]["actor"] == "system:alerting"
    assert _verify(night.runtime.store).ok


def test_squads_people_and_tokens_are_recorded(night: Field) -> None:
    c, h = night.client, night.commander
    squad = _entries(night.runtime, entity="squad", entity_id="sq-west")
    assert [e["action"] for e in squad] == ["squad.created", "squad.members", "squad.units", "squad.roster"]
    assert {e["actor"] for e in squad} == {"commander:test commander"}
    assert squad[1]["before"] == {"members": []}
    assert squad[1]["after"] == {"members": sorted(night.members["sq-west"])}
    assert squad[2]["after"] == {"units": ["V-sq-west"]}
    person = c.post("/api/v1/personnel", json={"name": "新警员", "role": "police"}, headers=h).json()["id"]
    assert c.patch(f"/api/v1/personnel/{person}", json={"phone": "123", "name": "新警员"},
                   headers=h).status_code == 200
    assert c.delete(f"/api/v1/personnel/{person}", headers=h).status_code == 204
    people = _entries(night.runtime, entity="person", entity_id=person)
    assert [e["action"] for e in people] == ["person.created", "person.updated", "person.deleted"]
    assert people[1]["before"] == {"phone": ""} and people[1]["after"] == {"phone": "123"}  # name unchanged
    assert people[2]["before"]["phone"] == "123" and people[2]["after"] is None
    assert c.put("/api/v1/squads/sq-east/roster", json={"shifts": [{"start": "08:00", "end": "20:00"}]},
                 headers=h).status_code == 200
    roster = _entries(night.runtime, entity="squad", entity_id="sq-east", action="squad.roster")[-1]
    assert roster["before"]["roster"]["shifts"] == [["00:00", "00:00", "0123456"]]
    assert roster["after"]["roster"]["shifts"] == [["08:00", "20:00", "0123456"]]
    now = night.runtime.now_ms()
    with night.runtime.store.write() as conn:
        create_token(conn, role="partner", name="新伙伴", org="县渔政", now_ms=now, actor="cli:tester")
        token_id = conn.execute(sa.text("SELECT max(id) FROM api_tokens")).scalar_one()
        assert revoke_token(conn, token_id, now_ms=now + 1, actor="commander:值班长")
        assert not revoke_token(conn, token_id, now_ms=now + 2)  # already revoked: nothing to record
    tokens = _entries(night.runtime, entity="token", entity_id=str(token_id))
    assert [(e["action"], e["actor"]) for e in tokens] == [("token.issued", "cli:tester"),
                                                           ("token.revoked", "commander:值班长")]
    assert tokens[0]["after"]["org"] == "县渔政" and "token_hash" not in tokens[0]["after"]
    assert _verify(night.runtime.store).ok


def test_concurrent_writers_never_fork_the_chain(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with store.write() as conn:
                    audit.record(conn, actor=f"w{n}", action="thing.made", entity="thing",
                                 entity_id=f"{n}-{i}", after={"i": i}, at_ms=i)
                    audit.record(conn, actor=f"w{n}", action="thing.made", entity="thing",
                                 entity_id=f"{n}-{i}b", after={"i": i}, at_ms=i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    verdict = _verify(store)
    assert verdict.ok and verdict.count == verdict.last_seq == 4 * 15 * 2
    ids = [r["entity_id"] for r in _entries_of(store)]
    for n in range(4):  # each transaction's two entries are adjacent
        mine = [i for i, e in enumerate(ids) if e.startswith(f"{n}-")]
        assert all(b == a + 1 for a, b in zip(mine[::2], mine[1::2], strict=True))


def _entries_of(store: Store) -> list[dict[str, Any]]:
    with store.read() as conn:
        return [r._asdict() for r in audit.entries(conn, limit=100_000)]


# --- the database refuses edits -----------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'someone else' WHERE seq = 1",
    "DELETE FROM audit_log WHERE seq = 2",
    "UPDATE audit_head SET seq = 1",
    "DELETE FROM audit_head",
])
def test_the_database_refuses_changing_or_removing_entries(county: Runtime, statement: str) -> None:
    _create(county)
    _create(county)
    with pytest.raises(DBAPIError, match="audit_"), county.store.engine.begin() as conn:
        conn.execute(sa.text(statement))
    assert _verify(county.store).ok


# --- verify names the first bad seq -------------------------------------------------------------------


def _change_after(conn: sa.Connection) -> None:
    row = _row(conn, 3)
    forged = row["after_json"].replace('"assigned"', '"rejected"')
    assert forged != row["after_json"]
    conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(after_json=forged))


def _change_hash(conn: sa.Connection) -> None:
    conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3).values(hash="f" * 64))


def _delete_middle(conn: sa.Connection) -> None:
    conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 3))


def _delete_first(conn: sa.Connection) -> None:
    conn.execute(sa.delete(audit_log).where(audit_log.c.seq <= 2))


def _rewrite_with_new_hash(conn: sa.Connection) -> None:
    row = _row(conn, 3)
    row["actor"] = "commander:someone else"
    conn.execute(sa.update(audit_log).where(audit_log.c.seq == 3)
                 .values(actor=row["actor"], hash=entry_hash(row["prev_hash"], row)))


def _insert_in_the_middle(conn: sa.Connection) -> None:
    """A forged entry at seq 3, chained properly after seq 2; the rest renumbered one up."""
    rows = [_row(conn, s) for s in range(3, _last(conn) + 1)]
    conn.execute(sa.delete(audit_log).where(audit_log.c.seq >= 3))
    prev = _row(conn, 2)["hash"]
    (forged,) = link([Entry("commander:x", "report.reject", "report", "1", {}, {"status": "rejected"}, 1)],
                     after_seq=2, after_hash=prev)
    conn.execute(sa.insert(audit_log), [forged, *({**r, "seq": r["seq"] + 1} for r in rows)])


def _cut_the_tail(conn: sa.Connection) -> None:
    conn.execute(sa.delete(audit_log).where(audit_log.c.seq > 3))


def _append_behind_the_head(conn: sa.Connection) -> None:
    last = _row(conn, _last(conn))
    (extra,) = link([Entry("x", "thing.made", "thing", "1", None, {}, 1)], after_seq=last["seq"],
                    after_hash=last["hash"])
    conn.execute(sa.insert(audit_log), [extra])


def _delete_the_head(conn: sa.Connection) -> None:
    conn.execute(sa.delete(audit_head))


def _last(conn: sa.Connection) -> int:
    return int(conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one())


TAMPERING: list[tuple[Callable[[sa.Connection], None], str, int | str]] = [
    (_change_after, "changed", 3),
    (_change_hash, "changed", 3),
    (_delete_middle, "removed", 3),
    (_delete_first, "removed", 1),
    (_rewrite_with_new_hash, "chain_broken", 4),
    (_insert_in_the_middle, "changed", 4),
    (_cut_the_tail, "truncated", 4),
    (_append_behind_the_head, "head_mismatch", "last+1"),
    (_delete_the_head, "head_mismatch", "last"),
]


@pytest.mark.parametrize(("tamper", "kind", "seq"), TAMPERING, ids=[t[0].__name__[1:] for t in TAMPERING])
def test_verify_names_the_first_bad_seq_and_what_is_wrong(
    county: Runtime, clock: FakeClock, tamper: Callable[[sa.Connection], None], kind: str, seq: int | str
) -> None:
    _report_life(county, clock)
    intact = _verify(county.store)
    assert intact.ok and intact.count >= 5
    with _tampering(county.store) as conn:
        tamper(conn)
    verdict = _verify(county.store)
    expected = {"last": intact.last_seq, "last+1": intact.last_seq + 1}.get(str(seq), seq)
    assert verdict.problem is not None, "tampering went unnoticed"
    assert (verdict.problem.kind, verdict.problem.seq) == (kind, expected), verdict.problem
    assert str(expected) in verdict.problem.detail


def test_a_cut_tail_stays_visible_after_later_appends(county: Runtime, clock: FakeClock) -> None:
    _report_life(county, clock)
    last = _verify(county.store).last_seq
    with _tampering(county.store) as conn:
        _cut_the_tail(conn)
    _create(county)  # appends continue from the head, not from the shortened log
    verdict = _verify(county.store)
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("removed", 4)
    assert f"{last}" in verdict.problem.detail


def test_a_whole_rewrite_passes_alone_but_not_against_an_anchor(county: Runtime, clock: FakeClock) -> None:
    """The limit, stated: someone with write access who recomputes every hash and the head is caught
    only by a head noted elsewhere earlier (``--anchor``)."""
    _report_life(county, clock)
    noted = _verify(county.store)
    with _tampering(county.store) as conn:
        rows = [_row(conn, s) for s in range(1, _last(conn) + 1)]
        rows[1]["actor"] = "commander:someone else"
        prev = GENESIS
        for row in rows:
            row["prev_hash"], row["hash"] = prev, entry_hash(prev, {**row, "prev_hash": prev})
            prev = row["hash"]
            conn.execute(sa.update(audit_log).where(audit_log.c.seq == row["seq"])
                         .values(actor=row["actor"], prev_hash=row["prev_hash"], hash=row["hash"]))
        conn.execute(sa.update(audit_head).values(hash=prev))
    assert _verify(county.store).ok  # undetectable from the database alone
    verdict = _verify(county.store, anchors={noted.last_seq: noted.last_hash[:16]})
    assert verdict.problem is not None
    assert (verdict.problem.kind, verdict.problem.seq) == ("anchor_mismatch", noted.last_seq)
    beyond = _verify(county.store, anchors={noted.last_seq + 5: "ab" * 32})
    assert beyond.problem is not None and beyond.problem.kind == "truncated"


# --- the command line ---------------------------------------------------------------------------------


def test_the_cli_verifies_shows_and_exits_1_naming_the_seq(
    county: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    report_id = _report_life(county, clock)
    url = county.store.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{url}"\n', encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    count = len(_entries(county))
    assert ok.exit_code == 0, ok.output
    assert f"intact: {count} entries" in ok.stdout
    verdict = json.loads(runner.invoke(app, ["audit", "verify", "--json", "--config", str(config)]).stdout)
    assert verdict["ok"] is True and verdict["count"] == count and verdict["problem"] is None
    head = f"{verdict['last_seq']}:{verdict['last_hash']}"
    anchored = runner.invoke(app, ["audit", "verify", "--anchor", head, "--config", str(config)])
    assert anchored.exit_code == 0, anchored.output
    shown = runner.invoke(app, ["audit", "show", "--entity", "report", "--id", str(report_id), "--json",
                                "--config", str(config)])
    assert shown.exit_code == 0, shown.output
    actions = [json.loads(line)["action"] for line in shown.stdout.splitlines()]
    assert actions == [f"report.{a}" for a in ("created", "triage", "assign", "on_scene", "resolve")]
    with _tampering(county.store) as conn:
        _delete_middle(conn)
    broken = runner.invoke(app, ["audit", "verify", "--config", str(config)])
    assert broken.exit_code == 1
    assert "BROKEN at seq 3: removed" in broken.stderr
    as_json = runner.invoke(app, ["audit", "verify", "--json", "--config", str(config)])
    assert as_json.exit_code == 1
    problem = json.loads(as_json.stdout)["problem"]
    assert (problem["seq"], problem["kind"]) == (3, "removed") and "seq 3" in problem["detail"]
    bad = runner.invoke(app, ["audit", "verify", "--anchor", "three:abc", "--config", str(config)])
    assert bad.exit_code == 2 and "--anchor takes SEQ:HASH" in bad.stderr
