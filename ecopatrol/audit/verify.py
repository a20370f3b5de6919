"""``verify``: walk the evidence trail in ``seq`` order and name the first thing wrong.

Detected, each naming the first bad ``seq``:

- ``changed``: a row whose content (any field, ``prev_hash`` included) no longer gives its ``hash``;
- ``removed``: a gap in ``seq`` (rows deleted from the start or the middle);
- ``chain_broken``: a row whose ``prev_hash`` is not the hash of the row before it (a row rewritten
  with a recomputed hash, or a row slipped in with renumbered neighbours);
- ``truncated``: the log ends before its ``audit_head`` (rows cut off the tail, also after later
  appends: they continue from the head and leave the gap in the log);
- ``head_mismatch``: the head missing or not the last row's hash (rows appended behind its back);
- ``anchor_mismatch``: a ``seq → hash`` noted elsewhere (``--anchor``) not found in the log.

Not detectable from the database alone: a rewrite of the whole log *and* its head with recomputed
hashes by someone with write access (the hashes are not keyed). Anchors close that gap: note the head
printed by ``ecopatrol audit verify`` somewhere the database's writers cannot reach (a signed report,
another machine) and pass it back with ``--anchor SEQ:HASH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from sqlalchemy import Connection

from ecopatrol.audit.chain import GENESIS, entry_hash
from ecopatrol.audit.trail import head, iter_rows

ProblemKind = Literal["changed", "removed", "chain_broken", "truncated", "head_mismatch", "anchor_mismatch"]


@dataclass(frozen=True)
class Problem:
    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True)
class Verdict:
    """``count`` entries checked (up to the problem, if any); the last good ``seq`` and ``hash``."""

    count: int
    last_seq: int
    last_hash: str
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **asdict(self)}


def verify(conn: Connection, *, anchors: Mapping[int, str] | None = None) -> Verdict:
    """Check every entry's hash, ``seq`` continuity and chain link, then the head and the anchors."""
    wanted = dict(anchors or {})
    count, seq, prev = 0, 0, GENESIS
    for row in iter_rows(conn):
        problem = _check_row(row, seq, prev) or _check_anchor(row, wanted)
        if problem is not None:
            return Verdict(count, seq, prev, problem)
        count, seq, prev = count + 1, int(row.seq), str(row.hash)
    problem = _check_head(conn, seq, prev) or _check_missing_anchors(wanted, seq)
    return Verdict(count, seq, prev, problem)


def _check_row(row: Any, last_seq: int, last_hash: str) -> Problem | None:
    seq = int(row.seq)
    if seq != last_seq + 1:
        missing = f"seq {last_seq + 1}" if seq == last_seq + 2 else f"seq {last_seq + 1}–{seq - 1}"
        return Problem(last_seq + 1, "removed", f"{missing} missing: the log jumps from seq {last_seq} "
                       f"to {seq} (rows deleted)")
    if entry_hash(row.prev_hash, row._mapping) != row.hash:
        return Problem(seq, "changed", f"seq {seq} ({row.action} {row.entity} {row.entity_id}) does not "
                       "match its hash: it was changed after it was written")
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
