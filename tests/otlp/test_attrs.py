"""Attribute reading and attribute families: the shortcuts the converter's speed rests on."""

from __future__ import annotations

import math

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from lynex.ingest.otlp import attrs as attrs_module
from lynex.ingest.otlp.attrs import Attrs, attributes, family, keys_mask
from lynex.ingest.otlp.messages import pop_indexed


def _kvs(**values) -> list[KeyValue]:
    out = []
    for key, value in values.items():
        kv = KeyValue(key=key.replace("__", "."))
        if isinstance(value, bool):
            kv.value.bool_value = value
        elif isinstance(value, int):
            kv.value.int_value = value
        elif isinstance(value, float):
            kv.value.double_value = value
        elif isinstance(value, bytes):
            kv.value.bytes_value = value
        elif isinstance(value, list):
            for item in value:
                kv.value.array_value.values.add().string_value = item
        elif value is not None:
            kv.value.string_value = value
        out.append(kv)
    return out


def test_every_value_type_is_read_and_empty_strings_stay_strings():
    got = attributes(_kvs(text="hi", empty="", number=7, zero=0, flag=False, ratio=0.5, nan=math.nan,
                          raw=b"\x00\x01", items=["a", "b"], unset=None))
    assert got == {"text": "hi", "empty": "", "number": 7, "zero": 0, "flag": False, "ratio": 0.5, "nan": "nan",
                   "raw": "AAE=", "items": ["a", "b"], "unset": None}
    assert type(got["flag"]) is bool and type(got["empty"]) is str


def test_a_repeated_key_keeps_the_last_value():
    kvs = _kvs(model="first") + _kvs(model="second")
    assert attributes(kvs) == {"model": "second"}


def test_family_bits_follow_prefixes_and_exact_keys():
    genai = family(prefixes=("test_fam.gen.",), keys=("test_fam.exact",))
    other = family(keys=("test_fam.other",))
    assert keys_mask(("test_fam.gen.model", "x")) & genai
    assert keys_mask(("test_fam.exact",)) & genai and not keys_mask(("test_fam.exact",)) & other
    assert not keys_mask(("test_fam.genx", "test_fam.exactly")) & (genai | other)
    # Key sets too large to memoise whole are still answered exactly.
    big = tuple(f"bulk.{n}" for n in range(500)) + ("test_fam.other",)
    assert keys_mask(big) & other and not keys_mask(big[:-1]) & other


def test_has_prefix_is_a_superset_after_pops_and_scans_unknown_prefixes():
    got = attributes(_kvs(gen_ai__system="openai", custom__k="v"))
    assert got.has_prefix("gen_ai.") and not got.has_prefix("ai.")
    got.pop("gen_ai.system")
    assert got.has_prefix("gen_ai.")  # taken at the first question: a stale yes finds nothing, never a miss
    assert got.has_prefix("custom.") and not got.has_prefix("nope.")  # not a registered prefix: scanned
    assert "custom." not in attrs_module._BITS


def test_a_plain_attrs_dict_answers_without_a_precomputed_mask():
    plain = Attrs({"llm.input_messages.1.message.role": "user", "llm.input_messages.0.message.role": "system"})
    assert plain.has_prefix("llm.input_messages.")
    assert pop_indexed(plain, "llm.input_messages.") == [{"message.role": "system"}, {"message.role": "user"}]
    assert plain == {}


def test_pop_indexed_orders_by_number_and_leaves_non_indexed_keys():
    attrs = Attrs({"p.10.role": "a", "p.2.role": "b", "p.2.content": "c", "p.x.role": "keep", "p.3": "keep too"})
    assert pop_indexed(attrs, "p.") == [{"role": "b", "content": "c"}, {"role": "a"}]
    assert attrs == {"p.x.role": "keep", "p.3": "keep too"}
