"""What every blob store works out of a body as it streams in: its size against the limit, the
MD5 an S3 ETag is made of, and the additional checksum a client asked for."""

from __future__ import annotations

import hashlib
from pathlib import Path

from bifrost_py.domain.checksums import Checksum
from bifrost_py.errors import EntityTooLarge
from bifrost_py.ports.files import Blob


class BodyDigests:
    def __init__(self, max_size: int, checksum_algorithm: str | None) -> None:
        self.max_size = max_size
        self.size = 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._algorithm = checksum_algorithm
        self._checksum = Checksum(checksum_algorithm) if checksum_algorithm else None

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_size:
            raise EntityTooLarge(MaxSizeAllowed=str(self.max_size))
        self._md5.update(chunk)
        if self._checksum:
            self._checksum.update(chunk)

    def md5(self) -> bytes:
        """The MD5 of what was added so far."""
        return self._md5.digest()

    def blob(self, blob_id: str, tmp_path: Path | None = None, data: bytes | None = None) -> Blob:
        digest = self._checksum.b64() if self._checksum else None
        return Blob(blob_id, self.size, self._md5.hexdigest(), self._algorithm, digest, tmp_path,
                    data)
