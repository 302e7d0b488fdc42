"""Multipart upload handlers."""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.responses import Response

from bifrost_py.domain.checksums import ALGORITHMS, header_name
from bifrost_py.domain.digits import decimal
from bifrost_py.domain.multipart import MAX_PARTS, CompletedPart
from bifrost_py.domain.objects import NewObject, ObjectInfo, Part, Upload, validate_key
from bifrost_py.domain.timefmt import iso
from bifrost_py.errors import InvalidArgument, InvalidRange, InvalidRequest, MalformedXML
from bifrost_py.ports.files import Files
from bifrost_py.wire.s3 import xml
from bifrost_py.wire.s3.body import receive, receive_small
from bifrost_py.wire.s3.headers import new_object, recorded
from bifrost_py.wire.s3.listing import owner, parse_max
from bifrost_py.wire.s3.objects import copy_source
from bifrost_py.wire.s3.ranges import RangeNotSatisfiable, parse_range
from bifrost_py.wire.s3.request import S3Request


async def create_upload(req: S3Request, files: Files) -> Response:
    validate_key(req.key)
    await files.objects.bucket_for_write(req.store_bucket)
    upload = await files.uploads.create(req.store_bucket, req.key, _upload_object(req))
    headers = {**_checksum_headers(upload), **recorded(upload.headers)}
    return xml.response("InitiateMultipartUploadResult", {
        "Bucket": req.bucket, "Key": req.key, "UploadId": upload.upload_id}, headers)


async def upload_part(req: S3Request, files: Files) -> Response:
    upload, number = await _target(req, files)
    blob = await receive(req, files.blobs, files.max_object_size, inline=False)
    part = await files.uploads.put_part(upload, number, blob)
    headers = {"ETag": part.etag}
    if blob.checksum_algorithm and blob.checksum:
        headers[header_name(blob.checksum_algorithm)] = blob.checksum
    return Response(headers=headers)


async def upload_part_copy(req: S3Request, files: Files) -> Response:
    upload, number = await _target(req, files)
    source = await copy_source(req, files)
    start, end = _copy_range(req, source.size)
    blob = await files.blobs.write(files.objects.read(source, start, end),
                                   max_size=files.max_object_size, inline=False)
    part = await files.uploads.put_part(upload, number, blob)
    return xml.response("CopyPartResult", {"LastModified": iso(part.modified),
                                           "ETag": part.etag})


async def complete_upload(req: S3Request, files: Files) -> Response:
    obj = await _complete(req, files)
    return xml.response("CompleteMultipartUploadResult", {
        "Location": f"/{req.bucket}/{req.key}", "Bucket": req.bucket, "Key": req.key,
        "ETag": obj.etag, **_checksum_element(obj.checksum_algorithm, obj.checksum),
        "ChecksumType": obj.checksum_type})


async def _complete(req: S3Request, files: Files) -> ObjectInfo:
    """The object the completion makes; or, repeated after it succeeded, the one it made."""
    upload_id = req.query["uploadId"]
    done = await files.uploads.completed(req.store_bucket, req.key, upload_id)
    if done is not None:
        await _requested_parts(req)
        return done
    upload = await files.uploads.get(req.store_bucket, req.key, upload_id)
    requested = await _requested_parts(req)
    full = req.headers.get(header_name(upload.checksum_algorithm or "CRC32"))
    return await files.uploads.complete(upload, requested, req.conditions(), full,
                                        files.max_object_size)


async def _requested_parts(req: S3Request) -> list[CompletedPart]:
    # A completion's x-amz-checksum-* headers are the whole object's, not its body's.
    body = await receive_small(req, xml.MAX_XML_BYTES, body_checksums=False)
    return _completed_parts(await xml.parse_request(body, "CompleteMultipartUpload"))


async def abort_upload(req: S3Request, files: Files) -> Response:
    upload = await files.uploads.get(req.store_bucket, req.key, req.query["uploadId"])
    await files.uploads.abort(upload)
    return Response(status_code=204)


async def list_parts(req: S3Request, files: Files) -> Response:
    upload = await files.uploads.get(req.store_bucket, req.key, req.query["uploadId"])
    marker = _int(req.query.get("part-number-marker", "0"), "part-number-marker")
    limit = parse_max(req.query, "max-parts", 1000)
    parts = await files.uploads.parts(upload.upload_id, marker, limit + 1)
    page = parts[:limit]
    return xml.response("ListPartsResult", {
        "Bucket": req.bucket, "Key": req.key, "UploadId": upload.upload_id,
        "PartNumberMarker": marker, "NextPartNumberMarker": page[-1].part_number if page else 0,
        "MaxParts": limit, "IsTruncated": 0 < limit < len(parts),
        "Initiator": owner(req.account_id), "Owner": owner(req.account_id),
        "StorageClass": "STANDARD", "ChecksumAlgorithm": upload.checksum_algorithm,
        "ChecksumType": upload.checksum_type,
        "Part": [_part(p, upload.checksum_algorithm) for p in page]})


