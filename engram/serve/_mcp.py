"""The MCP server (official ``mcp`` SDK, ``MCPServer``): ``manage_memory``, ``search_memory``, ``get_prompt``.

The memory tools are engram's own (:func:`engram.modules.create_manage_memory_tool` /
``create_search_memory_tool``), built per call for the caller's tenant, and advertised
with the same strict schemas they give OpenAI. Who the caller is:

- stdio (``engram mcp --key KEY`` or ``--tenant NAME``): one tenant for the whole session;
- streamable HTTP (``/mcp`` on ``engram serve``): the bearer key of each request, checked
  for the ``write`` scope (``manage_memory``) or ``read`` (the others).

The tools work in the tenant's ``ENGRAM_SERVE_MCP_NAMESPACE`` (default ``memories``).

``/mcp`` keeps the SDK's DNS-rebinding protection (on when the server listens on loopback: the
Host header must be a loopback name); ``ENGRAM_SERVE_ALLOWED_HOSTS`` (``engram serve
--allowed-host``) adds names, such as the one a reverse proxy forwards (see
:func:`transport_security`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.transport_security import TransportSecuritySettings

from pydantic import ValidationError as PydanticValidationError

from engram.errors import EngramError
from engram.serve._tenancy import check_relative, scoped

# (context, scope) -> tenant, or ToolError
TenantResolver = Callable[[Any, str], str]


def fixed_tenant(tenant: str) -> TenantResolver:
    """stdio: every call belongs to ``tenant``."""
    from engram.serve._tenancy import check_tenant

    check_tenant(tenant)
    return lambda _ctx, _scope: tenant


def http_tenant_resolver(service: Any) -> TenantResolver:
    """Streamable HTTP: the tenant of the request's bearer key, if it has the scope."""
    from engram.serve._auth import bearer

    def resolve(ctx: Any, scope: str) -> str:
        headers = ctx.headers or {}
        principal = service.keys.verify(bearer(headers.get("authorization")))
        if principal is None:
            raise ToolError("missing or invalid API key (send Authorization: Bearer <key>).")
        if not principal.allows(scope):
            raise ToolError(f"this key lacks the '{scope}' scope.")
        return principal.tenant

    return resolve


class _Tool(Tool):
    """A tool whose refused arguments are explained in one sentence (the SDK passes pydantic's
    multi-line report, with its documentation links, to the client)."""

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            self.fn_metadata.validate_arguments(arguments)
        except PydanticValidationError as err:
            # The cause stays a pydantic error, so the SDK logs field names only, not values.
            raise ToolError(f"Error executing tool {self.name}: "
                            f"{_arguments_error(err, arguments, self.parameters)}") from err
        return await super().run(arguments, context, convert_result)


def _arguments_error(err: PydanticValidationError, arguments: dict[str, Any], schema: dict[str, Any]) -> str:
    """One sentence, then what the argument takes (its description, with an example), since the
    caller is usually a model that will try again from this text alone."""
    from engram.serve._errors import _loc

    errors = err.errors(include_url=False)
    first = errors[0]
    name = _loc(("body", *first["loc"]), arguments).removeprefix("body").lstrip(".") or "arguments"
    if first["type"] == "missing":
        said = f"argument {name!r} is required"
    else:
        said = f"argument {name!r} is invalid: {first['msg'][:1].lower()}{first['msg'][1:]}"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    described = schema.get("properties", {}).get(str(first["loc"][0]) if first["loc"] else "", {}).get("description")
    if described:
        return f"{said}{more}. {str(first['loc'][0])!r}: {described}"
    return f"{said}{more}; see the tool's input schema."


_TOO_LONG = re.compile(r"memory is ([\d,]+) characters, over the store's limit of ([\d,]+)")


def _tool_error(err: EngramError) -> ToolError:
    """An engram error as the MCP client should read it (no advice meant for Python callers)."""
    too_long = _TOO_LONG.search(str(err))
    if too_long:
        size, limit = too_long.groups()
        return ToolError(f"the memory is {size} characters, over the limit of {limit}; split it into several "
                         "shorter memories.")
    return ToolError(str(err))


