"""API-key authentication: cached answers never outlive a revocation, wherever it happens."""

import threading

from lynex.storage.meta import MetaStore


def test_revocation_is_seen_at_once_through_the_cache(tmp_path):
    meta = MetaStore(tmp_path / "meta.sqlite")
    project = meta.create_project("p")
    key, token = meta.create_key(project.id)
    assert meta.authenticate(token).id == key.id
    assert meta.authenticate(token).id == key.id  # cached
    assert meta.authenticate(token + "x") is None

    meta.revoke_key(key.id)  # same store, same thread
    assert meta.authenticate(token) is None

    other_key, other_token = meta.create_key(project.id)
    assert meta.authenticate(other_token).id == other_key.id
    MetaStore(tmp_path / "meta.sqlite").revoke_key(other_key.id)  # another connection (the CLI)
    assert meta.authenticate(other_token) is None

    third_key, third_token = meta.create_key(project.id)
    assert meta.authenticate(third_token).id == third_key.id
    done = threading.Thread(target=meta.revoke_key, args=(third_key.id,))  # another thread of this store
    done.start()
    done.join()
    assert meta.authenticate(third_token) is None
