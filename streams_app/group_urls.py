"""URLs of the consumer-group, dead-letter and worker pages and their JSON API.

Included from streams_app/urls.py, which registers the `stream` path converter (a URL
token, see stream_names.url_token); group and consumer names travel as the same tokens.
"""

from django.urls import path

import streams_app.urls  # noqa: F401  (registers the `stream` converter before the patterns below)
from streams_app.views import group_api
from streams_app.views import groups as pages

GROUP = "streams/<stream:token>/groups/<stream:group>/"
API_GROUP = "api/streams/<stream:token>/groups/<stream:group>"

urlpatterns = [
    path("streams/<stream:token>/groups/", pages.group_list, name="group_list"),
    path(GROUP, pages.group_detail, name="group_detail"),
    path(GROUP + "pending/", pages.group_pending_action, name="group_pending_action"),
    path(GROUP + "consumers/delete/", pages.group_consumer_delete, name="group_consumer_delete"),
    path(GROUP + "setid/", pages.group_setid, name="group_setid"),
    path(GROUP + "destroy/", pages.group_destroy_page, name="group_destroy"),
    path("streams/<stream:token>/dead-letters/", pages.dead_letters, name="dead_letters"),
    path("workers/", pages.workers, name="workers"),
    path("api/streams/<stream:token>/groups", group_api.groups, name="api_groups"),
    path(API_GROUP, group_api.group, name="api_group"),
    path(API_GROUP + "/setid", group_api.group_setid, name="api_group_setid"),
    path(API_GROUP + "/consumers", group_api.consumers, name="api_group_consumers"),
    path(API_GROUP + "/consumers/<stream:consumer>", group_api.consumer, name="api_group_consumer"),
    path(API_GROUP + "/pending", group_api.pending, name="api_group_pending"),
    path(API_GROUP + "/ack", group_api.ack, name="api_group_ack"),
    path(API_GROUP + "/claim", group_api.claim, name="api_group_claim"),
    path("api/streams/<stream:token>/dead-letters", group_api.dead_letters, name="api_dead_letters"),
    path("api/streams/<stream:token>/dead-letters/redrive", group_api.redrive, name="api_dead_letters_redrive"),
    path("api/workers", group_api.workers, name="api_workers"),
]
