"""Bedrock control-plane handlers: decode with botocore's model, call the plane, encode."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from bifrost_py.domain.jobs import JobFilter, describe
from bifrost_py.jobs.control import ControlPlane
from bifrost_py.wire.auth.guard import permit
from bifrost_py.wire.bedrock.request import BedrockRequest, json_response
from bifrost_py.wire.bedrock.shapes import decode, operation


def _params(name: str, req: BedrockRequest, lenient: frozenset[str] = frozenset(),
            ) -> dict[str, Any]:
    return decode(operation(name), req.labels, req.query, req.body, lenient)


async def create_job(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("CreateModelInvocationJob", req, plane.lenient_fields(req.provider))
    permit(req.caller, "bedrock", req.provider, params["modelId"])
    tags = [(t["key"], t["value"]) for t in params.get("tags", [])]
    job = await plane.create(params, req.provider, tags, req.tenant)
    return json_response({"jobArn": job.arn})


async def get_job(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("GetModelInvocationJob", req)
    return json_response(describe(await plane.job(params["jobIdentifier"], req.tenant)))


async def list_jobs(req: BedrockRequest, plane: ControlPlane) -> Response:
    p = _params("ListModelInvocationJobs", req)
    where = JobFilter(req.tenant, p.get("statusEquals"), p.get("nameContains"),
                      p.get("submitTimeAfter"), p.get("submitTimeBefore"),
                      p.get("sortOrder") == "Ascending")
    summaries, token = await plane.list_jobs(where, p.get("maxResults", 1000), p.get("nextToken"))
    body: dict[str, Any] = {"invocationJobSummaries": summaries}
    if token:
        body["nextToken"] = token
    return json_response(body)


async def stop_job(req: BedrockRequest, plane: ControlPlane) -> Response:
    await plane.stop(_params("StopModelInvocationJob", req)["jobIdentifier"], req.tenant)
    return json_response({})


async def tag_resource(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("TagResource", req)
    tags = [(t["key"], t["value"]) for t in params["tags"]]
    await plane.tag(params["resourceARN"], req.tenant, tags)
    return json_response({})


async def untag_resource(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("UntagResource", req)
    await plane.untag(params["resourceARN"], req.tenant, params["tagKeys"])
    return json_response({})


async def list_tags(req: BedrockRequest, plane: ControlPlane) -> Response:
    tags = await plane.tags(_params("ListTagsForResource", req)["resourceARN"], req.tenant)
    return json_response({"tags": [{"key": k, "value": v} for k, v in tags]})
