"""Fixtures: a real redis-server started for the run (flushed before each test), users,
logged-in clients and API tokens.

A cluster run (`--redis-cluster`, or WEATHERSTREAMS_TEST_REDIS=cluster) keeps the streams on a
real local 3-primary Redis Cluster: REDIS_URL is the cluster, QUEUE_REDIS_URL (RQ and the
Channels layer) the single redis-server, and `redis_client` a cluster client. Tests of what
only a single node has (killing or pausing the one Redis, the old key scheme's migration) are
marked `single_node` and left out of a cluster run; they run in every single-node lane.
"""

from __future__ import annotations

import os

import pytest
import redis as redis_py
import redis.cluster

# The support modules are also plugins (below): rewrite their asserts before the import.
pytest.register_assert_rewrite("tests.support")

from tests.support.redis_server import RedisServer  # noqa: E402

pytest_plugins = ["tests.support.database", "tests.support.cluster_plugin", "tests.support.redis_server"]

_server: RedisServer | None = None
_streams_url: str | None = None  # where the app keeps its streams: the redis-server, or the cluster
ROOMS = {"unit", "doors", "system", "cluster"}


def pytest_configure(config: pytest.Config) -> None:
    """Start the suite's own redis-server (and, for a cluster run, cluster) and point every
    setting (and child process) at it."""
    global _server, _streams_url
    from tests.support.cluster_plugin import cluster_requested, session_cluster

    config.addinivalue_line("markers", "single_node: needs the streams on one Redis node (left out of cluster runs)")
    _server = RedisServer().start()
    _streams_url = session_cluster().url if cluster_requested(config) else _server.url
    os.environ["REDIS_URL"] = _streams_url
    if _streams_url != _server.url:
        os.environ["QUEUE_REDIS_URL"] = _server.url
    from django.conf import settings

    from weatherstreams.derived_settings import redis_dependent_settings, transport_security_settings

    # The test client speaks plain HTTP; production transport security is checked by
    # `check --deploy` in test_settings.py.
    for name, value in {
        **redis_dependent_settings(_streams_url, queue_url=_server.url),
        **transport_security_settings(https=False),
    }.items():
        setattr(settings, name, value)
    # Tests create many users: a fast hasher keeps the suite quick (never used outside tests).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test is marked with its room (unit, doors, system), so a lane is a marker expression."""
    for item in items:
        room = item.path.relative_to(config.rootpath / "tests").parts[0]
        if room in ROOMS:
            item.add_marker(room)
    from tests.support.cluster_plugin import cluster_requested

    if cluster_requested(config):
        kept = [item for item in items if item.get_closest_marker("single_node") is None]
        config.hook.pytest_deselected(items=[item for item in items if item not in kept])
        items[:] = kept


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()


@pytest.fixture(scope="session")
def redis_server() -> RedisServer:
    assert _server is not None
    return _server


class WholeClusterClient(redis_py.cluster.RedisCluster):
    """The test's view of a cluster as of one Redis: KEYS and DBSIZE over every primary (redis-py
    asks one node by default), so an assertion on "every key" means every key."""

    def keys(self, pattern="*", **kwargs):
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        found = super().keys(pattern, **kwargs)
        return [key for node_keys in found.values() for key in node_keys] if isinstance(found, dict) else found

    def dbsize(self, **kwargs):
        kwargs.setdefault("target_nodes", self.PRIMARIES)
        found = super().dbsize(**kwargs)
        return sum(found.values()) if isinstance(found, dict) else found


@pytest.fixture(scope="session")
def streams_url(redis_server: RedisServer) -> str:
    """The URL of the app's streams (REDIS_URL): the redis-server, or in a cluster run the cluster."""
    assert _streams_url is not None
    return _streams_url


@pytest.fixture
def redis_client(redis_server: RedisServer, streams_url: str):
    """A plain redis-py client on the app's streams (a RedisCluster in a cluster run), which
    are empty at the start of each test, as is the queue's Redis."""
    redis_server.wait_ready()
    if streams_url == redis_server.url:
        client = redis_py.Redis.from_url(redis_server.url)
        client.flushall()
    else:
        from tests.support.cluster_plugin import session_cluster

        cluster = session_cluster()
        cluster.wait_healthy()
        cluster.flushall()
        with redis_py.Redis.from_url(redis_server.url) as queue:
            queue.flushall()
        client = WholeClusterClient.from_url(streams_url)
    yield client
    client.close()


