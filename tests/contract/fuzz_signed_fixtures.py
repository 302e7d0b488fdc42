"""The fixtures of the test_fuzz_signed_* modules: the server (with `[[keys]]`), its clients, and
the sentinels the fuzzing must leave as they are.

Properties, for every fuzz test: the server keeps answering; and sentinel objects put beforehand (in
this tenant and in another one) and a sentinel job still read back byte-identical and unchanged
(listing checked after every example, bytes and the job after every test).

A test module takes the fixtures (`__all__`, the autouse `store_stays_intact` included) with
`from tests.contract.fuzz_signed_fixtures import *`, and with them a server of its own: they are
module-scoped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bifrost_py.testing import RunningServer
from tests.contract.bedrock_helpers import configured_server
from tests.contract.fuzz_signed import (
    CHUNKED_KEY,
    CONFIG,
    EMPTY_BUCKET,
    FUZZ_BUCKET,
    IO_BUCKET,
    KEY_ID,
    MIB,
    MODEL,
    MPU_KEY,
    OTHER_ID,
    OTHER_SECRET,
    PART_DATA,
    ROLE_ARN,
    SECRET,
    SENTINEL_BUCKET,
    SENTINEL_PREFIX,
    SHAPED_KEY,
    SHAPED_MULTIPART,
    SHAPED_UPLOAD_KEY,
    TIMEOUT,
    VICTIMS,
    Signer,
)
from tests.contract.keys_helpers import bedrock_client, s3_client, upload_input
from tests.contract.s3_helpers import md5_hex

# What a test module's `import *` takes: the fixtures.
__all__ = ["bedrock", "s3", "sentinels", "server", "signer", "store_stays_intact"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("fuzz-signed"), CONFIG) as running:
        yield running


@pytest.fixture(scope="module")
def signer(server: RunningServer) -> Signer:
    return Signer(server.port)


@pytest.fixture(scope="module")
def s3(server: RunningServer) -> Any:
    return s3_client(server, KEY_ID, SECRET)


@pytest.fixture(scope="module")
def bedrock(server: RunningServer) -> Any:
    return bedrock_client(server, KEY_ID, SECRET)


def put_victims(s3: Any) -> None:
    for key, data in VICTIMS.items():
        s3.put_object(Bucket=FUZZ_BUCKET, Key=key, Body=data)


def create_job(bedrock: Any, name: str, model: str = MODEL, **extra: Any) -> str:
    arn: str = bedrock.create_model_invocation_job(
        jobName=name, modelId=model, roleArn=ROLE_ARN,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": f"s3://{IO_BUCKET}/in.jsonl",
                                               "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{IO_BUCKET}/out/"}},
        **extra)["jobArn"]
    return arn


def job_tags(bedrock: Any, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in bedrock.list_tags_for_resource(resourceARN=arn)["tags"]}


class Sentinels:
    """Objects in both tenants and a job, put before any fuzzing and never named by a strategy.
    (A plain class: Hypothesis prints a dataclass argument field by field, megabytes here.)"""

    def __init__(self, server: RunningServer, s3: Any, other: Any, bedrock: Any,
                 objects: dict[str, tuple[bytes, str]],
                 other_objects: dict[str, tuple[bytes, str]], job: dict[str, Any],
                 tags: dict[str, str], ids: dict[str, str]) -> None:
        self.server = server
        self.s3 = s3
        self.other = other
        self.bedrock = bedrock
        self.objects = objects  # key -> (bytes, ETag), in SENTINEL_BUCKET
        self.other_objects = other_objects  # the same, in the other tenant's bucket
        self.job = job  # the fields of GetModelInvocationJob that never change
        self.tags = tags
        self.ids = ids  # placeholders the strategies use -> real identifiers

    def __repr__(self) -> str:
        return f"Sentinels({sorted(self.objects)}, job={self.job['jobArn']})"

    @staticmethod
    def _listing(client: Any) -> dict[str, tuple[int, str]]:
        page = client.list_objects_v2(Bucket=SENTINEL_BUCKET, Prefix=SENTINEL_PREFIX)
        return {o["Key"]: (o["Size"], o["ETag"]) for o in page.get("Contents", [])}

    def quick_check(self) -> None:
        """One listing per tenant: every sentinel there with its size and ETag, nothing added."""
        for client, objects in ((self.s3, self.objects), (self.other, self.other_objects)):
            assert self._listing(client) == {k: (len(d), e) for k, (d, e) in objects.items()}

    def full_check(self) -> None:
        assert httpx.get(f"{self.server.url}/health", timeout=TIMEOUT).status_code == 200
        self.quick_check()
        for client, objects in ((self.s3, self.objects), (self.other, self.other_objects)):
            for key, (data, etag) in objects.items():
                got = client.get_object(Bucket=SENTINEL_BUCKET, Key=key)
                assert (got["Body"].read(), got["ETag"]) == (data, etag), key
        described = self.bedrock.get_model_invocation_job(jobIdentifier=self.job["jobArn"])
        assert {k: described.get(k) for k in self.job} == self.job
        assert job_tags(self.bedrock, self.job["jobArn"]) == self.tags


@pytest.fixture(scope="module")
def sentinels(server: RunningServer, s3: Any, bedrock: Any) -> Sentinels:
    other = s3_client(server, OTHER_ID, OTHER_SECRET)
    for name in (FUZZ_BUCKET, SENTINEL_BUCKET, IO_BUCKET, EMPTY_BUCKET):
        s3.create_bucket(Bucket=name)
    other.create_bucket(Bucket=SENTINEL_BUCKET)
    put_victims(s3)
    s3.put_object(Bucket=FUZZ_BUCKET, Key=CHUNKED_KEY, Body=b"before any chunked upload")
    s3.put_object(Bucket=FUZZ_BUCKET, Key=MPU_KEY, Body=b"before any multipart upload")
    s3.put_object(Bucket=FUZZ_BUCKET, Key=SHAPED_KEY, Body=b"shaped object")
    upload_id = s3.create_multipart_upload(Bucket=FUZZ_BUCKET, Key=SHAPED_MULTIPART)["UploadId"]
    etags = [s3.upload_part(Bucket=FUZZ_BUCKET, Key=SHAPED_MULTIPART, UploadId=upload_id,
                            PartNumber=n, Body=data)["ETag"]
             for n, data in enumerate([b"p" * (5 * MIB), b"tail"], 1)]
    s3.complete_multipart_upload(
        Bucket=FUZZ_BUCKET, Key=SHAPED_MULTIPART, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    shaped_upload = s3.create_multipart_upload(Bucket=FUZZ_BUCKET,
                                               Key=SHAPED_UPLOAD_KEY)["UploadId"]
    s3.upload_part(Bucket=FUZZ_BUCKET, Key=SHAPED_UPLOAD_KEY, UploadId=shaped_upload,
                   PartNumber=1, Body=PART_DATA)
    upload_input(s3, IO_BUCKET, count=2)

    large = b"".join(md5_hex(b"%d" % i).encode() for i in range(10_000))  # 320 KB: a blob file
    contents = {f"{SENTINEL_PREFIX}small.txt": b"sentinel bytes\n",
                f"{SENTINEL_PREFIX}unicode \u00e9\u00fc\u2603/\U0001f600 & <x> %2F.bin":
                    bytes(range(256)),
                f"{SENTINEL_PREFIX}large.bin": large}
    objects = {key: (data, s3.put_object(Bucket=SENTINEL_BUCKET, Key=key, Body=data)["ETag"])
               for key, data in contents.items()}
    key = f"{SENTINEL_PREFIX}multipart.bin"
    parts = [large * 17, b"tail"]  # 5.4 MB + 4 bytes
    upload_id = s3.create_multipart_upload(Bucket=SENTINEL_BUCKET, Key=key)["UploadId"]
    etags = [s3.upload_part(Bucket=SENTINEL_BUCKET, Key=key, UploadId=upload_id, PartNumber=n,
                            Body=data)["ETag"] for n, data in enumerate(parts, 1)]
    done = s3.complete_multipart_upload(
        Bucket=SENTINEL_BUCKET, Key=key, UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    objects[key] = (b"".join(parts), done["ETag"])
    other_key = f"{SENTINEL_PREFIX}other tenant.txt"
    other_objects = {other_key: (b"the other tenant's bytes",
                                 other.put_object(Bucket=SENTINEL_BUCKET, Key=other_key,
                                                  Body=b"the other tenant's bytes")["ETag"])}

    sentinel_arn = create_job(bedrock, f"sentinel{uuid.uuid4().hex[:10]}",
                              clientRequestToken=uuid.uuid4().hex,
                              tags=[{"key": "role", "value": "sentinel"}])
    target_arn = create_job(bedrock, "fuzztarget", tags=[{"key": "role", "value": "target"}])
    described = bedrock.get_model_invocation_job(jobIdentifier=sentinel_arn)
    job = {k: described.get(k) for k in ("jobArn", "jobName", "modelId", "roleArn",
                                         "clientRequestToken", "inputDataConfig",
                                         "outputDataConfig", "submitTime",
                                         "timeoutDurationInHours")}
    token = bedrock.list_model_invocation_jobs(maxResults=1)["nextToken"]
    ids = {"@sentinel-arn": sentinel_arn, "@sentinel-id": sentinel_arn.rsplit("/", 1)[1],
           "@target-arn": target_arn, "@target-id": target_arn.rsplit("/", 1)[1],
           "@next-token": token, "@upload": shaped_upload}
    return Sentinels(server, s3, other, bedrock, objects, other_objects, job,
                     job_tags(bedrock, sentinel_arn), ids)


@pytest.fixture(autouse=True)
def store_stays_intact(request: pytest.FixtureRequest, sentinels: Sentinels) -> Iterator[None]:
    """After every fuzz test: the server answers and every sentinel reads back unchanged, byte
    for byte (after the single-request tests, the listing check is enough)."""
    yield
    if getattr(request.function, "is_hypothesis_test", False):
        sentinels.full_check()
    else:
        sentinels.quick_check()
