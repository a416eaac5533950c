"""Every error a page can meet gets the site's own page, in words (issue 15, "Error pages and first load").

The API keeps answering JSON; a person who types a wrong address, or whose browser sends what a
page does not take, gets a heading and a sentence on the site's page, never Werkzeug's bare text.
"""

from __future__ import annotations

import pytest

WERKZEUG = ("The requested URL was not found", "Method Not Allowed</h1>", "<title>404 Not Found</title>")


@pytest.mark.parametrize("path", ["/nope", "/a", "/static/js/missing.js", "/app/nothing/here/at/all"])
def test_an_unknown_address_gets_the_sites_page(client, path):
    answer = client.get(path)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    assert "<h1>Nothing here</h1>" in page and "check that you copied all of it" in page
    assert "static/css/site.css" in page  # the site's own look
    assert not any(text in page for text in WERKZEUG)
    assert answer.headers["X-Robots-Tag"] == "noindex, nofollow"


def test_a_method_a_page_does_not_take_is_said_in_words_with_allow(client):
    answer = client.post("/")
    assert answer.status_code == 405 and "<h1>Not like this</h1>" in answer.get_data(as_text=True)
    assert "GET" in answer.headers["Allow"]


def test_a_page_that_fails_says_so_without_a_trace(app, client):
    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internals")

    answer = client.get("/boom-for-test")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500 and "<h1>Something went wrong</h1>" in page
    assert "secret internals" not in page and "Traceback" not in page


def test_the_api_still_answers_json(client):
    answer = client.get("/api/nope")
    assert answer.status_code == 404
    assert answer.get_json() == {"error": "not_found", "message": "There is nothing at this address."}
