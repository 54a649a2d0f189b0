"""``python -m engram.serve ...``: the service's command line (``serve``, ``mcp``, ``keys``)."""

from engram.serve._cli import main

main()
