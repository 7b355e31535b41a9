"""Django settings for weatherstreams.

Everything that differs between machines comes from the environment, read here
once: REDIS_URL, REDIS_CLUSTER, QUEUE_REDIS_URL, DATABASE_URL, DJANGO_SECRET_KEY, DJANGO_DEBUG,
DJANGO_ALLOWED_HOSTS, DJANGO_HTTPS, TIME_ZONE.
"""

import os
import secrets
import time
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from weatherstreams.derived_settings import redis_dependent_settings, transport_security_settings

BASE_DIR = Path(__file__).resolve().parent.parent
# Local state (SQLite database, generated secret key, Redis data) lives here, git-ignored.
VAR_DIR = Path(os.environ.get("WEATHERSTREAMS_VAR_DIR", BASE_DIR / "var"))


def env_flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


SECRET_KEY_WAIT_SECONDS = 5.0


def local_secret_key() -> str:
    """A random key kept in var/, so a local install is never run on a published key.

    Made once, by an exclusive create (mode 0600): processes that start together (the run
    script starts web, workers and the job worker at once) all end with the key of the one
    that created the file. The others wait for its key to be written (one small write, so a
    reader sees the file empty or whole)."""
    key_file = VAR_DIR / "secret_key"
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _written_secret_key(key_file)
    key = secrets.token_urlsafe(50)
    with os.fdopen(descriptor, "w") as out:
        out.write(key)
    return key


def _written_secret_key(key_file: Path) -> str:
    """The key another process created, once it is written."""
    deadline = time.monotonic() + SECRET_KEY_WAIT_SECONDS
    while True:
        key = key_file.read_text().strip()
        if key:
            return key
        if time.monotonic() > deadline:
            raise ImproperlyConfigured(
                f"{key_file} is empty (a process stopped while writing it?): delete it to have a new "
                "key made, or set DJANGO_SECRET_KEY."
            )
        time.sleep(0.01)


DEBUG = env_flag("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or local_secret_key()
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    # First, so that `manage.py runserver` is daphne's: it serves the WebSockets of the live pages too.
    # daphne and the admin through stand-ins that import their heavy parts when first used, not at
    # django.setup(), which every command pays for (streams_app/apps.py).
    "streams_app.apps.DaphneRunserverConfig",
    "streams_app.apps.LazyAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_rq",
    "csp",
    "axes",
    "streams_app",
]

MIDDLEWARE = [
    # First, so every response gets the policy, static files and redirects included.
    "streams_app.web.security.ContentSecurityPolicyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "streams_app.web.auth.ApiTokenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "streams_app.web.answers.DomainErrorMiddleware",
    # Last, as django-axes requires: it turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "weatherstreams.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "streams_app.web.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "weatherstreams.wsgi.application"
ASGI_APPLICATION = "weatherstreams.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and job processes share one SQLite file: wait for locks instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes first: it refuses a locked-out username and address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the apps, so the app runs without a collectstatic step.
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production transport security: on whenever debug is off, unless DJANGO_HTTPS=0
# (a local run over plain HTTP, as the README's run command does).
globals().update(transport_security_settings(https=env_flag("DJANGO_HTTPS", not DEBUG)))
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = [
    origin.strip() for origin in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if origin.strip()
]

# Login throttling (django-axes): 10 failed logins for one username from one address lock that
# pair out for 15 minutes (others, and that user elsewhere, can still log in); a success resets
# the count. `manage.py axes_reset` (or axes_reset_username) unlocks early.
AXES_FAILURE_LIMIT = 10
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "streams_app.web.security.lockout_response"

# Content-Security-Policy (django-csp): everything from this origin only, no inline script or
# style, no plugins, no framing; streams_app.web.security adds the page's own WebSocket origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF],  # the favicon is a static file (static/streams_app/favicon.svg)
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# REDIS_URL, and the channel layer and RQ queues that follow from it.
globals().update(
    redis_dependent_settings(
        os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        queue_url=os.environ.get("QUEUE_REDIS_URL") or None,
        # REDIS_CLUSTER=1 forces cluster mode, 0 forbids it; unset, the server says (INFO cluster).
        cluster=None if os.environ.get("REDIS_CLUSTER", "").strip() == "" else env_flag("REDIS_CLUSTER", False),
    )
)

# One handler, on the root logger, so each record is printed once: a handler on a named logger
# as well printed it twice wherever the root had one too (daphne's command line adds one).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "streams_app": {"level": os.environ.get("WEATHERSTREAMS_LOG_LEVEL", "INFO")},
        "django": {"level": "INFO"},
        "daphne": {"level": "INFO"},
    },
}

# Jobs are enqueued at once: they read Redis, not rows of a database transaction.
RQ = {"COMMIT_MODE": "auto"}

# The cities a worker consumes when no --stream is given.
WEATHERSTREAMS_CITIES = [
    city.strip() for city in os.environ.get("WEATHERSTREAMS_CITIES", "chennai,coimbatore").split(",") if city.strip()
]

CSRF_FAILURE_VIEW = "streams_app.web.answers.csrf_failure"
