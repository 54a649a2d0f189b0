"""The prompt registry: versions, aliases and history of prompts, on MLflow's prompt registry.

MLflow templates use ``{{var}}``; engram prompts usually use ``{var}``. Each version keeps
the author's style in a tag, so what you load is what you registered::

    reg = PromptRegistry()                                  # SQLite under .engram/ by default
    v1 = reg.register("support", "You help {company} customers.", "first version")
    reg.promote("support", v1.version, "production")
    reg.load("support@production").template                 # 'You help {company} customers.'
    reg.load("support/1"); reg.history("support"); print(reg.diff("support/1", "support@production"))

A new version must keep the variables of the latest one (the code that fills the prompt
depends on them) unless ``allow_variable_change=True``.
"""

from __future__ import annotations

import builtins  # PromptRegistry.list shadows list in the class's annotations
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engram.errors import NotFoundError, TemplateError, TrackingError, ValidationError
from engram.prompts import (
    ChatTemplate,
    Prompt,
    check_variables,
    diff_templates,
    double_brace_variables,
    find_variables,
    from_mlflow_template,
    template_style,
    to_mlflow_template,
)
from engram.tracking._aliases import ALIAS_LOG_TAG, AliasVerbs
from engram.tracking._backend import mlflow_client, mlflow_errors, resolve_uri
from engram.tracking._checks import (
    check_alias,
    check_lm_config,
    check_name,
    check_optional_text,
    check_ref,
    check_tags,
    check_version,
    stored_lm_config,
)

log = logging.getLogger("engram.tracking")

# Tag keys engram writes on each version (MLflow's own keys start with "mlflow.").
STYLE_TAG = "engram.template_style"
UPDATE_INSTRUCTIONS_TAG = "engram.update_instructions"
WHEN_TO_UPDATE_TAG = "engram.when_to_update"
PARENT_TAG = "parent_version"
_REF = re.compile(r"^(?:prompts:/)?(?P<name>[^@/]+?)(?:/(?P<version>\d+)|@(?P<alias>[A-Za-z0-9_\-]+))?$")


class PromptVersion(BaseModel):
    """One registered version of a prompt, with the template in the author's own style."""

    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    template: str | ChatTemplate
    commit_message: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    created: datetime | None = None
    lm_config: dict[str, Any] | None = None

    @property
    def uri(self) -> str:
        return f"prompts:/{self.name}/{self.version}"

    @property
    def variables(self) -> list[str]:
        return find_variables(self.template)

    @property
    def user_tags(self) -> dict[str, str]:
        """Tags without MLflow's and engram's bookkeeping keys."""
        return {k: v for k, v in self.tags.items() if not k.startswith(("mlflow.", "engram.", "_mlflow"))}

    def to_prompt(self) -> Prompt:
        """An :class:`engram.prompts.Prompt` (``version`` is the registry version as text)."""
        return Prompt(name=self.name, template=self.template, version=str(self.version),
                      update_instructions=self.tags.get(UPDATE_INSTRUCTIONS_TAG),
                      when_to_update=self.tags.get(WHEN_TO_UPDATE_TAG), lm_config=self.lm_config,
                      metadata={"tags": self.user_tags, "aliases": list(self.aliases),
                                "commit_message": self.commit_message, "uri": self.uri})


def parse_ref(ref: str) -> tuple[str, int | None, str | None]:
    """``"name"``, ``"name/3"``, ``"name@alias"`` or ``"prompts:/..."`` -> (name, version, alias)."""
    match = _REF.match(check_ref(ref).strip())
    if not match:
        raise ValidationError(f"Cannot read the prompt reference {ref!r}; write 'name', 'name/3' or 'name@alias'.")
    version = int(match["version"]) if match["version"] else None
    alias = match["alias"]
    if alias == "latest":
        alias = None
    return match["name"], version, alias


def _from_mlflow(pv: Any, aliases: list[str] | None = None) -> PromptVersion:
    tags = dict(pv.tags or {})
    style = tags.get(STYLE_TAG, "double")
    created = None
    if getattr(pv, "creation_timestamp", None):
        created = datetime.fromtimestamp(pv.creation_timestamp / 1000, tz=UTC)
    lm_config = dict(getattr(pv, "model_config", None) or {}) or None
    if getattr(pv, "response_format", None):
        lm_config = {**(lm_config or {}), "response_format": pv.response_format}
    return PromptVersion(name=pv.name, version=int(pv.version), template=from_mlflow_template(pv.template, style),
                         commit_message=pv.commit_message, tags=tags, lm_config=lm_config,
                         aliases=list(aliases if aliases is not None else (pv.aliases or [])), created=created)


