"""What a weather reading is, and adding one: the same rules for every door
(web form, admin, JSON API, `manage.py produce`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from streams_app.domain.ids import parse_new_entry_id
from streams_app.domain.names import validate_city
from streams_app.errors import BadInput
from streams_app.gateway import StreamStore

TEMPERATURE_RANGE = (Decimal(-90), Decimal(60))
HUMIDITY_RANGE = (Decimal(0), Decimal(100))
MAX_NUMBER_LENGTH = 32


@dataclass(frozen=True, slots=True)
class Reading:
    """A validated reading, ready to be appended to its city's stream."""

    city: str
    temperature: str
    humidity: str
    entry_id: str = "*"

    def fields(self) -> list[tuple[str, str]]:
        # Only what the entry needs: the city is the stream's name, the time is the ID.
        return [("temperature", self.temperature), ("humidity", self.humidity)]


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
        raise BadInput(f"{label} must be a number, like 21.5; got “{raw}”.", field=field) from None
    if not number.is_finite():
        raise BadInput(f"{label} must be a finite number, not “{raw}”.", field=field)
    low, high = bounds
    if not low <= number <= high:
        raise BadInput(f"{label} must be between {low} and {high} {unit}; got {raw}.", field=field)
    return format_decimal(number)


def format_decimal(number: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: 21.50 -> 21.5, 1E+1 -> 10, -0 -> 0."""
    normalized = number.normalize()
    if normalized.is_zero():
        return "0"
    return format(normalized, "f")


def parse_reading(*, city: Any, temperature: Any, humidity: Any, entry_id: Any = None) -> Reading:
    """Validate a reading as any door receives it; raises BadInput for the first field that is wrong."""
    if not isinstance(city, str) and city is not None:
        raise BadInput("The city name must be text.", field="city")
    if entry_id is not None and not isinstance(entry_id, str):
        raise BadInput("The ID must be text, like 1534866436902-0.", field="id")
    return Reading(
        city=validate_city(city),
        temperature=parse_measurement(
            temperature, field="temperature", label="Temperature", bounds=TEMPERATURE_RANGE, unit="°C"
        ),
        humidity=parse_measurement(humidity, field="humidity", label="Humidity", bounds=HUMIDITY_RANGE, unit="%"),
        entry_id=parse_new_entry_id(entry_id or ""),
    )


def reading_add(*, store: StreamStore, city: Any, temperature: Any, humidity: Any, entry_id: Any = None) -> str:
    """Validate and append a reading to its city's stream; returns the new entry's ID.

    BadInput for invalid values; Conflict when the key is not a stream or the ID does not grow.
    Nothing is written unless everything is valid.
    """
    reading = parse_reading(city=city, temperature=temperature, humidity=humidity, entry_id=entry_id)
    return store.add_entry(reading.city, reading.fields(), reading.entry_id)
