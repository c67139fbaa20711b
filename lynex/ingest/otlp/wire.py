"""OTLP/HTTP encodings: request bodies (protobuf or OTLP JSON) in, responses and errors out.

OTLP JSON is proto3 JSON with two differences that matter here: trace and span ids are hex
(not base64) and enums may be integers. Ids are rewritten to base64 so protobuf's own JSON
parser can build the same message the protobuf path gets; one converter serves both.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from lynex.ingest.decode import BodyError

PROTOBUF = "protobuf"
JSON = "json"

_CONTENT_TYPES = {"application/x-protobuf": PROTOBUF, "application/protobuf": PROTOBUF, "application/json": JSON}
_MEDIA = {PROTOBUF: "application/x-protobuf", JSON: "application/json"}
# HTTP status → google.rpc.Code, for the Status body OTLP asks for on errors.
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 413: 3, 415: 3, 429: 8, 503: 14}
_ID_FIELDS = (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id"))


def otlp_format(content_type: str | None) -> str:
    """Content-Type → ``protobuf``/``json``, or BodyError(415)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _CONTENT_TYPES:
        return _CONTENT_TYPES[media]
    raise BodyError(415, f"unsupported content type '{media or 'none'}'; OTLP/HTTP accepts "
                         "application/x-protobuf or application/json")


def media_type(fmt: str) -> str:
    return _MEDIA[fmt]


def _hex_to_b64(holder: dict[str, Any]) -> None:
    for camel, snake in _ID_FIELDS:
        for key in (camel, snake):
            value = holder.get(key)
            if isinstance(value, str) and value:
                try:
                    holder[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise BodyError(400, f"{key} '{value[:64]}' is not hex (OTLP JSON encodes ids as hex)") from None


def _each(holder: dict[str, Any], *keys: str) -> list:
    for key in keys:
        value = holder.get(key)
        if isinstance(value, list):
            return value
    return []


def _fix_ids(doc: dict[str, Any]) -> None:
    for resource_spans in _each(doc, "resourceSpans", "resource_spans"):
        if not isinstance(resource_spans, dict):
            continue
        scopes = _each(resource_spans, "scopeSpans", "scope_spans", "instrumentationLibrarySpans")
        resource_spans.pop("instrumentationLibrarySpans", None)
        resource_spans["scopeSpans"] = scopes  # the pre-1.0 name, still sent by old exporters
        resource_spans.pop("scope_spans", None)
        for scope_spans in scopes:
            if isinstance(scope_spans, dict):
                scope_spans.pop("instrumentationLibrary", None)
                for span in _each(scope_spans, "spans"):
                    if isinstance(span, dict):
                        _hex_to_b64(span)
                        for link in _each(span, "links"):
                            if isinstance(link, dict):
                                _hex_to_b64(link)


def parse_request(body: bytes, fmt: str) -> ExportTraceServiceRequest:
    """The decompressed body → ``ExportTraceServiceRequest``; BodyError(400) when malformed."""
    request = ExportTraceServiceRequest()
    if fmt == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise BodyError(400, f"body is not a valid OTLP ExportTraceServiceRequest protobuf: {exc}") from None
        return request
    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BodyError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BodyError(400, "body must be an OTLP JSON object {\"resourceSpans\": [...]}")
    _fix_ids(doc)
    try:
        json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise BodyError(400, f"body is not a valid OTLP JSON ExportTraceServiceRequest: {exc}") from None
    return request


def encode_response(fmt: str, rejected: int = 0, message: str = "") -> bytes:
    """``ExportTraceServiceResponse``, with ``partial_success`` only when something was refused."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    if fmt == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def encode_status(fmt: str, http_status: int, message: str) -> bytes:
    """A ``google.rpc.Status`` error body (hand-encoded: two fields, no extra dependency).

    The JSON form also carries Lynex's usual ``error``/``status`` keys.
    """
    code = _GRPC_CODES.get(http_status, 2)
    if fmt == PROTOBUF:
        text = message.encode()
        return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    return msgspec.json.encode({"code": code, "message": message, "error": message, "status": http_status})
