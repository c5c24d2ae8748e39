"""受理队列: accept now with a token, make the ticket in the worker — over Open311 (a queued key)
and the native API (``Prefer: respond-async``), exactly once, with the receipt time kept."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jiayuan.core.errors import JiayuanError
from jiayuan.open311.services import apikey_create
from jiayuan.open311.tests.conftest import INSIDE_A1_1
from jiayuan.regions.models import Building
from jiayuan.tickets.choices import State
from jiayuan.tickets.events import verify_chain
from jiayuan.tickets.models import Category, Submission, SubmissionState, Ticket
from jiayuan.tickets.queue import submission_create, submission_process, submissions_drain

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded; charset=utf-8"
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def queue(world: Any, **kw: Any) -> Submission:
    fields: dict[str, Any] = {
        "channel": "api",
        "title": "",
        "description": "楼道灯不亮",
        "reporter_phone": "13900000001",
        "building": world.buildings["a1_1"],
        "category": Category.objects.get(code="property"),
        "created_at": T0,
    }
    fields.update(kw)
    return submission_create(**fields).submission


def test_a_queued_submission_becomes_the_same_ticket_a_direct_intake_makes(world: Any) -> None:
    submission = queue(world)
    assert submission.state == SubmissionState.PENDING
    assert Ticket.objects.count() == 0
    assert submissions_drain() == {"done": 1, "failed": 0}
    submission.refresh_from_db()
    ticket = submission.ticket
    assert ticket is not None and submission.state == SubmissionState.DONE
    assert ticket.state == State.ASSIGNED and ticket.grid == world.regions["grid_a1_1"]
    assert ticket.created_at == T0  # deadlines run from the receipt, not from the drain
    assert ticket.category is not None and ticket.category.code == "property"
    assert ticket.title == "楼道灯不亮"
    assert verify_chain(ticket) is None
    assert DBTaskResult.objects.filter(args_kwargs__kwargs__ticket_id=ticket.pk).count() == 1


def test_validation_happens_at_once_and_queues_nothing(world: Any) -> None:
    with pytest.raises(JiayuanError) as exc:
        queue(world, description="  ")
    assert exc.value.field == "description"
    with pytest.raises(JiayuanError) as exc:
        queue(world, reporter_phone="", anonymous=False)
    assert exc.value.field == "phone"
    assert Submission.objects.count() == 0


def test_processing_twice_makes_one_ticket(world: Any) -> None:
    submission = queue(world)
    submission_process(submission)
    # A worker that created the ticket but died before marking the row: it is pending again.
    Submission.objects.filter(pk=submission.pk).update(state=SubmissionState.PENDING, ticket=None)
    assert submissions_drain() == {"done": 1, "failed": 0}
    assert Ticket.objects.count() == 1
    submission.refresh_from_db()
    assert submission.ticket == Ticket.objects.get()


def test_a_submission_whose_building_vanished_fails_with_a_reason(world: Any) -> None:
    building = Building.objects.create(
        grid=world.regions["grid_a1_1"], code="370602001001001B9999", name="临时楼", address="x"
    )
    submission = queue(world, building=building)
    building.delete()
    assert submissions_drain() == {"done": 0, "failed": 1}
    submission.refresh_from_db()
    assert submission.state == SubmissionState.FAILED
    assert "已不存在" in submission.error
    assert Ticket.objects.count() == 0


def test_a_repeated_idempotency_key_answers_the_first_submission(world: Any) -> None:
    first = queue(world, idempotency_scope="user:1", idempotency_key="k-1")
    again = submission_create(
        channel="api",
        title="",
        description="楼道灯不亮",
        reporter_phone="13900000001",
        idempotency_scope="user:1",
        idempotency_key="k-1",
    )
    assert not again.created and again.submission.pk == first.pk
    assert Submission.objects.count() == 1


# --- Open311 with a queued key --------------------------------------------------------------


@pytest.fixture
def queued_key(db: Any) -> str:
    return apikey_create(name="批量平台", queued=True)[1]


def post311(client: Any, fmt: str, **fields: Any) -> Any:
    return client.post(
        f"/open311/v2/requests.{fmt}", urlencode(fields, doseq=True), content_type=FORM
    )


def test_open311_queued_key_answers_a_token_then_the_request_id(
    client: Any, world: Any, queued_key: str
) -> None:
    fields = {
        "api_key": queued_key,
        "service_code": "garbage",
        "description": "垃圾桶满了",
        "phone": "13900000002",
        **INSIDE_A1_1,
    }
    response = post311(client, "json", **fields)
    assert response.status_code == 200
    (answer,) = json.loads(response.content)
    token = answer["token"]
    assert "service_request_id" not in answer and Ticket.objects.count() == 0

    waiting = json.loads(client.get(f"/open311/v2/tokens/{token}.json").content)
    assert waiting == [{"token": token}]

    submissions_drain()
    ticket = Ticket.objects.get()
    assert ticket.grid == world.regions["grid_a1_1"] and ticket.channel == "open311"
    done = json.loads(client.get(f"/open311/v2/tokens/{token}.json").content)
    assert done == [{"service_request_id": ticket.number, "token": token}]
    xml = ET.fromstring(client.get(f"/open311/v2/tokens/{token}.xml").content)
    assert xml.findtext("request/service_request_id") == ticket.number

    xml_post = ET.fromstring(post311(client, "xml", **fields).content)
    assert xml_post.tag == "service_requests" and xml_post.findtext("request/token")


def test_open311_queued_failure_reads_as_an_open311_error(
    client: Any, world: Any, queued_key: str
) -> None:
    submission = queue(world)
    Submission.objects.filter(pk=submission.pk).update(
        state=SubmissionState.FAILED, error="提交时引用的楼栋已不存在"
    )
    response = client.get(f"/open311/v2/tokens/{submission.token}.json")
    assert response.status_code == 404
    assert "楼栋已不存在" in json.loads(response.content)[0]["description"]


# --- native API with Prefer: respond-async -----------------------------------------------------


def api_post(client: Any, body: dict[str, Any], **headers: str) -> Any:
    return client.post(
        "/api/v1/tickets", data=body, content_type="application/json", headers=headers
    )


def test_api_respond_async_answers_202_and_a_status_url(login: Any, world: Any) -> None:
    client = login("grid_worker")
    body = {"description": "楼道灯不亮", "building": world.buildings["a1_1"].code}
    response = api_post(client, body, Prefer="respond-async", **{"Idempotency-Key": "a-1"})
    assert response.status_code == 202, response.content
    data = response.json()
    assert data["state"] == "pending" and data["ticket"] is None
    assert data["url"] == f"/api/v1/submissions/{data['token']}"
    # A retry of the same POST answers the same submission.
    again = api_post(client, body, Prefer="respond-async", **{"Idempotency-Key": "a-1"})
    assert again.json()["token"] == data["token"] and Submission.objects.count() == 1

    submissions_drain()
    status = client.get(data["url"]).json()
    assert status["state"] == "done"
    assert status["ticket"] == Ticket.objects.get().number


def test_api_submission_status_is_only_for_its_submitter(login: Any, world: Any) -> None:
    client = login("grid_worker")
    body = {"description": "楼道灯不亮", "building": world.buildings["a1_1"].code}
    token = api_post(client, body, Prefer="respond-async").json()["token"]
    other = login("street_officer")
    assert other.get(f"/api/v1/submissions/{token}").status_code == 404


def test_api_without_prefer_stays_synchronous(login: Any, world: Any) -> None:
    client = login("grid_worker")
    body = {"description": "楼道灯不亮", "building": world.buildings["a1_1"].code}
    response = api_post(client, body)
    assert response.status_code == 201 and Submission.objects.count() == 0


def test_the_worker_round_drains_the_queue(world: Any, monkeypatch: Any) -> None:
    # The worker drops stale connections between rounds: not the test's own connection.
    import django_tasks_db.management.commands.db_worker as db_worker

    from jiayuan.core.management.commands import worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    monkeypatch.setattr(worker, "close_old_connections", lambda: None)
    queue(world)
    out = StringIO()
    call_command("worker", "--once", "--no-sweep", stdout=out)
    summary = json.loads(out.getvalue().splitlines()[0])
    assert summary["intake"] == {"done": 1, "failed": 0}
    assert Ticket.objects.count() == 1
    assert timezone.now() >= Ticket.objects.get().created_at


def test_the_drain_command_reports_what_it_made(world: Any) -> None:
    queue(world)
    queue(world, description="垃圾桶满了")
    out = StringIO()
    call_command("tickets", "drain", "--limit", "1", stdout=out)
    assert "生成工单 1 件" in out.getvalue()
    assert Submission.objects.filter(state=SubmissionState.PENDING).count() == 1
    call_command("tickets", "drain", stdout=out)
    assert Ticket.objects.count() == 2


# The queued accept runs no health check before its INSERT: a dead connection is found by the
# INSERT, reopened, and the INSERT sent again (outside a transaction: these tests commit).


@pytest.mark.django_db(transaction=True)
def test_a_lost_connection_is_reopened_and_the_submission_kept(
    world: Any, monkeypatch: Any
) -> None:
    from django.db import OperationalError, connection

    from jiayuan.tickets import queue as q

    calls: list[int] = []
    real = q._execute

    def first_fails(conn: Any, submission: Any, params: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        real(conn, submission, params)

    monkeypatch.setattr(q, "_execute", first_fails)
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    submission = queue(world)
    assert len(calls) == 2
    assert Submission.objects.get(pk=submission.pk).token == submission.token


@pytest.mark.django_db(transaction=True)
def test_an_insert_committed_before_the_connection_died_is_not_doubled(
    world: Any, monkeypatch: Any
) -> None:
    from django.db import OperationalError, connection

    from jiayuan.tickets import queue as q

    real = q._execute
    calls: list[int] = []

    def commits_then_fails(conn: Any, submission: Any, params: Any) -> None:
        calls.append(1)
        real(conn, submission, params)
        if len(calls) == 1:
            submission.pk = None
            raise OperationalError("connection lost while reading the reply")

    monkeypatch.setattr(q, "_execute", commits_then_fails)
    monkeypatch.setattr(connection, "is_usable", lambda: False)
    submission = queue(world, idempotency_key="")
    assert len(calls) == 2
    assert Submission.objects.count() == 1
    assert Submission.objects.get().pk == submission.pk


@pytest.mark.django_db(transaction=True)
def test_another_error_on_a_live_connection_is_raised(world: Any, monkeypatch: Any) -> None:
    from django.db import OperationalError

    from jiayuan.tickets import queue as q

    def fails(conn: Any, submission: Any, params: Any) -> None:
        raise OperationalError("canceling statement due to statement timeout")

    monkeypatch.setattr(q, "_execute", fails)
    with pytest.raises(OperationalError):
        queue(world)
    assert Submission.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_a_backend_killed_between_requests_costs_nothing(world: Any) -> None:
    """PostgreSQL for real: the server ends the worker's persistent connection (a restart, an
    administrator); the next queued accept still succeeds, on a new connection."""
    from django.db import connection

    queue(world)
    if connection.vendor != "postgresql":
        assert Submission.objects.count() == 1
        return
    import psycopg

    grid = world.regions["grid_a1_1"]  # read before the kill: only the INSERT meets it
    pid = connection.connection.info.backend_pid
    s = connection.settings_dict
    dsn = {"dbname": s["NAME"], "user": s["USER"], "host": s["HOST"], "port": s["PORT"]}
    with psycopg.connect(**{k: v for k, v in dsn.items() if v}, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    second = submission_create(
        channel="api",
        title="",
        description="第二件：楼道灯还是不亮",
        reporter_phone="13900000001",
        grid=grid,
        created_at=T0,
    ).submission
    assert connection.connection.info.backend_pid != pid
    assert set(Submission.objects.values_list("pk", flat=True)) >= {second.pk}
    assert Submission.objects.count() == 2
