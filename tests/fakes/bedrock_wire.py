"""The Bedrock control plane's wire, as botocore's service model defines it: a job's record
(`_Job`) and how it is described (GetModelInvocationJob), requests validated against the model,
and rest-json answers and errors (`AwsError`, `x-amzn-ErrorType`).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import botocore.session
from botocore.model import Shape
from starlette.responses import Response

_MODEL = botocore.session.get_session().get_service_model("bedrock")
_CODES = {400: "ValidationException", 403: "AccessDeniedException",
          404: "ResourceNotFoundException", 409: "ConflictException",
          429: "ThrottlingException", 500: "InternalServerException",
          503: "ServiceUnavailableException"}


class AwsError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class _Job:
    job_id: str
    arn: str
    spec: dict[str, Any]  # the create request as it came
    outcome: str
    submit_time: float = field(default_factory=time.time)
    modified: float = field(default_factory=time.time)
    end_time: float | None = None
    status: str = "Submitted"
    message: str | None = None
    stop_requested: bool = False
    total: int = 0
    processed: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _parse(body: bytes, operation: str) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as error:
        raise AwsError(400, "SerializationException", "The body is not JSON.") from error
    _check(operation, value)
    return dict(value)


def _check(operation: str, value: Any) -> None:
    problem = _violation(_MODEL.operation_model(operation).input_shape, value, "")
    if problem:
        raise AwsError(400, "ValidationException", f"1 validation error detected: {problem}")


def _violation(shape: Shape, value: Any, where: str) -> str | None:
    """The first breach of botocore's model (type, required, length, range, enum, pattern), as
    AWS words it; botocore itself checks only required members client-side."""
    kind, meta = shape.type_name, shape.metadata
    at = f"Value '{value}' at '{where.rstrip('.')}' failed to satisfy constraint: Member must"
    expected = {"structure": dict, "list": list, "string": str, "integer": int, "long": int}
    if kind in expected and (not isinstance(value, expected[kind]) or isinstance(value, bool)):
        return f"{at} be of type {kind}"
    if kind == "structure":
        missing = next((name for name in shape.required_members if value.get(name) is None), None)
        if missing:
            return (f"Value null at '{where}{missing}' failed to satisfy constraint: "
                    "Member must not be null")
        problems = (_violation(shape.members[name], item, f"{where}{name}.")
                    for name, item in value.items() if name in shape.members)
        return next((problem for problem in problems if problem), None)
    size = value if kind in ("integer", "long") else len(value) if kind in expected else None
    what = "value" if kind in ("integer", "long") else "length"
    if size is not None and size < meta.get("min", size):
        return f"{at} have {what} greater than or equal to {meta['min']}"
    if size is not None and size > meta.get("max", size):
        return f"{at} have {what} less than or equal to {meta['max']}"
    if kind == "string" and "enum" in meta and value not in meta["enum"]:
        return f"{at} satisfy enum value set: [{', '.join(meta['enum'])}]"
    if kind == "string" and "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        return f"{at} satisfy regular expression pattern: {meta['pattern']}"
    if kind == "list":
        problems = (_violation(shape.member, item, f"{where}{i + 1}.")
                    for i, item in enumerate(value))
        return next((problem for problem in problems if problem), None)
    return None


def _describe(job: _Job) -> dict[str, Any]:
    """Every member of GetModelInvocationJob's output (vpcConfig, message, endTime when set)."""
    spec = job.spec
    hours = spec.get("timeoutDurationInHours", 168)
    answer = {"jobArn": job.arn, "jobName": spec["jobName"], "modelId": spec["modelId"],
              "clientRequestToken": spec.get("clientRequestToken"), "roleArn": spec["roleArn"],
              "status": job.status, "message": job.message, "submitTime": _iso(job.submit_time),
              "lastModifiedTime": _iso(job.modified),
              "endTime": _iso(job.end_time) if job.end_time else None,
              "inputDataConfig": spec["inputDataConfig"],
              "outputDataConfig": spec["outputDataConfig"], "vpcConfig": spec.get("vpcConfig"),
              "timeoutDurationInHours": hours,
              "jobExpirationTime": _iso(job.submit_time + hours * 3600),
              "modelInvocationType": spec.get("modelInvocationType", "InvokeModel"),
              "totalRecordCount": job.total, "processedRecordCount": job.processed,
              "successRecordCount": job.success, "errorRecordCount": job.errors}
    return {key: value for key, value in answer.items() if value is not None}


def _iso(timestamp: float) -> str:
    millis = int(timestamp * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{millis:03d}Z"


def _json(value: dict[str, Any], status: int = 200,
          headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value).encode(), status,
                    {"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})},
                    "application/json")


def _error(error: AwsError) -> Response:
    headers = {"x-amzn-ErrorType": error.code}
    if error.status == 429:
        headers["Retry-After"] = "0"
    return _json({"message": error.message}, error.status, headers)
