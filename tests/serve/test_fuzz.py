"""Fuzzing with schemathesis over the served OpenAPI schema: ≥ 1,000 requests, no 500s, and
no 4xx answer changes the store.

The server runs with ``ENGRAM_SERVE_RUN_JOBS=false`` (queued jobs stay queued, so a
generated optimize request cannot start minutes of work). The store check reads Chroma's
own SQLite file (read-only): its write-ahead sequence numbers, row and collection counts
move on any write, so "unchanged" is measured where the data lives, not through the API.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter

import pytest

hypothesis = pytest.importorskip("hypothesis")
schemathesis = pytest.importorskip("schemathesis")

TOTAL = 1100


def store_fingerprint(home) -> tuple:
    path = home / "chroma" / "chroma.sqlite3"
    if not path.exists():
        return ()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return (db.execute("select max(seq_id) from embeddings_queue").fetchone(),
                db.execute("select count(*), coalesce(sum(seq_id), 0) from embeddings").fetchone(),
                db.execute("select count(*) from collections").fetchone(),
                tuple(db.execute("select segment_id, seq_id from max_seq_id order by segment_id").fetchall()))
    finally:
        db.close()


def test_schemathesis_finds_no_server_errors(server_factory):
    from hypothesis import HealthCheck, given, settings
    from schemathesis import GenerationMode

    server = server_factory("fuzz", ENGRAM_SERVE_RUN_JOBS="false").start()
    auth = {"Authorization": f"Bearer {server.key('fuzz', 'read,write,optimize')}"}
    with server.client(auth["Authorization"].removeprefix("Bearer ")) as c:  # something to find and change
        c.post("/v1/memories", json={"namespace": ["a"], "key": "k", "content": "seed"})
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if op.path.startswith("/v1/")]
    per_mode = math.ceil(TOTAL / (2 * len(operations)))
    statuses: Counter = Counter()
    codes: Counter = Counter()
    changed_on_4xx: list[str] = []
    server_errors: list[str] = []

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=per_mode, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            def run(case) -> None:
                before = store_fingerprint(server.home)
                response = case.call(base_url=server.url, headers=auth, timeout=60)
                statuses[response.status_code] += 1
                if response.status_code >= 400:
                    try:
                        code = (response.json().get("error") or {}).get("code")
                    except ValueError:
                        code = "not-json"
                    codes[f"{response.status_code} {code}"] += 1
                if response.status_code >= 500:
                    server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                         f"{response.text[:200]}")
                elif 400 <= response.status_code < 500 and store_fingerprint(server.home) != before:
                    changed_on_4xx.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

            run()

    total = sum(statuses.values())
    print(f"fuzz: {total} requests over {len(operations)} operations; statuses {dict(sorted(statuses.items()))}; "
          f"error codes {dict(sorted(codes.items()))}")
    assert total >= 1000
    assert server_errors == []
    assert changed_on_4xx == []
    assert statuses[201] + statuses[200] > 0 and sum(n for s, n in statuses.items() if 400 <= s < 500) > 0
