"""The bedrock provider's jobs: real AWS Bedrock batch inference, run by the delegated engine.

Bedrock reads the Bedrock-format input from S3 and writes the outputs and manifest there itself,
so nothing is translated: the job is created upstream with the server's own credentials, polled,
and stopped. Its files are real S3, reached through the S3 pass-through (s3.py).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import cache
from typing import Any, NoReturn

import botocore.serialize
import botocore.session
import httpx
from botocore.awsrequest import create_request_object, prepare_request_dict
from botocore.model import OperationModel

from bifrost_py.aws.sigv4 import sign
from bifrost_py.config import BedrockConfig
from bifrost_py.domain.jobs import ENDED, Counts, Job, parse_s3_uri
from bifrost_py.ports.passthrough import BucketOwnership
from bifrost_py.ports.upstream import (
    Poll,
    Upstream,
    UpstreamAuth,
    UpstreamRefused,
    UpstreamUnavailable,
)
from bifrost_py.providers.bedrock.credentials import bedrock_credentials

PROVIDER = "bedrock"
# A role Bedrock can assume: the account is required (the API's own pattern leaves it optional).
_ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::\d{12}:role/.+")
_UNAVAILABLE = frozenset({"ThrottlingException", "ServiceUnavailableException",
                          "InternalServerException", "TooManyRequestsException"})
_AUTH = frozenset({"UnrecognizedClientException", "InvalidSignatureException",
                   "AccessDeniedException", "ExpiredTokenException",
                   "MissingAuthenticationTokenException", "IncompleteSignatureException"})
# A stop refused because the job already ended (or is stopping): the next poll tells how.
_STOP_TOO_LATE = frozenset({"ValidationException", "ConflictException"})
_MAX_BACKOFF = 8.0


class _Refused(UpstreamRefused):
    """A refusal that keeps AWS's error code, for the callers that care which it was."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(PROVIDER, f"{code}: {message}", status)
        self.code = code


class BedrockBatch:
    provider = PROVIDER

    def __init__(self, settings: BedrockConfig, model_name: Callable[[str], str],
                 owners: BucketOwnership) -> None:
        self.settings = settings
        self.model_name = model_name
        self.owners = owners
        self.endpoint = (settings.bedrock_endpoint_url
                         or f"https://bedrock.{settings.region}.amazonaws.com").rstrip("/")
        self.credentials = bedrock_credentials(settings)
        self.client = httpx.AsyncClient(timeout=settings.timeout_seconds)

    async def submit(self, job: Job) -> Upstream:
        """CreateModelInvocationJob; our job id is the idempotency token, so a crash between
        this call and saving its answer creates no second job when the submit is repeated."""
        for uri in (job.input_uri, job.output_uri):
            if not await self.owners.visible(parse_s3_uri(uri)[0], job.tenant):
                # As if the bucket did not exist: another tenant's is never a hint.
                raise UpstreamRefused(PROVIDER, f"The S3 location {uri} cannot be accessed: "
                                                "NoSuchBucket")
        params: dict[str, Any] = {
            "jobName": job.name, "roleArn": self._role(job), "clientRequestToken": job.job_id,
            "modelId": self.model_name(job.model_id), "inputDataConfig": job.input_config,
            "outputDataConfig": job.output_config,
            "timeoutDurationInHours": job.timeout_hours}
        if job.invocation_type:
            params["modelInvocationType"] = job.invocation_type
        if job.vpc_config:
            params["vpcConfig"] = job.vpc_config
        answer = await self.call("CreateModelInvocationJob", params)
        arn = answer.get("jobArn")
        if not isinstance(arn, str):
            raise UpstreamUnavailable(PROVIDER, "CreateModelInvocationJob answered no jobArn")
        return {"arn": arn}

    async def poll(self, job: Job, upstream: Upstream) -> Poll:
        answer = await self.call("GetModelInvocationJob", {"jobIdentifier": upstream["arn"]})
        status = str(answer.get("status", "Submitted"))
        counts = Counts(answer.get("totalRecordCount"), answer.get("processedRecordCount", 0),
                        answer.get("successRecordCount", 0), answer.get("errorRecordCount", 0))
        return Poll(status, counts, answer.get("message"), results_ready=status in ENDED)

    async def cancel(self, job: Job, upstream: Upstream) -> None:
        try:
            await self.call("StopModelInvocationJob", {"jobIdentifier": upstream["arn"]})
        except _Refused as refused:
            if refused.code not in _STOP_TOO_LATE:
                raise

    async def aclose(self) -> None:
        await self.client.aclose()

    def _role(self, job: Job) -> str:
        if _ROLE_ARN.fullmatch(job.role_arn):
            return job.role_arn
        if self.settings.role_arn:
            return self.settings.role_arn
        raise UpstreamRefused(PROVIDER, f"roleArn {job.role_arn!r} is not an IAM role ARN with "
                              "an account id, and providers.bedrock.role_arn is not set: give "
                              "the job a role Bedrock can assume, or configure one", 400)

    async def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """One operation, retried on throttling, 5xx and connection errors up to max_retries
        times (then the engine's own backoff takes over)."""
        attempt = 0
        while True:
            try:
                return await self._send(operation, params)
            except UpstreamUnavailable:
                if attempt >= self.settings.max_retries:
                    raise
            await asyncio.sleep(min(0.25 * 2**attempt, _MAX_BACKOFF))
            attempt += 1

    async def _send(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        # botocore's own serializer and signer: the request is byte for byte what boto3 sends.
        request_dict = _serializer().serialize_to_request(params, _operation(operation))
        prepare_request_dict(request_dict, self.endpoint)
        request = create_request_object(request_dict)
        sign(request, await self.credentials.current(), "bedrock", self.settings.region)
        prepared = request.prepare()
        try:
            response = await self.client.send(httpx.Request(
                prepared.method, prepared.url, headers=list(prepared.headers.items()),
                content=prepared.body or b""))
        except httpx.TransportError as exc:
            raise UpstreamUnavailable(PROVIDER, f"cannot reach {self.endpoint} "
                                      f"({type(exc).__name__})") from None
        return _answer(operation, response)


def _answer(operation: str, response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamUnavailable(PROVIDER, f"{operation} answered HTTP {response.status_code} "
                                  "with a body that is not a JSON object")
    if response.is_success:
        return body
    _raise_error(response, body)


def _raise_error(response: httpx.Response, body: dict[str, Any]) -> NoReturn:
    """AWS's error as ours: x-amzn-ErrorType ("Code:uri" or "Code") or the body's __type."""
    status = response.status_code
    code = (response.headers.get("x-amzn-errortype", "").split(":")[0]
            or str(body.get("__type", "")).rsplit("#", 1)[-1] or f"HTTP{status}")
    message = str(body.get("message") or body.get("Message") or response.reason_phrase)
    if code in _UNAVAILABLE or status == 429 or status >= 500:
        raise UpstreamUnavailable(PROVIDER, f"{code}: {message}", status)
    if code in _AUTH or status in (401, 403):
        raise UpstreamAuth(PROVIDER, f"AWS rejected this server's credentials "
                           f"([providers.bedrock]): {code}: {message}", status)
    raise _Refused(code, message, status)


@cache
def _operation(name: str) -> OperationModel:
    return botocore.session.get_session().get_service_model("bedrock").operation_model(name)


@cache
def _serializer() -> botocore.serialize.Serializer:
    return botocore.serialize.create_serializer("rest-json", include_validation=False)
