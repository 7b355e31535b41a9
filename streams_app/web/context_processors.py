"""What every template may use: the time zone pages are shown in, and what a reading is."""

from django.conf import settings

from streams_app.domain.readings import MEASUREMENTS


def site(request):
    return {
        "time_zone_name": settings.TIME_ZONE,
        "reading_fields": MEASUREMENTS,
        "xadd_fields": " ".join(f"{m.name} {m.example}" for m in MEASUREMENTS),
    }
