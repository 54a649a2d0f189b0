"""Alias verbs of the prompt registry: the alias log, rollback and alias delete.

:meth:`PromptRegistry.promote` appends each move of an alias to a prompt tag, so a rollback
goes back to where the alias really was, not merely to the previous version number::

    reg.promote("support", 1, "production"); reg.promote("support", 3, "production")
    reg.rollback("support")            # @production -> 1
    reg.delete_alias("support", "staging")
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from engram.errors import NotFoundError
from engram.tracking._backend import mlflow_errors
from engram.tracking._checks import check_alias, check_name

if TYPE_CHECKING:
    from engram.tracking._registry import PromptVersion

ALIAS_LOG_TAG = "engram.alias_log."  # + alias: the versions it pointed at, oldest first (JSON)


class AliasVerbs:
    """Mixed into :class:`~engram.tracking.PromptRegistry` (which provides ``client``, ``uri``,
    ``aliases``, ``versions``, ``load`` and ``_require_prompt``)."""

    uri: str
    client: Any

    if TYPE_CHECKING:  # what PromptRegistry provides
        def _require_prompt(self, name: str) -> None: ...
        def aliases(self, name: str) -> dict[str, int]: ...
        def versions(self, name: str) -> list[int]: ...
        def load(self, ref: str) -> PromptVersion: ...

    def alias_log(self, name: str, alias: str) -> list[int]:
        """The versions ``alias`` has pointed at, oldest first (as recorded by :meth:`promote`)."""
        with mlflow_errors(self.uri, f"reading prompt '{name}'"):
            prompt = self.client.get_prompt(check_name(name))
        if prompt is None:
            self._require_prompt(name)
        try:
            return [int(v) for v in json.loads((prompt.tags or {}).get(ALIAS_LOG_TAG + alias, "[]"))]
        except (ValueError, TypeError):
            return []

    def rollback(self, name: str, alias: str = "production") -> PromptVersion:
        """Point ``alias`` back at the version it pointed at before the last :meth:`promote`.

        Example::

            reg = PromptRegistry()
            for text in ("You help {company} customers.", "You help {company} customers. Be brief."):
                reg.register("support", text)
            reg.promote("support", 1, "production"); reg.promote("support", 2, "production")
            reg.rollback("support").version   # 1: @production is back where it was
        """
        check_name(name)
        check_alias(alias)
        current = self.aliases(name).get(alias)
        if current is None:
            raise NotFoundError(f"Prompt '{name}' has no alias '{alias}' to roll back; set it with "
                                f"`engram prompts promote {name} <version> {alias}`.")
        log = self.alias_log(name, alias)
        while log and log[-1] == current:
            log.pop()
        if not log:
            older = [v for v in self.versions(name) if v < current]
            if not older:
                raise NotFoundError(f"'{name}@{alias}' points at version {current} and has no earlier version "
                                    "to roll back to.")
            log = [older[-1]]
        previous = log[-1]
        with mlflow_errors(self.uri, f"rolling back '{name}@{alias}'"):
            self.client.set_prompt_alias(name, alias, previous)
            self.client.set_prompt_tag(name, ALIAS_LOG_TAG + alias, json.dumps(log))
        return self.load(f"{name}/{previous}")

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` from a prompt (NotFoundError if it is not set)."""
        check_name(name)
        check_alias(alias)
        if alias not in self.aliases(name):
            raise NotFoundError(f"Prompt '{name}' has no alias '{alias}'; its aliases: "
                                f"{', '.join(sorted(self.aliases(name))) or '(none)'}.")
        with mlflow_errors(self.uri, f"deleting alias '{alias}' of '{name}'"):
            self.client.delete_prompt_alias(name, alias)
            if ALIAS_LOG_TAG + alias in (self.client.get_prompt(name).tags or {}):
                self.client.delete_prompt_tag(name, ALIAS_LOG_TAG + alias)


