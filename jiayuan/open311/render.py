"""GeoReport v2 output: the same data as JSON or as the specification's schemaless XML.

XML follows the spec's element names: a list becomes a container whose children take the
singular name (``attributes`` → ``attribute``, ``values`` → ``value``, ``endpoints`` →
``endpoint``, ``formats`` → ``format``); booleans are ``true``/``false``; null is an empty
element. Errors are ``[{"code", "description"}]`` or ``<errors><error>…`` with the same status.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from django.http import HttpResponse

FORMATS = ("json", "xml")
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"
SINGULAR = {
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            _fill(ET.SubElement(element, name), child)
    elif isinstance(value, list):
        item_tag = SINGULAR.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item_tag), child)
    else:
        element.text = _text(value)


def to_xml(root_tag: str, value: Any) -> bytes:
    root = ET.Element(root_tag)
    if isinstance(value, list):
        item_tag = {"services": "service", "service_requests": "request", "errors": "error"}[
            root_tag
        ]
        for item in value:
            _fill(ET.SubElement(root, item_tag), item)
    else:
        _fill(root, value)
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body).encode("utf-8")


def respond(fmt: str, root_tag: str, value: Any, *, status: int = 200) -> HttpResponse:
    if fmt == "xml":
        response = HttpResponse(to_xml(root_tag, value), content_type=XML_TYPE, status=status)
    else:
        body = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        response = HttpResponse(body.encode("utf-8"), content_type=JSON_TYPE, status=status)
    # Open311 data is public; browser-based clients on other origins may read it.
    response["Access-Control-Allow-Origin"] = "*"
    return response


def error(fmt: str, status: int, description: str) -> HttpResponse:
    return respond(
        fmt if fmt in FORMATS else "json",
        "errors",
        [{"code": status, "description": description}],
        status=status,
    )
