"""Who must act is told: the hook the workflow calls after each committed transition."""

from __future__ import annotations


def ticket_changed(*, ticket_id: int, seq: int) -> None:
    """Called once per committed event (``transaction.on_commit``)."""
