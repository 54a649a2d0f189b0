"""The DSPy signatures behind every LM step of the prompt optimizers.

Each step is a ``dspy.Signature`` run through ``dspy.Predict`` or ``dspy.ChainOfThought``,
so the optimizers themselves can be compiled (their predictors get demos and tuned
instructions like any DSPy program). Instructions are kept short on purpose: they are
sent with every call, and the cost benchmark counts them.

Field names follow one convention so that any LM (and the offline stand-ins) can tell
the steps apart: a critique outputs ``recommendations``, a prompt writer outputs
``improved_prompt`` / ``updated_prompt``, a judge outputs ``score``, a task model
answers with ``response`` under a ``system_prompt``.
"""

from __future__ import annotations

import dspy


class CritiquePrompt(dspy.Signature):
    """Review conversations run under a prompt, with their user feedback. Find failures the
    prompt caused and recommend minimal instruction changes. Recommend nothing (edit_warranted
    false) when the feedback shows no failure the prompt could fix or the prompt already covers it."""

    prompt: str = dspy.InputField(desc="the current prompt")
    guidance: str = dspy.InputField(desc="the developer's rules for updating this prompt")
    trajectories: str = dspy.InputField(desc="conversations with feedback fields")
    previous_critique: str = dspy.InputField(desc="an earlier critique to refine, or 'none'")
    failure_modes: list[str] = dspy.OutputField(desc="what went wrong, one per item")
    hypotheses: list[str] = dspy.OutputField(desc="why the prompt led to each failure")
    recommendations: list[str] = dspy.OutputField(desc="concrete instruction changes, one per item")
    edit_warranted: bool = dspy.OutputField(desc="true only if the prompt should change")


class ApplyRecommendations(dspy.Signature):
    """Rewrite the prompt with the smallest edit that follows the recommendations. Keep every
    {variable} exactly as written and all text not affected by a recommendation."""

    prompt: str = dspy.InputField(desc="the current prompt")
    guidance: str = dspy.InputField(desc="the developer's rules for updating this prompt")
    recommendations: str = dspy.InputField()
    improved_prompt: str = dspy.OutputField(desc="the full updated prompt")


class MetapromptRewrite(dspy.Signature):
    """Improve the prompt so the assistant avoids the failures the feedback reports and keeps
    what users liked. Make focused edits; keep every {variable} exactly as written."""

    prompt: str = dspy.InputField(desc="the current prompt")
    guidance: str = dspy.InputField(desc="the developer's rules for updating this prompt")
    trajectories: str = dspy.InputField(desc="conversations with feedback fields")
    improved_prompt: str = dspy.OutputField(desc="the full improved prompt")


class FoldFeedback(dspy.Signature):
    """Fold the lessons from this feedback into the prompt as short instructions. Keep every
    {variable} and all existing instructions that still hold."""

    prompt: str = dspy.InputField(desc="the current prompt")
    guidance: str = dspy.InputField(desc="the developer's rules for updating this prompt")
    trajectories: str = dspy.InputField(desc="conversations with feedback fields")
    updated_prompt: str = dspy.OutputField(desc="the full updated prompt")


class JudgeConversation(dspy.Signature):
    """Predict how satisfied the user was with the assistant in this conversation, given the
    assistant's prompt. Score from 0 (unhappy) to 1 (fully satisfied) and say why."""

    prompt: str = dspy.InputField(desc="the assistant's prompt")
    conversation: str = dspy.InputField()
    score: float = dspy.OutputField(desc="0.0 to 1.0")
    critique: str = dspy.OutputField(desc="what the user liked or disliked, in one or two sentences")


class RespondUnderPrompt(dspy.Signature):
    """Follow the system prompt and reply to the user's last message."""

    system_prompt: str = dspy.InputField()
    conversation: str = dspy.InputField(desc="earlier turns, or 'none'")
    message: str = dspy.InputField(desc="the user's message")
    response: str = dspy.OutputField()


class AttributeFeedback(dspy.Signature):
    """A compound system uses several prompts. Decide which prompts the feedback concerns:
    the ones whose behaviour caused the complaints, judged by each prompt's purpose and
    'when to update' note."""

    prompts: str = dspy.InputField(desc="each prompt's name, when to update it, and text")
    trajectories: str = dspy.InputField(desc="conversations with feedback fields")
    prompt_names: list[str] = dspy.OutputField(desc="names of the prompts to update (may be empty)")


class ReadFeedback(dspy.Signature):
    """Read each user's feedback on the assistant reply it is about, one conversation at a time.
    For each, list the instructions to the assistant that this feedback asks for, one behaviour
    each: what the user missed or praised as an instruction to do it, what they disliked as
    "Do not ...". Leave out what the developer's guidance forbids and complaints the reply itself
    contradicts."""

    guidance: str = dspy.InputField(desc="the developer's rules for the prompt")
    known_instructions: list[str] = dspy.InputField(
        desc="instructions other users' feedback asked for; reuse one word for word when it means the same")
    replies: list[str] = dspy.InputField(desc="the assistant's replies")
    feedback: list[str] = dspy.InputField(desc="each reply's user comment (and score), in the same order")
    requested_instructions: list[list[str]] = dspy.OutputField(
        desc="per conversation, in order: short instructions, one per item; an empty list if none")
    says_incomplete: list[bool] = dspy.OutputField(desc="per conversation: the user says the answer was unfinished")


class CheckInstructions(dspy.Signature):
    """Check each assistant reply against each instruction: does the reply already do what the
    instruction says? Also say whether each reply answers its question completely."""

    replies: list[str] = dspy.InputField()
    candidate_instructions: list[str] = dspy.InputField()
    followed: list[list[bool]] = dspy.OutputField(desc="per reply, in order: one true/false per instruction, in order")
    complete: list[bool] = dspy.OutputField(desc="per reply: true if no step of the answer is missing")
