"""Exported pictures in a real browser: headless Chromium renders `llada-tui export --format
html|svg` of sample_traces/lily.trace with the answer laid out, selectable, and in colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import chromium, pixels

from llada_tui.cli.main import main

LILY = Path(__file__).parent.parent / "sample_traces" / "lily.trace"
ANSWER = "Total: 48 + 24 = 72 kilometers. The answer is 72."
PROMPT = "Lily can run 12 kilometers per hour"

__all__ = ["chromium"]  # the fixture, used by name

# The text of each <text> element that Chromium laid out with a width, in document order.
LAID_OUT_SVG_TEXT = """
return Array.from(document.querySelectorAll("text"))
  .filter((element) => element.getComputedTextLength() > 0)
  .map((element) => element.textContent).join("");
"""

# What a person selecting the whole page would copy.
SELECTED_TEXT = """
const selection = window.getSelection();
selection.selectAllChildren(document.body);
return selection.toString();
"""


def exported(tmp_path: Path, form: str, *flags: str) -> Path:
    picture = tmp_path / f"lily.{form}"
    assert main(["export", str(LILY), "--format", form, "-o", str(picture), *flags]) == 0
    return picture


def test_chromium_renders_the_exported_html_with_the_answer_selectable(chromium, tmp_path):
    chromium.get(exported(tmp_path, "html").as_uri())
    shown = " ".join(chromium.execute_script("return document.body.innerText").split())
    assert PROMPT in shown and ANSWER in shown
    assert ANSWER in " ".join(chromium.execute_script(SELECTED_TEXT).split())  # text, not a picture of it
    ink, vivid = pixels(chromium)
    assert ink > 0.02 and vivid > 0.01  # the answer's cells in the scale's colours


def test_chromium_renders_the_exported_svg_with_the_answer(chromium, tmp_path):
    chromium.get(exported(tmp_path, "svg").as_uri())
    assert chromium.execute_script("return document.documentElement.localName") == "svg"  # parsed, no error page
    laid_out = chromium.execute_script(LAID_OUT_SVG_TEXT)
    assert PROMPT in laid_out and ANSWER in laid_out
    ink, vivid = pixels(chromium)
    assert ink > 0.02 and vivid > 0.01


@pytest.mark.parametrize("form", ["html", "svg"])
def test_an_early_step_renders_its_masked_positions(chromium, tmp_path, form):
    chromium.get(exported(tmp_path, form, "--step", "10").as_uri())
    script = "return document.body.innerText" if form == "html" else LAID_OUT_SVG_TEXT
    shown = chromium.execute_script(script)
    assert "4 hours:" in shown and "Remaining" in shown  # committed by step 10
    assert "First" not in shown and ANSWER not in shown and "·" in shown  # still masked there