def _prepare(template: str | ChatTemplate) -> tuple[str | ChatTemplate, str]:
    """The MLflow form of a template and its style; refuses templates that would not round-trip."""
    style = template_style(template)
    stored = to_mlflow_template(template)
    # MLflow only understands {{var}}: a template mixing both styles would silently lose the
    # single-brace variables in MLflow's format(); refuse it rather than store it.
    if sorted(find_variables(stored)) != sorted(double_brace_variables(stored)) or \
            from_mlflow_template(stored, style) != template:
        raise TemplateError(
            "The template mixes {var} and {{var}} placeholders, so MLflow would not see every "
            f"variable ({find_variables(template)}); write all variables in one style.")
    return stored, style


class PromptRegistry(AliasVerbs):
    """Prompt versions in MLflow at ``tracking_uri`` (default: ``engram.get_settings()``'s)."""

    def __init__(self, tracking_uri: str | None = None):
        self.uri = resolve_uri(tracking_uri)

    @property
    def client(self):
        return mlflow_client(self.uri)

    # -- reading -----------------------------------------------------------------------
    def list(self, filter: str | None = None) -> list[str]:
        """Names of the registered prompts, sorted; ``filter`` is MLflow's ``search_prompts`` filter.

        Example::

            reg.list(filter="name LIKE 'support%'")
        """
        check_optional_text(filter, "filter")
        with mlflow_errors(self.uri, "listing prompts"):
            names: builtins.list[str] = []
            token: str | None = None
            while True:
                page = self.client.search_prompts(filter_string=filter or None, max_results=1000, page_token=token)
                names.extend(p.name for p in page)
                token = getattr(page, "token", None)
                if not token:
                    return sorted(names)

    def _require_prompt(self, name: str) -> None:
        with mlflow_errors(self.uri, f"reading prompt '{name}'"):
            exists = self.client.get_prompt(name) is not None
        if not exists:
            known = self.list()
            raise NotFoundError(f"No prompt named '{name}' in {self.uri}; registered prompts: "
                                f"{', '.join(known) if known else '(none yet; use register())'}.")

    def versions(self, name: str) -> builtins.list[int]:
        """Version numbers of a prompt, oldest first (NotFoundError if it does not exist)."""
        self._require_prompt(name)
        with mlflow_errors(self.uri, f"listing versions of '{name}'"):
            found: builtins.list[int] = []
            token: str | None = None
            while True:
                page = self.client.search_prompt_versions(name, max_results=1000, page_token=token)
                found.extend(int(v.version) for v in page)
                token = getattr(page, "token", None)
                if not token:
                    return sorted(found)

    def history(self, name: str) -> builtins.list[PromptVersion]:
        """Every version of a prompt, newest first, with tags and aliases."""
        numbers = self.versions(name)
        with mlflow_errors(self.uri, f"reading the history of '{name}'"):
            # search_prompt_versions leaves aliases out; get_prompt_version fills them in.
            return [_from_mlflow(self.client.get_prompt_version(name, n)) for n in reversed(numbers)]

    def history_frame(self, name: str):
        """:meth:`history` as a pandas DataFrame (version, created, aliases, optimizer, scores, ...)."""
        import pandas as pd

        def number(text: str | None) -> float | None:
            try:
                return float(text) if text not in (None, "") else None
            except ValueError:
                return None

        return pd.DataFrame([
            {"version": v.version, "created": v.created, "aliases": ",".join(v.aliases),
             "optimizer": v.tags.get("optimizer"), "score_before": number(v.tags.get("score_before")),
             "score_after": number(v.tags.get("score_after")), "parent_version": v.tags.get(PARENT_TAG),
             "dataset_hash": v.tags.get("dataset_hash"), "message": v.commit_message}
            for v in self.history(name)])

    def aliases(self, name: str) -> dict[str, int]:
        """alias -> version for a prompt."""
        return {a: v.version for v in self.history(name) for a in v.aliases}

    def load(self, ref: str) -> PromptVersion:
        """A version by ``"name@alias"``, ``"name/3"`` or ``"name"`` (the latest version).

        Raises :class:`NotFoundError` naming the versions or aliases that do exist.
        """
        name, version, alias = parse_ref(ref)
        if alias is not None:
            with mlflow_errors(self.uri, f"loading '{ref}'"):
                try:
                    return _from_mlflow(self.client.get_prompt_version_by_alias(name, alias))
                except Exception as err:
                    if "not found" not in str(err).lower() and "does not exist" not in str(err).lower():
                        raise
            self._require_prompt(name)
            known = self.aliases(name)
            listing = ", ".join(f"@{a} -> {v}" for a, v in sorted(known.items())) or "(no aliases yet)"
            raise NotFoundError(f"Prompt '{name}' has no alias '{alias}'; its aliases: {listing}. "
                                f"Set one with `engram prompts promote {name} <version> {alias}`.")
        numbers = self.versions(name)
        if not numbers:
            raise NotFoundError(f"Prompt '{name}' has no versions; register one first.")
        if version is None:
            version = numbers[-1]
        if version not in numbers:
            raise NotFoundError(f"Prompt '{name}' has no version {version}; its versions are "
                                f"{', '.join(map(str, numbers))}.")
        with mlflow_errors(self.uri, f"loading '{ref}'"):
            return _from_mlflow(self.client.get_prompt_version(name, version))

    def diff(self, a: str, b: str) -> str:
        """Unified diff between two references (``"support/1"``, ``"support@production"``)."""
        old, new = self.load(a), self.load(b)
        return diff_templates(old.template, new.template, old_label=f"{old.name}/{old.version}",
                              new_label=f"{new.name}/{new.version}")

    # -- writing -----------------------------------------------------------------------
    def register(self, name: str, template: str | ChatTemplate | Prompt, commit_message: str | None = None,
                 tags: dict[str, Any] | None = None, *, allow_variable_change: bool = False,
                 parent_version: int | None = None, lm_config: dict[str, Any] | None = None,
                 on_duplicate: str = "raise") -> PromptVersion:
        """Register a new version; returns it. Nothing is written if a check fails.

        ``tags`` values are stored as text. ``parent_version`` defaults to the latest version.
        ``lm_config`` (default: the Prompt's own) is stored as the version's MLflow model config.
        A template identical to the latest version's (same template, same model config) is
        refused with :class:`DuplicateVersionError`, whose ``existing`` is that version; with
        ``on_duplicate="reuse"`` that version is returned instead (and a log line says so).
        Example::

            reg.register("support", "Be brief with {company} customers.", "shorter",
                         tags={"optimizer": "gradient", "score_after": 0.82})
        """
        check_name(name)
        if on_duplicate not in ("raise", "reuse"):
            raise ValidationError(f"on_duplicate must be 'raise' or 'reuse', got {on_duplicate!r}.")
        check_optional_text(commit_message, "commit_message")
        tags = check_tags(tags)
        if not isinstance(allow_variable_change, bool):
            raise ValidationError("allow_variable_change must be True or False.")
        if parent_version is not None:
            parent_version = check_version(parent_version)
        prompt = template if isinstance(template, Prompt) else None
        text = prompt.template if prompt else template
        if not isinstance(text, (str, list)):
            raise ValidationError(f"Cannot register a {type(text).__name__}; pass a string, a message list "
                                  "or an engram Prompt.")
        try:
            Prompt(name=name, template=text)  # validates (non-empty, chat messages well formed)
        except ValueError as err:  # pydantic's error: say it in one line, with the fix
            reasons = "; ".join(e["msg"] for e in getattr(err, "errors", list)()) or str(err)
            raise ValidationError(f"Cannot register '{name}': {reasons}. Pass non-empty text, or a list of "
                                  "{'role': ..., 'content': ...} messages.") from None
        lm_config = check_lm_config(lm_config if lm_config is not None else (prompt.lm_config if prompt else None))
        stored, style = _prepare(text)
        all_tags = {str(k): _tag_text(v) for k, v in tags.items()}
        all_tags[STYLE_TAG] = style
        if prompt is not None and prompt.update_instructions:
            all_tags[UPDATE_INSTRUCTIONS_TAG] = prompt.update_instructions
        if prompt is not None and prompt.when_to_update:
            all_tags[WHEN_TO_UPDATE_TAG] = prompt.when_to_update

        with mlflow_errors(self.uri, f"reading prompt '{name}'"):
            exists = self.client.get_prompt(name) is not None
        # A prompt can exist with no version: MLflow creates the prompt and its first version
        # in two steps, so a kill in between (or a deleted version) leaves it empty. Such a
        # prompt is registered into like a new one instead of wedging every later register.
        numbers = self.versions(name) if exists else []
        if numbers:
            latest = self.load(f"{name}/{numbers[-1]}")
            if latest.template == text and (latest.lm_config or None) == stored_lm_config(lm_config):
                if on_duplicate == "reuse":
                    log.info("'%s': the template is identical to version %s; reusing it", name, latest.version)
                    return latest
                raise DuplicateVersionError(
                    f"Not registering '{name}': the template is identical to the latest version "
                    f"{latest.version}; use that version (e.g. `engram prompts promote {name} "
                    f"{latest.version} production`) or change the template.", existing=latest)
            if not allow_variable_change:
                try:
                    check_variables(latest.template, text)
                except TemplateError as err:
                    raise TemplateError(f"Refusing to register '{name}': {err} Pass allow_variable_change="
                                        "True (CLI: --allow-variable-change) if the change is intended.") from None
            all_tags.setdefault(PARENT_TAG, str(parent_version or latest.version))
        elif parent_version is not None:
            all_tags.setdefault(PARENT_TAG, str(parent_version))
        model_config = {k: v for k, v in (lm_config or {}).items() if k != "response_format"} or None
        response_format = (lm_config or {}).get("response_format")
        with mlflow_errors(self.uri, f"registering prompt '{name}'"):
            # The version and its tags are written by one call; MLflow may still leave an empty
            # prompt behind if it dies between creating the prompt and the version (see above).
            created = self.client.register_prompt(name=name, template=stored, commit_message=commit_message,
                                                  tags=all_tags, model_config=model_config,
                                                  response_format=response_format)
        return _from_mlflow(created, aliases=[])

    def promote(self, name: str, version: int | str, alias: str = "production") -> PromptVersion:
        """Point ``alias`` at ``version`` (moving it if it pointed elsewhere); returns that version.

        Each move is appended to the prompt's alias log, so :meth:`rollback` can undo it.
        """
        check_name(name)
        check_alias(alias)
        target = self.load(f"{name}/{check_version(version)}")
        log = self.alias_log(name, alias)
        if not log:
            current = self.aliases(name).get(alias)
            log = [current] if current is not None else []
        with mlflow_errors(self.uri, f"setting alias '{alias}' on '{name}'"):
            self.client.set_prompt_alias(name, alias, target.version)
            if not log or log[-1] != target.version:
                self.client.set_prompt_tag(name, ALIAS_LOG_TAG + alias, json.dumps((log + [target.version])[-50:]))
        return self.load(f"{name}/{target.version}")


