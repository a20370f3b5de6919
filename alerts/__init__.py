"""The alert domain: rule kinds (pure functions from facts to candidate alerts), the
Alertmanager-shaped pipeline (dedupe, inhibit, silence, route, assign, notify, escalate), squads
of 1 police officer + 2 auxiliary officers, escalation, and delivery channels (the I/O edge).

No clock (``now_ms`` is a parameter), no database, no web framework: the app loads facts, calls
these functions and persists what they return. See ``alerts/README.md``.
"""
