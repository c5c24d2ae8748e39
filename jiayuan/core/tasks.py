"""The one task interface (DESIGN §5): everything queued goes through ``enqueue``.

Tasks are django-tasks ``Task`` objects (``@task()`` functions). A rolled-back
transaction queues nothing and a worker never sees work whose data is not committed yet:

- with the database backend (the default) inside a transaction, the task row is written in that
  same transaction — an outbox: the change and the work it causes commit together, in one
  commit, or not at all;
- with any other backend (immediate, Redis) the enqueue waits for ``transaction.on_commit``;
- outside a transaction the commit has already happened and the task is queued at once.

Which backend runs the task is settings (``TASKS``): the database backend by default, run by
``jiayuan worker``; the immediate backend (``JIAYUAN_TASK_BACKEND``) runs it inline after the
commit; a Redis-backed backend in production.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import connection, transaction

logger = logging.getLogger(__name__)


def enqueue(task: Any, /, *, run_after: dt.datetime | None = None, **kwargs: Any) -> None:
    """Queue ``task(**kwargs)`` so that it runs only if the current transaction commits.

    ``run_after`` defers it (retries with backoff) where the backend can defer; a backend that
    cannot (the immediate one) runs it at once instead. In the outbox case a failure to write the
    task row rolls the whole transaction back; after a commit, a failure to queue is logged, never
    raised into the request whose transaction has already committed.
    """

    def _send() -> None:
        queued = task
        if run_after is not None and queued.get_backend().supports_defer:
            queued = queued.using(run_after=run_after)
        queued.enqueue(**kwargs)

    if connection.in_atomic_block and _writes_to_this_database(task):
        _send()
    else:
        transaction.on_commit(_send, robust=True)
    logger.debug("queued %s %s after commit", getattr(task, "name", task), kwargs)


def _writes_to_this_database(task: Any) -> bool:
    """True when the task's backend stores tasks as rows of the database (the outbox)."""
    from django_tasks_db import DatabaseBackend

    return isinstance(task.get_backend(), DatabaseBackend)
