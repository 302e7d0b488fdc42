"""Signed requests to the Bedrock control plane: CreateModelInvocationJob, TagResource,
UntagResource and ListTagsForResource bodies (wrong types, huge strings, invalid UTF-8, ...),
ListModelInvocationJobs query strings, and Get/Stop paths with random identifiers. Job names
include long runs of dashes, on which jobName's pattern once backtracked exponentially.

Properties: those of every answer (fuzz_signed.py) and of the store (fuzz_signed_fixtures.py).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from tests.contract.fuzz_signed import (
    BEDROCK_MOUNT,
    IO_BUCKET,
    MIB,
    MODEL,
    ROLE_ARN,
    SENTINEL_BUCKET,
    SENTINEL_PREFIX,
    Signer,
    bedrock_verifiable,
    check_bedrock_answer,
    clip,
    exchange,
    fuzz_settings,
    job_template,
    raw_queries,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels


def resolve(text: str, ids: dict[str, str]) -> str:
    for placeholder, value in ids.items():
        text = text.replace(placeholder, value)
    return text


# --- JSON bodies -------------------------------------------------------------------------------

JSON_KEYS = ["jobName", "modelId", "roleArn", "clientRequestToken", "inputDataConfig",
             "outputDataConfig", "s3InputDataConfig", "s3OutputDataConfig", "s3Uri",
             "s3InputFormat", "s3BucketOwner", "s3EncryptionKeyId", "vpcConfig", "subnetIds",
             "securityGroupIds", "timeoutDurationInHours", "tags", "key", "value",
             "modelInvocationType", "resourceARN", "tagKeys", "__type", "message"]
JSON_STRINGS = [
    "", " ", "x", "@target-arn", "@target-id", "fuzzjob", "fuzz-job.v1+2", "a" * 64,
    "\u00e9" * 70, "\U0001f600", "\x00", "\ud7ff", "s3://", "s3://fuzz-io", f"s3://{IO_BUCKET}/",
    f"s3://{IO_BUCKET}/in.jsonl", f"s3://{IO_BUCKET}/../in.jsonl", "s3://FUZZ/x",
    "s3://no-such-bucket-fuzz/in.jsonl", f"s3://{SENTINEL_BUCKET}/{SENTINEL_PREFIX}out/",
    "http://example.com/x", ROLE_ARN, "arn:aws:iam::123456789012:role/", "arn:aws:iam:::role/x",
    MODEL, "amazon.nova-lite-v1:0", "arn:aws:bedrock:us-west-2::foundation-model/x.y",
    "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/aaaaaaaaaaaa",
    "arn:aws:bedrock:us-west-2:000000000000:model-invocation-job/@target-id",
    "arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/@target-id/x",
    "JSONL", "jsonl", "InvokeModel", "Converse", "CSV", "x" * 300_000,
]
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([0, -1, 23, 24, 168, 169,
                                                                        2**31, 2**63, 1e308]),
    st.text(max_size=20), st.sampled_from(JSON_STRINGS),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
        st.sampled_from(JSON_KEYS) | st.text(max_size=8), kids, max_size=4),
    max_leaves=12)

TEMPLATES: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "create": ("/model-invocation-job", job_template),
    "tag": ("/tagResource", lambda _: {"resourceARN": "@target-arn",
                                       "tags": [{"key": "k1", "value": "v1"},
                                                {"key": "team", "value": "fuzz"}]}),
    "untag": ("/untagResource", lambda _: {"resourceARN": "@target-arn", "tagKeys": ["k1"]}),
    "list-tags": ("/listTagsForResource", lambda _: {"resourceARN": "@target-arn"}),
}


def _containers(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every dict and list in `value`, and to every member of them."""
    if isinstance(value, dict):
        yield path
        for key, member in value.items():
            yield (*path, key)
            yield from _containers(member, (*path, key))
    elif isinstance(value, list):
        yield path
        for index, member in enumerate(value):
            yield (*path, index)
            yield from _containers(member, (*path, index))


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any, key: str) -> Any:
    """`document` with the member at `path` dropped, set to `value`, or given a member `key`."""
    if not path:
        if action == "add" and isinstance(document, dict):
            return {**document, key: value}
        if action == "add" and isinstance(document, list):
            return [*document, value]
        return value if action == "set" else document
    head, rest = path[0], path[1:]
    if isinstance(document, dict) and head in document:
        copy = dict(document)
        if not rest and action == "drop":
            del copy[head]
        else:
            copy[head] = _mutate(document[head], rest, action, value, key)
        return copy
    if isinstance(document, list) and isinstance(head, int) and head < len(document):
        copy = list(document)
        if not rest and action == "drop":
            del copy[head]
        else:
            copy[head] = _mutate(document[head], rest, action, value, key)
        return copy
    return document


