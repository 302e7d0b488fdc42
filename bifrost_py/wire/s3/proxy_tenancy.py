"""Tenancy on the bedrock provider's S3 pass-through: another tenant's bucket is not there.

The request is looked at before it goes to S3 (its bucket, and a copy's source bucket) and S3's
answer after (a created bucket is claimed, a deleted one released, ListBuckets filtered).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import Scope

from bifrost_py.ports.passthrough import BucketOwnership
from bifrost_py.wire.asgi import header

_LISTED_BUCKET = re.compile(rb"<Bucket>.*?</Bucket>", re.DOTALL)
_NAME = re.compile(rb"<Name>([^<]*)</Name>")


class ProxyTenancy:
    def __init__(self, owners: BucketOwnership) -> None:
        self.owners = owners

    async def hidden(self, path: str, scope: Scope, tenant: str) -> str | None:
        """The bucket the request names that belongs to another tenant, if any."""
        source = header(scope["headers"], "x-amz-copy-source")
        for bucket in (bucket_of(path), unquote(source).lstrip("/").partition("/")[0]):
            if bucket and not await self.owners.visible(bucket, tenant):
                return bucket
        return None

    async def answered(self, path: str, scope: Scope, status: int, tenant: str) -> None:
        """Keep ownership in step with what S3 did."""
        bucket, _, key = unquote(path).lstrip("/").partition("/")
        if not bucket or key.strip("/") or scope.get("query_string"):
            return
        if scope["method"] == "PUT" and status == 200:
            await self.owners.claim(bucket, tenant)
        elif scope["method"] == "DELETE" and status == 204:
            await self.owners.release(bucket)

    def lists_buckets(self, path: str, scope: Scope) -> bool:
        return scope["method"] == "GET" and not bucket_of(path)

    async def filtered(self, body: bytes, tenant: str) -> bytes:
        """A ListBuckets answer without the buckets of other tenants."""
        names = {name.decode() for name in _NAME.findall(body)}
        shown = {name for name in names if await self.owners.visible(name, tenant)}

        def keep(listed: re.Match[bytes]) -> bytes:
            name = _NAME.search(listed[0])
            return listed[0] if name is None or name[1].decode() in shown else b""

        return _LISTED_BUCKET.sub(keep, body)


def bucket_of(path: str) -> str:
    return unquote(path).lstrip("/").partition("/")[0]
