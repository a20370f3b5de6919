"""OwnTracks HTTP/MQTT payloads to fixes: ``_type: location`` messages (one or a list).

Other message types (``lwt``, ``transition``, ``waypoint``, ``card``, ``encrypted``, ...) are not
positions of a patrol and are counted in ``ignored``. Units: ``vel`` km/h, ``acc`` and ``alt``
metres, ``cog`` degrees, ``batt`` percent, ``tst`` epoch seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from geo.schema import ParseResult, RecordError
from geo.tracks._common import KMH_TO_MPS, FixRows, error, number, number_problem

_MAX_TST_S = 1e12  # beyond any real epoch-seconds value (and far inside int64 milliseconds)


@dataclass(frozen=True)
class OwnTracksResult(ParseResult):
    """A ``ParseResult`` plus how many messages were of another ``_type`` and skipped."""

    ignored: int = 0


def is_location(message: Any) -> bool:
    """True for an OwnTracks location message."""
    return isinstance(message, Mapping) and message.get("_type") == "location"


def parse_owntracks(
    body: Mapping[str, Any] | list[Any],
    *,
    device_hint: str | None,
    source: str = "owntracks",
) -> OwnTracksResult:
    """Parse a payload. The unit is ``device_hint`` (the ``X-Limit-D`` header or the last part of
    the MQTT topic), else the last part of the message's ``topic``, else its ``tid``. Errors
    name ``message N`` (0-based); the mode is left blank for the app to fill."""
    messages = body if isinstance(body, list) else [body]
    rows, errors, ignored = FixRows(), [], 0
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            errors.append(error(f"message {index}", "_type", "not a JSON object"))
        elif not is_location(message):
            ignored += 1
        else:
            _add_location(rows, errors, f"message {index}", message, device_hint)
    return OwnTracksResult(rows.frame(source=source, mode=""), errors, ignored)


def _add_location(rows: FixRows, errors: list[RecordError], where: str,
                  message: Mapping[str, Any], device_hint: str | None) -> None:
    unit = _unit(message, device_hint)
    lat, lon, tst = number(message.get("lat")), number(message.get("lon")), number(
        message.get("tst"))
    problems = [error(where, name, number_problem(message.get(name)))
                for name, value in (("lat", lat), ("lon", lon), ("tst", tst)) if value is None]
    if tst is not None and abs(tst) > _MAX_TST_S:
        problems.append(error(where, "tst", f"not an epoch time in seconds: {tst:g}"))
    if unit is None:
        problems.append(error(where, "tid", "no device hint, topic or tid to name the unit"))
    if problems:
        errors.extend(problems)
        return
    vel_kmh = number(message.get("vel"))
    acc_m = number(message.get("acc"))
    rows.add(
        unit, round(tst * 1000), lon, lat,
        speed_mps=None if vel_kmh is None or vel_kmh < 0 else vel_kmh * KMH_TO_MPS,
        accuracy_m=None if acc_m is None or acc_m < 0 else acc_m,
        bearing_deg=number(message.get("cog")),
        altitude_m=number(message.get("alt")),
        battery_pct=number(message.get("batt")),
    )


def _unit(message: Mapping[str, Any], device_hint: str | None) -> str | None:
    if device_hint and device_hint.strip():
        return device_hint.strip()
    topic = message.get("topic")
    if isinstance(topic, str) and topic.strip("/"):
        return topic.strip("/").rsplit("/", 1)[-1]
    tid = message.get("tid")
    return tid.strip() if isinstance(tid, str) and tid.strip() else None
