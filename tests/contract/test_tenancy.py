"""Tenancy (SPEC §5): two tenants probe each other's every object and job operation.

One server, three keys: A and A2 of tenant team-a, B of tenant team-b. Team-a owns a bucket with
an object and a multipart upload in progress, a running job with tags, and a file mirrored to
(a fake) OpenAI whose file id is its ETag. B probes all of it through real boto3; each probe must
fail exactly as it does for a resource that never existed (same code, same status), and
afterwards team-a's state is unchanged. A2, of the same tenant, sees everything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from bedrock_helpers import (
    CLAUDE,
    ROLE_ARN,
    SLOW_MODEL,
    converse_record,
    create_job,
    get_job,
    jsonl,
    keys_toml,
    wait_for_status,
    with_provider,
)
from botocore.config import Config
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer
from tests.fakes.openai_fake import FakeOpenAI

REGION = "us-west-2"
A_ID, A_SECRET = "AKIATENANTTEAMA00001", "team-a-secret-0123456789"
A2_ID, A2_SECRET = "AKIATENANTTEAMA00002", "team-a-second-secret-0123"
B_ID, B_SECRET = "AKIATENANTTEAMB00001", "team-b-secret-0123456789"
OPENAI_KEY = "sk-tenancy-test"
CONTENT = b"team-a's private bytes\n"
PART = b"p" * (5 * 2**20)


def config_text(fake: FakeOpenAI) -> str:
    return f"""
[providers.local]
auto_create_buckets = false

[providers.local.models."{SLOW_MODEL}"]
latency_ms = 200
concurrency = 1

[providers.openai]
api_key = "{OPENAI_KEY}"
base_url = "{fake.url}/v1"
poll_interval = 0.2
max_retries = 1

