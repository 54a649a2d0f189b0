"""Optional adapters from engram to other agent frameworks, each behind a pip extra.

- :mod:`engram.integrations.langchain` (``pip install 'engram[langchain]'``): engram's memory
  tools as LangChain tools that a LangGraph ``create_react_agent`` binds, with LangMem's
  names and argument order.

Importing an adapter without its extra raises :class:`MissingExtraError` (an
:class:`engram.ConfigurationError` and an :class:`ImportError`) naming the ``pip install``
that fixes it. Adapters may import any engram face; nothing in engram imports them.

Example::

    from engram.integrations import MissingExtraError
    try:
        from engram.integrations.langchain import create_manage_memory_tool
    except MissingExtraError as err:
        print(err)   # engram.integrations.langchain needs langchain-core: pip install 'engram[langchain]'
"""

from __future__ import annotations

from engram.integrations._extras import MissingExtraError

__all__ = ["MissingExtraError"]
