"""The evidence trail (证据链): an append-only, hash-chained log of every report, alert, assignment,
squad, person and token change — who, when, what, before and after — and ``verify``, which finds any
entry changed, removed, slipped in or cut off.

- ``chain``: the pure part (canonical JSON, ``hash = HMAC-SHA256(key, prev_hash + canonical row)``,
  plain SHA-256 for entries from before the key, linking);
- ``keys``: the audit key, a file outside the database (made at the first start);
- ``trail``: ``record`` in the caller's transaction (appended at its commit), reads;
- ``subjects``: the one-line hooks for reports, alerts, people, squads and tokens;
- ``verify``: the walk and its verdict.

Tables: ``ecopatrol.store.audit_schema`` (migrations ``0006_audit``, ``0014_audit_key``). CLI:
``ecopatrol audit verify``, ``ecopatrol audit show``.
"""

from ecopatrol.audit.chain import GENESIS, AuditKey, Entry, canonical_json, entry_hash
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
    "AuditKey",
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
