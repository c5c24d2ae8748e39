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
def send_outbound_task(*, outbound_id: int) -> str:
    """Send one outbound message at most once (see ``services.send_outbound``)."""
    return services.send_outbound(outbound_id=outbound_id)
