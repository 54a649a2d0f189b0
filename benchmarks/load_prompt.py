"""Latency of ``engram.load_prompt``: cold (first call in a process), cached, and fallback.

    python benchmarks/load_prompt.py [--calls 10000]

Also: a black-holed MLflow (a socket that accepts and never answers) costs one timeout,
not one per call; and what a canary (hashed assignment) adds to a cached call.

Sets up a throw-away SQLite registry with one prompt promoted to ``production``, then runs
each measurement in a fresh interpreter so "cold" includes importing MLflow. Also prints
what importing the loader costs (modules and time) and what a cache miss adds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_SETUP = """
import engram
from engram.tracking._registry import PromptRegistry
reg = PromptRegistry()
reg.register("support", "You help {company} customers.", "benchmark")
reg.promote("support", 1, "production")
"""

_MEASURE = """
import json, sys, time
t0 = time.perf_counter()
before = set(sys.modules)
import engram.tracking._loader as loader
t1 = time.perf_counter()
loader_modules = sorted(set(sys.modules) - before)
mode = sys.argv[1]
kwargs = {"tracking_uri": "http://127.0.0.1:9"} if mode == "fallback" else {}
t2 = time.perf_counter()
prompt = loader.load_prompt("support@production", ttl=3600, **kwargs)
t3 = time.perf_counter()
calls = int(sys.argv[2])
for _ in range(calls):
    loader.load_prompt("support@production", ttl=3600, **kwargs)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_s": t3 - t2, "cached_us": (t4 - t3) / calls * 1e6,
                  "source": prompt.metadata["source"], "modules": len(loader_modules),
                  "heavy": [m for m in ("mlflow", "dspy", "litellm", "pandas", "sqlalchemy")
                            if m in loader_modules]}))
"""


_BLACKHOLE = """
import json, os, socket, sys, time
silent = socket.socket(); silent.bind(("127.0.0.1", 0)); silent.listen(64)  # accepts, never answers
os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = "2"
import engram.tracking._loader as loader
url = f"http://127.0.0.1:{silent.getsockname()[1]}"
loader.load_prompt("support@production", ttl=3600)  # the fallback file exists (written by the registry run)
loader.clear_cache()
t0 = time.perf_counter()
first = loader.load_prompt("support@production", ttl=1, tracking_uri=url)
t1 = time.perf_counter()
times = []
for _ in range(20):
    s = time.perf_counter(); loader.load_prompt("support@production", ttl=1, tracking_uri=url)
    times.append(time.perf_counter() - s)
calls = int(sys.argv[1])
t2 = time.perf_counter()
for i in range(calls):
    loader.load_prompt("support@production", canary="support@production", fraction=0.1, key=f"u{i}", ttl=3600)
t3 = time.perf_counter()
print(json.dumps({"first_s": t1 - t0, "source": first.metadata["source"], "next_max_s": max(times),
                  "next_mean_us": sum(times) / len(times) * 1e6, "canary_us": (t3 - t2) / calls * 1e6}))
"""


def _run(code: str, env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"benchmark step failed:\n{out.stderr[-2000:]}")
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000, help="cached calls to average over")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ENGRAM_HOME": home, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        env.pop("ENGRAM_TRACKING_URI", None)
        _run(_SETUP, env)
        registry = json.loads(_run(_MEASURE, env, "registry", str(args.calls)))
        fallback = json.loads(_run(_MEASURE, env, "fallback", str(args.calls)))
        blackhole = json.loads(_run(_BLACKHOLE, env, str(args.calls)))
        assert Path(home, "prompts", "support@production.json").exists()

    print("engram.load_prompt latency (SQLite registry under a temp ENGRAM_HOME; fresh process each)")
    print(f"  import engram.tracking._loader : {registry['import_s'] * 1e3:8.1f} ms  "
          f"({registry['modules']} modules, heavy: {registry['heavy'] or 'none'})")
    print(f"  cold, from the registry      : {registry['first_s'] * 1e3:8.1f} ms  (imports MLflow, opens the DB)")
    print(f"  cold, MLflow down -> fallback: {fallback['first_s'] * 1e3:8.1f} ms  (source={fallback['source']})")
    print(f"  cached                       : {registry['cached_us']:8.2f} us per call  "
          f"(mean of {args.calls})")
    print(f"  cold / cached                : {registry['first_s'] * 1e6 / registry['cached_us']:8.0f} x")
    print(f"  cached, with a canary        : {blackhole['canary_us']:8.2f} us per call  (hash + cache lookup)")
    print("MLflow black-holed (accepts, never answers; 2 s HTTP timeout; ttl=1 s):")
    print(f"  first call                   : {blackhole['first_s'] * 1e3:8.1f} ms  (one timeout, then "
          f"source={blackhole['source']})")
    print(f"  next 20 calls                : {blackhole['next_mean_us']:8.1f} us mean, "
          f"{blackhole['next_max_s'] * 1e3:.1f} ms max  (outage remembered for max(ttl, 5 s))")


if __name__ == "__main__":
    main()
