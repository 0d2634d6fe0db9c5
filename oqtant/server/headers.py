"""Headers every answer needs, set in one place: security headers, caching, ``Allow`` on 405.

:class:`SecurityHeadersMiddleware` gives every HTML page a Content-Security-Policy
(scripts and styles from this server only; a page's own inline ``<script>`` and
``<style>`` blocks are allowed by their SHA-256 hash), ``X-Frame-Options: DENY``
and ``Referrer-Policy: same-origin``; every answer ``X-Content-Type-Options:
nosniff``, and ``Cache-Control: private, no-store`` unless the route chose its
own caching (static files, plots). Headers a route set itself are kept.

:class:`AllowHeaderMiddleware` makes a 405 list every method the path answers
(the router alone names only those of the first route on that path).
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "AllowHeaderMiddleware",
    "DEFAULT_CACHE_CONTROL",
    "SecurityHeadersMiddleware",
    "content_security_policy",
]

DEFAULT_CACHE_CONTROL = "private, no-store"
#: where the OAuth login form may send the browser on: this server, then the client's
#: loopback redirect URI (browsers check form-action on the redirect too). CSP cannot name
#: an IPv6 literal: a redirect to http://[::1] is blocked by browsers (use localhost).
_OAUTH_FORM_TARGETS = "'self' http://localhost:* http://127.0.0.1:*"
_INLINE = {
    "script": re.compile(rb"<script(?![^>]*\ssrc=)[^>]*>(.*?)</script>", re.S | re.I),
    "style": re.compile(rb"<style[^>]*>(.*?)</style>", re.S | re.I),
}


def _hashes(html: bytes, tag: str) -> str:
    found = dict.fromkeys(
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE[tag].findall(html)
    )
    return "".join(" " + h for h in found)


def content_security_policy(html: bytes, path: str) -> str:
    """The policy of one HTML page: this server's files, and the page's own inline blocks."""
    form_targets = _OAUTH_FORM_TARGETS if path.startswith("/oauth/") else "'self'"
    return (
        f"default-src 'self'; script-src 'self'{_hashes(html, 'script')}; "
        f"style-src 'self'{_hashes(html, 'style')}; img-src 'self' data:; "
        f"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_targets}"
    )


def _header_names(message: Message) -> set[bytes]:
    return {k.lower() for k, _ in message.get("headers", [])}


class SecurityHeadersMiddleware:
    """Security and caching headers on every answer (HTML pages get a CSP); see the module."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body = bytearray()

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                _add_common(message)
                if not _is_html(message):
                    await send(message)
                    return
                start = message  # held until the page is whole: its CSP hashes its blocks
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            _add_html(start, bytes(body), scope.get("path", ""), head=scope["method"] == "HEAD")
            await send(start)
            await send({"type": "http.response.body", "body": bytes(body)})

        await self.app(scope, receive, send_with_headers)


def _is_html(message: Message) -> bool:
    for key, value in message.get("headers", []):
        if key.lower() == b"content-type":
            return value.lower().startswith(b"text/html")
    return False


def _add_common(message: Message) -> None:
    have = _header_names(message)
    headers = list(message.get("headers", []))
    if b"x-content-type-options" not in have:
        headers.append((b"x-content-type-options", b"nosniff"))
    if b"cache-control" not in have:
        headers.append((b"cache-control", DEFAULT_CACHE_CONTROL.encode()))
    message["headers"] = headers


def _add_html(message: Message, html: bytes, path: str, *, head: bool) -> None:
    have = _header_names(message)
    headers = list(message["headers"])
    if not head:  # (a HEAD answer has no body but keeps the length of the page)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(html)).encode()))
    extra = {
        b"content-security-policy": lambda: content_security_policy(html, path),
        b"x-frame-options": lambda: "DENY",
        b"referrer-policy": lambda: "same-origin",
    }
    for name, value in extra.items():
        if name not in have:
            headers.append((name, value().encode()))
    message["headers"] = headers


class AllowHeaderMiddleware:
    """On a 405, ``Allow`` names every method of every route on the path."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                allowed = _allowed_methods(scope)
                if allowed:
                    headers = [(k, v) for k, v in message["headers"] if k.lower() != b"allow"]
                    headers.append((b"allow", ", ".join(allowed).encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_allow)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(scope: Scope) -> list[str]:
    """The methods some route answers on this path (each asked as the router would)."""
    routes = scope["app"].router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**scope, "method": method})[0] == Match.FULL for route in routes)
    ]
