import pytest

from engram.errors import ConfigurationError
from engram.optimizers import create_multi_prompt_optimizer, create_prompt_optimizer
from engram.optimizers._gradient import GradientOptimizer
from engram.optimizers._metaprompt import MetapromptOptimizer
from engram.optimizers._multi_prompt import MultiPromptOptimizer
from engram.optimizers._prompt_memory import PromptMemoryOptimizer
from engram.testing._scripted import scripted_lm

from .conftest import FOLD


def test_kinds_and_langmem_config_keys():
    lm = scripted_lm({})
    g = create_prompt_optimizer(lm, kind="gradient", config={"max_reflection_steps": 4, "min_reflection_steps": 2,
                                                              "gradient_prompt": "Focus on tone."})
    assert isinstance(g, GradientOptimizer) and (g.min_reflection_steps, g.max_reflection_steps) == (2, 4)
    m = create_prompt_optimizer(lm, kind="metaprompt", config={"max_reflection_steps": 3, "min_reflection_steps": 1})
    assert isinstance(m, MetapromptOptimizer) and m.max_reflection_steps == 3
    assert isinstance(create_prompt_optimizer(lm, kind="prompt_memory", config={"max_reflection_steps": 3}),
                      PromptMemoryOptimizer)
    assert isinstance(create_multi_prompt_optimizer(lm, kind="metaprompt"), MultiPromptOptimizer)


def test_unknown_kind_or_option_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="choose one of"):
        create_prompt_optimizer(scripted_lm({}), kind="sgd")
    with pytest.raises(ConfigurationError, match="Invalid config"):
        create_prompt_optimizer(scripted_lm({}), kind="gradient", config={"learning_rate": 1})


def test_langmem_style_call_with_message_feedback_pairs():
    lm = scripted_lm({FOLD: {"updated_prompt": "You are a helpful assistant. Answer in French."}})
    optimizer = create_prompt_optimizer(lm, kind="prompt_memory")
    sessions = [([{"role": "user", "content": "Bonjour"}, {"role": "assistant", "content": "Hello!"}],
                 {"feedback": "Always answer in French"})]
    result = optimizer(sessions, "You are a helpful assistant.")
    assert result.prompt.template.endswith("Answer in French.")
    assert 'comment="Always answer in French"' in lm.engine.requests[0].inputs["trajectories"]


def test_package_exports_load_lazily():
    import engram.optimizers as opt

    for name in opt.__all__:
        assert getattr(opt, name) is not None
