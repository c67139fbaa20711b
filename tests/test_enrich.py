"""Enrichment: pure functions against golden cases."""

import datetime as dt
import json
import os
import signal
from pathlib import Path

import pytest

from lynex.errors import ConfigError
from lynex.ingest.enrich import errors, text, tokens
from lynex.ingest.enrich.cost import compute_cost, load_price_table

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("case", json.loads((FIXTURES / "error_classes.json").read_text()),
                         ids=lambda c: f"{c['type']}->{c['class']}")
def test_error_classes(case):
    assert errors.classify(case["type"], case["message"]) == case["class"]


def test_price_table_is_broad():
    table = load_price_table()
    assert len(table) >= 50
    providers = {p.provider for _, rows in table._groups for p in rows}
    assert {"openai", "anthropic", "google", "mistral", "meta", "deepseek"} <= providers


@pytest.mark.parametrize("model,day,expected_input,expected_output", [
    ("gpt-4o-mini", "2025-06-01", 0.15, 0.60),
    ("gpt-4o-mini-2024-07-18", "2025-06-01", 0.15, 0.60),
    ("openai/gpt-4o", "2025-06-01", 2.50, 10.00),
    ("gpt-4o-2024-05-13", "2025-06-01", 5.00, 15.00),
    ("gpt-4o", "2024-06-01", 5.00, 15.00),              # before the Oct 2024 price
    ("o3", "2025-05-01", 10.00, 40.00),                  # effective dates: o3's June 2025 cut
    ("o3", "2025-07-01", 2.00, 8.00),
    ("claude-3-5-sonnet-20241022", "2025-01-01", 3.00, 15.00),
    ("anthropic.claude-3-haiku-20240307-v1:0", "2025-01-01", 0.25, 1.25),
    ("claude-3-5-sonnet@20240620", "2025-01-01", 3.00, 15.00),
    ("models/gemini-1.5-flash", "2025-01-01", 0.075, 0.30),
    ("mistral-large-latest", "2025-01-01", 2.00, 6.00),
    ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "2025-01-01", 0.88, 0.88),
    ("deepseek-chat", "2025-03-01", 0.27, 1.10),
    ("deepseek-chat", "2025-10-01", 0.28, 0.42),
])
def test_price_lookup(model, day, expected_input, expected_output):
    price = load_price_table().lookup(model, dt.date.fromisoformat(day))
    assert price is not None, model
    assert (price.input, price.output) == (expected_input, expected_output)


def test_unknown_model_has_no_price():
    assert load_price_table().lookup("my-finetune-v3", dt.date(2025, 1, 1)) is None


def test_cost_bills_cached_tokens_at_cached_rate():
    price = load_price_table().lookup("gpt-4o", dt.date(2025, 1, 1))
    # 1M input of which 400k cached, 100k output: 600k*2.5 + 400k*1.25 + 100k*10 per 1M
    assert compute_cost(price, 1_000_000, 100_000, 400_000) == pytest.approx(1.5 + 0.5 + 1.0)


def test_override_file_takes_precedence(tmp_path):
    override = tmp_path / "prices.toml"
    override.write_text('[[models]]\nprovider = "openai"\npattern = "gpt-4o"\ninput = 1.0\noutput = 2.0\n'
                        'from = "2020-01-01"\n')
    price = load_price_table(str(override)).lookup("gpt-4o", dt.date(2025, 1, 1))
    assert (price.input, price.output) == (1.0, 2.0)


def test_bad_override_file_says_what_is_wrong(tmp_path):
    override = tmp_path / "prices.json"
    override.write_text('{"models": [{"pattern": "x("}]}')
    with pytest.raises(ConfigError, match=r"models\[0\]"):
        load_price_table(str(override))


def test_token_estimates():
    assert tokens.estimate("") == 0
    assert tokens.estimate("a" * 400) == 100
    assert tokens.estimate("你好世界") == 4  # one per CJK character
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x" * 40}]
    assert tokens.estimate(chat) == 4 + 3 + 4 + 10
    assert tokens.estimate([{"type": "image_url", "image_url": {"url": "data:" + "A" * 100000}}]) == 85


def test_truncation_cuts_on_character_boundary():
    value, cut = text.truncate_strings({"a": ["é" * 100, "short"]}, 51)
    assert cut
    assert value["a"][0].startswith("é" * 25) and value["a"][0].endswith(text.TRUNCATION_MARK)
    assert value["a"][1] == "short"
    assert text.truncate_strings("small", 100) == ("small", False)


@pytest.mark.parametrize("case", json.loads((FIXTURES / "enrich_cases.json").read_text()), ids=lambda c: c["name"])
def test_enricher_golden_cases(case):
    import msgspec

    from lynex.ingest.processor import Enricher
    from lynex.ingest.wal import Record

    record = Record("p", 7, 1_735_689_600_000_000, "json", [msgspec.json.encode(case["span"])], 1)
    row = Enricher(load_price_table(), 1 << 20).table([record]).to_pylist()[0]
    assert row["seq"] == 7 and row["project_id"] == "p"
    for key, expected in case["expect"].items():
        actual = row[key]
        if isinstance(actual, dt.datetime):
            actual = actual.isoformat()
        if isinstance(expected, float):
            assert actual == pytest.approx(expected), key
        else:
            assert actual == expected, key


