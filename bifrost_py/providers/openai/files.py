"""The S3 mount's objects mirrored as OpenAI files (purpose batch); each file id becomes an
object's ETag."""

from __future__ import annotations

import contextlib
from pathlib import Path

import openai

from bifrost_py.config import OpenAIConfig
from bifrost_py.providers.openai.client import new_client, translated_errors


class OpenAIFiles:
    def __init__(self, settings: OpenAIConfig) -> None:
        self._secret = settings.api_key
        self._client = new_client(settings)

    async def upload(self, name: str, content: bytes | Path, content_type: str) -> str:
        # content_type is not sent: OpenAI goes by the file name, which for purpose=batch must
        # end in .jsonl.
        filename = batch_filename(name)
        with translated_errors(self._secret):
            if isinstance(content, Path):
                with content.open("rb") as body:  # streamed, and rewound by httpx on a retry
                    created = await self._client.files.create(file=(filename, body),
                                                              purpose="batch")
            else:
                created = await self._client.files.create(file=(filename, content),
                                                          purpose="batch")
        return created.id

    async def delete(self, file_id: str) -> None:
        with translated_errors(self._secret), contextlib.suppress(openai.NotFoundError):
            await self._client.files.delete(file_id)

    async def aclose(self) -> None:
        await self._client.close()


def batch_filename(key: str) -> str:
    """The name an object is uploaded under: its key's last segment, ending in .jsonl."""
    name = key.rsplit("/", 1)[-1] or "upload"
    return name if name.endswith(".jsonl") else f"{name}.jsonl"
