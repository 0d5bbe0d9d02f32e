"""Pictures of a run (pictures/): SVG and HTML of the answer after N steps, the GIF of its denoising.

Read back with independent readers (xml.etree, html.parser, Pillow) and compared with the run
index, the one account of what the answer was after each step.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ElementTree
from html.parser import HTMLParser
from pathlib import Path

import pytest
from synthetic_traces import ARITHMETIC, remasking_trace, revising_trace, write_trace

from llada_tui.core.inert import inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.pictures import answer, shading
from llada_tui.pictures.answer import AnswerPicture, Kind
from llada_tui.pictures.html import html_document
from llada_tui.pictures.shading import Shading, fraction_of, hex_colour, mix
from llada_tui.pictures.svg import MUTED, svg_document

LILY = Path(__file__).resolve().parent.parent / "sample_traces" / "lily.trace"
SVG = "{http://www.w3.org/2000/svg}"
RAW_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200b-\u200f]")
# Token texts a hostile trace may hold: markup of each format, terminal controls, bidi overrides,
# a token far longer than a line (the texts the player's and the CLI's hostile tests use, and more).
HOSTILE_TOKENS = [
    "<script>alert(1)</script>", " ]]>", " &amp;", ' "quote\'', " <!--", "\x1b]52;c;ZWNobyBwd25lZA==\x07",
    " \x1b]0;pwned\x07", " \x9b2J", " \u202eevil\u202c", " [bold]loud", " [/]", "line\nbreak", " \x00nul",
    " \ufffe", " " + "long" * 2000, " 中文", " <svg onload=alert(2)>", "<eos>",
]  # fmt: skip


def lily() -> RunIndex:
    return RunIndex.of_trace(load_trace(LILY))


def shown_text(run: RunIndex, t: int) -> str:
    """What the answer holds after t steps, masked positions left out, spaces removed: from the index."""
    texts = []
    for token_id in run.ids_at(t):
        if token_id == run.mask_id:
            continue
        texts.append(answer.SPECIAL_MARK if token_id in run.hidden_ids else inert_text(run.text(token_id)))
    return re.sub(r"\s", "", "".join(texts))


def masked_count(run: RunIndex, t: int) -> int:
    return sum(token_id == run.mask_id for token_id in run.ids_at(t))


# ---------------------------------------------------------------------------- SVG


def svg_cells(document: str) -> list[ElementTree.Element]:
    """The answer's cells: the text elements stretched to their slots."""
    root = ElementTree.fromstring(document)
    assert root.tag == f"{SVG}svg"
    return [element for element in root.iter(f"{SVG}text") if element.get("textLength")]


@pytest.mark.parametrize("t", [0, 1, 20, 63, 64])
def test_the_svg_shows_the_answer_after_n_steps(t: int) -> None:
    run = lily()
    cells = svg_cells(svg_document(run, t))
    assert len(cells) == run.gen_length
    committed = "".join(cell.text for cell in cells if cell.get("fill") != MUTED)
    assert re.sub(r"\s", "", committed) == shown_text(run, t)
    assert sum(cell.get("fill") == MUTED for cell in cells) == masked_count(run, t)
    if t == run.length:
        assert "".join(cell.text for cell in cells).startswith("First 4 hours: 12 * 4 = 48 kilometers.")
        assert "The answer is 72." in re.sub(r" +", " ", "".join(cell.text for cell in cells))


