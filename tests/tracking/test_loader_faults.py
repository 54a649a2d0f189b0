"""The loader under faults: a black-holed server, a deleted database, stamping after the fetch."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from engram.errors import EngramError
from engram.tracking import _loader as loader
from engram.tracking._loader import load_prompt
from engram.tracking._registry import PromptRegistry


@pytest.fixture(autouse=True)
def _empty_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def count_fetches(monkeypatch):
    calls = []
    real = loader._fetch

    def counting(ref, uri):
        calls.append(ref)
        return real(ref, uri)

    monkeypatch.setattr(loader, "_fetch", counting)
    return calls


def test_after_one_failure_calls_within_the_ttl_serve_the_fallback_without_asking(tracking_uri, tmp_path,
                                                                                  count_fetches, monkeypatch):
    registry = PromptRegistry(tracking_uri)
    registry.register("support", "You help {company} customers.")
    registry.promote("support", 1, "production")
    load_prompt("support@production", fallback_dir=tmp_path)  # writes the fallback file
    loader.clear_cache()
    count_fetches.clear()
    silent = socket.socket()  # accepts connections, never answers: a black-holed MLflow
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")
    try:
        first = load_prompt("support@production", tracking_uri=url, ttl=5, fallback_dir=tmp_path)
        assert first.metadata["source"] == "fallback"
        for _ in range(20):
            assert load_prompt("support@production", tracking_uri=url, ttl=5,
                               fallback_dir=tmp_path).version == "1"
        assert len(count_fetches) == 1  # one timeout in all, not one per call
        # another prompt on the same dead server is not asked for either
        with pytest.raises(EngramError, match="unreachable"):
            load_prompt("other@production", tracking_uri=url, ttl=5, fallback_dir=tmp_path)
        assert len(count_fetches) == 1
    finally:
        silent.close()


def test_the_cache_is_stamped_after_a_slow_fetch_not_before(tracking_uri, tmp_path, monkeypatch):
    registry = PromptRegistry(tracking_uri)
    registry.register("support", "You help {company} customers.")
    clock = [1000.0]
    monkeypatch.setattr(loader.time, "monotonic", lambda: clock[0])
    calls = []
    real = loader._fetch

    def slow(ref, uri):
        calls.append(ref)
        clock[0] += 6.0  # the registry took 6 s to answer
        return real(ref, uri)

    monkeypatch.setattr(loader, "_fetch", slow)
    load_prompt("support", ttl=5, fallback_dir=tmp_path)
    clock[0] += 0.5
    assert load_prompt("support", ttl=5, fallback_dir=tmp_path).metadata["source"] == "cache"
    assert len(calls) == 1


def test_a_deleted_mlflow_db_serves_the_fallback_and_is_not_recreated(tracking_uri, tmp_path, caplog):
    registry = PromptRegistry(tracking_uri)
    registry.register("support", "You help {company} customers.")
    registry.promote("support", 1, "production")
    load_prompt("support@production", fallback_dir=tmp_path)
    loader.clear_cache()
    db = Path(tracking_uri.removeprefix("sqlite:///"))
    db.unlink()
    with caplog.at_level(logging.WARNING, logger="engram.tracking"):
        served = load_prompt("support@production", fallback_dir=tmp_path)
    assert (served.metadata["source"], served.version) == ("fallback", "1")
    assert "does not exist" in caplog.text and "fallback file" in caplog.text
    assert not db.exists()  # a read never creates an empty registry


def test_a_directory_where_the_fallback_file_should_be_is_an_engram_error(tmp_path):
    (tmp_path / "support@production.json").mkdir()
    with pytest.raises(EngramError, match="is a directory"):
        load_prompt("support@production", tracking_uri="http://127.0.0.1:9", fallback_dir=tmp_path)