def test_salvage_stores_every_span_of_a_record_enrichment_cannot_handle():
    import msgspec

    from lynex.ingest.processor import Enricher
    from lynex.ingest.wal import Record
    from lynex.storage.schema import COLUMN_NAMES

    good = msgspec.json.encode({"id": "fine", "model": "gpt-4o", "usage": {"input_tokens": 3, "output_tokens": 4}})
    bad = b'{"id": "odd", "latency_ms": "not a number", "input": "kept"}'  # past validation only by a bug
    record = Record("p", 10, 1_735_689_600_000_000, "json", [good, bad], 2)
    enricher = Enricher(load_price_table(), 1 << 20)
    with pytest.raises(Exception):
        enricher.table([record])
    table = enricher.salvage(record)
    rows = table.select(COLUMN_NAMES).to_pylist()
    assert [r["id"] for r in rows] == ["fine", "odd"] and [r["seq"] for r in rows] == [10, 11]
    assert rows[0]["total_tokens"] == 7 and "enrichment_failed" not in rows[0]["flags"]
    assert rows[1]["flags"] == ["enrichment_failed"] and rows[1]["status"] == "error"
    assert rows[1]["input"] == bad.decode() and "latency_ms" in rows[1]["error_message"]
    assert table.column_names == list(COLUMN_NAMES)

    broken = Record("p", 20, 1_735_689_600_000_000, "json-batch", [b'{"spans": [oops'], 3)
    (row,) = enricher.salvage(broken).select(COLUMN_NAMES).to_pylist()
    assert row["id"] == "unprocessable-20" and row["flags"] == ["enrichment_failed"]


def test_worker_process_gives_the_same_table_as_in_thread_enrichment():
    import msgspec

    from lynex.ingest.processor import Enricher
    from lynex.ingest.wal import Record
    from lynex.ingest.workers import ProcessorWorker, WorkerFailed

    spans = [{"id": f"w{i}", "model": "gpt-4o-mini", "input": [{"role": "user", "content": f"hello {i} 世界"}],
              "metadata": {"n": i}} for i in range(50)]
    records = [Record("p", 1, 1_735_689_600_000_000, "json-batch", [msgspec.json.encode({"spans": spans})], 50),
               Record("p", 51, 1_735_689_600_000_000, "json", [msgspec.json.encode({"id": "solo"})], 1)]
    local = Enricher(load_price_table(), 1 << 20).table(records)
    with ProcessorWorker("", 1 << 20) as worker:
        assert worker.table(records).equals(local)
        with pytest.raises(WorkerFailed):  # an error is reported, and the worker carries on
            worker.table([Record("p", 60, 0, "json", [b'{"id": 1}'], 1)])
        assert worker.table(records).equals(local)
        os.kill(worker.pid, signal.SIGKILL)  # a dead worker is replaced and the batch retried
        assert worker.table(records).equals(local) and worker.restarts == 1


def test_worker_batches_in_flight_come_back_in_order_even_when_the_worker_dies():
    import msgspec

    from lynex.ingest.processor import Enricher
    from lynex.ingest.wal import Record
    from lynex.ingest.workers import ProcessorWorker

    def batch(seq, n):
        spans = [{"id": f"f{seq + i}", "model": "gpt-4o", "input": f"question {seq + i}"} for i in range(n)]
        return [Record("p", seq, 1_735_689_600_000_000, "json-batch", [msgspec.json.encode({"spans": spans})], n)]

    batches = [batch(1, 300), batch(301, 200), batch(501, 100)]
    local = [Enricher(load_price_table(), 1 << 20).table(b) for b in batches]
    with ProcessorWorker("", 1 << 20) as worker:
        pending = [worker.submit(b) for b in batches]  # all three wait in the worker's socket
        assert pending[0].result().equals(local[0])
        os.kill(worker.pid, signal.SIGKILL)  # two batches sent to a process that is now gone
        assert [p.result().equals(t) for p, t in zip(pending[1:], local[1:])] == [True, True]
        assert worker.restarts == 1


def test_two_enrichment_workers_store_every_span_once_in_seq_order(make_config):
    from litestar.testing import TestClient

    from lynex.app import create_app
    from lynex.storage.meta import MetaStore
    from tests.test_ingest_api import settle

    config = make_config(processor_process=True, enrichment_workers=2)
    with TestClient(app=create_app(config)) as client:
        meta = MetaStore(config.meta_path)
        project = meta.create_project("two-workers")
        _, secret = meta.create_key(project.id, "k", ("ingest", "read"))
        auth = {"Authorization": f"Bearer {secret}"}
        for b in range(40):
            spans = [{"id": f"s{b}-{i}", "model": "gpt-4o", "input": f"q {b} {i}"} for i in range(250)]
            assert client.post("/v1/ingest", json={"spans": spans}, headers=auth).status_code == 200
        settle(client)
        services = client.app.state.services
        assert len(services.pipeline.workers) == 2
        rows = services.queries._run("ORDER BY seq", [], ("id", "seq"), project.id)
    assert [r["seq"] for r in rows] == list(range(rows[0]["seq"], rows[0]["seq"] + 10_000))
    assert [r["id"] for r in rows] == [f"s{b}-{i}" for b in range(40) for i in range(250)]