def resolve_json(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return resolve(value, ids)
    if isinstance(value, list):
        return [resolve_json(v, ids) for v in value]
    if isinstance(value, dict):
        return {resolve(k, ids): resolve_json(v, ids) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class JsonCase:
    op: str
    document: Any  # placeholders unresolved
    encoding: str
    mangle: str
    at: int
    noise: bytes

    def __repr__(self) -> str:
        return (f"JsonCase({self.op}, {self.encoding}, {self.mangle}@{self.at} {self.noise!r}, "
                f"{clip(json.dumps(self.document, default=str))})")

    def body(self, ids: dict[str, str]) -> bytes:
        document = resolve_json(self.document, ids)
        encode: dict[str, Callable[[], bytes]] = {
            "compact": lambda: json.dumps(document, separators=(",", ":")).encode(),
            "pretty": lambda: json.dumps(document, indent=2).encode(),
            "unicode": lambda: json.dumps(document, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"),
            "utf-16": lambda: json.dumps(document).encode("utf-16"),
            "bom": lambda: b"\xef\xbb\xbf" + json.dumps(document).encode(),
        }
        body = encode[self.encoding]()
        at = self.at % (len(body) + 1)
        mangled: dict[str, Callable[[], bytes]] = {
            "none": lambda: body,
            "truncate": lambda: body[:at],
            "flip": lambda: body[:at] + bytes([(body[at:at + 1] or b"\x00")[0] ^ 0x5A])
            + body[at + 1:],
            "insert": lambda: body[:at] + self.noise + body[at:],
            "invalid-utf8": lambda: body.replace(b'"', b'"\xff\xfe\xc3', 1),
            "trailing": lambda: body + self.noise,
            "deep": lambda: body[:-1] + b', "tags": ' + b"[" * 150 + b"]" * 150 + b"}",
            "deeper": lambda: b"[" * 3000 + body + b"]" * 3000,  # past json.loads' recursion
            "huge": lambda: body[:-1] + b', "pad": "' + b"x" * MIB + b'"}',
            "duplicate-key": lambda: body[:-1] + b', "jobName": "duplicate"}',
            "raw": lambda: self.noise,
            "empty": lambda: b"",
            "null": lambda: b"null",
            "nan": lambda: b'{"timeoutDurationInHours": NaN}',
        }
        return mangled[self.mangle]()


@st.composite
def json_cases(draw: st.DrawFn) -> JsonCase:
    op = draw(st.sampled_from(sorted(TEMPLATES)))
    name = draw(st.from_regex(r"[a-zA-Z0-9]{1,12}(-{0,40}[a-zA-Z0-9+.!]){0,6}-{0,40}",
                              fullmatch=True))
    document: Any = TEMPLATES[op][1](name)
    # (Hypothesis draws early entries of sampled_from and small integers more often than the
    # rest: the rare choices go last.)
    if draw(st.sampled_from([False] * 9 + [True])):
        document = draw(json_values)
    for _ in range(draw(st.sampled_from([1, 1, 2, 2, 3, 4, 0]))):
        action = draw(st.sampled_from(["drop", "set", "set", "add"]))
        # Members, not the document itself: replacing that is what the draw above does.
        paths = [p for p in _containers(document) if p or action == "add"]
        path = draw(st.sampled_from(paths)) if paths else ()
        value = draw(json_values)
        key = draw(st.sampled_from(JSON_KEYS) | st.text(max_size=8))
        document = _mutate(document, path, action, value, key)
    return JsonCase(op, document,
                    draw(st.sampled_from(["compact", "compact", "pretty", "unicode", "utf-16",
                                          "bom"])),
                    draw(st.sampled_from(["none"] * 6 + ["truncate", "flip", "insert",
                                                         "invalid-utf8", "trailing", "deep",
                                                         "huge", "duplicate-key", "raw",
                                                         "empty", "null", "nan",
                                                         "deeper"])),
                    draw(st.integers(0, 10**6)), draw(st.binary(min_size=1, max_size=12)))


@fuzz_settings(200)
@given(case=json_cases())
def test_signed_bedrock_json_bodies_are_answered_with_json(
        signer: Signer, sentinels: Sentinels, case: JsonCase) -> None:
    request = signer.bedrock("POST", TEMPLATES[case.op][0], "", case.body(sentinels.ids))
    answer = exchange(signer.port, request)
    check_bedrock_answer(request, answer, authenticated=True)



# --- paths and query strings ---------------------------------------------------------------------

IDENTIFIERS = ["@sentinel-id", "@sentinel-arn", "@target-id", "@target-arn", "aaaaaaaaaaaa",
               "AAAAAAAAAAAA", "a" * 11, "a" * 13, "", ".", "..", "%", "%zz", "x" * 1100,
               "arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/aaaaaaaaaaaa",
               "arn:aws:bedrock:eu-west-1:123456789012:model-invocation-job/@target-id",
               "arn:aws:bedrock:us-west-2:999999999999:model-invocation-job/@target-id",
               "arn:aws:bedrock:us-west-2:\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668"
               "\u0669\u0660\u0661\u0662:model-invocation-job/@target-id",
               "arn:aws-cn:bedrock:us-west-2:123456789012:model-invocation-job/@target-id",
               "arn:aws:iam::123456789012:role/x", "@target-arn/stop", "@target-id\n"]
LIST_PARAMS = ["statusEquals", "nameContains", "maxResults", "nextToken", "sortBy", "sortOrder",
               "submitTimeAfter", "submitTimeBefore"]
LIST_VALUES = ["", "Submitted", "InProgress", "Completed", "Failed", "Stopped", "completed",
               "CreationTime", "Ascending", "Descending", "0", "1", "2", "1000", "1001", "-1",
               "1.5", "9" * 30, "9" * 5000, " 5 ", "\u0663", "fuzz", "fuzztarget", "sentinel",
               "a-b.c+d", "a" + "-" * 60 + "!", "@next-token", "2024-01-01T00:00:00Z",
               "2024-01-01T00:00:00+23:59",
               "2024-01-01", "0001-01-01T00:00:00", "9999-12-31T23:59:59-23:59",
               "2024-13-45T99:99:99Z", "1700000000", "NaN", "now",
               base64.urlsafe_b64encode(b'[1e400, "x"]').decode(),
               base64.urlsafe_b64encode(b'{"a": 1}').decode(),
               base64.urlsafe_b64encode(b'[[[[1]]], "x"]').decode(),
               base64.urlsafe_b64encode(b"\xff\xfe").decode(), "!!!!", "===="]


bedrock_queries = raw_queries(
    st.one_of(st.sampled_from(LIST_PARAMS), st.sampled_from(LIST_PARAMS), st.text(max_size=8)),
    st.one_of(st.sampled_from(LIST_VALUES), st.sampled_from(LIST_VALUES), st.text(max_size=20),
              st.binary(max_size=4)))


@dataclass(frozen=True)
class PathCase:
    method: str  # or "route": the one the path's operation wants
    kind: str  # list | get | stop | other
    ident: str  # placeholders unresolved
    encoding: str  # how the identifier goes into the path
    suffix: str  # appended to the path
    query: str

    def path(self, ids: dict[str, str]) -> str:
        ident = self.ident
        if self.kind == "stop":  # stopping the sentinel would change it: stop the target
            ident = ident.replace("@sentinel", "@target")
        ident = resolve(ident, ids)
        encoded = {"quoted": lambda: quote(ident, safe=""),
                   "raw": lambda: quote(ident, safe=":/@"),
                   "colons": lambda: quote(ident, safe=":"),
                   "double": lambda: quote(quote(ident, safe=""), safe="")}[self.encoding]()
        base = {"list": "/model-invocation-jobs", "get": f"/model-invocation-job/{encoded}",
                "stop": f"/model-invocation-job/{encoded}/stop", "other": f"/{encoded}"}
        return base[self.kind] + self.suffix


path_cases = st.builds(
    PathCase,
    method=st.sampled_from(["route"] * 16 + ["POST", "GET", "DELETE", "HEAD"]),
    kind=st.sampled_from(["list"] * 3 + ["get"] * 2 + ["stop"] * 2 + ["other"]),
    ident=st.sampled_from(IDENTIFIERS) | st.text(max_size=30),
    encoding=st.sampled_from(["quoted", "quoted", "raw", "colons", "double"]),
    suffix=st.sampled_from([""] * 14 + ["/", "//", "/.", "/..", "/x", "%2F"]),
    query=bedrock_queries,
)


@fuzz_settings(150)
@given(case=path_cases)
def test_signed_bedrock_paths_and_queries_are_answered_with_json(
        signer: Signer, sentinels: Sentinels, case: PathCase) -> None:
    # "route": the method the route wants (GET lists and gets, POST stops).
    method = case.method
    if method == "route":
        method = "POST" if case.kind == "stop" else "GET"
    query = resolve(case.query, {"@next-token": sentinels.ids["@next-token"]})
    path = case.path(sentinels.ids)
    request = signer.bedrock(method, path, query, headers={})
    answer = exchange(signer.port, request)
    verifiable = bedrock_verifiable(BEDROCK_MOUNT + path, query)
    if method == "HEAD":
        assert answer.status < 500, (request, answer)
        assert answer.headers.get("x-amzn-requestid"), (request, answer)
        return
    check_bedrock_answer(request, answer, authenticated=verifiable)


# UTF-8 only (the path test sends the rest): what the server cannot verify never reaches the parser.
list_queries = raw_queries(
    st.one_of(st.sampled_from(LIST_PARAMS), st.text(max_size=8)),
    st.one_of(st.sampled_from(LIST_VALUES), st.text(max_size=20)))


@fuzz_settings(200)
@given(query=list_queries)
def test_signed_bedrock_list_queries_are_answered_with_json(
        signer: Signer, sentinels: Sentinels, query: str) -> None:
    query = resolve(query, {"@next-token": sentinels.ids["@next-token"]})
    request = signer.bedrock("GET", "/model-invocation-jobs", query, headers={})
    answer = exchange(signer.port, request)
    check_bedrock_answer(request, answer,
                         authenticated=bedrock_verifiable(request.path, query))
