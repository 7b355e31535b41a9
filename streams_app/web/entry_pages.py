"""Pages for single entries: the entry page (values as they are, the redis-cli command), adding
an entry with any fields, and adding an entry again. Doors onto domain/entry_views.py and
domain/entries.py; changes run through team.audit.change() (role checked, outcome recorded)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from streams_app.domain.entries import (
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_VALUE_CHARS,
    entry_add,
    entry_add_again,
    field_lines_parse,
)
from streams_app.domain.entry_views import entry_view
from streams_app.domain.ids import parse_stream_id
from streams_app.domain.names import display_name, key_internal_reason, name_from_token, url_token
from streams_app.errors import DomainError, Forbidden, NotFound, RedisUnavailable
from streams_app.gateway.exact_entries import exact_entry_store
from streams_app.team.audit import Actor, change
from streams_app.team.roles import ADD_ENTRY
from streams_app.web.forms import DomainCheckedForm, add_domain_error

FIELD_MAP = {"fields": "field_lines"}  # domain field -> form field


class EntryForm(DomainCheckedForm):
    field_lines = forms.CharField(
        required=False,
        strip=False,
        label="Fields",
        widget=forms.Textarea(attrs={"rows": 6, "placeholder": "note=storm\ntemperature=26", "spellcheck": "false"}),
        help_text=(
            f"One field a line, as name=value: everything after the first = is the value, as typed. "
            f"At most {MAX_FIELDS} fields; names up to {MAX_NAME_CHARS} characters, values up to "
            f"{MAX_VALUE_CHARS:,} characters. Values with newlines: use the API."
        ),
    )
    id = forms.CharField(
        required=False,
        label="ID (optional)",
        widget=forms.TextInput(attrs={"placeholder": "* (automatic)"}),
        help_text="Leave empty for an automatic ID, or give ms or ms-seq above the stream's last ID.",
    )


def _entry_url(name: str, entry_id: str) -> str:
    return reverse("entry_detail", args=[url_token(name), entry_id])


@login_required
def entry_detail(request: HttpRequest, token: str, entry_id: str) -> HttpResponse:
    name = name_from_token(token)
    store = exact_entry_store()
    entry = store.exact_entry(name, parse_stream_id(entry_id))
    if entry is None:
        raise NotFound(f"“{display_name(name)}” has no entry {entry_id} (it may have been trimmed).")
    return render(
        request,
        "streams_app/entry_detail.html",
        {
            "name": name,
            "display_name": display_name(name),
            "token": url_token(name),
            "entry": entry,
            "view": entry_view(stream=name, entry=entry),
            "internal": key_internal_reason(name),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def entry_add_page(request: HttpRequest, token: str) -> HttpResponse:
    name = name_from_token(token)
    store = exact_entry_store()
    status = 200
    if request.method == "POST":
        form = EntryForm(request.POST)
        if form.is_valid():
            values = form.cleaned_data
            try:
                new_id = change(
                    Actor(request.user, "page"),
                    ADD_ENTRY,
                    lambda: entry_add(
                        store=store,
                        stream=name,
                        fields=field_lines_parse(values["field_lines"]),
                        entry_id=values["id"],
                    ),
                    describe=lambda added: f"added {added}",
                    stream=name,
                    detail={"id": values["id"] or "*"},
                )
            except (Forbidden, RedisUnavailable):
                raise
            except DomainError as error:
                add_domain_error(form, error, field_map=FIELD_MAP)
                status = error.status
            else:
                messages.success(request, f"Added entry {new_id} to {display_name(name)}.")
                return redirect(_entry_url(name, new_id))
        else:
            status = 400
    else:
        form = EntryForm()
    return render(
        request,
        "streams_app/entry_add.html",
        {
            "form": form,
            "name": name,
            "display_name": display_name(name),
            "token": url_token(name),
            "kind": store.key_type(name),
            "internal": key_internal_reason(name),
        },
        status=status,
    )


@login_required
@require_POST
def entry_add_again_page(request: HttpRequest, token: str, entry_id: str) -> HttpResponse:
    """A copy of the entry, with a new ID; then the new entry's page (or back, with the reason)."""
    name = name_from_token(token)
    try:
        new_id = change(
            Actor(request.user, "page"),
            ADD_ENTRY,
            lambda: entry_add_again(store=exact_entry_store(), stream=name, entry_id=entry_id),
            describe=lambda added: f"added {added}, a copy of {entry_id}",
            stream=name,
            detail={"copy_of": entry_id},
        )
    except (Forbidden, RedisUnavailable, NotFound):
        raise
    except DomainError as error:
        messages.error(request, error.message)
        return redirect(_entry_url(name, entry_id))
    messages.success(request, f"Added entry {new_id} to {display_name(name)}, a copy of {entry_id}.")
    return redirect(_entry_url(name, new_id))
