"""A job's end as an event: its name for [[webhooks]] and the JSON it is sent as, shaped like
the "Batch Inference Job State Change" event Bedrock sends to EventBridge."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from bifrost_py.domain.jobs import COMPLETED, EXPIRED, FAILED, PARTIALLY_COMPLETED, STOPPED, Job
from bifrost_py.domain.timefmt import iso_seconds

EVENT_NAMES = {COMPLETED: "job.completed", PARTIALLY_COMPLETED: "job.partially_completed",
               FAILED: "job.failed", STOPPED: "job.stopped", EXPIRED: "job.expired"}


def new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class JobEvent:
    event_id: str
    job_id: str
    status: str  # the Bedrock status the job ended with
    created: float

    @property
    def name(self) -> str:
        return EVENT_NAMES[self.status]


def event_body(event: JobEvent, job: Job, region: str, account_id: str) -> dict[str, Any]:
    """EventBridge's envelope and Bedrock's detail fields, with this server's additions
    (provider, tenant, dialect, tokens, cost) in the detail."""
    counts = job.counts
    return {
        "version": "0", "id": event.event_id,
        "detail-type": "Batch Inference Job State Change", "source": "aws.bedrock",
        "account": account_id, "time": iso_seconds(event.created), "region": region,
        "resources": [job.arn],
        "detail": {
            "version": "0.0", "accountId": account_id, "batchJobName": job.name,
            "batchJobArn": job.arn, "batchModelId": job.model_id, "status": job.status,
            "failureMessage": (job.message or "") if job.status == FAILED else "",
            "processedRecordCount": counts.processed, "successRecordCount": counts.success,
            "errorRecordCount": counts.errors, "inputTokenCount": counts.input_tokens,
            "outputTokenCount": counts.output_tokens, "cost": job.cost,
            "provider": job.provider, "tenant": job.tenant, "dialect": job.dialect,
            "event": event.name,
        },
    }
