"""What every template may use: the time zone pages are shown in, and what a reading is."""

from django.conf import settings

from streams_app.domain.readings import MEASUREMENTS
from streams_app.team.roles import ACTIONS, GRANTED_BY, may


class Abilities:
    """What the user may change, for templates: `{% if can.ack %}`; `can.why.ack` says which role it needs."""

    def __init__(self, user) -> None:
        self.user = user
        self.why = {name: f"needs the {role} role" for name, role in GRANTED_BY.items()}

    def __getitem__(self, name: str) -> bool:
        if name not in ACTIONS:
            raise KeyError(name)  # templates then look for an attribute (`why`)
        return may(self.user, ACTIONS[name])

    def __getattr__(self, name: str) -> bool:
        if name not in ACTIONS:
            raise AttributeError(name)
        return self[name]


def site(request):
    return {
        "can": Abilities(getattr(request, "user", None)),
        "time_zone_name": settings.TIME_ZONE,
        "reading_fields": MEASUREMENTS,
        "xadd_fields": " ".join(f"{m.name} {m.example}" for m in MEASUREMENTS),
    }
