"""How the simulated world answers a DSPy call: a handler registry plus built-in behaviours.

Stand-in behaviour, not a model. The world dispatches on the parsed call's field names:

============================  ===========================================================
output field                  behaviour
============================  ===========================================================
``score``                     judge: scores the response by the hidden preferences
``*recommendations*``         reflection: recommends instructions for complained-about traits
``improved_prompt`` / ...     prompt writer: appends those instructions, keeps variables
``response`` / ``answer`` ... task model: follows the instructions in its prompt
anything else                 a deterministic placeholder valid for the declared types
============================  ===========================================================

Other modules teach the world their own signatures; registered handlers are tried first::

    from engram.testing._handlers import register_handler

    register_handler("extract-facts",
                     matches=lambda call: "memories" in call.output_fields,
                     handle=lambda call, world: {"memories": []})

``engram.testing._sim_memory`` and ``engram.testing._sim_optimizers`` are imported on first
use if they exist, so their handlers register themselves.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engram._lazy import import_module, module_available
from engram.testing._protocol import ParsedCall
from engram.testing._traits import (
    TRAITS,
    activated_traits,
    complained_traits,
    get_trait,
    instructed_traits,
)
from engram.testing._values import coerce_value, generic_value

if TYPE_CHECKING:
    from engram.testing._world import World

Matcher = Callable[[ParsedCall], bool]
Handle = Callable[[ParsedCall, "World"], dict[str, Any]]

PLUGIN_MODULES = ("engram.testing._sim_memory", "engram.testing._sim_optimizers", "engram.testing._compaction_world")
TASK_OUTPUTS = ("response", "answer", "reply")
# The last three are DSPy's own proposers' fields (GEPA's instruction proposal, MIPROv2).
WRITER_OUTPUTS = ("improved_prompt", "new_prompt", "updated_prompt", "new_instruction", "improved_instruction",
                  "proposed_instruction")
PROMPT_INPUTS = ("system_prompt", "prompt", "instructions", "current_prompt", "current_instructions",
                 "current_instruction", "current_instruction_doc", "basic_instruction")
# GEPA's default reflection prompt is plain text, not a DSPy signature: recognise it by its wording.
_GEPA_PROMPT = re.compile(r"I provided an assistant with the following instructions to perform a task for me:\s*"
                          r"```\n?(?P<current>.*?)\n?```(?P<evidence>.*)Provide the new instructions within ``` blocks",
                          re.DOTALL)
MESSAGE_INPUTS = ("message", "question", "user_message", "query", "input", "request")
RESPONSE_INPUTS = ("response", "answer", "reply", "output", "assistant_response", "completion", "prediction")


@dataclass(frozen=True)
class Handler:
    name: str
    matches: Matcher
    handle: Handle


_registry: dict[str, Handler] = {}
_lock = threading.Lock()
_plugins_loaded = False
_plugin_lock = threading.Lock()


def register_handler(name: str, matches: Matcher, handle: Handle) -> None:
    """Teach the simulated world a signature. Re-registering a name replaces it; order is kept."""
    with _lock:
        _registry[name] = Handler(name, matches, handle)


def unregister_handler(name: str) -> None:
    with _lock:
        _registry.pop(name, None)


def registered_handlers() -> list[Handler]:
    """The registered handlers, after importing the plugin modules that exist."""
    load_plugins()
    with _lock:
        return list(_registry.values())


def load_plugins() -> None:
    """Import sim_memory / sim_optimizers if present; a broken plugin raises (it should fail loudly)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    # A separate lock: a plugin calls register_handler (which takes _lock) while importing.
    # Threads racing on the first call wait here rather than dispatch without the plugins.
    with _plugin_lock:
        if _plugins_loaded:
            return
        for module in PLUGIN_MODULES:
            if module_available(module):
                import_module(module)
        _plugins_loaded = True


# -- reading a call ----------------------------------------------------------------------------
def first_input(call: ParsedCall, names: tuple[str, ...]) -> str | None:
    for name in names:
        if call.inputs.get(name):
            return call.inputs[name]
    return None


def prompt_of(call: ParsedCall, *, with_instructions: bool = True) -> str:
    """The instructions the model is under: the signature's plus any prompt-like input."""
    parts = [call.instructions] if with_instructions else []
    parts += [call.inputs[n] for n in PROMPT_INPUTS if call.inputs.get(n)]
    return "\n".join(p for p in parts if p)


