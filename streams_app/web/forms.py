"""Forms only collect text; the domain decides what is valid, so every door says the same."""

from __future__ import annotations

from django import forms

from streams_app.domain.browsing import ORDERS
from streams_app.domain.exports import FORMATS
from streams_app.domain.readings import reading_add
from streams_app.domain.retention import STRATEGIES
from streams_app.errors import DomainError
from streams_app.gateway import StreamStore

FORM_FIELDS = {"city", "temperature", "humidity", "id", "start", "end", "order", "count", "after", "before"}


def add_domain_error(form: forms.Form, error: DomainError, *, field_map: dict[str, str] | None = None) -> None:
    """Show a domain error on the field it names, or above the form."""
    field = (field_map or {}).get(error.field or "", error.field)
    form.add_error(field if field in form.fields else None, error.message)


class DomainCheckedForm(forms.Form):
    """A form whose fields only carry text: Django's own validators (e.g. against NUL
    characters) would answer before the domain and in other words than the other doors."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.validators = []


class ReadingForm(DomainCheckedForm):
    city = forms.CharField(
        required=False,
        strip=False,
        widget=forms.TextInput(attrs={"list": "known-cities", "autocomplete": "off", "placeholder": "chennai"}),
        help_text="The stream to append to: 1–64 letters, digits and _ - . :",
    )
    temperature = forms.CharField(
        required=False,
        label="Temperature (°C)",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "26"}),
    )
    humidity = forms.CharField(
        required=False,
        label="Humidity (%)",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "10"}),
    )
    id = forms.CharField(
        required=False,
        label="ID (optional)",
        widget=forms.TextInput(attrs={"placeholder": "* (automatic)"}),
        help_text="Leave empty for an automatic ID, or give ms or ms-seq above the stream's last ID.",
    )


def reading_form_submit(form: ReadingForm, *, store: StreamStore) -> tuple[str | None, int]:
    """Add the reading a posted form holds: (new ID, 200), or (None, status) with the error on the form."""
    if not form.is_valid():
        return None, 400
    values = form.cleaned_data
    try:
        new_id = reading_add(
            store=store,
            city=values["city"],
            temperature=values["temperature"],
            humidity=values["humidity"],
            entry_id=values["id"],
        )
    except DomainError as error:
        add_domain_error(form, error)
        return None, error.status
    return new_id, 200


class RangeForm(forms.Form):
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    order = forms.ChoiceField(choices=list(ORDERS.items()), required=False)
    count = forms.CharField(
        required=False, label="Page size", widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5})
    )


class SimulateDayForm(forms.Form):
    city = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "chennai"}))
    day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="86,400 readings, one a second from 00:00, with IDs of that day.",
    )


class ExportForm(forms.Form):
    stream = forms.CharField(required=False)
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    format = forms.ChoiceField(choices=list(FORMATS.items()), required=False)


class TrimForm(forms.Form):
    stream = forms.CharField(required=False)
    strategy = forms.ChoiceField(choices=list(STRATEGIES.items()), required=False)
    threshold = forms.CharField(
        required=False,
        label="Keep / from",
        help_text="MAXLEN: entries to keep. MINID: an ID or a date-time; older entries go.",
    )
    approximate = forms.BooleanField(required=False, initial=True, label="Approximate (~): faster, may keep a few more")
    confirm = forms.BooleanField(required=False, label="Trim even entries still pending in a group")
