"""Bucket handlers, and DeleteObjects which acts on a bucket's keys."""

from __future__ import annotations

from starlette.responses import Response

from bifrost_py.domain.objects import MAX_KEY_BYTES, validate_bucket_name
from bifrost_py.domain.timefmt import iso
from bifrost_py.errors import MalformedXML
from bifrost_py.ports.files import Files
from bifrost_py.wire.s3 import xml
from bifrost_py.wire.s3.body import receive_small
from bifrost_py.wire.s3.listing import owner, page_token, parse_max, parse_token
from bifrost_py.wire.s3.request import S3Request

MAX_DELETE_KEYS = 1000


async def list_buckets(req: S3Request, files: Files) -> Response:
    prefix = req.query.get("prefix", "")
    limit = parse_max(req.query, "max-buckets", 10_000)
    after = parse_token(req.query.get("continuation-token", ""))
    buckets = [b for b in await files.objects.list_buckets(req.tenant)
               if b.name.startswith(prefix) and b.name > after]
    page = buckets[:limit]
    token = page_token(page[-1].name) if 0 < limit < len(buckets) else None
    return xml.response("ListAllMyBucketsResult", {
        "Owner": owner(req.account_id),
        "Buckets": {"Bucket": [{"Name": b.name, "CreationDate": iso(b.created),
                                "BucketRegion": req.region} for b in page]},
        "ContinuationToken": token, "Prefix": prefix or None})


async def create_bucket(req: S3Request, files: Files) -> Response:
    validate_bucket_name(req.bucket)
    body = await receive_small(req, xml.MAX_XML_BYTES)
    if body.strip():
        await xml.parse_request(body, "CreateBucketConfiguration")
    await files.objects.create_bucket(req.store_bucket)
    return Response(headers={"Location": f"/{req.bucket}"})


async def head_bucket(req: S3Request, files: Files) -> Response:
    await files.objects.head_bucket(req.store_bucket)
    return Response(headers={"x-amz-bucket-region": req.region})


async def get_bucket_location(req: S3Request, files: Files) -> Response:
    await files.objects.head_bucket(req.store_bucket)
    return xml.response("LocationConstraint", {"#text": req.region})


async def delete_bucket(req: S3Request, files: Files) -> Response:
    await files.objects.delete_bucket(req.store_bucket)
    return Response(status_code=204)


async def delete_objects(req: S3Request, files: Files) -> Response:
    doc = await xml.parse_request(await receive_small(req, xml.MAX_XML_BYTES), "Delete")
    keys = [xml.text(o, "Key", strip=False) for o in xml.children(doc, "Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS or any(k is None for k in keys):
        raise MalformedXML()
    valid = [k for k in keys if k and len(k.encode()) <= MAX_KEY_BYTES]
    await files.objects.delete_many(req.store_bucket, valid)  # type: ignore[arg-type]
    quiet = (xml.text(doc, "Quiet") or "").lower() == "true"
    return xml.response("DeleteResult", {
        "Deleted": [] if quiet else [{"Key": k} for k in keys if k in valid],
        "Error": [{"Key": k, "Code": "KeyTooLongError" if k else "InvalidArgument",
                   "Message": "Your key is too long." if k else "The key is empty."}
                  for k in keys if k not in valid]})