_TURN = re.compile(r"^(user|assistant|system|human|ai|tool)\s*:\s*", re.IGNORECASE | re.MULTILINE)


def last_turn(text: str, role: str) -> str | None:
    """Content of the last ``role: ...`` turn in a transcript (until the next turn)."""
    turns = list(_TURN.finditer(text or ""))
    wanted = {"user": ("user", "human"), "assistant": ("assistant", "ai")}[role]
    for i in range(len(turns) - 1, -1, -1):
        if turns[i].group(1).lower() in wanted:
            end = turns[i + 1].start() if i + 1 < len(turns) else len(text)
            return text[turns[i].end():end].strip()
    return None


def message_of(call: ParsedCall) -> str:
    found = first_input(call, MESSAGE_INPUTS)
    if found:
        return found
    for name, value in call.inputs.items():
        if name in PROMPT_INPUTS:
            continue
        turn = last_turn(value, "user")
        if turn:
            return turn
    return next((v for n, v in call.inputs.items() if n not in PROMPT_INPUTS and v), "")


def non_prompt_text(call: ParsedCall) -> str:
    """All inputs except the prompt itself (where feedback, critiques and recommendations live)."""
    return "\n".join(v for n, v in call.inputs.items() if n not in PROMPT_INPUTS)


def fill_outputs(call: ParsedCall, values: dict[str, Any]) -> dict[str, Any]:
    """Every declared output field, in order: the handler's value fitted to its type, else a placeholder."""
    out = {}
    for name, type_name in call.output_fields.items():
        if name in values:
            out[name] = coerce_value(type_name, values[name])
        else:
            out[name] = generic_value(name, type_name, call.output_schemas.get(name),
                                      call.output_choices.get(name))
    return out


# -- built-in behaviours -----------------------------------------------------------------------
def is_judge(call: ParsedCall) -> bool:
    return "score" in call.output_fields


def handle_judge(call: ParsedCall, world: World) -> dict[str, Any]:
    response = first_input(call, RESPONSE_INPUTS)
    if response is None:
        convo = non_prompt_text(call)
        response = last_turn(convo, "assistant") or convo
    user = world.identify(non_prompt_text(call))
    score, critique = world.judge(response, user)
    score_type = call.output_fields["score"]
    scaled: Any = score
    if score_type == "int":  # an integer score is read as 0..10
        scaled = round(score * 10)
    elif score_type == "bool":
        scaled = score >= 0.5
    out: dict[str, Any] = {"score": scaled}
    for name in call.output_fields:
        if name in ("critique", "comment", "rationale", "feedback", "explanation"):
            out[name] = critique
        elif name == "reasoning":
            who = f"user {user.name}" if user else "the user population"
            out[name] = f"Stand-in judge: scored against the hidden preferences of {who}. {critique}"
    return out


def is_reflection(call: ParsedCall) -> bool:
    return any("recommendations" in name for name in call.output_fields)


def handle_reflection(call: ParsedCall, world: World) -> dict[str, Any]:
    prompt = prompt_of(call, with_instructions=False)
    evidence = non_prompt_text(call)
    complained = complained_traits(evidence)
    new = world.recommend(prompt, evidence)
    out: dict[str, Any] = {}
    for name in call.output_fields:
        if "recommendations" in name:
            out[name] = [get_trait(t).instruction for t in new]
        elif name == "failure_modes":
            out[name] = [f"Users complain: '{get_trait(t).complaints[0]}' ({t.replace('_', ' ')} missing)"
                         for t in complained]
        elif name == "hypotheses":
            out[name] = [f"The prompt never asks for {t.replace('_', ' ')}, so responses lack it." for t in new]
        elif name == "edit_warranted":
            out[name] = bool(new)
        elif name == "reasoning":
            out[name] = (f"Stand-in reflection: complaints point at {', '.join(complained) or 'nothing'}; "
                         f"not yet covered by the prompt: {', '.join(new) or 'nothing'}.")
    return out


def is_writer(call: ParsedCall) -> bool:
    return any(name in call.output_fields for name in WRITER_OUTPUTS)


