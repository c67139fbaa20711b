"""Decoding an ingest body: statuses and field paths (pure, no server)."""

import gzip
import zlib

import msgspec
import pytest

from lynex.ingest.decode import BodyError, content_format, decode_batch, inflate


def decode(obj, max_spans=10_000):
    return decode_batch(msgspec.json.encode(obj), "json", max_spans)


def test_content_types():
    assert content_format("application/json; charset=utf-8") == "json"
    assert content_format("application/msgpack") == "msgpack"
    with pytest.raises(BodyError) as err:
        content_format("text/plain")
    assert err.value.status == 415 and "text/plain" in err.value.message


def test_field_paths_name_the_span_and_field():
    result = decode({"spans": [{"id": "ok"}, {"id": "x", "usage": {"input_tokens": "many"}}, {"model": "m"},
                               {"id": "y", "kind": "robot"}, {"id": "z" * 65}, {"id": "t", "start_time": "yesterday"}]})
    assert [i for i, _, _ in result.accepted] == [0]
    errors = {r.index: r.error for r in result.rejected}
    assert errors[1] == "spans[1].usage.input_tokens: Expected `int | null`, got `str`"
    assert errors[2] == "spans[2].id: required field is missing"
    assert errors[3].startswith("spans[3].kind: Invalid enum value 'robot'")
    assert errors[4].startswith("spans[4].id: Expected `str` of length <= 64")
    assert errors[5].startswith("spans[5].start_time:")
    assert {r.index: r.id for r in result.rejected}[1] == "x"


def test_cross_field_rules():
    result = decode({"spans": [
        {"id": "a", "start_time": 1_700_000_000, "end_time": 1_700_000_001},  # seconds, not ms
        {"id": "b", "start_time": "2025-01-01T00:00:01Z", "end_time": "2025-01-01T00:00:00Z"},
    ]})
    errors = [r.error for r in result.rejected]
    assert "looks like seconds" in errors[0]
    assert errors[1] == "spans[1].end_time: is before start_time"


@pytest.mark.parametrize("body,status,needle", [
    (b"", 400, "empty body"),
    (b"{not json", 400, "not valid JSON"),
    (b'{"spans": []}', 400, "batch is empty"),
    (b'{"spans": {}}', 400, "spans"),
    (b'[1, 2]', 400, "must be an object"),
    (b'{"data": []}', 400, "spans"),
])
def test_body_errors(body, status, needle):
    with pytest.raises(BodyError) as err:
        decode_batch(body, "json", 100)
    assert err.value.status == status and needle in err.value.message


def test_too_many_spans():
    with pytest.raises(BodyError) as err:
        decode({"spans": [{"id": str(i)} for i in range(11)]}, max_spans=10)
    assert err.value.status == 413 and "11 spans" in err.value.message


def test_invalid_utf8_rejects_only_that_span():
    body = b'{"spans": [{"id": "good"}, {"id": "bad", "input": "\xff\xfe"}]}'
    result = decode_batch(body, "json", 10)
    assert len(result.accepted) == 1 and result.rejected[0].index == 1
    assert "UTF-8" in result.rejected[0].error


def test_msgpack_roundtrip():
    body = msgspec.msgpack.encode({"spans": [{"id": "m1", "input": {"role": "user", "content": "hi"}}]})
    result = decode_batch(body, "msgpack", 10)
    assert result.accepted[0][1].id == "m1"


def test_gzip_bomb_is_cut_off_without_inflating_it_all():
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024))  # 64 MiB of zeros in ~64 KiB
    with pytest.raises(BodyError) as err:
        inflate(bomb, "gzip", 1024 * 1024)
    assert err.value.status == 413


def test_gzip_and_deflate_inflate():
    payload = b'{"spans": [{"id": "a"}]}'
    assert inflate(gzip.compress(payload), "gzip", 1000) == payload
    assert inflate(zlib.compress(payload), "deflate", 1000) == payload
    with pytest.raises(BodyError) as err:
        inflate(b"not gzip at all", "gzip", 1000)
    assert err.value.status == 400
    with pytest.raises(BodyError) as err:
        inflate(payload, "br", 1000)
    assert err.value.status == 415
