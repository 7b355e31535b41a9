from django.apps import AppConfig
from django.core import checks


class StreamsAppConfig(AppConfig):
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
