"""OpenAI's Uploads through the real openai SDK: a file sent in parts and completed into a File
that batches run on, every refusal in OpenAI's shape, tenants kept apart, parts that outlive a
restart, and uploads that end when their hour is up."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
import psutil
import pytest
from bedrock_helpers import configured_server, write_config
from openai_helpers import CHAT, answer, chat_line, client, file_lines, jsonl, wait
from rss import RssSampler
from server_process import ServerProcess

from bifrost_py.testing import RunningServer

A_TOKEN, B_TOKEN = "sk-uploads-team-a-0123", "sk-uploads-team-b-0123"
KEYS = f"""
[[keys]]
access_key_id = "AKIAUPLOADSTENANTA00"
secret_access_key = "a-secret"
tenant = "team-a"
bearer_token = "{A_TOKEN}"

[[keys]]
access_key_id = "AKIAUPLOADSTENANTB00"
secret_access_key = "b-secret"
tenant = "team-b"
bearer_token = "{B_TOKEN}"
"""
MIB = 2**20
SMALL_MAX = 1000  # max_object_size of the server that refuses large uploads


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with configured_server(tmp_path_factory.mktemp("uploads"), KEYS) as running:
        yield running


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = f"[providers.local]\nmax_object_size = {SMALL_MAX}\n"
    with configured_server(tmp_path_factory.mktemp("uploads-small"), config) as running:
        yield running


@pytest.fixture
def sdk(server: RunningServer) -> openai.OpenAI:
    return client(server.openai_url, api_key=A_TOKEN)


def new_upload(sdk: openai.OpenAI, size: int, filename: str = "input.jsonl",
               purpose: str = "batch", **options: Any) -> str:
    return sdk.uploads.create(bytes=size, filename=filename, mime_type="application/jsonl",
                              purpose=purpose, **options).id  # type: ignore[arg-type]


def refusal(call: Callable[[], object]) -> tuple[int, dict[str, Any]]:
    """The status and `error` object a call was refused with."""
    with pytest.raises(openai.APIStatusError) as info:
        call()
    assert isinstance(info.value.body, dict)
    assert set(info.value.body) == {"message", "type", "param", "code"}
    assert info.value.body["type"] == "invalid_request_error"
    assert info.value.body["code"] is None
    return info.value.status_code, info.value.body


# the four operations


def test_parts_completed_in_the_order_named_become_a_file(sdk: openai.OpenAI) -> None:
    upload = sdk.uploads.create(bytes=11, filename="notes.txt", mime_type="text/plain",
                                purpose="user_data")
    assert upload.id.startswith("upload_") and len(upload.id) == len("upload_") + 32
    assert (upload.object, upload.status, upload.file, upload.bytes) == (
        "upload", "pending", None, 11)
    assert upload.expires_at == upload.created_at + 3600
    first = sdk.uploads.parts.create(upload.id, data=b"hello ")
    second = sdk.uploads.parts.create(upload.id, data=b"world")
    assert first.id.startswith("part_") and len(first.id) == len("part_") + 32
    assert (first.object, first.upload_id) == ("upload.part", upload.id)
    done = sdk.uploads.complete(upload.id, part_ids=[second.id, first.id],
                                md5=hashlib.md5(b"worldhello ").hexdigest())
    assert (done.id, done.status, done.object) == (upload.id, "completed", "upload")
    assert done.file is not None
    assert (done.file.status, done.file.bytes, done.file.filename, done.file.purpose) == (
        "processed", 11, "notes.txt", "user_data")
    assert sdk.files.content(done.file.id).content == b"worldhello "
    assert sdk.files.retrieve(done.file.id).bytes == 11


def test_parts_left_out_are_not_in_the_file(sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 3)
    kept = sdk.uploads.parts.create(upload_id, data=b"abc")
    sdk.uploads.parts.create(upload_id, data=b"left out")
    done = sdk.uploads.complete(upload_id, part_ids=[kept.id])
    assert done.file is not None and sdk.files.content(done.file.id).content == b"abc"


def test_a_cancelled_upload_takes_nothing_more(sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 3)
    part = sdk.uploads.parts.create(upload_id, data=b"abc")
    cancelled = sdk.uploads.cancel(upload_id)
    assert (cancelled.status, cancelled.file) == ("cancelled", None)
    for call in (lambda: sdk.uploads.parts.create(upload_id, data=b"x"),
                 lambda: sdk.uploads.complete(upload_id, part_ids=[part.id]),
                 lambda: sdk.uploads.cancel(upload_id)):
        status, error = refusal(call)
        assert status == 400 and error["param"] is None
        assert error["message"].startswith(f"Upload {upload_id} is cancelled")


def test_expires_after_sets_how_long_the_file_lives(sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 2, expires_after={"anchor": "created_at", "seconds": 7200})
    part = sdk.uploads.parts.create(upload_id, data=b"{}")
    file = sdk.uploads.complete(upload_id, part_ids=[part.id]).file
    assert file is not None and file.expires_at == file.created_at + 7200


def test_a_chunked_upload_of_tiny_parts_is_a_batch_input(sdk: openai.OpenAI) -> None:
    lines = [chat_line(i, "gpt-4o-mini") for i in range(6)]
    content = jsonl(lines)
    upload = sdk.uploads.upload_file_chunked(
        file=content, filename="batch.jsonl", bytes=len(content), mime_type="application/jsonl",
        purpose="batch", part_size=100, md5=hashlib.md5(content).hexdigest())
    assert upload.status == "completed" and upload.file is not None
    assert upload.file.bytes == len(content) > 500  # so every line is cut across parts
    batch = sdk.batches.create(input_file_id=upload.file.id, endpoint=CHAT,  # type: ignore[arg-type]
                               completion_window="24h")
    done = wait(sdk, batch.id)
    assert done.status == "completed" and done.error_file_id is None
    output = file_lines(sdk, done.output_file_id)
    assert sorted(output) == sorted(line["custom_id"] for line in lines)
    for i in range(6):
        assert f"What is {i} + {i}?" in answer(output[f"request-{i}"])


def test_the_async_sdk_sends_and_completes_an_upload(server: RunningServer) -> None:
    async def steps() -> bytes:
        sdk = openai.AsyncOpenAI(base_url=server.openai_url, api_key=A_TOKEN, max_retries=0)
        upload = await sdk.uploads.create(bytes=6, filename="a.jsonl",
                                          mime_type="application/jsonl", purpose="batch")
        parts = [await sdk.uploads.parts.create(upload.id, data=data)
                 for data in (b"{}\n", b"{}\n")]
        done = await sdk.uploads.complete(upload.id, part_ids=[p.id for p in parts])
        assert done.file is not None
        content = await sdk.files.content(done.file.id)
        await sdk.close()
        return content.content

    assert asyncio.run(steps()) == b"{}\n{}\n"


# refusals


def raw(server: RunningServer, path: str, **request: Any) -> httpx.Response:
    return httpx.post(f"{server.openai_url}{path}", timeout=10,
                      headers={"authorization": f"Bearer {A_TOKEN}"}, **request)


GOOD = {"bytes": 5, "filename": "in.jsonl", "mime_type": "application/jsonl", "purpose": "batch"}


@pytest.mark.parametrize(("change", "param", "message"), [
    ({"purpose": "x"}, "purpose", "'x' is not one of ["),
    ({"mime_type": "text/plain"}, "mime_type", "Invalid mime_type"),
    ({"purpose": "fine-tune", "mime_type": "image/png"}, "mime_type", "Invalid mime_type"),
    ({"purpose": "vision", "filename": "a.txt", "mime_type": "text/plain"}, "mime_type",
     "Invalid mime_type"),
    ({"filename": "in.csv"}, "filename", "Invalid file format for Batch API"),
    ({"bytes": "5"}, "bytes", "Invalid type for 'bytes'"),
    ({"bytes": True}, "bytes", "Invalid type for 'bytes'"),
    ({"bytes": -1}, "bytes", "Invalid 'bytes'"),
    ({"filename": 3}, "filename", "Invalid type for 'filename'"),
    ({"bytes": None}, "bytes", "Missing required parameter: 'bytes'"),
    ({"purpose": None}, "purpose", "Missing required parameter: 'purpose'"),
    ({"mime_type": None}, "mime_type", "Missing required parameter: 'mime_type'"),
    ({"expires_after": {"anchor": "created_at", "seconds": 10}}, "expires_after",
     "expires_after needs"),
])
def test_a_create_refused_names_its_field(server: RunningServer, change: dict[str, Any],
                                          param: str, message: str) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    response = raw(server, "/uploads", json=body)
    assert response.status_code == 400
    assert response.json() == {"error": {"message": response.json()["error"]["message"],
                                         "type": "invalid_request_error", "param": param,
                                         "code": None}}
    assert response.json()["error"]["message"].startswith(message)


@pytest.mark.parametrize(("purpose", "mime_type", "filename"), [
    ("vision", "image/png", "a.png"), ("fine-tune", "application/jsonl", "t.jsonl"),
    ("assistants", "application/pdf", "paper.pdf")])
def test_each_purpose_takes_its_own_mime_types(sdk: openai.OpenAI, purpose: str, mime_type: str,
                                               filename: str) -> None:
    upload = sdk.uploads.create(bytes=1, filename=filename, mime_type=mime_type,
                                purpose=purpose)  # type: ignore[arg-type]
    assert upload.status == "pending"


def test_an_unknown_upload_is_404_on_every_operation(sdk: openai.OpenAI) -> None:
    missing = "upload_" + "0" * 32
    for call in (lambda: sdk.uploads.parts.create(missing, data=b"x"),
                 lambda: sdk.uploads.complete(missing, part_ids=[]),
                 lambda: sdk.uploads.cancel(missing)):
        assert refusal(call) == (404, {"message": f"No such Upload object: {missing}",
                                       "type": "invalid_request_error", "param": "id",
                                       "code": None})


def test_completion_refuses_parts_it_cannot_use(sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 6)
    other_id = new_upload(sdk, 3)
    part = sdk.uploads.parts.create(upload_id, data=b"abc")
    other = sdk.uploads.parts.create(other_id, data=b"abc")
    for part_ids, message in (
            (["part_unknown"], f"No such part in upload {upload_id}: part_unknown"),
            ([part.id, other.id], f"No such part in upload {upload_id}: {other.id}"),
            ([part.id, part.id], f"Part {part.id} is named more than once."),
            ([part.id], f"The parts hold 3 bytes, but upload {upload_id} was created with "
                        "bytes=6.")):
        assert refusal(partial(sdk.uploads.complete, upload_id, part_ids=part_ids)) == (
            400, {"message": message, "type": "invalid_request_error", "param": "part_ids",
                  "code": None})
    status, error = refusal(lambda: sdk.uploads.complete(upload_id, part_ids="x"))  # type: ignore[arg-type]
    assert (status, error["param"]) == (400, "part_ids")
    second = sdk.uploads.parts.create(upload_id, data=b"def")
    status, error = refusal(lambda: sdk.uploads.complete(upload_id, part_ids=[part.id, second.id],
                                                         md5="0" * 32))
    assert (status, error["param"]) == (400, "md5")
    done = sdk.uploads.complete(upload_id, part_ids=[part.id, second.id],
                                md5=hashlib.md5(b"abcdef").hexdigest().upper())
    assert done.status == "completed"
    status, error = refusal(lambda: sdk.uploads.complete(upload_id, part_ids=[part.id]))
    assert (status, error["param"]) == (400, None)
    assert error["message"].startswith(f"Upload {upload_id} is completed")


def test_a_part_needs_its_data_field(server: RunningServer, sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 3)
    response = raw(server, f"/uploads/{upload_id}/parts", files={"file": ("a", b"abc")})
    assert response.status_code == 400 and response.json()["error"]["param"] == "data"
    assert raw(server, f"/uploads/{upload_id}/parts", json={}).status_code == 400


def test_a_part_for_an_unknown_upload_is_refused_before_its_body_is_read(
        server: RunningServer) -> None:
    """Only the head and the first bytes of a large part are sent: the answer comes anyway."""
    head = (f"POST /v1/uploads/upload_{'0' * 32}/parts HTTP/1.1\r\nhost: x\r\n"
            f"authorization: Bearer {A_TOKEN}\r\n"
            "content-type: multipart/form-data; boundary=b\r\n"
            f"content-length: {64 * MIB}\r\n\r\n"
            '--b\r\ncontent-disposition: form-data; name="data"; filename="d"\r\n\r\n')
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(head.encode() + bytes(1024))
        reply = sock.recv(65536).decode("latin-1")
    assert reply.startswith("HTTP/1.1 404") and "No such Upload object" in reply


def test_a_part_over_64_mib_is_refused(sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 64 * MIB + 1)
    status, error = refusal(lambda: sdk.uploads.parts.create(upload_id,
                                                             data=bytes(64 * MIB + 1)))
    assert (status, error["param"]) == (400, "data")
    assert "at most 67108864 bytes" in error["message"]


def test_uploads_over_the_largest_file_are_refused(small: RunningServer) -> None:
    sdk = client(small.openai_url)
    status, error = refusal(lambda: new_upload(sdk, SMALL_MAX + 1))
    assert (status, error["param"]) == (400, "bytes")
    upload_id = new_upload(sdk, SMALL_MAX)
    sdk.uploads.parts.create(upload_id, data=bytes(600))
    status, error = refusal(lambda: sdk.uploads.parts.create(upload_id, data=bytes(600)))
    assert (status, error["param"]) == (400, "data")
    assert f"exceed {SMALL_MAX} bytes" in error["message"]


# tenants


def test_another_tenants_upload_and_parts_are_unknown(server: RunningServer,
                                                     sdk: openai.OpenAI) -> None:
    other = client(server.openai_url, api_key=B_TOKEN)
    upload_id = new_upload(sdk, 3)
    part = sdk.uploads.parts.create(upload_id, data=b"abc")
    for call in (lambda: other.uploads.parts.create(upload_id, data=b"x"),
                 lambda: other.uploads.complete(upload_id, part_ids=[part.id]),
                 lambda: other.uploads.cancel(upload_id)):
        assert refusal(call) == (404, {"message": f"No such Upload object: {upload_id}",
                                       "type": "invalid_request_error", "param": "id",
                                       "code": None})
    theirs_id = new_upload(other, 3)
    theirs = other.uploads.parts.create(theirs_id, data=b"xyz")
    status, error = refusal(lambda: sdk.uploads.complete(upload_id, part_ids=[theirs.id]))
    assert (status, error["message"]) == (400, f"No such part in upload {upload_id}: {theirs.id}")
    done = sdk.uploads.complete(upload_id, part_ids=[part.id])
    assert done.file is not None
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(done.file.id)
    assert other.uploads.complete(theirs_id, part_ids=[theirs.id]).status == "completed"


# expiry and restarts


def overdue(data_dir: Path, upload_id: str) -> None:
    """Move an upload's expires_at into the past, as an hour's wait would."""
    with sqlite3.connect(data_dir / "bifrost.sqlite3") as db:
        db.execute("UPDATE file_uploads SET expires_at = ? WHERE upload_id = ?",
                   (int(time.time()) - 1, upload_id))


def part_rows(data_dir: Path, upload_id: str) -> int:
    with sqlite3.connect(data_dir / "bifrost.sqlite3") as db:
        row = db.execute("SELECT COUNT(*) FROM file_upload_parts WHERE upload_id = ?",
                         (upload_id,)).fetchone()
    return int(row[0])


def blob_files(data_dir: Path) -> set[str]:
    return {path.name for path in (data_dir / "blobs").rglob("*") if path.is_file()}


def test_an_upload_past_its_hour_is_expired_and_its_parts_freed(
        server: RunningServer, sdk: openai.OpenAI) -> None:
    upload_id = new_upload(sdk, 3)
    part = sdk.uploads.parts.create(upload_id, data=b"abc")
    overdue(server.config.data_path, upload_id)
    for call in (lambda: sdk.uploads.parts.create(upload_id, data=b"x"),
                 lambda: sdk.uploads.complete(upload_id, part_ids=[part.id]),
                 lambda: sdk.uploads.cancel(upload_id)):
        status, error = refusal(call)
        assert status == 400 and error["message"].startswith(f"Upload {upload_id} is expired")
    assert part_rows(server.config.data_path, upload_id) == 1
    new_upload(sdk, 1)  # a new upload sweeps the overdue ones
    assert part_rows(server.config.data_path, upload_id) == 0


def test_pending_parts_survive_a_restart_and_overdue_ones_do_not(tmp_path: Path) -> None:
    config = write_config(tmp_path, "")
    data_dir = tmp_path / "data"
    with RunningServer(data_dir, config) as first:
        sdk = client(first.openai_url)
        kept_id, lapsed_id = new_upload(sdk, 6), new_upload(sdk, 3)
        parts = [sdk.uploads.parts.create(kept_id, data=data) for data in (b"abc", b"def")]
        sdk.uploads.parts.create(lapsed_id, data=b"xyz")
    before = blob_files(data_dir)
    assert len(before) == 3
    overdue(data_dir, lapsed_id)
    with RunningServer(data_dir, config) as second:
        sdk = client(second.openai_url)
        after = blob_files(data_dir)
        assert after < before and len(after) == 2  # the lapsed upload's part was swept
        done = sdk.uploads.complete(kept_id, part_ids=[p.id for p in parts])
        assert done.file is not None and sdk.files.content(done.file.id).content == b"abcdef"
        assert blob_files(data_dir) == after  # the parts' blobs became the file's: no copy
        status, error = refusal(lambda: sdk.uploads.cancel(lapsed_id))
        assert status == 400 and error["message"].startswith(f"Upload {lapsed_id} is expired")


# memory


def test_a_gibibyte_in_64_mib_parts_streams_through_flat_memory(tmp_path: Path) -> None:
    server = ServerProcess(write_config(tmp_path, ""), tmp_path / "data", tmp_path / "log")
    try:
        sdk = client(server.url + "/v1", timeout=300)
        base = bytearray(random.Random(7).randbytes(64 * MIB))
        upload_id = new_upload(sdk, 16 * 64 * MIB, filename="big.bin", purpose="user_data")
        md5, part_ids = hashlib.md5(), []
        baseline = psutil.Process(server.process.pid).memory_info().rss
        with RssSampler(server.process.pid) as rss:
            for i in range(16):
                base[0] = i  # every part different, so their order shows in the md5
                md5.update(base)
                part_ids.append(sdk.uploads.parts.create(upload_id, data=bytes(base)).id)
            done = sdk.uploads.complete(upload_id, part_ids=part_ids, md5=md5.hexdigest())
            assert done.file is not None and done.file.bytes == 2**30
            read_back = hashlib.md5()
            with sdk.files.with_streaming_response.content(done.file.id) as response:
                for chunk in response.iter_bytes(MIB):
                    read_back.update(chunk)
        assert read_back.hexdigest() == md5.hexdigest()
        growth = max(rss.samples) - baseline
        print(f"server RSS: baseline {baseline / MIB:.1f} MiB, peak {max(rss.samples) / MIB:.1f}"
              f" MiB, growth {growth / MIB:.1f} MiB over {len(rss.samples)} samples")
        assert len(rss.samples) > 100 and growth < 50 * MIB
    finally:
        server.close()
