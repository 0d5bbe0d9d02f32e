"""`llada-tui serve`: what it refuses before starting, what it runs per connection, what it says
about being reachable, and the served player itself over textual-serve's websocket (no browser:
tests/test_browser_serve.py opens the same page in Chromium)."""

from __future__ import annotations

import asyncio
import json
import shlex
import shutil
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from browser import ESCAPES, free_port, served_player
from named_pipes import named_pipe

from llada_tui.cli import serve
from llada_tui.cli.main import main

LILY = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
PROMPT = "Lily can run 12 kilometers per hour"
ANSWER = "The answer is 72."


class StartedServers:
    """serve's server with serve() recorded instead of run (the checks before it are the test)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.started: list = []
        real = serve.player_server_class
        recorded = {"serve": lambda server, debug=False: self.started.append(server)}
        monkeypatch.setattr(serve, "player_server_class", lambda: type("Recorded", (real(),), recorded))


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> StartedServers:
    return StartedServers(monkeypatch)


def refusal(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


def test_a_missing_trace_is_refused_as_play_refuses_it(tmp_path, capsys, servers):
    missing = str(tmp_path / "nope.trace")
    served = refusal(["serve", missing], capsys)
    played = refusal(["play", missing], capsys)
    assert served == played == (1, f"llada-tui: error: no such file: {missing}\n")
    folder = refusal(["serve", str(tmp_path)], capsys)
    assert folder == (1, f"llada-tui: error: {tmp_path} is a directory, not a trace\n")
    assert servers.started == []


def test_a_trace_that_is_not_one_is_refused_before_serving(tmp_path, capsys, servers):
    junk = tmp_path / "junk.trace"
    junk.write_bytes(b"\x93not a trace at all")
    code, err = refusal(["serve", str(junk)], capsys)
    assert code == 1 and err.startswith("llada-tui: error: ") and err.count("\n") == 1
    assert servers.started == []


@pytest.mark.parametrize("follow", [[], ["--follow"]])
def test_a_pipe_is_refused_not_waited_on(tmp_path, capsys, servers, follow):
    with named_pipe(tmp_path / "pipe.trace") as pipe:  # opening it to read would wait for a writer
        code, err = refusal(["serve", str(pipe), *follow, "--port", str(free_port())], capsys)
    assert (code, err) == (1, f"llada-tui: error: {pipe}: not a regular file\n")
    assert servers.started == []


def test_a_busy_port_is_refused_in_one_line(capsys, servers):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, err = refusal(["serve", str(LILY), "--port", str(port)], capsys)
    assert (code, err) == (1, f"llada-tui: error: port {port} on 127.0.0.1 is in use; choose another with --port\n")
    assert servers.started == []


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_a_port_that_is_not_one_is_a_usage_error(port, capsys, servers):
    with pytest.raises(SystemExit) as exit:
        main(["serve", str(LILY), "--port", port])
    assert exit.value.code == 2
    assert "argument --port:" in capsys.readouterr().err
    assert servers.started == []


def test_an_address_not_of_this_machine_is_refused(capsys, servers):
    code, err = refusal(["serve", str(LILY), "--host", "192.0.2.1"], capsys)  # TEST-NET-1: never local
    assert (code, err) == (1, "llada-tui: error: --host 192.0.2.1: not an address of this machine\n")
    assert servers.started == []


def test_without_textual_serve_the_line_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import fails as if not installed
    code, err = refusal(["serve", str(LILY)], capsys)
    assert code == 1
    assert err == (
        "llada-tui: error: serve needs textual-serve, which is not installed: pip install 'llada-tui[serve]'\n"
    )


def test_each_connection_runs_this_pythons_play_on_the_trace(tmp_path, capsys, servers):
    odd = tmp_path / 'it\'s a "run" $(touch x).trace'  # a shell would run this, unquoted
    odd.write_bytes(LILY.read_bytes())
    port = free_port()
    assert main(["serve", str(odd), "--port", str(port)]) == 0
    assert main(["serve", str(odd), "--port", str(port), "--follow"]) == 0
    plain, followed = servers.started
    assert shlex.split(plain.command) == [sys.executable, "-m", "llada_tui.cli", "play", str(odd.absolute())]
    assert shlex.split(followed.command) == [*shlex.split(plain.command), "--follow"]
    assert (plain.host, plain.port, plain.public_url) == ("127.0.0.1", port, f"http://127.0.0.1:{port}")
    out, err = capsys.readouterr()
    assert err == ""  # on loopback: no warning


def test_follow_serves_a_trace_that_is_not_there_yet(tmp_path, servers):
    assert main(["serve", str(tmp_path / "soon.trace"), "--follow", "--port", str(free_port())]) == 0
    assert len(servers.started) == 1


def test_every_address_but_loopback_gets_the_warning(capsys, servers):
    port = free_port()
    assert main(["serve", str(LILY), "--host", "localhost", "--port", str(port)]) == 0
    assert capsys.readouterr().err == ""
    assert main(["serve", str(LILY), "--host", "0.0.0.0", "--port", str(port)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("llada-tui: warning: listening on 0.0.0.0, not on this machine alone: anyone who can")
    assert err.count("\n") == 1
    for exposed in (f"port {port}", "prompt", "answer", "no password", "player process", "no other file"):
        assert exposed in err
    wildcard = servers.started[-1]
    assert wildcard.public_url == f"http://{socket.gethostname()}:{port}"  # what a visitor's page connects back to
    assert main(["serve", str(LILY), "--host", "", "--port", str(port)]) == 0  # every address, as 0.0.0.0 and ::
    assert capsys.readouterr().err.startswith("llada-tui: warning: listening on every address, not on this machine")


def test_public_url_is_what_the_page_connects_back_to(servers):
    assert main(["serve", str(LILY), "--port", str(free_port()), "--public-url", "https://llada.example"]) == 0
    assert servers.started[0].public_url == "https://llada.example"
    # the page's script appends its paths ("/ws"): a trailing slash would make them "//ws"
    assert main(["serve", str(LILY), "--port", str(free_port()), "--public-url", "http://proxy.example/llada/"]) == 0
    assert servers.started[1].public_url == "http://proxy.example/llada"


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "llada.example:8000", "http://", "http://h:99999", "http://h/?a"]
)
def test_a_public_url_that_no_page_could_connect_back_to_is_a_usage_error(url, capsys, servers):
    with pytest.raises(SystemExit) as exit:
        main(["serve", str(LILY), "--port", str(free_port()), "--public-url", url])
    assert exit.value.code == 2
    assert "argument --public-url:" in capsys.readouterr().err
    assert servers.started == []


# ---------------------------------------------------------------------------- the served player


async def terminal_until(socket_: aiohttp.ClientWebSocketResponse, wanted: tuple[str, ...], timeout: float) -> str:
    """Read the player's screen from the websocket until every text wanted is in it (escapes removed)."""
    raw = ""

    async def read() -> None:
        nonlocal raw
        async for message in socket_:
            if message.type == aiohttp.WSMsgType.BINARY:
                raw += message.data.decode("utf-8", "replace")
                if all(text in ESCAPES.sub("", raw) for text in wanted):
                    return
        raise AssertionError(f"the player closed before showing {wanted!r}")

    await asyncio.wait_for(read(), timeout)
    return ESCAPES.sub("", raw)


