"""The one task interface (DESIGN §5): everything queued goes through ``enqueue``.

Tasks are django-tasks ``Task`` objects (``@task()`` functions). ``enqueue`` never sends work
straight away: it registers the enqueue with ``transaction.on_commit``, so a rolled-back
transaction queues nothing and a worker never sees rows that are not committed yet. Outside a
transaction the commit has already happened and the task is queued at once.

Which backend runs the task is settings (``TASKS``): the database backend by default, run by
``jiayuan worker``; the immediate backend (``JIAYUAN_TASK_BACKEND``) runs it inline after the
commit; a Redis-backed backend in production.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task: Any, /, *, run_after: dt.datetime | None = None, **kwargs: Any) -> None:
    """Queue ``task(**kwargs)`` once the current transaction commits.

    ``run_after`` defers it (retries with backoff) where the backend can defer; a backend that
    cannot (the immediate one) runs it at once instead. A failure to queue is logged, never
    raised into the request whose transaction has already committed.
    """

    def _send() -> None:
        queued = task
        if run_after is not None and queued.get_backend().supports_defer:
            queued = queued.using(run_after=run_after)
        queued.enqueue(**kwargs)

    transaction.on_commit(_send, robust=True)
    logger.debug("queued %s %s after commit", getattr(task, "name", task), kwargs)
