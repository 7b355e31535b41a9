"""What a weather reading is, and adding one: the same rules for every door (web form, admin,
JSON API, `manage.py produce`).

`MEASUREMENTS` is the one definition of a reading's fields: forms, admin, API, producer,
exports, charts, the weather processor and the templates all read it. A field added here
appears at every door.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from streams_app.domain.ids import parse_new_entry_id
from streams_app.domain.names import display_name, refuse_internal_key, validate_city
from streams_app.errors import BadInput
from streams_app.gateway import StreamStore

MAX_NUMBER_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Measurement:
    """One field of a reading: its name in the stream entry, how it is shown, what it may be."""

    name: str
    label: str
    unit: str
    low: Decimal
    high: Decimal
    example: str  # what forms offer as a placeholder
    decimals: int  # how many places pages show

    @property
    def label_with_unit(self) -> str:
        return f"{self.label} ({self.unit})"

    @property
    def help_text(self) -> str:
        return f"{self.unit}, from {self.low} to {self.high}"


MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement("temperature", "Temperature", "°C", Decimal(-90), Decimal(60), example="26", decimals=1),
    Measurement("humidity", "Humidity", "%", Decimal(0), Decimal(100), example="10", decimals=0),
)
READING_FIELDS: tuple[str, ...] = tuple(measurement.name for measurement in MEASUREMENTS)
_BY_NAME = {measurement.name: measurement for measurement in MEASUREMENTS}


def measurement(name: str) -> Measurement:
    return _BY_NAME[name]


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated reading, ready to be appended to its city's stream."""

    city: str
    values: dict[str, str]  # measurement name -> canonical decimal text, in MEASUREMENTS order
    entry_id: str = "*"

    def fields(self) -> list[tuple[str, str]]:
        # Only what the entry needs: the city is the stream's name, the time is the ID.
        return list(self.values.items())


def parse_measurement(value: Any, *, field: str, label: str, bounds: tuple[Decimal, Decimal], unit: str) -> str:
    """A measurement as a canonical decimal string, or BadInput saying what is wrong."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        raise BadInput(f"{label} is required.", field=field)
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise BadInput(f"{label} must be a number, like 21.5.", field=field)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"{label} must be a finite number, not {value}.", field=field)
        value = repr(value)
    raw = str(value).strip()
    if len(raw) > MAX_NUMBER_LENGTH:
        raise BadInput(f"{label} must be a number, like 21.5 (at most {MAX_NUMBER_LENGTH} characters).", field=field)
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise BadInput(f"{label} must be a number, like 21.5; got “{display_name(raw)}”.", field=field) from None
    if not number.is_finite():
        raise BadInput(f"{label} must be a finite number, not “{display_name(raw)}”.", field=field)
    low, high = bounds
    if not low <= number <= high:
        raise BadInput(f"{label} must be between {low} and {high} {unit}; got {raw}.", field=field)
    return format_decimal(number)


def measurement_value(measurement: Measurement, value: Any) -> str:
    """One measurement of a reading, checked against its definition."""
    return parse_measurement(
        value,
        field=measurement.name,
        label=measurement.label,
        bounds=(measurement.low, measurement.high),
        unit=measurement.unit,
    )


def format_decimal(number: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: 21.50 -> 21.5, 1E+1 -> 10, -0 -> 0."""
    normalized = number.normalize()
    if normalized.is_zero():
        return "0"
    return format(normalized, "f")


def parse_reading(*, city: Any, entry_id: Any = None, **values: Any) -> Reading:
    """Validate a reading as any door receives it (one keyword per measurement); raises
    BadInput for the first field that is wrong."""
    unknown = set(values) - set(READING_FIELDS)
    if unknown:
        raise TypeError(f"not a measurement of a reading: {', '.join(sorted(unknown))}")
    if not isinstance(city, str) and city is not None:
        raise BadInput("The city name must be text.", field="city")
    if entry_id is not None and not isinstance(entry_id, str):
        raise BadInput("The ID must be text, like 1534866436902-0.", field="id")
    city = validate_city(city)
    refuse_internal_key(city, refused="readings cannot be written to it", field="city")
    parsed = {m.name: measurement_value(m, values.get(m.name)) for m in MEASUREMENTS}
    return Reading(city=city, values=parsed, entry_id=parse_new_entry_id(entry_id or ""))


def reading_values(source: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements a door received (form data, a JSON body), by name; missing ones are None."""
    return {name: source.get(name) for name in READING_FIELDS}


def reading_add(*, store: StreamStore, city: Any, entry_id: Any = None, **values: Any) -> str:
    """Validate and append a reading to its city's stream; returns the new entry's ID.

    BadInput for invalid values and for the app's or RQ's own keys; Conflict when the key is not
    a stream, the ID does not grow or the stream has used the last possible ID.
    Nothing is written unless everything is valid.
    """
    reading = parse_reading(city=city, entry_id=entry_id, **values)
    return store.add_entry(reading.city, reading.fields(), reading.entry_id)
