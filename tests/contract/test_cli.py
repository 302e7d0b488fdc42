"""The real aws CLI (`aws s3 ...`, `aws s3api ...`) against the server, checked with boto3.

Each CLI run is a subprocess of about half a second, so each test makes the few calls that pin
its behaviour and verifies the rest through the boto3 client or the local files.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from bifrost_py.testing import RunningServer

MIB = 2**20
AwsCli = Callable[..., subprocess.CompletedProcess[str]]
Tree = dict[str, bytes]


# helpers


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def multipart_etag(data: bytes, part_size: int) -> str:
    digests = b"".join(hashlib.md5(data[i:i + part_size], usedforsecurity=False).digest()
                       for i in range(0, len(data), part_size))
    count = (len(data) + part_size - 1) // part_size
    return f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-{count}"'


def read_tree(root: Path) -> Tree:
    """Every file under root by its relative POSIX path, the way sync names keys."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in root.rglob("*") if p.is_file()}


def write_tree(root: Path, tree: Tree) -> None:
    for name, data in tree.items():
        write(root / name, data)


def bucket_tree(s3: Any, bucket: str) -> Tree:
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            for key in keys(s3, bucket)}


def keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def body(s3: Any, bucket: str, key: str) -> bytes:
    data: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return data


def bucket_exists(s3: Any, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        assert error.response["Error"]["Code"] in ("404", "NoSuchBucket")
        return False
    return True


def put_all(s3: Any, bucket: str, names: list[str]) -> None:
    for name in names:
        s3.put_object(Bucket=bucket, Key=name, Body=name.encode())


def api(aws: AwsCli, *args: str) -> Any:
    """An `aws s3api` call's JSON output (None for operations that print nothing)."""
    out = aws("s3api", *args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def lines_with(output: str, word: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(word)]


@pytest.fixture
def aws_stdin(bifrost_server: RunningServer, tmp_path: Path,
              ) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """The aws CLI fed `data` on stdin, which the shared `aws` fixture cannot do."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "AKIABIFROSTTEST00000",
           "AWS_SECRET_ACCESS_KEY": "bifrost-test-secret", "AWS_DEFAULT_REGION": "us-west-2",
           "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def run(data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
        cmd = [sys.executable, "-m", "awscli", "--endpoint-url", bifrost_server.s3_url, *args]
        result = subprocess.run(cmd, env=env, input=data, capture_output=True, timeout=120,
                                cwd=tmp_path, check=False)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        return result

    return run


# aws s3 mb / ls / rb / rm


def test_mb_creates_a_bucket_that_service_ls_lists(aws: AwsCli, s3: Any, bucket: str) -> None:
    name = f"{bucket}-mb"
    result = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in result.stdout
    assert bucket_exists(s3, name)
    listed = [line.split()[-1] for line in aws("s3", "ls").stdout.splitlines()]
    assert name in listed
    assert bucket in listed


def test_mb_of_an_existing_bucket_fails(aws: AwsCli, bucket: str) -> None:
    result = aws("s3", "mb", f"s3://{bucket}", check=False)
    assert result.returncode != 0
    assert "BucketAlreadyOwnedByYou" in result.stderr


def test_ls_bucket_shows_prefixes_and_recursive_shows_every_key(
        aws: AwsCli, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["top.txt", "dir/a.txt", "dir/sub/b.txt"])

    shallow = aws("s3", "ls", f"s3://{bucket}/").stdout.splitlines()
    assert any(line.split() == ["PRE", "dir/"] for line in shallow)
    assert any(line.split()[-2:] == [str(len("top.txt")), "top.txt"] for line in shallow)
    assert len(shallow) == 2

    deep = aws("s3", "ls", f"s3://{bucket}/", "--recursive").stdout.splitlines()
    assert sorted(line.split()[-1] for line in deep) == ["dir/a.txt", "dir/sub/b.txt", "top.txt"]
    assert all(line.split()[-2] == str(len(line.split()[-1])) for line in deep)


def test_rb_removes_an_empty_bucket(aws: AwsCli, s3: Any, bucket: str) -> None:
    aws("s3", "rb", f"s3://{bucket}")
    assert not bucket_exists(s3, bucket)


def test_rb_refuses_a_non_empty_bucket_and_force_empties_it_first(
        aws: AwsCli, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["a", "b/c", "d e"])

    refused = aws("s3", "rb", f"s3://{bucket}", check=False)
    assert refused.returncode != 0
    assert "BucketNotEmpty" in refused.stderr
    assert sorted(keys(s3, bucket)) == ["a", "b/c", "d e"]

    aws("s3", "rb", f"s3://{bucket}", "--force")
    assert not bucket_exists(s3, bucket)


def test_rm_deletes_one_key_and_recursive_deletes_only_the_prefix(
        aws: AwsCli, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["keep.txt", "gone.txt", "dir/a", "dir/sub/b", "dirx/c"])

    aws("s3", "rm", f"s3://{bucket}/gone.txt")
    assert sorted(keys(s3, bucket)) == ["dir/a", "dir/sub/b", "dirx/c", "keep.txt"]

    result = aws("s3", "rm", f"s3://{bucket}/dir/", "--recursive")
    assert len(lines_with(result.stdout, "delete:")) == 2
    assert sorted(keys(s3, bucket)) == ["dirx/c", "keep.txt"]


# aws s3 cp


def test_cp_of_a_20_mib_file_is_multipart_and_downloads_byte_identical(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = random_bytes(20 * MIB, seed=20)
    source = write(tmp_path / "big.bin", data)

    aws("s3", "cp", str(source), f"s3://{bucket}/big.bin")
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')
    assert head["ETag"] == multipart_etag(data, 8 * MIB)

    target = tmp_path / "down" / "big.bin"
    aws("s3", "cp", f"s3://{bucket}/big.bin", str(target))
    assert target.read_bytes() == data


def test_cp_of_small_files_round_trips_with_guessed_content_type(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    text = b"hello from the aws cli\n"
    source = write(tmp_path / "note.txt", text)
    empty = write(tmp_path / "empty.bin", b"")

    aws("s3", "cp", str(source), f"s3://{bucket}/notes/note.txt")
    aws("s3", "cp", str(empty), f"s3://{bucket}/empty.bin")
    head = s3.head_object(Bucket=bucket, Key="notes/note.txt")
    assert head["ETag"] == f'"{md5_hex(text)}"'
    assert head["ContentType"] == "text/plain"
    assert body(s3, bucket, "empty.bin") == b""

    streamed = aws("s3", "cp", f"s3://{bucket}/notes/note.txt", "-")
    assert streamed.stdout == text.decode()
    target = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/notes/note.txt", str(target))
    assert target.read_bytes() == text


@pytest.mark.parametrize("key", ["with space/my file.txt", "plus+sign+key.txt",
                                 "unicode/ünïcødé-日本語-😀.txt"],
                         ids=["spaces", "plus", "unicode"])
def test_cp_keeps_keys_with_special_characters_exactly(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path, key: str) -> None:
    data = random_bytes(1000, seed=len(key))
    source = write(tmp_path / "source.bin", data)

    aws("s3", "cp", str(source), f"s3://{bucket}/{key}")
    assert keys(s3, bucket) == [key]
    assert body(s3, bucket, key) == data

    target = tmp_path / "target.bin"
    aws("s3", "cp", f"s3://{bucket}/{key}", str(target))
    assert target.read_bytes() == data


def test_cp_from_stdin_stores_exactly_the_piped_bytes(
        aws_stdin: Callable[..., subprocess.CompletedProcess[bytes]], s3: Any,
        bucket: str) -> None:
    data = random_bytes(300_000, seed=7)
    aws_stdin(data, "s3", "cp", "-", f"s3://{bucket}/piped/stdin.bin")
    assert body(s3, bucket, "piped/stdin.bin") == data
    assert s3.head_object(Bucket=bucket, Key="piped/stdin.bin")["ContentLength"] == len(data)


# aws s3 sync


def initial_tree() -> Tree:
    tree: Tree = {}
    for i in range(6):
        tree[f"file{i}.txt"] = f"top level file {i}\n".encode() * (i + 1)
    for i in range(8):
        tree[f"docs/read me {i}.md"] = random_bytes(100 * i + 1, seed=100 + i)
    for i in range(8):
        tree[f"a/b/c/deep{i}.bin"] = random_bytes(3000 + i, seed=200 + i)
    for i in range(7):
        tree[f"with space dir/item {i}.dat"] = random_bytes(50 + i, seed=300 + i)
    tree["a/empty"] = b""
    return tree


def test_sync_up_again_with_delete_and_down_mirrors_the_tree(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    tree = initial_tree()
    write_tree(local, tree)
    assert len(tree) == 30

    first = aws("s3", "sync", str(local), f"s3://{bucket}/")
    assert len(lines_with(first.stdout, "upload:")) == len(tree)
    assert bucket_tree(s3, bucket) == tree

    changed = {"file1.txt": b"changed and longer than before\n",
               "docs/read me 3.md": random_bytes(999, seed=1),
               "a/b/c/deep0.bin": b"short now"}
    added = {"new dir/nested deeper/new 1.txt": b"new one",
             "new dir/new 2.txt": random_bytes(4096, seed=2),
             "file+plus.txt": b"plus", "a/b/added.bin": b""}
    removed = ["file5.txt", "with space dir/item 2.dat", "a/b/c/deep7.bin"]
    write_tree(local, {**changed, **added})
    for name in removed:
        (local / name).unlink()
    tree = read_tree(local)

    second = aws("s3", "sync", str(local), f"s3://{bucket}/", "--delete")
    assert len(lines_with(second.stdout, "upload:")) == len(changed) + len(added)
    assert len(lines_with(second.stdout, "delete:")) == len(removed)
    assert bucket_tree(s3, bucket) == tree

    down = tmp_path / "down"
    down.mkdir()
    aws("s3", "sync", f"s3://{bucket}/", str(down))
    assert read_tree(down) == tree


# aws s3api


def test_s3api_put_object_then_head_object_reports_it(
        aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    data = random_bytes(12345, seed=3)
    source = write(tmp_path / "obj.bin", data)

    put = api(aws, "put-object", "--bucket", bucket, "--key", "dir/obj.bin", "--body", str(source),
              "--content-type", "application/x-test", "--metadata", "colour=blue")
    assert put["ETag"] == f'"{md5_hex(data)}"'

    head = api(aws, "head-object", "--bucket", bucket, "--key", "dir/obj.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == put["ETag"]
    assert head["ContentType"] == "application/x-test"
    assert head["Metadata"] == {"colour": "blue"}


def test_s3api_get_object_with_range_writes_only_that_range(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    data = random_bytes(5000, seed=4)
    s3.put_object(Bucket=bucket, Key="ranged", Body=data)
    target = tmp_path / "part.bin"

    got = api(aws, "get-object", "--bucket", bucket, "--key", "ranged", "--range",
              "bytes=100-1099", str(target))
    assert got["ContentRange"] == f"bytes 100-1099/{len(data)}"
    assert got["ContentLength"] == 1000
    assert target.read_bytes() == data[100:1100]


def test_s3api_list_objects_v2_paginates_with_max_items_and_page_size(
        aws: AwsCli, s3: Any, bucket: str) -> None:
    names = [f"k/{i:02d}" for i in range(7)]
    put_all(s3, bucket, names)

    seen: list[str] = []
    token: list[str] = []
    for expected in (3, 3, 1):
        page = api(aws, "list-objects-v2", "--bucket", bucket, "--max-items", "3",
                   "--page-size", "2", *token)
        assert len(page["Contents"]) == expected
        seen += [o["Key"] for o in page["Contents"]]
        token = ["--starting-token", page["NextToken"]] if "NextToken" in page else []
    assert not token
    assert seen == names


def test_s3api_delete_objects_deletes_the_listed_keys(
        aws: AwsCli, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, ["a", "b c", "d+e", "keep"])
    request = {"Objects": [{"Key": k} for k in ("a", "b c", "d+e", "never-existed")]}

    result = api(aws, "delete-objects", "--bucket", bucket, "--delete", json.dumps(request))
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b c", "d+e", "never-existed"]
    assert "Errors" not in result
    assert keys(s3, bucket) == ["keep"]


def test_s3api_multipart_upload_assembles_the_parts(
        aws: AwsCli, s3: Any, bucket: str, tmp_path: Path) -> None:
    first, last = random_bytes(5 * MIB, seed=5), random_bytes(1234, seed=6)
    paths = [write(tmp_path / "p1", first), write(tmp_path / "p2", last)]

    upload_id = api(aws, "create-multipart-upload", "--bucket", bucket,
                    "--key", "mp.bin")["UploadId"]
    parts = []
    for number, path in enumerate(paths, start=1):
        part = api(aws, "upload-part", "--bucket", bucket, "--key", "mp.bin", "--upload-id",
                   upload_id, "--part-number", str(number), "--body", str(path))
        parts.append({"PartNumber": number, "ETag": part["ETag"],
                      **{k: v for k, v in part.items() if k.startswith("Checksum")}})
    done = api(aws, "complete-multipart-upload", "--bucket", bucket, "--key", "mp.bin",
               "--upload-id", upload_id, "--multipart-upload", json.dumps({"Parts": parts}))

    assert done["ETag"] == multipart_etag(first + last, 5 * MIB)
    assert body(s3, bucket, "mp.bin") == first + last
    assert s3.head_object(Bucket=bucket, Key="mp.bin")["ETag"] == done["ETag"]


def test_s3api_head_object_of_a_missing_key_fails_with_404(aws: AwsCli, bucket: str) -> None:
    result = aws("s3api", "head-object", "--bucket", bucket, "--key", "missing", check=False)
    assert result.returncode != 0
    assert "404" in result.stderr or "Not Found" in result.stderr


def test_s3api_get_object_of_a_missing_key_fails_with_no_such_key(
        aws: AwsCli, bucket: str, tmp_path: Path) -> None:
    result = aws("s3api", "get-object", "--bucket", bucket, "--key", "missing",
                 str(tmp_path / "out"), check=False)
    assert result.returncode != 0
    assert "NoSuchKey" in result.stderr
