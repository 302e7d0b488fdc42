"""Bedrock control-plane handlers: decode with botocore's model, call the plane, encode."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from bifrost_py.control import ControlPlane
from bifrost_py.domain.jobs import describe
from bifrost_py.store.jobs import JobFilter
from bifrost_py.wire.auth.guard import permit
from bifrost_py.wire.bedrock.request import BedrockRequest, json_response
from bifrost_py.wire.bedrock.shapes import decode, operation

# Only real AWS needs a real IAM role and a Bedrock model id; the other providers take any string,
# as the user's reference examples do ("not-required-for-openai", "gpt-4.1").
_RELAXED = frozenset({"roleArn", "modelId"})


def _params(name: str, req: BedrockRequest, relaxed: frozenset[str] = frozenset(),
            ) -> dict[str, Any]:
    return decode(operation(name), req.labels, req.query, req.body, relaxed)


def _relaxed(provider: str, plane: ControlPlane) -> frozenset[str]:
    if provider != "bedrock":
        return _RELAXED
    bedrock = plane.config.providers.bedrock
    # With a role configured on the server, the request's roleArn may be any placeholder.
    return frozenset({"roleArn"}) if bedrock is not None and bedrock.role_arn else frozenset()


async def create_job(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("CreateModelInvocationJob", req, _relaxed(req.provider, plane))
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
    summaries, token = await plane.jobs.list_summaries(where, p.get("maxResults", 1000),
                                                       p.get("nextToken"))
    body: dict[str, Any] = {"invocationJobSummaries": summaries}
    if token:
        body["nextToken"] = token
    return json_response(body)


async def stop_job(req: BedrockRequest, plane: ControlPlane) -> Response:
    await plane.stop(_params("StopModelInvocationJob", req)["jobIdentifier"], req.tenant)
    return json_response({})


async def tag_resource(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("TagResource", req)
    job = await plane.tagged_job(params["resourceARN"], req.tenant)
    await plane.jobs.tag(job.arn, [(t["key"], t["value"]) for t in params["tags"]])
    return json_response({})


async def untag_resource(req: BedrockRequest, plane: ControlPlane) -> Response:
    params = _params("UntagResource", req)
    job = await plane.tagged_job(params["resourceARN"], req.tenant)
    await plane.jobs.untag(job.arn, params["tagKeys"])
    return json_response({})


async def list_tags(req: BedrockRequest, plane: ControlPlane) -> Response:
    job = await plane.tagged_job(_params("ListTagsForResource", req)["resourceARN"],
                                 req.tenant)
    tags = await plane.jobs.tags(job.arn)
    return json_response({"tags": [{"key": k, "value": v} for k, v in tags]})
