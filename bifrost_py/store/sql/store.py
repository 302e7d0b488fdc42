"""A store over SQL databases: state in them, object bytes in the blob store.

The server's own files, its jobs and the pass-through's bucket owners share one database; each
provider whose files are mirrored upstream keeps them in a database of its own (`provider_db`),
so one provider's listings never scan another's rows. Blobs are shared, so a start-up sweep asks
every database.

A store is `shared` when other servers may use its database at the same time (replicas): their
leases are then theirs to keep, and jobs spool their answers into the database, where the
replica that takes a job over finds them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from bifrost_py.ports.files import FileMirror, Files
from bifrost_py.ports.spools import Spools
from bifrost_py.store.blobs.protocol import BlobStore
from bifrost_py.store.spools.disk import DiskSpools
from bifrost_py.store.sql.bucket_owners import BucketOwners
from bifrost_py.store.sql.database import Database
from bifrost_py.store.sql.file_store import SqlFileStore
from bifrost_py.store.sql.file_uploads import SqlFileUploads
from bifrost_py.store.sql.jobs import JobStore
from bifrost_py.store.sql.leases import SqlLeases, forget_leases
from bifrost_py.store.sql.multipart import Uploads
from bifrost_py.store.sql.objects import ObjectStore, referenced_blobs
from bifrost_py.store.sql.outbox import SqlOutbox
from bifrost_py.store.sql.records import StoredSpools
from bifrost_py.store.sql.replicas import SqlReplicas


class SqlStore(ABC):
    shared: bool

    def __init__(self, db: Database, blobs: BlobStore) -> None:
        self.db = db
        self.blobs = blobs
        # job id -> fencing token of the jobs whose leases this server holds
        self.fences: dict[str, int] = {}
        self.jobs = JobStore(self.db, self.fences)
        self.outbox = SqlOutbox(self.db)
        self._databases = [self.db]
        self._objects: list[ObjectStore] = []
        self._local: ObjectStore | None = None
        self._owners: BucketOwners | None = None
        self._file_uploads: SqlFileUploads | None = None

    @property
    def is_open(self) -> bool:
        return self.db.is_open

    def local_files(self, auto_create_buckets: bool, max_object_size: int) -> Files:
        self._local = ObjectStore(self.db, self.blobs, auto_create_buckets)
        return self._files(self._local, max_object_size)

    @abstractmethod
    def provider_db(self, provider: str) -> Database:
        """A new database, not yet open, for the files `provider` mirrors."""

    def file_store(self) -> SqlFileStore:
        if self._local is None:
            raise RuntimeError("the OpenAI dialect's files live with the server's own files: "
                               "ask for local_files first")
        return SqlFileStore(self._local)

    def file_uploads(self) -> SqlFileUploads:
        if self._file_uploads is None:
            self._file_uploads = SqlFileUploads(self.file_store())
        return self._file_uploads

    def mirrored_files(self, provider: str, mirror: FileMirror, max_object_size: int) -> Files:
        db = self.provider_db(provider)
        self._databases.append(db)
        return self._files(ObjectStore(db, self.blobs, auto_create_buckets=True, mirror=mirror),
                           max_object_size)

    def bucket_owners(self) -> BucketOwners:
        if self._owners is None:
            self._owners = BucketOwners(self.db, self.shared)
        return self._owners

    def leases(self, replica: str, lease_seconds: float) -> SqlLeases:
        return SqlLeases(self.db, self.fences, replica, lease_seconds)

    def replicas(self) -> SqlReplicas:
        return SqlReplicas(self.db)

    def spools(self, work_dir: Path) -> Spools:
        return StoredSpools(self.db, self.fences) if self.shared else DiskSpools(work_dir)

    async def open_jobs_readonly(self) -> None:
        """Only the jobs, read-only: for a command run beside a server using the same data."""
        await self.db.open_readonly()

    async def open(self) -> None:
        try:
            await self._open()
        except BaseException:
            # Open databases hold threads that would keep a server that failed to start alive.
            await self._close_databases()
            raise

    async def _open(self) -> None:
        for db in self._databases:
            await db.open()
        if not self.shared:
            # The leases a crashed run of this server held are its own to take back.
            await forget_leases(self.db)
        if self._file_uploads is not None:
            # Before the sweep: it then removes the parts of uploads that expired while down.
            await self._file_uploads.expire_overdue()
        for objects in self._objects:
            await objects.open()
        if self._owners is not None:
            await self._owners.open()
        await self.blobs.open(self._referenced, shared=self.shared)

    async def _referenced(self) -> set[str]:
        referenced: set[str] = set()
        for db in self._databases:
            referenced |= await referenced_blobs(db)
        return referenced

    async def close(self) -> None:
        await self.blobs.close()
        await self._close_databases()

    async def _close_databases(self) -> None:
        for db in reversed(self._databases):  # closing one never opened (or opened to read) is safe
            await db.close()

    def _files(self, objects: ObjectStore, max_object_size: int) -> Files:
        self._objects.append(objects)
        return Files(objects, Uploads(objects), self.blobs, max_object_size)