[models."{CLAUDE}"]
openai = "gpt-4o-mini"
""" + keys_toml((A_ID, A_SECRET, "team-a"), (A2_ID, A2_SECRET, "team-a"),
                 (B_ID, B_SECRET, "team-b"))


@dataclass(frozen=True)
class Owned:
    """What team-a holds while team-b probes."""

    bucket: str
    key: str
    upload_id: str
    job_arn: str
    job_name: str
    token: str
    files_bucket: str
    file_id: str


@dataclass(frozen=True)
class Clients:
    s3: Any
    bedrock: Any
    openai_s3: Any


def clients(server: RunningServer, key_id: str, secret: str) -> Clients:
    def make(service: str) -> Any:
        url = server.s3_url if service == "s3" else server.bedrock_url
        return boto3.client(service, endpoint_url=url, region_name=REGION,
                            aws_access_key_id=key_id, aws_secret_access_key=secret,
                            config=Config(retries={"total_max_attempts": 1}))

    return Clients(make("s3"), make("bedrock"), with_provider(make("s3"), "openai"))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY, process_seconds=0.2) as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[RunningServer]:
    directory = tmp_path_factory.mktemp("tenancy")
    config = directory / "config.toml"
    config.write_text(config_text(fake), encoding="utf-8")
    with RunningServer(directory / "data", config) as running:
        yield running


@pytest.fixture(scope="module")
def a(server: RunningServer) -> Clients:
    return clients(server, A_ID, A_SECRET)


@pytest.fixture(scope="module")
def a2(server: RunningServer) -> Clients:
    return clients(server, A2_ID, A2_SECRET)


@pytest.fixture(scope="module")
def b(server: RunningServer) -> Clients:
    return clients(server, B_ID, B_SECRET)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def owned(a: Clients, b: Clients) -> Owned:
    bucket, files_bucket = unique("team-a"), unique("team-a-files")
    a.s3.create_bucket(Bucket=bucket)
    a.s3.put_object(Bucket=bucket, Key="doc.txt", Body=CONTENT)
    records = [converse_record(i) for i in range(40)]
    a.s3.put_object(Bucket=bucket, Key="in.jsonl", Body=jsonl(records))
    upload_id = a.s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    a.s3.upload_part(Bucket=bucket, Key="big", UploadId=upload_id, PartNumber=1, Body=PART)
    name, token = unique("a-job"), uuid.uuid4().hex
    arn = create_job(a.bedrock, f"s3://{bucket}/in.jsonl", f"s3://{bucket}/out/", name=name,
                     model_id=SLOW_MODEL, clientRequestToken=token,
                     tags=[{"key": "team", "value": "a"}])
    a.openai_s3.create_bucket(Bucket=files_bucket)
    file_id = a.openai_s3.put_object(Bucket=files_bucket, Key="batch.jsonl",
                                     Body=jsonl(records[:3]))["ETag"].strip('"')
    b.openai_s3.create_bucket(Bucket="team-b-files")
    return Owned(bucket, "doc.txt", upload_id, arn, name, token, files_bucket, file_id)


# --- the table: what B tries, and what a resource that never existed answers ------------------


Probe = Callable[[Clients, Owned], Any]
NOWHERE = "never-existed-" + uuid.uuid4().hex[:8]


def elsewhere(o: Owned) -> Owned:
    """The same probe aimed at names no tenant ever used."""
    return Owned(NOWHERE, "doc.txt", "0" * 32, o.job_arn[:-12] + "zzzzzzzzzzzz", "x", "x",
                 NOWHERE, "file-" + "0" * 24)


def copy_source(o: Owned) -> dict[str, str]:
    return {"Bucket": o.bucket, "Key": o.key}


S3_PROBES: dict[str, Probe] = {
    "HeadBucket": lambda c, o: c.s3.head_bucket(Bucket=o.bucket),
    "GetBucketLocation": lambda c, o: c.s3.get_bucket_location(Bucket=o.bucket),
    "ListObjectsV2": lambda c, o: c.s3.list_objects_v2(Bucket=o.bucket),
    "ListObjects": lambda c, o: c.s3.list_objects(Bucket=o.bucket),
    "ListMultipartUploads": lambda c, o: c.s3.list_multipart_uploads(Bucket=o.bucket),
    "GetObject": lambda c, o: c.s3.get_object(Bucket=o.bucket, Key=o.key),
    "GetObjectRange": lambda c, o: c.s3.get_object(Bucket=o.bucket, Key=o.key, Range="bytes=0-3"),
    "HeadObject": lambda c, o: c.s3.head_object(Bucket=o.bucket, Key=o.key),
    "PutObject": lambda c, o: c.s3.put_object(Bucket=o.bucket, Key=o.key, Body=b"overwritten"),
    "PutObjectIfNoneMatch": lambda c, o: c.s3.put_object(Bucket=o.bucket, Key="new",
                                                         Body=b"x", IfNoneMatch="*"),
    "DeleteObject": lambda c, o: c.s3.delete_object(Bucket=o.bucket, Key=o.key),
    "DeleteObjects": lambda c, o: c.s3.delete_objects(
        Bucket=o.bucket, Delete={"Objects": [{"Key": o.key}]}),
    "DeleteBucket": lambda c, o: c.s3.delete_bucket(Bucket=o.bucket),
    "CopyObjectFrom": lambda c, o: c.s3.copy_object(
        Bucket="team-b-own", Key="stolen", CopySource=copy_source(o)),
    "CopyObjectInto": lambda c, o: c.s3.copy_object(
        Bucket=o.bucket, Key=o.key, CopySource={"Bucket": "team-b-own", "Key": "mine"}),
    "CreateMultipartUpload": lambda c, o: c.s3.create_multipart_upload(Bucket=o.bucket, Key="m"),
    "UploadPart": lambda c, o: c.s3.upload_part(Bucket=o.bucket, Key="big",
                                                UploadId=o.upload_id, PartNumber=2, Body=b"x"),
    "UploadPartCopy": lambda c, o: c.s3.upload_part_copy(
        Bucket="team-b-own", Key="m", UploadId=o.upload_id, PartNumber=1,
        CopySource=copy_source(o)),
    "ListParts": lambda c, o: c.s3.list_parts(Bucket=o.bucket, Key="big", UploadId=o.upload_id),
    "CompleteMultipartUpload": lambda c, o: c.s3.complete_multipart_upload(
        Bucket=o.bucket, Key="big", UploadId=o.upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]}),
    "AbortMultipartUpload": lambda c, o: c.s3.abort_multipart_upload(
        Bucket=o.bucket, Key="big", UploadId=o.upload_id),
    "PresignedGet": lambda c, o: _presigned(c.s3, "get_object", o),
    "PresignedPut": lambda c, o: _presigned(c.s3, "put_object", o),
    # openai: the file id is the ETag and names the file from any bucket (SPEC §2)
    "OpenAIGetFileById": lambda c, o: c.openai_s3.get_object(Bucket="team-b-files",
                                                             Key=o.file_id),
    "OpenAIGetIfMatchId": lambda c, o: c.openai_s3.get_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{o.file_id}"'),
    "OpenAIHeadIfMatchId": lambda c, o: c.openai_s3.head_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{o.file_id}"'),
    "OpenAIDeleteIfMatchId": lambda c, o: c.openai_s3.delete_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{o.file_id}"'),
    "OpenAIListFiles": lambda c, o: c.openai_s3.list_objects_v2(Bucket=o.files_bucket),
}

BEDROCK_PROBES: dict[str, Probe] = {
    "GetJobByArn": lambda c, o: c.bedrock.get_model_invocation_job(jobIdentifier=o.job_arn),
    "GetJobById": lambda c, o: c.bedrock.get_model_invocation_job(
        jobIdentifier=o.job_arn.rsplit("/", 1)[1]),
    "StopJob": lambda c, o: c.bedrock.stop_model_invocation_job(jobIdentifier=o.job_arn),
    "StopJobById": lambda c, o: c.bedrock.stop_model_invocation_job(
        jobIdentifier=o.job_arn.rsplit("/", 1)[1]),
    "TagResource": lambda c, o: c.bedrock.tag_resource(
        resourceARN=o.job_arn, tags=[{"key": "owner", "value": "b"}]),
    "UntagResource": lambda c, o: c.bedrock.untag_resource(resourceARN=o.job_arn,
                                                           tagKeys=["team"]),
    "ListTagsForResource": lambda c, o: c.bedrock.list_tags_for_resource(resourceARN=o.job_arn),
}


def _presigned(s3: Any, method: str, o: Owned) -> None:
    url = s3.generate_presigned_url(method, Params={"Bucket": o.bucket, "Key": o.key})
    response = httpx.request("GET" if method == "get_object" else "PUT", url,
                             content=None if method == "get_object" else b"overwritten")
    if response.status_code >= 300:
        code = response.text.split("<Code>")[1].split("</Code>")[0]
        raise ClientError({"Error": {"Code": code, "Message": response.text},
                           "ResponseMetadata": {"HTTPStatusCode": response.status_code}},
                          method)


def refusal(probe: Probe, c: Clients, o: Owned) -> tuple[str, int, str]:
    """(code, HTTP status, message) of the error `probe` gets; fails if it succeeds."""
    with pytest.raises(ClientError) as info:
        probe(c, o)
    response = info.value.response
    return (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"].get("Message", ""))


@pytest.fixture(scope="module")
def b_own(b: Clients) -> str:
    """A bucket of team-b's own, for the probes that copy between buckets."""
    b.s3.create_bucket(Bucket="team-b-own")
    b.s3.put_object(Bucket="team-b-own", Key="mine", Body=b"b's own")
    return "team-b-own"


