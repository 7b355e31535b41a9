"""Pages for consumer groups, their pending entries, dead letters and workers.

Every change is a POST (login and CSRF), answered with a message and a redirect back;
what the domain refuses becomes a message or a form error, never a server error.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from streams_app.domain.dead_letters import dead_letters_page, dead_letters_redrive, parse_dead_letters_request
from streams_app.domain.group_history import group_history
from streams_app.domain.group_history_chart import group_history_chart
from streams_app.domain.groups import (
    START_HELP,
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
from streams_app.errors import BadInput, DomainError, Forbidden, NotFound, RedisUnavailable
from streams_app.gateway.stores import group_history_store, group_store, heartbeat_store, stream_store
from streams_app.team.audit import Actor, change, require
from streams_app.team.roles import ACK, CLAIM, CREATE_GROUP, DELETE_CONSUMER, DESTROY_GROUP, REDRIVE, SETID
from streams_app.web.forms import DomainCheckedForm, add_domain_error
from streams_app.web.links import page_url


class GroupCreateForm(DomainCheckedForm):
    name = forms.CharField(
        required=False,
        label="Group name",
        widget=forms.TextInput(attrs={"placeholder": "mygroup", "autocomplete": "off"}),
        help_text="1–64 letters, digits and _ - . :",
    )
    start = forms.CharField(
        required=False,
        label="Start",
        widget=forms.TextInput(attrs={"placeholder": "$"}),
        help_text=f"{START_HELP[0].upper()}{START_HELP[1:]}.",
    )


class PendingFilterForm(DomainCheckedForm):
    consumer = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "any"}))
    min_idle = forms.CharField(
        required=False,
        label="Min idle (ms)",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "placeholder": "0"}),
    )
    count = forms.CharField(
        required=False,
        label="Page size",
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5, "placeholder": "50"}),
    )


def _names(token: str, group_token: str | None = None) -> tuple[str, str | None]:
    return name_from_token(token), (name_from_token(group_token) if group_token is not None else None)


def _refused(request: HttpRequest, error: DomainError) -> None:
    """A refusal becomes a message; Redis being away and a missing role are the error page's to say."""
    if isinstance(error, RedisUnavailable | Forbidden):
        raise error
    messages.error(request, error.message)


def _actor(request: HttpRequest) -> Actor:
    return Actor(request.user, "page")


