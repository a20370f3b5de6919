"""Why the pipeline decided what it did: one enum per kind of decision.

Every value is unique across all reason enums (a test checks it), so a timeline stored as JSON
names its reason by value alone and ``alerts.model.parse_reason`` brings the enum back.
"""

from __future__ import annotations

from enum import StrEnum


class DedupeReason(StrEnum):
    """What dedupe made of a candidate, given the alert with the same fingerprint (if any)."""

    new = "new"  # no alert with this fingerprint: create one
    new_evidence = "new_evidence"  # an open alert exists, the candidate adds evidence: update it
    duplicate = "duplicate"  # an open alert exists and already holds all the evidence
    refire_after_resolve = "refire_after_resolve"  # resolved before, new evidence or a new episode
    resolved_no_new_evidence = "resolved_no_new_evidence"  # resolved, nothing new: stay quiet


class SuppressReason(StrEnum):
    """Why a candidate did not become (or an alert stopped being) a live, notified alert."""

    duplicate_open = "duplicate_open"
    already_resolved = "already_resolved"
    inhibited_by_cluster = "inhibited_by_cluster"
    inhibited_by_rule = "inhibited_by_rule"
    silenced = "silenced"


class UnmuteReason(StrEnum):
    """Why a muted alert became live again."""

    silence_ended = "silence_ended"
    inhibition_ended = "inhibition_ended"


class RouteReason(StrEnum):
    matched_route = "matched_route"
    default_route = "default_route"


class AssignReason(StrEnum):
    """Why this squad (or none) was chosen."""

    nearest_available = "nearest_available"
    tie_least_busy = "tie_least_busy"  # several within the tie distance: fewest open alerts
    tie_lowest_id = "tie_lowest_id"  # several within the tie distance, equally busy: lowest id
    no_position_known = "no_position_known"  # no available squad has a position: least busy
    no_location = "no_location"  # the alert has no location: least busy available squad
    none_available = "none_available"  # nobody on duty and free: stays unassigned, escalates


class DeclineReason(StrEnum):
    """Why a squad declined an assignment (chosen on the phone from a fixed list)."""

    busy_other_incident = "busy_other_incident"
    too_far = "too_far"
    unsafe_conditions = "unsafe_conditions"
    vehicle_unavailable = "vehicle_unavailable"
    member_unavailable = "member_unavailable"
    other = "other"


class EscalationReason(StrEnum):
    ack_overdue = "ack_overdue"
    on_scene_overdue = "on_scene_overdue"
    unassigned = "unassigned"  # no squad could be assigned: the commander is told at once


class NotificationEvent(StrEnum):
    """What a notification tells its recipient (also the webhook's ``X-Ecopatrol-Event``)."""

    created = "alert.created"
    assigned = "alert.assigned"
    updated = "alert.updated"
    escalated = "alert.escalated"


REASON_ENUMS: tuple[type[StrEnum], ...] = (
    DedupeReason,
    SuppressReason,
    UnmuteReason,
    RouteReason,
    AssignReason,
    DeclineReason,
    EscalationReason,
    NotificationEvent,
)
