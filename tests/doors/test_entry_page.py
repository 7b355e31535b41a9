"""The entry page shows values as they are: JSON pretty-printed and folded when long, bytes
that are not UTF-8 with a hex view, the redis-cli command to add the entry again (HTML-escaped,
copied by a static script, no inline code), and links to add entries."""

from __future__ import annotations

import html
import json
import re
from urllib.parse import quote

import pytest
from django.test import Client

from streams_app.domain.entry_views import PREVIEW_LINES, pretty_json, xadd_command
from streams_app.domain.names import key_bytes, url_token
from streams_app.gateway.keys import key_from_bytes

XSS = "<img src=x onerror=alert(1)>"


def page(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code, response.content[:500])
    return response.content.decode()


def field_block(body: str, name: str) -> str:
    """The <dd> of one field (the <dt> names it, escaped)."""
    found = re.search(rf"<dt>{re.escape(html.escape(name))} .*?</dt>\s*<dd>(.*?)</dd>", body, re.S)
    assert found, f"no field {name!r}"
    return found.group(1)


LONG_JSON = json.dumps({f"key{index}": {"value": index, "tags": ["a", "b"]} for index in range(20)})
SHORT_JSON = '{"city":"chennai","reading":{"t":26.50,"h":10}}'


@pytest.fixture
def entry(redis_client):
    redis_client.xadd(
        "chennai",
        {
            b"payload": LONG_JSON.encode(),
            b"small": SHORT_JSON.encode(),
            b"number": b"42",
            b"blob": b"\xff\xfe<\x00A",
            b"literal": b"\\xff",
            b"note": XSS.encode(),
        },
        id="1-0",
    )
    return "/streams/chennai/entries/1-0/"


def test_short_json_is_pretty_printed_and_not_folded(web, entry):
    block = field_block(page(web, entry), "small")
    assert '<details class="fold">' not in block
    pre = re.search(r'<pre class="value json">(.*?)</pre>', block, re.S).group(1)
    assert html.unescape(pre) == pretty_json(SHORT_JSON)
    assert '"t": 26.50' in html.unescape(pre)  # numbers as stored
    # and as stored, one click away
    assert re.search(r"<summary>as stored</summary><pre>(.*?)</pre>", block, re.S).group(1) == html.escape(SHORT_JSON)


def test_long_json_is_folded_to_its_first_lines(web, entry):
    block = field_block(page(web, entry), "payload")
    fold = re.search(
        r'<details class="fold">\s*<summary><span class="preview">(.*?)</span>(.*?)</summary>(.*?)</details>',
        block,
        re.S,
    )
    assert fold, block[:500]
    preview, more, whole = fold.groups()
    pretty = pretty_json(LONG_JSON)
    assert html.unescape(preview) == "\n".join(pretty.split("\n")[:PREVIEW_LINES])
    assert f"show all {pretty.count(chr(10)) + 1} lines, {len(pretty)} characters" in more
    assert html.unescape(re.search(r'<pre class="value json">(.*?)</pre>', whole, re.S).group(1)) == pretty


def test_a_bare_number_is_not_json(web, entry):
    block = field_block(page(web, entry), "number")
    assert '<pre class="value">42</pre>' in block
    assert "JSON" not in re.search(r"<dt>number .*?</dt>", page(web, entry), re.S).group(0)


def test_binary_values_have_a_hex_toggle_and_text_values_do_not(web, entry):
    body = page(web, entry)
    blob = field_block(body, "blob")
    assert r'<pre class="value">\xff\xfe&lt;\x00A</pre>' in blob
    hex_view = re.search(r'<details class="alt hex"><summary>as hex</summary><pre>(.*?)</pre>', blob, re.S)
    assert hex_view and html.unescape(hex_view.group(1)) == "00000000  ff fe 3c 00 41" + " " * 34 + "  |..<.A|"
    assert "not UTF-8" in re.search(r"<dt>blob .*?</dt>", body, re.S).group(0)
    # The text \xff (four characters) reads the same, but it is text: no hex view.
    literal = field_block(body, "literal")
    assert r'<pre class="value">\xff</pre>' in literal and "as hex" not in literal
    for name in ("small", "number", "note"):
        assert "as hex" not in field_block(body, name)


def test_values_are_html_escaped(web, entry):
    body = page(web, entry)
    assert XSS not in body
    assert html.escape(XSS) in field_block(body, "note")


def test_the_xadd_command_is_shown_escaped_and_is_the_domain_command(web, entry, redis_client):
    body = page(web, entry)
    shown = re.search(r'<pre class="command" id="xadd-command">(.*?)</pre>', body, re.S).group(1)
    fields = {key_from_bytes(k): key_from_bytes(v) for k, v in redis_client.xrange("chennai")[0][1].items()}
    expected = xadd_command("chennai", fields)
    assert html.unescape(shown) == expected
    assert shown == html.escape(expected)
    assert expected.startswith("redis-cli --quoted-input XADD chennai '*' payload ")  # the blob needs \xNN
    assert "<img" not in shown


def test_the_copy_button_is_wired_by_a_static_script_without_inline_code(web, entry):
    response = web.get(entry)
    body = response.content.decode()
    assert re.search(r'<button type="button" class="copy" data-copy="xadd-command" hidden>Copy command</button>', body)
    assert '<script src="/static/streams_app/entry.js" defer></script>' in body
    assert '<link rel="stylesheet" href="/static/streams_app/entry.css">' in body
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", body, re.S)
    assert scripts and all("src=" in attrs and inline.strip() == "" for attrs, inline in scripts)
    assert not re.search(r"\son[a-z]+=", body.replace(html.escape(XSS), ""))  # no inline handlers
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_links_to_add_entries(web, entry):
    body = page(web, entry)
    assert '<a class="button secondary" href="/streams/chennai/entries/add/">Add an entry</a>' in body
    assert re.search(r'<form class="inline" method="post" action="/streams/chennai/entries/1-0/again/">', body)


def test_a_plain_entry_gets_the_plain_command(web, redis_client):
    redis_client.xadd("chennai", {"temperature": "26", "humidity": "10"}, id="2-0")
    body = page(web, "/streams/chennai/entries/2-0/")
    assert "redis-cli XADD chennai &#x27;*&#x27; temperature 26 humidity 10" in body


def test_odd_stream_names_work_through_their_tokens(web, redis_client):
    name = key_from_bytes(b"odd \xff/name")
    redis_client.xadd(key_bytes(name), {"a": "1"}, id="1-0")
    token = quote(url_token(name), safe="")
    body = page(web, f"/streams/{token}/entries/1-0/")
    assert r"odd \xff/name" in body
    assert f'href="/streams/{token}/entries/add/"' in body
    assert "--quoted-input" in html.unescape(body)  # the name's byte 0xff travels as \xff
