"""The entry page in a real headless Chromium: the copy button puts the XADD command on the
clipboard (and that command, run by a shell, adds the same entry), folds and the hex view open
without any script, "add again" opens the copy, and the CSP refuses nothing the page needs."""

from __future__ import annotations

import subprocess

import pytest

# single_node: the copied command is run with redis-cli against the one redis-server.
pytestmark = [pytest.mark.browser, pytest.mark.single_node]

FIELDS = {
    b"payload": b'{"readings": [' + b", ".join(b'{"t": %d}' % index for index in range(20)) + b"]}",
    b"blob": b"\xff\xfe\x00PNG",
    b"note": b'it\'s "quoted" $HOME `x`',
}


def test_copy_fold_hex_and_add_again(page, redis_client, redis_server, live_app):
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_app.url)
    entry_id = redis_client.xadd("chennai", FIELDS).decode()
    page.goto(f"/streams/chennai/entries/{entry_id}/")

    page.click("button.copy")
    page.wait_for_selector("[data-copy-status]:has-text('Copied.')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.inner_text("#xadd-command")
    done = subprocess.run(
        ["sh", "-c", copied.replace("redis-cli", f"redis-cli -p {redis_server.port}", 1)],
        capture_output=True,
        timeout=20,
        check=True,
    )
    new_id = done.stdout.decode().strip()
    assert redis_client.xrange("chennai", min=new_id, max=new_id)[0][1] == FIELDS

    fold = page.locator("details.fold").first
    assert not fold.locator("pre.value").is_visible()
    fold.locator("summary").click()
    assert fold.locator("pre.value").is_visible() and '"t": 19' in fold.inner_text()
    page.click("details.hex > summary")
    assert "ff fe 00 50 4e 47" in page.inner_text("details.hex pre")

    page.click("button:has-text('Add again')")
    page.wait_for_url("**/streams/chennai/entries/*/")
    again_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert again_id not in {entry_id, new_id}
    assert f"Added entry {again_id} to chennai, a copy of {entry_id}." in page.inner_text(".messages")
    assert redis_client.xrange("chennai", min=again_id, max=again_id)[0][1] == FIELDS
    assert problems == []  # no CSP refusals, no script errors
