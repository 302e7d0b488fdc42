"""Real botocore / boto3 clients' requests, caught before they are sent, and the keys they are
signed with: shared by the request authentication tests."""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import boto3  # type: ignore[import-untyped]
import pytest
from botocore.awsrequest import AWSResponse  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from bifrost_py.wire.auth.verify import AuthError, Caller, Key, authenticate

ENDPOINT = "http://localhost:8000"
KEY_A = Key("AKIAEXAMPLETEAMA0001", "secret/A+key", "team-a", bearer_token="bedrock-api-key-a")
KEY_B = Key("AKIAEXAMPLETEAMB0002", "secret-B", "team-b", ("local",), ("anthropic.*",))
KEYS = {k.access_key_id: k for k in (KEY_A, KEY_B)}
BEARER = {KEY_A.bearer_token: KEY_A}


@dataclass
class Req:
    service: str
    method: str
    path: bytes
    query: bytes
    headers: dict[str, str]
    body: bytes

    @property
    def now(self) -> float:
        stamp = self.headers.get("x-amz-date") or _query_value(self.query, b"X-Amz-Date")
        return float(calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%SZ")))

    def auth(
        self,
        *,
        now: float | None = None,
        body_sha256: str | bool | None = True,
        keys: dict[str, Key] = KEYS,
    ) -> Caller:
        sha = hashlib.sha256(self.body).hexdigest() if body_sha256 is True else body_sha256
        return authenticate(
            self.service,
            self.method,
            self.path,
            self.query,
            self.headers,
            sha if isinstance(sha, str) else None,
            keys,
            BEARER,
            self.now if now is None else now,
        )


def _query_value(query: bytes, name: bytes) -> str:
    for part in query.split(b"&"):
        if part.startswith(name + b"="):
            return part.split(b"=", 1)[1].decode()
    raise KeyError(name)


def _from_url(service: str, method: str, url: str, headers: Any, body: Any) -> Req:
    parts = urlsplit(url)
    hdrs = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in headers.items()}
    hdrs.setdefault("host", parts.netloc)
    if body is None:
        data = b""
    elif isinstance(body, bytes):
        data = body
    elif isinstance(body, str):
        data = body.encode()
    else:
        data = body.read()
    return Req(service, method, parts.path.encode(), parts.query.encode(), hdrs, data)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def client(service: str, key: Key = KEY_A, **config: Any) -> Any:
    mount = "/bedrock/files" if service == "s3" else "/bedrock"
    c = boto3.client(
        service,
        endpoint_url=ENDPOINT + mount,
        region_name="eu-west-3",
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"max_attempts": 1}, **config),
    )
    return c


def capture(service: str, call: Callable[[Any], Any], key: Key = KEY_A) -> Req:
    """Run a boto3 call; record the request it would send, answer it without sending it."""
    c = client(service, key)
    seen: list[Req] = []

    def before_send(request: Any, **_: Any) -> AWSResponse:
        seen.append(
            _from_url(
                "s3" if service == "s3" else "bedrock",
                request.method,
                request.url,
                request.headers,
                request.body,
            )
        )
        body = b"{}" if service != "s3" else b""
        return AWSResponse(request.url, 200, {}, _Raw(body))

    c.meta.events.register("before-send", before_send)
    # Parsing the canned answer may fail; the request is what we want.
    with contextlib.suppress(Exception):
        call(c)
    assert seen, "no request was captured"
    return seen[0]


def code(exc: pytest.ExceptionInfo[AuthError], service: str) -> str:
    return exc.value.code_s3 if service == "s3" else exc.value.code_bedrock
