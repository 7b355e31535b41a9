"""Forms only collect text; the domain decides what is valid, so every door says the same."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.utils import timezone

from streams_app.domain.browsing import ORDERS
from streams_app.domain.catalog import stream_name_suggestions
from streams_app.domain.exports import FORMATS
from streams_app.domain.producer import simulated_day_check, simulated_day_default
from streams_app.domain.readings import MEASUREMENTS, Measurement, reading_add, reading_values
from streams_app.domain.retention import STRATEGIES
from streams_app.errors import BadInput, DomainError
from streams_app.gateway import StreamStore
from streams_app.gateway.stores import stream_store
from streams_app.jobs.launch import job_start_from_values

# The id of the <datalist> of stream names a page offers its stream fields
# (templates/streams_app/_known_streams.html, filled from `known_streams` in the context).
KNOWN_STREAMS_LIST = "known-streams"


def offer_streams(form: forms.Form, *field_names: str) -> None:
    """Point the form's stream fields at the page's list of streams (on this form's own copy of
    each widget, so no other form is changed)."""
    for field_name in field_names:
        if field_name in form.fields:
            form.fields[field_name].widget.attrs.update({"list": KNOWN_STREAMS_LIST, "autocomplete": "off"})


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
        widget=forms.TextInput(attrs={"list": KNOWN_STREAMS_LIST, "autocomplete": "off", "placeholder": "chennai"}),
        help_text="The stream to append to: 1–64 letters, digits and _ - . :",
    )
    id = forms.CharField(
        required=False,
        label="ID (optional)",
        widget=forms.TextInput(attrs={"placeholder": "* (automatic)"}),
        help_text="Leave empty for an automatic ID, or give ms or ms-seq above the stream's last ID.",
    )


def _measurement_field(measurement: Measurement) -> forms.CharField:
    return forms.CharField(
        required=False,
        label=measurement.label_with_unit,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": measurement.example}),
    )


# One field per measurement of a reading, after the city, in the order readings define them.
ReadingForm.base_fields = {
    "city": ReadingForm.base_fields["city"],
    **{m.name: _measurement_field(m) for m in MEASUREMENTS},
    "id": ReadingForm.base_fields["id"],
}


def reading_form_submit(form: ReadingForm, *, store: StreamStore) -> tuple[str | None, int]:
    """Add the reading a posted form holds: (new ID, 200), or (None, status) with the error on the form."""
    if not form.is_valid():
        return None, 400
    values = form.cleaned_data
    try:
        new_id = reading_add(store=store, city=values["city"], entry_id=values["id"], **reading_values(values))
    except DomainError as error:
        add_domain_error(form, error)
        return None, error.status
    return new_id, 200


FILTER_HELP = (
    'Optional: compare fields with values, as in temperature > 40 and note ~ "storm" '
    "(= != < <= > >=, ~ contains, and, or, not, parentheses; quote text)."
)


def _filter_field() -> forms.CharField:
    return forms.CharField(
        required=False,
        strip=False,  # the position of an error counts from the filter's first character, as typed
        label="Filter",
        help_text=FILTER_HELP,
        widget=forms.TextInput(
            attrs={
                "placeholder": 'temperature > 40 and note ~ "storm"',
                "autocomplete": "off",
                "autocapitalize": "off",
                "spellcheck": "false",
            }
        ),
    )


class RangeForm(forms.Form):
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    order = forms.ChoiceField(choices=list(ORDERS.items()), required=False)
    count = forms.CharField(
        required=False, label="Page size", widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5})
    )
    filter = _filter_field()


class SimulateDayForm(DomainCheckedForm):
    city = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "chennai"}))
    day = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="86,400 readings, one a second from 00:00, with IDs of that day.",
    )

    def clean_day(self) -> date | None:
        """A day before 1970 is refused here, with the domain's words, not later in the job."""
        day = self.cleaned_data.get("day")
        if day is not None:
            try:
                simulated_day_check(day, timezone.get_current_timezone())
            except BadInput as error:
                raise forms.ValidationError(error.message) from None
        return day


class ExportForm(DomainCheckedForm):
    stream = forms.CharField(required=False)
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    format = forms.ChoiceField(choices=list(FORMATS.items()), required=False)
    filter = _filter_field()


class TrimForm(DomainCheckedForm):
    stream = forms.CharField(required=False)
    strategy = forms.ChoiceField(choices=list(STRATEGIES.items()), required=False)
    threshold = forms.CharField(
        required=False,
        label="Keep / from",
        help_text="MAXLEN: entries to keep. MINID: an ID or a date-time; older entries go.",
    )
    approximate = forms.BooleanField(required=False, initial=True, label="Approximate (~): faster, may keep a few more")
    confirm = forms.BooleanField(required=False, label="Trim even entries still pending in a group")


JOB_FORMS = {"simulate": SimulateDayForm, "export": ExportForm, "trim": TrimForm}


def job_forms(request, **bound: forms.Form) -> dict[str, forms.Form]:
    """The three job forms, blank (preset with ?stream=, and a day that stream accepts) unless
    given bound ones with errors."""
    stream = request.GET.get("stream", "")
    simulate_form = bound.get("simulate")
    if simulate_form is None:
        simulate_form = SimulateDayForm(initial={"city": stream, "day": default_day(stream)})
    return {
        "simulate_form": simulate_form,
        "export_form": bound.get("export")
        or ExportForm(
            initial={
                "stream": stream,
                "format": "csv",
                # A stream page's "Export" link brings its range and filter along.
                **{name: request.GET[name] for name in ("start", "end", "filter") if request.GET.get(name)},
            }
        ),
        "trim_form": bound.get("trim")
        or TrimForm(initial={"stream": stream, "strategy": "maxlen", "approximate": True}),
    }


# The stream field of each job form.
JOB_STREAM_FIELDS = {"simulate_form": "city", "export_form": "stream", "trim_form": "stream"}


def job_forms_offering_streams(request, **bound: forms.Form) -> dict:
    """`job_forms`, each stream field offering the streams there are (`known_streams`)."""
    context: dict = job_forms(request, **bound)
    for form_name, field_name in JOB_STREAM_FIELDS.items():
        offer_streams(context[form_name], field_name)
    context["known_streams"] = stream_name_suggestions(store=stream_store())
    return context


def default_day(city: str | None = None) -> date | None:
    """The day "Simulate a day" offers for `city`: one its stream accepts (yesterday when it can,
    else the day after its last entry), in the site's time zone; yesterday when Redis cannot say."""
    today = timezone.localdate()
    try:
        return simulated_day_default(store=stream_store(), city=city, tz=timezone.get_current_timezone(), today=today)
    except DomainError:
        return today - timedelta(days=1)


def job_form_submit(kind: str, data, *, user_id: int | None) -> tuple[str | None, dict[str, forms.Form]]:
    """Validate the posted form of `kind` and start its job: (job ID, {}) or (None, {kind: form with errors})."""
    if kind not in JOB_FORMS:
        kind = "simulate"
    form = JOB_FORMS[kind](data)
    if not form.is_valid():
        return None, {kind: form}
    values = dict(form.cleaned_data)
    if kind == "simulate":
        values["day"] = values["day"] or default_day(values["city"]) or timezone.localdate() - timedelta(days=1)
    try:
        job_id = job_start_from_values(kind, values, tz=timezone.get_current_timezone(), user_id=user_id)
    except DomainError as error:
        add_domain_error(form, error, field_map={"city": "stream"} if kind != "simulate" else None)
        form.status = error.status
        return None, {kind: form}
    return job_id, {}
