"""The updater: incremental passes, at any points of any history, end where a rebuild ends, and
where ``tickets/measures.py`` stands (hypothesis drives real workflow transitions)."""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jiayuan.core.errors import JiayuanError
from jiayuan.stats import selectors
from jiayuan.stats.models import Watermark
from jiayuan.stats.services import stats_rebuild, stats_update
from jiayuan.stats.tests.helpers import assert_same, snapshot
from jiayuan.tickets import measures
from jiayuan.tickets.models import Category, Ticket
from jiayuan.tickets.services import ticket_create
from jiayuan.tickets.workflow import transition

pytestmark = pytest.mark.django_db
SH = zoneinfo.ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 23, 9, tzinfo=SH)
BUILDINGS = ["a1_1", "a1_1b", "a1_2", "a2_1", "b1_1"]
GRIDS = ["grid_a1_1", "grid_a1_2", "grid_a2_1", "grid_b1_1"]
CHANNELS = ["qr", "web", "hotline", "patrol"]
RATINGS = ["satisfied", "basic", "unsatisfied"]


class History:
    """Interprets hypothesis' steps as intakes and workflow actions on the world."""

    def __init__(self, world: Any) -> None:
        self.w = world
        self.now = T0
        self.tickets: list[Ticket] = []
        self.categories = list(Category.objects.filter(parent__isnull=False).order_by("code"))
        self.admin = world.users["admin"]
        self.dept = world.users["department_officer"]

    def create(self, a: int, b: int) -> None:
        located = a % 5 != 0
        intake = ticket_create(
            channel=CHANNELS[a % len(CHANNELS)],
            title="诉求",
            description="诉求内容",
            building=self.w.buildings[BUILDINGS[b % len(BUILDINGS)]] if located else None,
            reporter_phone="13900000001",
            category=self.categories[b % len(self.categories)] if b % 7 else None,
            created_at=self.now,
        )
        self.tickets.append(intake.ticket)

    def act(self, kind: int, a: int, b: int) -> None:
        if not self.tickets:
            return
        t = self.tickets[a % len(self.tickets)]
        t.refresh_from_db()
        other = self.tickets[b % len(self.tickets)]
        grid = self.w.r(GRIDS[b % len(GRIDS)])
        admin, now = self.admin, self.now
        steps: list[tuple[str, dict[str, Any]]] = [
            ("accept", {"actor": admin}),
            ("handle", {"actor": admin, "note": "进展"}),
            ("call_up", {"actor": admin, "note": "请协调"}),
            ("call_up", {"system": True, "note": "超期自动呼叫"}),
            ("respond", {"actor": admin}),
            ("dispatch", {"actor": admin, "lead": self.w.departments["housing"].pk}),
            ("dept_accept", {"actor": self.dept}),
            ("dept_finish", {"actor": self.dept, "result": "已办"}),
            ("return", {"actor": self.dept, "reason": "非本部门"}),
            ("return", {"actor": admin, "reason": "退回"}),
            ("transfer", {"actor": admin, "region": grid, "note": "转办"}),
            ("request_extension", {"actor": admin, "days": 1 + b % 3, "reason": "需时间"}),
            ("approve_extension", {"actor": admin, "approve": b % 2 == 0}),
            ("supervise", {"actor": admin}),
            ("supervise", {"system": True}),
            ("resolve", {"actor": admin, "result": "已办结"}),
            ("resolve", {"actor": admin, "result": "已办结"}),
            ("rate", {"as_reporter": True, "rating": RATINGS[b % 3]}),
            ("rate", {"as_reporter": True, "rating": RATINGS[b % 3]}),
            ("cancel", {"as_reporter": True}),
            ("merge", {"actor": admin, "into": other.pk}),
            ("archive", {"system": True}),
            ("triage", {"actor": admin, "note": "退回分拨"}),
            ("assign", {"actor": admin, "region": grid, "category": self.categories[a % 9]}),
        ]
        action, data = steps[kind % len(steps)]
        # Not allowed from this state: the history just goes on.
        with contextlib.suppress(JiayuanError):
            transition(t, action, now=now, **data)


step = st.tuples(st.integers(0, 40), st.integers(0, 1000), st.integers(0, 1000), st.booleans())


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(step, min_size=1, max_size=45))
def test_incremental_rollups_equal_the_rebuild_and_the_ticket_table(world, steps):
    with transaction.atomic():
        history = History(world)
        for kind, a, b, update_now in steps:
            history.now += dt.timedelta(hours=1 + a % 30)
            if kind < 8:
                history.create(a, b)
            else:
                history.act(kind, a, b)
            if update_now:
                stats_update(batch_size=1 + b % 7)
        stats_update()
        incremental = snapshot()
        start, end = T0.date(), (history.now + dt.timedelta(days=1)).date()
        for node in ("city", "street_a", "comm_a1", "grid_a1_1"):
            region = world.r(node)
            expected = measures.region_measures(
                region=region,
                start=dt.datetime.combine(start, dt.time(), SH),
                end=dt.datetime.combine(end, dt.time(), SH),
            )
            got = selectors.node_measures(region=region, start=start, end=end)
            assert_same(got.as_dict(), expected.as_dict())
        stats_rebuild(batch_size=1 + len(steps) % 11)
        assert snapshot() == incremental
        transaction.set_rollback(True)


def test_the_watermark_moves_in_batches_and_a_second_pass_does_nothing(world):
    history = History(world)
    for i in range(5):
        history.create(i + 1, i)
    first = stats_update(batch_size=2)
    assert (first.batches, first.events) == (3, 5)
    assert Watermark.objects.get().last_event_id == first.last_event_id
    before = snapshot()
    assert stats_update().events == 0
    assert snapshot() == before


def test_a_claimed_batch_is_not_processed_twice(world):
    """A worker whose claim finds the watermark moved (another worker committed the batch)
    processes nothing: the conditional UPDATE matches no row."""
    from jiayuan.stats import services

    history = History(world)
    history.create(1, 1)
    mark = services._watermark()
    stats_update()
    assert services._claim(mark, history.now) is False


def test_an_event_committed_below_the_watermark_is_picked_up(world):
    """A hole in the ids (a transaction that took a lower id committing late) is rechecked."""
    from jiayuan.stats import services
    from jiayuan.tickets.models import TicketEvent

    history = History(world)
    history.create(3, 3)
    stats_update()
    history.create(1, 1)
    history.create(2, 2)
    late = TicketEvent.objects.order_by("-pk")[1]
    assert late is not None
    ticket = Ticket.objects.get(pk=late.ticket_id)
    # Hide the first ticket's submit event as if its transaction had not committed yet.
    hidden = {f.attname: getattr(late, f.attname) for f in TicketEvent._meta.concrete_fields}
    TicketEvent.objects.filter(pk=late.pk).delete()
    stats_update()
    assert Watermark.objects.get().holes[0][:2] == [late.pk, late.pk]
    TicketEvent.objects.create(**hidden)
    stats_update()
    assert Watermark.objects.get().holes == []
    assert services.load_facts([ticket.pk])[ticket.pk].flags & 1
    before = snapshot()
    stats_rebuild()
    assert snapshot() == before
