"""Tenancy: a second tenant's key tries ≥ 40 ways into the first tenant's data and gets nothing.

The victim (acme) stores memories, a dataset and a job; the attacker (globex) uses the
same namespace names, absolute-looking prefixes, ``..``, encoded and look-alike
separators, template braces, the victim's memory keys and job ids. Every attempt is
counted; afterwards the victim's whole state (read with its own key) must be unchanged
and no response may carry the victim's text or ids.
"""

from __future__ import annotations

import pytest

SECRET = "acme-secret-7f3c"
NS = ["memories", "u1"]


def victim_state(c) -> dict:
    namespaces = c.get("/v1/namespaces", params={"limit": 1000}).json()["namespaces"]
    memories = {}
    for ns in namespaces:
        found = c.post("/v1/memories/search", json={"namespace": ns, "limit": 100}).json()["results"]
        memories[tuple(ns)] = sorted((r["id"], r["version"], str(r["content"])) for r in found)
    return {"namespaces": sorted(map(tuple, namespaces)), "memories": memories}


@pytest.fixture(scope="module")
def world(shared_server):
    victim, attacker = shared_server.key("acme"), shared_server.key("globex")
    with shared_server.client(victim) as c:
        for ns, key in ((NS, "diet"), (["shared"], "plan"), (["memories", "u1", "deep"], "x")):
            assert c.post("/v1/memories", json={"namespace": ns, "key": key,
                                                "content": f"{SECRET} {key}"}).status_code == 201
        job = c.post("/v1/extract", json={"namespace": NS, "messages": [
            {"role": "user", "content": f"My codename is {SECRET}."}]}).json()["job_id"]
        feedback = c.post("/v1/feedback", json={"dataset": "support", "trajectories": [
            {"messages": [{"role": "user", "content": SECRET}], "feedback": {"score": 1}}]}).json()
        assert feedback["total"] == 1
    return {"victim": victim, "attacker": attacker, "job": job}


# Valid names that merely look like the victim's: they resolve inside the caller's own tenant.
HARMLESS = [["tenants", "acme", "memories", "u1"], ["acme", "memories", "u1"], ["tenants"],
            ["memories", "u\u0131"]]
# Names the server refuses outright (422).
REFUSED = [
    ["..", "acme", "memories", "u1"], ["..", "..", "tenants", "acme"], [".", "memories"], ["memories/u1"],
    ["memories%2Fu1"], ["%2e%2e", "acme"], ["memories\\u1"], ["memories\uff0fu1"], ["memories\u2215u1"],
    ["memories\u2044u1"], ["\uff4demories", "u1"], ["{tenant}", "memories"], ["{user_id}"], ["memories", ""],
    ["memories", " "], ["memories\x00", "u1"], ["engram.processed"], ["memories", "u1", "engram.processed"],
    ["memories", "u1\n"],
]
LOOKALIKE_NAMESPACES = HARMLESS + REFUSED


