"""``verify``: walk the evidence trail in ``seq`` order and name the first thing wrong.

Detected, each naming the first bad ``seq``:

- ``changed``: a row whose content (any field, ``prev_hash`` included) no longer gives its ``hash``
  (HMAC-SHA256 with the audit key for keyed rows, plain SHA-256 for unkeyed ones);
- ``removed``: a gap in ``seq`` (rows deleted from the start or the middle);
- ``chain_broken``: a row whose ``prev_hash`` is not the hash of the row before it (a row rewritten
  with a recomputed hash, or a row slipped in with renumbered neighbours);
- ``truncated``: the log ends before its ``audit_head`` (rows cut off the tail, also after later
  appends: they continue from the head and leave the gap in the log);
- ``head_mismatch``: the head missing or not the last row's hash (rows appended behind its back);
- ``anchor_mismatch``: a ``seq → hash`` noted elsewhere (``--anchor``) not found in the log;
- ``unknown_key``: a keyed row whose ``key_id`` is not the given key's (rewritten with another key, or
  verified with the wrong key file);
- ``unkeyed``: an unkeyed (plain SHA-256) row after a keyed one (a downgrade: written by someone
  without the key), or, when a key is given, any unkeyed row beyond ``legacy_until`` (the last entry
  written before the key existed; default 0). That rule catches a wholesale rewrite as unkeyed rows:
  the verdict then names the whole unkeyed stretch, and if it really predates the key, its last seq
  is the ``--legacy-until`` to pass.

With the audit key a rewrite of the whole log and its head is caught from the database alone: nobody
without the key can recompute a keyed hash. Without the key (``key=None``) the walk still checks
``seq``, links, the head, anchors and unkeyed rows, counts the keyed rows whose hashes it could not
check (``unchecked``) and its verdict is ``unverified``, never ``ok``, when there are any. Anchors
(``--anchor``) still work, and remain the answer for unkeyed logs and a stolen key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection

from ecopatrol.audit.chain import GENESIS, AuditKey, entry_hash
from ecopatrol.audit.trail import head, iter_rows

ProblemKind = Literal["changed", "removed", "chain_broken", "truncated", "head_mismatch", "anchor_mismatch",
                      "unknown_key", "unkeyed"]
Status = Literal["ok", "broken", "unverified"]


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class Verdict:
    """``count`` entries checked (up to the problem, if any); the last good ``seq`` and ``hash``;
    how many entries were ``keyed`` and ``unkeyed`` and how many keyed ones were ``unchecked`` (no key
    given); ``key_id``: the given key's, else the newest keyed row's."""

    count: int
    last_seq: int
    last_hash: str
    problem: Problem | None = None
    keyed: int = 0
    unkeyed: int = 0
    unchecked: int = 0
    key_id: str | None = None

    @property
    def status(self) -> Status:
        """``broken`` (a problem), ``unverified`` (keyed hashes not checked) or ``ok``."""
        if self.problem is not None:
            return "broken"
        return "unverified" if self.unchecked else "ok"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, **asdict(self)}


def verify(conn: Connection, *, key: AuditKey | None = None, legacy_until: int | None = None,
           anchors: Mapping[int, str] | None = None) -> Verdict:
    """Check every entry's hash (keyed ones with ``key``), ``seq`` continuity and chain link, then the
    head and the anchors. ``legacy_until``: the last seq allowed unkeyed (None: 0 with a key, any
    without)."""
    wanted = dict(anchors or {})
    walk = _Walk(key, legacy_until if legacy_until is not None or key is None else 0)
    for row in iter_rows(conn):
        problem = walk.check(row) or _check_anchor(row, wanted)
        if problem is not None:
            return walk.verdict(problem)
        walk.advance(row)
    return walk.verdict(_check_head(conn, walk.seq, walk.prev) or _check_missing_anchors(wanted, walk.seq))


class _Walk:
    """The walk's state: the last good entry, the counts, and the first unkeyed entry beyond
    ``legacy_until`` (kept, not returned, until the end of the unkeyed stretch is known)."""

    def __init__(self, key: AuditKey | None, legacy_until: int | None) -> None:
        self.key, self.legacy_until = key, legacy_until
        self.count, self.seq, self.prev = 0, 0, GENESIS
        self.keyed = self.unkeyed = self.unchecked = 0
        self.seen_key_id: str | None = None
        self.beyond: tuple[int, int, str] | None = None  # (count, seq, hash) before the first such entry
        self.stretch_end = 0

    def check(self, row: Any) -> Problem | None:
        seq = int(row.seq)
        return (_check_seq(seq, self.seq)
                or (self._check_unkeyed(row, seq) if row.key_id is None else self._check_keyed(row, seq))
                or _check_link(row, seq, self.seq, self.prev))

    def advance(self, row: Any) -> None:
        seq = int(row.seq)
        if row.key_id is None:
            if self.keyed == 0 and self.legacy_until is not None and seq > self.legacy_until:
                self.beyond = self.beyond or (self.count, self.seq, self.prev)
                self.stretch_end = seq
            self.unkeyed += 1
        else:
            self.keyed += 1
            if self.key is None:
                self.unchecked += 1
        self.count, self.seq, self.prev = self.count + 1, seq, str(row.hash)

    def verdict(self, problem: Problem | None) -> Verdict:
        """The verdict with ``problem``, or with the unkeyed stretch beyond ``legacy_until`` (earlier)."""
        key_id = self.key.key_id if self.key is not None else self.seen_key_id
        count, seq, prev = self.beyond or (self.count, self.seq, self.prev)
        if self.beyond is not None:
            problem = self._beyond_problem(seq + 1)
        return Verdict(count, seq, prev, problem, self.keyed, self.unkeyed, self.unchecked, key_id)

    def _check_keyed(self, row: Any, seq: int) -> Problem | None:
        self.seen_key_id = row.key_id
        if self.key is None:
            return None  # counted as unchecked
        if row.key_id != self.key.key_id:
            return Problem(seq, "unknown_key", f"seq {seq} was keyed with key {row.key_id}, not with the "
                           f"given key {self.key.key_id}: rewritten with another key, or the wrong key file")
        if entry_hash(row.prev_hash, row._mapping, self.key) != row.hash:
            return _changed(row, seq)
        return None

    def _check_unkeyed(self, row: Any, seq: int) -> Problem | None:
        if entry_hash(row.prev_hash, row._mapping) != row.hash:
            return _changed(row, seq)
        if self.keyed:
            return Problem(seq, "unkeyed", f"seq {seq} is not keyed (plain SHA-256) but follows keyed "
                           f"entries (seq {self.seq} was keyed): it was written or rewritten without the "
                           "audit key")
        return None

    def _beyond_problem(self, first: int) -> Problem:
        last = self.stretch_end
        stretch = f"seq {first} is" if last == first else f"seq {first}–{last} are"
        given = f"the audit key {self.key.key_id} is given and " if self.key is not None else ""
        return Problem(first, "unkeyed", f"{stretch} not keyed (plain SHA-256), though {given}entries "
                       f"after --legacy-until {self.legacy_until} must be ({self.unkeyed} unkeyed and "
                       f"{self.keyed} keyed entries checked): the log was rewritten without the key, or "
                       f"these entries predate the key; only then pass --legacy-until {last}")


def _check_seq(seq: int, last_seq: int) -> Problem | None:
    if seq == last_seq + 1:
        return None
    missing = f"seq {last_seq + 1}" if seq == last_seq + 2 else f"seq {last_seq + 1}–{seq - 1}"
    return Problem(last_seq + 1, "removed", f"{missing} missing: the log jumps from seq {last_seq} "
                   f"to {seq} (rows deleted)")


def _changed(row: Any, seq: int) -> Problem:
    return Problem(seq, "changed", f"seq {seq} ({row.action} {row.entity} {row.entity_id}) does not "
                   "match its hash: it was changed after it was written")


def _check_link(row: Any, seq: int, last_seq: int, last_hash: str) -> Problem | None:
    if row.prev_hash != last_hash:
        return Problem(seq, "chain_broken", f"seq {seq} does not chain to seq {last_seq}: one of them was "
                       "rewritten with a recomputed hash, or rows were renumbered")
    return None


def _check_anchor(row: Any, anchors: dict[int, str]) -> Problem | None:
    expected = anchors.pop(int(row.seq), None)
    if expected is not None and not row.hash.startswith(expected.lower()):
        return Problem(int(row.seq), "anchor_mismatch", f"seq {row.seq} has hash {row.hash}, the anchor "
                       f"says {expected}: the log was rewritten up to here")
    return None


def _check_head(conn: Connection, last_seq: int, last_hash: str) -> Problem | None:
    stored = head(conn)
    if stored is None:
        if last_seq == 0:
            return None
        return Problem(last_seq, "head_mismatch", "audit_head is missing (deleted) while the log has "
                       f"{last_seq} entries")
    head_seq, head_hash = stored
    if head_seq > last_seq:
        return Problem(last_seq + 1, "truncated", f"the log ends at seq {last_seq} but its head is seq "
                       f"{head_seq}: seq {last_seq + 1}–{head_seq} were cut off the tail")
    if head_seq < last_seq:
        return Problem(head_seq + 1, "head_mismatch", f"the head is seq {head_seq} but the log goes on to "
                       f"seq {last_seq}: rows were appended behind the head's back")
    if head_hash != last_hash:
        return Problem(last_seq, "head_mismatch", f"seq {last_seq}'s hash is not the head's {head_hash}: "
                       "the last row or the head was rewritten")
    return None


def _check_missing_anchors(anchors: Mapping[int, str], last_seq: int) -> Problem | None:
    if not anchors:
        return None
    seq = min(anchors)
    return Problem(seq, "truncated", f"anchor seq {seq} is not in the log (it ends at seq {last_seq})")
