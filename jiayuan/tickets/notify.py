"""Who must act is told: the hook the workflow calls after each committed event.

It only queues ``notify_ticket_event_task`` through the one task interface, inside the
transaction that writes the event, so the request that made the change is not slowed by working
out recipients or sending; the worker (database backend: the task row commits with the event, an
outbox) or the immediate backend (after the commit) does that.
"""

from __future__ import annotations


def ticket_changed(*, ticket_id: int, seq: int) -> None:
    """Called once per event, inside the transaction that writes it."""
    from jiayuan.core.tasks import enqueue
    from jiayuan.notifications.tasks import notify_ticket_event_task

    enqueue(notify_ticket_event_task, ticket_id=ticket_id, seq=seq)


def tickets_changed(*, pairs: list[tuple[int, int]]) -> None:
    """Many events at once (the sweeper's batches): one task row for all of them."""
    from jiayuan.core.tasks import enqueue
    from jiayuan.notifications.tasks import notify_ticket_events_task

    if pairs:
        enqueue(notify_ticket_events_task, pairs=[[t, s] for t, s in pairs])
