"""What every rule kind shares: the config base model, the facts rules read, label helpers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts import texts
from alerts.model import Candidate, Evidence, FeatureVisit, ReportFact, Severity, UnitFact

#: Labels every candidate carries; a rule's own ``labels`` may not redefine them.
RESERVED_LABELS = frozenset(
    {"rule", "kind", "severity", "category", "township", "reach", "cell", "unit", "squad"}
)


class RuleConfig(BaseModel):
    """The keys every rule table in config.toml has. Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)
    severity: Severity
    labels: dict[str, str] = Field(default_factory=dict)
    enabled: bool = True
    #: Scheduling hints read by the app's scheduler (report-triggered kinds also run on commit).
    interval_min: float | None = Field(default=None, gt=0)
    cron: str | None = None

    @field_validator("labels")
    @classmethod
    def _no_reserved_labels(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(set(value) & RESERVED_LABELS)
        if clash:
            raise ValueError(f"labels may not set reserved label(s) {', '.join(clash)}")
        return value


@dataclass(frozen=True, slots=True)
class RuleFacts:
    """Everything the rules read, loaded by the app from its store for one evaluation."""

    reports: Sequence[ReportFact] = ()
    units: Sequence[UnitFact] = ()
    features: Sequence[FeatureVisit] = ()


def base_labels(config: RuleConfig, kind: str, **more: Any) -> dict[str, str]:
    """rule, kind, severity, the rule's own labels, then ``more`` (``None`` values left out)."""
    labels = {"rule": config.name, "kind": kind, "severity": config.severity.value}
    labels.update(config.labels)
    labels.update({k: str(v) for k, v in more.items() if v is not None and v != ""})
    return labels


def fingerprint(config: RuleConfig, *parts: str) -> str:
    """Readable and stable: ``<rule>/<part>/<part>``."""
    return "/".join((config.name, *parts))


def unit_candidate(config: RuleConfig, kind: str, unit: UnitFact, *, title: texts.Bi, summary: texts.Bi,
                   starts_ms: int, x_m: float | None, y_m: float | None) -> Candidate:
    """The alert about one unit (silent, immobile): fingerprinted by unit, evidence the unit and squad."""
    return Candidate(
        rule=config.name,
        kind=kind,
        severity=config.severity,
        fingerprint=fingerprint(config, "unit", unit.unit_id),
        labels=base_labels(config, kind, unit=unit.unit_id, squad=unit.squad_id, township=unit.township),
        evidence=Evidence(unit_ids=(unit.unit_id,), squad_ids=(unit.squad_id,) if unit.squad_id else ()),
        title_zh=title.zh, title_en=title.en, summary_zh=summary.zh, summary_en=summary.en,
        starts_ms=starts_ms, x_m=x_m, y_m=y_m, lon=unit.last_lon, lat=unit.last_lat,
    )
