"""Experiment configs: what a batch run (``engram run``) or a sweep (``engram sweep``) does.

A config is YAML validated by the pydantic models below. Every error names the file,
the line, the key and what to do::

    cfg = load_config("experiments/quickstart.yaml")
    cfg.prompt.optimizer.kind          # 'gradient'
    cfg.lms.resolved("task")           # ENGRAM_LM if the YAML says ${ENGRAM_LM:-...}

    load_config("bad.yaml")   # ConfigError, naming the line, the field and what to fix:
    # bad.yaml:14: field 'prompt.optimizer.kind': Input should be 'gradient',
    #   'metaprompt' or 'prompt_memory' (got 'gradeint'); fix the value on that line.

Everything that would fail later is checked here, before any work: namespace templates
(balanced braces, one field per part, fields the runner fills), optimizer settings
against the optimizer's arguments, names that would escape the runs directory.

Relative paths in a config are resolved against the current directory first, then the
config file's directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from engram.modules import DEFAULT_SHARD_BY, ShardBy
from engram.optimizers import OptimizerKind
from engram.runner._config_checks import check_config, format_pydantic_error
from engram.runner._search_space import SearchParam
from engram.runner._yaml_source import ConfigError, SourceMap, load_yaml, load_yaml_text
from engram.tracking import ExportFormat


class _Model(BaseModel):
    # Unknown keys are refused: a misspelt key silently ignored is the worst config bug.
    model_config = ConfigDict(extra="forbid")


class SplitConfig(_Model):
    val_fraction: float = Field(default=0.25, gt=0, lt=1, description="Share held out for the gate / evaluation.")
    seed: int = 0


class DatasetConfig(_Model):
    path: Path = Field(description="Trajectories (JSONL, JSON, CSV or Parquet).")
    split: SplitConfig = Field(default_factory=SplitConfig)
    limit: int | None = Field(default=None, gt=0, description="Use only the first N trajectories.")


class LMConfig(_Model):
    """LMs by name; an unset one falls back to engram's settings (``ENGRAM_LM`` ...)."""

    task: str | None = None
    reflection: str | None = None
    judge: str | None = None

    def resolved(self, role: Literal["task", "reflection", "judge"]) -> str | None:
        """The LM name for ``role``: :func:`engram.lm.resolve_name` with this config over the settings."""
        from engram.lm import resolve_name

        return resolve_name(role, {"task": self.task, "reflection": self.reflection, "judge": self.judge})


class MemoryConfig(_Model):
    """Extract memories from the training trajectories into the Chroma store."""

    enabled: bool = True
    namespace: list[str] = Field(default_factory=lambda: ["memories", "{user_id}"], min_length=1,
                                 description="Namespace template: parts, with {user_id} / {thread_id} fields.")
    instructions: str | None = None
    concurrency: int = Field(default=2, ge=1, le=32)
    chunk_size: int = Field(default=4, ge=1, description="Trajectories per checkpoint.")
    store_path: Path | None = Field(default=None, description="Chroma directory; default ENGRAM_CHROMA_URL's server, "
                                                      "else <output_dir>/chroma.")
    shard: tuple[int, int] | None = Field(default=None, description="(i, n): apply only the namespaces of shard i of n "
                                                            "(set by `engram run --shard i/n`).")
    shard_by: ShardBy = Field(
        default=DEFAULT_SHARD_BY, description="How namespaces are assigned to shards (`engram run --shard-by`): 'hash' by the "
                            "namespace alone, right for any data but uneven; 'load' balanced on the dataset's "
                            "trajectory counts, only if every shard loads the same dataset (compare the plan "
                            "fingerprint each shard prints).")

    @field_validator("shard")
    @classmethod
    def _shard_in_range(cls, shard: tuple[int, int] | None) -> tuple[int, int] | None:
        if shard is not None and not 0 <= shard[0] < shard[1]:
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, got {list(shard)}")
        return shard


class PromptSpec(_Model):
    name: str = Field(min_length=1)
    template: str | None = Field(default=None, min_length=1, pattern=r"\S")
    template_file: Path | None = None
    update_instructions: str | None = None
    when_to_update: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PromptSpec:
        if (self.template is None) == (self.template_file is None):
            raise ValueError("give exactly one of 'template' or 'template_file'")
        return self


class OptimizerConfig(_Model):
    kind: OptimizerKind = "gradient"
    settings: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments of the optimizer.")
    rounds: int = Field(default=1, ge=1, le=10, description="Optimize -> gate rounds; each starts from the last accepted prompt.")


class GateConfig(_Model):
    enabled: bool = True
    min_improvement: float = Field(default=0.0, ge=0, description="Accept only if after - before > this.")
    max_trajectories: int | None = Field(default=None, gt=0, description="Held-out trajectories re-run by the gate.")


class RegistryConfig(_Model):
    enabled: bool = True
    alias: str | None = "production"
    allow_variable_change: bool = Field(
        default=False, description="Register even if the template drops or adds a variable of the prompt's latest "
                           "registered version (the code that fills it must change too).")


