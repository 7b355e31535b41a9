from django.urls import include, path, register_converter

from streams_app.views import api, jobs, live_pages, pages


class StreamTokenConverter:
    """A stream's URL token (see stream_names.url_token): any text without a slash."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StreamTokenConverter, "stream")

urlpatterns = [
    path("", live_pages.dashboard, name="home"),
    path("streams/", pages.stream_list, name="stream_list"),
    path("streams/<stream:token>/", pages.stream_detail, name="stream_detail"),
    path("streams/<stream:token>/entries/<str:entry_id>/", pages.entry_detail, name="entry_detail"),
    path("streams/<stream:token>/live/", live_pages.stream_live, name="stream_live"),
    path("readings/add/", pages.reading_add_page, name="reading_add"),
    path("jobs/", jobs.jobs_page, name="jobs"),
    path("jobs/simulate/", jobs.start_simulate, name="job_simulate"),
    path("jobs/export/", jobs.start_export, name="job_export"),
    path("jobs/trim/", jobs.start_trim, name="job_trim"),
    path("jobs/<str:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<str:job_id>/download/", jobs.job_download, name="job_download"),
    path("api/streams/", api.streams, name="api_streams"),
    path("api/streams/<stream:token>/entries", api.entries, name="api_entries"),
    path("api/streams/<stream:token>/readings", api.readings, name="api_readings"),
    path("", include("streams_app.group_urls")),
]
