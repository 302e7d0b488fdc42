"""The rules of OpenAI's Uploads, apart from any server: when an upload still takes parts, how
large a part may be, and which parts, in which order, complete it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace

import pytest

from bifrost_py.domain.file_uploads import (
    CANCELLED,
    EXPIRED,
    MAX_PART_BYTES,
    PENDING,
    FileUpload,
    UploadPart,
    check_md5,
    check_mime_type,
    chosen_parts,
    part_limit,
    part_too_large,
    require_pending,
    status_at,
)
from bifrost_py.errors import AwsError, InvalidRequestError

UPLOAD = FileUpload("upload_1", "t", "a.jsonl", "batch", 5, "application/jsonl", 100, 3700,
                    PENDING)
PARTS = [UploadPart("part_a", "upload_1", 101, 2, "blob-a"),
         UploadPart("part_b", "upload_1", 102, 3, "blob-b")]


def refused(call: Callable[..., object], *args: object) -> AwsError:
    with pytest.raises(InvalidRequestError) as info:
        call(*args)
    error: AwsError = info.value
    return error


def test_a_pending_upload_expires_at_its_hour() -> None:
    assert status_at(UPLOAD, 3699.9) == PENDING
    assert status_at(UPLOAD, 3700) == EXPIRED
    require_pending(UPLOAD, 3699)
    error = refused(require_pending, UPLOAD, 3700)
    assert error.message.startswith("Upload upload_1 is expired")
    assert error.extra.get("param") is None and error.status == 400


def test_an_ended_upload_stays_ended() -> None:
    cancelled = replace(UPLOAD, status=CANCELLED)
    assert status_at(cancelled, 5000) == CANCELLED
    assert refused(require_pending, cancelled, 0).message.startswith(
        "Upload upload_1 is cancelled")


@pytest.mark.parametrize(("purpose", "mime_type", "allowed"), [
    ("batch", "application/jsonl", True), ("batch", "application/x-ndjson", False),
    ("fine-tune", "application/x-ndjson", True), ("fine-tune", "text/plain", False),
    ("vision", "image/webp", True), ("vision", "application/pdf", False),
    ("assistants", "application/pdf", True), ("user_data", "anything/at-all", True)])
def test_mime_types_by_purpose(purpose: str, mime_type: str, allowed: bool) -> None:
    if allowed:
        check_mime_type(purpose, mime_type)
    else:
        assert refused(check_mime_type, purpose, mime_type).extra["param"] == "mime_type"


def test_a_part_may_fill_what_is_left_up_to_64_mib() -> None:
    assert part_limit(0, 2**40) == MAX_PART_BYTES
    assert part_limit(900, 1000) == 100
    assert part_limit(1200, 1000) == 0
    assert "at most" in part_too_large(0, 2**40).message
    assert "exceed 1000 bytes" in part_too_large(900, 1000).message
    assert part_too_large(900, 1000).extra["param"] == "data"


def test_parts_are_chosen_in_the_order_named() -> None:
    assert chosen_parts(UPLOAD, ["part_b", "part_a"], PARTS) == [PARTS[1], PARTS[0]]


@pytest.mark.parametrize(("part_ids", "message"), [
    (["part_a", "part_x"], "No such part in upload upload_1: part_x"),
    (["part_a", "part_a"], "Part part_a is named more than once."),
    (["part_b"], "The parts hold 3 bytes, but upload upload_1 was created with bytes=5."),
    ([], "The parts hold 0 bytes, but upload upload_1 was created with bytes=5.")])
def test_parts_that_cannot_complete_the_upload(part_ids: list[str], message: str) -> None:
    error = refused(chosen_parts, UPLOAD, part_ids, PARTS)
    assert (error.message, error.extra["param"]) == (message, "part_ids")


def test_another_uploads_part_is_no_part_of_this_one() -> None:
    stranger = UploadPart("part_s", "upload_2", 101, 5, "blob-s")
    assert refused(chosen_parts, UPLOAD, ["part_s"], [*PARTS, stranger]).message == (
        "No such part in upload upload_1: part_s")


def test_md5_is_compared_as_hex_in_any_case() -> None:
    digest = hashlib.md5(b"x").hexdigest()
    check_md5(digest.upper(), digest)
    assert refused(check_md5, "0" * 32, digest).extra["param"] == "md5"
