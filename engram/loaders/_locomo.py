"""LoCoMo: long multi-session conversations with retrieval questions (snap-research/LoCoMo).

``load_locomo`` reads ``locomo10.json`` (10 conversations, 5,882 turns, 1,986
questions; CC BY-NC 4.0) into typed objects, repairing the malformed evidence
ids (``"D8:6; D9:17"``, ``"D:11:26"``) and, optionally, applying the audited
citation fixes of dial481/locomo-audit::

    convs = load_locomo("../shared/data/locomo10.json", corrections=True)
    conv = convs[0]
    conv.turns[0].dia_id, conv.turns[0].speaker     # ('D1:1', 'Caroline')
    q = conv.questions[0]
    q.question, q.evidence, q.category               # ('When did ...', ['D1:3'], 2)
    conv.archive_items()[0]["metadata"]             # conversation / session / turn ids for the store

Categories: 1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from engram.errors import ValidationError

SOURCE_NOTE = "LoCoMo (snap-research/LoCoMo, CC BY-NC 4.0)"
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
DEFAULT_PATH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "locomo10.json"
_DIA = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")


class LocomoTurn(BaseModel):
    """One turn; ``session`` and ``turn`` are parsed from ``dia_id`` (``D<session>:<turn>``)."""

    dia_id: str
    speaker: str
    text: str
    session: int
    turn: int
    date_time: str = ""
    blip_caption: str | None = None
    img_url: list[str] | str | None = None

    def render(self) -> str:
        """``Speaker: text`` plus the image caption, the form that gets indexed."""
        out = f"{self.speaker}: {self.text}"
        if self.blip_caption:
            out += f" [shares an image: {self.blip_caption}]"
        return out


class LocomoQuestion(BaseModel):
    id: str
    question: str
    answer: str | None = None
    category: int
    evidence: list[str] = Field(default_factory=list)
    corrected: bool = False


class LocomoConversation(BaseModel):
    sample_id: str
    index: int
    speaker_a: str
    speaker_b: str
    turns: list[LocomoTurn]
    questions: list[LocomoQuestion]

    def archive_items(self) -> list[dict[str, Any]]:
        """The turns as ``MemoryStore.put_many`` items of kind ``"message"``."""
        return [
            {"key": t.dia_id, "kind": "message", "content": t.text, "text": t.render(),
             "metadata": {"conversation": self.sample_id, "session": t.session, "turn": t.turn,
                          "speaker": t.speaker, "date_time": t.date_time}}
            for t in self.turns
        ]


def parse_evidence(raw: Any) -> list[str]:
    """Canonical ``D<s>:<t>`` ids from an evidence entry, repairing LoCoMo's malformed ones.

    ``"D8:6; D9:17"`` -> ``['D8:6', 'D9:17']``, ``"D:11:26"`` -> ``['D11:26']``, ``"D"`` -> ``[]``.
    """
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for item in items:
        for session, turn in _DIA.findall(str(item)):
            dia = f"D{int(session)}:{int(turn)}"
            if dia not in out:
                out.append(dia)
    return out


def load_locomo(path: str | Path | None = None, *, corrections: bool | str | Path = False,
                include_adversarial: bool = True) -> list[LocomoConversation]:
    """Load LoCoMo conversations and questions (see the module docstring).

    ``corrections=True`` reads ``locomo_audit_errors.json`` next to ``path`` and
    replaces the evidence of the audited ``WRONG_CITATION`` questions; pass a path
    to use another file.
    """
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"LoCoMo file not found; download locomo10.json ({SOURCE_NOTE}).",
                              source=str(path)) from None
    except json.JSONDecodeError as err:
        raise ValidationError(f"not valid JSON: {err}", source=str(path)) from None
    fixes = _load_fixes(path, corrections)
    return [_conversation(i, sample, fixes, include_adversarial, str(path))
            for i, sample in enumerate(data)]


def _load_fixes(path: Path, corrections: bool | str | Path) -> dict[str, list[str]]:
    if corrections is False:
        return {}
    fix_path = path.parent / "locomo_audit_errors.json" if corrections is True else Path(corrections)
    try:
        errors = json.loads(fix_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("audit corrections file not found", source=str(fix_path)) from None
    return {e["question_id"]: parse_evidence(e["correct_evidence"]) for e in errors
            if e.get("error_type") == "WRONG_CITATION" and e.get("correct_evidence")}


def _conversation(index: int, sample: dict[str, Any], fixes: dict[str, list[str]],
                  include_adversarial: bool, source: str) -> LocomoConversation:
    try:
        conv = sample["conversation"]
        turns: list[LocomoTurn] = []
        session = 1
        while f"session_{session}" in conv:
            when = conv.get(f"session_{session}_date_time", "")
            for raw in conv[f"session_{session}"]:
                ids = parse_evidence(raw["dia_id"])
                s, t = (int(x) for x in ids[0][1:].split(":")) if ids else (session, len(turns) + 1)
                turns.append(LocomoTurn(dia_id=f"D{s}:{t}", speaker=raw["speaker"], text=raw["text"],
                                        session=s, turn=t, date_time=when,
                                        blip_caption=raw.get("blip_caption"), img_url=raw.get("img_url")))
            session += 1
        questions = []
        for qi, qa in enumerate(sample["qa"]):
            if qa["category"] == 5 and not include_adversarial:
                continue
            qid = f"locomo_{index}_qa{qi}"
            answer = qa.get("answer", qa.get("adversarial_answer"))
            questions.append(LocomoQuestion(
                id=qid, question=qa["question"], answer=None if answer is None else str(answer),
                category=int(qa["category"]), evidence=fixes.get(qid, parse_evidence(qa.get("evidence", []))),
                corrected=qid in fixes,
            ))
        return LocomoConversation(sample_id=str(sample.get("sample_id", index)), index=index,
                                  speaker_a=conv["speaker_a"], speaker_b=conv["speaker_b"],
                                  turns=turns, questions=questions)
    except (KeyError, TypeError, ValueError) as err:
        raise ValidationError(f"sample {index} is malformed: {err!r}", source=source) from None