def _relative(service: Any) -> tuple[str, ...]:
    return check_relative([p for p in service.settings.mcp_namespace.split("/") if p], "mcp_namespace")


def _strict_parameters(tool: Any) -> dict[str, Any]:
    from engram.modules import openai_function_schema

    return openai_function_schema(tool, strict=True)["function"]["parameters"]


def build_mcp(service: Any, resolve: TenantResolver, *, name: str = "engram") -> MCPServer:
    """An MCP server over ``service``; ``resolve`` says whose call it is."""
    from engram.modules import create_manage_memory_tool, create_search_memory_tool, to_strict

    relative = _relative(service)

    def namespace(ctx: Any, scope: str) -> tuple[str, ...]:
        return scoped(resolve(ctx, scope), relative)

    def manage_memory(ctx: Context, action: str = "create", content: str | None = None,
                      id: str | None = None) -> str:
        tool = create_manage_memory_tool(service.store, namespace(ctx, "write"))
        try:
            return tool.func(action=action, content=content, id=id)
        except EngramError as err:
            raise _tool_error(err) from None

    def search_memory(ctx: Context, query: str, limit: int | None = 5, offset: int | None = 0,
                      filter: list[dict[str, Any]] | None = None) -> str:
        tool = create_search_memory_tool(service.store, namespace(ctx, "read"))
        try:
            found = tool.func(**tool.check_arguments((), {"query": query, "limit": limit, "offset": offset,
                                                          "filter": filter}))
            return json.dumps(found, ensure_ascii=False, default=str)
        except EngramError as err:
            raise _tool_error(err) from None

    def get_prompt(ctx: Context, name: str, alias: str | None = "production") -> str:
        tenant = resolve(ctx, "read")
        try:
            return json.dumps(service.prompt(tenant, name, alias or "production"), ensure_ascii=False)
        except EngramError as err:
            raise _tool_error(err) from None

    sample = ("tenants", "sample", *relative)
    manage_schema = _strict_parameters(create_manage_memory_tool(service.store, sample))
    search_schema = _strict_parameters(create_search_memory_tool(service.store, sample))
    prompt_schema = to_strict({"type": "object", "properties": {
        "name": {"type": "string", "description": "The prompt's name (without your tenant)."},
        "alias": {"type": ["string", "null"], "default": "production",
                  "description": "Which version: an alias such as 'production'."}},
        "required": ["name"]})
    tools = []
    for fn, schema, desc in (
        (manage_memory, manage_schema, create_manage_memory_tool(service.store, sample).desc),
        (search_memory, search_schema, create_search_memory_tool(service.store, sample).desc),
        (get_prompt, prompt_schema, "The current text of one of your prompts (e.g. the production version)."),
    ):
        tool = _Tool.from_function(fn, description=desc, structured_output=False)
        tool.parameters = schema
        tools.append(tool)
    return MCPServer(name, instructions="Long-term memory for this user (engram).", tools=tools,
                     log_level="WARNING")


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def transport_security(host: str, allowed_hosts: list[str] | tuple[str, ...] = ()) -> TransportSecuritySettings | None:
    """The Host / Origin check of ``/mcp`` for a server listening on ``host``.

    Without ``allowed_hosts``: the SDK's own choice (on for a loopback ``host``, accepting the
    loopback names on any port; None, off, otherwise). With them: on, whatever the interface,
    accepting the loopback names, a specific ``host`` and ``allowed_hosts`` (a name without a
    port on any port), and pages served from those hosts as Origin::

        transport_security("127.0.0.1", ["mcp.example.com"]).allowed_hosts
        # ['127.0.0.1:*', 'localhost:*', '[::1]:*', 'mcp.example.com', 'mcp.example.com:*']
    """
    if not allowed_hosts and host not in LOOPBACK_HOSTS:
        return None
    loopback = ["127.0.0.1:*", "localhost:*", "[::1]:*"]  # the SDK's defaults for a loopback server
    extra = list(allowed_hosts)
    if allowed_hosts and host not in (*LOOPBACK_HOSTS, "0.0.0.0", "::", ""):
        extra.append(f"[{host}]" if ":" in host else host)  # a specific interface, by its address
    names = []
    for name in extra:
        has_port = name.rsplit("]", 1)[-1].count(":") == 1
        names.extend([name] if has_port else [name, f"{name}:*"])
    names = list(dict.fromkeys(n for n in names if n not in loopback))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=[*loopback, *names],
        allowed_origins=[*(f"http://{n}" for n in loopback), *(f"{s}://{n}" for n in names for s in ("http", "https"))])


