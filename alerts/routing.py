"""Routes: by labels (severity, township…) to channels and an escalation policy. A flat list,
first match wins, then the default route (Alertmanager's tree flattened: enough for a county)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from alerts.matchers import MatcherField, matches_all


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    matchers: tuple[MatcherField, ...] = ()
    channels: tuple[str, ...] = ("stream",)
    escalation_policy: str | None = None  # a policy name; default: the alert's severity
    assign: bool = True  # False: alerts here go to roles only (e.g. a review queue)
    also_notify: tuple[str, ...] = ()  # roles told of every new alert here (e.g. duty_commander)


DEFAULT_ROUTE = Route(name="default", channels=("stream",))


def match_route(routes: Sequence[Route], labels: Mapping[str, str]) -> Route | None:
    for route in routes:
        if matches_all(route.matchers, labels):
            return route
    return None