async def list_uploads(req: S3Request, files: Files) -> Response:
    q = req.query
    limit = parse_max(q, "max-uploads", 1000)
    key_marker, id_marker = q.get("key-marker", ""), q.get("upload-id-marker", "")
    uploads = await files.uploads.list_uploads(req.store_bucket, q.get("prefix", ""), key_marker,
                                       id_marker if key_marker else "", limit + 1)
    # A page of none (max-uploads=0) is not truncated: there is no last entry to resume after.
    page, truncated = uploads[:limit], 0 < limit < len(uploads)
    return xml.response("ListMultipartUploadsResult", {
        "Bucket": req.bucket, "KeyMarker": key_marker, "UploadIdMarker": id_marker,
        "NextKeyMarker": page[-1].key if truncated else None,
        "NextUploadIdMarker": page[-1].upload_id if truncated else None,
        "Prefix": q.get("prefix", ""), "MaxUploads": limit, "IsTruncated": truncated,
        "Upload": [{"Key": u.key, "UploadId": u.upload_id, "Initiated": iso(u.initiated),
                    "StorageClass": "STANDARD", "Owner": owner(req.account_id),
                    "Initiator": owner(req.account_id)} for u in page]})


async def _target(req: S3Request, files: Files) -> tuple[Upload, int]:
    number = _int(req.query.get("partNumber", ""), "partNumber")
    if not 1 <= number <= MAX_PARTS:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive",
                              ArgumentName="partNumber", ArgumentValue=str(number))
    return await files.uploads.get(req.store_bucket, req.key, req.query["uploadId"]), number


def _upload_object(req: S3Request) -> NewObject:
    algorithm = req.headers.get("x-amz-checksum-algorithm", "").upper() or None
    if algorithm is not None and algorithm not in ALGORITHMS:
        raise InvalidRequest(f"Checksum algorithm {algorithm} is not supported.")
    new = new_object(req.headers, algorithm)
    checksum_type = req.headers.get("x-amz-checksum-type", "COMPOSITE").upper()
    if checksum_type not in ("COMPOSITE", "FULL_OBJECT"):
        raise InvalidRequest(f"Checksum type {checksum_type} is not supported.")
    if checksum_type == "FULL_OBJECT" and algorithm not in ("CRC32", "CRC32C"):
        raise InvalidRequest("The FULL_OBJECT checksum type needs CRC32 or CRC32C.")
    return dataclasses.replace(new, checksum_type=checksum_type if algorithm else None)


def _completed_parts(doc: dict[str, Any]) -> list[CompletedPart]:
    parts = []
    for node in xml.children(doc, "Part"):
        number, etag = xml.text(node, "PartNumber"), xml.text(node, "ETag")
        if not number or not decimal(number, 5) or etag is None:
            raise MalformedXML()
        sums = [xml.text(node, f"Checksum{a}") for a in ALGORITHMS]
        parts.append(CompletedPart(int(number), etag, next((s for s in sums if s), None)))
    return parts


def _copy_range(req: S3Request, size: int) -> tuple[int, int]:
    header = req.headers.get("x-amz-copy-source-range")
    if header is None:
        return 0, size - 1
    try:
        span = parse_range(header, size)
    except RangeNotSatisfiable:
        raise InvalidRange() from None
    if span is None:
        raise InvalidArgument("The x-amz-copy-source-range value must be of the form "
                              "bytes=first-last where first and last are the zero-based offsets "
                              "of the first and last bytes to copy",
                              ArgumentName="x-amz-copy-source-range", ArgumentValue=header)
    return span


def _int(value: str, name: str) -> int:
    if not decimal(value, 9):
        raise InvalidArgument(f"{name} must be an integer", ArgumentName=name,
                              ArgumentValue=value)
    return int(value)


def _part(part: Part, algorithm: str | None) -> dict[str, object]:
    return {"PartNumber": part.part_number, "LastModified": iso(part.modified),
            "ETag": part.etag, "Size": part.size,
            **_checksum_element(algorithm, part.checksum)}


def _checksum_element(algorithm: str | None, checksum: str | None) -> dict[str, str]:
    return {f"Checksum{algorithm}": checksum} if algorithm and checksum else {}


def _checksum_headers(upload: Upload) -> dict[str, str]:
    if not upload.checksum_algorithm:
        return {}
    return {"x-amz-checksum-algorithm": upload.checksum_algorithm,
            "x-amz-checksum-type": upload.checksum_type or "COMPOSITE"}
