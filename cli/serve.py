"""`llada-tui serve`: the player in a browser, through textual-serve.

textual-serve answers each browser connection by running one command with Textual's web driver
and relaying its screen and keys over a websocket to xterm.js in the page. The command here is
this package's own `play TRACE` (`--follow` passed on), so a browser sees exactly the terminal
player; nothing else is served but textual-serve's static files (its page, script and fonts)
and the files the player hands over on request (a screenshot, an exported step).

The trace, the address and the port are checked before the server starts, so a mistake ends in
one line, as for `play`.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import ipaddress
import shlex
import signal
import socket
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from llada_tui.cli.failures import RunError, refuse_pipes_and_devices
from llada_tui.core.inert import inert_text

INSTALL_HINT = "pip install 'llada-tui[serve]'"
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
PLAYERS_QUIT_TIMEOUT = 20  # seconds for the connections to close (10 s for a silent client) and their players to quit


def run_serve(args: argparse.Namespace) -> int:
    server_class = player_server_class()
    check_trace(Path(args.trace), args.follow)
    trace = Path(args.trace).absolute()  # the player runs from textual-serve's folder
    addresses = check_port(args.host, args.port)
    url = args.public_url or public_url(args.host, args.port)
    if not all(ipaddress.ip_address(address).is_loopback for address in addresses):
        print(f"llada-tui: warning: {exposure(args.host, args.port)}", file=sys.stderr)
    server = server_class(
        play_command(trace, args.follow),
        host=args.host,
        port=args.port,
        title=f"llada-tui · {inert_text(trace.name)}",  # the page escapes it too (jinja2's autoescape)
        public_url=url,
    )
    shown = inert_text(str(trace))
    server.announcement = f"llada-tui: serving the player on {shown} at {inert_text(url)} (ctrl+c stops)"
    server.serve()
    return 0


def play_command(trace: Path, follow: bool) -> str:
    """The shell command textual-serve runs per connection: this Python's `llada-tui play`."""
    words = [sys.executable, "-m", "llada_tui.cli", "play", str(trace), *(["--follow"] if follow else [])]
    return shlex.join(words)


def check_trace(trace: Path, follow: bool) -> None:
    """Refuse what `play` would refuse, with its line (a TraceError: exit 1)."""
    from llada_tui.tui.sources.file import FileSource
    from llada_tui.tui.sources.follow import FollowSource

    refuse_pipes_and_devices(trace)  # each visit reads it again: a pipe would be waited on forever
    if follow:
        source = FollowSource.open(trace)
        if source.reader is not None:
            source.reader.close()
    else:
        FileSource.open(trace)


def check_port(host: str, port: int) -> list[str]:
    """Bind every address the host names, as the server will, and let go; returns the addresses."""
    try:
        found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise RunError(f"--host {host}: not an address of this machine ({error.strerror.lower()})") from None
    addresses = []
    for family, kind, proto, _, address in found:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server's own socket
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise RunError(refusal(host, port, error)) from None
        addresses.append(address[0].split("%")[0])
    return addresses


def refusal(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; choose another with --port"
    if error.errno == errno.EACCES:
        return f"port {port} on {host}: permission denied (ports below 1024 need privileges); choose another"
    if error.errno == errno.EADDRNOTAVAIL:
        return f"--host {host}: not an address of this machine"
    return f"cannot listen on {host} port {port}: {(error.strerror or str(error)).lower()}"


def public_url(host: str, port: int) -> str:
    """The address the page's script connects back to; a wildcard host is reached by this machine's name."""
    name = socket.gethostname() if host in WILDCARD_HOSTS else host
    return f"http://{f'[{name}]' if ':' in name else name}:{port}"


def exposure(host: str, port: int) -> str:
    """What anyone who can reach the port gets, said once on the command line."""
    return (
        f"listening on {inert_text(host) if host else 'every address'}, not on this machine alone: anyone who can "
        f"reach port {port} can open the player on this trace (its prompt, its answer at every step, the model's "
        "name and settings) over plain HTTP with no password, and each visit starts a player process here; no "
        "other file is served and nothing is written (exports go to the visitor's browser)"
    )


def port_number(text: str) -> int:
    """--port: 1 to 65535 (0, 'any free port', would leave the page without an address to connect back to)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1 to 65535)")
    return port


def public_url_argument(text: str) -> str:
    """--public-url: an http or https address with a host (the page's script adds its own paths to
    it, so a trailing / is dropped: a path ending in // would not be found)."""
    parts = urllib.parse.urlsplit(text)
    try:
        parts.port  # noqa: B018 (raises for a port that is no number or out of range)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: the port is not a port number") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// address (http://HOST:PORT/PATH)")
    return text.rstrip("/")


def player_server_class() -> Any:
    """textual-serve's Server, announcing itself in one line; RunError with the install line without it."""
    try:
        from aiohttp import web
        from textual_serve.server import Server
    except ImportError:
        raise RunError(f"serve needs textual-serve, which is not installed: {INSTALL_HINT}") from None

    class PlayerServer(Server):
        """Announces itself once listening; on stopping, ends every connection so that its player quits."""

        announcement = ""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.connections: set[asyncio.Task[Any]] = set()

        async def on_startup(self, app: Any) -> None:
            """No banner: serve() says where it listens once it does."""

        async def handle_websocket(self, request: Any) -> Any:
            connection = asyncio.current_task()
            self.connections.add(connection)
            try:
                return await super().handle_websocket(request)
            finally:
                self.connections.discard(connection)

        async def on_shutdown(self, app: Any) -> None:
            """A browser keeps its websocket open: end each connection, whose handler then tells
            its player to quit and waits for it (else the players outlive the server)."""
            connections = list(self.connections)
            for connection in connections:
                connection.cancel()
            if connections:
                await asyncio.wait(connections, timeout=PLAYERS_QUIT_TIMEOUT)

        def serve(self, debug: bool = False) -> None:
            """textual-serve's serve(), announcing itself once listening (its own text would be silenced)."""
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            for stop in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(stop, self.request_exit)
            web.run_app(
                self._make_app(),
                host=self.host,
                port=self.port,
                handle_signals=False,
                loop=loop,
                print=lambda _: print(self.announcement, flush=True),
            )

    return PlayerServer


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument("trace", help="trace file")
    serve.add_argument("--follow", action="store_true", help="keep reading as another process writes it")
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; anything else is reachable by others)",
    )
    serve.add_argument("--port", type=port_number, default=8000, help="port to listen on (default 8000)")
    serve.add_argument(
        "--public-url",
        type=public_url_argument,
        help="the address browsers reach the server by, if not http://HOST:PORT (a proxy, a wildcard host)",
    )
