"""Hardening: a Content-Security-Policy on every answer (pages, API, admin, the django-rq
dashboard, static files, refusals), no Server banner from the real web server (the one the run
command ships), log lines printed once, login throttling through the login forms, and the
database the suite was asked to run on."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import socket
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import django_rq
import pytest
from django.db import connection
from django.test import Client

from streams_app.web.security import DJANGO_RQ_ALLOWANCES, DJANGO_RQ_PREFIX, lockout_message
from tests.support.database import selected_database

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "a-long-test-password"
INLINE_BLOCK = re.compile(r"<(script|style)(\s[^>]*)?>(.*?)</\1>", re.S)
INLINE_ATTRIBUTE = re.compile(r"""\s(style|on[a-z]+)=(?:"([^"]*)"|'([^']*)')""")


def policy_of(response) -> dict[str, list[str]]:
    """The Content-Security-Policy header of an answer, as directive -> sources."""
    header = response.headers["Content-Security-Policy"]
    return {name: sources for name, *sources in (part.split() for part in header.split(";")) if name}


def csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def inline_code(markup: str) -> list[tuple[str, str]]:
    """Every inline script, <style> block and style or event-handler attribute, as (directive, code)."""
    found = []
    for tag, attributes, body in INLINE_BLOCK.findall(markup):
        if tag == "script" and ("src=" in attributes or "application/json" in attributes):
            continue
        found.append((f"{tag}-src", body))
    for name, double_quoted, single_quoted in INLINE_ATTRIBUTE.findall(markup):
        found.append(("style-src" if name == "style" else "script-src", double_quoted or single_quoted))
    return found


# --- the database -----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_suite_runs_on_the_database_it_was_asked_for(request):
    expected_vendor = {"sqlite": "sqlite", "postgres": "postgresql"}[selected_database(request.config)]
    assert connection.vendor == expected_vendor
    if expected_vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT version()")
            assert cursor.fetchone()[0].startswith("PostgreSQL")
        assert connection.settings_dict["NAME"].startswith("test_")


# --- Content-Security-Policy ------------------------------------------------------------

ANSWERS = [
    ("client", "/accounts/login/", 200),
    ("client", "/", 302),
    ("client", "/api/streams/", 401),
    ("client", "/static/streams_app/app.css", 200),
    ("web", "/", 200),
    ("web", "/streams/", 200),
    ("web", "/no-such-page/", 404),
    ("api", "/api/streams/", 200),
    ("api", "/api/streams/nowhere/groups", 404),
    ("staff", "/admin/", 200),
    ("staff", "/admin/streams_app/apitoken/", 200),
    ("staff", "/admin/auth/user/add/", 200),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("who", "url", "status"), ANSWERS)
def test_every_answer_carries_the_strict_policy(request, redis_client, who, url, status):
    response = request.getfixturevalue(who).get(url)
    assert response.status_code == status
    policy = policy_of(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", "ws://testserver"]
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == ["'none'"]
    assert policy["form-action"] == ["'self'"]
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_a_bad_api_token_is_refused_under_the_policy_too(client, db):
    response = client.get("/api/streams/", HTTP_AUTHORIZATION="Token not-a-key")
    assert response.status_code == 401
    assert policy_of(response)["script-src"] == ["'self'"]


def test_a_page_served_over_https_may_open_sockets_to_its_own_wss_origin(web):
    response = web.get("/", secure=True)
    assert policy_of(response)["connect-src"] == ["'self'", "wss://testserver"]


def test_our_templates_hold_no_inline_script_or_style():
    offenders = []
    for template in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("streams_app/templates/**/*.html")]:
        for directive, code in inline_code(template.read_text()):
            offenders.append(f"{template.relative_to(ROOT)}: {directive} {code[:60]!r}")
    assert offenders == []


@pytest.mark.parametrize("url", ["/admin/rq/", "/admin/rq/queues/0/", "/admin/rq/queues/0/finished/"])
def test_the_django_rq_dashboard_gets_exactly_its_own_inline_code_allowed(staff, url):
    response = staff.get(url)
    assert response.status_code == 200
    policy = policy_of(response)
    for directive, code in inline_code(response.content.decode()):
        assert csp_hash(code) in policy[directive], (directive, code)
    for directive, sources in DJANGO_RQ_ALLOWANCES.items():
        assert policy[directive] == ["'self'", *sources]


def test_pages_outside_the_django_rq_dashboard_get_no_allowances(staff):
    policy = policy_of(staff.get("/admin/"))
    assert not any(source.startswith("'sha256-") or source == "'unsafe-hashes'" for source in policy["style-src"])
    assert policy["script-src"] == ["'self'"]


def test_every_static_inline_block_in_django_rq_templates_is_allowed():
    templates = Path(django_rq.__file__).parent / "templates" / "django_rq"
    missing = []
    for template in sorted(templates.glob("*.html")):
        for directive, code in inline_code(template.read_text()):
            if "{{" in code or "{%" in code:
                continue  # rendered per page: no hash can allow it (see streams_app.web.security)
            if csp_hash(code) not in DJANGO_RQ_ALLOWANCES[directive]:
                missing.append(f"{template.name}: {directive} {csp_hash(code)} for {code.strip()[:60]!r}")
    assert missing == [], "django-rq's inline code changed: update DJANGO_RQ_ALLOWANCES"
    assert DJANGO_RQ_PREFIX == "/admin/rq/"


