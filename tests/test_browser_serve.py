"""`llada-tui serve` in a real browser: headless Chromium opens the page, the player draws the
trace, a key sent through the page moves it to the end, and the palette's export arrives as a
download (tests/browser.py brings the browser)."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from browser import chromium, page_terminal_text, pixels, served_player, wait_until

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the [test] extra")
ActionChains, Keys = webdriver.ActionChains, webdriver.Keys

LILY = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
PROMPT = "Lily can run 12 kilometers per hour"
ANSWER = "The answer is 72."

__all__ = ["chromium"]  # the fixture, used by name


def test_the_served_player_draws_the_trace_and_answers_keys_in_chromium(chromium, tmp_path):
    with served_player(LILY) as url:
        chromium.get(url)
        wait_until(lambda: PROMPT in page_terminal_text(chromium), what="the player's first screen")
        screen = page_terminal_text(chromium)
        assert "64 steps" in screen and "step 0/64" in screen and ANSWER not in screen
        wait_until(lambda: pixels(chromium)[0] > 0.05, what="the terminal to paint")  # not a blank page
        masked = pixels(chromium)[1]  # the gradient in the legend, the timeline
        chromium.find_element("id", "terminal").click()  # keys go to the terminal
        ActionChains(chromium).send_keys(Keys.END).perform()
        at_end = ("step 64/64", ANSWER)
        wait_until(lambda: all(text in page_terminal_text(chromium) for text in at_end), what="the answer after End")
        # the answer's cells, coloured by commit step, paint far more colour than the dots they replace
        wait_until(lambda: pixels(chromium)[1] > 2 * masked, what="the coloured answer to paint")


def test_the_palettes_export_downloads_in_the_browser_and_writes_nothing_beside_the_trace(chromium, tmp_path):
    trace = Path(shutil.copy(LILY, tmp_path / "lily.trace"))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    chromium.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    with served_player(trace) as url:
        chromium.get(url)
        wait_until(lambda: PROMPT in page_terminal_text(chromium), what="the player's first screen")
        chromium.find_element("id", "terminal").click()
        ActionChains(chromium).send_keys(Keys.END).perform()
        wait_until(lambda: "step 64/64" in page_terminal_text(chromium), what="the last step")
        ActionChains(chromium).key_down(Keys.CONTROL).send_keys("p").key_up(Keys.CONTROL).perform()
        wait_until(lambda: "Search for commands" in page_terminal_text(chromium), what="the command palette")
        ActionChains(chromium).send_keys("export").perform()
        wait_until(lambda: "Export this step as SVG" in page_terminal_text(chromium), what="the export command")
        ActionChains(chromium).send_keys(Keys.ENTER).perform()
        picture = downloads / "lily-step-64.svg"
        wait_until(picture.exists, what="the download")
        notice = "step 64 sent to the browser as lily-step-64.svg"
        wait_until(lambda: notice in page_terminal_text(chromium), what="the notice")
    texts = "".join(
        element.text or "" for element in ElementTree.parse(picture).iter("{http://www.w3.org/2000/svg}text")
    )
    assert ANSWER in texts
    assert sorted(path.name for path in tmp_path.iterdir()) == ["downloads", "lily.trace"]