@pytest.fixture
def queue_client(redis_client, redis_server: RedisServer):
    """A plain client on the queue's Redis (QUEUE_REDIS_URL: RQ's jobs, the app's job index, the
    Channels layer), which is the redis-server in every run; empty at the start of the test."""
    client = redis_py.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def app_redis(redis_client, redis_server: RedisServer, streams_url: str):
    """A client of the app's own making (gateway.clients) on the streams: a RedisCluster in a
    cluster run. Closed at the end of the test."""
    from streams_app.gateway.clients import connect, connect_cluster

    client = connect(streams_url) if streams_url == redis_server.url else connect_cluster(streams_url)
    yield client
    client.close()


@pytest.fixture
def store(redis_client):
    from streams_app.gateway.stores import stream_store

    return stream_store()


def role_group(role: str):
    """The Django group of `role`, with its permissions (as the roles migration makes it)."""
    from django.contrib.auth.models import Group, Permission

    from streams_app.team.roles import ROLES

    group, created = Group.objects.get_or_create(name=role)
    if created:
        codenames = [action.codename for action in ROLES[role]]
        group.permissions.set(Permission.objects.filter(content_type__app_label="streams_app", codename__in=codenames))
    return group


def member_of(role: str | None, django_user_model, username: str):
    """A user in the Django group of `role` (None: in no group, i.e. a viewer)."""
    member = django_user_model.objects.create_user(username=username, password="a-long-test-password")
    if role is not None:
        # get_or_create: a transactional test before this one may have emptied the tables the migration filled
        member.groups.add(role_group(role))
    return member


@pytest.fixture
def user(db, django_user_model):
    """The suite's usual user: a stream-admin, who may make every change (tests of what each
    role may do use the `role_client` fixture)."""
    return member_of("stream-admins", django_user_model, "ana")


@pytest.fixture
def role_client(db, django_user_model, redis_client):
    """`role_client("operators")`: a logged-in browser-like client (CSRF checks on) of a new user
    in that role (None for a user in no group); its user is `client.user`."""
    from django.test import Client

    made = []

    def make(role: str | None):
        member = member_of(role, django_user_model, f"{role or 'nobody'}-{len(made)}")
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(member)
        browser.user = member
        made.append(browser)
        return browser

    return make


@pytest.fixture
def staff_user(db, django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="a-long-test-password")


@pytest.fixture
def staff(staff_user, redis_client):
    """A browser-like client (CSRF checks on) logged in as a superuser, for admin pages."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff_user)
    return browser


@pytest.fixture
def web(client, user, redis_client):
    """A browser-like test client, logged in, with CSRF checks on."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    return browser


@pytest.fixture
def api_token(user) -> str:
    from streams_app.models import ApiToken

    _, key = ApiToken.objects.issue(user=user, name="tests")
    return key


@pytest.fixture
def api(client, api_token, redis_client):
    """A test client that authenticates as a script does, with a token header."""
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Token {api_token}")


# --- browser tests --------------------------------------------------------------------

ARTIFACTS = os.environ.get("WEATHERSTREAMS_TEST_ARTIFACTS") or os.path.join(
    os.path.dirname(__file__), "..", "test-artifacts"
)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def live_app(redis_server):
    from tests.support.live_server import LiveApp

    app = LiveApp(redis_server.url).start()
    yield app
    app.stop()


def chromium_path() -> str:
    import shutil

    for candidate in (os.environ.get("WEATHERSTREAMS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (found := shutil.which(candidate)):
            return found
    raise RuntimeError("Chromium is not installed: scripts/test installs Debian's chromium package.")


@pytest.fixture(scope="module")
def browser():
    """Chromium for one test module: Playwright's event loop must not outlive it, or Django's
    database calls in later synchronous tests would be refused as "async-unsafe"."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def anonymous_page(browser, live_app, redis_client, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_app.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, f"{request.node.name}.png".replace("/", "_"))
        page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}\n--- web server log ---\n{live_app.log('web')[-3000:]}")
    context.close()


@pytest.fixture
def page(anonymous_page):
    """A browser page logged in as a regular user."""
    from tests.support.live_server import PASSWORD, USERNAME

    anonymous_page.goto("/accounts/login/")
    anonymous_page.fill("#id_username", USERNAME)
    anonymous_page.fill("#id_password", PASSWORD)
    anonymous_page.click("button[type=submit]")
    anonymous_page.wait_for_url(lambda url: "/accounts/login" not in url)
    return anonymous_page


@pytest.fixture
def job_worker(live_app, redis_client):
    process = live_app.start_job_worker()
    yield process
    process.terminate()
    process.wait(timeout=10)
