"""A store as a whole: what the composition root opens, hands out and closes."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.file_uploads import FileUploads
from bifrost_py.ports.files import FileMirror, Files
from bifrost_py.ports.jobs import JobRepository
from bifrost_py.ports.leases import Leases
from bifrost_py.ports.outbox import Outbox
from bifrost_py.ports.passthrough import BucketOwnership
from bifrost_py.ports.replicas import Replicas
from bifrost_py.ports.spools import Spools


class Store(Protocol):
    @property
    def jobs(self) -> JobRepository: ...

    @property
    def outbox(self) -> Outbox: ...

    @property
    def is_open(self) -> bool: ...

    def local_files(self, auto_create_buckets: bool, max_object_size: int) -> Files:
        """The files kept by the server itself."""

    def mirrored_files(self, provider: str, mirror: FileMirror, max_object_size: int) -> Files:
        """A provider's files: kept here, and each also uploaded to the provider's storage."""

    def file_store(self) -> FileStore:
        """The OpenAI dialect's files, kept with the server's own (local_files first)."""

    def file_uploads(self) -> FileUploads:
        """OpenAI's Uploads, completed into the file store's files (local_files first)."""

    def bucket_owners(self) -> BucketOwnership: ...

    def leases(self, replica: str, lease_seconds: float) -> Leases:
        """This replica's hold on the jobs it runs; the job and spool writes check it."""

    def replicas(self) -> Replicas: ...

    def spools(self, work_dir: Path) -> Spools:
        """Where jobs keep their answers until they end: beside the server (`work_dir`) when
        the store is its alone, in the store itself when replicas share it."""

    async def open(self) -> None:
        """Ready every part handed out so far, and drop what a crash left half-written."""

    async def open_jobs_readonly(self) -> None:
        """Ready `jobs` for reading only, leaving everything else as it is."""

    async def close(self) -> None: ...
