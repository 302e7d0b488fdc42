"""Server bugs the test_fuzz_signed_* fuzzing found, each reduced to one request and kept as a
regression test."""

# xml_targets, a fixture imported from test_fuzz_signed_xml, is redefined as a test argument, as
# pytest means it.
# ruff: noqa: F811

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from bifrost_py.testing import RunningServer
from tests.contract.fuzz_signed import (
    FUZZ_BUCKET,
    KEY_ID,
    MPU_KEY,
    S3_MOUNT,
    SENTINEL_BUCKET,
    Request,
    Signer,
    check_bedrock_answer,
    check_s3_answer,
    exchange,
    job_template,
    s3_error_code,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels
from tests.contract.test_fuzz_signed_xml import XmlTargets, xml_targets  # noqa: F401 - a fixture


@pytest.mark.parametrize("case", ["max-keys-superscript", "max-keys-5000-digits",
                                  "max-uploads-superscript", "upload-part-number-superscript",
                                  "decoded-content-length-superscript",
                                  "complete-part-number-superscript"])
def test_regression_integers_isdigit_accepts_but_int_refuses_are_refused_not_a_500(
        signer: Signer, xml_targets: XmlTargets, case: str) -> None:
    """Was: str.isdigit() then int(), so U+00B2 or 5,000 digits raised ValueError (500)."""
    two = quote("\u00b2")  # %C2%B2
    requests = {
        "max-keys-superscript": lambda: signer.s3("GET", f"/{FUZZ_BUCKET}", f"max-keys={two}"),
        "max-keys-5000-digits": lambda: signer.s3("GET", f"/{FUZZ_BUCKET}",
                                                  "list-type=2&max-keys=" + "9" * 5000),
        "max-uploads-superscript": lambda: signer.s3("GET", f"/{FUZZ_BUCKET}",
                                                     f"uploads&max-uploads={two}"),
        "upload-part-number-superscript": lambda: signer.s3(
            "PUT", f"/{FUZZ_BUCKET}/bug-part", f"partNumber={two}&uploadId=x", b"data"),
        "decoded-content-length-superscript": lambda: signer.s3(
            "PUT", f"/{FUZZ_BUCKET}/bug-chunked", "", b"4\r\ndata\r\n0\r\n\r\n",
            {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "\u00b2"},
            payload="trailer"),
        "complete-part-number-superscript": lambda: signer.s3(
            "POST", f"/{FUZZ_BUCKET}/{MPU_KEY}",
            f"uploadId={quote(xml_targets.upload(), safe='')}",
            "<CompleteMultipartUpload><Part><PartNumber>\u00b2</PartNumber><ETag>x</ETag>"
            "</Part></CompleteMultipartUpload>".encode()),
    }
    request = requests[case]()
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)
    assert 400 <= answer.status < 500, (request, answer)


@pytest.mark.parametrize("case", ["max-uploads", "max-buckets"])
def test_regression_an_empty_page_of_a_longer_listing_is_not_a_500(
        signer: Signer, sentinels: Sentinels, case: str) -> None:
    """Was: max-uploads=0 with an upload in progress, or max-buckets=0 with a bucket, made an
    empty page marked truncated whose page[-1] raised IndexError (500). The sentinels fixture
    leaves an upload in progress in FUZZ_BUCKET, and buckets exist."""
    request = (signer.s3("GET", f"/{FUZZ_BUCKET}", "uploads&max-uploads=0") if case == "max-uploads"
               else signer.s3("GET", "/", "max-buckets=0"))
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)


@pytest.mark.parametrize("expires", ["%C2%B2", "9" * 5000])
def test_regression_presigned_v2_expires_isdigit_but_not_int_is_403_not_a_500(
        server: RunningServer, expires: str) -> None:
    """Was: an unauthenticated request (any Signature, a configured AWSAccessKeyId) raised
    ValueError in verify_presigned_v2 (500)."""
    request = Request("s3", "GET", f"{S3_MOUNT}/{SENTINEL_BUCKET}/x",
                      f"AWSAccessKeyId={KEY_ID}&Signature=forged&Expires={expires}",
                      (("Host", f"127.0.0.1:{server.port}"), ("Content-Length", "0")), b"")
    answer = exchange(server.port, request)
    check_s3_answer(request, answer, authenticated=False)
    assert answer.status == 403, (request, answer)


