"""The app's configs: its own, and two stand-ins that keep `django.setup()` light.

Every management command pays for what `django.setup()` imports, the short ones too
(`produce`, `create_api_token`). Two installed apps imported far more than they need at set-up:
daphne's app config imports daphne's server (Twisted and autobahn, ~0.14 s) only to install its
reactor early, and the admin's config imports every app's admin module (forms, views, django-rq's
statistics pages, ~0.1 s). The stand-ins below keep what those apps give (daphne's `runserver`,
the admin with every model registered) and import the heavy parts when a door first uses them.
"""

from __future__ import annotations

import threading

from django.apps import AppConfig
from django.contrib.admin.apps import SimpleAdminConfig
from django.contrib.admin.sites import AdminSite
from django.core import checks


class StreamsAppConfig(AppConfig):
    # The config of "streams_app" in INSTALLED_APPS: this module holds other configs too.
    default = True
    name = "streams_app"
    verbose_name = "Weather streams"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(redis_configuration_check, "weatherstreams")


def redis_configuration_check(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Commands that run Django's checks (rqworker, migrate, check) stop on a Redis set-up that
    cannot work, with the one line that says what to set."""
    from streams_app.gateway.clients import startup_problem

    problem = startup_problem()
    return [checks.Error(problem, id="weatherstreams.E001")] if problem else []


class DaphneRunserverConfig(AppConfig):
    """daphne as an installed app, for its `runserver` (HTTP and the live pages' WebSockets),
    without `daphne.apps`, which imports the whole server at set-up. Listed first, before
    staticfiles, so `runserver` is daphne's; its command imports the server (and installs the
    reactor) when it is run. daphne's own check (`daphne.E001`: daphne before staticfiles) is
    not registered: it imports `daphne.apps`; tests/doors/test_settings_startup.py checks the order."""

    default = False
    name = "daphne"
    label = "daphne"
    verbose_name = "Daphne"


class _DiscoveringAdminSite(AdminSite):
    """The admin site, whose registry is filled on first use (the URLconf, the admin checks, a
    test asking `is_registered`) by importing every app's `admin` module, as Django's AdminConfig
    does at set-up."""

    _discovery_lock = threading.RLock()  # re-entered by the admin modules as they register
    _discovering = False
    _discovered = False

    @property
    def _registry(self) -> dict:
        site = _DiscoveringAdminSite
        if not site._discovered:
            with site._discovery_lock:
                if not site._discovered and not site._discovering:
                    from django.contrib.admin import autodiscover

                    site._discovering = True
                    try:
                        autodiscover()
                    finally:
                        site._discovering = False
                    site._discovered = True
        return self.__dict__["_registry"]

    @_registry.setter
    def _registry(self, value: dict) -> None:
        self.__dict__["_registry"] = value


class LazyAdminConfig(SimpleAdminConfig):
    """django.contrib.admin with its site's models registered on first use, not at set-up."""

    default = False
    default_site = "streams_app.apps._DiscoveringAdminSite"
