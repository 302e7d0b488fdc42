from __future__ import annotations

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
])
def test_malformed_documents_are_malformed_xml(body: bytes) -> None:
    with pytest.raises(MalformedXML):
        xml.parse(body, "Delete")


def test_oversized_documents_are_refused_before_parsing() -> None:
    with pytest.raises(MalformedXML):
        xml.parse(b"<Delete>" + b" " * (xml.MAX_XML_BYTES + 1) + b"</Delete>", "Delete")
