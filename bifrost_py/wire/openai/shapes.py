"""The objects of the OpenAI dialect as its API answers them: files, lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bifrost_py.ports.file_store import StoredFile

T = TypeVar("T")


def file_object(file: StoredFile) -> dict[str, Any]:
    return {"id": file.file_id, "object": "file", "bytes": file.bytes,
            "created_at": file.created_at, "filename": file.filename, "purpose": file.purpose,
            "status": "processed", "status_details": None, "expires_at": file.expires_at}


def page(items: Sequence[T], limit: int, render: Callable[[T], dict[str, Any]],
         ) -> dict[str, Any]:
    """A cursor page from up to `limit` + 1 items: the extra one only says there is more."""
    data = [render(item) for item in items[:limit]]
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(items) > limit}