async def test_the_served_player_plays_the_trace_over_the_websocket():
    with served_player(LILY) as url:
        async with aiohttp.ClientSession() as session:
            page = await (await session.get(url)).text()
            assert f'data-session-websocket-url="ws://{url.removeprefix("http://")}/ws"' in page
            assert "llada-tui · lily.trace" in page
            # nothing of the trace's folder is served, nor the trace itself
            for path in ("/lily.trace", "/sample_traces/lily.trace", "/download/lily.trace", "/static/../lily.trace"):
                assert (await session.get(url + path)).status == 404, path
            async with session.ws_connect(f"{url}/ws?width=100&height=30") as player:
                screen = await terminal_until(player, (PROMPT, "step 0/64"), timeout=60)
                assert "64 steps" in screen and ANSWER not in screen
                await player.send_str(json.dumps(["stdin", "G"]))  # G: the last step
                await terminal_until(player, ("step 64/64", ANSWER), timeout=60)


def players_of(trace: Path) -> list[str]:
    """The command lines of running processes that play this trace."""
    found = []
    for process in Path("/proc").iterdir():
        try:
            words = (process / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone, or not a process
            continue
        if b"play" in words and str(trace).encode() in words:
            found.append(" ".join(word.decode(errors="replace") for word in words))
    return found


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads /proc")
async def test_stopping_the_server_ends_the_players_of_open_pages(tmp_path):
    trace = Path(shutil.copy(LILY, tmp_path / "lily.trace"))
    async with aiohttp.ClientSession() as session:
        with served_player(trace) as url:  # left with ctrl+c (SIGINT) while both pages are open
            pages = [await session.ws_connect(f"{url}/ws?width=100&height=30") for _ in range(2)]
            for page in pages:
                await terminal_until(page, (PROMPT,), timeout=60)
            assert len(players_of(trace)) == 2  # a player per page
            reading = [asyncio.create_task(drain(page)) for page in pages]  # as a browser keeps reading
        assert players_of(trace) == []
        await asyncio.wait_for(asyncio.gather(*reading), timeout=10)  # and the server closed both pages
        assert all(page.closed for page in pages)


async def drain(page: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in page:
        pass


def test_a_hostile_file_name_reaches_neither_the_terminal_nor_the_page_raw(tmp_path, capsys, servers):
    hostile = tmp_path / "\x1b]0;owned\x07<img src=x onerror=alert(1)>.trace"
    hostile.write_bytes(LILY.read_bytes())
    assert main(["serve", str(hostile), "--port", str(free_port())]) == 0
    (server,) = servers.started
    assert "\x1b" not in server.title and "\x07" not in server.title and "\x1b" not in server.announcement
    assert shlex.split(server.command)[-1] == str(hostile)  # the player still gets the real name


async def test_the_page_escapes_a_hostile_file_name(tmp_path):
    hostile = tmp_path / "<img src=x onerror=alert(1)>.trace"
    hostile.write_bytes(LILY.read_bytes())
    with served_player(hostile) as url:
        async with aiohttp.ClientSession() as session:
            page = await (await session.get(url)).text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.trace" in page


def test_a_host_name_that_does_not_resolve_is_refused(capsys, servers):
    code, err = refusal(["serve", str(LILY), "--host", "no-such-host.invalid"], capsys)
    assert code == 1 and err.startswith("llada-tui: error: --host no-such-host.invalid: not an address of this machine")
    assert servers.started == []
