"""The few S3 calls the blob store makes, signed with SigV4 and sent with httpx.

Not boto3: its calls block, and a blob's bytes must stream between the event loop and S3 without
a thread per request. Any failure of the bucket (unreachable, 5xx, refused credentials, an error
answer) is the server's, not the client's: it becomes ServiceUnavailable, which each mount
answers in its own dialect, and the cause is logged here.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from xml.parsers.expat import ExpatError

import httpx
import xmltodict

from bifrost_py.aws.sigv4 import UNSIGNED_PAYLOAD, ServerCredentials, sign_s3
from bifrost_py.errors import AwsError, ServiceUnavailable
from bifrost_py.ports.upstream import UpstreamError

log = logging.getLogger("bifrost_py.store")
# A body as the pieces it arrived in, sent one after another: joining them would copy each part.
Pieces = Sequence[bytes]
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
RETRIES = 3
RETRYABLE = frozenset({500, 502, 503, 504})
BACKOFF = 0.1  # seconds before the first retry, doubling


@dataclass(frozen=True)
class BucketLocation:
    """s3://bucket/prefix/ at an endpoint (AWS's when empty) with the credentials to use."""

    bucket: str
    prefix: str
    endpoint_url: str
    region: str
    credentials: ServerCredentials

    @classmethod
    def parse(cls, url: str, endpoint_url: str, region: str,
              credentials: ServerCredentials) -> BucketLocation:
        parts = urlsplit(url)
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(parts.netloc, prefix, endpoint_url, region, credentials)


@dataclass(frozen=True)
class Listed:
    key: str
    modified: float  # seconds since the epoch


@dataclass(frozen=True)
class PendingUpload:
    key: str
    upload_id: str
    initiated: float


