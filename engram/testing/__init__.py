"""Offline stand-in LMs for tests, notebooks, CI and the offline demo (not models).

Everything here goes through DSPy's real adapter and LM path (``dspy.LM(name, engine=...)``)
and is labeled ``offline/...``:

- :func:`scripted_lm` — answers chosen by signature or input (unit tests);
- :func:`simulated_lm` / :class:`World` — simulated users with hidden preferences, a task
  model that follows its prompt, a judge, a reflector and a prompt writer (``offline/support``);
- :func:`faulty_lm` — wraps any offline LM and injects errors, timeouts, malformed output,
  missing fields, invented ids and dropped template variables;
- :class:`OfflineServer` — an OpenAI-compatible HTTP server on 127.0.0.1 backed by an engine.

Example::

    import dspy
    from engram.testing import simulated_lm
    with dspy.context(lm=simulated_lm(seed=0)):
        dspy.Predict("message -> response")(message="I forgot my password")

Names are imported lazily so ``import engram.testing`` stays cheap.
"""

from __future__ import annotations

from engram._lazy import lazy_exports

_EXPORTS = {
    "OfflineEngine": "engine", "make_lm": "engine", "count_tokens": "engine", "STAND_IN_NOTICE": "engine",
    "ParsedCall": "protocol", "parse_request": "protocol", "format_outputs": "protocol",
    "ScriptedEngine": "scripted", "scripted_lm": "scripted",
    "World": "world", "SimulatedEngine": "world", "simulated_lm": "world", "SEED_PROMPT": "world",
    "register_handler": "handlers", "unregister_handler": "handlers",
    "Trait": "traits", "TRAITS": "traits", "TRAIT_NAMES": "traits", "activated_traits": "traits",
    "complained_traits": "traits",
    "SimUser": "users", "make_users": "users", "Topic": "topics", "TOPICS": "topics",
    "offline_lm": "registry", "known_offline_lms": "registry", "register_offline_lm": "registry",
    "FaultyEngine": "faults", "faulty_lm": "faults", "FAULT_KINDS": "faults", "FaultRecord": "faults",
    "OfflineServer": "server", "serve": "server",
}

__all__ = [  # noqa: RUF022 (the lazy names above)
    "FAULT_KINDS",
    "FaultRecord",
    "FaultyEngine",
    "OfflineEngine",
    "OfflineServer",
    "ParsedCall",
    "SEED_PROMPT",
    "STAND_IN_NOTICE",
    "ScriptedEngine",
    "SimUser",
    "SimulatedEngine",
    "TOPICS",
    "TRAITS",
    "TRAIT_NAMES",
    "Topic",
    "Trait",
    "World",
    "activated_traits",
    "complained_traits",
    "count_tokens",
    "faulty_lm",
    "format_outputs",
    "known_offline_lms",
    "make_lm",
    "make_users",
    "offline_lm",
    "parse_request",
    "register_handler",
    "register_offline_lm",
    "scripted_lm",
    "serve",
    "simulated_lm",
    "unregister_handler",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
