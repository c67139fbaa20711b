def test_ingest_and_read_in_process(app_client, auth):
    r = app_client.post("/v1/ingest", json={"spans": [{"id": "s1", "model": "gpt-4o", "input": "hi"}]}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    r = app_client.get("/v1/spans/s1", headers=auth)
    assert r.status_code == 200
    assert r.json()["input"] == "hi"
