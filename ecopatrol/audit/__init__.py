"""The evidence trail (证据链): an append-only, hash-chained log of every report, alert, assignment,
squad, person and token change — who, when, what, before and after — and ``verify``, which finds any
entry changed, removed, slipped in or cut off.

- ``chain``: the pure part (canonical JSON, ``hash = sha256(prev_hash + canonical row)``, linking);
- ``trail``: ``record`` in the caller's transaction (appended at its commit), reads;
- ``subjects``: the one-line hooks for reports, alerts, people, squads and tokens;
- ``verify``: the walk and its verdict.

Tables: ``ecopatrol.store.audit_schema`` (migration ``0006_audit``). CLI: ``ecopatrol audit verify``,
``ecopatrol audit show``.
"""

from ecopatrol.audit.chain import GENESIS, Entry, canonical_json, entry_hash
from ecopatrol.audit.subjects import (
    ALERT_FIELDS,
    actor_name,
    actor_of,
    alert_states,
    alerts_saved,
    cli_actor,
    members_replaced,
    report_created,
    report_moved,
    roster_replaced,
    row_changed,
    row_created,
    row_deleted,
    squad_deleted,
    token_issued,
    token_revoked,
    units_replaced,
)
from ecopatrol.audit.trail import entries, flush, head, record, record_change, record_many
from ecopatrol.audit.verify import Problem, Verdict, verify

__all__ = [
    "ALERT_FIELDS",
    "GENESIS",
    "Entry",
    "Problem",
    "Verdict",
    "actor_name",
    "actor_of",
    "alert_states",
    "alerts_saved",
    "canonical_json",
    "cli_actor",
    "entries",
    "entry_hash",
    "flush",
    "head",
    "members_replaced",
    "record",
    "record_change",
    "record_many",
    "report_created",
    "report_moved",
    "roster_replaced",
    "row_changed",
    "row_created",
    "row_deleted",
    "squad_deleted",
    "token_issued",
    "token_revoked",
    "units_replaced",
    "verify",
]
