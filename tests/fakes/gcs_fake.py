"""A fake Google Cloud Storage JSON API that google-cloud-storage can be pointed at.

`with FakeGCS() as gcs:` then `storage.Client(project=gcs.project, credentials=creds,
client_options={"api_endpoint": gcs.url})`, where `creds` are service-account credentials from
`gcs.issuer.service_account(token_uri=f"{gcs.url}/token")`. Serves media, multipart and
resumable uploads, whole and ranged downloads, object metadata, list, delete and the
`ifGenerationMatch` precondition, and bucket get/create. Object bytes live in files in a temporary
directory, so a large object is held once, on disk. The Vertex AI fake reads batch input from this
fake's state and writes its output into it (tests/fakes/README.md says where behaviours come from).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote, unquote

import google_crc32c
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.google_auth_fake import TokenIssuer
from tests.fakes.google_served import GoogleServed, json_answer, json_object

Json = dict[str, Any]
Handler = Callable[..., Awaitable[Response]]

_REASONS = {400: "invalid", 401: "required", 403: "forbidden", 404: "notFound", 409: "conflict",
            412: "conditionNotMet", 429: "rateLimitExceeded", 500: "backendError",
            503: "backendError"}
_CHUNK = 1 << 20
_B = r"([^/]+)"  # a bucket name, or an object name percent-encoded into one path segment


class GcsError(Exception):
    """Raised by a handler to answer in the JSON API's error format."""

    def __init__(self, code: int, message: str, reason: str | None = None, **detail: str) -> None:
        super().__init__(message)
        self.code = code
        error = {"message": message, "domain": "global",
                 "reason": reason or _REASONS.get(code, "backendError"), **detail}
        self.body = {"error": {"code": code, "message": message, "errors": [error]}}


@dataclass
class FakeBucket:
    name: str
    created: float


@dataclass
class FakeObject:
    bucket: str
    name: str
    generation: int
    content_type: str
    size: int
    md5: bytes
    crc32c: bytes
    path: Path
    created: float
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class _Session:
    """An open resumable upload: where its bytes go and what they hash to so far."""

    bucket: str
    name: str
    content_type: str
    metadata: dict[str, str]
    if_generation: int | None
    writer: _Writer
    total: int | None = None


