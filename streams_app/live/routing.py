"""WebSocket routes of the live pages (served by the same ASGI application as HTTP)."""

from django.urls import path, re_path

from streams_app.live import consumers

websocket_urlpatterns = [
    path("ws/streams/<str:token>/tail/", consumers.StreamTailConsumer.as_asgi()),
    path("ws/streams/<str:token>/groups/<str:group>/", consumers.GroupConsumer.as_asgi()),
    path("ws/dashboard/", consumers.DashboardConsumer.as_asgi()),
    path("ws/jobs/<str:job_id>/", consumers.JobConsumer.as_asgi()),
    # Last: any other path is refused with a message (Channels' router would raise instead).
    re_path(r"", consumers.UnknownAddressConsumer.as_asgi()),
]
