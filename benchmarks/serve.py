"""Service speed on loopback: search and write throughput and p50 / p95 through ``engram serve``
at 1, 8 and 32 concurrent clients, beside the same calls made in process (ratio).

Run::

    python benchmarks/serve.py                      # 300 calls per level, 200 seeded memories
    python benchmarks/serve.py --calls 100 --levels 1 8

What is measured (embedding included everywhere, the default MiniLM embedder):
- HTTP: ``POST /v1/memories/search`` and ``POST /v1/memories`` against a real ``engram serve``
  subprocess (uvicorn, one worker, embedded Chroma) on 127.0.0.1, from ``httpx.AsyncClient``
  with N requests in flight; latency is client-side (request sent -> response read);
- in process: ``MemoryStore.search`` / ``put`` on a persistent store of the same size, from a
  thread pool of N workers (what an agent embedding engram as a library would see).
Target: p95 search <= 30 ms at 8 clients. The load is bounded (``--calls`` per level).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["tea", "coffee", "hiking", "cello", "Lisbon", "Python", "Rust", "vegetarian", "cats", "dogs", "piano",
         "chess", "running", "sushi", "invoice", "password", "travel", "Berlin", "jazz", "novels", "football"]


def text(i: int) -> str:
    w = WORDS
    return f"user note {i}: likes {w[i % len(w)]} and {w[(i * 7) % len(w)]}, dislikes {w[(i * 13) % len(w)]}"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ENGRAM_HOME": str(home), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1",
           "ENGRAM_SERVE_RATE_PER_SECOND": "100000", "ENGRAM_SERVE_RATE_BURST": "100000"}
    proc = subprocess.Popen([sys.executable, "-m", "engram.serve", "serve", "--port", str(port),
                             "--log-level", "warning"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(home / "server.log", "wb"))  # noqa: SIM115
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not start; see {home / 'server.log'}")


async def http_level(url: str, key: str, kind: str, clients: int, calls: int, offset: int) -> list[float]:
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as client:
        queue = list(range(calls))

        async def worker() -> None:
            while queue:
                i = queue.pop() + offset
                start = time.perf_counter()
                if kind == "search":
                    r = await client.post("/v1/memories/search", json={"namespace": ["bench"], "query": text(i),
                                                                         "limit": 5})
                else:
                    r = await client.post("/v1/memories", json={"namespace": ["bench-w"], "key": f"k{i}",
                                                                "content": text(i)})
                latencies.append(time.perf_counter() - start)
                r.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


def inproc_level(store, kind: str, clients: int, calls: int, offset: int) -> list[float]:
    def one(i: int) -> float:
        start = time.perf_counter()
        if kind == "search":
            store.search(("bench",), text(i + offset), limit=5)
        else:
            store.put(("bench-w",), f"k{i + offset}", text(i + offset))
        return time.perf_counter() - start

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(one, range(calls)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per kind and concurrency level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seed-memories", type=int, default=200)
    args = parser.parse_args()

    from engram.serve import KeyStore
    from engram.store import MemoryStore

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        home, local = Path(tmp) / "server", Path(tmp) / "local"
        home.mkdir()
        key = KeyStore(home / "serve-keys.db").create("bench", "read,write").key
        proc, url = start_server(home)
        try:
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
                for i in range(args.seed_memories):
                    c.post("/v1/memories", json={"namespace": ["bench"], "key": f"s{i}", "content": text(i)})
            store = MemoryStore.persistent(local / "chroma")
            store.put_many(("bench",), [{"key": f"s{i}", "content": text(i)} for i in range(args.seed_memories)])
            inproc_level(store, "search", 1, 5, 0)  # load the model before timing
            rows = []
            offset = 10_000
            for kind in ("search", "write"):
                for clients in args.levels:
                    offset += args.calls
                    start = time.perf_counter()
                    http = asyncio.run(http_level(url, key, kind, clients, args.calls, offset))
                    http_rate = args.calls / (time.perf_counter() - start)
                    start = time.perf_counter()
                    local_lat = inproc_level(store, kind, clients, args.calls, offset)
                    local_rate = args.calls / (time.perf_counter() - start)
                    rows.append((kind, clients, http_rate, pct(http, .5), pct(http, .95), local_rate,
                                 pct(local_lat, .5), pct(local_lat, .95)))
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    print(f"engram serve on loopback, {args.calls} calls per row, {args.seed_memories} memories seeded, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {os.getloadavg()[0]:.1f} after; "
          "embedding included")
    print(f"{'kind':<7}{'clients':>8}{'http/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'lib/s':>9}{'p50 ms':>8}"
          f"{'p95 ms':>8}{'http/lib p95':>14}")
    for kind, n, hr, h50, h95, lr, l50, l95 in rows:
        print(f"{kind:<7}{n:>8}{hr:>9.0f}{h50 * 1e3:>8.1f}{h95 * 1e3:>8.1f}{lr:>9.0f}{l50 * 1e3:>8.1f}"
              f"{l95 * 1e3:>8.1f}{h95 / l95:>14.2f}")
    p95_8 = next((r[4] for r in rows if r[0] == "search" and r[1] == 8), None)
    if p95_8 is not None:
        verdict = "meets" if p95_8 <= 0.030 else "misses"
        print(f"search p95 at 8 clients: {p95_8 * 1e3:.1f} ms ({verdict} the 30 ms target)")


if __name__ == "__main__":
    main()
