"""Forms only collect text; the domain decides what is valid, so every door says the same."""

from __future__ import annotations

from django import forms

from streams_app.browse import ORDERS
from streams_app.errors import DomainError

FORM_FIELDS = {"city", "temperature", "humidity", "id", "start", "end", "order", "count", "after", "before"}


def add_domain_error(form: forms.Form, error: DomainError, *, field_map: dict[str, str] | None = None) -> None:
    """Show a domain error on the field it names, or above the form."""
    field = (field_map or {}).get(error.field or "", error.field)
    form.add_error(field if field in form.fields else None, error.message)


class ReadingForm(forms.Form):
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


class RangeForm(forms.Form):
    start = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "- (first)"}))
    end = forms.CharField(required=False, widget=forms.TextInput(attrs={"placeholder": "+ (last)"}))
    order = forms.ChoiceField(choices=list(ORDERS.items()), required=False)
    count = forms.CharField(
        required=False, label="Page size", widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 5})
    )
