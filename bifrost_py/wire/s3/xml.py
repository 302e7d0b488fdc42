"""S3 XML bodies both ways, with xmltodict.

Rendering takes plain dicts whose values are str, int, bool, None (element left out), nested
dicts, or lists (repeated elements); booleans come out as S3's lower-case `true`/`false`.
"""

from __future__ import annotations

import asyncio
from typing import Any
from xml.parsers import expat
from xml.parsers.expat import ExpatError

import xmltodict
from starlette.responses import Response

from bifrost_py.errors import MalformedXML

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML_BYTES = 4 * 2**20
# S3's request documents nest three deep (CompleteMultipartUpload > Part > ETag) and hold at most
# ~80,000 elements (10,000 parts of up to 8). xmltodict's cost is quadratic in depth and ~4 us per
# element, so a 4 MiB body of nested or tiny elements would hold the event loop for minutes.
MAX_XML_DEPTH = 16
MAX_XML_ELEMENTS = 100_000
# Bodies above this are parsed on a worker thread: a 10,000-part completion takes ~0.3 s.
INLINE_XML_BYTES = 64 * 2**10


def render(root: str, body: dict[str, Any], namespace: bool = True) -> bytes:
    content = _wire(body)
    if namespace:
        content = {"@xmlns": NAMESPACE, **content}
    return xmltodict.unparse({root: content}, encoding="utf-8").encode("utf-8")


def response(root: str, body: dict[str, Any], headers: dict[str, str] | None = None,
             ) -> Response:
    return Response(render(root, body), headers=headers, media_type="application/xml")


async def parse_request(data: bytes, root: str) -> dict[str, Any]:
    """`parse`, off the event loop when the body is large."""
    if len(data) <= INLINE_XML_BYTES:
        return parse(data, root)
    return await asyncio.to_thread(parse, data, root)


def parse(data: bytes, root: str) -> dict[str, Any]:
    """The children of `root`, each list-valued so repeated and single elements read alike."""
    if len(data) > MAX_XML_BYTES:
        raise MalformedXML("The XML you provided was too large.")
    try:
        _check_depth(data)
        # Whitespace is kept: a key may be nothing but spaces, and must be deletable.
        doc = xmltodict.parse(data, process_namespaces=False, force_list=lambda *_: True,
                              disable_entities=True, strip_whitespace=False)
    # expat raises LookupError, not ExpatError, for a declared encoding Python has no codec for.
    except (ExpatError, ValueError, LookupError) as exc:
        raise MalformedXML() from exc
    if not isinstance(doc, dict) or _local(next(iter(doc), "")) != root:
        raise MalformedXML()
    element = doc[next(iter(doc))][0]
    if not isinstance(element, dict):
        return {}
    return {_local(k): v for k, v in element.items() if not k.startswith(("@", "#"))}


def _check_depth(data: bytes) -> None:
    """One linear expat pass that stops at the first element past the depth or count S3's own
    documents reach."""
    parser = expat.ParserCreate()
    depth = elements = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, elements
        depth += 1
        elements += 1
        if depth > MAX_XML_DEPTH or elements > MAX_XML_ELEMENTS:
            raise MalformedXML()

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(data, True)


def text(node: dict[str, Any], name: str, strip: bool = True) -> str | None:
    """The text of the first `name` child of a parsed element, or None; surrounding
    whitespace removed unless `strip` is False (object keys keep theirs)."""
    values = node.get(name) or node.get(next((k for k in node if _local(k) == name), ""))
    if not values:
        return None
    value = values[0]
    if isinstance(value, dict):
        value = value.get("#text", "")
    if not isinstance(value, str):
        return ""
    return value.strip() if strip else value


def children(node: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The `name` child elements of a parsed element, each as a dict of its own children."""
    found = node.get(name) or []
    return [{_local(k): v for k, v in c.items() if not k.startswith("#")} if isinstance(c, dict)
            else {} for c in found]


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1]


def _wire(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return {k: _wire(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_wire(v) for v in value]
    return value if isinstance(value, str) else str(value)
