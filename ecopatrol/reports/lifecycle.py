"""A report's life: received → triaged → assigned → on_scene → resolved, or rejected (with a reason)
from any open state. Pure: the service records each change with who and when."""

from __future__ import annotations

from typing import Literal, get_args

Status = Literal["received", "triaged", "assigned", "on_scene", "resolved", "rejected"]
Action = Literal["triage", "assign", "on_scene", "resolve", "reject"]
STATUSES: tuple[str, ...] = get_args(Status)
ACTIONS: tuple[str, ...] = get_args(Action)
TERMINAL: frozenset[str] = frozenset({"resolved", "rejected"})

#: action → (the status it leads to, the statuses it may start from)
_MOVES: dict[str, tuple[str, tuple[str, ...]]] = {
    "triage": ("triaged", ("received",)),
    "assign": ("assigned", ("triaged",)),
    "on_scene": ("on_scene", ("assigned",)),
    "resolve": ("resolved", ("on_scene",)),
    "reject": ("rejected", ("received", "triaged", "assigned", "on_scene")),
}
_NEXT_ACTION: dict[str, str] = {
    "received": "triage",
    "triaged": "assign",
    "assigned": "on_scene",
    "on_scene": "resolve",
}

#: (Simplified Chinese, English) labels shown on the public tracking page.
STATUS_LABELS: dict[str, tuple[str, str]] = {
    "received": ("已受理", "Received"),
    "triaged": ("已研判", "Triaged"),
    "assigned": ("已派警", "Squad assigned"),
    "on_scene": ("已到达现场", "Squad on scene"),
    "resolved": ("已处置", "Resolved"),
    "rejected": ("不予立案", "Rejected"),
}


class TransitionError(ValueError):
    """A status change that is not allowed from the report's current status."""


def next_status(current: str, action: str) -> str:
    """The status ``action`` leads to from ``current``; raise TransitionError with the way forward."""
    if action not in _MOVES:
        raise TransitionError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    target, sources = _MOVES[action]
    if current in sources:
        return target
    if current in TERMINAL:
        raise TransitionError(f"the report is already {current}; it cannot {action.replace('_', ' ')}")
    hint = _NEXT_ACTION.get(current)
    raise TransitionError(
        f"cannot {action.replace('_', ' ')} a report that is {current} "
        f"(allowed from {', '.join(sources)}; the next step is {hint})"
    )


def status_label(status: str) -> dict[str, str]:
    zh, en = STATUS_LABELS.get(status, (status, status))
    return {"zh": zh, "en": en}
