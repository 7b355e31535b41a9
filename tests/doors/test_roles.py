"""Roles: a viewer (a user in no group), an operator and a stream-admin can each do exactly
their job, through the pages and the API; every refusal is a 403 with the reason, changes
nothing in Redis, and is in the audit trail."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.test import Client

from streams_app.gateway.keys import dead_letter_key
from streams_app.models import AuditEvent
from streams_app.team.roles import ACTIONS, OPERATOR_ACTIONS, OPERATORS, STREAM_ADMINS

G = "/streams/chennai/groups/mygroup/"
API_G = "/api/streams/chennai/groups/mygroup"


@dataclass(frozen=True)
class Door:
    action: str
    door: str  # page or api
    method: str
    path: str
    body: dict

    def __str__(self) -> str:
        return f"{self.action}-{self.door}"


def doors(pending_id: str, dead_id: str) -> list[Door]:
    page, api = "page", "api"
    return [
        Door("add_readings", page, "post", "/readings/add/", {"city": "chennai", "temperature": "1", "humidity": "2"}),
        Door("add_readings", api, "post", "/api/streams/chennai/readings", {"temperature": 1, "humidity": 2}),
        Door("create_group", page, "post", "/streams/chennai/groups/", {"name": "g2", "start": "0"}),
        Door("create_group", api, "post", "/api/streams/chennai/groups", {"name": "g2", "start": "0"}),
        Door("ack", page, "post", G + "pending/", {"action": "ack", "ids": [pending_id]}),
        Door("ack", api, "post", API_G + "/ack", {"ids": [pending_id]}),
        Door("claim", page, "post", G + "pending/", {"action": "claim", "ids": [pending_id], "consumer": "bob"}),
        Door("claim", api, "post", API_G + "/claim", {"ids": [pending_id], "consumer": "bob"}),
        Door("start_job", page, "post", "/jobs/simulate/", {"city": "madurai", "day": "2024-05-01"}),
        Door("start_job", page, "post", "/jobs/export/", {"stream": "chennai", "format": "csv"}),
        Door("destroy_group", page, "post", G + "destroy/", {"confirm": "1"}),
        Door("destroy_group", api, "delete", API_G, {}),
        Door("setid", page, "post", G + "setid/", {"id": "0"}),
        Door("setid", api, "post", API_G + "/setid", {"id": "0"}),
        Door("delete_consumer", page, "post", G + "consumers/delete/", {"consumer": "idle"}),
        Door("delete_consumer", api, "delete", API_G + "/consumers/idle", {}),
        Door("redrive", page, "post", "/streams/chennai/dead-letters/", {"ids": [dead_id]}),
        Door("redrive", api, "post", "/api/streams/chennai/dead-letters/redrive", {"ids": [dead_id]}),
        Door(
            "trim",
            page,
            "post",
            "/jobs/trim/",
            {"stream": "chennai", "strategy": "maxlen", "threshold": "1", "confirm": "on"},
        ),
        Door("read_audit", api, "get", "/api/audit", {}),
    ]


@pytest.fixture
def scene(redis_client):
    """chennai with a group mygroup: one entry pending with alice, an idle consumer, a dead letter."""
    redis_client.xadd("chennai", {"temperature": "20", "humidity": "50"}, id="1-0")
    redis_client.xadd("chennai", {"temperature": "21", "humidity": "51"}, id="2-0")
    redis_client.xgroup_create("chennai", "mygroup", id="0")
    redis_client.xreadgroup("mygroup", "alice", {"chennai": ">"}, count=1)
    redis_client.xgroup_createconsumer("chennai", "mygroup", "idle")
    dead_id = redis_client.xadd(
        dead_letter_key("chennai"),
        {"stream": "chennai", "id": "9-0", "group": "mygroup", "consumer": "alice", "deliveries": "6", "error": "x"}
        | {"orig:temperature": "1", "orig:humidity": "2"},
    ).decode()
    return "1-0", dead_id


def redis_state(client) -> dict:
    state = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key).decode()
        if kind == "stream":
            groups = [
                (g["name"], g["pending"], g["last-delivered-id"], g["consumers"]) for g in client.xinfo_groups(key)
            ]
            state[key] = (kind, client.xlen(key), groups, client.xrange(key, count=10))
        else:
            state[key] = (kind,)
    return state


def send(client: Client, door: Door):
    if door.method == "get":
        return client.get(door.path, door.body)
    if door.door == "api":
        return getattr(client, door.method)(door.path, json.dumps(door.body), content_type="application/json")
    return client.post(door.path, door.body)


ROLE_ACTIONS = {
    None: set(),
    OPERATORS: {action.name for action in OPERATOR_ACTIONS},
    STREAM_ADMINS: set(ACTIONS),
}
ALL_DOORS = doors("1-0", "0-0")  # the IDs only name the case; the scene's own IDs are used when sending


@pytest.mark.parametrize("role", [None, OPERATORS, STREAM_ADMINS], ids=["viewer", "operator", "stream-admin"])
@pytest.mark.parametrize("index", range(len(ALL_DOORS)), ids=[str(door) for door in ALL_DOORS])
def test_each_role_can_do_exactly_its_job(role, index, scene, redis_client, django_user_model):
    from tests.conftest import member_of

    pending_id, dead_id = scene
    door = doors(pending_id, dead_id)[index]
    member = member_of(role, django_user_model, f"{role or 'viewer'}-user")
    client = Client()
    client.force_login(member)
    before = redis_state(redis_client)

    response = send(client, door)

    if door.action in ROLE_ACTIONS[role]:
        assert response.status_code in {200, 201, 302}, response.content[:300]
        recorded = AuditEvent.objects.filter(username=member.username, action=door.action)
        if door.action not in {"add_readings", "read_audit"}:
            assert recorded.filter(succeeded=True).count() == 1
    else:
        assert response.status_code == 403
        text = response.content.decode()
        assert "You are not allowed to" in text and "role" in text
        if door.door == "api":
            assert "error" in response.json()
        assert redis_state(redis_client) == before, "a refused change changes nothing"
        refused = AuditEvent.objects.get(username=member.username, action=door.action)
        assert refused.succeeded is False and refused.outcome.startswith("refused:")
        assert refused.door == door.door


def test_a_superuser_can_do_everything_and_staff_without_a_role_is_a_viewer(scene, redis_client, django_user_model):
    root = django_user_model.objects.create_superuser(username="root", password="a-long-test-password")
    client = Client()
    client.force_login(root)
    assert client.post(G + "setid/", {"id": "0"}).status_code == 302
    staff = django_user_model.objects.create_user(username="staff", password="a-long-test-password", is_staff=True)
    client.force_login(staff)
    assert client.post(G + "setid/", {"id": "$"}).status_code == 403


def test_buttons_a_viewer_may_not_use_are_disabled_with_the_reason(scene, role_client):
    viewer = role_client(None)
    page = viewer.get(G).content.decode()
    assert "disabled" in page and "needs the stream-admins role" in page and "needs the operators role" in page
    assert 'href="/readings/add/"' not in viewer.get("/streams/").content.decode()
    assert "You can look at everything; changes need the operators role" in page
    assert "You can look at everything" not in role_client(OPERATORS).get(G).content.decode()
    admin_page = role_client(STREAM_ADMINS).get(G).content.decode()
    assert "needs the stream-admins role" not in admin_page


def test_the_admin_adds_readings_for_operators_only(scene, redis_client, django_user_model):
    from tests.conftest import member_of

    for role, allowed in ((None, False), (OPERATORS, True)):
        member = member_of(role, django_user_model, f"staff-{role}")
        member.is_staff = True
        member.save()
        client = Client()
        client.force_login(member)
        response = client.post(
            "/admin/streams_app/reading/add/", {"city": "madurai", "temperature": "1", "humidity": "2"}
        )
        assert response.status_code == (302 if allowed else 403)
        assert (redis_client.exists("madurai") == 1) is allowed


def test_the_rq_dashboard_is_for_staff_only(role_client, staff_user, client):
    assert role_client(STREAM_ADMINS).get("/admin/rq/").status_code == 302  # to the admin's login
    client.force_login(staff_user)
    assert client.get("/admin/rq/").status_code == 200
