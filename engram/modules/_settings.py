"""MemoryManager's settings, grouped: what to extract, how to retrieve, and profile mode.

    MemoryManager(store, ("memories", "{user_id}"),
                  extraction=ExtractionSettings(instructions="Remember food preferences"),
                  retrieval=RetrievalSettings(search_limit=5))

The flat keywords of earlier releases (``instructions=``, ``search_limit=``, ``default=``,
...) still work: :func:`group_options` sorts them into these groups, and an unknown one
is an error that names the closest valid keyword.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Union

from pydantic import BaseModel

from engram.errors import ValidationError
from engram.prompts import Prompt

if TYPE_CHECKING:
    import dspy

LMSpec = Union[str, "dspy.LM", None]
ProfileStart = BaseModel | dict[str, object] | None


@dataclass(frozen=True)
class ExtractionSettings:
    """What the extractor may do (see :class:`~engram.modules.MemoryExtractor`).

    >>> ExtractionSettings(instructions="Remember food preferences").max_steps
    1
    """

    schemas: Iterable[type[BaseModel]] | type[BaseModel] | None = None
    #: text, or a registry :class:`~engram.prompts.Prompt` (its name and version are stamped in provenance)
    instructions: str | Prompt = ""
    enable_inserts: bool = True
    enable_updates: bool = True
    enable_deletes: bool = True
    max_steps: int = 1
    max_conversation_tokens: int | None = 8000
    truncate: bool = True


@dataclass(frozen=True)
class RetrievalSettings:
    """Which existing memories the LM sees: the ``search_limit`` closest to the recent
    ``window`` of messages, or to queries written by ``query_model`` (one more LM call).

    >>> RetrievalSettings(search_limit=5).window
    6
    """

    query_model: LMSpec = None
    query_limit: int = 3
    search_limit: int = 10
    window: int = 6

    def __post_init__(self) -> None:
        if self.query_limit < 1 or self.search_limit < 1 or self.window < 1:
            raise ValidationError("query_limit, search_limit and window must be at least 1.")


@dataclass(frozen=True)
class ProfileSettings:
    """Profile mode: one document per namespace, starting from ``default`` (or ``default_factory()``).

    >>> ProfileSettings(default={"name": "Ana"}).start()
    {'name': 'Ana'}
    """

    default: ProfileStart = None
    default_factory: Callable[[], ProfileStart] | None = None

    def __post_init__(self) -> None:
        if self.default is not None and self.default_factory is not None:
            raise ValidationError("pass default or default_factory, not both.")

    def start(self) -> ProfileStart:
        return self.default_factory() if self.default_factory is not None else self.default


@dataclass
class Phase:
    """An extra pass after extraction, e.g. to consolidate (see :data:`CONSOLIDATE`)."""

    instructions: str
    include_conversation: bool = True
    enable_inserts: bool = False
    enable_updates: bool = True
    enable_deletes: bool = True
    name: str = "phase"


CONSOLIDATE = Phase("Merge duplicate or overlapping memories: update one to hold the combined fact "
                    "and delete the others. Quote the memory text you merged.",
                    include_conversation=False, name="consolidate")


_GROUPS: dict[str, type] = {f.name: group for group in (ExtractionSettings, RetrievalSettings, ProfileSettings)
                            for f in fields(group)}


@dataclass(frozen=True)
class Grouped:
    extraction: ExtractionSettings
    retrieval: RetrievalSettings
    profile: ProfileSettings | None


def group_options(extraction: ExtractionSettings | None, retrieval: RetrievalSettings | None,
                  profile: bool | ProfileSettings, options: dict[str, object],
                  allowed: Iterable[str] = ()) -> Grouped:
    """The settings groups, with flat keywords (``instructions=``, ``default=``, ...) folded in."""
    unknown = [name for name in options if name not in _GROUPS]
    if unknown:
        valid = sorted([*_GROUPS, *allowed])
        hints = [difflib.get_close_matches(name, valid, n=1) for name in unknown]
        hint = "; ".join(f"{n!r} (did you mean {h[0]!r}?)" if h else repr(n) for n, h in zip(unknown, hints))
        raise ValidationError(f"MemoryManager got unknown keyword argument(s) {hint}. Valid keywords: "
                              f"{', '.join(valid)}.")
    by_group: dict[type, dict[str, Any]] = {}  # checked by the dataclasses they go to
    for name, value in options.items():
        by_group.setdefault(_GROUPS[name], {})[name] = value
    extraction = dataclasses.replace(extraction or ExtractionSettings(), **by_group.get(ExtractionSettings, {}))
    retrieval = dataclasses.replace(retrieval or RetrievalSettings(), **by_group.get(RetrievalSettings, {}))
    start = by_group.get(ProfileSettings, {})
    if isinstance(profile, ProfileSettings):
        chosen: ProfileSettings | None = dataclasses.replace(profile, **start)
    elif profile:
        chosen = ProfileSettings(**start)
    else:
        ProfileSettings(**start)  # validated even when unused, as before
        chosen = None
    return Grouped(extraction, retrieval, chosen)


__all__ = ["CONSOLIDATE", "ExtractionSettings", "LMSpec", "Phase", "ProfileSettings", "RetrievalSettings", "group_options"]
