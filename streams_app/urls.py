from django.urls import path, register_converter

from streams_app.views import api, pages


class StreamTokenConverter:
    """A stream's URL token (see stream_names.url_token): any text without a slash."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StreamTokenConverter, "stream")

urlpatterns = [
    path("", pages.home, name="home"),
    path("streams/", pages.stream_list, name="stream_list"),
    path("streams/<stream:token>/", pages.stream_detail, name="stream_detail"),
    path("streams/<stream:token>/entries/<str:entry_id>/", pages.entry_detail, name="entry_detail"),
    path("readings/add/", pages.reading_add_page, name="reading_add"),
    path("api/streams/", api.streams, name="api_streams"),
    path("api/streams/<stream:token>/entries", api.entries, name="api_entries"),
    path("api/streams/<stream:token>/readings", api.readings, name="api_readings"),
]