def test_the_svg_shades_each_token_by_its_commit_step_or_confidence() -> None:
    run = lily()
    for mode in Shading:
        root = ElementTree.fromstring(svg_document(run, run.length, mode))
        boxes = [element for element in root.iter(f"{SVG}rect") if element.get("height") == "22"]
        assert len(boxes) == run.gen_length  # every position holds a token at the end
        for pos, box in enumerate(boxes):
            _, step, confidence = run.cell_at(pos, run.length)
            expected = mix(mode.stops, fraction_of(mode, step, run.total_steps, confidence))
            assert box.get("fill") == hex_colour(expected), pos
    notes = [group.findtext(f"{SVG}title") for group in root.iter(f"{SVG}g")]
    _, step, confidence = run.cell_at(5, run.length)
    assert len(notes) == run.gen_length and notes[5] == f"pos 5 · step {step + 1} · confidence {confidence:.2f}"
    steps = {run.cell_at(pos, run.length)[1] for pos in range(run.gen_length)}
    assert len(steps) > 30  # the sample commits a token per step: the shades differ


def test_the_svg_has_the_prompt_and_a_legend_from_the_first_to_the_last_step() -> None:
    run = lily()
    root = ElementTree.fromstring(svg_document(run, 20))
    texts = [element.text or "" for element in root.iter(f"{SVG}text") if not element.get("textLength")]
    assert " ".join(texts).startswith("Lily can run 12 kilometers per hour")
    assert "commit step 1" in texts and "64" in texts and "this step" in texts
    assert "after step 20 of 64" in texts
    assert root.find(f"{SVG}defs/{SVG}linearGradient") is not None
    end = [element.text for element in ElementTree.fromstring(svg_document(run, 64)).iter(f"{SVG}text")]
    assert "this step" not in end  # the end of a run is no step in progress
    confidence = [element.text for element in ElementTree.fromstring(svg_document(run, 64, Shading.CONFIDENCE)).iter()]
    assert "confidence 0" in confidence


def test_the_svg_is_standalone_ascii() -> None:
    document = svg_document(lily(), 64)
    assert document.isascii() and document.startswith('<?xml version="1.0"')
    assert "href" not in document and "<script" not in document
    assert "&#8900;" in document  # ⋄, the end-of-text tokens, as a character reference


# ---------------------------------------------------------------------------- HTML


