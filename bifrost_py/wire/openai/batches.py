"""Batches: create, retrieve, list (cursor paging), cancel."""

from __future__ import annotations

from starlette.responses import Response

from bifrost_py.wire.auth.guard import permit
from bifrost_py.wire.openai.limits import query_int
from bifrost_py.wire.openai.request import OpenAIRequest, json_response
from bifrost_py.wire.openai.service import V1
from bifrost_py.wire.openai.shapes import batch_object, page

MAX_LIST = 100


async def create_batch(req: OpenAIRequest, v1: V1) -> Response:
    params = await req.json()
    if req.caller is not None and req.caller.key.models:
        model = await v1.batches.model_of(req.tenant, params.get("input_file_id"))
        permit(req.caller, "openai", req.provider, model)
    job = await v1.batches.create(req.tenant, req.provider, params)
    return json_response(batch_object(job))


async def retrieve_batch(req: OpenAIRequest, v1: V1) -> Response:
    return json_response(batch_object(await v1.batches.get(req.tenant, req.labels["batch_id"])))


async def list_batches(req: OpenAIRequest, v1: V1) -> Response:
    limit = query_int(req.query, "limit", 20, 1, MAX_LIST)
    found = await v1.batches.page(req.tenant, req.query.get("after"), limit + 1)
    return json_response(page(found, limit, batch_object))


async def cancel_batch(req: OpenAIRequest, v1: V1) -> Response:
    job = await v1.batches.cancel(req.tenant, req.labels["batch_id"])
    return json_response(batch_object(job))
