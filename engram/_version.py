"""The engram version (one place: the root face and the CLI read it)."""

__version__ = "0.1.0"
