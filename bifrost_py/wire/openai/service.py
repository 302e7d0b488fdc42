"""What the OpenAI dialect's handlers call: the jobs core, the files and uploads stores, blobs to
write into."""

from __future__ import annotations

from dataclasses import dataclass

from bifrost_py.jobs.batches import Batches
from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.file_uploads import FileUploads
from bifrost_py.ports.files import Blobs


@dataclass
class V1:
    batches: Batches
    files: FileStore
    blobs: Blobs
    max_file_size: int
    uploads: FileUploads
