"""A tenant's prompts, loaded with errors that speak of that tenant's prompts only.

The library's errors are written for the registry's owner: a missing prompt lists every
registered prompt and the tracking URI. Over the service those would show one tenant the
prompt names of every other tenant, and a client the server's file paths. So a failed load
is explained again here, from the tenant's own prompts, and a registry outage is reported
without its details (they go to the server log)::

    load_tenant_prompt("acme", "support", alias="production")
    # NotFoundError: No prompt 'nosuch' for this tenant; your prompts: support. ...
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from engram.errors import NotFoundError, TrackingError
from engram.serve._tenancy import prompt_ref

log = logging.getLogger("engram.serve")


def load_tenant_prompt(tenant: str, name: str, alias: str | None = None, version: int | None = None) -> Any:
    """The tenant's prompt ``name`` (at ``version``, else ``alias``, else its latest version)."""
    from engram.tracking import load_prompt

    ref = prompt_ref(tenant, name, alias if version is None else None, version)
    try:
        return load_prompt(ref)
    except NotFoundError:
        raise _not_found(tenant, name, alias, version) from None
    except TrackingError as err:
        log.warning("engram serve: loading prompt %s failed: %s", ref, err)
        raise TrackingError("The prompt registry is unavailable; try again shortly "
                            "(the server log has the details).") from None


def _registered(tenant: str) -> list[str]:
    """The tenant's prompt names, without opening a SQLite registry that is not there (MLflow would
    create an empty one, and the loader would then answer "not found" where it serves fallback copies)."""
    from engram.config import get_settings
    from engram.tracking import PromptRegistry

    uri = get_settings().resolved_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return []
    return sorted(n.split(".", 1)[1] for n in PromptRegistry(uri).list() if n.startswith(f"{tenant}."))


def _not_found(tenant: str, name: str, alias: str | None, version: int | None) -> Exception:
    from engram.tracking import PromptRegistry

    full = prompt_ref(tenant, name)
    try:
        mine = _registered(tenant)
        if name not in mine:
            listing = ", ".join(mine) if mine else "(none yet)"
            return NotFoundError(f"No prompt {name!r} for this tenant; your prompts: {listing}. Register it "
                                 "first, or check the name.")
        registry = PromptRegistry()
        if version is not None:
            numbers = ", ".join(map(str, registry.versions(full)))
            return NotFoundError(f"Prompt {name!r} has no version {version}; its versions: {numbers}.")
        aliases = ", ".join(f"{a} -> v{v}" for a, v in sorted(registry.aliases(full).items())) or "(none)"
        return NotFoundError(f"Prompt {name!r} has no alias {alias!r}; its aliases: {aliases}. Promote a "
                             "version to it first, or ask for a version.")
    except (NotFoundError, TrackingError) as err:  # the registry changed or went away meanwhile
        log.warning("engram serve: explaining a missing prompt %s failed: %s", full, err)
        return NotFoundError(f"No prompt {name!r} at {'version ' + str(version) if version else alias!r} "
                             "for this tenant.")
