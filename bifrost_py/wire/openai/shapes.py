"""The objects of the OpenAI dialect as its API answers them: files, uploads, batches, lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from bifrost_py.domain.file_uploads import FileUpload, UploadPart
from bifrost_py.domain.jobs import (
    COMPLETED,
    EXPIRED,
    FAILED,
    IN_PROGRESS,
    PARTIALLY_COMPLETED,
    SCHEDULED,
    STOPPED,
    STOPPING,
    SUBMITTED,
    VALIDATING,
    Job,
)
from bifrost_py.ports.file_store import StoredFile

T = TypeVar("T")


def file_object(file: StoredFile) -> dict[str, Any]:
    return {"id": file.file_id, "object": "file", "bytes": file.bytes,
            "created_at": file.created_at, "filename": file.filename, "purpose": file.purpose,
            "status": "processed", "status_details": None, "expires_at": file.expires_at}


def upload_object(upload: FileUpload, file: StoredFile | None = None) -> dict[str, Any]:
    """An Upload; `file` is the File its completion made."""
    return {"id": upload.upload_id, "object": "upload", "bytes": upload.bytes,
            "created_at": upload.created_at, "filename": upload.filename,
            "purpose": upload.purpose, "status": upload.status, "expires_at": upload.expires_at,
            "file": file_object(file) if file is not None else None}


def part_object(part: UploadPart) -> dict[str, Any]:
    return {"id": part.part_id, "object": "upload.part", "created_at": part.created_at,
            "upload_id": part.upload_id}


# A job's status as a batch's: OpenAI's batches have no queued state before they run, and an
# expired batch is expired whether or not some of its requests were answered.
_STATUSES = {SUBMITTED: "validating", VALIDATING: "validating", SCHEDULED: "validating",
             IN_PROGRESS: "in_progress", STOPPING: "cancelling", STOPPED: "cancelled",
             COMPLETED: "completed", FAILED: "failed", EXPIRED: "expired",
             PARTIALLY_COMPLETED: "expired"}


def batch_object(job: Job) -> dict[str, Any]:
    extra, counts = job.extra, job.counts
    errors = extra.get("errors") or _failure(job)
    return {
        "id": job.name, "object": "batch", "endpoint": extra["endpoint"],
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": extra["input_file_id"], "completion_window": "24h",
        "status": _STATUSES[job.status], "output_file_id": extra.get("output_file_id"),
        "error_file_id": extra.get("error_file_id"), "created_at": int(job.submit_time),
        "in_progress_at": _at(job, IN_PROGRESS), "expires_at": int(job.expiration_time),
        "finalizing_at": _at(job, COMPLETED), "completed_at": _at(job, COMPLETED),
        "failed_at": _at(job, FAILED), "expired_at": _at(job, EXPIRED, PARTIALLY_COMPLETED),
        "cancelling_at": _at(job, STOPPING), "cancelled_at": _at(job, STOPPED),
        "request_counts": {"total": counts.total or 0, "completed": counts.success,
                           "failed": counts.errors},
        "metadata": extra.get("metadata"), "model": job.model_id or None,
    }


def _failure(job: Job) -> list[dict[str, Any]] | None:
    """Why a batch failed when no line is to blame (the provider refused it, the server's
    credentials were rejected): the job's message, as one error without a line."""
    if job.status != FAILED or not job.message:
        return None
    return [{"code": "batch_failed", "message": job.message, "param": None, "line": None}]


def _at(job: Job, *statuses: str) -> int | None:
    """When the job first had one of `statuses`, in whole seconds."""
    when = next((job.events[s] for s in statuses if s in job.events), None)
    return int(when) if when is not None else None


def page(items: Sequence[T], limit: int, render: Callable[[T], dict[str, Any]],
         ) -> dict[str, Any]:
    """A cursor page from up to `limit` + 1 items: the extra one only says there is more."""
    data = [render(item) for item in items[:limit]]
    return {"object": "list", "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(items) > limit}
