"""Batch inference jobs as plain values: identity, statuses and the shapes Get and List return."""

from __future__ import annotations

import re
import secrets
import string
from dataclasses import dataclass, field
from typing import Any

from bifrost_py.domain.tenancy import OPEN
from bifrost_py.domain.timefmt import iso

SUBMITTED, VALIDATING, SCHEDULED, IN_PROGRESS = "Submitted", "Validating", "Scheduled", "InProgress"
STOPPING, STOPPED, COMPLETED, PARTIALLY_COMPLETED = ("Stopping", "Stopped", "Completed",
                                                     "PartiallyCompleted")
FAILED, EXPIRED = "Failed", "Expired"
STATUSES = (SUBMITTED, VALIDATING, SCHEDULED, IN_PROGRESS, STOPPING, STOPPED, COMPLETED,
            PARTIALLY_COMPLETED, FAILED, EXPIRED)
ENDED = frozenset({STOPPED, COMPLETED, PARTIALLY_COMPLETED, FAILED, EXPIRED})
# The dialects a job may be created through.
BEDROCK, OPENAI = "bedrock", "openai"
DEFAULT_TIMEOUT_HOURS = 24

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ARN = re.compile(r"^arn:aws(?:-[^:]+)?:bedrock:[^:]*:\d{12}:model-invocation-job/([a-z0-9]{12})$")


def new_job_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def job_arn(region: str, account_id: str, job_id: str) -> str:
    return f"arn:aws:bedrock:{region}:{account_id}:model-invocation-job/{job_id}"


def job_id_of(identifier: str) -> str | None:
    """The job id in a jobIdentifier (the ARN or the bare id), or None if it names no job."""
    match = _ARN.match(identifier)
    if match:
        return match.group(1)
    return identifier if re.fullmatch(r"[a-z0-9]{12}", identifier) else None


@dataclass(frozen=True)
class Counts:
    total: int | None = None
    processed: int = 0
    success: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class Job:
    job_id: str
    arn: str
    name: str
    provider: str
    model_id: str
    role_arn: str
    status: str
    submit_time: float
    last_modified: float
    input_config: dict[str, Any]
    output_config: dict[str, Any]
    timeout_hours: int = DEFAULT_TIMEOUT_HOURS
    client_token: str | None = None
    message: str | None = None
    end_time: float | None = None
    vpc_config: dict[str, Any] | None = None
    invocation_type: str | None = None
    counts: Counts = field(default_factory=Counts)
    stop_requested: bool = False
    upstream: dict[str, Any] | None = None  # the provider's own ids and state, for remote jobs
    tenant: str = OPEN  # the tenant of the key that created it
    dialect: str = BEDROCK  # the API the job was created through, which its outputs speak
    extra: dict[str, Any] = field(default_factory=dict)  # the dialect's own fields
    events: dict[str, float] = field(default_factory=dict)  # status -> when it was first had
    cost: float | None = None  # dollars, from [prices], set once the job has ended

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @property
    def input_uri(self) -> str:
        return str(self.input_config["s3InputDataConfig"]["s3Uri"])

    @property
    def output_uri(self) -> str:
        return str(self.output_config["s3OutputDataConfig"]["s3Uri"])

    @property
    def expiration_time(self) -> float:
        return self.submit_time + self.timeout_hours * 3600


@dataclass(frozen=True)
class JobTotals:
    """The jobs of one provider in one status, and what they have counted between them."""

    provider: str
    status: str
    jobs: int
    processed: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost: float


@dataclass(frozen=True)
class JobFilter:
    """What ListModelInvocationJobs asks for: a tenant's jobs, narrowed."""

    tenant: str
    status: str | None = None
    name_contains: str | None = None
    submitted_after: float | None = None
    submitted_before: float | None = None
    ascending: bool = False
    dialect: str = BEDROCK


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key or prefix) of an s3:// URI."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri} is not an s3:// URI")
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def new_job(params: dict[str, Any], provider: str, region: str, account_id: str,
            now: float, tenant: str = OPEN) -> Job:
    """A Submitted job from a validated CreateModelInvocationJob request."""
    job_id = new_job_id()
    return Job(
        job_id=job_id, arn=job_arn(region, account_id, job_id), name=params["jobName"],
        provider=provider, model_id=params["modelId"], role_arn=params["roleArn"],
        status=SUBMITTED, submit_time=now, last_modified=now,
        input_config=params["inputDataConfig"], output_config=params["outputDataConfig"],
        timeout_hours=params.get("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS),
        client_token=params.get("clientRequestToken"), vpc_config=params.get("vpcConfig"),
        invocation_type=params.get("modelInvocationType"), tenant=tenant)


def describe(job: Job) -> dict[str, Any]:
    """GetModelInvocationJob's answer."""
    return _without_none({
        **summary(job),
        "clientRequestToken": job.client_token,
        "vpcConfig": job.vpc_config,
    })


def summary(job: Job) -> dict[str, Any]:
    """One entry of ListModelInvocationJobs."""
    c = job.counts
    return _without_none({
        "jobArn": job.arn, "jobName": job.name, "modelId": job.model_id,
        "clientRequestToken": job.client_token, "roleArn": job.role_arn, "status": job.status,
        "message": job.message, "submitTime": iso(job.submit_time),
        "lastModifiedTime": iso(job.last_modified),
        "endTime": iso(job.end_time) if job.end_time else None,
        "inputDataConfig": job.input_config, "outputDataConfig": job.output_config,
        "vpcConfig": job.vpc_config, "timeoutDurationInHours": job.timeout_hours,
        "jobExpirationTime": iso(job.expiration_time),
        "modelInvocationType": job.invocation_type,
        "totalRecordCount": c.total, "processedRecordCount": c.processed,
        "successRecordCount": c.success, "errorRecordCount": c.errors,
    })


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
