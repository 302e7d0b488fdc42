"""A do-nothing ASGI app: the ceiling for an S3 server under uvicorn on this machine.

Every request is answered 200 with an ETag; a GET gets a 1 KiB body (the size the small-object
benchmark stores) so the ceiling moves the same bytes as a real server; everything else gets an
empty body. The request body is read and dropped.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

BODY = b"x" * 1024
ETAG = b'"0f343b0931126a20f133d67c2b018a3b"'
HEADERS_EMPTY = [(b"etag", ETAG), (b"content-length", b"0")]
HEADERS_GET = [(b"etag", ETAG), (b"content-length", str(len(BODY)).encode()),
               (b"content-type", b"binary/octet-stream")]
HEADERS_HEAD = [(b"etag", ETAG), (b"content-length", str(len(BODY)).encode()),
                (b"content-type", b"binary/octet-stream")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False) and message["type"] == "http.request"
    method = scope["method"]
    if method == "GET":
        headers, body = HEADERS_GET, BODY
    elif method == "HEAD":
        headers, body = HEADERS_HEAD, b""
    else:
        headers, body = HEADERS_EMPTY, b""
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
