"""The hard world's stand-in LMs: judge, reflection, writers, task model (offline, not models).

They recognise a request by its DSPy structure (output field names and the shape of the
inputs), not by any library's prose, and answer from what the request shows; they run
inside :meth:`HardWorld.sealed`, so reading a user's hidden weights raises.

======================================  =====================================================
request structure                       stand-in
======================================  =====================================================
output ``requested_instructions``       reader: one comment next to its reply, read like the reflection
output ``followed``                     checker: which instructions a reply follows (public detectors)
output ``score``                        judge: a generic taste (not any user's) plus noise
output ``*recommendations*``            reflection: reads comments next to replies, votes
output ``new_instruction`` + records    DSPy GEPA's ProposeInstruction: reflection + rewrite
output ``proposed_instruction``         MIPROv2 GroundedProposer (demos + tip) / COPRO
output ``improved_prompt`` & co.        writer: applies recommendations, or reads trajectories
output ``response`` / raw chat          task model (imitates demos in the request)
======================================  =====================================================

Understanding is partial on purpose: the stand-ins know two of a behaviour's three
paraphrases, take a stray keyword ("my ticket from last month ...") for a request, and only
a reasoning step (a ``reasoning`` output, i.e. ``ChainOfThought``) resolves comments that
point at the reply ("that last bit was pointless") and drops comments the reply contradicts.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engram.testing import _hard_rules as R
from engram.testing._handlers import (
    PROMPT_INPUTS,
    RESPONSE_INPUTS,
    fill_outputs,
    first_input,
    listed,
    last_turn,
    message_of,
)
from engram.testing._protocol import ParsedCall

if TYPE_CHECKING:
    from engram.testing._hard_world import HardWorld

THRESHOLD = 0.12  # share of conversations whose net vote makes a behaviour worth an edit
JUDGE_TASTE = {"concise": 0.1, "steps": 0.15, "apology": 0.05, "ticket": 0.05, "docs": 0.1, "followup": 0.05,
               "discount": 0.2}
_LOOSE = {"steps": "steps", "help center": "docs", "sorry": "apology", "ticket": "ticket", "discount": "discount",
          "long": "concise"}
WRITER_OUTPUTS = ("improved_prompt", "updated_prompt", "new_prompt", "improved_instruction")


@dataclass
class Unit:
    """One reply and what its user said about it, as a request shows them."""

    reply: str
    comment: str
    score: float | None = None


# -- reading evidence ---------------------------------------------------------------------------
_SCORE = re.compile(r"score=([0-9.]+)")
_COMMENT = re.compile(r'comment=("(?:[^"\\]|\\.)*")')


def _records(value: str) -> list[Unit]:
    try:
        items = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return []
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        outputs = item.get("Generated Outputs", item.get("outputs", ""))
        reply = next(iter(outputs.values()), "") if isinstance(outputs, dict) else str(outputs)
        out.append(Unit(str(reply), str(item.get("Feedback", item.get("feedback", "")))))
    return out


def _blocks(value: str) -> list[Unit]:
    out = []
    for chunk in re.split(r"(?m)^(?=### )", value or ""):
        lines = chunk.splitlines()
        headers = [line for line in lines if line.startswith("### ")]
        if not headers:
            continue
        body = "\n".join(line for line in lines if not line.startswith("### "))
        reply = last_turn(body, "assistant") or ""
        reply = re.sub(r"^response:\s*", "", reply)
        for header in headers:
            score = _SCORE.search(header)
            comment = _COMMENT.search(header)
            out.append(Unit(reply, json.loads(comment.group(1)) if comment else "",
                            float(score.group(1)) if score else None))
    return out


def evidence(call: ParsedCall) -> tuple[list[Unit], str]:
    """(units, other text): replies with comments from any input, and the inputs that hold none."""
    units: list[Unit] = []
    other = []
    for name, value in call.inputs.items():
        if name in PROMPT_INPUTS:
            continue
        found = _records(value) or _blocks(value)
        units += found
        if not found:
            other.append(value)
    return units, "\n".join(other)


def signals(unit: Unit, careful: bool) -> tuple[list[tuple[str, int]], bool]:
    """((behaviour, +1 want / -1 do not want), lost focus?) that a reader takes from one comment."""
    shown = R.shows(unit.reply)
    first, last = R.ends(unit.reply)
    out: list[tuple[str, int]] = []
    lost = False
    for sentence in re.split(r"(?<=[.!?])\s+", unit.comment.lower()):
        if not sentence.strip():
            continue
        if any(p in sentence for p in R.LOST_FOCUS[:2]):
            lost = True
            continue
        hits: list[tuple[str, int, str]] = []
        for b in R.BEHAVIOURS:
            if any(p in sentence for p in b.missing[:2]):
                hits.append((b.name, 1, "missing"))
            elif any(p in sentence for p in b.excess[:2]):
                hits.append((b.name, -1, "excess"))
            elif b.praise[0] in sentence:
                hits.append((b.name, 1, "present"))
        if careful and not hits:
            for (where, sign), phrases in R.DEICTIC.items():
                if phrases[0] in sentence:
                    target = first if where == "first" else last
                    if target == "verbose":
                        hits.append(("concise", -sign, "missing" if sign < 0 else "excess"))
                    elif target:
                        hits.append((target, sign, "present"))
        if not hits:  # misled by a stray keyword
            hits = [(name, 1, "missing") for word, name in _LOOSE.items() if word in sentence][:1]
        for name, sign, kind in hits:
            contradicted = name in shown if kind == "missing" else name not in shown
            if careful and contradicted:
                continue  # the reply contradicts the comment: a careful reader drops it
            out.append((name, sign))
    return out, lost


def recommend(prompt: str, units: list[Unit], other: str = "", *, careful: bool = True,
              max_edits: int = 2) -> list[tuple[str, bool | None]]:
    """Edits ``(behaviour, True: ask for it / False: forbid it / None: drop the directive)``, strongest first."""
    if not units:
        return []
    votes = dict.fromkeys(R.NAMES, 0.0)
    lost = 0
    for unit in units:
        found, was_lost = signals(unit, careful)
        lost += was_lost
        for b, sign in found:
            votes[b] += sign
    n = len(units)
    votes = {b: v / n for b, v in votes.items()}
    current = dict(R.directives(prompt))
    forbidden = {b for b, wanted in R.directives(other) if not wanted}
    edits: list[tuple[float, tuple[str, bool | None]]] = []
    for b, v in votes.items():
        if v >= THRESHOLD and current.get(b) is not True and b not in forbidden:
            edits.append((v, (b, True)))
        elif careful and v <= -THRESHOLD and current.get(b) is not False:
            edits.append((-v, (b, None) if current.get(b) else (b, False)))
    if careful and current and lost / n >= 0.15:
        weakest = min(current, key=lambda b: votes[b] if current[b] else -votes[b])
        edits.append((lost / n, (weakest, None)))
    edits.sort(key=lambda e: -e[0])
    chosen: list[tuple[str, bool | None]] = []
    for _, edit in edits:
        if edit[0] not in {e[0] for e in chosen}:
            chosen.append(edit)
    return chosen[:max_edits]


def as_text(edit: tuple[str, bool | None]) -> str:
    b, wanted = edit
    return f"Drop the instruction: {R.instruction_for(b)}" if wanted is None else R.instruction_for(b, wanted)


def parse_edits(text: str) -> list[tuple[str, bool | None]]:
    """What a writer understands from recommendation text (keywords; 'drop'/'remove' removes)."""
    out = []
    for line in re.split(r"\n+|(?<=[.!?])\s+(?=[A-Z-])", text or ""):
        drop = re.search(r"\b(drop|remove|delete)\b", line, re.IGNORECASE)
        for b, wanted in R.directives(line):
            out.append((b, None if drop else wanted))
    return out


def apply_edits(prompt: str, edits: Sequence[tuple[str, bool | None]]) -> str:
    """Drop the sentences about an edited behaviour, then append the new directive (text kept otherwise)."""
    lines = (prompt or "").splitlines()
    for b, wanted in edits:
        lines = [line for line in lines if b not in R.mentioned(line)]
        if wanted is not None:
            lines.append(R.instruction_for(b, wanted))
    return "\n".join(line for line in lines if line.strip())


# -- the stand-ins ------------------------------------------------------------------------------
def judge(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    reply = first_input(call, RESPONSE_INPUTS)
    if reply is None:
        convo = "\n".join(v for n, v in call.inputs.items() if n not in PROMPT_INPUTS)
        reply = last_turn(convo, "assistant") or convo
    reply = re.sub(r"^response:\s*", "", reply)
    shown = R.shows(reply)
    lost = 3 - min(3, R.steps_shown(reply))
    noise = random.Random(f"{world.seed}-judge-{reply}").gauss(0, world.noise) if world.noise else 0.0
    score = 0.45 + sum(JUDGE_TASTE[b] for b in shown) - R.LOST_STEP_PENALTY * lost + noise
    score = round(min(1.0, max(0.0, score)), 2)
    missing = sorted((b for b in R.NAMES if b not in shown), key=lambda b: -JUDGE_TASTE[b])[:2]
    critique = ("The answer is incomplete. " if lost else "") + \
        "Would be better with: " + "; ".join(R.BY_NAME[b].missing[0] for b in missing) + "."
    kind = call.output_fields["score"]
    out: dict[str, Any] = {"score": round(score * 10) if kind == "int" else score >= 0.5 if kind == "bool" else score}
    for name in call.output_fields:
        if name in ("critique", "comment", "rationale", "feedback", "explanation"):
            out[name] = critique
        elif name == "reasoning":
            out[name] = "Stand-in judge: scored the visible reply against a generic taste. " + critique
    return out


def reflection(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    units, other = evidence(call)
    prompt = first_input(call, PROMPT_INPUTS) or ""
    edits = recommend(prompt, units, other, careful="reasoning" in call.output_fields)
    out: dict[str, Any] = {}
    for name in call.output_fields:
        if "recommendations" in name:
            out[name] = [as_text(e) for e in edits]
        elif name == "failure_modes":
            out[name] = [f"feedback about {b}" for b, _ in edits]
        elif name == "hypotheses":
            out[name] = [f"the prompt's handling of {b} does not match what users said" for b, _ in edits]
        elif name == "edit_warranted":
            out[name] = bool(edits)
        elif name == "reasoning":
            out[name] = f"Stand-in reflection over {len(units)} conversations: {len(edits)} edits."
    return out


def writer(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    prompt = first_input(call, PROMPT_INPUTS) or ""
    recs = next((v for n, v in call.inputs.items() if "recommendation" in n), None)
    if recs is not None:
        edits = parse_edits(recs)
    else:  # reads the trajectories itself: a reasoning step reads like the reflection, else shallowly
        units, other = evidence(call)
        careful = "reasoning" in call.output_fields
        edits = recommend(prompt, units, other, careful=careful, max_edits=3 if careful else 2)
    improved = apply_edits(prompt, edits)
    out: dict[str, Any] = {n: improved for n in WRITER_OUTPUTS if n in call.output_fields}
    if "new_instruction" in call.output_fields:
        out["new_instruction"] = improved
    return out


def gepa_proposer(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    current = first_input(call, PROMPT_INPUTS) or ""
    units, other = evidence(call)
    return {"new_instruction": apply_edits(current, recommend(current, units, other, careful=True, max_edits=3))}


_TIP_EDITS = {"concise": "concise", "informative": "docs", "high stakes": "apology"}


def instruction_proposer(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    """MIPROv2's GroundedProposer (demos, tip) and COPRO's generators (basic or attempted instructions)."""
    rng = random.Random(f"{world.seed}-{call.text}")
    attempts = call.inputs.get("attempted_instructions")
    if attempts:  # COPRO: keep the best-scored instruction, borrow one directive from the runner-up
        found = re.findall(r"Instruction #\d+:\s*(.*?)\s*(?:Prefix #\d+:.*?)?Resulting Score #\d+:\s*([0-9.]+)",
                           attempts, re.DOTALL)
        ranked = sorted(found, key=lambda f: -float(f[1]))
        base = ranked[0][0] if ranked else ""
        extra = [d for d in R.directives(ranked[1][0]) if d[0] not in dict(R.directives(base))] if len(ranked) > 1 else []
        text = apply_edits(base, extra[:1])
    else:
        base = first_input(call, ("basic_instruction",)) or ""
        edits: list[tuple[str, bool | None]] = []
        demos = call.inputs.get("task_demos", "")
        replies = re.findall(r"(?:response|answer|reply):\s*(.*?)(?=\n\n\w+:|\Z)", demos, re.DOTALL)
        if replies:  # grounded: describe what most demo replies do
            counts = {b: sum(b in R.shows(r) for r in replies) for b in R.NAMES}
            edits += [(b, True) for b, c in counts.items() if 2 * c > len(replies)][:2]
        tip = (call.inputs.get("tip") or "").lower()
        for word, b in _TIP_EDITS.items():
            if word in tip:
                edits.append((b, True))
        if "creative" in tip or not (edits or tip):
            edits.append((rng.choice(R.NAMES), rng.random() < 0.7))
        text = apply_edits(base, edits)
        if "persona" in tip:
            text = "You are a seasoned customer-support agent.\n" + text
    out: dict[str, Any] = {"proposed_instruction": text}
    if "proposed_prefix_for_output_field" in call.output_fields:
        out["proposed_prefix_for_output_field"] = "Response:"
    return out


def task(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    demos = [m["content"] for m in call.messages[:-1] if m["role"] == "assistant"]
    demos = [d.split("## ]]", 1)[-1].split("[[ ##", 1)[0].strip() if "[[ ##" in d else d for d in demos]
    if call.adapter == "raw":
        return {"response": world.respond(call.instructions, call.inputs.get("prompt", ""))}
    prompt = "\n".join([call.instructions, *(call.inputs[n] for n in PROMPT_INPUTS if call.inputs.get(n))])
    reply = world.respond(prompt, message_of(call), demos)
    out: dict[str, Any] = {n: reply for n in ("response", "answer", "reply") if n in call.output_fields}
    if "reasoning" in call.output_fields:
        out["reasoning"] = "Stand-in task model: following the prompt's first directives."
    return out


def reader(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    """Each comment next to its reply, read as the reflection reads it (a reasoning step reads carefully)."""
    forbidden = {b for b, wanted in R.directives(call.inputs.get("guidance", "")) if not wanted}
    careful = "reasoning" in call.output_fields
    requested, incomplete = [], []
    for reply, comment in zip(listed(call.inputs.get("replies", "")), listed(call.inputs.get("feedback", ""))):
        found, lost = signals(Unit(reply, comment), careful=careful)
        asks = [R.instruction_for(b, sign > 0) for b, sign in found if not (sign > 0 and b in forbidden)]
        requested.append(list(dict.fromkeys(asks)))
        incomplete.append(lost)
    out: dict[str, Any] = {"requested_instructions": requested, "says_incomplete": incomplete}
    if careful:
        out["reasoning"] = f"Stand-in reader: {len(requested)} conversations read one by one."
    return out


def checker(call: ParsedCall, world: HardWorld) -> dict[str, Any]:
    """Whether each reply does what each instruction says (the world's public detectors)."""
    asked = [R.directives(i) for i in listed(call.inputs.get("candidate_instructions", ""))]
    followed, complete = [], []
    for reply in listed(call.inputs.get("replies", "")):
        shown = R.shows(reply)
        followed.append([bool(a) and all((b in shown) == wanted for b, wanted in a) for a in asked])
        complete.append(R.steps_shown(reply) >= 3)
    return {"followed": followed, "complete": complete}


def _is_gepa(call: ParsedCall) -> bool:
    return "new_instruction" in call.output_fields and any(_records(v) for v in call.inputs.values())


ROLES = (
    ("reader", lambda c: "requested_instructions" in c.output_fields, reader),
    ("checker", lambda c: "followed" in c.output_fields and "replies" in c.inputs, checker),
    ("judge", lambda c: "score" in c.output_fields, judge),
    ("reflection", lambda c: any("recommendations" in n for n in c.output_fields), reflection),
    ("gepa-proposer", _is_gepa, gepa_proposer),
    ("instruction-proposer", lambda c: "proposed_instruction" in c.output_fields, instruction_proposer),
    ("writer", lambda c: any(n in c.output_fields for n in (*WRITER_OUTPUTS, "new_instruction")), writer),
    ("task", lambda c: c.adapter == "raw" or any(n in c.output_fields for n in ("response", "answer", "reply")), task),
)


def dispatch(call: ParsedCall, world: HardWorld) -> tuple[str, dict[str, Any] | str]:
    """(role, answer) for one request; unknown signatures get typed placeholders."""
    for role, matches, handle in ROLES:
        if matches(call):
            values = handle(call, world)
            break
    else:
        role, values = "other", {}
    if call.adapter == "raw":
        return role, str(next(iter(values.values()), ""))
    return role, fill_outputs(call, values)
