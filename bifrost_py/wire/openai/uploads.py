"""Uploads: a file sent in parts of up to 64 MiB (each streamed to disk as it arrives), then
completed into a File from the parts it names, in their order."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import Response

from bifrost_py.domain.file_uploads import (
    FileUpload,
    check_md5,
    chosen_parts,
    part_limit,
    part_too_large,
)
from bifrost_py.errors import EntityTooLarge, InvalidRequestError
from bifrost_py.ports.files import Blob
from bifrost_py.wire.openai.form import read_form
from bifrost_py.wire.openai.request import OpenAIRequest, json_response
from bifrost_py.wire.openai.service import V1
from bifrost_py.wire.openai.shapes import part_object, upload_object
from bifrost_py.wire.openai.upload_params import completion, new_upload


async def create_upload(req: OpenAIRequest, v1: V1) -> Response:
    new = new_upload(await req.json(), v1.max_file_size)
    upload = await v1.uploads.create(req.tenant, new.filename, new.purpose, new.bytes,
                                     new.mime_type, new.file_lifetime)
    return json_response(upload_object(upload))


async def add_part(req: OpenAIRequest, v1: V1) -> Response:
    # The upload is checked before a byte of the body is read.
    upload = await v1.uploads.pending(req.tenant, req.labels["upload_id"])
    form, blob = await read_form(req.request, "data",
                                 lambda chunks: _write_part(v1, upload, chunks))
    if form.filename is None:
        v1.blobs.discard(blob)
        raise InvalidRequestError("'data' is a required property", param="data")
    return json_response(part_object(await v1.uploads.add_part(upload, blob)))


async def complete_upload(req: OpenAIRequest, v1: V1) -> Response:
    upload = await v1.uploads.pending(req.tenant, req.labels["upload_id"])
    asked = completion(await req.json())
    parts = chosen_parts(upload, asked.part_ids, await v1.uploads.parts(upload.upload_id))
    if asked.md5 is not None:
        check_md5(asked.md5, await v1.uploads.md5(parts))
    completed, file = await v1.uploads.complete(upload, parts)
    return json_response(upload_object(completed, file))


async def cancel_upload(req: OpenAIRequest, v1: V1) -> Response:
    upload = await v1.uploads.pending(req.tenant, req.labels["upload_id"])
    return json_response(upload_object(await v1.uploads.cancel(upload)))


async def _write_part(v1: V1, upload: FileUpload, chunks: AsyncIterator[bytes]) -> Blob:
    """The part's bytes in a blob of their own file (completion publishes it as a segment)."""
    uploaded = await v1.uploads.uploaded_bytes(upload.upload_id)
    try:
        return await v1.blobs.write(chunks, max_size=part_limit(uploaded, v1.max_file_size),
                                    inline=False)
    except EntityTooLarge:
        raise part_too_large(uploaded, v1.max_file_size) from None