@pytest.mark.parametrize("path", ["/model-invocation-job", "/tagResource", "/untagResource"])
def test_regression_deeply_nested_json_body_is_refused_not_a_500(signer: Signer,
                                                                 path: str) -> None:
    """Was: json.loads raised RecursionError, not ValueError, from ~1000 levels (500)."""
    request = signer.bedrock("POST", path, "", b"[" * 5000 + b"]" * 5000)
    answer = exchange(signer.port, request)
    check_bedrock_answer(request, answer, authenticated=True)
    assert answer.status == 400, (request, answer)


def test_regression_next_token_of_nested_json_is_refused_not_a_500(signer: Signer) -> None:
    """Was: the token's JSON raised RecursionError in store.jobs._parse_token (500)."""
    token = base64.urlsafe_b64encode(b"[" * 1400).decode()  # 1868 characters: within max 2048
    request = signer.bedrock("GET", "/model-invocation-jobs", f"nextToken={token}", headers={})
    answer = exchange(signer.port, request)
    check_bedrock_answer(request, answer, authenticated=True)
    assert answer.status == 400, (request, answer)


@pytest.mark.parametrize("where", ["nameContains", "jobName"])
def test_regression_a_job_name_of_dashes_is_refused_without_backtracking(signer: Signer,
                                                                         where: str) -> None:
    """Was: jobName's pattern `[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\\+\\-\\.]){0,63}` matched by `re`,
    which backtracks exponentially in the dashes: ~1.4 s of a blocked event loop at 24 dashes,
    x4 per two more. RE2 refuses it in microseconds."""
    name = "a" + "-" * 26 + "!"
    if where == "nameContains":
        request = signer.bedrock("GET", "/model-invocation-jobs", f"nameContains={name}",
                                 headers={})
    else:
        request = signer.bedrock("POST", "/model-invocation-job", "",
                                 json.dumps(job_template(name)).encode())
    answer = exchange(signer.port, request)
    check_bedrock_answer(request, answer, authenticated=True)
    assert answer.status == 400, (request, answer)
    assert answer.elapsed < 1, f"{answer.elapsed:.2f} s to refuse a 28-character name"


@pytest.mark.parametrize("shape", ["deep", "wide"])
def test_regression_xml_nested_or_wider_than_s3_documents_is_refused_at_once(
        signer: Signer, shape: str) -> None:
    """Was: xmltodict parsed it on the event loop, quadratic in depth (25,000 levels: ~1.4 s;
    4 MiB of them: minutes) and ~4 us an element (4 MiB of `<a/>`: ~5 s)."""
    inner = b"<N>" * 25_000 + b"</N>" * 25_000 if shape == "deep" else b"<a/>" * 1_000_000
    request = signer.s3("POST", f"/{FUZZ_BUCKET}", "delete", b"<Delete>" + inner + b"</Delete>")
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)
    assert (answer.status, s3_error_code(request, answer)) == (400, "MalformedXML")
    assert answer.elapsed < 1, f"{answer.elapsed:.2f} s to refuse {len(request.body)} bytes"


@pytest.mark.parametrize("encoding", ["TTF-8", "UTFi16"])
def test_regression_xml_declaring_an_unknown_encoding_is_malformed_not_a_500(
        signer: Signer, encoding: str) -> None:
    """Was: expat raised LookupError, not ExpatError, for an encoding with no codec (500).
    Seed 2160035827 of test_fuzz_signed_xml flipped a byte of the declaration into these."""
    body = f'<?xml version="1.0" encoding="{encoding}"?><Delete><Object><Key>victim-0</Key>' \
           "</Object></Delete>"
    request = signer.s3("POST", f"/{FUZZ_BUCKET}", "delete", body.encode())
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)
    assert (answer.status, s3_error_code(request, answer)) == (400, "MalformedXML")
