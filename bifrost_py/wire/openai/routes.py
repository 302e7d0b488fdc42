"""OpenAI-dialect operations matched on method and path (after the mount)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

from starlette.responses import Response

from bifrost_py.wire.openai import batches, files, uploads
from bifrost_py.wire.openai.request import OpenAIRequest
from bifrost_py.wire.openai.service import V1

Handler = Callable[[OpenAIRequest, V1], Awaitable[Response]]
_ID = r"(?P<{}>[A-Za-z0-9_\-]{{1,128}})"

ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^{path}$"), handler) for method, path, handler in [
        ("POST", "/files", files.create_file),
        ("GET", "/files", files.list_files),
        ("GET", "/files/" + _ID.format("file_id"), files.retrieve_file),
        ("DELETE", "/files/" + _ID.format("file_id"), files.delete_file),
        ("GET", "/files/" + _ID.format("file_id") + "/content", files.file_content),
        ("POST", "/batches", batches.create_batch),
        ("GET", "/batches", batches.list_batches),
        ("GET", "/batches/" + _ID.format("batch_id"), batches.retrieve_batch),
        ("POST", "/batches/" + _ID.format("batch_id") + "/cancel", batches.cancel_batch),
        ("POST", "/uploads", uploads.create_upload),
        ("POST", "/uploads/" + _ID.format("upload_id") + "/parts", uploads.add_part),
        ("POST", "/uploads/" + _ID.format("upload_id") + "/complete", uploads.complete_upload),
        ("POST", "/uploads/" + _ID.format("upload_id") + "/cancel", uploads.cancel_upload),
    ]
]
