"""Jobs survive a SIGKILL: the resumed job completes once and writes no duplicate memory."""

from __future__ import annotations

import time

from tests.serve.test_api import wait_job

TALK = [{"role": "user", "content": "I moved to Lisbon last month. I am vegetarian and I play the cello."}]


def test_sigkill_mid_extraction_resumes_once(server_factory):
    server = server_factory("kill", ENGRAM_LM="offline/serve-slow", ENGRAM_TEST_LM_LATENCY="1.5").start()
    key = server.key("acme")
    with server.client(key) as c:
        job_id = c.post("/v1/extract", json={"namespace": ["memories", "k"], "messages": TALK}).json()["job_id"]
        deadline = time.monotonic() + 60
        while c.get(f"/v1/jobs/{job_id}").json()["status"] != "running":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.1)
    time.sleep(0.5)  # inside the (slow) extraction LM call
    server.kill()
    # The slow LM was only needed to kill mid-call: the same simulated LM, without the delay,
    # finishes the resumed job and the reference extraction below.
    server.env["ENGRAM_TEST_LM_LATENCY"] = "0"
    server.start()  # same home and port; the lease of the killed worker runs out after 3 s
    with server.client(key) as c:
        job = wait_job(c, job_id, timeout=120)
        assert job["status"] == "succeeded" and job["attempts"] >= 2, job   # resumed after the kill
        stored = c.post("/v1/memories/search", json={"namespace": ["memories", "k"], "limit": 100}).json()["results"]
        reference = c.post("/v1/extract", json={"namespace": ["memories", "ref"], "messages": TALK,
                                                "wait": True}).json()["result"]
    texts = [str(r["content"]) for r in stored]
    assert stored and len(texts) == len(set(texts)), texts                 # no duplicates
    assert len(stored) == len(job["result"]["written"]) == len(reference["written"])
    assert all(r["version"] == 1 for r in stored)                           # each written exactly once


def test_result_is_recorded_once_and_a_rerun_applies_nothing(tmp_path):
    import dspy

    from engram.serve import JobStore, ServeSettings, Service
    from engram.serve._handlers import run_extract
    from engram.store import MemoryStore
    from engram.testing import simulated_lm

    jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    service = Service(MemoryStore.in_memory(), None, jobs, None, ServeSettings(), tmp_path)
    job, _ = jobs.submit("acme", "extract", {"store_namespace": ["tenants", "acme", "m"], "messages": TALK})
    first = jobs.claim("worker-a", lease=0.01)
    time.sleep(0.05)
    second = jobs.claim("worker-b", lease=30)            # worker-a "died": its lease ran out
    assert first.id == second.id == job.id and second.attempts == 2
    handler = run_extract(service)
    with dspy.context(lm=simulated_lm(seed=0)):
        result_a, _ = handler(first)                       # the dead worker had applied it
        result_b, _ = handler(second)                      # the resumed run finds it in the ledger
    assert result_a["written"] and result_b["already_applied"] and not result_b["written"]
    assert not jobs.finish(job.id, "worker-a", result_a)   # not the owner any more
    assert jobs.finish(job.id, "worker-b", result_b)
    assert not jobs.finish(job.id, "worker-b", result_b)   # a second finish changes nothing
    assert jobs.get(job.id).status == "succeeded" and jobs.get(job.id, tenant="globex") is None
    assert service.store.count(("tenants", "acme", "m")) == len(result_a["written"])


def test_one_thread_runs_one_job_at_a_time(tmp_path):
    from engram.serve import JobStore

    jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    first, _ = jobs.submit("acme", "extract", {"messages": [1]}, thread_key="t1")
    other, _ = jobs.submit("acme", "extract", {"messages": [2]}, thread_key="t2")
    assert jobs.claim("w", lease=30).id == first.id
    later, merged = jobs.submit("acme", "extract", {"messages": [3]}, thread_key="t1",
                                merge=lambda old, new: {"messages": old["messages"] + new["messages"]})
    assert not merged                                     # the first one already started: a new job
    assert jobs.claim("w", lease=30).id == other.id       # another thread goes ahead
    assert jobs.claim("w", lease=30) is None              # t1's second job waits for its first
    assert jobs.finish(first.id, "w", {"ok": True})
    assert jobs.claim("w", lease=30).id == later.id
