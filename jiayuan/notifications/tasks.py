"""Background tasks of notifications (django-tasks). Queue them with ``jiayuan.core.tasks.enqueue``
so they run after the commit; the bodies are the plain services."""

from __future__ import annotations

from django_tasks import task

from jiayuan.notifications import services


@task()
def notify_ticket_event_task(*, ticket_id: int, seq: int) -> int:
    """Tell whoever must act about one ticket event (see ``services.notify_ticket_event``)."""
    return services.notify_ticket_event(ticket_id=ticket_id, seq=seq)


@task()
def notify_ticket_events_task(*, pairs: list[list[int]]) -> int:
    """The same for a batch of events ([ticket_id, seq] pairs), as the sweeper writes them."""
    return sum(
        services.notify_ticket_event(ticket_id=ticket_id, seq=seq) for ticket_id, seq in pairs
    )


@task()
def send_outbound_task(*, outbound_id: int) -> str:
    """Send one outbound message at most once (see ``services.send_outbound``)."""
    return services.send_outbound(outbound_id=outbound_id)
