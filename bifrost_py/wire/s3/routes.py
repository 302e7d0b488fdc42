"""S3 operations matched on method, path level (service, bucket, object) and query or header."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum

from starlette.responses import Response

from bifrost_py.errors import MethodNotAllowed, Unsupported
from bifrost_py.ports.files import Files
from bifrost_py.wire.s3 import buckets, listing, multipart, objects
from bifrost_py.wire.s3.request import S3Request

Handler = Callable[[S3Request, Files], Awaitable[Response]]
Predicate = Callable[[S3Request], bool]


class Level(Enum):
    SERVICE = "service"
    BUCKET = "bucket"
    OBJECT = "object"


def query(name: str) -> Predicate:
    return lambda req: name in req.query


def header(name: str) -> Predicate:
    return lambda req: name in req.headers


def always(_: S3Request) -> bool:
    return True


# First match wins, so more specific routes come first.
ROUTES: list[tuple[str, Level, Predicate, Handler]] = [
    ("GET", Level.SERVICE, always, buckets.list_buckets),
    ("GET", Level.BUCKET, query("uploads"), multipart.list_uploads),
    ("GET", Level.BUCKET, query("location"), buckets.get_bucket_location),
    ("GET", Level.BUCKET, query("list-type"), listing.list_objects_v2),
    ("GET", Level.BUCKET, always, listing.list_objects_v1),
    ("PUT", Level.BUCKET, always, buckets.create_bucket),
    ("HEAD", Level.BUCKET, always, buckets.head_bucket),
    ("DELETE", Level.BUCKET, always, buckets.delete_bucket),
    ("POST", Level.BUCKET, query("delete"), buckets.delete_objects),
    ("PUT", Level.OBJECT, lambda r: "uploadId" in r.query and "x-amz-copy-source" in r.headers,
     multipart.upload_part_copy),
    ("PUT", Level.OBJECT, query("uploadId"), multipart.upload_part),
    ("PUT", Level.OBJECT, header("x-amz-copy-source"), objects.copy_object),
    ("PUT", Level.OBJECT, always, objects.put_object),
    ("GET", Level.OBJECT, query("uploadId"), multipart.list_parts),
    ("GET", Level.OBJECT, always, objects.get_object),
    ("HEAD", Level.OBJECT, always, objects.head_object),
    ("DELETE", Level.OBJECT, query("uploadId"), multipart.abort_upload),
    ("DELETE", Level.OBJECT, always, objects.delete_object),
    ("POST", Level.OBJECT, query("uploads"), multipart.create_upload),
    ("POST", Level.OBJECT, query("uploadId"), multipart.complete_upload),
]

# Query parameters the routes above understand; any other names a subresource (acl, tagging,
# versioning, ...) outside the subset, which answers NotImplemented rather than a wrong success.
KNOWN_PARAMS = frozenset({
    "list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
    "fetch-owner", "encoding-type", "marker", "uploads", "key-marker", "upload-id-marker",
    "max-uploads", "uploadId", "partNumber", "max-parts", "part-number-marker", "delete",
    "location", "x-id", "max-buckets", "bucket-region",
    # presigned URLs in the older query form
    "AWSAccessKeyId", "Signature", "Expires",
})


def route(req: S3Request) -> Handler:
    unknown = [p for p in req.query if p not in KNOWN_PARAMS
               and not p.startswith(("response-", "X-Amz-", "x-amz-"))]
    if unknown:
        raise Unsupported(f"The {unknown[0]} subresource is not implemented by this server.")
    level = Level.SERVICE if not req.bucket else Level.OBJECT if req.key else Level.BUCKET
    for method, at, matches, handler in ROUTES:
        if method == req.method and at is level and matches(req):
            return handler
    raise MethodNotAllowed(Method=req.method, ResourceType=level.value.upper())
