"""The audit key: 32 random bytes in a file outside the database, which the evidence trail's hashes
are keyed with (HMAC-SHA256, ``ecopatrol.audit.chain``).

Whoever can write the database but not read this file cannot recompute a keyed entry's hash, so a log
rewritten wholesale (its head included) no longer verifies, without any anchor noted elsewhere.

- Where it lives: ``[audit] key_file`` (relative to the config file; default ``data/audit.key``) or
  ``ECOPATROL_AUDIT_KEY_FILE``. On PostgreSQL deployments the key lives on the API hosts, **not** on the
  database server: that is the point (a database administrator, a stolen backup or an SQL injection
  reaches the rows, not the key). Every API process, on every host, must read the same file; copy it
  to each host before starting it, and back it up with the same care as the database: without it the
  entries it keyed can no longer be verified.
- Made at the first start: ``build_runtime`` (the server, its workers, the demo and every CLI command
  but ``audit verify`` / ``audit show``, which read without the key) creates the file when it does
  not exist (``secrets.token_bytes(32)``, mode 0600, written to a temporary file and linked into
  place, so concurrent starts agree on one key) and logs that it did, with the number of unkeyed
  entries written before it (``ecopatrol audit verify --legacy-until N``).
- Refused: a file that cannot be read or does not hold exactly 32 bytes (``AuditKeyError`` naming the
  file); and making a new key while the log's newest entry is keyed (a missing file on a second API
  host or after a restore: copy or restore the key instead). An existing file whose key is not the one
  of the newest entry is used, with a warning: entries from there on verify only with the new key.
- Not handled: rotation. ``verify`` checks one key; a replaced key shows as ``unknown_key``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from pathlib import Path

from ecopatrol.audit.chain import KEY_BYTES, AuditKey
from ecopatrol.audit.trail import newest
from ecopatrol.config import ConfigError
from ecopatrol.store import Store

log = logging.getLogger("ecopatrol.audit")


class AuditKeyError(ConfigError):
    """The audit key file is missing, unreadable or malformed (the message names it)."""


def load_key(path: Path) -> AuditKey:
    """The key in ``path``; ``AuditKeyError`` when it is missing, unreadable or not 32 bytes."""
    try:
        secret = path.read_bytes()
    except FileNotFoundError:
        raise AuditKeyError(f"{path}: no such audit key file") from None
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot read the audit key file: {exc.strerror or exc}") from None
    if len(secret) != KEY_BYTES:
        raise AuditKeyError(f"{path}: an audit key file holds exactly {KEY_BYTES} bytes, this one "
                            f"{len(secret)} (a damaged or wrong file)")
    _warn_if_readable_by_others(path)
    return AuditKey(secret)


def create_key(path: Path) -> tuple[AuditKey, bool]:
    """A new random key written to ``path`` (0600, atomically); when another process made the file
    first, the key it wrote. True when this call made it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the audit key file: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(secrets.token_bytes(KEY_BYTES))
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.link(tmp, path)  # atomic, and never over a key another process linked meanwhile
    except FileExistsError:
        return load_key(path), False
    except OSError as exc:
        raise AuditKeyError(f"{path}: cannot create the audit key file: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _sync_folder(path.parent)
    return load_key(path), True


def open_audit_key(path: Path, store: Store) -> AuditKey:
    """The key for ``store``'s appends: loaded from ``path``, or made there at the first start (logged,
    with the count of unkeyed entries before it). Refuses to make one over a keyed log."""
    with store.read() as conn:
        last_seq, last_key_id = newest(conn)
    if not path.exists():
        if last_key_id is not None:
            raise AuditKeyError(_missing_message(path, last_seq, last_key_id))
        key, made = create_key(path)
        if made:
            log.warning("%s", created_message(path, key, legacy_entries=last_seq))
        return key
    key = load_key(path)
    if last_key_id is not None and last_key_id != key.key_id:
        log.warning("%s: audit key %s is not the key %s of the newest audit entry (seq %d): entries "
                    "from now on verify only with this key, the earlier ones only with the other",
                    path, key.key_id, last_key_id, last_seq)
    return key


def created_message(path: Path, key: AuditKey, *, legacy_entries: int) -> str:
    """What the operator must know about a key just made."""
    text = (f"created the audit key {path} (key id {key.key_id}, mode 0600): back it up, and give "
            "every API process the same file (on PostgreSQL: copy it to every API host)")
    if legacy_entries:
        text += (f"; the {legacy_entries} audit entries already in the log are unkeyed: verify with "
                 f"`ecopatrol audit verify --legacy-until {legacy_entries}`")
    return text


def _missing_message(path: Path, last_seq: int, last_key_id: str) -> str:
    return (f"{path}: no such audit key file, but the audit log's newest entry (seq {last_seq}) was "
            f"keyed with key {last_key_id}: copy the key file from another API host or restore it from "
            "the backup (a new key would leave the entries it keyed unverifiable). If that key is lost "
            f"for good, put {KEY_BYTES} new random bytes in the file yourself (head -c {KEY_BYTES} "
            f"/dev/urandom > {path}; chmod 600 {path})")


def _warn_if_readable_by_others(path: Path) -> None:
    with contextlib.suppress(OSError):
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s: the audit key file is readable by other users (chmod 600 it)", path)


def _sync_folder(folder: Path) -> None:
    """Make the new directory entry durable (best effort: not every platform opens folders)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = ["AuditKeyError", "create_key", "created_message", "load_key", "open_audit_key"]
