"""Live alerts for squads' phones and commanders: the SSE hub and its persistent event log."""

from ecopatrol.live.hub import LiveEvent, LiveHub

__all__ = ["LiveEvent", "LiveHub"]
