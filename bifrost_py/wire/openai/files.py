"""Files: upload (multipart, streamed to disk), list, retrieve, content, delete."""

from __future__ import annotations

import time

from starlette.responses import Response, StreamingResponse

from bifrost_py.domain.digits import decimal
from bifrost_py.errors import InvalidRequestError
from bifrost_py.wire.openai.form import read_form
from bifrost_py.wire.openai.limits import query_int, query_order
from bifrost_py.wire.openai.purposes import checked_purpose, lifetime
from bifrost_py.wire.openai.request import OpenAIRequest, json_response
from bifrost_py.wire.openai.service import V1
from bifrost_py.wire.openai.shapes import file_object, page
from bifrost_py.wire.streams import primed

MAX_LIST = 10_000


async def create_file(req: OpenAIRequest, v1: V1) -> Response:
    form, blob = await read_form(req.request, "file", lambda chunks: v1.blobs.write(
        chunks, max_size=v1.max_file_size))
    try:
        purpose = _purpose(form.fields, form.filename)
        expires_at = _expires_at(form.fields)
    except BaseException:
        v1.blobs.discard(blob)
        raise
    file = await v1.files.create(req.tenant, form.filename or "", purpose, [blob], expires_at)
    return json_response(file_object(file))


async def list_files(req: OpenAIRequest, v1: V1) -> Response:
    limit = query_int(req.query, "limit", MAX_LIST, 1, MAX_LIST)
    found = await v1.files.page(req.tenant, req.query.get("purpose"), req.query.get("after"),
                                limit + 1, query_order(req.query) == "asc")
    return json_response(page(found, limit, file_object))


async def retrieve_file(req: OpenAIRequest, v1: V1) -> Response:
    return json_response(file_object(await v1.files.get(req.tenant, req.labels["file_id"])))


async def file_content(req: OpenAIRequest, v1: V1) -> Response:
    file = await v1.files.get(req.tenant, req.labels["file_id"])
    return StreamingResponse(await primed(v1.files.read(file)),
                             media_type="application/octet-stream",
                             headers={"content-length": str(file.bytes)})


async def delete_file(req: OpenAIRequest, v1: V1) -> Response:
    await v1.files.delete(req.tenant, req.labels["file_id"])
    return json_response({"id": req.labels["file_id"], "object": "file", "deleted": True})


def _purpose(fields: dict[str, str], filename: str | None) -> str:
    if filename is None:
        raise InvalidRequestError("'file' is a required property", param="file")
    return checked_purpose(fields.get("purpose", ""), filename, "file")


def _expires_at(fields: dict[str, str]) -> int | None:
    """expires_after[anchor]=created_at and expires_after[seconds], as form fields."""
    seconds = fields.get("expires_after[seconds]")
    if seconds is None:
        return None
    given = int(seconds) if decimal(seconds, 9) else seconds
    return int(time.time()) + lifetime(fields.get("expires_after[anchor]"), given)
