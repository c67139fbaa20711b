"""OTLP as an ingest-log record format: the request path logs protobuf, enrichment converts it.

An ``otlp-batch`` record holds one ``ExportTraceServiceRequest`` body whose every span was
accepted; an ``otlp`` record holds one single-span request (the span with its resource and scope)
per accepted span, split out when some spans of a request were refused or were retries.
Converting here gives exactly the spans the request would have converted to: the converter is
pure and sees the same span, resource and scope.
"""

from __future__ import annotations

from typing import Any, Iterator

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from lynex.ingest.otlp.convert import convert_request
from lynex.models import RawSpan

_parse = ExportTraceServiceRequest.FromString
_encode = msgspec.json.encode
_Raw = msgspec.Raw
_convert = msgspec.convert
_PAYLOADS = ("input", "output", "model_parameters", "metadata")


def spans_of(request: ExportTraceServiceRequest) -> Iterator:
    """The request's spans in order (resource by resource, scope by scope)."""
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            yield from scope_spans.spans


def split_request(body: bytes) -> list[bytes]:
    """One single-span request per span of ``body``, in order, each with its resource and scope."""
    out = []
    for resource_spans in _parse(body).resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                single = ExportTraceServiceRequest()
                holder = single.resource_spans.add(resource=resource_spans.resource,
                                                   schema_url=resource_spans.schema_url)
                holder.scope_spans.add(scope=scope_spans.scope, schema_url=scope_spans.schema_url, spans=[span])
                out.append(single.SerializeToString())
    return out


def span_ids(raws: list[bytes]) -> list[str]:
    """The Lynex ids (lower-case hex span ids) of the spans of ``raws``, each a request, in order.

    A request that does not parse (never logged so: it was parsed before) contributes none."""
    ids = []
    for raw in raws:
        try:
            request = _parse(raw)
        except DecodeError:
            continue
        ids += [span.span_id.hex() for span in spans_of(request)]
    return ids


def raw_spans(raws: list[bytes], count: int) -> list[RawSpan]:
    """The spans that the requests in ``raws`` convert to, as the native decoder gives them.

    What decoding the ``{"spans": [...]}`` JSON body of the converted spans with ``RawSpan``
    gives, without that round trip: each payload is encoded once, straight to its JSON bytes.
    Raises ValueError unless they convert to exactly ``count`` spans: only accepted spans are
    logged, so anything else means the record cannot be matched to its sequence numbers."""
    spans = []
    for raw in raws:
        converted = convert_request(_parse(raw))
        if converted.rejected:
            raise ValueError(f"a logged OTLP span does not convert: {converted.rejected[0][2]}")
        spans += map(raw_span, converted.spans)
    if len(spans) != count:
        raise ValueError(f"logged OTLP requests hold {len(spans)} spans, the record {count}")
    return spans


def raw_span(span: dict[str, Any]) -> RawSpan:
    """One converted span dict (consumed) as ``RawSpan``, its payloads encoded as JSON.

    ``msgspec.convert`` checks every constraint of the wire contract as decoding would (the
    converter bounds them all but tags, which the request path validates) and passes Raw through."""
    for key in _PAYLOADS:
        value = span.get(key)
        if value is not None:
            span[key] = _Raw(_encode(value))
    return _convert(span, RawSpan)


def json_text(raw: bytes) -> str:
    """One logged request as protobuf's JSON text: the stored form of a span that failed to convert."""
    return json_format.MessageToJson(_parse(raw), indent=None)
