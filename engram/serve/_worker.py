"""The job runner: claims due jobs, runs at most ``concurrency`` at once, renews their leases.

    runner = JobRunner(jobs, {"extract": run_extract}, concurrency=2, lease=30)
    runner.start(); ...; runner.stop()

A handler is ``fn(job) -> (result, usage)``. An :class:`~engram.errors.EngramError` fails
the job with its message; any other exception fails it with the exception type only (no
internals reach the tenant). A job whose lease this process lost (another process took it
after a stall) is left to that process: its result is recorded once, by whoever finishes.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from engram.errors import EngramError
from engram.serve._jobs import Job, JobStore

log = logging.getLogger("engram.serve.jobs")

Handler = Callable[[Job], tuple[dict[str, Any], dict[str, Any] | None]]


class JobRunner:
    """Background execution of the job table (see the module docstring)."""

    def __init__(self, jobs: JobStore, handlers: dict[str, Handler], *, concurrency: int = 2,
                 lease: float = 30.0, poll: float = 0.2):
        self.jobs, self.handlers = jobs, dict(handlers)
        self.concurrency, self.lease, self.poll = max(1, concurrency), lease, poll
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._slots = threading.Semaphore(self.concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="engram-job")
        self._stop = threading.Event()
        self._running: set[str] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for target, name in ((self._loop, "engram-job-claim"), (self._heartbeat, "engram-job-lease")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._pool.shutdown(wait=wait, cancel_futures=True)

    @property
    def active(self) -> int:
        with self._lock:
            return len(self._running)

    def _loop(self) -> None:
        kinds = tuple(self.handlers)
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self.poll):
                continue
            try:
                job = self.jobs.claim(self.owner, lease=self.lease, kinds=kinds)
            except Exception as err:  # noqa: BLE001 - the database blinked; try again after a pause
                log.warning("claiming a job failed: %s", err)
                job = None
            if job is None:
                self._slots.release()
                self._stop.wait(self.poll)
                continue
            with self._lock:
                mine = job.id in self._running
                self._running.add(job.id)
            if mine:  # our own job, its lease renewal was late (a stalled process): it is still running here
                self._slots.release()
                continue
            self._pool.submit(self._run, job)

    def _run(self, job: Job) -> None:
        try:
            if job.attempts > 1:
                log.info("resuming job %s (%s), attempt %d", job.id, job.kind, job.attempts)
            result, usage = self.handlers[job.kind](job)
            if not self.jobs.finish(job.id, self.owner, result, usage):
                log.warning("job %s finished here but its result was already recorded elsewhere", job.id)
        except EngramError as err:
            self.jobs.fail(job.id, self.owner, f"{type(err).__name__}: {err}")
        except Exception as err:
            log.exception("job %s (%s) crashed", job.id, job.kind)
            self.jobs.fail(job.id, self.owner, f"internal error ({type(err).__name__}); see the server log")
        finally:
            with self._lock:
                self._running.discard(job.id)
            self._slots.release()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.lease / 4):
            with self._lock:
                running = list(self._running)
            for job_id in running:
                try:
                    self.jobs.renew(job_id, self.owner, self.lease)
                except Exception as err:  # noqa: BLE001 - logged, retried
                    log.warning("renewing the lease of job %s failed: %s", job_id, err)


__all__ = ["Handler", "JobRunner"]
