"""The gemini provider's files: objects' bytes also live in Gemini Files, and the file's name
(`files/abc...`) is the object's ETag."""

from __future__ import annotations

from pathlib import Path

from bifrost_py.config import GeminiConfig
from bifrost_py.providers.gemini.connection import Connection


class GeminiFiles:
    def __init__(self, settings: GeminiConfig) -> None:
        self.gemini = Connection(settings)

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        return await self.gemini.upload(content, name, content_type)

    async def delete(self, file_id: str) -> None:
        await self.gemini.forget(file_id)

    async def aclose(self) -> None:
        await self.gemini.aclose()