class _Writer:
    """Bytes written to a file while their MD5 and CRC32C are computed, so nothing is read twice."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("wb")
        self.size = 0
        self._md5 = hashlib.md5()  # GCS reports MD5 as an integrity check
        self._crc = google_crc32c.Checksum()

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self._md5.update(data)
        self._crc.update(data)
        self.size += len(data)

    def close(self) -> tuple[bytes, bytes]:
        self.file.close()
        return self._md5.digest(), self._crc.digest()


class FakeGCS(GoogleServed):
    """`requests` records (method, path) of every request; `buckets` and `objects` (keyed by
    (bucket, name)) hold the state. Without an `issuer` the fake makes its own; it is `issuer`."""

    def __init__(self, issuer: TokenIssuer | None = None, project: str = "test-project",
                 project_number: str = "123456789012") -> None:
        super().__init__(issuer or TokenIssuer(), Route(
            "/{path:path}", self._handle, methods=["GET", "POST", "PUT", "DELETE"]))
        self.project, self.project_number = project, project_number
        self.requests: list[tuple[str, str]] = []
        self.buckets: dict[str, FakeBucket] = {}
        self.objects: dict[tuple[str, str], FakeObject] = {}
        self._sessions: dict[str, _Session] = {}
        self._generation = int(time.time() * 1e6)
        self._dir = tempfile.TemporaryDirectory(prefix="fake-gcs-")
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile(f"/upload/storage/v1/b/{_B}/o"), self._upload),
            ("PUT", re.compile(f"/upload/storage/v1/b/{_B}/o"), self._upload_chunk),
            ("GET", re.compile(f"/download/storage/v1/b/{_B}/o/{_B}"), self._download),
            ("GET", re.compile(f"/storage/v1/b/{_B}/o"), self._list),
            ("GET", re.compile(f"/storage/v1/b/{_B}/o/{_B}"), self._get_object),
            ("DELETE", re.compile(f"/storage/v1/b/{_B}/o/{_B}"), self._delete_object),
            ("GET", re.compile(f"/storage/v1/b/{_B}"), self._get_bucket),
            ("POST", re.compile("/storage/v1/b"), self._create_bucket),
        ]

    # -- helpers for tests and for the Vertex AI fake ---------------------------------------

    def create_bucket(self, name: str) -> FakeBucket:
        bucket = self.buckets.setdefault(name, FakeBucket(name, time.time()))
        return bucket

    def put(self, bucket: str, name: str, data: bytes | Iterator[bytes],
            content_type: str = "application/octet-stream") -> FakeObject:
        """Store an object (creating its bucket if need be) from bytes or from chunks of bytes."""
        self.create_bucket(bucket)
        writer = self._writer()
        for chunk in [data] if isinstance(data, bytes) else data:
            writer.write(chunk)
        return self._store(bucket, name, content_type, {}, writer)

    def get(self, bucket: str, name: str) -> bytes:
        return self._object(bucket, name).path.read_bytes()

    def open(self, bucket: str, name: str) -> IO[bytes]:
        """The object's bytes as a file, for reading a large object without loading it."""
        return self._object(bucket, name).path.open("rb")

    def names(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(n for b, n in self.objects if b == bucket and n.startswith(prefix))

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        super().__exit__(kind, value, tb)
        self._dir.cleanup()

    # -- the HTTP side ----------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        # The object name is one percent-encoded path segment ("a%2Fb.jsonl"): route on the raw
        # path so an encoded slash does not split it.
        path = request.scope["raw_path"].decode()
        self.requests.append((request.method, unquote(path)))
        try:
            failure = self._failure()
            if failure is not None:
                raise GcsError(failure, f"fake failure ({failure})")
            # A resumable session URI is its own credential, as GCS's is.
            if "upload_id" not in request.query_params:
                problem = self.issuer.authenticate(request.headers.get("authorization"))
                if problem is not None:
                    reason = "required" if problem.startswith("Login") else "authError"
                    raise GcsError(401, problem, reason, locationType="header",
                                   location="Authorization")
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(path)
                if match and method == request.method:
                    return await handler(request, *(unquote(g) for g in match.groups()))
            raise GcsError(404, f"Not Found: {request.method} {unquote(path)}")
        except GcsError as error:
            headers = {"Retry-After": "0"} if error.code == 429 else {}
            return Response(json.dumps(error.body).encode(), error.code, headers,
                            "application/json")

    async def _get_bucket(self, request: Request, bucket: str) -> Response:
        return json_answer(self._bucket_json(self._bucket(bucket)))

    async def _create_bucket(self, request: Request) -> Response:
        name = str((await _body(request)).get("name") or "")
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]", name):
            raise GcsError(400, "Invalid bucket name: '" + name + "'")
        if name in self.buckets:
            raise GcsError(409, "Your previous request to create the named bucket succeeded and "
                           "you already own it.")
        return json_answer(self._bucket_json(self.create_bucket(name)))

    async def _upload(self, request: Request, bucket: str) -> Response:
        self._bucket(bucket)
        kind = request.query_params.get("uploadType")
        precondition = self._if_generation(request)
        if kind == "media":
            name = request.query_params.get("name") or ""
            self._check_precondition(bucket, name, precondition)
            writer = self._writer()
            async for chunk in request.stream():
                writer.write(chunk)
            return json_answer(self._object_json(self._store(
                bucket, name, request.headers.get("content-type", ""), {}, writer)))
        if kind == "multipart":
            spec, media_type, data = _multipart(request.headers.get("content-type", ""),
                                                await request.body())
            name = str(spec.get("name") or request.query_params.get("name") or "")
            self._check_precondition(bucket, name, precondition)
            writer = self._writer()
            writer.write(data)
            return json_answer(self._object_json(self._store(
                bucket, name, str(spec.get("contentType") or media_type),
                spec.get("metadata") or {}, writer)))
        if kind == "resumable":
            spec = await _body(request)
            name = str(spec.get("name") or request.query_params.get("name") or "")
            self._check_precondition(bucket, name, precondition)
            content_type = (str(spec.get("contentType") or "")
                            or request.headers.get("x-upload-content-type", ""))
            upload_id = secrets.token_urlsafe(16)
            self._sessions[upload_id] = _Session(bucket, name, content_type,
                                                 spec.get("metadata") or {}, precondition,
                                                 self._writer())
            location = (f"{self.url}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
                        f"?uploadType=resumable&upload_id={upload_id}")
            return Response(b"", 200, {"Location": location})
        raise GcsError(400, f"Unsupported upload type: {kind}")

    async def _upload_chunk(self, request: Request, bucket: str) -> Response:
        """One chunk of a resumable upload, `Content-Range: bytes a-b/total` (total `*` while
        unknown, `bytes */total` for an empty last chunk): 308 with the range held so far, or
        200 with the object once every byte is in."""
        session = self._sessions.get(request.query_params.get("upload_id", ""))
        if session is None:
            raise GcsError(404, "No such upload session.")
        match = re.fullmatch(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)",
                             request.headers.get("content-range", "bytes */*").strip())
        if match is None:
            raise GcsError(400, "Invalid Content-Range.")
        first, total = match.group(1), match.group(3)
        skip = session.writer.size - int(first) if first is not None else 0
        if skip < 0:
            raise GcsError(400, "Content-Range starts past the bytes received.")
        async for chunk in _skipping(request.stream(), skip):
            session.writer.write(chunk)
        if total != "*":
            session.total = int(total)
        if session.total is None or session.writer.size < session.total:
            held = session.writer.size
            headers = {"Range": f"bytes=0-{held - 1}"} if held else {}
            return Response(b"", 308, headers)
        del self._sessions[request.query_params["upload_id"]]
        self._check_precondition(session.bucket, session.name, session.if_generation)
        return json_answer(self._object_json(self._store(session.bucket, session.name,
                                                   session.content_type, session.metadata,
                                                   session.writer)))

    async def _download(self, request: Request, bucket: str, name: str) -> Response:
        obj = self._object(bucket, name)
        self._check_precondition(bucket, name, self._if_generation(request))
        first, last, status = 0, obj.size - 1, 200
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("range", "").strip())
        if wanted and (wanted.group(1) or wanted.group(2)):
            if wanted.group(1):
                first = int(wanted.group(1))
                last = min(int(wanted.group(2)), obj.size - 1) if wanted.group(2) else last
            else:  # "bytes=-N": the last N bytes
                first = max(obj.size - int(wanted.group(2)), 0)
            if first >= obj.size:
                raise GcsError(416, "The requested range cannot be satisfied.", "requestedRange")
            status = 206
        headers = {"Content-Length": str(last - first + 1),
                   "x-goog-generation": str(obj.generation), "x-goog-metageneration": "1",
                   "x-goog-stored-content-length": str(obj.size),
                   "x-goog-stored-content-encoding": "identity",
                   # GCS sends the whole object's hashes on a ranged answer too.
                   "x-goog-hash": f"crc32c={_b64(obj.crc32c)},md5={_b64(obj.md5)}",
                   "ETag": _etag(obj)}
        if status == 206:
            headers["Content-Range"] = f"bytes {first}-{last}/{obj.size}"
        return StreamingResponse(_read(obj.path, first, last - first + 1), status, headers,
                                 obj.content_type)

    async def _get_object(self, request: Request, bucket: str, name: str) -> Response:
        if request.query_params.get("alt") == "media":
            return await self._download(request, bucket, name)
        obj = self._object(bucket, name)
        self._check_precondition(bucket, name, self._if_generation(request))
        return json_answer(self._object_json(obj))

    async def _delete_object(self, request: Request, bucket: str, name: str) -> Response:
        obj = self._object(bucket, name)
        self._check_precondition(bucket, name, self._if_generation(request))
        del self.objects[(bucket, name)]
        obj.path.unlink(missing_ok=True)
        return Response(b"", 204)

    async def _list(self, request: Request, bucket: str) -> Response:
        """Objects in name order; with a delimiter, names that go on past it after the prefix
        are rolled up into `prefixes`. A page holds up to maxResults of both together."""
        self._bucket(bucket)
        params = request.query_params
        prefix, delimiter = params.get("prefix", ""), params.get("delimiter", "")
        try:
            size = min(max(int(params.get("maxResults") or 1000), 1), 1000)
        except ValueError:
            raise GcsError(400, "Invalid value for maxResults.") from None
        after = base64.urlsafe_b64decode(params["pageToken"]).decode() if params.get(
            "pageToken") else ""
        entries: dict[str, FakeObject | None] = {}
        for name in self.names(bucket, prefix):
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                entries.setdefault(name[:cut + len(delimiter)], None)
            else:
                entries[name] = self.objects[(bucket, name)]
        keys = [k for k in sorted(entries) if k > after]
        page = keys[:size]
        body: Json = {"kind": "storage#objects"}
        prefixes = [k for k in page if entries[k] is None]
        items = [self._object_json(o) for k in page if (o := entries[k]) is not None]
        if prefixes:
            body["prefixes"] = prefixes
        if items:
            body["items"] = items
        if len(keys) > size:
            body["nextPageToken"] = base64.urlsafe_b64encode(page[-1].encode()).decode()
        return json_answer(body)

    # -- state ------------------------------------------------------------------------------

    def _writer(self) -> _Writer:
        return _Writer(Path(self._dir.name) / secrets.token_hex(8))

    def _store(self, bucket: str, name: str, content_type: str, metadata: dict[str, str],
               writer: _Writer) -> FakeObject:
        if not name:
            writer.close()
            writer.path.unlink()
            raise GcsError(400, "Required parameter: name", "required")
        md5, crc = writer.close()
        # Generations only grow, as GCS's (microsecond-based) ones do.
        self._generation = max(self._generation + 1, int(time.time() * 1e6))
        old = self.objects.get((bucket, name))
        self.objects[(bucket, name)] = obj = FakeObject(
            bucket, name, self._generation, content_type or "application/octet-stream",
            writer.size, md5, crc, writer.path, time.time(), dict(metadata))
        if old is not None:
            old.path.unlink(missing_ok=True)
        return obj

    def _bucket(self, name: str) -> FakeBucket:
        bucket = self.buckets.get(name)
        if bucket is None:
            raise GcsError(404, "The specified bucket does not exist.")
        return bucket

    def _object(self, bucket: str, name: str) -> FakeObject:
        self._bucket(bucket)
        obj = self.objects.get((bucket, name))
        if obj is None:
            raise GcsError(404, f"No such object: {bucket}/{name}")
        return obj

    def _if_generation(self, request: Request) -> int | None:
        value = request.query_params.get("ifGenerationMatch")
        if value is None:
            return None
        if not value.isdigit():
            raise GcsError(400, f"Invalid argument for ifGenerationMatch: {value}")
        return int(value)

    def _check_precondition(self, bucket: str, name: str, generation: int | None) -> None:
        """ifGenerationMatch: 0 means the object must not exist yet."""
        if generation is None:
            return
        obj = self.objects.get((bucket, name))
        if (obj.generation if obj else 0) != generation:
            raise GcsError(412, "At least one of the pre-conditions you specified did not hold.",
                           locationType="header", location="If-Match")

    def _bucket_json(self, bucket: FakeBucket) -> Json:
        stamp = _time(bucket.created)
        return {"kind": "storage#bucket", "id": bucket.name, "name": bucket.name,
                "selfLink": f"{self.url}/storage/v1/b/{bucket.name}",
                "projectNumber": self.project_number, "metageneration": "1",
                "location": "US", "locationType": "multi-region", "storageClass": "STANDARD",
                "etag": "CAE=", "timeCreated": stamp, "updated": stamp}

    def _object_json(self, obj: FakeObject) -> Json:
        """int64 fields (generation, size) as strings, hashes in base64, as the JSON API writes."""
        path = f"b/{quote(obj.bucket, safe='')}/o/{quote(obj.name, safe='')}"
        stamp = _time(obj.created)
        value: Json = {"kind": "storage#object", "id": f"{obj.bucket}/{obj.name}/{obj.generation}",
                       "selfLink": f"{self.url}/storage/v1/{path}",
                       "mediaLink": f"{self.url}/download/storage/v1/{path}"
                                    f"?generation={obj.generation}&alt=media",
                       "name": obj.name, "bucket": obj.bucket, "generation": str(obj.generation),
                       "metageneration": "1", "contentType": obj.content_type,
                       "storageClass": "STANDARD", "size": str(obj.size),
                       "md5Hash": _b64(obj.md5), "crc32c": _b64(obj.crc32c), "etag": _etag(obj),
                       "timeCreated": stamp, "updated": stamp, "timeStorageClassUpdated": stamp}
        if obj.metadata:
            value["metadata"] = obj.metadata
        return value


