"""``jiayuan worker [--once] [--interval 60]``: the background worker of the embedded setup.

Each round: the queued submissions (受理队列) made into tickets, one SLA sweep, the outbound
messages whose task was lost, then every django-task that is due in the database backend
(django-tasks-db's own ``Worker`` in batch mode, so claiming a task row works exactly as in
``db_worker``). Then it waits ``--interval`` seconds, draining the intake queue (and the tasks
that queues) every ``--intake-interval`` seconds meanwhile, so a queued submission becomes a
ticket within about a second. SIGTERM or
SIGINT stops it cleanly: the task being run finishes, no new one starts, the sleep ends at once.
Any number of workers may run side by side: sweeps and tasks are both claimed row by row.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections
from django.utils import timezone
from django.utils.crypto import get_random_string

logger = logging.getLogger("jiayuan.worker")


class Command(BaseCommand):
    help = "后台任务：时限巡检 + 消息发送等排队任务（循环运行，SIGTERM/SIGINT 安全退出）"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="只运行一轮后退出")
        parser.add_argument(
            "--interval", type=float, default=60.0, help="两轮之间的间隔秒数（默认 60）"
        )
        parser.add_argument(
            "--intake-interval",
            type=float,
            default=1.0,
            help="两轮之间处理受理队列的间隔秒数（默认 1）",
        )
        parser.add_argument("--no-sweep", action="store_true", help="不做时限巡检，只运行任务")

    def handle(self, *args: Any, **options: Any) -> None:
        self.stop = threading.Event()
        self.db_worker: Any = None
        once, interval = bool(options["once"]), max(0.0, float(options["interval"]))
        previous = {
            sig: signal.signal(sig, self._shutdown) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            while not self.stop.is_set():
                close_old_connections()
                summary = self.run_round(sweep=not options["no_sweep"])
                self.stdout.write(json.dumps(summary, ensure_ascii=False))
                if once:
                    break
                self.wait_draining(interval, max(0.05, float(options["intake_interval"])))
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            close_old_connections()
        self.stdout.write("worker stopped")

    def _shutdown(self, signum: int, frame: FrameType | None) -> None:
        logger.warning(
            "worker: %s received, stopping after the current task", signal.strsignal(signum)
        )
        self.stop.set()
        if self.db_worker is not None:
            self.db_worker.running = False

    def wait_draining(self, interval: float, step: float) -> None:
        """Sleep until the next round, turning queued submissions into tickets meanwhile."""
        from jiayuan.tickets.queue import submissions_drain

        deadline = time.monotonic() + interval
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.stop.wait(min(step, left))
            if self.stop.is_set():
                return
            drained = submissions_drain()
            if drained["done"] or drained["failed"]:
                self.stdout.write(json.dumps({"intake": drained, "tasks": self.run_tasks()}))

    def run_round(self, *, sweep: bool) -> dict[str, Any]:
        from jiayuan.notifications.services import resend_stale_outbound
        from jiayuan.tickets.queue import submissions_drain
        from jiayuan.tickets.sweep import sla_sweep

        summary: dict[str, Any] = {"at": timezone.now().isoformat()}
        if not self.stop.is_set():
            summary["intake"] = submissions_drain()
        if sweep and not self.stop.is_set():
            summary["sweep"] = sla_sweep().as_dict()
        if not self.stop.is_set():
            summary["resent"] = resend_stale_outbound(now=timezone.now())
        if not self.stop.is_set():
            summary["tasks"] = self.run_tasks()
        if not self.stop.is_set():
            from jiayuan.stats.services import stats_update

            summary["stats"] = stats_update().as_dict()
        if sweep and not self.stop.is_set():
            from jiayuan.routing.hotspots import hot_spots_raise

            summary["hotspots"] = hot_spots_raise().as_dict()
        return summary

    def run_tasks(self) -> int:
        """Run every due task of the database backend, then return (batch mode)."""
        from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
        from django_tasks_db.backend import DatabaseBackend
        from django_tasks_db.management.commands.db_worker import Worker

        backend = task_backends[DEFAULT_TASK_BACKEND_ALIAS]
        if not isinstance(backend, DatabaseBackend):
            return 0  # the immediate backend has already run them
        self.db_worker = Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name=backend.alias,
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        if self.stop.is_set():
            return 0
        try:
            self.db_worker.run()
            return int(self.db_worker._run_tasks)
        finally:
            self.db_worker = None
