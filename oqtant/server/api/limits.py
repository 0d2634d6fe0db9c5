"""Request guards applied before any route: body size (413) and JSON bodies for the API (415)."""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestGuardMiddleware"]

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class _TooLarge(HTTPException):
    def __init__(self, max_bytes: int):
        super().__init__(
            413,
            detail=f"the request body is larger than the server's limit of {max_bytes} bytes",
        )


class RequestGuardMiddleware:
    """Refuse request bodies over ``max_bytes`` (413) and non-JSON bodies under ``/api/`` (415).

    The size is checked against ``Content-Length`` before anything is read, and
    counted while a chunked body streams in, so an oversized body is never held
    in memory whole.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, json_prefix: str = "/api/"):
        self.app = app
        self.max_bytes = max_bytes
        self.json_prefix = json_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope["headers"]}
        length_header = headers.get(b"content-length")
        length = None
        if length_header is not None:
            try:
                length = int(length_header)
            except ValueError:
                await _answer(send, 400, "the Content-Length header is not a number")
                return
            if length > self.max_bytes:
                await _answer(send, 413, _TooLarge(self.max_bytes).detail)
                return
        has_body = (length or 0) > 0 or b"transfer-encoding" in headers
        if has_body and scope["path"].startswith(self.json_prefix):
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if media_type != b"application/json":
                shown = media_type.decode("latin-1") or "none"
                await _answer(
                    send,
                    415,
                    f"send the body as JSON (Content-Type: application/json), not {shown}",
                )
                return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge as exc:
            if started:
                raise
            await _answer(send, exc.status_code, exc.detail)


async def _answer(send: Send, code: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