class DuplicateVersionError(TrackingError):
    """``register`` was given the same template as the latest version; ``existing`` is that version."""

    def __init__(self, message: str, *, existing: PromptVersion):
        super().__init__(message)
        self.existing = existing


def register_result(result: Any, *, dataset: Any = None, commit_message: str | None = None,
                    alias: str | None = None, registry: PromptRegistry | None = None,
                    allow_variable_change: bool = False, tags: dict[str, Any] | None = None,
                    on_duplicate: str = "raise") -> PromptVersion:
    """Register an :class:`~engram.optimizers._result.OptimizationResult`'s prompt as a new version.

    Tags: optimizer, score_before, score_after, accepted, dataset_hash (the dataset's
    fingerprint), parent_version (the original's version) and the MLflow run id when inside
    :func:`engram.tracking._runs.track_run`. ``alias`` (e.g. ``"staging"``) is set afterwards.
    Example::

        version = register_result(result, dataset=train, alias="staging")
    """
    from engram.tracking._runs import active_run

    registry = registry or PromptRegistry()
    run = active_run()
    all_tags: dict[str, Any] = {
        "optimizer": result.optimizer, "accepted": result.accepted,
        "score_before": result.score_before, "score_after": result.score_after,
        **({"dataset_hash": dataset.fingerprint, "dataset_size": len(dataset)} if dataset is not None else {}),
        **({"mlflow_run_id": run.run_id} if run is not None else {}),
        **(tags or {}),
    }
    all_tags = {k: v for k, v in all_tags.items() if v is not None}
    parent = int(result.original.version) if str(result.original.version or "").isdigit() else None
    if commit_message is None:
        scores = ""
        if result.score_before is not None and result.score_after is not None:
            scores = f": score {result.score_before:.3f} -> {result.score_after:.3f}"
        commit_message = f"{result.optimizer}{scores}" + (f"\n\n{result.rationale}" if result.rationale else "")
    version = registry.register(result.prompt.name, result.prompt, commit_message, all_tags,
                                allow_variable_change=allow_variable_change, parent_version=parent,
                                on_duplicate=on_duplicate)
    if alias:
        version = registry.promote(version.name, version.version, alias)
    return version


def _tag_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


# -- module-level conveniences on the default registry --------------------------------------
def register(name: str, template: str | ChatTemplate | Prompt, commit_message: str | None = None,
             tags: dict[str, Any] | None = None, **kwargs: Any) -> PromptVersion:
    """:meth:`PromptRegistry.register` on the configured tracking URI."""
    return PromptRegistry().register(name, template, commit_message, tags, **kwargs)


def promote(name: str, version: int | str, alias: str = "production") -> PromptVersion:
    """:meth:`PromptRegistry.promote` on the configured tracking URI."""
    return PromptRegistry().promote(name, version, alias)


def rollback(name: str, alias: str = "production") -> PromptVersion:
    """:meth:`PromptRegistry.rollback` on the configured tracking URI."""
    return PromptRegistry().rollback(name, alias)


def history(name: str) -> list[PromptVersion]:
    """:meth:`PromptRegistry.history` on the configured tracking URI."""
    return PromptRegistry().history(name)


def diff(a: str, b: str) -> str:
    """:meth:`PromptRegistry.diff` on the configured tracking URI."""
    return PromptRegistry().diff(a, b)
