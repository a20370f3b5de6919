"""When to try a failed delivery again: exponential backoff with full jitter (AWS's "full
jitter": uniform between 0 and min(max, base × 2^(attempt-1))). The outbox is the app's."""

from __future__ import annotations

from typing import Protocol

_MAX_EXPONENT = 60


class RandomSource(Protocol):
    def random(self) -> float: ...


def backoff_cap_s(attempt: int, base_s: float, max_s: float) -> float:
    """The upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt}")
    return min(max_s, base_s * 2.0 ** min(attempt - 1, _MAX_EXPONENT))


def next_attempt_ms(attempt: int, now_ms: int, base_s: float, max_s: float,
                    rng: RandomSource) -> int:
    """When to make the next attempt after ``attempt`` failed ones (``rng``: e.g. a
    ``random.Random``; seeded in tests)."""
    return now_ms + int(backoff_cap_s(attempt, base_s, max_s) * 1000 * rng.random())