def _matches(value: str, patterns: list[str]) -> bool:
    """The SDK's rule: an exact value, or ``base:*`` for ``base`` on any port."""
    return value in patterns or any(p.endswith(":*") and value.startswith(p[:-1]) for p in patterns)


def _refused(headers: dict[str, str], security: TransportSecuritySettings | None) -> Any:
    """The SDK refuses a Host / Origin it does not accept with a bare 421 / 403 text; this says why and
    what setting fixes it, in the service's error body. None: accepted."""
    from engram.serve._limits import _error_response

    if security is None or not security.enable_dns_rebinding_protection:
        return None
    host, origin = headers.get("host", ""), headers.get("origin")
    fix = ("if a reverse proxy forwards it, start engram serve with --allowed-host {0} (or add it to "
           "ENGRAM_SERVE_ALLOWED_HOSTS)")
    if not _matches(host, security.allowed_hosts):
        shown = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        return _error_response(421, "invalid_host", f"/mcp does not accept the Host header {host!r} (DNS-rebinding "
                               f"protection); {fix.format(shown or 'NAME')}.", field="Host")
    if origin and not _matches(origin, security.allowed_origins):
        shown = origin.split("://", 1)[-1].split("/", 1)[0]
        return _error_response(403, "invalid_origin", f"/mcp does not accept the Origin {origin!r} (DNS-rebinding "
                               f"protection); {fix.format(shown)}.", field="Origin")
    return None


class _Guard:
    """ASGI wrapper of the MCP endpoint: the Host / Origin check (explained), then 401 before any
    session exists for a request without a valid key."""

    def __init__(self, app: Any, service: Any, security: TransportSecuritySettings | None = None):
        self.app, self.service, self.security = app, service, security

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from engram.serve._auth import bearer
        from engram.serve._limits import _error_response

        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}
        refused = _refused(headers, self.security)
        if refused is not None:
            await refused(scope, receive, send)
            return
        principal = self.service.keys.verify(bearer(headers.get("authorization")))
        if principal is None:
            response = _error_response(401, "unauthorized", "missing or invalid API key: send "
                                       "'Authorization: Bearer <key>'.", {"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})
        scope["state"].update(key_id=principal.key_id, tenant=principal.tenant)
        await self.app(scope, receive, send)


def mount_http(app: Any, server: MCPServer, *, host: str = "127.0.0.1", path: str = "/mcp",
               allowed_hosts: list[str] | tuple[str, ...] = ()) -> None:
    """Add the streamable-HTTP endpoint to a FastAPI/Starlette ``app`` (its lifespan must run
    ``server.session_manager.run()``); ``host`` and ``allowed_hosts`` as for :func:`transport_security`."""
    from starlette.routing import Route

    security = transport_security(host, allowed_hosts)
    inner = server.streamable_http_app(streamable_http_path=path, host=host, transport_security=security)
    for route in inner.routes:
        if isinstance(route, Route) and route.path == path:
            app.router.routes.append(Route(path, endpoint=_Guard(route.endpoint, app.state.service, security),
                                           include_in_schema=False))


def run_stdio(service: Any, tenant: str) -> None:
    """Serve MCP over stdio for one tenant (blocks until the client closes the pipe)."""
    build_mcp(service, fixed_tenant(tenant)).run("stdio")


__all__ = ["build_mcp", "fixed_tenant", "http_tenant_resolver", "mount_http", "run_stdio", "transport_security"]
