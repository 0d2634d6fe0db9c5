"""Test helpers: a stand-in for the browser that fills in the server's login form."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

__all__ = ["FormBrowser", "parse_form"]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.action = a.get("action")
        elif tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""


def parse_form(html: str) -> tuple[str | None, dict[str, str]]:
    """The action and the input fields (with their values) of the page's form."""
    parser = _FormParser()
    parser.feed(html)
    return parser.action, parser.fields


class FormBrowser:
    """Does what a person does in the browser: open the login page, type, press Log in.

    Args:
        http: the client that reaches the server (keeps the CSRF cookie between requests).
        username, password: what the person types.
    """

    def __init__(self, http: httpx.Client, username: str, password: str):
        self.http = http
        self.username = username
        self.password = password
        self.pages: list[httpx.Response] = []
        self.redirect: str | None = None

    def __call__(self, url: str) -> None:
        page = self.http.get(url)
        self.pages.append(page)
        assert page.status_code == 200, page.text
        action, fields = parse_form(page.text)
        fields.update(username=self.username, password=self.password)
        target = httpx.URL(url).join(action or "")
        answer = self.http.post(target, data=fields, follow_redirects=False)
        self.pages.append(answer)
        if answer.status_code != 302:
            return  # wrong password: the form is shown again and nothing is redirected
        self.redirect = answer.headers["location"]
        # the browser follows the redirect to the client's listener on localhost
        caught = httpx.get(self.redirect, timeout=10)
        assert caught.status_code == 200

