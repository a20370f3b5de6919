"""The hash chain, pure: canonical JSON, the hash of one entry, and linking entries after a head.

``hash = sha256(prev_hash + canonical row)``, where the canonical row is the JSON object of the entry's
fields (``seq``, ``at_ms``, ``actor``, ``action``, ``entity``, ``entity_id`` and the *stored text* of
``before_json`` / ``after_json``) with sorted keys, compact separators and UTF-8 text (not ``\\u``
escapes). Hashing the stored text, not a re-parsed value, makes any byte changed in a row show.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "at_ms", "actor", "action", "entity", "entity_id", "before_json", "after_json")


@dataclass(frozen=True)
class Entry:
    """One change to record: who, when, what, and the state before and after (JSON-able values;
    ``None`` for "did not exist" / "no longer exists")."""

    actor: str
    action: str
    entity: str
    entity_id: str
    before: Any = None
    after: Any = None
    at_ms: int = 0


def canonical_json(value: Any) -> str | None:
    """Sorted keys, no spaces, UTF-8 text; ``None`` stays ``None`` (SQL NULL)."""
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of a stored row (any mapping with the ``HASHED_FIELDS``) chained after ``prev_hash``."""
    canonical = json.dumps({k: row[k] for k in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def link(entries: Iterable[Entry], *, after_seq: int, after_hash: str) -> Iterator[dict[str, Any]]:
    """The rows to insert for ``entries``, numbered and chained after the head (``after_seq``,
    ``after_hash``)."""
    seq, prev = after_seq, after_hash
    for e in entries:
        seq += 1
        row = {"seq": seq, "at_ms": int(e.at_ms), "actor": str(e.actor)[:200], "action": e.action[:120],
               "entity": e.entity[:32], "entity_id": str(e.entity_id)[:64],
               "before_json": canonical_json(e.before), "after_json": canonical_json(e.after),
               "prev_hash": prev}
        row["hash"] = prev = entry_hash(prev, row)
        yield row
