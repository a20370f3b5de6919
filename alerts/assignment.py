"""Which squad takes an alert: the nearest available on-duty squad by distance from its last known
position to the alert's location; squads within ``tie_m`` of the nearest are a tie, broken by
fewest open alerts, then by id. Squads that declined the alert, and squads the alert is about
(a silent unit's own squad), are never chosen."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.model import Alert, to_plain
from alerts.reasons import AssignReason
from alerts.squads import SquadState, SquadStatus

DEFAULT_TIE_M = 100.0


@dataclass(frozen=True, slots=True)
class AssignmentDecision:
    squad_id: str | None
    reason: AssignReason
    distance_m: float | None = None
    considered: int = 0  # available squads weighed

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)


def choose_squad(location: tuple[float, float] | None, squads: Sequence[SquadStatus], *,
                 exclude: Collection[str] = (), extra_load: Mapping[str, int] | None = None,
                 tie_m: float = DEFAULT_TIE_M) -> AssignmentDecision:
    """Pick a squad for an alert at ``location`` (x_m, y_m). ``extra_load`` counts alerts
    assigned earlier in the same batch."""
    extra_load = extra_load or {}
    pool = [s for s in squads if s.state is SquadState.available and s.squad_id not in exclude]
    if not pool:
        return AssignmentDecision(None, AssignReason.none_available)

    def load(s: SquadStatus) -> tuple[int, str]:
        return (s.load + extra_load.get(s.squad_id, 0), s.squad_id)

    located = [s for s in pool if s.x_m is not None and s.y_m is not None]
    if location is None or not located:
        best = min(pool, key=load)
        reason = AssignReason.no_location if location is None else AssignReason.no_position_known
        return AssignmentDecision(best.squad_id, reason, None, len(pool))
    x, y = location
    distances = {s.squad_id: math.hypot(s.x_m - x, s.y_m - y) for s in located}  # type: ignore[operator]
    nearest = min(distances.values())
    ties = sorted((s for s in located if distances[s.squad_id] <= nearest + tie_m), key=load)
    best = ties[0]
    if len(ties) == 1:
        reason = AssignReason.nearest_available
    elif load(ties[1])[0] > load(best)[0]:
        reason = AssignReason.tie_least_busy
    else:
        reason = AssignReason.tie_lowest_id
    return AssignmentDecision(best.squad_id, reason, round(distances[best.squad_id], 1), len(pool))


def exclusions(alert: Alert) -> frozenset[str]:
    """Squads that must not get this alert: those that declined it and those it is about."""
    return frozenset(alert.declined_squads) | frozenset(alert.evidence.squad_ids)


def assign_alert(alert: Alert, squads: Sequence[SquadStatus], *,
                 extra_load: Mapping[str, int] | None = None,
                 tie_m: float = DEFAULT_TIE_M) -> AssignmentDecision:
    return choose_squad(alert.location, squads, exclude=exclusions(alert), extra_load=extra_load,
                        tie_m=tie_m)