class S3Client:
    def __init__(self, where: BucketLocation,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.where = where
        if where.endpoint_url:  # MinIO, moto, ...: path-style, as boto3 sends there
            self._base = where.endpoint_url.rstrip("/")
            self._bucket_path = f"/{where.bucket}"
        else:
            self._base = f"https://{where.bucket}.s3.{where.region}.amazonaws.com"
            self._bucket_path = ""
        self._http = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False,
                                       transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def head_bucket(self) -> None:
        await self._call("HEAD", "", "")

    async def put(self, key: str, body: Pieces, md5: bytes) -> None:
        """`md5`, the body's digest, goes as Content-MD5: the bucket refuses a body that was
        changed on the way, which nothing else would catch over plain HTTP."""
        await self._call("PUT", key, "", body, {"content-md5": _b64(md5)})

    async def start_upload(self, key: str) -> str:
        answer = await self._call("POST", key, "uploads=")
        return str(_xml(answer)["InitiateMultipartUploadResult"]["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: Pieces) -> str:
        # Hashed on a worker thread (hashlib lets go of the GIL), beside the event loop.
        md5 = await asyncio.to_thread(_md5, body)
        answer = await self._call("PUT", key, f"partNumber={number}&uploadId={_q(upload_id)}",
                                  body, {"content-md5": _b64(md5)})
        return answer.headers["etag"]

    async def complete_upload(self, key: str, upload_id: str, etags: Sequence[str]) -> None:
        parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
                        for n, etag in enumerate(etags, 1))
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        answer = await self._call("POST", key, f"uploadId={_q(upload_id)}", [body])
        # S3 may answer 200 and still have failed: the error is then the body.
        if "Error" in _xml(answer):
            raise self._failed("POST", key, answer.status_code, answer.content)

    async def abort_upload(self, key: str, upload_id: str) -> None:
        await self._call("DELETE", key, f"uploadId={_q(upload_id)}")

    async def get(self, key: str, first: int, last: int) -> AsyncIterator[bytes]:
        response = await self._send("GET", key, "", {"range": f"bytes={first}-{last}"},
                                    stream=True)
        try:
            async for chunk in response.aiter_bytes():
                yield chunk
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        finally:
            await response.aclose()

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete up to 1000 keys in one request; a key already gone is no error."""
        objects = "".join(f"<Object><Key>{_escape(key)}</Key></Object>" for key in keys)
        body = f"<Delete><Quiet>true</Quiet>{objects}</Delete>".encode()
        answer = await self._call("POST", "", "delete=", [body],
                                  {"content-md5": _b64(_md5([body]))})
        errors = _list(_xml(answer).get("DeleteResult", {}).get("Error"))
        if errors:
            log.warning("the blob bucket kept %d of %d blobs it was asked to delete (%s)",
                        len(errors), len(keys), errors[0].get("Code"))

    async def listing(self, prefix: str) -> AsyncIterator[Listed]:
        token = ""
        while True:
            query = f"list-type=2&prefix={_q(prefix)}" + (
                f"&continuation-token={_q(token)}" if token else "")
            result = _xml(await self._call("GET", "", query))["ListBucketResult"]
            for item in _list(result.get("Contents")):
                yield Listed(item["Key"], _time(item["LastModified"]))
            token = result.get("NextContinuationToken") or ""
            if result.get("IsTruncated") != "true" or not token:
                return

    async def pending_uploads(self, prefix: str) -> AsyncIterator[PendingUpload]:
        markers = ""
        while True:
            result = _xml(await self._call("GET", "", f"prefix={_q(prefix)}&uploads={markers}")
                          )["ListMultipartUploadsResult"]
            for item in _list(result.get("Upload")):
                yield PendingUpload(item["Key"], item["UploadId"], _time(item["Initiated"]))
            if result.get("IsTruncated") != "true":
                return
            markers = (f"&key-marker={_q(result.get('NextKeyMarker') or '')}"
                       f"&upload-id-marker={_q(result.get('NextUploadIdMarker') or '')}")

    async def _call(self, method: str, key: str, query: str, body: Pieces = (),
                    headers: dict[str, str] | None = None) -> httpx.Response:
        return await self._send(method, key, query, headers or {}, body)

    async def _send(self, method: str, key: str, query: str, headers: dict[str, str],
                    body: Pieces = (), stream: bool = False) -> httpx.Response:
        """A successful answer, after up to RETRIES more attempts where S3 says to try again
        (500, 503 SlowDown ...) or the connection failed, as the AWS SDKs do; each attempt is
        signed anew and sends the body from its start."""
        attempt = 0
        while True:
            request = await self._request(method, key, query, headers, body)
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt == RETRIES:
                    raise self._unreachable(exc) from None
            else:
                if response.status_code < 300:
                    return response
                content = await response.aread()
                await response.aclose()
                if response.status_code not in RETRYABLE or attempt == RETRIES:
                    raise self._failed(method, key, response.status_code, content)
            await asyncio.sleep(random.uniform(0.5, 1.0) * min(BACKOFF * 2**attempt, 2.0))
            attempt += 1

    async def _request(self, method: str, key: str, query: str, headers: dict[str, str],
                       body: Pieces = ()) -> httpx.Request:
        path = self._bucket_path + "/" + quote(key, safe="/~")
        sent = {**headers, "x-amz-content-sha256": UNSIGNED_PAYLOAD}
        if body or method in ("PUT", "POST"):
            sent["content-length"] = str(sum(len(piece) for piece in body))
        try:
            signing = sign_s3(method, self._base, path, query, list(sent.items()),
                              await self.where.credentials.current(), self.where.region)
        except UpstreamError as exc:
            log.error("the blob bucket cannot be signed for: %s", exc.message)
            raise ServiceUnavailable() from None
        url = f"{self._base}{path}" + (f"?{query}" if query else "")
        content = body[0] if len(body) == 1 else _stream(body) if body else None
        return httpx.Request(method, url, headers=[*sent.items(), *signing], content=content)

    def _unreachable(self, exc: Exception) -> AwsError:
        log.error("the blob bucket at %s is unreachable (%s: %s)", self._base,
                  type(exc).__name__, exc)
        return ServiceUnavailable()

    def _failed(self, method: str, key: str, status: int, body: bytes) -> AwsError:
        code = _error_code(body)
        log.error("the blob bucket answered %s %s with %d %s", method, key or "/", status, code)
        return ServiceUnavailable()


async def _stream(pieces: Pieces) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def _md5(pieces: Pieces) -> bytes:
    md5 = hashlib.md5(usedforsecurity=False)
    for piece in pieces:
        md5.update(piece)
    return md5.digest()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _q(text: str) -> str:
    return quote(text, safe="~")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(answer: httpx.Response) -> dict[str, Any]:
    return xmltodict.parse(answer.content) if answer.content else {}


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _error_code(body: bytes) -> str:
    try:
        return str(xmltodict.parse(body).get("Error", {}).get("Code", ""))
    except (ExpatError, AttributeError):
        return ""