def _back(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect to `url` with the query the form came from (rebuilt, so only a query)."""
    query = QueryDict(request.POST.get("query", "")).urlencode()
    return redirect(url + ("?" + query if query else ""))


# --- groups of a stream -----------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def group_list(request: HttpRequest, token: str) -> HttpResponse:
    stream, _ = _names(token)
    store = group_store()
    status = 200
    if request.method == "POST":
        form = GroupCreateForm(request.POST)
        if form.is_valid():
            values = form.cleaned_data
            try:
                created = change(
                    _actor(request),
                    CREATE_GROUP,
                    lambda: group_create(
                        store=store,
                        stream=stream,
                        name=values["name"],
                        start=values["start"],
                        tz=timezone.get_current_timezone(),
                    ),
                    describe=lambda created: f"created at {created.start_id}",
                    stream=stream,
                    group=values["name"],
                    detail={"start": values["start"] or "$"},
                )
            except DomainError as error:
                if isinstance(error, RedisUnavailable | Forbidden):
                    raise
                add_domain_error(form, error)
                status = error.status
            else:
                name = created.info.name
                messages.success(
                    request, f"Created the group “{name}”; it delivers the entries after {created.start_id}."
                )
                return redirect("group_detail", url_token(stream), url_token(name))
    else:
        form = GroupCreateForm(initial={"start": "$"})
    groups = group_overview(store=store, stream=stream)
    return render(
        request,
        "streams_app/groups/group_list.html",
        {
            "stream": stream,
            "display_name": display_name(stream),
            "token": url_token(stream),
            "groups": groups,
            "form": form,
        },
        status=status,
    )


@login_required
def group_detail(request: HttpRequest, token: str, group: str) -> HttpResponse:
    stream, group_name = _names(token, group)
    store = group_store()
    info = group_find(store=store, stream=stream, group=group_name)
    consumers = group_consumers(store=store, stream=stream, group=group_name)
    summary = store.pending_summary(stream, group_name)
    form = PendingFilterForm(request.GET or None)
    page, status = None, 200
    try:
        page = pending_page(store=store, stream=stream, group=group_name, request=parse_pending_request(request.GET))
    except BadInput as error:
        if form.is_bound:
            add_domain_error(form, error, field_map={"after": None})
        status = 400
    history = group_history(store=group_history_store(), stream=stream, group=group_name)
    return render(
        request,
        "streams_app/groups/group_detail.html",
        {
            "stream": stream,
            "display_name": display_name(stream),
            "token": url_token(stream),
            "group": info,
            "group_token": url_token(group_name),
            "consumers": consumers,
            "summary": summary,
            "form": form,
            "page": page,
            "query": request.GET.urlencode(),
            "next_url": page_url(request, {"after": page.next_request.after}) if page and page.next_request else None,
            "first_url": page_url(request, {"after": None}) if request.GET.get("after") else None,
            "history_chart": group_history_chart(history, tz=timezone.get_current_timezone()),
        },
        status=status,
    )


@login_required
@require_POST
def group_pending_action(request: HttpRequest, token: str, group: str) -> HttpResponse:
    """Ack the selected entries, ack all shown, or claim the selected ones for a consumer."""
    stream, group_name = _names(token, group)
    back = reverse("group_detail", args=[url_token(stream), url_token(group_name)])
    action = request.POST.get("action", "")
    store = group_store()
    actor, where = _actor(request), {"stream": stream, "group": group_name}
    try:
        if action in {"ack", "ack_shown"}:
            shown = action == "ack_shown"
            ids = request.POST.getlist("shown" if shown else "ids")
            if not ids:
                raise BadInput(
                    "No entries were shown, so none was acked." if shown else "Select at least one entry first."
                )
            acked = change(
                actor,
                ACK,
                lambda: pending_ack(store=store, stream=stream, group=group_name, ids=ids),
                describe=lambda acked: f"{acked} acked",
                detail={"ids": ids},
                **where,
            )
            which = f"the {len(ids)} entries shown" if shown else f"{len(ids)} selected entries"
            messages.success(request, f"Acked {acked} of {which}.")
        elif action == "claim":
            ids = request.POST.getlist("ids")
            if not ids:
                raise BadInput("Select at least one entry first.")
            consumer = request.POST.get("consumer", "").strip()
            min_idle = request.POST.get("min_idle")
            claimed = change(
                actor,
                CLAIM,
                lambda: pending_claim(
                    store=store, stream=stream, group=group_name, ids=ids, consumer=consumer, min_idle=min_idle
                ),
                describe=lambda claimed: f"{len(claimed)} claimed",
                consumer=consumer,
                detail={"ids": ids, "min_idle": min_idle or "0"},
                **where,
            )
            messages.success(request, f"Claimed {len(claimed)} of {len(ids)} selected entries for “{consumer}”.")
        else:
            raise BadInput("Choose ack, ack all shown or claim.")
    except DomainError as error:
        _refused(request, error)
    return _back(request, back)


@login_required
@require_POST
def group_consumer_delete(request: HttpRequest, token: str, group: str) -> HttpResponse:
    stream, group_name = _names(token, group)
    consumer = request.POST.get("consumer", "")
    try:
        change(
            _actor(request),
            DELETE_CONSUMER,
            lambda: consumer_delete(store=group_store(), stream=stream, group=group_name, consumer=consumer),
            describe=lambda _: "deleted",
            stream=stream,
            group=group_name,
            consumer=consumer,
        )
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Deleted the consumer “{consumer}”.")
    return _back(request, reverse("group_detail", args=[url_token(stream), url_token(group_name)]))


@login_required
@require_POST
def group_setid_page(request: HttpRequest, token: str, group: str) -> HttpResponse:
    stream, group_name = _names(token, group)
    target = request.POST.get("id", "")
    try:
        last_id = change(
            _actor(request),
            SETID,
            lambda: group_setid(
                store=group_store(), stream=stream, group=group_name, last_id=target, tz=timezone.get_current_timezone()
            ),
            describe=lambda last_id: f"last delivered ID now {last_id}",
            stream=stream,
            group=group_name,
            detail={"id": target},
        )
    except DomainError as error:
        _refused(request, error)
    else:
        messages.success(request, f"Moved the group “{group_name}”: its last delivered ID is now {last_id}.")
    return redirect("group_detail", url_token(stream), url_token(group_name))


@login_required
@require_POST
def group_destroy_page(request: HttpRequest, token: str, group: str) -> HttpResponse:
    stream, group_name = _names(token, group)
    actor = _actor(request)
    if not request.POST.get("confirm"):
        require(actor, DESTROY_GROUP, stream=stream, group=group_name)
        messages.error(request, "Tick the box to confirm: destroying a group drops all its pending entries.")
        return redirect("group_detail", url_token(stream), url_token(group_name))
    try:
        change(
            actor,
            DESTROY_GROUP,
            lambda: group_destroy(store=group_store(), stream=stream, group=group_name),
            describe=lambda _: "destroyed",
            stream=stream,
            group=group_name,
        )
    except NotFound as error:
        messages.error(request, error.message)
    except DomainError as error:
        _refused(request, error)
        return redirect("group_detail", url_token(stream), url_token(group_name))
    else:
        messages.success(request, f"Destroyed the group “{group_name}” and its pending entries.")
    return redirect("group_list", url_token(stream))


# --- dead letters and workers -----------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def dead_letters(request: HttpRequest, token: str) -> HttpResponse:
    stream, _ = _names(token)
    if request.method == "POST":
        ids = request.POST.getlist("ids")
        try:
            result = change(
                _actor(request),
                REDRIVE,
                lambda: dead_letters_redrive(streams=stream_store(), groups=group_store(), stream=stream, ids=ids),
                describe=lambda result: f"{len(result.moved)} re-driven, {len(result.missing)} missing",
                stream=stream,
                detail={"ids": ids},
            )
        except DomainError as error:
            _refused(request, error)
        else:
            if result.moved:
                messages.success(
                    request, f"Re-drove {len(result.moved)} dead letters back to “{display_name(stream)}”."
                )
            if result.missing:
                messages.error(
                    request,
                    f"{len(result.missing)} selected dead letters were no longer there: {', '.join(result.missing)}.",
                )
        return _back(request, reverse("dead_letters", args=[url_token(stream)]))
    page, status, notice = None, 200, None
    try:
        page = dead_letters_page(
            store=stream_store(),
            stream=stream,
            request=parse_dead_letters_request(request.GET),
            tz=timezone.get_current_timezone(),
        )
    except BadInput as error:
        notice, status = error.message, 400
    return render(
        request,
        "streams_app/groups/dead_letters.html",
        {
            "stream": stream,
            "display_name": display_name(stream),
            "token": url_token(stream),
            "page": page,
            "notice": notice,
            "query": request.GET.urlencode(),
            "next_url": _dead_page_url(request, page.next_request) if page and page.next_request else None,
            "previous_url": _dead_page_url(request, page.previous_request) if page and page.previous_request else None,
        },
        status=status,
    )


def _dead_page_url(request: HttpRequest, range_request) -> str:
    return page_url(request, {"after": range_request.after, "before": range_request.before})


@login_required
def workers(request: HttpRequest) -> HttpResponse:
    return render(request, "streams_app/groups/workers.html", {"workers": workers_overview(store=heartbeat_store())})
