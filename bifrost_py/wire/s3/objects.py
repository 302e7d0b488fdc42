"""Object handlers: decode the request, call the store, encode the answer."""

from __future__ import annotations

import contextlib
from urllib.parse import unquote

from starlette.responses import Response, StreamingResponse

from bifrost_py.domain.digits import decimal
from bifrost_py.domain.objects import (
    Conditions,
    ObjectInfo,
    check_copy_source,
    check_read,
    validate_key,
)
from bifrost_py.domain.timefmt import iso
from bifrost_py.errors import (
    InvalidArgument,
    InvalidPartNumber,
    InvalidRange,
    InvalidRequest,
    NoSuchKey,
)
from bifrost_py.ports.files import Files
from bifrost_py.wire.s3 import xml
from bifrost_py.wire.s3.body import receive
from bifrost_py.wire.s3.headers import (
    copied,
    new_object,
    object_headers,
    recorded,
    replace_checksum,
)
from bifrost_py.wire.s3.ranges import RangeNotSatisfiable, content_range, parse_range
from bifrost_py.wire.s3.request import S3Request, s3_bucket
from bifrost_py.wire.streams import primed


async def put_object(req: S3Request, files: Files) -> Response:
    validate_key(req.key)
    await files.objects.bucket_for_write(req.store_bucket)
    blob = await receive(req, files.blobs, files.max_object_size)
    new = new_object(req.headers, blob.checksum_algorithm, blob.checksum)
    obj = await files.objects.put(req.store_bucket, req.key, [blob], f'"{blob.md5}"', new,
                                  req.conditions())
    return Response(headers={"ETag": obj.etag, **_checksum_headers(obj), **recorded(obj.headers)})


async def get_object(req: S3Request, files: Files) -> Response:
    obj = await _readable(req, files)
    span = _span(req, obj)
    headers = object_headers(obj, req.query, _checksum_mode(req) and span is None)
    start, end = span or (0, obj.size - 1)
    headers["content-length"] = str(end - start + 1)
    if span is not None:
        headers["content-range"] = content_range(start, end, obj.size)
    _parts_count(req, obj, headers)
    status = 206 if span else 200
    if obj.data is not None:
        # Small objects are already in memory: a plain response skips the streaming machinery.
        return Response(obj.data[start:end + 1], status, headers)
    return StreamingResponse(await primed(files.objects.read(obj, start, end)), status, headers)


async def head_object(req: S3Request, files: Files) -> Response:
    obj = await _readable(req, files)
    span = _span(req, obj)
    headers = object_headers(obj, req.query, _checksum_mode(req) and span is None)
    start, end = span or (0, obj.size - 1)
    headers["content-length"] = str(max(end - start + 1, 0))
    if span is not None:
        headers["content-range"] = content_range(start, end, obj.size)
    _parts_count(req, obj, headers)
    return Response(status_code=206 if span else 200, headers=headers)


async def delete_object(req: S3Request, files: Files) -> Response:
    validate_key(req.key)
    bucket, key = req.store_bucket, req.key
    if req.conditions().if_match:  # where ETags are file ids, the id names the object
        with contextlib.suppress(NoSuchKey):
            target = await files.objects.resolve(bucket, key, req.conditions().if_match)
            bucket, key = target.bucket, target.key
    await files.objects.delete(bucket, key, req.conditions())
    return Response(status_code=204)


async def copy_object(req: S3Request, files: Files) -> Response:
    validate_key(req.key)
    source = await copy_source(req, files)
    replace = req.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
    if (source.bucket, source.key) == (req.store_bucket, req.key) and not replace:
        raise InvalidRequest("This copy request is illegal because it is trying to copy an object "
                             "to itself without changing the object's metadata, storage class, "
                             "website redirect location or encryption attributes.")
    await files.objects.bucket_for_write(req.store_bucket)
    blob = await files.blobs.write(files.objects.read(source, 0, source.size - 1),
                                   max_size=files.max_object_size,
                                   checksum_algorithm=source.checksum_algorithm)
    new = new_object(req.headers) if replace else copied(source)
    new = replace_checksum(new, blob.checksum_algorithm, blob.checksum)
    obj = await files.objects.put(req.store_bucket, req.key, [blob], f'"{blob.md5}"',
                                  new, req.conditions())
    return xml.response("CopyObjectResult", {"LastModified": iso(obj.modified),
                                             "ETag": obj.etag}, recorded(obj.headers))


async def copy_source(req: S3Request, files: Files) -> ObjectInfo:
    """The object named by x-amz-copy-source, its copy preconditions checked."""
    raw = req.headers["x-amz-copy-source"].split("?", 1)[0]
    bucket, _, key = unquote(raw).lstrip("/").partition("/")
    if not bucket or not key:
        raise InvalidArgument("Copy Source must mention the source bucket and key: "
                              "sourcebucket/sourcekey.", ArgumentName="x-amz-copy-source")
    source = await files.objects.get(s3_bucket(req.tenant, bucket), key)
    h = req.headers
    check_copy_source(Conditions(h.get("x-amz-copy-source-if-match", ""),
                                 h.get("x-amz-copy-source-if-none-match", ""),
                                 h.get("x-amz-copy-source-if-modified-since", ""),
                                 h.get("x-amz-copy-source-if-unmodified-since", "")), source)
    return source


async def _readable(req: S3Request, files: Files) -> ObjectInfo:
    validate_key(req.key)
    obj = await files.objects.resolve(req.store_bucket, req.key, req.headers.get("if-match", ""))
    check_read(req.conditions(), obj)
    return obj


def _span(req: S3Request, obj: ObjectInfo) -> tuple[int, int] | None:
    part = req.query.get("partNumber")
    if part is not None:
        return _part_span(part, obj)
    try:
        return parse_range(req.headers.get("range"), obj.size)
    except RangeNotSatisfiable:
        raise InvalidRange(RangeRequested=req.headers.get("range", ""),
                           ActualObjectSize=str(obj.size)) from None


def _part_span(part: str, obj: ObjectInfo) -> tuple[int, int] | None:
    if not decimal(part, 5) or not 1 <= int(part) <= 10_000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=part)
    number = int(part)
    if obj.parts_count is None:
        if number != 1:
            raise InvalidPartNumber()
        # S3 answers part 1 of a single-part object as a range over all of it (206).
        return (0, obj.size - 1) if obj.size else None
    if number > len(obj.blobs):
        raise InvalidPartNumber()
    start = sum(size for _, size in obj.blobs[:number - 1])
    return start, start + obj.blobs[number - 1][1] - 1


def _parts_count(req: S3Request, obj: ObjectInfo, headers: dict[str, str]) -> None:
    if "partNumber" in req.query and obj.parts_count:
        headers["x-amz-mp-parts-count"] = str(obj.parts_count)


def _checksum_mode(req: S3Request) -> bool:
    return req.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"


def _checksum_headers(obj: ObjectInfo) -> dict[str, str]:
    if not obj.checksum or not obj.checksum_algorithm:
        return {}
    return {f"x-amz-checksum-{obj.checksum_algorithm.lower()}": obj.checksum}
