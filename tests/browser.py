"""Headless Chromium for the tests that open pages: Debian's chromium and chromedriver through Selenium.

- `chromium` (session fixture) -> a Selenium WebDriver: headless, a fixed 1200×800 window, no
  network of its own to fetch. Where chromium or chromedriver is missing and the tests run as
  root with apt-get (CI's clean Debian machine), it first installs Debian's `chromium` and
  `chromium-driver`, quietly, saying so, within INSTALL_TIMEOUT; where it cannot, every test
  that uses it is skipped with a loud line naming the command to run.
- `page_terminal_text(driver)`: what the page's websockets received (a recorder runs before each
  page's own scripts): the player's screen as textual-serve sends it to xterm.js, escapes
  removed, since xterm.js paints on a canvas and leaves no text in the DOM.
- `served_player(trace, *flags)`: `llada-tui serve` in a process on a free port, until it ends.
- `pixels(driver)`: shares of a screenshot's pixels unlike its commonest colour (a blank page has
  none) and of vivid colours; the browser decodes its own screenshot (no image library needed).

Import the fixture into a test module (`from browser import chromium`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

INSTALL_COMMAND = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
INSTALL_TIMEOUT = 900  # seconds, for apt-get update and install together
WINDOW = (1200, 800)
START_TIMEOUT = 60  # seconds for `serve` to say it is serving

# Before the page's own scripts: every websocket keeps what it receives as text, in window.__terminal.
TERMINAL_RECORDER = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__terminal = "";
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (event.data instanceof ArrayBuffer) window.__terminal += decoder.decode(event.data, {stream: true});
      });
    }
  };
})();
"""

# Decodes a PNG (base64): pixels in all, of the commonest colour, and of a vivid colour.
PIXEL_COUNTER = """
const done = arguments[arguments.length - 1];
(async () => {
  const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));  // no fetch: a page's CSP may forbid it
  const image = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const rgba = context.getImageData(0, 0, image.width, image.height).data;
  const pixels = new Uint32Array(rgba.buffer);
  const counts = new Map();
  let vivid = 0;
  for (let i = 0; i < pixels.length; i++) {
    counts.set(pixels[i], (counts.get(pixels[i]) || 0) + 1);
    const [r, g, b] = [rgba[4 * i], rgba[4 * i + 1], rgba[4 * i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > VIVID) vivid++;
  }
  done([pixels.length, Math.max(...counts.values()), vivid]);
})().catch((error) => done(String(error)));
""".replace("VIVID", "64")  # chroma out of 255: a colour, not a grey

ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b[()][0-9A-Za-z]")


def browser_paths() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def install_chromium(say: Callable[[str], None]) -> str | None:
    """Install Debian's chromium and chromium-driver; None when done, else why not."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "not root with apt-get, so it cannot be installed here"
    say(f"browser tests: installing Debian's chromium and chromium-driver (apt-get, at most {INSTALL_TIMEOUT} s)…")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    deadline = time.monotonic() + INSTALL_TIMEOUT
    for command in (["apt-get", "update", "-q"], INSTALL_COMMAND):
        try:
            done = subprocess.run(
                command,
                env=environment,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=max(1.0, deadline - time.monotonic()),
            )
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command)}` took longer than {INSTALL_TIMEOUT} s"
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no message"])[-1]
            return f"`{' '.join(command)}` failed ({last})"
    return None if browser_paths() else "apt-get finished but chromium or chromedriver is still missing"


@pytest.fixture(scope="session")
def chromium(pytestconfig: pytest.Config) -> Iterator[object]:
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def say(line: str) -> None:
        with capture.global_and_fixture_disabled():
            print(f"\n{line}", flush=True)

    if browser_paths() is None:
        why = install_chromium(say)
        if why is not None:
            message = (
                f"BROWSER TESTS SKIPPED: no chromium + chromedriver, and {why}; "
                f"install them with `{' '.join(INSTALL_COMMAND)}` (as root) and run again"
            )
            say(message)
            pytest.skip(message)
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [test] extra")
    browser, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)  # no sandbox: CI runs as root
    options.add_argument(f"--window-size={WINDOW[0]},{WINDOW[1]}")
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TERMINAL_RECORDER})
    try:
        yield driver
    finally:
        driver.quit()


def page_terminal_text(driver) -> str:
    """What the page's terminal was sent so far, as text (escape sequences removed)."""
    return ESCAPES.sub("", driver.execute_script("return window.__terminal || ''"))


def page_text(driver) -> str:
    """The text a page's document holds (HTML or SVG)."""
    return driver.execute_script("return document.documentElement.textContent")


def pixels(driver) -> tuple[float, float]:
    """Of the window's pixels, the shares (ink, vivid): unlike the commonest (background) colour, and
    of a vivid colour rather than a grey (the colour-by-step gradient, not plain text)."""
    counted = driver.execute_async_script(PIXEL_COUNTER, driver.get_screenshot_as_base64())
    assert isinstance(counted, list), f"the browser could not read its screenshot: {counted}"
    total, background, vivid = counted
    return (total - background) / total, vivid / total


def wait_until(condition: Callable[[], object], timeout: float = 60.0, what: str = "the page") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served_player(trace: str | os.PathLike, *flags: str) -> Iterator[str]:
    """`llada-tui serve TRACE` on a free port of 127.0.0.1; yields its URL once it says it is serving."""
    port = free_port()
    command = [sys.executable, "-m", "llada_tui.cli", "serve", str(trace), "--port", str(port), *flags]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    watchdog = threading.Timer(START_TIMEOUT, server.kill)  # a server that never speaks fails the test
    watchdog.start()
    try:
        first = server.stdout.readline()  # the announcement, or an error line and the end
        watchdog.cancel()
        assert f"at http://127.0.0.1:{port}" in first, f"serve did not start: {first!r} {server.stdout.read()!r}"
        yield f"http://127.0.0.1:{port}"
    finally:
        watchdog.cancel()
        server.send_signal(signal.SIGINT)  # ctrl+c: its players are told to quit
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stdout.close()
