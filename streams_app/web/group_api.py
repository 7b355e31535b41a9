"""The JSON API for consumer groups, dead letters and workers (same rules as the pages).

Errors are `{"error": message}`: 400 (bad input, invalid group or consumer name, malformed
ID), 401, 404 (no such stream, group or consumer), 405, 409 (group exists, key not a
stream, consumer still has pending entries) or 503 (Redis unavailable).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from streams_app.domain.dead_letters import (
    DeadLetterEntry,
    dead_letters_page,
    dead_letters_redrive,
    parse_dead_letters_request,
)
from streams_app.domain.group_history import GroupHistory, group_history
from streams_app.domain.groups import (
    consumer_delete,
    group_consumers,
    group_create,
    group_destroy,
    group_find,
    group_overview,
    group_setid,
    parse_pending_request,
    pending_ack,
    pending_claim,
    pending_page,
    workers_overview,
)
from streams_app.domain.names import display_name, name_from_token, url_token
from streams_app.gateway.groups import PendingEntry
from streams_app.gateway.heartbeats import WorkerHeartbeat
from streams_app.gateway.stores import group_history_store, group_store, heartbeat_store, stream_store
from streams_app.gateway.types import ConsumerSummary, GroupSummary
from streams_app.team.audit import change
from streams_app.team.roles import ACK, CLAIM, CREATE_GROUP, DELETE_CONSUMER, DESTROY_GROUP, REDRIVE, SETID
from streams_app.web.json_api import api_actor as _actor
from streams_app.web.json_api import api_view, json_body
from streams_app.web.links import page_url


def group_json(info: GroupSummary) -> dict:
    return {
        "name": display_name(info.name),
        "token": url_token(info.name),
        "consumers": info.consumers,
        "pending": info.pending,
        "last_delivered_id": info.last_delivered_id,
        "lag": info.lag,
        "lag_exact": info.lag_exact,
        "lag_at_least": info.lag_at_least,
    }


def consumer_json(info: ConsumerSummary) -> dict:
    return {"name": info.name, "pending": info.pending, "idle_ms": info.idle_ms}


def pending_json(entry: PendingEntry) -> dict:
    return {"id": entry.id, "consumer": entry.consumer, "idle_ms": entry.idle_ms, "deliveries": entry.deliveries}


def dead_letter_json(letter: DeadLetterEntry) -> dict:
    return {
        "dead_id": letter.dead_id,
        "stream": display_name(letter.stream),
        "id": letter.id,
        "group": letter.group,
        "consumer": letter.consumer,
        "deliveries": letter.deliveries,
        "error": letter.error,
        "error_summary": letter.error_summary,  # the exception line of `error` (a traceback's last)
        "fields": letter.fields,
        "redrivable": letter.redrivable,
    }


def history_json(history: GroupHistory) -> dict:
    """The last hour: the group per interval (lag null where Redis could not tell), each worker's
    rates per span between its samples; a missing interval or span is a gap."""
    return {
        "from": _moment(history.start_ms),
        "to": _moment(history.end_ms),
        "interval_seconds": history.interval_ms / 1000,
        "gap_seconds": history.gap_ms / 1000,
        "samples": history.samples,
        "covered_from": _moment(history.covered_from_ms) if history.covered_from_ms else None,
        "group": [{"time": _moment(point.ms), "lag": point.lag, "pending": point.pending} for point in history.points],
        "workers": [
            {
                "name": display_name(workers.name),
                "processed": workers.processed,
                "failed": workers.failed,
                "rates": [
                    {
                        "from": _moment(span.start_ms),
                        "to": _moment(span.end_ms),
                        "processed_per_second": round(span.processed_per_second, 3),
                        "failed_per_second": round(span.failed_per_second, 3),
                    }
                    for span in workers.spans
                ],
            }
            for workers in history.workers
        ],
    }


def _moment(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def worker_json(worker: WorkerHeartbeat) -> dict:
    return {
        "group": worker.group,
        "name": worker.name,
        "alive": worker.alive,
        "state": worker.state,
        "last_seen": worker.last_seen_time.isoformat() if worker.last_seen_time else None,
        "host": worker.host,
        "pid": worker.pid,
        "streams": worker.streams,
        "started": worker.started_time.isoformat() if worker.started_time else None,
        "processed": worker.processed,
        "failed": worker.failed,
        "dead_lettered": worker.dead_lettered,
        "rate": worker.rate,
    }


@api_view("GET", "POST")
def groups(request: HttpRequest, token: str) -> JsonResponse:
    stream = name_from_token(token)
    store = group_store()
    if request.method == "POST":
        body = json_body(request)
        created = change(
            _actor(request),
            CREATE_GROUP,
            lambda: group_create(
                store=store,
                stream=stream,
                name=body.get("name"),
                start=body.get("start"),
                tz=timezone.get_current_timezone(),
            ),
            describe=lambda created: f"created at {created.start_id}",
            stream=stream,
            group=str(body.get("name") or ""),
            detail={"start": body.get("start") or "$"},
        )
        return JsonResponse({**group_json(created.info), "start": created.start_id}, status=201)
    return JsonResponse({"groups": [group_json(info) for info in group_overview(store=store, stream=stream)]})


@api_view("GET", "DELETE")
def group(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    if request.method == "DELETE":
        change(
            _actor(request),
            DESTROY_GROUP,
            lambda: group_destroy(store=group_store(), stream=stream, group=name),
            describe=lambda _: "destroyed",
            stream=stream,
            group=name,
        )
        return JsonResponse({"destroyed": name})
    return JsonResponse(group_json(group_find(store=group_store(), stream=stream, group=name)))


@api_view("POST")
def setid(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    body = json_body(request)
    last_id = change(
        _actor(request),
        SETID,
        lambda: group_setid(
            store=group_store(), stream=stream, group=name, last_id=body.get("id"), tz=timezone.get_current_timezone()
        ),
        describe=lambda last_id: f"last delivered ID now {last_id}",
        stream=stream,
        group=name,
        detail={"id": body.get("id")},
    )
    return JsonResponse({"name": name, "last_delivered_id": last_id})


@api_view("GET")
def consumers(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    found = group_consumers(store=group_store(), stream=stream, group=name)
    return JsonResponse({"consumers": [consumer_json(info) for info in found]})


@api_view("DELETE")
def consumer(request: HttpRequest, token: str, group: str, consumer: str) -> JsonResponse:
    stream, name, consumer_name = name_from_token(token), name_from_token(group), name_from_token(consumer)
    change(
        _actor(request),
        DELETE_CONSUMER,
        lambda: consumer_delete(store=group_store(), stream=stream, group=name, consumer=consumer_name),
        describe=lambda _: "deleted",
        stream=stream,
        group=name,
        consumer=consumer_name,
    )
    return JsonResponse({"deleted": consumer_name})


@api_view("GET")
def pending(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    page = pending_page(store=group_store(), stream=stream, group=name, request=parse_pending_request(request.GET))
    next_url = page_url(request, {"after": page.next_request.after}, absolute=True) if page.next_request else None
    return JsonResponse({"pending": [pending_json(entry) for entry in page.entries], "next": next_url})


@api_view("GET")
def history(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    group_find(store=group_store(), stream=stream, group=name)
    return JsonResponse(history_json(group_history(store=group_history_store(), stream=stream, group=name)))


@api_view("POST")
def ack(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    body = json_body(request)
    acked = change(
        _actor(request),
        ACK,
        lambda: pending_ack(store=group_store(), stream=stream, group=name, ids=body.get("ids")),
        describe=lambda acked: f"{acked} acked",
        stream=stream,
        group=name,
        detail={"ids": body.get("ids")},
    )
    return JsonResponse({"acked": acked})


@api_view("POST")
def claim(request: HttpRequest, token: str, group: str) -> JsonResponse:
    stream, name = name_from_token(token), name_from_token(group)
    body = json_body(request)
    claimed = change(
        _actor(request),
        CLAIM,
        lambda: pending_claim(
            store=group_store(),
            stream=stream,
            group=name,
            ids=body.get("ids"),
            consumer=body.get("consumer"),
            min_idle=body.get("min_idle"),
        ),
        describe=lambda claimed: f"{len(claimed)} claimed",
        stream=stream,
        group=name,
        consumer=str(body.get("consumer") or ""),
        detail={"ids": body.get("ids"), "min_idle": body.get("min_idle")},
    )
    return JsonResponse({"claimed": claimed})


@api_view("GET")
def dead_letters(request: HttpRequest, token: str) -> JsonResponse:
    page = dead_letters_page(
        store=stream_store(),
        stream=name_from_token(token),
        request=parse_dead_letters_request(request.GET),
        tz=timezone.get_current_timezone(),
    )
    following = page.next_request
    return JsonResponse(
        {
            "dead_stream": display_name(page.dead_stream),
            "dead_letters": [dead_letter_json(letter) for letter in page.letters],
            "next": page_url(request, {"after": following.after, "before": None}, absolute=True) if following else None,
        }
    )


@api_view("POST")
def redrive(request: HttpRequest, token: str) -> JsonResponse:
    body = json_body(request)
    stream = name_from_token(token)
    result = change(
        _actor(request),
        REDRIVE,
        lambda: dead_letters_redrive(streams=stream_store(), groups=group_store(), stream=stream, ids=body.get("ids")),
        describe=lambda result: f"{len(result.moved)} re-driven, {len(result.missing)} missing",
        stream=stream,
        detail={"ids": body.get("ids")},
    )
    return JsonResponse(
        {"moved": [{"dead_id": dead_id, "id": new_id} for dead_id, new_id in result.moved], "missing": result.missing}
    )


@api_view("GET")
def workers(request: HttpRequest) -> JsonResponse:
    overview = workers_overview(store=heartbeat_store())
    return JsonResponse({"workers": [worker_json(worker) for worker in [*overview.live, *overview.gone]]})
