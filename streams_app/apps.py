from django.apps import AppConfig


class StreamsAppConfig(AppConfig):
    name = "streams_app"
    verbose_name = "Weather streams"
    default_auto_field = "django.db.models.BigAutoField"