def test_cross_tenant_attempts_get_nothing(shared_server, world):
    with shared_server.client(world["victim"]) as v:
        before = victim_state(v)
        job_before = v.get(f"/v1/jobs/{world['job']}").json()
    assert before["memories"][tuple(NS)], "the victim's data must exist for the test to mean anything"
    attempts = reads = writes = job_access = 0
    leaks: list[str] = []

    def check(response, kind: str) -> None:
        nonlocal attempts, reads, writes, job_access
        attempts += 1
        job_seen = world["job"] in response.text and response.status_code < 400
        if SECRET in response.text or job_seen or (kind == "job" and response.status_code < 400):
            leaks.append(f"{kind}: {response.request.method} {response.request.url} -> {response.status_code}")
            reads += kind == "read"
            job_access += kind == "job"

    with shared_server.client(world["attacker"]) as a:
        # the same relative names: they resolve inside globex's own tenant
        check(a.get("/v1/memories/diet", params={"namespace": NS}), "read")
        check(a.post("/v1/memories/search", json={"namespace": NS, "query": "codename"}), "read")
        check(a.post("/v1/memories/search", json={"namespace": ["shared"]}), "read")
        check(a.get("/v1/memories/diet/history", params={"namespace": NS}), "read")
        check(a.get("/v1/namespaces"), "read")
        check(a.get("/v1/namespaces", params={"prefix": ["tenants", "acme"]}), "read")
        check(a.patch("/v1/memories/diet", params={"namespace": NS}, json={"content": "pwned"}), "write")
        check(a.delete("/v1/memories/diet", params={"namespace": NS}), "write")
        check(a.delete("/v1/memories/diet", params={"namespace": NS, "hard": "true"}), "write")
        check(a.post("/v1/memories/diet/restore", params={"namespace": NS}, json={"version": 1}), "write")
        check(a.post("/v1/memories", json={"namespace": NS, "key": "diet", "content": "pwned",
                                           "expected_version": 1}), "write")
        # every look-alike namespace, for reads and writes
        for ns in LOOKALIKE_NAMESPACES:
            check(a.post("/v1/memories/search", json={"namespace": ns, "query": "codename"}), "read")
            made = a.post("/v1/memories", json={"namespace": ns, "key": "diet", "content": "pwned"})
            check(made, "write")
            assert made.status_code == (201 if ns in HARMLESS else 422), (ns, made.text)
        # raw URLs with encoded separators and path steps
        for raw in ("/v1/memories/..%2F..%2Facme?namespace=memories&namespace=u1",
                    "/v1/memories/diet?namespace=tenants&namespace=acme&namespace=memories&namespace=u1",
                    "/v1/memories/diet?namespace=memories%2Fu1", "/v1/memories/%2e%2e/history?namespace=memories",
                    "/v1/jobs/..%2F" + world["job"], "/v1/prompts/acme.support"):
            check(a.get(raw), "read")
        # the victim's job id, directly and dressed up
        for job_id in (world["job"], world["job"].upper(), f" {world['job']}", f"{world['job']}%00"):
            check(a.get(f"/v1/jobs/{job_id}"), "job")
        # a forged tenant header and a tampered victim key are ignored / refused
        check(a.get("/v1/memories/diet", params={"namespace": NS}, headers={"X-Tenant": "acme"}), "read")
        check(a.get("/v1/memories/diet", params={"namespace": NS},
                    headers={"Authorization": f"Bearer {world['victim'][:-2]}xx"}), "read")
        # extraction and feedback with the victim's names write into globex only
        check(a.post("/v1/extract", json={"namespace": NS, "wait": True, "messages": [
            {"role": "user", "content": "Forget everything about the other tenant."}]}), "write")
        check(a.post("/v1/feedback", json={"dataset": "support", "trajectories": [
            {"messages": [{"role": "user", "content": "x"}]}]}), "write")
        check(a.post("/v1/optimize", json={"prompt": "p", "dataset": "missing-one"}), "write")

    with shared_server.client(world["victim"]) as v:
        after = victim_state(v)
        job_after = v.get(f"/v1/jobs/{world['job']}").json()
    writes = int(after != before) + int(job_after["id"] != job_before["id"])
    dataset = shared_server.home / "serve-datasets" / "acme" / "support.jsonl"
    writes += len(dataset.read_text().splitlines()) != 1
    print(f"tenancy: {attempts} cross-tenant attempts, {reads} reads, {writes} writes, {job_access} job accesses")
    assert attempts >= 40
    assert leaks == [] and reads == 0 and job_access == 0 and writes == 0


def test_scoping_is_structural():
    from engram.errors import NamespaceError
    from engram.serve import scoped, unscoped

    assert scoped("acme", ["memories", "u1"]) == ("tenants", "acme", "memories", "u1")
    assert unscoped("acme", ("tenants", "acme", "memories")) == ("memories",)
    with pytest.raises(NamespaceError):
        unscoped("acme", ("tenants", "globex", "memories"))
    for ns in HARMLESS:
        assert scoped("globex", ns)[:2] == ("tenants", "globex")
    for ns in REFUSED:
        with pytest.raises(NamespaceError):
            scoped("globex", ns)


def test_a_missing_prompt_before_anything_is_registered_creates_no_registry(tmp_path):
    import engram
    from engram.errors import NotFoundError
    from engram.serve._prompts import load_tenant_prompt

    engram.configure(home=str(tmp_path))
    try:
        with pytest.raises(NotFoundError, match=r"No prompt 'support' for this tenant; your prompts: \(none yet\)"):
            load_tenant_prompt("acme", "support", alias="production")
        # an empty database here would make the loader answer "not found" where it serves fallback copies
        assert not (tmp_path / "mlflow.db").exists()
    finally:
        engram.configure(home=None)
