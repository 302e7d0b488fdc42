"""Tenancy of Gemini file ids: `files/...` names a file from any bucket (SPEC §2), but only among
the caller's tenant's own files. Team-b probes team-a's id as key, If-Match, listing and job input,
and gets what a file id that never existed gets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bedrock_helpers import (
    ROLE_ARN,
    configured_server,
    converse_record,
    create_job,
    jsonl,
    keys_toml,
    unique,
    wait_for_status,
    with_provider,
)
from gemini_helpers import API_KEY, gemini_config
from keys_helpers import bedrock_client, s3_client
from test_tenancy import refusal

from bifrost_py.testing import RunningServer
from tests.fakes.gemini_fake import FakeGemini

A_ID, A_SECRET = "AKIAGEMINITEAMA00001", "gemini-team-a-secret-01"
B_ID, B_SECRET = "AKIAGEMINITEAMB00001", "gemini-team-b-secret-01"
CONTENT = jsonl([converse_record(i) for i in range(3)])


@dataclass(frozen=True)
class Tenant:
    s3: Any
    bedrock: Any


@dataclass(frozen=True)
class File:
    bucket: str
    key: str
    file_id: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with FakeGemini(api_key=API_KEY, process_seconds=0.2) as fake:
        config = gemini_config(fake) + keys_toml((A_ID, A_SECRET, "team-a"),
                                                 (B_ID, B_SECRET, "team-b"))
        with configured_server(tmp_path_factory.mktemp("gemini-tenancy"), config) as running:
            yield running


def tenant(server: RunningServer, key_id: str, secret: str) -> Tenant:
    return Tenant(with_provider(s3_client(server, key_id, secret), "gemini"),
                  with_provider(bedrock_client(server, key_id, secret), "gemini"))


@pytest.fixture(scope="module")
def a(server: RunningServer) -> Tenant:
    return tenant(server, A_ID, A_SECRET)


@pytest.fixture(scope="module")
def b(server: RunningServer) -> Tenant:
    tenant_b = tenant(server, B_ID, B_SECRET)
    tenant_b.s3.create_bucket(Bucket="team-b-files")
    return tenant_b


@pytest.fixture(scope="module")
def owned(a: Tenant) -> File:
    bucket = unique("team-a-gemini")
    a.s3.create_bucket(Bucket=bucket)
    etag = a.s3.put_object(Bucket=bucket, Key="batch.jsonl", Body=CONTENT)["ETag"]
    file_id = etag.strip('"')
    assert file_id.startswith("files/")
    return File(bucket, "batch.jsonl", file_id)


PROBES = {
    "GetObjectByIdAsKey": lambda t, f: t.s3.get_object(Bucket="team-b-files", Key=f.file_id),
    "GetObjectIfMatchId": lambda t, f: t.s3.get_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{f.file_id}"'),
    "HeadObjectIfMatchId": lambda t, f: t.s3.head_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{f.file_id}"'),
    "DeleteObjectIfMatchId": lambda t, f: t.s3.delete_object(
        Bucket="team-b-files", Key="anything", IfMatch=f'"{f.file_id}"'),
    "GetObjectInOwnersBucket": lambda t, f: t.s3.get_object(Bucket=f.bucket, Key=f.key),
    "ListOwnersBucket": lambda t, f: t.s3.list_objects_v2(Bucket=f.bucket),
}


def never_existed(f: File) -> File:
    return File(unique("never"), f.key, "files/" + "0" * 16)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_another_tenants_gemini_file_id_is_not_there(name: str, b: Tenant, owned: File) -> None:
    probe = PROBES[name]
    code, status, _ = refusal(probe, b, owned)
    assert (code, status) == refusal(probe, b, never_existed(owned))[:2]
    assert status == 404, code


def test_a_job_naming_another_tenants_file_id_fails_and_the_file_is_intact(
        a: Tenant, b: Tenant, owned: File) -> None:
    arn = create_job(b.bedrock, f"s3://team-b-files/{owned.file_id}", "s3://team-b-files/out/",
                     roleArn=ROLE_ARN)
    job = wait_for_status(b.bedrock, arn)
    assert job["status"] == "Failed", job
    for probe in PROBES.values():
        refusal(probe, b, owned)
    got = a.s3.get_object(Bucket="any-bucket", Key="x", IfMatch=f'"{owned.file_id}"')
    assert got["Body"].read() == CONTENT
    listed = a.s3.list_objects_v2(Bucket=owned.bucket)["Contents"]
    assert [(o["Key"], o["ETag"].strip('"')) for o in listed] == [(owned.key, owned.file_id)]
