"""`/api/streams/<stream>/entries`: GET reads a range (web/api.py's `entries`), POST adds an entry
with any fields, `{"fields": {...}, "id"?}` → 201 `{"id"}` (rules in domain/entries.py)."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from streams_app.domain.entries import entry_add
from streams_app.domain.names import name_from_token
from streams_app.gateway.exact_entries import exact_entry_store
from streams_app.team.audit import change
from streams_app.team.roles import ADD_ENTRY
from streams_app.web import api
from streams_app.web.json_api import api_actor, api_view, json_body


@api_view("GET", "POST")
def entries(request: HttpRequest, token: str) -> JsonResponse:
    if request.method == "POST":
        return _entry_add(request, token)
    return api.entries(request, token)


def _entry_add(request: HttpRequest, token: str) -> JsonResponse:
    body = json_body(request)
    name = name_from_token(token)
    fields, entry_id = body.get("fields"), body.get("id")
    new_id = change(
        api_actor(request),
        ADD_ENTRY,
        lambda: entry_add(store=exact_entry_store(), stream=name, fields=fields, entry_id=entry_id),
        describe=lambda added: f"added {added}",
        stream=name,
        detail={"id": "*" if entry_id in (None, "") else entry_id},
    )
    return JsonResponse({"id": new_id}, status=201)
