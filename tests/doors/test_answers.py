"""Errors become answers in one place: JSON `{"error": ...}` under /api/, the error page
elsewhere, with the status the error stands for (a bad input is a 400, never a 404)."""

from __future__ import annotations

import pytest


def test_unknown_api_address_is_json_404(api):
    response = api.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "There is nothing at this address."}


def test_unknown_page_is_the_error_page(web):
    response = web.get("/nothing-here/")
    assert response.status_code == 404
    assert "There is nothing at this address." in response.content.decode()
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/streams/chennai/entries/abc/", 400, "not a valid entry ID"),
        ("/streams/chennai/entries/2-0/", 404, "has no entry 2-0"),
        ("/streams/nowhere/entries/1-0/", 404, "There is no stream called “nowhere”"),
    ],
)
def test_entry_page_answers_with_the_status_of_the_error(web, redis_client, path, status, words):
    redis_client.xadd("chennai", {"temperature": "1", "humidity": "2"}, id="1-0")
    response = web.get(path)
    assert response.status_code == status
    assert words in response.content.decode()


def test_api_bad_input_and_method_and_token_answers(api, client, redis_client):
    bad = api.get("/api/streams/chennai/entries?count=many")
    assert bad.status_code == 400
    assert "page size must be a whole number" in bad.json()["error"]
    wrong_method = api.delete("/api/streams/")
    assert wrong_method.status_code == 405
    assert wrong_method["Allow"] == "GET"
    assert wrong_method.json() == {"error": "Method DELETE is not allowed here."}
    bad_token = client.get("/api/streams/", HTTP_AUTHORIZATION="Token nope")
    assert bad_token.status_code == 401
    assert bad_token.json() == {"error": "The API token is not valid."}


def test_a_form_posted_without_its_csrf_token_is_refused_with_the_reason(web, redis_client):
    response = web.post("/readings/add/", {"city": "chennai", "temperature": "1", "humidity": "2"})
    assert response.status_code == 403
    assert "security token (CSRF)" in response.content.decode()
    assert redis_client.exists("chennai") == 0
