"""Which tenant created each bucket through the bedrock provider's S3 pass-through.

Real S3 has one namespace per AWS account, so tenancy there is kept here: a bucket created
through the server belongs to the creating tenant and is hidden from every other; a bucket the
account had already is the operator's, visible to every key allowed the bedrock provider.
"""

from __future__ import annotations

from bifrost_py.store.sql.database import Database


class BucketOwners:
    def __init__(self, db: Database, shared: bool) -> None:
        self.db = db
        # Where this process is the only writer, the owners are loaded at start-up and kept in
        # step here, so asking costs no database round trip; where replicas share the database,
        # another may have claimed a bucket since, so each question goes to the database.
        self.shared = shared
        self._owners: dict[str, str] = {}

    async def open(self) -> None:
        rows = await self.db.fetchall("SELECT name, tenant FROM proxy_buckets")
        self._owners = {r["name"]: r["tenant"] for r in rows}

    async def visible(self, bucket: str, tenant: str) -> bool:
        if self.shared:
            row = await self.db.fetchone("SELECT tenant FROM proxy_buckets WHERE name = ?",
                                         (bucket,))
            owner = row["tenant"] if row else None
        else:
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
