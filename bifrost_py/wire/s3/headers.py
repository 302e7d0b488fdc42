"""Object headers both ways: what a write stores, and what GET and HEAD answer."""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import Mapping
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.utils import formatdate

from bifrost_py.domain.checksums import ALGORITHMS, header_name
from bifrost_py.domain.objects import NewObject, ObjectInfo
from bifrost_py.errors import InvalidArgument

# Standard headers S3 stores with an object and returns on GET and HEAD.
STORED = ("cache-control", "content-disposition", "content-encoding", "content-language",
          "expires")
# Headers recorded with an object as they came and answered back on GET and HEAD.
RECORDED = ("x-amz-server-side-encryption",)
# GET query parameters that override response headers.
OVERRIDES = {f"response-{h}": h for h in (*STORED, "content-type")}
META = "x-amz-meta-"
# What an HTTP header value can carry: no control characters, nothing past latin-1.
_CARRIED = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_PRINTABLE = re.compile(r"[\t\x20-\x7e]*")
DEFAULT_TYPE = "binary/octet-stream"


def new_object(headers: Mapping[str, str], checksum_algorithm: str | None = None,
               checksum: str | None = None) -> NewObject:
    stored = {h: headers[h] for h in (*STORED, *RECORDED) if h in headers}
    # aws-chunked names the request's framing, never the object's own coding.
    encoding = ",".join(e for e in stored.get("content-encoding", "").split(",")
                        if e.strip() and e.strip().lower() != "aws-chunked")
    if encoding:
        stored["content-encoding"] = encoding
    else:
        stored.pop("content-encoding", None)
    metadata = {k[len(META):]: _metadata_in(v) for k, v in headers.items() if k.startswith(META)}
    checksum_type = headers.get("x-amz-checksum-type", "").upper() or None
    if checksum_algorithm and checksum_type is None:
        checksum_type = "FULL_OBJECT"
    return NewObject(content_type=headers.get("content-type") or DEFAULT_TYPE, headers=stored,
                     metadata=metadata, checksum_algorithm=checksum_algorithm,
                     checksum=checksum, checksum_type=checksum_type)


def copied(source: ObjectInfo) -> NewObject:
    """What CopyObject keeps of its source under the default COPY metadata directive."""
    return NewObject(source.content_type, source.headers, source.metadata)


def replace_checksum(new: NewObject, algorithm: str | None, checksum: str | None) -> NewObject:
    return dataclasses.replace(new, checksum_algorithm=algorithm, checksum=checksum,
                               checksum_type="FULL_OBJECT" if checksum else None)


def object_headers(obj: ObjectInfo, query: dict[str, str], with_checksum: bool) -> dict[str, str]:
    # Lower-case names throughout, so a response-* override replaces rather than duplicates.
    headers = {
        "etag": obj.etag,
        "last-modified": http_date(obj.modified),
        "content-type": obj.content_type,
        "accept-ranges": "bytes",
        **obj.headers,
        **{META + k: _metadata_out(v) for k, v in obj.metadata.items()},
    }
    if with_checksum and obj.checksum and obj.checksum_algorithm in ALGORITHMS:
        headers[header_name(obj.checksum_algorithm)] = obj.checksum
        if obj.checksum_type:
            headers["x-amz-checksum-type"] = obj.checksum_type
    for param, header in OVERRIDES.items():
        if param in query:
            headers[header] = _override(param, query[param])
    return headers


def _override(param: str, value: str) -> str:
    """A response-* query value as the header it sets: S3 refuses one HTTP cannot carry."""
    if not _CARRIED.fullmatch(value):
        raise InvalidArgument("Header value cannot be represented using ISO-8859-1.",
                              ArgumentName=param, ArgumentValue=value)
    return value


def recorded(stored: Mapping[str, str]) -> dict[str, str]:
    """Of an object's or an upload's stored headers, those a write answers with."""
    return {h: stored[h] for h in RECORDED if h in stored}


def _metadata_in(raw: str) -> str:
    """A metadata value as S3 keeps it: header bytes (which arrive as latin-1 text) read as
    UTF-8 where they are UTF-8, and RFC 2047 encoded words decoded."""
    try:
        value = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        value = raw
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return value


def _metadata_out(value: str) -> str:
    """Header values are printable ASCII: S3 answers any other value as an RFC 2047 encoded
    word (a decoded one may hold anything, line breaks included)."""
    if _PRINTABLE.fullmatch(value):
        return value
    return f"=?UTF-8?B?{base64.b64encode(value.encode('utf-8')).decode('ascii')}?="


def http_date(timestamp: float) -> str:
    return formatdate(int(timestamp), usegmt=True)
