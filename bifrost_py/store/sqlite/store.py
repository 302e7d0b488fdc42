"""The embedded store: state in SQLite under the data directory, object bytes in files beside it.

The server's own files, its jobs and the pass-through's bucket owners share one database; each
provider whose files are mirrored upstream keeps them in a database of its own, so one provider's
listings never scan another's rows. Blobs are shared, so a start-up sweep asks every database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bifrost_py.ports.files import FileMirror, Files
from bifrost_py.store.blobs.disk import BlobStore
from bifrost_py.store.spools.disk import DiskSpools
from bifrost_py.store.sqlite.bucket_owners import BucketOwners
from bifrost_py.store.sqlite.db import Database
from bifrost_py.store.sqlite.file_store import SqliteFileStore
from bifrost_py.store.sqlite.file_uploads import SqliteFileUploads
from bifrost_py.store.sqlite.jobs import JobStore
from bifrost_py.store.sqlite.leases import SqliteLeases, forget_leases
from bifrost_py.store.sqlite.multipart import Uploads
from bifrost_py.store.sqlite.objects import ObjectStore, referenced_blobs
from bifrost_py.store.sqlite.outbox import SqliteOutbox
from bifrost_py.store.sqlite.replicas import SqliteReplicas

log = logging.getLogger("bifrost_py.store")


class SqliteStore:
    def __init__(self, data_dir: Path, fsync: bool = False) -> None:
        self.data_dir = data_dir
        self.db = Database(data_dir / "bifrost.sqlite3")
        self.blobs = BlobStore(data_dir, fsync=fsync)
        self.fences: dict[str, int] = {}
        self.jobs = JobStore(self.db, self.fences)
        self.outbox = SqliteOutbox(self.db)
        self._databases = [self.db]
        self._objects: list[ObjectStore] = []
        self._local: ObjectStore | None = None
        self._owners: BucketOwners | None = None
        self._file_uploads: SqliteFileUploads | None = None

    @property
    def is_open(self) -> bool:
        return self.db.is_open

    def local_files(self, auto_create_buckets: bool, max_object_size: int) -> Files:
        self._local = ObjectStore(self.db, self.blobs, auto_create_buckets)
        return self._files(self._local, max_object_size)

    def file_store(self) -> SqliteFileStore:
        if self._local is None:
            raise RuntimeError("the OpenAI dialect's files live with the server's own files: "
                               "ask for local_files first")
        return SqliteFileStore(self._local)

    def file_uploads(self) -> SqliteFileUploads:
        if self._file_uploads is None:
            self._file_uploads = SqliteFileUploads(self.file_store())
        return self._file_uploads

    def mirrored_files(self, provider: str, mirror: FileMirror, max_object_size: int) -> Files:
        db = Database(self.data_dir / f"files-{provider}.sqlite3")
        self._databases.append(db)
        return self._files(ObjectStore(db, self.blobs, auto_create_buckets=True, mirror=mirror),
                           max_object_size)

    def bucket_owners(self) -> BucketOwners:
        if self._owners is None:
            self._owners = BucketOwners(self.db)
        return self._owners

    def leases(self, replica: str, lease_seconds: float) -> SqliteLeases:
        return SqliteLeases(self.db, self.fences, replica, lease_seconds)

    def replicas(self) -> SqliteReplicas:
        return SqliteReplicas(self.db)

    def spools(self, work_dir: Path) -> DiskSpools:
        return DiskSpools(work_dir)

    async def open_jobs_readonly(self) -> None:
        """Only the jobs, read-only: for a command run beside a server using the same data."""
        await self.db.open_readonly()

    async def open(self) -> None:
        self.blobs.open()
        for db in self._databases:
            await db.open()
        # One server has this database to itself: the leases a crashed run held are its own.
        await forget_leases(self.db)
        if self._file_uploads is not None:
            # Before the sweep: it then removes the parts of uploads that expired while down.
            await self._file_uploads.expire_overdue()
        referenced: set[str] = set()
        for db in self._databases:
            referenced |= await referenced_blobs(db)
        for objects in self._objects:
            await objects.open()
        if self._owners is not None:
            await self._owners.open()
        swept = self.blobs.sweep(referenced)
        if swept:
            log.info("removed %d unreferenced blobs left by an earlier crash", swept)

    async def close(self) -> None:
        self.blobs.flush()
        for db in reversed(self._databases):
            await db.close()

    def _files(self, objects: ObjectStore, max_object_size: int) -> Files:
        self._objects.append(objects)
        return Files(objects, Uploads(objects), self.blobs, max_object_size)
