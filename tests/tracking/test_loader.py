"""The production loader: TTL cache, fallback file, serving the last good version when MLflow is down."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engram.errors import NotFoundError, TrackingError
from engram.tracking import _loader as loader
from engram.tracking._export import write_export
from engram.tracking._loader import fallback_path, load_prompt
from engram.tracking._registry import PromptRegistry

DOWN = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


@pytest.fixture(autouse=True)
def _empty_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


@pytest.fixture
def registry(tracking_uri) -> PromptRegistry:
    reg = PromptRegistry(tracking_uri)
    reg.register("support", "You help {company} customers.", "v1")
    reg.promote("support", 1, "production")
    return reg


@pytest.fixture
def count_fetches(monkeypatch):
    calls = []
    real = loader._fetch

    def counting(ref, uri):
        calls.append(ref)
        return real(ref, uri)

    monkeypatch.setattr(loader, "_fetch", counting)
    return calls


def test_loads_from_the_registry_then_from_the_cache(registry, count_fetches, tmp_path):
    first = load_prompt("support@production", fallback_dir=tmp_path)
    assert first.template == "You help {company} customers."
    assert (first.version, first.metadata["source"]) == ("1", "registry")
    second = load_prompt("support@production", fallback_dir=tmp_path)
    assert second.metadata["source"] == "cache"
    assert count_fetches == ["support@production"]
    second.metadata["edited"] = True  # callers get copies
    assert "edited" not in load_prompt("support@production", fallback_dir=tmp_path).metadata


def test_a_new_promotion_shows_after_the_ttl(registry, count_fetches, tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(loader.time, "monotonic", lambda: clock[0])
    assert load_prompt("support@production", ttl=60, fallback_dir=tmp_path).version == "1"
    registry.register("support", "You help {company} customers warmly.")
    registry.promote("support", 2, "production")
    clock[0] += 30
    assert load_prompt("support@production", ttl=60, fallback_dir=tmp_path).version == "1"  # still cached
    clock[0] += 31
    fresh = load_prompt("support@production", ttl=60, fallback_dir=tmp_path)
    assert (fresh.version, fresh.metadata["source"]) == ("2", "registry")
    assert len(count_fetches) == 2
    assert load_prompt("support@production", fallback_dir=tmp_path, refresh=True).metadata["source"] == "registry"


def test_writes_a_fallback_file_and_serves_it_when_mlflow_is_down(registry, tmp_path):
    load_prompt("support@production", fallback_dir=tmp_path)
    path = fallback_path("support@production", tmp_path)
    assert json.loads(path.read_text())["template"] == "You help {company} customers."
    loader.clear_cache()  # a new process: nothing in memory
    served = load_prompt("support@production", tracking_uri=DOWN, fallback_dir=tmp_path)
    assert (served.template, served.version, served.metadata["source"]) == (
        "You help {company} customers.", "1", "fallback")


def test_serves_the_stale_cached_version_when_mlflow_goes_down(registry, tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(loader.time, "monotonic", lambda: clock[0])
    load_prompt("support@production", ttl=5, fallback_dir=tmp_path)
    clock[0] += 10

    def down(ref, uri):
        raise TrackingError("Cannot reach the MLflow tracking store")

    monkeypatch.setattr(loader, "_fetch", down)
    stale = load_prompt("support@production", ttl=5, fallback_dir=tmp_path)
    assert (stale.version, stale.metadata["source"]) == ("1", "stale")
    # ... and does not ask the dead server again until another TTL has passed
    assert load_prompt("support@production", ttl=5, fallback_dir=tmp_path).metadata["source"] == "cache"


def test_a_shipped_export_file_is_a_fallback(tmp_path):
    from engram.prompts import Prompt  # no registry: MLflow is down from the start

    write_export(Prompt(name="support", template="Shipped {company}.", version="7"),
                 fallback_path("support@production", tmp_path))
    served = load_prompt("support@production", tracking_uri=DOWN, fallback_dir=tmp_path)
    assert (served.template, served.version) == ("Shipped {company}.", "7")


def test_down_without_fallback_is_a_clear_error(tmp_path):
    with pytest.raises(TrackingError, match="Cannot reach the MLflow tracking store.*No fallback copy.*export"):
        load_prompt("support@production", tracking_uri=DOWN, fallback_dir=tmp_path)


def test_unknown_alias_is_not_hidden_by_the_fallback(registry, tmp_path):
    with pytest.raises(NotFoundError, match="no alias 'canary'"):
        load_prompt("support@canary", fallback_dir=tmp_path)


def test_default_fallback_lives_under_engram_home(registry, tmp_path):
    load_prompt("support@production")
    assert (tmp_path / ".engram" / "prompts" / "support@production.json").exists()


def test_importing_the_loader_imports_no_heavy_library():
    code = ("import sys, json, engram.tracking._loader; "
            "print(json.dumps([m for m in ['mlflow', 'dspy', 'litellm', 'pandas', 'sqlalchemy'] "
            "if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_a_server_that_never_answers_is_a_tracking_error_not_a_hang(tmp_path, monkeypatch):
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel accepts connections; nobody ever answers them
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "1")  # a user's own setting is respected
    try:
        with pytest.raises(TrackingError, match=f"Cannot reach the MLflow tracking store at {url}"):
            PromptRegistry(url).load("support@production")
        with pytest.raises(TrackingError, match="No fallback copy"):
            load_prompt("support@production", tracking_uri=url, fallback_dir=tmp_path)
    finally:
        silent.close()


def test_an_unwritable_fallback_location_does_not_stop_serving(registry, tmp_path, caplog):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the fallback directory should be")
    served = load_prompt("support@production", fallback_dir=blocked)
    assert served.metadata["source"] == "registry"
    assert "could not write the prompt fallback file" in caplog.text
