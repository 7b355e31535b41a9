"""The audit trail: every change through the app is recorded (who, door, action, stream,
group, consumer, parameters, outcome), refusals too; stream-admins read it at /api/audit
and in admin (read-only); commands record as "cli"; jobs are private to their owner."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

from streams_app.models import AuditEvent
from streams_app.team.roles import OPERATORS, STREAM_ADMINS
from tests.conftest import member_of


@pytest.fixture
def pending(redis_client):
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "50"}, id="1-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"})


def test_an_ack_through_the_api_is_recorded_with_its_parameters_and_outcome(api, user, pending):
    response = api.post(
        "/api/streams/chennai/groups/mygroup/ack", json.dumps({"ids": ["1-0", "5-0"]}), content_type="application/json"
    )
    assert response.json() == {"acked": 1}
    event = AuditEvent.objects.get(action="ack")
    assert (event.username, event.door, event.stream, event.group) == ("ana", "api", "chennai", "mygroup")
    assert event.detail == {"ids": ["1-0", "5-0"]}
    assert (event.succeeded, event.outcome) == (True, "1 acked")


def test_a_change_the_domain_refuses_is_recorded_as_failed(web, user, pending):
    token = web.get("/streams/chennai/groups/mygroup/").cookies["csrftoken"].value
    web.post("/streams/chennai/groups/mygroup/setid/", {"id": "not an id", "csrfmiddlewaretoken": token})
    event = AuditEvent.objects.get(action="setid")
    assert event.succeeded is False and event.outcome.startswith("failed: ")
    assert event.detail == {"id": "not an id"}


def test_single_readings_are_not_recorded_but_produce_is_as_cli(web, user, redis_client):
    token = web.get("/readings/add/").cookies["csrftoken"].value
    web.post("/readings/add/", {"city": "chennai", "temperature": "1", "humidity": "2", "csrfmiddlewaretoken": token})
    assert redis_client.xlen("chennai") == 1
    assert not AuditEvent.objects.exists()
    call_command("produce", "madurai", "--count", "5", "--quiet")
    event = AuditEvent.objects.get()
    assert (event.username, event.user, event.door, event.action, event.stream) == (
        "cli",
        None,
        "command",
        "produce",
        "madurai",
    )
    assert event.detail["count"] == 5 and event.outcome.startswith("5 written")


def test_api_audit_is_for_stream_admins_newest_first_and_filtered(pending, django_user_model, redis_client):
    admin = member_of(STREAM_ADMINS, django_user_model, "sam")
    operator = member_of(OPERATORS, django_user_model, "olga")
    for member in (operator, admin):
        client = Client()
        client.force_login(member)
        client.post(
            "/api/streams/chennai/groups/mygroup/ack", json.dumps({"ids": ["1-0"]}), content_type="application/json"
        )
    redis_client.xadd("coimbatore", {"temperature": "1", "humidity": "2"})
    client = Client()
    client.force_login(admin)
    client.post(
        "/api/streams/coimbatore/groups", json.dumps({"name": "g", "start": "0"}), content_type="application/json"
    )

    events = client.get("/api/audit").json()["events"]
    assert [(e["user"], e["action"], e["stream"]) for e in events] == [
        ("sam", "create_group", "coimbatore"),
        ("sam", "ack", "chennai"),
        ("olga", "ack", "chennai"),
    ]
    assert set(events[0]) >= {"time", "user", "door", "action", "stream", "group", "detail", "outcome"}
    assert [e["user"] for e in client.get("/api/audit?stream=chennai").json()["events"]] == ["sam", "olga"]
    assert [e["stream"] for e in client.get("/api/audit?user=olga").json()["events"]] == ["chennai"]
    assert len(client.get("/api/audit?action=create_group").json()["events"]) == 1
    assert len(client.get("/api/audit?limit=1").json()["events"]) == 1

    refused = Client()
    refused.force_login(operator)
    response = refused.get("/api/audit")
    assert response.status_code == 403 and "stream-admins" in response.json()["error"]


def test_the_admin_shows_the_trail_read_only_to_stream_admin_staff(pending, django_user_model, api):
    api.post("/api/streams/chennai/groups/mygroup/ack", json.dumps({"ids": ["1-0"]}), content_type="application/json")
    admin = member_of(STREAM_ADMINS, django_user_model, "sam")
    admin.is_staff = True
    admin.save()
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/streams_app/auditevent/")
    assert listing.status_code == 200 and "1 acked" in listing.content.decode()
    assert client.get("/admin/streams_app/auditevent/?action=ack&username=ana").status_code == 200
    event = AuditEvent.objects.get()
    assert client.post(f"/admin/streams_app/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/streams_app/auditevent/add/").status_code == 403
    operator = member_of(OPERATORS, django_user_model, "olga")
    operator.is_staff = True
    operator.save()
    client.force_login(operator)
    assert client.get("/admin/streams_app/auditevent/").status_code == 403


def test_anonymous_api_writes_are_401_not_a_csrf_403(client, redis_client):
    response = client.post(
        "/api/streams/chennai/readings", json.dumps({"temperature": 1}), content_type="application/json"
    )
    assert response.status_code == 401
    assert "Authentication required" in response.json()["error"]
    assert redis_client.exists("chennai") == 0


def test_session_api_writes_still_need_the_csrf_token(web, redis_client):
    response = web.post(
        "/api/streams/chennai/readings", json.dumps({"temperature": 1, "humidity": 2}), content_type="application/json"
    )
    assert response.status_code == 403 and "CSRF" in response.json()["error"]
    token = web.get("/readings/add/").cookies["csrftoken"].value
    ok = web.post(
        "/api/streams/chennai/readings",
        json.dumps({"temperature": 1, "humidity": 2}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 201


def test_jobs_are_private_to_their_owner_and_staff(django_user_model, redis_client):
    owner = member_of(OPERATORS, django_user_model, "olga")
    other = member_of(OPERATORS, django_user_model, "otto")
    staff = django_user_model.objects.create_user(username="root", password="a-long-test-password", is_staff=True)
    client = Client()
    client.force_login(owner)
    response = client.post("/jobs/simulate/", {"city": "madurai", "day": "2024-05-01"})
    job_id = response["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert client.get(f"/jobs/{job_id}/").status_code == 200
    assert job_id in client.get("/jobs/").content.decode()
    event = AuditEvent.objects.get(action="start_job")
    assert event.detail["kind"] == "simulate" and event.outcome == f"job {job_id} started"

    client.force_login(other)
    assert client.get(f"/jobs/{job_id}/").status_code == 404
    assert client.get(f"/jobs/{job_id}/download/").status_code == 404
    assert job_id not in client.get("/jobs/").content.decode()
    client.force_login(staff)
    assert client.get(f"/jobs/{job_id}/").status_code == 200
    assert job_id in client.get("/jobs/").content.decode()


def test_any_name_and_parameter_is_stored_as_visible_text(db):
    from streams_app.team.audit import Actor, audit_events, audit_record
    from streams_app.team.roles import ACK

    weird = "nul\x00tab\tcaf\udce9" * 100
    audit_record(
        Actor(None, "command"),
        ACK,
        succeeded=True,
        outcome="ok\x00",
        stream=weird,
        group=weird,
        detail={"ids": [weird]},
    )
    [event] = audit_events(stream=weird)  # found by the same name
    assert "\x00" not in event.stream and "\\x00" in event.stream and len(event.stream) <= 512
    assert event.stream.endswith("…") and "\\xe9" in event.stream
    assert "\x00" not in event.detail["ids"][0] and event.outcome == "ok\\x00"


def test_a_trim_job_records_how_many_entries_it_removed_as_its_owner(web, user, redis_client):
    import django_rq
    from rq import SimpleWorker

    for n in range(10):
        redis_client.xadd("chennai", {"temperature": str(n), "humidity": "1"}, id=f"{n + 1}-0")
    token = web.get("/jobs/").cookies["csrftoken"].value
    web.post(
        "/jobs/trim/",
        {"stream": "chennai", "strategy": "maxlen", "threshold": "4", "csrfmiddlewaretoken": token},
    )
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)  # runs the job here, as RQ would

    assert redis_client.xlen("chennai") == 4
    started, finished = AuditEvent.objects.filter(action="trim").order_by("id")
    assert (started.door, started.outcome.startswith("job ")) == ("page", True)
    assert (finished.door, finished.username, finished.outcome, finished.stream) == (
        "job",
        "ana",
        "6 removed",
        "chennai",
    )
