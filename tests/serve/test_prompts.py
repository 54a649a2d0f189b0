"""Prompts: served through ``load_prompt`` (registry, then the fallback copy when MLflow is down),
and optimized by a job that registers and promotes the result."""

from __future__ import annotations

import shutil

from tests.serve.conftest import free_port
from tests.serve.test_api import wait_job

TEMPLATE = "You are Acme's support agent. Answer in one short paragraph."


def test_prompts_registry_optimize_job_then_fallback_when_mlflow_is_down(server_factory, _empty_db):
    from engram.tracking import PromptRegistry

    up = server_factory("prompts")
    shutil.copy(_empty_db, up.home / "mlflow.db")  # an empty store, without seconds of migrations
    registry = PromptRegistry(f"sqlite:///{up.home / 'mlflow.db'}")
    registry.register("acme.support", TEMPLATE, "first")
    registry.promote("acme.support", 1, "production")
    registry.register("globex.secret-playbook", "Globex only.", "first")
    up.start()
    key = up.key("acme", "read,write,optimize")
    with up.client(key) as c:
        served = c.get("/v1/prompts/support", params={"alias": "production"})
        assert served.status_code == 200, served.text
        assert served.json()["template"] == TEMPLATE and served.json()["source"] == "registry"
        assert served.json()["version"] == 1
        other = up.client(up.key("globex")).get("/v1/prompts/support")
        assert other.status_code == 404  # globex has no prompt called support
        assert "your prompts: secret-playbook" in other.json()["error"]["message"]
        for missing, where in ((c.get("/v1/prompts/nosuch"), "your prompts: support."),
                               (c.get("/v1/prompts/support", params={"alias": "canary"}), "production -> v1"),
                               (c.get("/v1/prompts/support", params={"version": 9}), "its versions: 1.")):
            error = missing.json()["error"]
            assert missing.status_code == 404 and where in error["message"], error
            # one tenant never sees another's prompt names, its own tenant prefix, or the server's paths
            assert not any(leak in error["message"] for leak in ("globex", "secret", "acme.", "mlflow.db", "sqlite"))
        optimized = optimize_and_promote(c)
    versions = registry.history("acme.support")
    assert [v.version for v in versions] == [2, 1] and "staging" in versions[0].aliases
    up.stop()

    down = server_factory("prompts", ENGRAM_TRACKING_URI=f"http://127.0.0.1:{free_port()}")
    down.home, down.env["ENGRAM_HOME"] = up.home, str(up.home)
    down.start()
    with down.client(key) as c:
        served = c.get("/v1/prompts/support", params={"alias": "production"})
        assert served.status_code == 200, served.text
        assert served.json()["template"] == TEMPLATE and served.json()["source"] == "fallback"
        staged = c.get("/v1/prompts/support", params={"alias": "staging"}).json()
        assert staged["template"] == optimized and staged["source"] == "fallback"
        never_loaded = c.get("/v1/prompts/billing")
        assert never_loaded.status_code == 503 and never_loaded.json()["error"]["code"] == "tracking_unavailable"
        assert "http://" not in never_loaded.json()["error"]["message"]  # the URI goes to the server log only
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["tracking"].startswith("error")


def optimize_and_promote(c) -> str:
    """Feedback into a dataset, an optimize job that registers v2 and points 'staging' at it."""
    talk = [{"role": "user", "content": "How do I reset my password?"},
            {"role": "assistant", "content": "Use the link."}]
    fed = c.post("/v1/feedback", json={"dataset": "support", "trajectories": [
        {"messages": talk, "feedback": {"score": 0.1, "comment": "i wanted numbered steps, this was a wall of text"}},
        {"messages": [{"role": "user", "content": "Where is my invoice?"},
                      {"role": "assistant", "content": "Somewhere."}],
         "feedback": {"score": 0.0, "comment": "no link to the docs, where is the help article?"}}]})
    assert fed.status_code == 201
    queued = c.post("/v1/optimize", json={"prompt_name": "support", "dataset": "support",
                                          "optimizer": {"kind": "gradient", "max_reflection_steps": 1},
                                          "register": True, "promote": "staging"})
    assert queued.status_code == 202, queued.text
    job = wait_job(c, queued.json()["id"], timeout=240)
    assert job["status"] == "succeeded", (job, c.get(f"/v1/jobs/{job['id']}").text)
    assert job["result"]["version"] == 2 and job["result"]["run_id"]
    staged = c.get("/v1/prompts/support", params={"alias": "staging"}).json()
    assert staged["version"] == 2 and staged["template"] == job["result"]["prompt"]
    return staged["template"]
