"""Which tenant created each bucket through the bedrock provider's S3 pass-through.

Real S3 has one namespace per AWS account, so tenancy there is kept here: a bucket created
through the server belongs to the creating tenant and is hidden from every other; a bucket the
account had already is the operator's, visible to every key allowed the bedrock provider.
"""

from __future__ import annotations

from bifrost_py.store.sql.database import Database


class BucketOwners:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Loaded at start-up and kept in step by this process, the only writer: every proxied
        # request asks, so the answer costs no database round trip.
        self._owners: dict[str, str] = {}

    async def open(self) -> None:
        rows = await self.db.fetchall("SELECT name, tenant FROM proxy_buckets")
        self._owners = {r["name"]: r["tenant"] for r in rows}

    def visible(self, bucket: str, tenant: str) -> bool:
        owner = self._owners.get(bucket)
        return owner is None or owner == tenant

    async def claim(self, bucket: str, tenant: str) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "INSERT INTO proxy_buckets (name, tenant) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET tenant = excluded.tenant", (bucket, tenant)))
        self._owners[bucket] = tenant

    async def release(self, bucket: str) -> None:
        await self.db.transaction(lambda conn: conn.execute(
            "DELETE FROM proxy_buckets WHERE name = ?", (bucket,)))
        self._owners.pop(bucket, None)
