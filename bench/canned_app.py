"""A do-nothing Bedrock control plane: canned JSON answers, the floor for control_plane.py.

`GET …/model-invocation-jobs` gets the bytes of $BENCH_CANNED_DIR/list.json and every other
request the bytes of $BENCH_CANNED_DIR/get.json, both captured from bifrost by the benchmark, so
a boto3 client parses the same bodies it gets from bifrost. Timing boto3 against this app gives
the cost of boto3, HTTP and uvicorn without any server work. It runs under the same uvicorn
settings as bench/null_app.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.types import Receive, Scope, Send

_DIR = Path(os.environ.get("BENCH_CANNED_DIR", "."))


def _load(name: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    path = _DIR / name
    body = path.read_bytes() if path.exists() else b"{}"
    return body, [(b"content-type", b"application/json"),
                  (b"content-length", str(len(body)).encode()),
                  (b"x-amzn-requestid", b"00000000-0000-0000-0000-000000000000")]


GET = _load("get.json")
LIST = _load("list.json")


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
    body, headers = LIST if scope["path"].endswith("/model-invocation-jobs") else GET
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
