"""Start ``engram serve`` for the tests, with one more offline stand-in registered.

``offline/serve-slow`` is the simulated support world with ``ENGRAM_TEST_LM_LATENCY``
seconds per call (a stand-in, not a model), so a test can SIGKILL the server while an
extraction job is in flight. Usage: ``python tests/serve/launch.py serve --port 8123``.
"""

import os
import sys

from engram.serve import app
from engram.testing import register_offline_lm, simulated_lm


def _slow(**kwargs):
    kwargs.setdefault("latency", float(os.environ.get("ENGRAM_TEST_LM_LATENCY", "3")))
    return simulated_lm(seed=0, name="offline/serve-slow", **kwargs)


register_offline_lm("serve-slow", _slow, "the simulated world, slowed down for kill-and-restart tests")

if __name__ == "__main__":
    app(sys.argv[1:])
