"""What the OpenAI dialect leaves to time: files past their expiry deleted with their bytes,
uploads past theirs expired and their parts freed, ended uploads' rows forgotten a day later.

Every replica does it, each every INTERVAL; each step is its own transaction, so replicas doing
it at once delete each thing once.
"""

from __future__ import annotations

import logging
import time

from bifrost_py.jobs.periodic import Periodic
from bifrost_py.ports.file_store import FileStore
from bifrost_py.ports.file_uploads import FileUploads

log = logging.getLogger("bifrost_py.housekeeping")
INTERVAL = 300.0


class Housekeeping(Periodic):
    name = "bifrost-housekeeping"
    failing = "housekeeping failed"

    def __init__(self, files: FileStore, uploads: FileUploads, interval: float = INTERVAL,
                 ) -> None:
        super().__init__(interval, log)
        self.files = files
        self.uploads = uploads

    async def tidy(self) -> tuple[int, int]:
        """One pass: (files deleted, upload rows forgotten)."""
        now = time.time()
        files = 0
        while purged := await self.files.purge_expired(now):
            files += purged
        await self.uploads.expire_overdue()
        return files, await self.uploads.forget_ended(now)

    async def tick(self) -> None:
        files, uploads = await self.tidy()
        if files or uploads:
            log.info("deleted %d expired files and forgot %d ended uploads", files, uploads)