def _default_export_formats() -> list[ExportFormat]:
    return ["json", "yaml", "text"]


class ExportConfig(_Model):
    enabled: bool = True
    formats: list[ExportFormat] = Field(default_factory=_default_export_formats)
    dir: Path | None = Field(default=None, description="Default <output_dir>/export.")


class PromptConfig(_Model):
    """Optimize a prompt from the feedback on the training trajectories."""

    enabled: bool = True
    prompt: PromptSpec
    optimizer: OptimizerConfig = Field(default_factory=OptimizerConfig)
    gate: GateConfig = Field(default_factory=GateConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)


class CompileConfig(_Model):
    """Compile the feedback judge on the training split and report held-out agreement."""

    enabled: bool = False
    program: Literal["judge"] = "judge"
    optimizer: Literal["bootstrap_fewshot"] = "bootstrap_fewshot"
    settings: dict[str, Any] = Field(default_factory=dict)


class RetrievalConfig(_Model):
    """Index conversation archives (LoCoMo) and measure retrieval recall; no LM calls."""

    enabled: bool = False
    path: Path | None = None
    k: list[int] = Field(default_factory=lambda: [1, 5, 10])
    limit_conversations: int | None = Field(default=None, gt=0)


class BudgetConfig(_Model):
    """Hard limits; the run stops with BudgetExceededError (checkpoint kept) when one is crossed."""

    max_calls: int | None = Field(default=None, gt=0)
    max_tokens: int | None = Field(default=None, gt=0)
    max_cost: float | None = Field(default=None, gt=0)
    max_consecutive_failures: int = Field(default=5, ge=1, description="Stop after this many LM failures in a row.")


class TrackingConfig(_Model):
    enabled: bool = True
    uri: str | None = Field(default=None, description="MLflow tracking URI; default the settings' (SQLite under home).")
    experiment: str = "engram"
    timeout_seconds: float = Field(default=5.0, gt=0)


class SweepConfig(_Model):
    """An Optuna multi-objective study: held-out score up, cost down."""

    trials: int = Field(default=8, ge=1)
    study_name: str | None = None
    storage: str | None = Field(default=None, description="Optuna storage URL or journal file; default a journal under output_dir.")
    cost: Literal["tokens", "calls", "cost"] = Field(default="tokens", description="The cost objective.")
    search_space: dict[str, SearchParam] = Field(min_length=1)
    prune: bool = True
    eval_steps: int = Field(default=3, ge=1, description="Partial evaluations per trial (pruning points).")
    seed: int = 0


