"""Failed authentications by client address (``auth_failures``), shared by every API process.

The brake that reads them is ``ecopatrol.api.auth_guard``; it keeps its own copy in memory and comes
here only when a client fails."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from ecopatrol.store.schema import auth_failures

CLIENT_CHARS = 64  # an IPv6 address with a zone fits


def add_failure(conn: Connection, client: str, *, at_ms: int, since_ms: int, keep: int) -> list[int]:
    """Store a failure of ``client`` at ``at_ms``; return the client's newest ``keep`` failure times
    after ``since_ms`` (every process's, this one's included), oldest first."""
    client = client[:CLIENT_CHARS]
    conn.execute(insert(auth_failures).values(client=client, at_ms=at_ms))
    newest = conn.execute(select(auth_failures.c.at_ms)
                          .where(auth_failures.c.client == client, auth_failures.c.at_ms > since_ms)
                          .order_by(auth_failures.c.at_ms.desc()).limit(keep)).scalars().all()
    return sorted(newest)


def recent_failures(conn: Connection, *, since_ms: int, keep: int, max_rows: int) -> dict[str, list[int]]:
    """Every client's newest ``keep`` failure times after ``since_ms``, oldest first; the clients in the
    order of their latest failure (the most recent last). Reads at most the newest ``max_rows`` rows."""
    rows = conn.execute(select(auth_failures.c.client, auth_failures.c.at_ms)
                        .where(auth_failures.c.at_ms > since_ms)
                        .order_by(auth_failures.c.at_ms.desc()).limit(max_rows))
    newest_first: dict[str, list[int]] = {}
    for client, at_ms in rows:
        times = newest_first.setdefault(client, [])
        if len(times) < keep:
            times.append(at_ms)
    return {client: times[::-1] for client, times in reversed(newest_first.items())}


def forget_failures(conn: Connection, *, before_ms: int) -> int:
    """Delete the failures at or before ``before_ms`` (out of every window that could still count them)."""
    return int(conn.execute(delete(auth_failures).where(auth_failures.c.at_ms <= before_ms)).rowcount or 0)