@pytest.mark.parametrize("name", sorted(S3_PROBES))
def test_another_tenants_objects_are_not_there(name: str, b: Clients, b_own: str,
                                               owned: Owned) -> None:
    probe = S3_PROBES[name]
    code, status, _ = refusal(probe, b, owned)
    assert (code, status) == refusal(probe, b, elsewhere(owned))[:2]
    assert code in {"NoSuchBucket", "NoSuchKey", "NoSuchUpload", "404"}, code
    assert status == 404


@pytest.mark.parametrize("name", sorted(BEDROCK_PROBES))
def test_another_tenants_jobs_are_not_there(name: str, b: Clients, owned: Owned) -> None:
    probe = BEDROCK_PROBES[name]
    code, status, message = refusal(probe, b, owned)
    assert (code, status) == ("ResourceNotFoundException", 404)
    never = refusal(probe, b, elsewhere(owned))
    assert never[:2] == (code, status)
    assert "team-a" not in message and "tag" not in message.lower()


def _buckets(s3: Any) -> set[str]:
    return {b["Name"] for b in s3.list_buckets()["Buckets"]}


def _job_names(bedrock: Any) -> set[str]:
    pages = bedrock.get_paginator("list_model_invocation_jobs").paginate()
    return {j["jobName"] for page in pages for j in page["invocationJobSummaries"]}


def test_lists_never_show_another_tenants_buckets_or_jobs(a: Clients, a2: Clients, b: Clients,
                                                         owned: Owned) -> None:
    assert owned.bucket in _buckets(a.s3) and owned.bucket in _buckets(a2.s3)
    assert owned.bucket not in _buckets(b.s3)
    assert owned.files_bucket in _buckets(a.openai_s3)
    assert owned.files_bucket not in _buckets(b.openai_s3)
    assert owned.job_name in _job_names(a2.bedrock)
    assert owned.job_name not in _job_names(b.bedrock)
    assert not b.bedrock.list_model_invocation_jobs(nameContains=owned.job_name)[
        "invocationJobSummaries"]


