"""The vertex provider's files: objects' bytes are also staged in Cloud Storage, under
`files/<id>` of the configured prefix, and the id is the object's ETag."""

from __future__ import annotations

import uuid
from pathlib import Path

from bifrost_py.config import VertexConfig
from bifrost_py.providers.vertex.auth import Tokens
from bifrost_py.providers.vertex.gcs import Staging


class VertexFiles:
    def __init__(self, settings: VertexConfig) -> None:
        self.staging = Staging(settings, Tokens(settings))

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        file_id = f"vertex-file-{uuid.uuid4().hex}"
        await self.staging.upload(f"files/{file_id}", content, content_type)
        return file_id

    async def delete(self, file_id: str) -> None:
        await self.staging.delete(self.staging.uri(f"files/{file_id}"))

    async def aclose(self) -> None:
        await self.staging.aclose()
