"""Signed S3 requests with fuzzed XML bodies: DeleteObjects, CompleteMultipartUpload and
CreateBucket, with random and malformed documents, namespaces, nesting, DTDs and entities, other
encodings and huge text.

Properties: those of every answer (fuzz_signed.py) and of the store (fuzz_signed_fixtures.py); no
external entity is read; and each operation changes only its own target: the objects a
DeleteObjects names, the multipart upload, the bucket a CreateBucket creates.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from tests.contract.bad_input_helpers import md5_b64
from tests.contract.fuzz_signed import (
    FUZZ_BUCKET,
    MIB,
    MPU_KEY,
    NAMESPACE,
    PART_DATA,
    PART_ETAG,
    SENTINEL_BUCKET,
    VICTIMS,
    Answer,
    Signer,
    check_s3_answer,
    clip,
    exchange,
    fuzz_settings,
)
from tests.contract.fuzz_signed_fixtures import *  # noqa: F403 - the fixtures
from tests.contract.fuzz_signed_fixtures import Sentinels
from tests.contract.s3_helpers import etag_of


@dataclass(frozen=True)
class XmlDoc:
    root: str
    attributes: str
    inner: str
    doctype: str = ""

    def text(self) -> str:
        return f"{self.doctype}<{self.root}{self.attributes}>{self.inner}</{self.root}>"


XML_NAMES = ["Delete", "Object", "Key", "VersionId", "Quiet", "CompleteMultipartUpload", "Part",
             "PartNumber", "ETag", "ChecksumCRC32", "ChecksumSHA256", "CreateBucketConfiguration",
             "LocationConstraint", "Location", "Bucket", "Type", "s3:Key", "x:Object"]
xml_names = st.sampled_from(XML_NAMES) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,8}",
                                                        fullmatch=True)
XML_TEXTS = ["", " ", "1", "2", "0", "-1", "10000", "10001", "01", " 1 ", "1.0", "\u0663",
             "9" * 12, f'"{PART_ETAG}"', PART_ETAG, f'"{PART_ETAG.upper()}"', '"wrong"', "true",
             "TRUE", "us-west-2", "EU", "&amp;", "&lt;Key&gt;", "&#x41;", "&#0;", "&#xD800;",
             "&undefined;", "<![CDATA[<Key>x</Key>]]>", "]]>", "<!-- c -->", "<?pi x?>",
             "victim-0", "victim \u00e9/1", "dir/victim-2", "k" * 1025, "\u00e9" * 513,
             "/victim-0", "victim-0 ", "gone", "<Key>gone</Key>", "<Key/>",
             "\u00b2"]  # isdigit() but not int(), as a PartNumber
xml_texts = st.one_of(st.sampled_from(XML_TEXTS), st.text(max_size=24).map(escape),
                      st.text(max_size=8))
xml_trees = st.recursive(
    st.one_of(st.tuples(xml_names, xml_texts).map(lambda t: f"<{t[0]}>{t[1]}</{t[0]}>"),
              xml_names.map(lambda n: f"<{n}/>"), xml_texts),
    lambda kids: st.tuples(xml_names, st.lists(kids, max_size=4)).map(
        lambda t: f"<{t[0]}>{''.join(t[1])}</{t[0]}>"),
    max_leaves=10)


def _roots(name: str) -> list[tuple[str, str]]:
    return [(name, ""), (name, ""), (name, f' xmlns="{NAMESPACE}"'),
            (f"s3:{name}", f' xmlns:s3="{NAMESPACE}"'), (name, ' a="1" xml:lang="en"'),
            (name.lower(), ""), (f"Not{name}", "")]


def _element(name: str, text: str | None) -> str:
    return "" if text is None else f"<{name}>{text}</{name}>"


@st.composite
def delete_docs(draw: st.DrawFn) -> XmlDoc:
    objects = draw(st.lists(st.tuples(xml_texts, st.none() | xml_texts), max_size=5))
    parts = [f"<Object>{_element('Key', key)}{_element('VersionId', version)}</Object>"
             for key, version in objects]
    parts.append(_element("Quiet", draw(st.none() | xml_texts)))
    parts += draw(st.lists(xml_trees, max_size=2))
    root, attributes = draw(st.sampled_from(_roots("Delete")))
    return XmlDoc(root, attributes, "".join(draw(st.permutations(parts))))


@st.composite
def complete_docs(draw: st.DrawFn) -> XmlDoc:
    parts = []
    for number, etag, checksum in draw(st.lists(st.tuples(xml_texts, xml_texts,
                                                          st.none() | xml_texts), max_size=4)):
        parts.append(f"<Part>{_element('PartNumber', number)}{_element('ETag', etag)}"
                     f"{_element('ChecksumCRC32', checksum)}</Part>")
    parts += draw(st.lists(xml_trees, max_size=2))
    root, attributes = draw(st.sampled_from(_roots("CompleteMultipartUpload")))
    return XmlDoc(root, attributes, "".join(draw(st.permutations(parts))))


@st.composite
def create_docs(draw: st.DrawFn) -> XmlDoc:
    parts = [_element("LocationConstraint", draw(st.none() | xml_texts)),
             *draw(st.lists(xml_trees, max_size=2))]
    root, attributes = draw(st.sampled_from(_roots("CreateBucketConfiguration")))
    return XmlDoc(root, attributes, "".join(draw(st.permutations(parts))))


LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
DOCTYPES = {  # name -> (DOCTYPE with {root}, reference to use in the body)
    # The entity spells victim-0 without the literal name: were it expanded, the victim check
    # below would see a victim deleted that the body never names.
    "internal": ('<!DOCTYPE {root} [<!ENTITY e "vic&#116;im-0">]>', "&e;"),
    "laughs": ('<!DOCTYPE {root} [<!ENTITY l0 "victim-0">' + LAUGHS + "]>", "&l9;"),
    "xxe-file": ('<!DOCTYPE {root} [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "&e;"),
    "xxe-http": ('<!DOCTYPE {root} [<!ENTITY e SYSTEM "http://127.0.0.1:9/x">]>', "&e;"),
    "parameter": ('<!DOCTYPE {root} [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>', ""),
    "external-dtd": ('<!DOCTYPE {root} SYSTEM "http://127.0.0.1:9/x.dtd">', ""),
    "plain": ("<!DOCTYPE {root}>", ""),
    "undeclared": ("", "&e;"),
}
ENTITY_HOSTS = {"delete": "<Object><Key>{}</Key></Object>",
                "complete": "<Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>",
                "create": "<LocationConstraint>{}</LocationConstraint>"}
FILLERS = {"delete": lambda i: f"<Object><Key>gone-{i}</Key></Object>",
           "complete": lambda i: f"<Part><PartNumber>{i + 1}</PartNumber><ETag>x</ETag></Part>",
           "create": lambda i: f"<X{i}/>"}
HUGE = {"delete": "<Object><Key>{}</Key></Object>", "complete": "<Pad>{}</Pad>",
        "create": "<LocationConstraint>{}</LocationConstraint>"}


@dataclass(frozen=True)
class XmlCase:
    op: str  # delete | complete | create
    body: bytes
    md5: str  # none | right | wrong | garbage
    where: str  # delete: the bucket; create: existing | fresh | invalid
    how: str  # the mangles applied, for the report

    def __repr__(self) -> str:
        return f"XmlCase({self.op}, {self.where}, {self.how}, md5={self.md5}, {clip(self.body)!r})"


@st.composite
def xml_cases(draw: st.DrawFn) -> XmlCase:
    op = draw(st.sampled_from(["delete", "complete", "create"]))
    doc = draw({"delete": delete_docs(), "complete": complete_docs(),
                "create": create_docs()}[op])
    structure = draw(st.sampled_from(["none", "none", "none", "doctype", "nest", "huge",
                                      "many"]))
    if structure == "doctype":
        doctype, reference = DOCTYPES[draw(st.sampled_from(sorted(DOCTYPES)))]
        doc = dataclasses.replace(doc, doctype=doctype.format(root=doc.root),
                                  inner=ENTITY_HOSTS[op].format(reference) + doc.inner)
    elif structure == "nest":
        depth = draw(st.sampled_from([3, 10, 200, 20_000]))
        doc = dataclasses.replace(doc, inner="<N>" * depth + doc.inner + "</N>" * depth)
    elif structure == "huge":
        size = draw(st.sampled_from([200_000, 4_000_000, 4 * MIB + 1]))
        doc = dataclasses.replace(doc, inner=HUGE[op].format("k" * size) + doc.inner)
    elif structure == "many":
        count = draw(st.sampled_from([999, 1000, 1001]))
        doc = dataclasses.replace(doc, inner="".join(map(FILLERS[op], range(count))) + doc.inner)
    text = doc.text()
    encoding = draw(st.sampled_from(["plain", "plain", "declared", "bom", "utf-16", "latin-1",
                                     "declared-wrong", "version-1.1"]))
    body = {"plain": lambda: text.encode(),
            "declared": lambda: f'<?xml version="1.0" encoding="UTF-8"?>\n{text}'.encode(),
            "bom": lambda: b"\xef\xbb\xbf" + text.encode(),
            "utf-16": lambda: f'<?xml version="1.0" encoding="UTF-16"?>{text}'.encode("utf-16"),
            "latin-1": lambda: f'<?xml version="1.0" encoding="ISO-8859-1"?>{text}'.encode(
                "latin-1", "replace"),
            "declared-wrong": lambda: f'<?xml version="1.0" encoding="UTF-16"?>{text}'.encode(),
            "version-1.1": lambda: f'<?xml version="1.1"?>{text}'.encode()}[encoding]()
    mangle = draw(st.sampled_from(["none", "none", "none", "truncate", "flip", "insert",
                                   "trailing", "empty"]))
    if body and mangle in ("truncate", "flip", "insert"):
        at = draw(st.integers(0, len(body) - 1))
        if mangle == "truncate":
            body = body[:at]
        elif mangle == "flip":
            body = body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1:]
        else:
            body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    elif mangle == "trailing":
        body += draw(st.sampled_from([b"<Extra/>", b"garbage", b"\x00", b"<!-- -->", b" \n"]))
    elif mangle == "empty":
        body = b""
    where = {"delete": st.sampled_from([FUZZ_BUCKET, FUZZ_BUCKET, SENTINEL_BUCKET,
                                        "no-such-bucket-fuzz"]),
             "complete": st.just(FUZZ_BUCKET),
             "create": st.sampled_from(["existing", "fresh", "fresh", "invalid"])}[op]
    md5 = draw(st.sampled_from(["none"] * 5 + ["right"] * 3 + ["wrong", "garbage"]))
    return XmlCase(op, body, md5,
                   draw(where), f"{structure}/{encoding}/{mangle}")


class XmlTargets:
    """What the XML operations act on, and the checks that they changed only what they may."""

    def __init__(self, s3: Any) -> None:
        self.s3 = s3
        self.upload_id: str | None = None
        self.mpu_etag = s3.head_object(Bucket=FUZZ_BUCKET, Key=MPU_KEY)["ETag"]
        self.fresh = 0

    def victims(self) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        for key in VICTIMS:
            try:
                found[key] = self.s3.head_object(Bucket=FUZZ_BUCKET, Key=key)["ETag"]
            except ClientError:
                found[key] = None
        return found

    def restore_victims(self) -> None:
        for key, etag in self.victims().items():
            if etag != etag_of(VICTIMS[key]):
                self.s3.put_object(Bucket=FUZZ_BUCKET, Key=key, Body=VICTIMS[key])

    def check_victims(self, case: XmlCase, answer: Answer) -> None:
        """A victim is never changed, and gone only after a 200 to a body naming it."""
        named = [case.body.decode(codec, "ignore") for codec in ("utf-8", "utf-16", "latin-1")]
        for key, etag in self.victims().items():
            if etag is None:
                assert answer.status == 200 and case.where == FUZZ_BUCKET, (key, case, answer)
                assert any(key in text for text in named), (key, case, answer)
            else:
                assert etag == etag_of(VICTIMS[key]), (key, case, answer)

    def upload(self) -> str:
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(Bucket=FUZZ_BUCKET,
                                                             Key=MPU_KEY)["UploadId"]
            self.s3.upload_part(Bucket=FUZZ_BUCKET, Key=MPU_KEY, UploadId=self.upload_id,
                                PartNumber=1, Body=PART_DATA)
        return self.upload_id

    def check_upload(self, case: XmlCase, answer: Answer) -> None:
        """A 200 publishes the object it names; anything else keeps the object and the upload."""
        etag = self.s3.head_object(Bucket=FUZZ_BUCKET, Key=MPU_KEY)["ETag"]
        if answer.status == 200:
            assert re.search(rb"<ETag>" + re.escape(etag.encode().replace(b'"', b"&quot;"))
                             + rb"</ETag>|<ETag>" + re.escape(etag.encode()) + rb"</ETag>",
                             answer.body), (etag, case, answer)
            assert self.s3.get_object(Bucket=FUZZ_BUCKET, Key=MPU_KEY)["Body"].read() == \
                PART_DATA
            self.mpu_etag, self.upload_id = etag, None
            return
        assert etag == self.mpu_etag, (case, answer)
        parts = self.s3.list_parts(Bucket=FUZZ_BUCKET, Key=MPU_KEY, UploadId=self.upload_id)
        assert [(p["PartNumber"], p["ETag"]) for p in parts.get("Parts", [])] == [
            (1, etag_of(PART_DATA))], (case, answer)

    def bucket(self, where: str, body: bytes) -> str:
        if where == "invalid" and len(body) < 16_384:  # refused before the body is read
            return "Invalid_Bucket..Name"
        if where in ("existing", "invalid"):
            return FUZZ_BUCKET
        self.fresh += 1
        return f"fuzz-created-{self.fresh}"

    def check_bucket(self, name: str, case: XmlCase, answer: Answer) -> None:
        if not name.startswith("fuzz-created-"):
            return
        try:
            self.s3.head_bucket(Bucket=name)
            exists = True
        except ClientError:
            exists = False
        assert exists == (answer.status == 200), (name, case, answer)
        if exists:
            self.s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="module")
def xml_targets(s3: Any, sentinels: Sentinels) -> XmlTargets:
    return XmlTargets(s3)


@fuzz_settings(150)
@given(case=xml_cases())
def test_signed_xml_bodies_are_answered_well_and_change_only_what_they_name(
        signer: Signer, sentinels: Sentinels, xml_targets: XmlTargets, case: XmlCase) -> None:
    headers = {"none": {}, "right": {"Content-MD5": md5_b64(case.body)},
               "wrong": {"Content-MD5": md5_b64(case.body + b"x")},
               "garbage": {"Content-MD5": "not base64!"}}[case.md5]
    if case.op == "delete":
        xml_targets.restore_victims()
        request = signer.s3("POST", f"/{case.where}", "delete", case.body, headers)
    elif case.op == "complete":
        upload_id = xml_targets.upload()
        request = signer.s3("POST", f"/{FUZZ_BUCKET}/{MPU_KEY}",
                            f"uploadId={quote(upload_id, safe='')}", case.body, headers)
    else:
        name = xml_targets.bucket(case.where, case.body)
        request = signer.s3("PUT", f"/{name}", "", case.body, headers)
    answer = exchange(signer.port, request)
    check_s3_answer(request, answer, authenticated=True)
    assert b"root:" not in answer.body, "an external entity was read"
    if case.op == "delete":
        xml_targets.check_victims(case, answer)
    elif case.op == "complete":
        xml_targets.check_upload(case, answer)
    else:
        xml_targets.check_bucket(name, case, answer)
    sentinels.quick_check()
