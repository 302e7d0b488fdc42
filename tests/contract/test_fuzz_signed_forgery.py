"""Unsigned and badly signed mutations of store-changing requests (S3 PutObject, DeleteObject,
DeleteObjects, CreateBucket, DeleteBucket, CreateMultipartUpload; Bedrock CreateModelInvocationJob,
TagResource, UntagResource, StopModelInvocationJob).

Properties: each gets 400 or 403 (or, on /bedrock, 404 for a path that no longer routes) and
changes nothing; and those of every answer (fuzz_signed.py) and of the store
(fuzz_signed_fixtures.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import string
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.testing import RunningServer
from tests.contract.bad_input_helpers import md5_b64
from tests.contract.fuzz_signed import (
    BEDROCK_MOUNT,
    EMPTY_BUCKET,
    FORGED_BUCKET,
    FORGED_JOB,
    FUZZ_BUCKET,
    IO_BUCKET,
    KEY_ID,
    REGION,
    S3_MOUNT,
    SECRET,
    SLOW_MODEL,
    UNKNOWN_ID,
    VICTIMS,
    WRONG_SECRET,
    Request,
    Signer,
    check_bedrock_answer,
    check_s3_answer,
    exchange,
    fuzz_settings,
    job_template,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels, create_job, job_tags, put_victims
from tests.contract.keys_helpers import upload_input

BASES = ["s3-put", "s3-delete", "s3-delete-objects", "s3-create-bucket", "s3-delete-bucket",
         "s3-create-upload", "bedrock-create", "bedrock-tag", "bedrock-untag", "bedrock-stop"]
MUTATIONS = ["no-auth", "path-byte", "query-byte", "body-byte", "signature", "truncate-auth",
             "garbage-auth", "wrong-secret", "unknown-key", "scope-region", "scope-service",
             "scope-date", "date", "old-date", "host", "unsigned-header", "presign-v2",
             "presign-v4", "both-mechanisms", "bearer"]
SAFE_CHARS = string.ascii_letters + string.digits + "-._~"
BODILESS = frozenset({"s3-delete", "s3-delete-bucket", "s3-create-upload"})


@dataclass(frozen=True)
class Forgery:
    base: str
    mutation: str
    at: int
    char: str
    text: str


forgeries = st.builds(Forgery, base=st.sampled_from(BASES), mutation=st.sampled_from(MUTATIONS),
                      at=st.integers(0, 10**6), char=st.sampled_from(SAFE_CHARS),
                      text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                                   max_size=40) | st.sampled_from(["", "1", "99999999999",
                                                                   "-1"]))


def base_request(base: str, signer: Signer, victim_arn: str) -> Request:
    """A request that, sent as it is, would change the store."""
    delete_body = b"<Delete><Object><Key>victim-0</Key></Object></Delete>"
    job = json.dumps({**job_template(FORGED_JOB), "tags": []}).encode()
    builders: dict[str, Callable[[], Request]] = {
        "s3-put": lambda: signer.s3("PUT", f"/{FUZZ_BUCKET}/victim-0", "", b"forged bytes"),
        "s3-delete": lambda: signer.s3("DELETE", f"/{FUZZ_BUCKET}/victim-0"),
        "s3-delete-objects": lambda: signer.s3("POST", f"/{FUZZ_BUCKET}", "delete", delete_body,
                                               {"Content-MD5": md5_b64(delete_body)}),
        "s3-create-bucket": lambda: signer.s3("PUT", f"/{FORGED_BUCKET}"),
        "s3-delete-bucket": lambda: signer.s3("DELETE", f"/{EMPTY_BUCKET}"),
        "s3-create-upload": lambda: signer.s3("POST", f"/{FUZZ_BUCKET}/forged-upload",
                                              "uploads"),
        "bedrock-create": lambda: signer.bedrock("POST", "/model-invocation-job", "", job),
        "bedrock-tag": lambda: signer.bedrock("POST", "/tagResource", "", json.dumps(
            {"resourceARN": victim_arn, "tags": [{"key": "forged", "value": "yes"}]}).encode()),
        "bedrock-untag": lambda: signer.bedrock("POST", "/untagResource", "", json.dumps(
            {"resourceARN": victim_arn, "tagKeys": ["keep"]}).encode()),
        "bedrock-stop": lambda: signer.bedrock(
            "POST", f"/model-invocation-job/{quote(victim_arn, safe='')}/stop"),
    }
    return builders[base]()


def _replace_at(text: str, start: int, at: int, char: str) -> str:
    """`text` with one character at or after `start` replaced by a different `char`."""
    index = start + at % max(len(text) - start, 1)
    if index >= len(text):
        return text + char
    new = char if text[index] != char else ("a" if char != "a" else "b")
    return text[:index] + new + text[index + 1:]


def forge(forgery: Forgery, port: int, victim_arn: str) -> Request:
    """The base request, signed, then damaged by `forgery.mutation`."""
    signer = Signer(port)
    if forgery.mutation == "wrong-secret":
        signer = Signer(port, KEY_ID, WRONG_SECRET)
    elif forgery.mutation == "unknown-key":
        signer = Signer(port, UNKNOWN_ID, SECRET)
    request = base_request(forgery.base, signer, victim_arn)
    auth = request.header("Authorization") or ""
    s3 = request.service == "s3"
    mount = len(S3_MOUNT if s3 else BEDROCK_MOUNT) + 1
    mutation = forgery.mutation
    if mutation in ("wrong-secret", "unknown-key"):
        return request
    if mutation == "body-byte" and forgery.base in BODILESS:
        # These operations never read a body: one added after signing changes nothing they do.
        mutation = "signature"
    if mutation == "unsigned-header" and not s3:
        # /bedrock binds only the headers it was told are signed, as SigV4 does: an extra one
        # is a replay of the signed request, not a forgery of another.
        mutation = "host"
    if mutation == "no-auth":
        return request.with_header("Authorization", None)
    if mutation == "path-byte":
        return dataclasses.replace(request, path=_replace_at(request.path, mount, forgery.at,
                                                             forgery.char))
    if mutation == "query-byte":
        query = _replace_at(request.query, 0, forgery.at, forgery.char) if request.query \
            else f"x-id={forgery.char}"
        return dataclasses.replace(request, query=query)
    if mutation == "body-byte":
        body = request.body or b"{}"
        at = forgery.at % len(body)
        return request.with_body(body[:at] + bytes([body[at] ^ 0x20 or 1]) + body[at + 1:])
    if mutation == "signature":
        head, _, signature = auth.rpartition("Signature=")
        return request.with_header("Authorization",
                                   head + "Signature=" + _replace_at(signature, 0, forgery.at,
                                                                     forgery.char.lower()))
    if mutation == "truncate-auth":
        return request.with_header("Authorization", auth[:forgery.at % len(auth)])
    if mutation == "garbage-auth":
        return request.with_header("Authorization", ("AWS4-HMAC-SHA256 " if forgery.at % 2
                                                     else "") + forgery.text)
    if mutation.startswith("scope-"):
        date = (request.header("X-Amz-Date") or "")[:8]
        old, new = {"scope-region": (f"/{REGION}/", "/us-east-1/"),
                    "scope-service": ("/s3/" if s3 else "/bedrock/", "/s3/" if not s3 else
                                      "/bedrock/"),
                    "scope-date": (f"/{date}/", "/19990101/")}[mutation]
        return request.with_header("Authorization", auth.replace(old, new))
    if mutation in ("date", "old-date"):
        stamp = time.gmtime(time.time() + (1 if mutation == "date" else -1200))
        return request.with_header("X-Amz-Date", time.strftime("%Y%m%dT%H%M%SZ", stamp))
    if mutation == "host":
        return request.with_header("Host", f"localhost:{port}")
    if mutation == "unsigned-header":
        return request.with_header("x-amz-meta-forged", forgery.text or "yes")
    unsigned = request.with_header("Authorization", None)
    if mutation == "presign-v2":
        return dataclasses.replace(unsigned, query="&".join(filter(None, [
            request.query, f"AWSAccessKeyId={KEY_ID}",
            f"Signature={quote(forgery.text, safe='')}",
            f"Expires={quote(forgery.text or str(int(time.time()) + 600), safe='')}"])))
    if mutation == "presign-v4":
        now = time.gmtime()
        credential = f"{KEY_ID}/{time.strftime('%Y%m%d', now)}/{REGION}/s3/aws4_request"
        return dataclasses.replace(unsigned, query="&".join(filter(None, [
            request.query, "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            f"X-Amz-Credential={quote(credential, safe='')}",
            f"X-Amz-Date={time.strftime('%Y%m%dT%H%M%SZ', now)}",
            f"X-Amz-Expires={quote(forgery.text, safe='')}", "X-Amz-SignedHeaders=host",
            f"X-Amz-Signature={'0' * 64}"])))
    if mutation == "both-mechanisms":
        return dataclasses.replace(request, query="&".join(filter(None, [
            request.query, f"X-Amz-Signature={'0' * 64}"])))
    assert mutation == "bearer", mutation
    return request.with_header("Authorization", f"Bearer {forgery.text or 'x'}")


class Victims:
    """What the forged requests would change, and the check that they did not."""

    def __init__(self, s3: Any, bedrock: Any, job_arn: str) -> None:
        self.s3 = s3
        self.bedrock = bedrock
        self.job_arn = job_arn

    def _bucket_exists(self, name: str) -> bool:
        try:
            self.s3.head_bucket(Bucket=name)
        except ClientError:
            return False
        return True

    def check(self, base: str, context: Any) -> None:
        if base in ("s3-put", "s3-delete", "s3-delete-objects"):
            got = self.s3.get_object(Bucket=FUZZ_BUCKET, Key="victim-0")
            assert got["Body"].read() == VICTIMS["victim-0"], context
        elif base == "s3-create-bucket":
            assert not self._bucket_exists(FORGED_BUCKET), context
        elif base == "s3-delete-bucket":
            assert self._bucket_exists(EMPTY_BUCKET), context
        elif base == "s3-create-upload":
            uploads = self.s3.list_multipart_uploads(Bucket=FUZZ_BUCKET, Prefix="forged-upload")
            assert not uploads.get("Uploads"), context
        elif base == "bedrock-create":
            jobs = self.bedrock.list_model_invocation_jobs(nameContains=FORGED_JOB)
            assert not jobs["invocationJobSummaries"], context
        elif base in ("bedrock-tag", "bedrock-untag"):
            assert job_tags(self.bedrock, self.job_arn) == {"keep": "yes"}, context
        else:
            status = self.bedrock.get_model_invocation_job(jobIdentifier=self.job_arn)["status"]
            assert status not in ("Stopping", "Stopped"), context


@pytest.fixture
def victims(s3: Any, bedrock: Any, sentinels: Sentinels) -> Iterator[Victims]:
    put_victims(s3)
    # Slow enough to be still running when the test ends: 100 records of 100 ms, one at a time.
    upload_input(s3, IO_BUCKET, count=100)
    arn = create_job(bedrock, f"victim{uuid.uuid4().hex[:10]}", model=SLOW_MODEL,
                     tags=[{"key": "keep", "value": "yes"}])
    yield Victims(s3, bedrock, arn)
    with contextlib.suppress(ClientError):  # unless it already ended
        bedrock.stop_model_invocation_job(jobIdentifier=arn)
    upload_input(s3, IO_BUCKET, count=2)


@fuzz_settings(150)
@given(forgery=forgeries)
def test_unsigned_and_badly_signed_requests_are_refused_and_change_nothing(
        server: RunningServer, sentinels: Sentinels, victims: Victims, forgery: Forgery) -> None:
    request = forge(forgery, server.port, victims.job_arn)
    answer = exchange(server.port, request)
    context = (forgery, request, answer)
    if request.service == "s3":
        code = check_s3_answer(request, answer, authenticated=False)
        assert answer.status in (400, 403), context
        if answer.status == 403 and code is not None:
            assert code in ("AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId",
                            "RequestTimeTooSkewed"), context
    else:
        code = check_bedrock_answer(request, answer, authenticated=False)
        # /bedrock routes before it authenticates: a path that no longer routes is 404.
        routed_away = answer.status == 404 and code == "UnknownOperationException"
        assert answer.status in (400, 403) or routed_away, context
    victims.check(forgery.base, context)
    sentinels.quick_check()