class ExperimentConfig(_Model):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    dataset: DatasetConfig | None = None
    lms: LMConfig = Field(default_factory=LMConfig)
    memory: MemoryConfig = Field(default_factory=lambda: MemoryConfig(enabled=False))
    prompt: PromptConfig | None = None
    compile: CompileConfig = Field(default_factory=CompileConfig)
    retrieval: RetrievalConfig = Field(default_factory=RetrievalConfig)
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    output_dir: Path | None = Field(default=None, description="Default .engram/runs/<name>.")
    sweep: SweepConfig | None = None

    # Where each key was written, for errors raised after validation (not serialized).
    _source: SourceMap | None = PrivateAttr(None)
    _path: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _stays_inside(cls, name: str) -> str:
        # The name becomes a directory under <home>/runs: '.' or '..' would write elsewhere.
        if not name.strip("."):
            raise ValueError(f"name {name!r} would escape the runs directory; use letters or digits")
        return name

    def with_source(self, source_map: SourceMap, path: Path | None = None) -> ExperimentConfig:
        """This config, remembering the YAML it came from (for errors naming a line, and resumes)."""
        self._source = source_map
        self._path = path
        return self

    @property
    def source_path(self) -> Path | None:
        """The config file this config was loaded from (None for text)."""
        return self._path

    @property
    def source_map(self) -> SourceMap:
        return self._source or SourceMap("<config>")

    @property
    def resolved_output_dir(self) -> Path:
        from engram.config import get_settings

        return self.output_dir or get_settings().home / "runs" / self.name

    def error(self, path: tuple, message: str) -> ConfigError:
        """A :class:`ConfigError` pointing at ``path`` in the YAML this config came from."""
        return self.source_map.error(path, message)

    # The sections a step or a sweep needs. load_config / loads_config refuse a config that
    # enables a step without its section, and run_sweep one without 'sweep:'; these narrow the
    # Optional and name the section to add for a config that reached a step some other way.

    def required_dataset(self) -> DatasetConfig:
        """``dataset:``, or a :class:`ConfigError` at ``dataset`` saying to add it."""
        if self.dataset is None:
            raise self.error(("dataset",), "this config runs steps on trajectories; add a 'dataset:' "
                                           "section with 'path:'")
        return self.dataset

    def required_prompt(self) -> PromptConfig:
        """``prompt:``, or a :class:`ConfigError` at ``prompt`` saying to add it."""
        if self.prompt is None:
            raise self.error(("prompt",), "this config has no 'prompt:' section, which the prompt, registry "
                                          "and export steps and a sweep work on; add one")
        return self.prompt

    def required_sweep(self) -> SweepConfig:
        """``sweep:``, or a :class:`ConfigError` at ``sweep`` saying to add it."""
        if self.sweep is None:
            raise self.error(("sweep",), "this config has no 'sweep:' section; add one with a search_space")
        return self.sweep

    def for_shard(self, index: int, count: int, by: str | None = None) -> ExperimentConfig:
        """The run of shard ``index`` of ``count`` (``engram run --shard i/n --shard-by by``): only
        the memory step, on this shard's namespaces, with its own checkpoint in
        ``<output_dir>/shard-<i>-of-<n>``, into the store every shard shares.

        ``by`` (default: ``memory.shard_by``, itself ``"hash"``) assigns the namespaces:
        ``"hash"`` by :func:`engram.modules.namespace_shard` alone; ``"load"`` by a plan balanced
        on the config's dataset (:class:`engram.modules.ShardPlan`), which every shard computes
        alone, so **every shard must load the same dataset** (the same file, ``limit`` and
        namespace); the memory step's note names the plan's fingerprint, which must be the same
        in every shard. The ledger lives in that store, so a later ``engram run`` without
        ``--shard`` finds every shard's trajectories applied and goes on with the other steps.
        More than one shard needs a Chroma server (``ENGRAM_CHROMA_URL``): a Chroma directory
        is one process's.
        """
        from engram.config import get_settings
        from engram.errors import ValidationError

        if not 0 <= index < count:
            raise ValidationError(f"--shard must be i/n with 0 <= i < n (e.g. 0/2 and 1/2), got {index}/{count}.")
        shard_by = self.memory.shard_by if by is None else by
        if shard_by not in get_args(ShardBy):
            raise ValidationError(f"--shard-by takes 'hash' (by namespace alone; any data) or 'load' (balanced on "
                                  f"the dataset; every shard must load the same one); got {shard_by!r}.")
        if not self.memory.enabled:
            raise ValidationError("--shard splits the memory step, which this config does not enable "
                                  "(memory.enabled: false); run it without --shard.")
        if count > 1 and not get_settings().chroma_url:
            raise ValidationError("--shard i/n with n > 1 needs one Chroma server shared by every shard: start "
                                  "`chroma run --path DIR` and set ENGRAM_CHROMA_URL=http://host:8000 "
                                  "(a Chroma directory cannot be written by several processes).")
        memory = self.memory.model_copy(update={"shard": (index, count), "shard_by": shard_by})
        off = {"enabled": False}
        return self.model_copy(update={
            "memory": memory, "prompt": None, "sweep": None,
            "compile": self.compile.model_copy(update=off), "retrieval": self.retrieval.model_copy(update=off),
            "output_dir": self.resolved_output_dir / f"shard-{index}-of-{count}"})


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)``, checked (``engram run --shard``).

    >>> parse_shard("1/4")
    (1, 4)
    """
    from engram.errors import ValidationError

    left, sep, right = str(text).partition("/")
    try:
        index, count = int(left), int(right)
    except ValueError:
        index = count = -1
    if not sep or not 0 <= index < count:
        raise ValidationError(f"--shard takes i/n with 0 <= i < n, e.g. --shard 0/2 and --shard 1/2; got {text!r}.")
    return index, count



def parse_config(data: Any, source_map: SourceMap, *, base_dir: Path | None = None) -> ExperimentConfig:
    """Validate loaded YAML data; the first problem is raised as a :class:`ConfigError`."""
    if not isinstance(data, dict):
        raise source_map.error((), "an experiment config must be a mapping of keys (name:, dataset:, ...)")
    try:
        config = ExperimentConfig.model_validate(data)
    except PydanticValidationError as err:
        raise format_pydantic_error(err, source_map, data, ExperimentConfig) from None
    config.with_source(source_map)
    check_config(config, data, base_dir=base_dir)
    return config


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Load, interpolate and validate an experiment config file.

    ``overrides`` maps dotted keys to values (``{"prompt.optimizer.kind": "metaprompt"}``);
    sweeps use it to apply a trial's parameters.
    """
    path = Path(path)
    data, source_map = load_yaml(path)
    if overrides:
        from engram.runner._search_space import apply_overrides

        data = apply_overrides(data, overrides)
    config = parse_config(data, source_map, base_dir=path.resolve().parent)
    return config.with_source(source_map, path)


def loads_config(text: str, *, source: str = "<config>", base_dir: Path | None = None) -> ExperimentConfig:
    """Like :func:`load_config`, from YAML text (for notebooks and tests)."""
    data, source_map = load_yaml_text(text, source=source)
    return parse_config(data, source_map, base_dir=base_dir)
