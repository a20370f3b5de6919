"""The hash chain, pure: canonical JSON, the hash of one entry, and linking entries after a head.

``hash = HMAC-SHA256(key, prev_hash + canonical row)`` (hex) for entries written with the audit key
(``key_id`` names the key: the first 16 hex digits of ``sha256(b"ecopatrol-audit-key-id" + key)``),
and ``hash = sha256(prev_hash + canonical row)`` for entries written before a key existed
(``key_id`` NULL). The canonical row is the JSON object of the entry's fields (``seq``, ``at_ms``,
``actor``, ``action``, ``entity``, ``entity_id`` and the *stored text* of ``before_json`` /
``after_json``) with sorted keys, compact separators and UTF-8 text (not ``\\u`` escapes). Hashing
the stored text, not a re-parsed value, makes any byte changed in a row show. Without the key nobody
can compute a keyed row's hash, so a log rewritten by someone who can only write the database no
longer verifies (``ecopatrol.audit.keys`` keeps the key outside the database).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

#: ``prev_hash`` of the first entry.
GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "at_ms", "actor", "action", "entity", "entity_id", "before_json", "after_json")
#: the length of an audit key, in bytes
KEY_BYTES = 32
_KEY_ID_SALT = b"ecopatrol-audit-key-id"


@dataclass(frozen=True)
class AuditKey:
    """The secret the chain's hashes are keyed with, and ``key_id``, its public name in each row (the
    secret never appears in a repr)."""

    secret: bytes = field(repr=False)
    key_id: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"an audit key is {KEY_BYTES} bytes, got {len(self.secret)}")
        object.__setattr__(self, "key_id", key_id_of(self.secret))


def key_id_of(secret: bytes) -> str:
    """The first 16 hex digits of ``sha256(b"ecopatrol-audit-key-id" + secret)``."""
    return hashlib.sha256(_KEY_ID_SALT + secret).hexdigest()[:16]


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


def entry_hash(prev_hash: str, row: Mapping[str, Any], key: AuditKey | None = None) -> str:
    """The hash of a stored row (any mapping with the ``HASHED_FIELDS``) chained after ``prev_hash``:
    HMAC-SHA256 with ``key``, plain SHA-256 without."""
    canonical = json.dumps({k: row[k] for k in HASHED_FIELDS}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    message = (prev_hash + canonical).encode("utf-8")
    if key is None:
        return hashlib.sha256(message).hexdigest()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def link(entries: Iterable[Entry], *, after_seq: int, after_hash: str,
         key: AuditKey | None = None) -> Iterator[dict[str, Any]]:
    """The rows to insert for ``entries``, numbered and chained after the head (``after_seq``,
    ``after_hash``), keyed with ``key`` (None: plain SHA-256, ``key_id`` NULL)."""
    key_id = key.key_id if key is not None else None
    seq, prev = after_seq, after_hash
    for e in entries:
        seq += 1
        row = {"seq": seq, "at_ms": int(e.at_ms), "actor": str(e.actor)[:200], "action": e.action[:120],
               "entity": e.entity[:32], "entity_id": str(e.entity_id)[:64],
               "before_json": canonical_json(e.before), "after_json": canonical_json(e.after),
               "prev_hash": prev, "key_id": key_id}
        row["hash"] = prev = entry_hash(prev, row, key)
        yield row
