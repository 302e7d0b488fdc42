from __future__ import annotations

import asyncio

import pytest

from bifrost_py.errors import MalformedXML
from bifrost_py.wire.s3 import xml


def test_render_lower_cases_booleans_and_drops_none() -> None:
    body = xml.render("R", {"IsTruncated": False, "Gone": None, "Count": 3,
                            "Item": [{"Key": "a&b"}, {"Key": "c"}]}).decode()
    assert '<R xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' in body
    assert "<IsTruncated>false</IsTruncated>" in body and "Gone" not in body
    assert "<Item><Key>a&amp;b</Key></Item><Item><Key>c</Key></Item>" in body


def test_parse_reads_single_and_repeated_children_alike() -> None:
    doc = xml.parse(b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                    b"<Quiet>true</Quiet><Object><Key>a</Key></Object></Delete>", "Delete")
    assert xml.text(doc, "Quiet") == "true"
    assert [xml.text(o, "Key") for o in xml.children(doc, "Object")] == ["a"]


@pytest.mark.parametrize("body", [
    b"", b"<Delete>", b"<Other/>", b"not xml", b"<Delete><Object></Delete>",
    b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Delete>&a;</Delete>',
    b'<?xml version="1.0" encoding="TTF-8"?><Delete/>',  # an encoding no codec is named for
])
def test_malformed_documents_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        xml.parse(body, "Delete")


def test_oversized_documents_are_refused_before_parsing() -> None:
    with pytest.raises(MalformedXML):
        xml.parse(b"<Delete>" + b" " * (xml.MAX_XML_BYTES + 1) + b"</Delete>", "Delete")


def test_documents_nested_deeper_than_s3_documents_go_are_malformed() -> None:
    depth = xml.MAX_XML_DEPTH
    with pytest.raises(MalformedXML):
        xml.parse(b"<Delete>" + b"<N>" * depth + b"</N>" * depth + b"</Delete>", "Delete")
    nested = b"<Delete>" + b"<N>" * (depth - 1) + b"</N>" * (depth - 1) + b"</Delete>"
    assert "N" in xml.parse(nested, "Delete")


def test_documents_with_more_elements_than_s3_documents_hold_are_malformed() -> None:
    with pytest.raises(MalformedXML):
        xml.parse(b"<Delete>" + b"<a/>" * xml.MAX_XML_ELEMENTS + b"</Delete>", "Delete")


def test_the_largest_completion_s3_accepts_parses_off_the_event_loop() -> None:
    part = (b'<Part><PartNumber>1</PartNumber><ETag>"%s"</ETag>' % (b"0" * 32)
            + b"".join(b"<Checksum%d>AAAAAA==</Checksum%d>" % (i, i) for i in range(6))
            + b"</Part>")
    body = b"<CompleteMultipartUpload>" + part * 10_000 + b"</CompleteMultipartUpload>"
    assert len(body) > xml.INLINE_XML_BYTES
    doc = asyncio.run(xml.parse_request(body, "CompleteMultipartUpload"))
    assert len(xml.children(doc, "Part")) == 10_000