class Spans(HTMLParser):
    """The answer's spans of an exported page: (classes, title, text), and every tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.spans: list[list[str]] = []
        self.tags: list[str] = []
        self._depth = 0  # inside the answer's paragraph
        self.prompt = ""
        self._in_prompt = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "p":
            self._in_prompt = found.get("class") == "prompt"
            self._depth = 1 if found.get("class") == "answer" else 0
        elif tag == "span" and self._depth:
            if self._depth == 1:
                self.spans.append([found.get("class") or "", found.get("title") or "", ""])
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._depth > 1:
            self._depth -= 1
        if tag == "p":
            self._depth, self._in_prompt = 0, False

    def handle_data(self, data: str) -> None:
        if self._depth > 1:
            self.spans[-1][2] += data
        elif self._in_prompt:
            self.prompt += data


def parsed_html(document: str) -> Spans:
    parser = Spans()
    parser.feed(document)
    parser.close()
    return parser


@pytest.mark.parametrize("t", [0, 20, 64])
def test_the_html_shows_the_answer_after_n_steps(t: int) -> None:
    run = lily()
    page = parsed_html(html_document(run, t))
    assert len(page.spans) == run.gen_length
    committed = "".join(text for classes, _, text in page.spans if not classes.startswith("m"))
    assert re.sub(r"\s", "", committed) == shown_text(run, t)
    assert sum(classes.startswith("m") for classes, _, _ in page.spans) == masked_count(run, t)
    assert page.prompt.startswith("Lily can run 12 kilometers per hour")
    if t == 64:
        assert "".join(text for _, _, text in page.spans).startswith("First 4 hours: 12 * 4 = 48 kilometers.")
        _, step, confidence = run.cell_at(0, 64)
        assert page.spans[0][1] == f"pos 0 · step {step + 1} · confidence {confidence:.2f}"


def test_the_html_is_self_contained() -> None:
    document = html_document(lily(), 64)
    assert document.isascii() and document.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in document and "default-src 'none'" in document
    for loader in ("src=", "href=", "url(", "@import", "<script", "<link"):
        assert loader not in document, loader


# ---------------------------------------------------------------------------- hostile texts


def hostile_run(tmp_path: Path) -> RunIndex:
    n = len(HOSTILE_TOKENS)
    path = write_trace(tmp_path / "hostile.trace", HOSTILE_TOKENS, steps=n, block_length=n, sure=())
    return RunIndex.of_trace(load_trace(path))


@pytest.mark.parametrize("t", [0, 7, len(HOSTILE_TOKENS)])
def test_hostile_token_texts_come_out_escaped_in_svg(tmp_path: Path, t: int) -> None:
    run = hostile_run(tmp_path)
    document = svg_document(run, t)
    assert document.isascii() and not RAW_CONTROLS.search(document.replace("\n", ""))
    root = ElementTree.fromstring(document)  # still well-formed XML: nothing closed early
    assert [element.tag for element in root.iter() if element.tag.endswith("script")] == []
    drawn = {element.tag.removeprefix(SVG) for element in root.iter()}
    assert drawn <= {"svg", "title", "style", "defs", "linearGradient", "stop", "rect", "g", "text"}
    text = "".join(element.text or "" for element in root.iter(f"{SVG}text"))
    assert not RAW_CONTROLS.search(text)  # what a viewer shows: no control, no bidi override
    if t == len(HOSTILE_TOKENS):
        assert "<script>alert(1)</script>" in text and "<svg onload=alert(2)>" in text  # shown as text
        assert "⇄evil⇄" in text and "␛]52;c;" in text and "[bold]loud" in text
        assert " longlong" in text and "long" * 100 not in text  # a very long token is cut
        assert "…" in text


@pytest.mark.parametrize("t", [0, 7, len(HOSTILE_TOKENS)])
def test_hostile_token_texts_come_out_escaped_in_html(tmp_path: Path, t: int) -> None:
    run = hostile_run(tmp_path)
    document = html_document(run, t)
    assert document.isascii() and not RAW_CONTROLS.search(document.replace("\n", ""))
    page = parsed_html(document)
    assert set(page.tags) <= {"html", "head", "meta", "title", "style", "body", "figure", "p", "span", "figcaption"}
    assert len(page.spans) == run.gen_length  # no token opened or closed an element
    text = "".join(text for _, _, text in page.spans)
    assert not RAW_CONTROLS.search(text.replace("\n", ""))
    if t == len(HOSTILE_TOKENS):
        assert "<script>alert(1)</script>" in text and "<svg onload=alert(2)>" in text and " ]]>" in text
        assert "⇄evil⇄" in text and "␛]52;c;" in text and "line↵\nbreak" in text
        assert "long" * 100 not in text


# ---------------------------------------------------------------------------- layout


def test_a_long_answer_wraps_into_a_sensible_picture(tmp_path: Path) -> None:
    words = [" lorem", " ipsum", " dolor", ",", " sit", " amet", "\n", " consectetur", "."]
    tokens = [words[i % len(words)] for i in range(1024)]
    path = write_trace(tmp_path / "long.trace", tokens, steps=256, block_length=64, sure=())
    run = RunIndex.of_trace(load_trace(path))
    picture = AnswerPicture(run, 80)
    assert len(picture.slots) == 1024
    lines: dict[int, list[answer.Slot]] = {}
    for slot in picture.slots:
        assert 0 <= slot.column and slot.column + slot.width <= 80
        lines.setdefault(slot.line, []).append(slot)
    for slots in lines.values():  # in order along each line, never overlapping
        assert all(a.column + a.width <= b.column for a, b in zip(slots, slots[1:]))
    assert picture.lines == len(lines) and 100 < picture.lines < 300  # a newline every 9 tokens
    root = ElementTree.fromstring(svg_document(run, 128))
    assert float(root.get("width")) < 900 and float(root.get("height")) < 300 * 24 + 200
    assert len(svg_cells(svg_document(run, 128))) == 1024


def test_words_wrap_between_tokens_and_a_wrapped_line_drops_its_leading_space(tmp_path: Path) -> None:
    run = lily()
    picture = AnswerPicture(run, 40)
    cells = {cell.pos: cell for cell in picture.cells_at(run.length)}
    for line in range(picture.lines):
        text = "".join(cells[slot.pos].text for slot in picture.slots if slot.line == line)
        assert not text.startswith(" ")
        assert len(text) <= 40
    joined = "".join(cells[slot.pos].text for slot in picture.slots)
    assert "kilo meters" not in joined  # no line breaks inside a word made of several tokens


def test_revised_and_remasked_cells_are_marked(tmp_path: Path) -> None:
    run = RunIndex.of_trace(load_trace(revising_trace(tmp_path / "wino.trace")))
    picture = AnswerPicture(run, 80)
    after_second = {cell.pos: cell for cell in picture.cells_at(2)}
    assert after_second[1].revised and after_second[1].kind is Kind.TOKEN  # " the" -> " answer"
    assert after_second[4].revised and after_second[4].kind is Kind.MASKED  # masked again at step 1
    assert not after_second[0].revised
    assert not {cell.pos for cell in picture.cells_at(1) if cell.revised}  # the first token is no revision
    root = ElementTree.fromstring(svg_document(run, 2))
    assert "revised" in [element.text for element in root.iter(f"{SVG}text")]
    page = parsed_html(html_document(run, 2))
    assert page.spans[1][0] == "cur rev" and page.spans[4][0] == "m rev"
    # a reference run's re-mask (synthetic) is not marked: the reference never revises
    reference = RunIndex.of_trace(load_trace(remasking_trace(tmp_path / "remask.trace")))
    assert not any(cell.revised for cell in AnswerPicture(reference, 80).cells_at(5))


def test_a_revised_slot_has_room_for_every_token_it_held(tmp_path: Path) -> None:
    run = RunIndex.of_trace(load_trace(revising_trace(tmp_path / "wino.trace")))
    slot = AnswerPicture(run, 80).slots[1]
    assert slot.width == max(len(" the"), len(" answer")) == len(ARITHMETIC[1])


@pytest.mark.parametrize("mode", ["step", "confidence"])
def test_the_player_and_the_pictures_paint_a_fraction_alike(mode: str) -> None:
    from llada_tui.tui import palette

    for level in range(palette.GRADIENT_LEVELS):
        fraction = level / (palette.GRADIENT_LEVELS - 1)
        style = palette.shade(palette.ColourMode(mode), fraction)
        colour = shading.mix(shading.Shading(mode).stops, fraction)
        assert style.bgcolor.triplet == colour
        assert style.color.name == ("black" if shading.text_on(colour) == shading.BLACK else "white")


# ---------------------------------------------------------------------------- GIF


def test_the_gif_has_a_frame_per_step_and_ends_on_the_answer() -> None:
    from PIL import Image

    from llada_tui.pictures.gif import GifPainter, write_gif

    run = lily()
    buffer = io.BytesIO()
    seen = []
    assert write_gif(run, buffer, progress=lambda done, total: seen.append((done, total))) == 65
    assert seen[-1] == (65, 65)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.format == "GIF" and image.n_frames == 65
    assert image.info["duration"] == 100  # the player's default speed: 10 steps a second
    painter = GifPainter(run, Shading.STEP, 80)
    first = painter.picture.slots[0]
    corner = (14 + round(first.column * painter.cell) + 1, painter.top + first.line * 22 + 2)
    _, step, confidence = run.cell_at(0, run.length)
    expected = mix(Shading.STEP.stops, fraction_of(Shading.STEP, step, run.total_steps, confidence))
    image.seek(0)
    assert image.convert("RGB").getpixel(corner) == (255, 255, 255)  # all masked: no colour yet
    image.seek(image.n_frames - 1)
    assert image.info["duration"] == 2500
    shown = image.convert("RGB").getpixel(corner)
    assert max(abs(a - b) for a, b in zip(shown, expected)) <= 3  # the scale's nearest of 64 levels


def test_the_gif_every_n_steps(tmp_path: Path) -> None:
    from PIL import Image

    from llada_tui.pictures.gif import frame_steps, write_gif

    assert frame_steps(64, 8) == [0, 8, 16, 24, 32, 40, 48, 56, 64]
    assert frame_steps(10, 4) == [0, 4, 8, 10]
    assert len(frame_steps(1024, None)) == 257  # by default at most 256 frames and the end
    buffer = io.BytesIO()
    assert write_gif(lily(), buffer, every=8, fps=4) == 9
    image = Image.open(io.BytesIO(buffer.getvalue()))
    assert image.n_frames == 9 and image.info["duration"] == 250


def test_a_gif_of_hostile_texts(tmp_path: Path) -> None:
    from PIL import Image

    from llada_tui.pictures.gif import write_gif

    buffer = io.BytesIO()
    assert write_gif(hostile_run(tmp_path), buffer) == len(HOSTILE_TOKENS) + 1
    assert Image.open(io.BytesIO(buffer.getvalue())).n_frames == len(HOSTILE_TOKENS) + 1


def test_pictures_depend_on_core_alone() -> None:
    from test_layers import ROOT, imported_modules

    for file in sorted((ROOT / "pictures").glob("*.py")):
        for module in imported_modules(file):
            top = module.split(".")
            assert top[0] not in ("textual", "torch", "transformers"), f"{file.name} imports {module}"
            if top[0] == "llada_tui":
                assert top[1] in ("core", "pictures"), f"{file.name} imports {module}"


def test_a_long_legend_widens_a_narrow_picture(tmp_path: Path) -> None:
    from PIL import Image, ImageChops

    from llada_tui.pictures import svg
    from llada_tui.pictures.gif import write_gif

    run = RunIndex.of_trace(load_trace(revising_trace(tmp_path / "wino.trace")))  # every mark: the longest legend
    root = ElementTree.fromstring(svg_document(run, 2, columns=40))
    assert float(root.get("width")) > 40 * svg.CELL + 2 * svg.MARGIN
    for element in root.iter(f"{SVG}text"):
        size = svg.CELL if element.get("textLength") else svg.SMALL_CELL
        assert float(element.get("x")) + len(element.text or "") * size <= float(root.get("width")), element.text
    buffer = io.BytesIO()
    write_gif(run, buffer, columns=40)
    image = Image.open(io.BytesIO(buffer.getvalue()))
    image.seek(2)
    frame = image.convert("RGB")
    legend = frame.crop((0, frame.height - 40, frame.width, frame.height))
    inked = ImageChops.difference(legend, Image.new("RGB", legend.size, (255, 255, 255))).getbbox()
    assert inked is not None and inked[2] < frame.width - 6  # nothing cut at the right edge


def test_a_long_prompt_is_wrapped_in_linear_time() -> None:
    import time
    from types import SimpleNamespace

    prompt = "word " * 100_000  # half the options' limit of a million characters
    run = SimpleNamespace(header=SimpleNamespace(prompt_text=prompt))
    started = time.process_time()
    assert answer.prompt_lines(run, 1 << 30, 1) == [prompt]  # the HTML's: one line
    assert answer.prompt_lines(run, 100)[-1].endswith("…")  # the SVG's: four lines, cut
    assert time.process_time() - started < 2.0
    assert answer.prompt_lines(SimpleNamespace(header=SimpleNamespace(prompt_text="a " + "x" * 25)), 10) == [
        "a",
        "xxxxxxxxxx",
        "xxxxxxxxxx",
        "xxxxx",
    ]
