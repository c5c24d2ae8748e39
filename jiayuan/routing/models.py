"""Precise dispatch (精准派单): the routing app's models.

The dispatch side (rules, routing records, hot spots) lives in ``models_dispatch.py``.
"""

from jiayuan.routing.models_dispatch import DispatchRule, HotSpot, TicketRouting  # noqa: F401
