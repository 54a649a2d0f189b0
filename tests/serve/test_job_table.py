"""The job table's contract on SQLite and PostgreSQL: two processes' workers racing for the
same queue each take a job once, and only the owner records its result, once."""

from __future__ import annotations

import threading

import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return request.getfixturevalue("postgres_url")


def test_racing_workers_take_each_job_once(db_url):
    from engram.serve import JobStore

    a, b = JobStore(db_url), JobStore(db_url)     # two engines, as two server processes would have
    submitted = {a.submit("acme", "extract", {"n": i})[0].id for i in range(30)}
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(store, name: str) -> None:
        while (job := store.claim(name, lease=30)) is not None:
            with lock:
                taken.append((job.id, name))
            assert store.finish(job.id, name, {"by": name})

    threads = [threading.Thread(target=worker, args=(s, f"w{i}")) for i, s in enumerate([a, b, a, b])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [job_id for job_id, _ in taken]
    assert sorted(ids) == sorted(submitted)       # every job once, none twice
    for job_id, name in taken:
        job = b.get(job_id)
        assert job.status == "succeeded" and job.result == {"by": name} and job.attempts == 1
        assert not a.finish(job_id, name, {"again": True}) and b.get(job_id).result == {"by": name}
    assert a.counts() == {"succeeded": 30}


def test_results_keep_rfc3339_timestamps(tmp_path):
    from datetime import UTC, datetime

    from engram.serve import JobStore

    jobs = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    job, _ = jobs.submit("acme", "extract", {})
    assert jobs.claim("w", lease=30).id == job.id
    when = datetime(2026, 12, 2, 0, 26, 45, 371781, tzinfo=UTC)
    assert jobs.finish(job.id, "w", {"written": [{"created_at": when}]}, {"at": when})
    done = jobs.get(job.id)
    assert done.result == {"written": [{"created_at": "2026-12-02T00:26:45.371781Z"}]}
    assert done.usage == {"at": "2026-12-02T00:26:45.371781Z"}
