"""``engram serve``, ``engram mcp`` and ``engram keys``: the service's command line (a typer app).

    engram keys create --tenant acme --scopes read,write     # prints the key once
    engram serve --port 8080                                 # http://127.0.0.1:8080/docs
    engram mcp --key egk_...                                 # MCP over stdio for that key's tenant
"""

from __future__ import annotations

import json
import os
import sys

from enum import Enum

import typer

from engram.errors import EngramError, StoreInUseError


class LogLevel(str, Enum):
    """uvicorn's log levels (uvicorn.config.LOG_LEVELS); another name was a KeyError inside uvicorn."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"

app = typer.Typer(help="The engram service: REST + MCP over the same library, API keys and tenants.",
                  no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


def _fail(err: Exception) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2)


def _keystore():
    from engram.config import get_settings
    from engram.serve._keys import KeyStore
    from engram.serve._settings import ServeSettings

    home = get_settings().home
    return KeyStore(ServeSettings.from_env().resolved_keys_path(home))


def _use_lm(lm: str | None) -> None:
    # Environment, not configure(): uvicorn's worker processes read it too. "offline/..."
    # names are built by engram.lm, which loads the stand-ins itself when asked for one.
    if lm:
        os.environ["ENGRAM_LM"] = lm


@app.command("serve")
def serve(host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
          port: int = typer.Option(8080, min=1, max=65535, help="TCP port (1-65535)."),
          workers: int = typer.Option(1, min=1, help="Worker processes (more than 1 needs ENGRAM_CHROMA_URL)."),
          lm: str = typer.Option(None, help="LM for extraction/optimization jobs (default ENGRAM_LM)."),
          log_level: LogLevel = typer.Option(LogLevel.info, case_sensitive=False,
                                             help="uvicorn log level."),
          allowed_host: list[str] = typer.Option(
              None, "--allowed-host", metavar="HOST",
              help="A Host header /mcp accepts besides loopback names, e.g. the name a reverse proxy forwards "
                   "(repeat for more; default ENGRAM_SERVE_ALLOWED_HOSTS, comma-separated).")) -> None:
    """Run the HTTP service (OpenAPI at /docs, MCP at /mcp)."""
    from engram.serve._service import check_server_layout

    _use_lm(lm)
    os.environ["ENGRAM_SERVE_HOST"] = host
    if allowed_host:
        os.environ["ENGRAM_SERVE_ALLOWED_HOSTS"] = ",".join(allowed_host)
    try:
        check_server_layout(workers)
        from engram.serve._settings import ServeSettings

        ServeSettings.from_env()  # fail here, not in every worker
    except EngramError as err:
        _fail(err)
    import uvicorn

    typer.echo(f"engram serve on http://{host}:{port} (docs: /docs, MCP: /mcp)", err=True)
    uvicorn.run("engram.serve:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=LogLevel(log_level).value, access_log=False)


@app.command("mcp")
def mcp(tenant: str = typer.Option(None, help="Serve this tenant (trusted local use)."),
        key: str = typer.Option(None, envvar="ENGRAM_API_KEY", help="Serve the tenant of this API key."),
        lm: str = typer.Option(None, help="LM (default ENGRAM_LM); the memory tools need none.")) -> None:
    """Run the MCP server over stdio (for Claude Desktop, Cursor, IDE agents)."""
    import logging

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)  # stdout carries the protocol
    _use_lm(lm)
    try:
        if key:
            principal = _keystore().verify(key)
            if principal is None:
                raise EngramError("the API key is unknown or revoked; `engram keys list` shows live keys.")
            tenant = principal.tenant
        if not tenant:
            raise EngramError("pass --key KEY (or ENGRAM_API_KEY) or --tenant NAME.")
        from engram.serve._mcp import run_stdio
        from engram.serve._service import Service

        service = Service.from_settings()
    except StoreInUseError as err:
        _fail(EngramError(home_in_use(err)))
    except EngramError as err:
        _fail(err)
    run_stdio(service, tenant)


def home_in_use(err: StoreInUseError) -> str:
    """Why ``engram mcp`` cannot open a home another process holds, and what to do, in one line.

    The lock file records the holder's command line; an ``engram serve`` there is recognised
    and its ``/mcp`` address given (from its ``--host`` / ``--port``). A holder started before
    engram recorded command lines is named by pid only::

        home_in_use(StoreInUseError("...", holder={"pid": 7, "argv": ["engram", "serve", "--port", "9000"]}))
        # '... Point your MCP client at that service's MCP endpoint, http://127.0.0.1:9000/mcp ...'
    """
    from engram.config import get_settings

    holder = err.holder
    argv = [str(a) for a in holder.get("argv") or []]
    who = f"pid {holder['pid']}" if holder.get("pid") else "a process that is still starting"
    if argv:
        who += f": `{' '.join(argv)}`"
    url = _service_url(argv, holder.get("host"))
    if url:
        advice = (f"Point your MCP client at that service's MCP endpoint, {url}/mcp (streamable HTTP, with "
                  "'Authorization: Bearer <key>' from `engram keys create`), instead of running `engram mcp`")
    else:
        advice = ("Stop that process, or run `engram serve` once and point your MCP clients at its /mcp "
                  "endpoint (streamable HTTP) instead of running `engram mcp`")
    return (f"ENGRAM_HOME {get_settings().home} is in use by another engram process ({who}); its embedded "
            f"memory store allows one process at a time. {advice}; or give `engram mcp` its own ENGRAM_HOME, "
            "or share a Chroma server (`chroma run`, then ENGRAM_CHROMA_URL) between them.")


def _service_url(argv: list[str], host: object) -> str | None:
    """``http://HOST:PORT`` of an ``engram serve`` (or ``uvicorn engram.serve:create_app``)
    command line, from its --host / --port or their defaults; None for another command."""
    import socket

    if "serve" in argv[1:]:
        bind, port = "127.0.0.1", "8080"
    elif any(a.startswith("engram.serve:") for a in argv):
        bind, port = "127.0.0.1", "8000"
    else:
        return None
    for i, arg in enumerate(argv):
        for name in ("--host", "--port"):
            value = arg[len(name) + 1:] if arg.startswith(name + "=") else (
                argv[i + 1] if arg == name and i + 1 < len(argv) else None)
            if value is not None and name == "--host":
                bind = value
            elif value is not None:
                port = value
    if bind in ("0.0.0.0", "::", ""):  # listening everywhere: reach it by this host, or by its own
        bind = "127.0.0.1" if host in (None, socket.gethostname()) else str(host)
    return f"http://[{bind}]:{port}" if ":" in bind else f"http://{bind}:{port}"


@keys_app.command("create")
def keys_create(tenant: str = typer.Option(..., help="Tenant the key acts for."),
                scopes: str = typer.Option("read,write", help="Comma-separated: read,write,optimize,admin."),
                name: str = typer.Option("", help="A label for `keys list`."),
                as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a key and print it once (only its hash is stored)."""
    try:
        created = _keystore().create(tenant, scopes, name=name)
    except EngramError as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps({"id": created.id, "tenant": created.tenant, "scopes": created.scopes,
                               "key": created.key}))
        return
    typer.echo(created.key)
    typer.echo(f"id {created.id}, tenant {created.tenant}, scopes {','.join(created.scopes)} "
               "(the key is shown only now; store it safely)", err=True)


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List keys (id, tenant, scopes, created, revoked); never the secrets."""
    items = _keystore().list()
    if as_json:
        typer.echo(json.dumps([k.__dict__ for k in items]))
        return
    for k in items:
        state = f"revoked {k.revoked_at}" if k.revoked_at else "active"
        typer.echo(f"{k.id}  {k.tenant:<20} {','.join(k.scopes):<28} {k.created_at}  {state}  {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: str = typer.Argument(..., help="The key's id (from `keys list`).")) -> None:
    """Revoke a key; requests with it get 401 within seconds."""
    try:
        info = _keystore().revoke(key_id)
    except EngramError as err:
        _fail(err)
    typer.echo(f"revoked {info.id} (tenant {info.tenant})")


def main() -> None:
    app()


__all__ = ["app", "main"]
