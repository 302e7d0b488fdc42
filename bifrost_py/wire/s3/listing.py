"""ListObjectsV2 and ListObjects (v1): parameters, pagination tokens and url encoding."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable
from urllib.parse import quote

from starlette.responses import Response

from bifrost_py.domain.digits import decimal
from bifrost_py.domain.objects import Listing, ObjectInfo
from bifrost_py.domain.timefmt import iso
from bifrost_py.errors import InvalidArgument
from bifrost_py.ports.files import Files
from bifrost_py.wire.s3 import xml
from bifrost_py.wire.s3.request import S3Request

MAX_KEYS = 1000


async def list_objects_v2(req: S3Request, files: Files) -> Response:
    q = req.query
    token = q.get("continuation-token")
    after = parse_token(token) if token is not None else q.get("start-after", "")
    listing = await _list(req, files, after)
    enc = _encoder(q)
    body = {
        **_common(req, listing, enc),
        "KeyCount": len(listing.objects) + len(listing.prefixes),
        "ContinuationToken": token,
        "NextContinuationToken": page_token(listing.last_key) if listing.truncated else None,
        "StartAfter": enc(q["start-after"]) if q.get("start-after") else None,
        "Contents": [_entry(o, enc, req.account_id if _flag(q, "fetch-owner") else None)
                     for o in listing.objects],
    }
    return xml.response("ListBucketResult", body)


async def list_objects_v1(req: S3Request, files: Files) -> Response:
    marker = req.query.get("marker", "")
    listing = await _list(req, files, marker)
    enc = _encoder(req.query)
    body = {
        **_common(req, listing, enc),
        "Marker": enc(marker),
        # S3 only sends NextMarker with a delimiter; without one clients use the last key.
        "NextMarker": (enc(listing.last_key or "")
                       if listing.truncated and req.query.get("delimiter") else None),
        "Contents": [_entry(o, enc, req.account_id) for o in listing.objects],
    }
    return xml.response("ListBucketResult", body)


_TOKEN_MARK = b"bifrost:"


def page_token(key: str | None) -> str:
    return base64.urlsafe_b64encode(_TOKEN_MARK + (key or "").encode("utf-8")).decode("ascii")


def parse_token(token: str) -> str:
    """The key a token resumes after; a token this server did not make is InvalidArgument."""
    if not token:
        return ""
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        if not raw.startswith(_TOKEN_MARK):
            raise ValueError(token)
        return raw[len(_TOKEN_MARK):].decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgument("The continuation token provided is incorrect",
                              ArgumentName="continuation-token") from None


def parse_max(query: dict[str, str], name: str, cap: int) -> int:
    value = query.get(name, str(cap))
    if not decimal(value, 10) or int(value) > 2**31 - 1:
        raise InvalidArgument("Provided max-keys not an integer or within integer range"
                              if name == "max-keys" else f"Invalid {name}",
                              ArgumentName=name, ArgumentValue=value)
    return min(int(value), cap)


async def _list(req: S3Request, files: Files, after: str) -> Listing:
    q = req.query
    encoding = q.get("encoding-type")
    if encoding is not None and encoding != "url":
        raise InvalidArgument("Invalid Encoding Method specified in Request",
                              ArgumentName="encoding-type", ArgumentValue=encoding)
    limit = parse_max(q, "max-keys", MAX_KEYS)
    return await files.objects.list_keys(req.store_bucket, q.get("prefix", ""),
                                         q.get("delimiter", ""), after, limit)


def _common(req: S3Request, listing: Listing, enc: Callable[[str], str]) -> dict[str, object]:
    q = req.query
    return {
        "Name": req.bucket,
        "Prefix": enc(q.get("prefix", "")),
        "Delimiter": enc(q["delimiter"]) if q.get("delimiter") else None,
        "MaxKeys": parse_max(q, "max-keys", MAX_KEYS),
        "EncodingType": q.get("encoding-type"),
        "IsTruncated": listing.truncated,
        "CommonPrefixes": [{"Prefix": enc(p)} for p in listing.prefixes],
    }


def _entry(obj: ObjectInfo, enc: Callable[[str], str], account_id: str | None) -> dict[str, object]:
    return {
        "Key": enc(obj.key),
        "LastModified": iso(obj.modified),
        "ETag": obj.etag,
        "ChecksumAlgorithm": obj.checksum_algorithm,
        "ChecksumType": obj.checksum_type if obj.checksum_algorithm else None,
        "Size": obj.size,
        "StorageClass": "STANDARD",
        "Owner": owner(account_id) if account_id else None,
    }


def _encoder(query: dict[str, str]) -> Callable[[str], str]:
    if query.get("encoding-type") == "url":
        return lambda value: quote(value, safe="/")
    return lambda value: value


def owner(account_id: str) -> dict[str, str]:
    return {"ID": hashlib.sha256(account_id.encode()).hexdigest(), "DisplayName": "bifrost"}


def _flag(query: dict[str, str], name: str) -> bool:
    return query.get(name, "").lower() == "true"
