"""App settings with their defaults; read through `app_settings()` so tests may override them."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DEFAULTS = {
    "WEATHERSTREAMS_GROUP": "mygroup",
    "WEATHERSTREAMS_CITIES": ["chennai", "coimbatore"],
    "WEATHERSTREAMS_PAGE_SIZE": 50,
    "WEATHERSTREAMS_MAX_PAGE_SIZE": 1000,
    "WEATHERSTREAMS_STREAMS_PER_PAGE": 50,
    "WEATHERSTREAMS_FIELD_PREVIEW_CHARS": 120,
}


@dataclass(frozen=True)
class AppSettings:
    redis_url: str
    group: str
    cities: tuple[str, ...]
    page_size: int
    max_page_size: int
    streams_per_page: int
    field_preview_chars: int


def app_settings() -> AppSettings:
    values = {name: getattr(settings, name, default) for name, default in DEFAULTS.items()}
    if not 1 <= values["WEATHERSTREAMS_PAGE_SIZE"] <= values["WEATHERSTREAMS_MAX_PAGE_SIZE"]:
        raise ImproperlyConfigured("WEATHERSTREAMS_PAGE_SIZE must be between 1 and WEATHERSTREAMS_MAX_PAGE_SIZE.")
    return AppSettings(
        redis_url=settings.REDIS_URL,
        group=values["WEATHERSTREAMS_GROUP"],
        cities=tuple(values["WEATHERSTREAMS_CITIES"]),
        page_size=values["WEATHERSTREAMS_PAGE_SIZE"],
        max_page_size=values["WEATHERSTREAMS_MAX_PAGE_SIZE"],
        streams_per_page=values["WEATHERSTREAMS_STREAMS_PER_PAGE"],
        field_preview_chars=values["WEATHERSTREAMS_FIELD_PREVIEW_CHARS"],
    )