def handle_writer(call: ParsedCall, world: World) -> dict[str, Any]:
    prompt = first_input(call, ("prompt", "current_prompt", "current_instructions", "current_instruction",
                                "current_instruction_doc", "basic_instruction", "system_prompt",
                                "instructions")) or ""
    evidence = non_prompt_text(call)
    improved = world.improve(prompt, evidence)
    added = [t for t in activated_traits(improved) if t not in activated_traits(prompt)]
    out: dict[str, Any] = {name: improved for name in WRITER_OUTPUTS if name in call.output_fields}
    for name in call.output_fields:
        if name in ("rationale", "changes", "change_summary", "summary", "reasoning"):
            out[name] = ("Stand-in writer: appended " + ", ".join(added) + "." if added
                         else "Stand-in writer: nothing new to add; prompt unchanged.")
    return out


def listed(value: str) -> list[str]:
    """A list input as DSPy renders it (JSON), or one item per line."""
    try:
        items = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        items = None
    if isinstance(items, list):
        return [str(i) for i in items]
    return [line.lstrip("-*• ").strip() for line in (value or "").splitlines() if line.strip()]


def is_reader(call: ParsedCall) -> bool:
    return "requested_instructions" in call.output_fields


def handle_reader(call: ParsedCall, world: World) -> dict[str, Any]:
    """Per conversation, the instructions for the traits its comment misses or praises (TallyOptimizer's reader)."""
    requested = []
    for comment in listed(call.inputs.get("feedback", "")):
        norm = comment.lower()
        praised = [t.name for t in TRAITS if any(p in norm for p in t.praise)]
        requested.append([get_trait(t).instruction for t in dict.fromkeys([*complained_traits(comment), *praised])])
    return {"requested_instructions": requested, "says_incomplete": [False] * len(requested)}


def is_checker(call: ParsedCall) -> bool:
    return "followed" in call.output_fields and "replies" in call.inputs


def handle_checker(call: ParsedCall, world: World) -> dict[str, Any]:
    """Per reply, whether it shows every trait each instruction asks for (TallyOptimizer's checker)."""
    asked = [activated_traits(i) for i in listed(call.inputs.get("candidate_instructions", ""))]
    replies = listed(call.inputs.get("replies", ""))
    followed = [[bool(a) and all(get_trait(t).detect(r) for t in a) for a in asked] for r in replies]
    return {"followed": followed, "complete": [True] * len(replies)}


def is_task(call: ParsedCall) -> bool:
    return any(name in call.output_fields for name in TASK_OUTPUTS) or call.adapter == "raw"


def handle_task(call: ParsedCall, world: World) -> dict[str, Any]:
    if call.adapter == "raw":  # plain chat (e.g. through the HTTP server): system prompt + last user turn
        gepa = _GEPA_PROMPT.search(call.inputs.get("prompt", ""))
        if gepa:  # GEPA's reflection step: answer with the improved instruction in a ``` block
            return {"response": "```\n" + world.improve(gepa.group("current"), gepa.group("evidence")) + "\n```"}
        return {"response": world.respond(call.instructions, call.inputs.get("prompt", ""))}
    prompt = prompt_of(call)
    message = message_of(call)
    history = "\n".join(v for n, v in call.inputs.items()
                        if n not in PROMPT_INPUTS and n not in MESSAGE_INPUTS and v != message)
    text = world.respond(prompt, message, history=history)
    out: dict[str, Any] = {name: text for name in TASK_OUTPUTS if name in call.output_fields}
    if "reasoning" in call.output_fields:
        traits = activated_traits(prompt)
        out["reasoning"] = f"Stand-in task model: following {', '.join(traits) or 'no specific'} instructions."
    return out


BUILTINS: tuple[Handler, ...] = (
    Handler("reader", is_reader, handle_reader),
    Handler("checker", is_checker, handle_checker),
    Handler("judge", is_judge, handle_judge),
    Handler("reflection", is_reflection, handle_reflection),
    Handler("prompt-writer", is_writer, handle_writer),
    Handler("task", is_task, handle_task),
)


def dispatch(call: ParsedCall, world: World) -> dict[str, Any] | str:
    """Registered handlers first, then the built-ins, then placeholders; raw chat gets plain text."""
    for handler in (*registered_handlers(), *BUILTINS):
        if handler.matches(call):
            values = handler.handle(call, world)
            break
    else:
        values = {}
    if call.adapter == "raw":
        if isinstance(values, str):
            return values
        return str(next(iter(values.values()), "")) if values else handle_task(call, world)["response"]
    return fill_outputs(call, values)


__all__ = [
    "Handler",
    "dispatch",
    "fill_outputs",
    "instructed_traits",
    "last_turn",
    "message_of",
    "non_prompt_text",
    "prompt_of",
    "register_handler",
    "registered_handlers",
    "unregister_handler",
]