def _multipart(content_type: str, body: bytes) -> tuple[Json, str, bytes]:
    """The two parts of a multipart/related upload: the object's JSON metadata, then its bytes
    under their own content-type header (which the metadata need not repeat)."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        raise GcsError(400, "Missing multipart boundary.")
    parts = body.split(b"--" + boundary.group(1).encode())
    if len(parts) < 4:
        raise GcsError(400, "A multipart upload needs a metadata part and a media part.")
    heads, contents = [], []
    for part in parts[1:3]:
        head, _, content = part.partition(b"\r\n\r\n")
        heads.append(head.decode("latin-1"))
        contents.append(content.removesuffix(b"\r\n"))
    try:
        spec = json.loads(contents[0])
    except json.JSONDecodeError:
        raise GcsError(400, "The metadata part is not JSON.") from None
    media_type = re.search(r"(?im)^content-type:\s*(\S+)", heads[1])
    return spec, media_type.group(1) if media_type else "", contents[1]


async def _skipping(stream: AsyncIterator[bytes], skip: int) -> AsyncIterator[bytes]:
    """The stream without its first `skip` bytes: a client resending bytes already held."""
    async for chunk in stream:
        if skip >= len(chunk):
            skip -= len(chunk)
            continue
        yield chunk[skip:]
        skip = 0


def _read(path: Path, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(first)
        while length > 0:
            chunk = file.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk


def _etag(obj: FakeObject) -> str:
    return base64.b64encode(str(obj.generation).encode()).decode()


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _time(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


async def _body(request: Request) -> Json:
    try:
        return await json_object(request)
    except ValueError:
        raise GcsError(400, "Parse Error") from None