def test_the_same_tenant_sees_everything_through_another_key(a2: Clients, owned: Owned) -> None:
    assert a2.s3.get_object(Bucket=owned.bucket, Key=owned.key)["Body"].read() == CONTENT
    assert a2.s3.list_parts(Bucket=owned.bucket, Key="big", UploadId=owned.upload_id)["Parts"]
    assert get_job(a2.bedrock, owned.job_arn)["jobName"] == owned.job_name
    tags = a2.bedrock.list_tags_for_resource(resourceARN=owned.job_arn)["tags"]
    assert tags == [{"key": "team", "value": "a"}]
    by_id = a2.openai_s3.get_object(Bucket="any", Key="x", IfMatch=f'"{owned.file_id}"')
    assert by_id["ETag"].strip('"') == owned.file_id


def test_a_bucket_name_is_per_tenant_and_never_hints_at_another(a: Clients, b: Clients,
                                                                 owned: Owned) -> None:
    b.s3.create_bucket(Bucket=owned.bucket)  # no BucketAlreadyExists: team-b's own namespace
    try:
        assert b.s3.list_objects_v2(Bucket=owned.bucket)["KeyCount"] == 0
        b.s3.put_object(Bucket=owned.bucket, Key=owned.key, Body=b"team-b's bytes")
        assert b.s3.get_object(Bucket=owned.bucket, Key=owned.key)["Body"].read() == (
            b"team-b's bytes")
        assert a.s3.get_object(Bucket=owned.bucket, Key=owned.key)["Body"].read() == CONTENT
        with pytest.raises(ClientError) as again:
            b.s3.create_bucket(Bucket=owned.bucket)
        assert again.value.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
    finally:
        b.s3.delete_object(Bucket=owned.bucket, Key=owned.key)
        b.s3.delete_bucket(Bucket=owned.bucket)
    assert owned.bucket in _buckets(a.s3)


def test_job_names_and_client_tokens_are_per_tenant(b: Clients, owned: Owned) -> None:
    b.s3.create_bucket(Bucket="team-b-jobs")
    b.s3.put_object(Bucket="team-b-jobs", Key="in.jsonl", Body=jsonl([converse_record(0)]))
    arn = create_job(b.bedrock, "s3://team-b-jobs/in.jsonl", "s3://team-b-jobs/out/",
                     name=owned.job_name, clientRequestToken=owned.token)
    assert arn != owned.job_arn  # not team-a's job returned for its token
    assert wait_for_status(b.bedrock, arn)["status"] == "Completed"
    assert get_job(b.bedrock, arn)["clientRequestToken"] == owned.token


def test_a_job_cannot_read_or_write_another_tenants_bucket(a: Clients, b: Clients,
                                                           owned: Owned) -> None:
    before = _keys(a.s3, owned.bucket)
    arn = create_job(b.bedrock, f"s3://{owned.bucket}/in.jsonl", f"s3://{owned.bucket}/stolen/")
    job = wait_for_status(b.bedrock, arn)
    assert job["status"] == "Failed" and "cannot be read" in job["message"]
    by_id = with_provider(b.bedrock, "openai")
    arn = create_job(by_id, f"s3://team-b-files/{owned.file_id}", "s3://team-b-files/out/",
                     roleArn=ROLE_ARN)
    job = wait_for_status(by_id, arn)
    assert job["status"] == "Failed", job
    assert _keys(a.s3, owned.bucket) == before


def test_team_a_state_is_unchanged_after_the_probes(a: Clients, b: Clients, b_own: str,
                                                    owned: Owned) -> None:
    for probe in [*S3_PROBES.values(), *BEDROCK_PROBES.values()]:
        refusal(probe, b, owned)
    assert a.s3.get_object(Bucket=owned.bucket, Key=owned.key)["Body"].read() == CONTENT
    parts = a.s3.list_parts(Bucket=owned.bucket, Key="big", UploadId=owned.upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(PART))]
    job = get_job(a.bedrock, owned.job_arn)
    assert job["status"] in {"Scheduled", "InProgress", "Completed"}, job
    tags = a.bedrock.list_tags_for_resource(resourceARN=owned.job_arn)["tags"]
    assert tags == [{"key": "team", "value": "a"}]
    got = a.openai_s3.get_object(Bucket=owned.files_bucket, Key="batch.jsonl")
    assert got["ETag"].strip('"') == owned.file_id
    assert _keys(b.s3, b_own) == [("mine", _keys(b.s3, b_own)[0][1])]


def _keys(s3: Any, bucket: str) -> list[tuple[str, str]]:
    return [(o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
