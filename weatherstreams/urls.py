from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("streams_app.urls")),
]

handler400 = "streams_app.web.answers.bad_request"
handler403 = "streams_app.web.answers.permission_denied"
handler404 = "streams_app.web.answers.not_found"
handler500 = "streams_app.web.answers.server_error"
