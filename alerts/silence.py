"""Silences: label matchers, a time span, who and why (``POST /api/v1/silences``)."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alerts.matchers import MatcherField, matches_all
from alerts.model import Alert, Mute
from alerts.reasons import SuppressReason


class Silence(BaseModel):
    """Mutes alerts whose labels match every matcher while ``starts_ms <= now < ends_ms``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    matchers: tuple[MatcherField, ...] = Field(min_length=1)
    starts_ms: int
    ends_ms: int
    created_by: str = Field(min_length=1)
    comment: str = Field(min_length=1)

    @model_validator(mode="after")
    def _span(self) -> Silence:
        if self.ends_ms <= self.starts_ms:
            raise ValueError("ends_ms must be after starts_ms")
        return self

    def active(self, now_ms: int) -> bool:
        return self.starts_ms <= now_ms < self.ends_ms

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json")


class Silencer:
    """The ``Muter`` of the silences active at ``now_ms`` (the first matching one wins)."""

    def __init__(self, silences: Iterable[Silence], now_ms: int) -> None:
        self._active = sorted((s for s in silences if s.active(now_ms)), key=lambda s: s.id)

    def mutes(self, alert: Alert) -> Mute | None:
        for silence in self._active:
            if matches_all(silence.matchers, alert.labels):
                return Mute(SuppressReason.silenced, silence.id)
        return None