# --- login throttling -------------------------------------------------------------------


def log_in(browser: Client, username: str, password: str, url: str = "/accounts/login/"):
    return browser.post(url, {"username": username, "password": password})


def page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def test_ten_failed_logins_lock_out_that_username_from_that_address_with_a_clear_message(
    user, api_token, django_user_model, redis_client
):
    browser = Client()
    for _ in range(9):
        response = log_in(browser, "ana", "wrong")
        assert response.status_code == 200
        assert "didn't match" in page_text(response)

    locked = log_in(browser, "ana", "wrong")
    assert locked.status_code == 429
    assert lockout_message() in page_text(locked)
    assert "15 minutes" in lockout_message()
    assert 'name="username"' in locked.content.decode(), "the login form is still shown"

    right_password = log_in(browser, "ana", PASSWORD)
    assert right_password.status_code == 429, "locked: even the right password is refused"
    assert "_auth_user_id" not in browser.session
    assert log_in(browser, "ana", PASSWORD, url="/admin/login/").status_code == 429

    # The lock is on that username from that address only.
    assert log_in(Client(REMOTE_ADDR="10.1.2.3"), "ana", PASSWORD).status_code == 302
    django_user_model.objects.create_user(username="bea", password=PASSWORD)
    assert log_in(Client(), "bea", PASSWORD).status_code == 302
    # Scripts authenticate with tokens, which no login lockout touches.
    assert Client(HTTP_AUTHORIZATION=f"Token {api_token}").get("/api/streams/").status_code == 200


def test_a_successful_login_resets_the_count(user):
    browser = Client()
    for _ in range(9):
        log_in(browser, "ana", "wrong")
    assert log_in(browser, "ana", PASSWORD).status_code == 302
    browser.logout()
    for _ in range(9):
        assert log_in(browser, "ana", "wrong").status_code == 200
    assert log_in(browser, "ana", PASSWORD).status_code == 302


# --- the real web server: no Server banner, log lines once ------------------------------


def fetch_headers(url: str):
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers
    except urllib.error.HTTPError as refusal:
        return refusal.code, refusal.headers


@pytest.mark.system
def test_the_real_web_server_sends_no_server_banner(live_app):
    for path, status in [
        ("/accounts/login/", 200),
        ("/static/streams_app/app.css", 200),
        ("/api/streams/", 401),
        ("/no-such-page/", 404),
    ]:
        answered, headers = fetch_headers(live_app.url + path)
        assert answered == status, path
        assert headers.get("Server") is None, (path, headers.get("Server"))
        assert "script-src 'self'" in headers["Content-Security-Policy"]

    # The WebSocket handshake's answer (refused or not) carries no banner either.
    with socket.create_connection(("127.0.0.1", live_app.port), timeout=10) as sock:
        sock.sendall(
            b"GET /ws/dashboard/ HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            b"Origin: " + live_app.url.encode() + b"\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    status_line, *lines = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), head
    assert not [line for line in lines if line.lower().startswith("server:")], head


@pytest.mark.system
def test_the_real_web_server_prints_a_log_line_once(live_app):
    path = f"/accounts/no-such-page-{uuid.uuid4().hex}/"
    answered, _ = fetch_headers(live_app.url + path)
    assert answered == 404
    line = f"Not Found: {path}"
    deadline = time.monotonic() + 5
    while line not in live_app.log("web") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert live_app.log("web").count(line) == 1, live_app.log("web")[-2000:]


# --- the policy in a real browser -------------------------------------------------------

BROWSER_PAGES = [
    "/",
    "/streams/",
    "/streams/chennai/",
    "/streams/chennai/groups/mygroup/",
    "/jobs/",
    "/readings/add/",
    "/admin/",
    "/admin/auth/user/",
    "/admin/auth/user/add/",
    "/admin/streams_app/apitoken/",
    "/admin/streams_app/reading/add/",
    "/admin/rq/",
    "/admin/rq/queues/0/",
    "/admin/rq/queues/0/finished/",
    "/admin/rq/workers/0/",
]
STAFF_NAME = "csp-admin"
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sample}`);
});
"""


@pytest.fixture(scope="module")
def staff_in_live_app(live_app) -> str:
    live_app.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model; User = get_user_model(); "
        f"User.objects.filter(username={STAFF_NAME!r}).exists() or "
        f"User.objects.create_superuser({STAFF_NAME!r}, 'csp@example.com', {PASSWORD!r})",
    )
    return STAFF_NAME


@pytest.mark.system
@pytest.mark.browser
def test_pages_admin_and_the_django_rq_dashboard_work_in_chromium_without_a_violation(
    browser, live_app, staff_in_live_app, redis_client
):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"})
    redis_client.xgroup_create("chennai", "mygroup", "0")
    context = browser.new_context(base_url=live_app.url)
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(10_000)
    console = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto("/accounts/login/")
        page.fill("#id_username", staff_in_live_app)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login" not in url)

        page.goto("/streams/chennai/live/")
        page.wait_for_selector("[data-live-status][data-kind=ok]")  # the WebSocket connected
        seen = {"/streams/chennai/live/": page.evaluate("window.__violations")}
        for path in BROWSER_PAGES:
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("load")
            seen[path] = page.evaluate("window.__violations")
    finally:
        context.close()
    assert {path: found for path, found in seen.items() if found} == {}
    assert [text for text in console if "Content Security Policy" in text] == []
