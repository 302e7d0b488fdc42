"""The OpenAI dialect's way into jobs: a batch is a job whose input and outputs are files of the
Files API and whose lines are OpenAI's; the engines run it like any other."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bifrost_py.config import BedrockConfig, Config
from bifrost_py.domain.jobs import OPENAI, Job, job_arn, new_job_id
from bifrost_py.domain.tenancy import FILES_BUCKET
from bifrost_py.errors import ConflictError, InvalidRequestError, NotFoundError
from bifrost_py.jobs.capabilities import endpoints_of
from bifrost_py.ports.file_store import FileStore, StoredFile
from bifrost_py.ports.jobs import JobRepository

BATCH_PREFIX = "batch_"
WINDOWS = {"24h": 24}  # OpenAI's only completion window, in hours
MAX_METADATA = 16
# Below this many records AWS refuses a batch inference job (its quota "minimum number of
# records per batch inference job"): told at create, not hours later.
BEDROCK_MIN_RECORDS = 100
MAX_FIRST_LINE = 2**20  # read no further for a batch's model than this


class Batches:
    def __init__(self, config: Config, jobs: JobRepository, files: FileStore,
                 wake: Callable[[], None]) -> None:
        self.config = config
        self.jobs = jobs
        self.files = files
        self.wake = wake

    async def create(self, tenant: str, provider: str, params: dict[str, Any]) -> Job:
        kind = self.config.providers.kind(provider)
        endpoint = _endpoint(params.get("endpoint"), provider, kind)
        window = _window(params.get("completion_window"))
        metadata = _metadata(params.get("metadata"))
        source = await self._input(tenant, params.get("input_file_id"))
        if kind == "bedrock":
            self._bedrock_configured(provider)
            await self._enough_for_bedrock(source)
        server = self.config.server
        job_id, now = new_job_id(), time.time()
        job = Job(job_id=job_id, arn=job_arn(server.region, server.account_id, job_id),
                  name=BATCH_PREFIX + job_id, provider=provider, model_id="", role_arn="",
                  status="Submitted", submit_time=now, last_modified=now,
                  input_config={"s3InputDataConfig": {"s3Uri": source.uri}},
                  output_config={"s3OutputDataConfig": {"s3Uri": f"s3://{FILES_BUCKET}/"}},
                  timeout_hours=window, tenant=tenant, dialect=OPENAI,
                  extra={"endpoint": endpoint, "completion_window": "24h",
                         "metadata": metadata, "input_file_id": source.file_id})
        job = await self.jobs.create(job, [], server.max_jobs_in_flight_per_tenant)
        self.wake()
        return job

    async def model_of(self, tenant: str, file_id: Any) -> str | None:
        """The model of a batch on this file: its first line's, as the batch runs one model.
        None when the first line names none (the batch then fails its input check)."""
        source = await self._input(tenant, file_id)
        head = bytearray()
        async for chunk in self.files.read(source):
            head += chunk
            if b"\n" in head or len(head) > MAX_FIRST_LINE:
                break
        try:
            model = json.loads(head.split(b"\n", 1)[0])["body"]["model"]
        except (ValueError, TypeError, KeyError):
            return None
        return model if isinstance(model, str) else None

    async def get(self, tenant: str, batch_id: str) -> Job:
        """The tenant's batch; any other id (another tenant's, a Bedrock job's) is not found."""
        job = await self.jobs.find(batch_id.removeprefix(BATCH_PREFIX)) if batch_id.startswith(
            BATCH_PREFIX) else None
        if job is None or job.tenant != tenant or job.dialect != OPENAI:
            raise NotFoundError(f"No batch found with id '{batch_id}'.", param="batch_id")
        return job

    async def page(self, tenant: str, after: str | None, limit: int) -> list[Job]:
        """Up to `limit` of the tenant's batches after `after`, newest first."""
        cursor = await self.get(tenant, after) if after else None
        return await self.jobs.page(tenant, OPENAI, cursor, limit)

    async def cancel(self, tenant: str, batch_id: str) -> Job:
        job = await self.get(tenant, batch_id)
        if job.ended:
            raise ConflictError(f"Cannot cancel a batch with status '{job.status}'.")
        await self.jobs.request_stop(job.job_id)
        self.wake()
        return await self.get(tenant, batch_id)

    async def _input(self, tenant: str, file_id: Any) -> StoredFile:
        if not isinstance(file_id, str) or not file_id:
            raise InvalidRequestError("Missing required parameter: 'input_file_id'.",
                                      param="input_file_id")
        try:
            source = await self.files.get(tenant, file_id)
        except NotFoundError:
            raise NotFoundError(f"No file found with id '{file_id}'.",
                                param="input_file_id") from None
        if source.purpose != "batch":
            raise InvalidRequestError(f"The file {file_id} was not uploaded with purpose "
                                      "'batch'.", param="input_file_id")
        return source

    def _bedrock_configured(self, provider: str) -> None:
        bedrock = self.config.providers.instances[provider]
        if not isinstance(bedrock, BedrockConfig) or not bedrock.staging_uri or not (
                bedrock.role_arn):
            raise InvalidRequestError(
                f"The {provider} provider stages a batch's records in S3 and runs them with an "
                f"IAM role: set providers.{provider}.staging_uri and role_arn in the server's "
                "config.", param="endpoint")

    async def _enough_for_bedrock(self, source: StoredFile) -> None:
        records = 0
        async for chunk in self.files.read(source):
            records += chunk.count(b"\n")
        records += 0 if source.bytes == 0 else 1  # a last line without its newline
        if records < BEDROCK_MIN_RECORDS:
            raise InvalidRequestError(
                f"The bedrock provider runs batches on AWS Bedrock batch inference, which "
                f"takes at least {BEDROCK_MIN_RECORDS} records a job; this file has at most "
                f"{records}. Run smaller batches on another provider.", param="input_file_id")


def _endpoint(value: Any, provider: str, kind: str) -> str:
    runs = endpoints_of(kind)
    if value not in runs:
        raise InvalidRequestError(
            f"The endpoint {value!r} is not run by provider {provider!r}; it runs "
            f"{', '.join(sorted(runs))}.", param="endpoint")
    return str(value)


def _window(value: Any) -> int:
    if value not in WINDOWS:
        raise InvalidRequestError(f"Invalid completion_window {value!r}: supported values are "
                                  f"{', '.join(WINDOWS)}.", param="completion_window")
    return WINDOWS[value]


def _metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (not isinstance(value, dict) or len(value) > MAX_METADATA
            or not all(isinstance(k, str) and len(k) <= 64 and isinstance(v, str)
                       and len(v) <= 512 for k, v in value.items())):
        raise InvalidRequestError("metadata takes at most 16 pairs of string keys (up to 64 "
                                  "characters) and string values (up to 512).", param="metadata")
    return value
