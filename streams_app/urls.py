"""Every HTTP route of the app: pages, the JSON API, and the job pages.

Streams, groups and consumers travel as URL tokens (see domain.names.url_token), matched
by the `stream` converter: any text without a slash.
"""

from django.templatetags.static import static
from django.urls import path, register_converter
from django.views.generic import RedirectView

from streams_app.web import api, entry_api, entry_pages, group_api, groups, jobs, live_pages, metrics, pages


class StreamTokenConverter:
    """A stream's (or group's, or consumer's) URL token: any text without a slash."""

    regex = r"[^/]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(StreamTokenConverter, "stream")

GROUP = "streams/<stream:token>/groups/<stream:group>/"
API_GROUP = "api/streams/<stream:token>/groups/<stream:group>"

urlpatterns = [
    path("", live_pages.dashboard, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("streams_app/favicon.svg")), name="favicon"),
    path("streams/", pages.stream_list, name="stream_list"),
    path("streams/<stream:token>/", pages.stream_detail, name="stream_detail"),
    path("streams/<stream:token>/entries/add/", entry_pages.entry_add_page, name="entry_add"),
    path("streams/<stream:token>/entries/<str:entry_id>/", entry_pages.entry_detail, name="entry_detail"),
    path("streams/<stream:token>/entries/<str:entry_id>/again/", entry_pages.entry_add_again_page, name="entry_again"),
    path("streams/<stream:token>/live/", live_pages.stream_live, name="stream_live"),
    path("readings/add/", pages.reading_add_page, name="reading_add"),
    path("streams/<stream:token>/groups/", groups.group_list, name="group_list"),
    path(GROUP, groups.group_detail, name="group_detail"),
    path(GROUP + "pending/", groups.group_pending_action, name="group_pending_action"),
    path(GROUP + "consumers/delete/", groups.group_consumer_delete, name="group_consumer_delete"),
    path(GROUP + "setid/", groups.group_setid_page, name="group_setid"),
    path(GROUP + "destroy/", groups.group_destroy_page, name="group_destroy"),
    path("streams/<stream:token>/dead-letters/", groups.dead_letters, name="dead_letters"),
    path("workers/", groups.workers, name="workers"),
    path("jobs/", jobs.jobs_page, name="jobs"),
    path("jobs/simulate/", jobs.start_simulate, name="job_simulate"),
    path("jobs/export/", jobs.start_export, name="job_export"),
    path("jobs/trim/", jobs.start_trim, name="job_trim"),
    path("jobs/<str:job_id>/", jobs.job_detail, name="job_detail"),
    path("jobs/<str:job_id>/download/", jobs.job_download, name="job_download"),
    path("api/streams/", api.streams, name="api_streams"),
    path("api/streams/<stream:token>/entries", entry_api.entries, name="api_entries"),
    path("api/streams/<stream:token>/readings", api.readings, name="api_readings"),
    path("api/streams/<stream:token>/groups", group_api.groups, name="api_groups"),
    path(API_GROUP, group_api.group, name="api_group"),
    path(API_GROUP + "/setid", group_api.setid, name="api_group_setid"),
    path(API_GROUP + "/consumers", group_api.consumers, name="api_group_consumers"),
    path(API_GROUP + "/consumers/<stream:consumer>", group_api.consumer, name="api_group_consumer"),
    path(API_GROUP + "/pending", group_api.pending, name="api_group_pending"),
    path(API_GROUP + "/ack", group_api.ack, name="api_group_ack"),
    path(API_GROUP + "/claim", group_api.claim, name="api_group_claim"),
    path(API_GROUP + "/history", group_api.history, name="api_group_history"),
    path("api/streams/<stream:token>/dead-letters", group_api.dead_letters, name="api_dead_letters"),
    path("api/streams/<stream:token>/dead-letters/redrive", group_api.redrive, name="api_dead_letters_redrive"),
    path("api/workers", group_api.workers, name="api_workers"),
    path("api/audit", api.audit, name="api_audit"),
    path("metrics", metrics.metrics, name="metrics"),
]
