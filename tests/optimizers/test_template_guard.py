import pytest

from engram.errors import TemplateError
from engram.optimizers._gradient import GradientOptimizer
from engram.optimizers._metaprompt import MetapromptOptimizer
from engram.optimizers._prompt_memory import PromptMemoryOptimizer
from engram.optimizers._template_guard import check_candidate
from engram.prompts import Prompt
from engram.testing._scripted import scripted_lm

from .conftest import APPLY, CRITIQUE, FOLD, META, critique

PROMPT = Prompt(name="support", template="You help {company} customers in {language}.")


def test_dropped_variable_is_retried_once_then_rejected(trajectories):
    lm = scripted_lm({CRITIQUE: critique(["Be brief."]),
                      APPLY: {"improved_prompt": "You help customers. Be brief."}})
    result = GradientOptimizer(lm)(trajectories, PROMPT)
    assert result.prompt == PROMPT and not result.accepted
    applies = [c for c in lm.engine.requests if c.signature_key == APPLY]
    assert len(applies) == 2  # first try + one retry
    assert "{company}, {language}" in applies[1].inputs["guidance"]  # the retry names what to keep
    assert "drops 'company', 'language'" in result.rationale
    assert [c.accepted for c in result.candidates] == [False, False]


def test_retry_that_fixes_the_template_is_accepted(trajectories):
    lm = scripted_lm([critique(["Be brief."]), {"improved_prompt": "Be brief with {customer}."},
                      {"improved_prompt": "You help {company} customers in {language}. Be brief."}])
    result = GradientOptimizer(lm)(trajectories, PROMPT)
    assert result.accepted and result.prompt.template.endswith("Be brief.")
    assert "invents 'customer'" in result.candidates[0].reason


def test_double_brace_variables_must_survive(trajectories):
    prompt = Prompt(name="p", template="Answer {{question}} for {{user_name}}.")
    lm = scripted_lm({META: {"improved_prompt": "Answer {{question}} briefly."}})
    result = MetapromptOptimizer(lm)(trajectories, prompt)
    assert result.prompt == prompt and result.usage.calls == 2


def test_prompt_memory_never_returns_an_empty_prompt(trajectories):
    lm = scripted_lm({FOLD: {"updated_prompt": "   "}})
    result = PromptMemoryOptimizer(lm)(trajectories, PROMPT)
    assert result.prompt == PROMPT and result.prompt.template.strip()
    assert "empty" in result.rationale


def test_chat_templates_keep_their_shape():
    chat = Prompt(name="c", template=[{"role": "system", "content": "You help {company}."},
                                      {"role": "user", "content": "{question}"}])
    good = check_candidate(chat, "[system]\nYou help {company}. Be brief.\n\n[user]\n{question}")
    assert good.template[0]["content"] == "You help {company}. Be brief."
    with pytest.raises(TemplateError, match="shape"):
        check_candidate(chat, "You help {company}. {question}")


def test_code_fences_are_stripped():
    assert check_candidate(PROMPT, "```\nYou help {company} customers in {language}!\n```").template \
        == "You help {company} customers in {language}!"
