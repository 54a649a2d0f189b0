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

from typing import TYPE_CHECKING

from engram._lazy import lazy_exports
from engram.lm import OFFLINE_PREFIX, register_lm_prefix
from engram.testing._registry import (
    build_offline_lm,
    known_offline_lms,
    offline_lm,
    register_offline_lm,
)

_EXPORTS = {
    "OfflineEngine": "_engine", "make_lm": "_engine", "count_tokens": "_engine", "STAND_IN_NOTICE": "_engine",
    "ParsedCall": "_protocol", "parse_request": "_protocol", "format_outputs": "_protocol",
    "ScriptedEngine": "_scripted", "scripted_lm": "_scripted",
    "World": "_world", "SimulatedEngine": "_world", "simulated_lm": "_world", "SEED_PROMPT": "_world",
    "register_handler": "_handlers", "unregister_handler": "_handlers",
    "Trait": "_traits", "TRAITS": "_traits", "TRAIT_NAMES": "_traits", "activated_traits": "_traits",
    "complained_traits": "_traits",
    "SimUser": "_users", "make_users": "_users", "Topic": "_topics", "TOPICS": "_topics",
    "FaultyEngine": "_faults", "faulty_lm": "_faults", "FAULT_KINDS": "_faults", "FaultRecord": "_faults",
    "OfflineServer": "_server", "serve": "_server",
    "ChromaServer": "_chroma_server", "ChromaServerError": "_chroma_server", "chroma_command": "_chroma_server",
    "HardWorld": "_hard_world", "HardUser": "_hard_world", "hard_lm": "_hard_world", "SealedError": "_hard_world",
    "HARD_SEED_PROMPT": "_hard_world",
    "CompactionWorld": "_compaction_world", "compaction_lm": "_compaction_world",
}

__all__ = [  # noqa: RUF022 (the lazy names above)
    "build_offline_lm",
    "ChromaServer",
    "ChromaServerError",
    "chroma_command",
    "CompactionWorld",
    "compaction_lm",
    "FAULT_KINDS",
    "FaultRecord",
    "FaultyEngine",
    "HARD_SEED_PROMPT",
    "HardUser",
    "HardWorld",
    "OfflineEngine",
    "OfflineServer",
    "ParsedCall",
    "SEED_PROMPT",
    "SealedError",
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
    "hard_lm",
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

if not TYPE_CHECKING:  # checkers see the imports below instead of a catch-all __getattr__
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

# Importing the test world is what makes `offline/...` LM names buildable; engram.lm never imports it.
register_lm_prefix(OFFLINE_PREFIX, build_offline_lm)

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time names load lazily
    from engram.testing._chroma_server import (
        ChromaServer as ChromaServer,
        ChromaServerError as ChromaServerError,
        chroma_command as chroma_command,
    )
    from engram.testing._compaction_world import (
        CompactionWorld as CompactionWorld,
        compaction_lm as compaction_lm,
    )
    from engram.testing._engine import (
        OfflineEngine as OfflineEngine,
        STAND_IN_NOTICE as STAND_IN_NOTICE,
        count_tokens as count_tokens,
        make_lm as make_lm,
    )
    from engram.testing._faults import (
        FAULT_KINDS as FAULT_KINDS,
        FaultRecord as FaultRecord,
        FaultyEngine as FaultyEngine,
        faulty_lm as faulty_lm,
    )
    from engram.testing._handlers import (
        register_handler as register_handler,
        unregister_handler as unregister_handler,
    )
    from engram.testing._hard_world import (
        HARD_SEED_PROMPT as HARD_SEED_PROMPT,
        HardUser as HardUser,
        HardWorld as HardWorld,
        SealedError as SealedError,
        hard_lm as hard_lm,
    )
    from engram.testing._protocol import (
        ParsedCall as ParsedCall,
        format_outputs as format_outputs,
        parse_request as parse_request,
    )
    from engram.testing._scripted import (
        ScriptedEngine as ScriptedEngine,
        scripted_lm as scripted_lm,
    )
    from engram.testing._server import OfflineServer as OfflineServer, serve as serve
    from engram.testing._topics import TOPICS as TOPICS, Topic as Topic
    from engram.testing._traits import (
        TRAITS as TRAITS,
        TRAIT_NAMES as TRAIT_NAMES,
        Trait as Trait,
        activated_traits as activated_traits,
        complained_traits as complained_traits,
    )
    from engram.testing._users import SimUser as SimUser, make_users as make_users
    from engram.testing._world import (
        SEED_PROMPT as SEED_PROMPT,
        SimulatedEngine as SimulatedEngine,
        World as World,
        simulated_lm as simulated_lm,
    )
