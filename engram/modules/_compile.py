"""Compile a MemoryExtractor with DSPy's optimizers against labeled conversations.

    train = memory_examples([
        {"conversation": [{"role": "user", "content": "I'm vegetarian"}], "expected_memories": ["Is vegetarian"]},
        ...
    ])
    compiled = compile_extractor(train, optimizer="bootstrap")        # or "mipro", "gepa"
    compiled.save("extractor.json")

The metric defaults to :func:`~engram.modules._metrics.memory_f1`. Optimizer settings pass
through (``max_bootstrapped_demos``, ``num_trials``, ``max_metric_calls``…); GEPA and
MIPROv2 need a reflection / prompt LM (``reflection_lm``, default the configured one).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dspy

import engram.events as events
from engram.errors import OptimizationError, ValidationError
from engram.modules._extractor import MemoryExtractor
from engram.modules._lm import lm_scope

OPTIMIZERS = ("bootstrap", "mipro", "gepa")


def memory_examples(items: Iterable[Any]) -> list[dspy.Example]:
    """``dspy.Example``s with inputs ``conversation`` and ``memories`` (existing, may be empty)
    and the label ``expected_memories``. Items are dicts, or Trajectories whose metadata
    holds ``expected_memories``."""
    from engram.trajectories import Trajectory

    out = []
    for i, item in enumerate(items):
        conversation: Any  # a Trajectory, or what the dict holds (messages, text...)
        if isinstance(item, Trajectory):
            expected = item.metadata.get("expected_memories")
            conversation, existing = item, item.metadata.get("existing_memories") or []
        elif isinstance(item, dict):
            expected = item.get("expected_memories", item.get("expected"))
            conversation, existing = item.get("conversation", item.get("messages")), item.get("memories") or []
        else:
            raise ValidationError(f"example {i}: expected a dict or a Trajectory, got {type(item).__name__}")
        if expected is None or conversation is None:
            raise ValidationError(f"example {i} needs 'conversation' and 'expected_memories' "
                                  "(a list of memory texts, possibly empty).", field="expected_memories")
        out.append(dspy.Example(conversation=conversation, memories=existing,
                                expected_memories=list(expected)).with_inputs("conversation", "memories"))
    if not out:
        raise ValidationError("no examples to compile with; pass at least one labeled conversation.")
    return out


def _optimizer(name: str, metric: Any, reflection: Any, settings: dict[str, Any]) -> tuple[Any, dict]:
    """(optimizer, extra compile() arguments); ``reflection`` is the resolved reflection LM."""

    if name == "bootstrap":
        return dspy.BootstrapFewShot(metric=metric, max_bootstrapped_demos=settings.pop("max_bootstrapped_demos", 3),
                                     # labels are memories, not ops: raw examples make no valid demos
                                     max_labeled_demos=settings.pop("max_labeled_demos", 0),
                                     max_rounds=settings.pop("max_rounds", 1), **settings), {}
    if name == "mipro":
        compile_args = {k: settings.pop(k) for k in ("num_trials", "minibatch", "max_bootstrapped_demos",
                                                     "max_labeled_demos") if k in settings}
        compile_args.setdefault("num_trials", 4)
        compile_args.setdefault("max_labeled_demos", 0)
        compile_args.setdefault("minibatch", False)
        settings.setdefault("auto", None)
        settings.setdefault("num_candidates", 2)
        return dspy.MIPROv2(metric=metric, prompt_model=reflection, **settings), compile_args
    if name == "gepa":
        if not any(k in settings for k in ("auto", "max_full_evals", "max_metric_calls")):
            settings["max_metric_calls"] = 60
        return dspy.GEPA(metric=metric, reflection_lm=reflection, **settings), {}
    raise ValidationError(f"unknown optimizer {name!r}; use one of {OPTIMIZERS} or pass a DSPy teleprompter.")


def compile_extractor(trainset: Iterable[Any], *, extractor: MemoryExtractor | None = None,
                      optimizer: str | Any = "bootstrap", metric: Any = None, valset: Iterable[Any] | None = None,
                      lm: Any = None, reflection_lm: Any = None, **settings: Any) -> MemoryExtractor:
    """A compiled copy of ``extractor`` (default: a new MemoryExtractor); see the module docstring."""
    from engram.modules._metrics import memory_f1

    trainset = list(trainset)
    valset = None if valset is None else list(valset)
    train = trainset if _are_examples(trainset) else memory_examples(trainset)
    val = None if valset is None else (valset if _are_examples(valset) else memory_examples(valset))
    student = extractor or MemoryExtractor()
    metric = metric or memory_f1
    name = optimizer.lower() if isinstance(optimizer, str) else type(optimizer).__name__
    params = {"program": "MemoryExtractor", "optimizer": name, "train_size": len(train),
              "val_size": len(val or []), "metric": getattr(metric, "__name__", type(metric).__name__),
              **{k: v for k, v in settings.items() if isinstance(v, (str, int, float, bool))}}
    # engram.autolog(): one MLflow run around the compile (DSPy autolog traces land inside it).
    with events.span("compile", f"compile:extractor:{name}", params, data=train) as span:
        compiled = span.result = _compile(train, val, student, optimizer, metric, lm, reflection_lm, settings)
    return compiled


def _compile(train: list[dspy.Example], val: list[dspy.Example] | None, student: MemoryExtractor,
             optimizer: str | Any, metric: Any, lm: Any, reflection_lm: Any,
             settings: dict[str, Any]) -> MemoryExtractor:
    from engram.lm import resolve

    try:
        # The reflection LM is resolved before lm_scope makes the task LM DSPy's current one.
        needs_reflection = isinstance(optimizer, str) and optimizer.lower() in ("mipro", "gepa")
        reflection = resolve("reflection", reflection_lm) if needs_reflection else None
        with lm_scope(lm):  # optimizers read the task LM from DSPy's settings when built
            if isinstance(optimizer, str):
                teleprompter, compile_args = _optimizer(optimizer.lower(), metric, reflection, dict(settings))
            else:
                teleprompter, compile_args = optimizer, dict(settings)
            if val is not None and not isinstance(teleprompter, dspy.BootstrapFewShot):
                compile_args["valset"] = val
            return teleprompter.compile(student, trainset=train, **compile_args)
    except (ValidationError, OptimizationError):
        raise
    except Exception as err:
        raise OptimizationError(f"compiling the memory extractor with {optimizer!r} failed: "
                                f"{type(err).__name__}: {err}") from err


def _are_examples(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(i, dspy.Example) for i in items)


__all__ = ["OPTIMIZERS", "compile_extractor", "memory_examples"]
