"""The player's parts without the player: inert text, layout, search, the recording, charts, what repaints."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.text import Text
from synthetic_traces import MASK, remasking_trace, write_trace
from textual.app import App, ComposeResult

from llada_tui.core.inert import inert_lines, inert_text
from llada_tui.core.run_index import RunIndex
from llada_tui.core.trace_reader import load_trace
from llada_tui.tui.layout import GridLayout, fit, placeholder, starts_word
from llada_tui.tui.search import find_text
from llada_tui.tui.widgets.charts import bar, bucket_of, sparkline
from llada_tui.tui.widgets.timeline import Timeline
from llada_tui.tui.widgets.token_panel import TokenPanel


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("∅",)),
        ("plain", ("plain",)),
        ("a\nb", ("a↵", "b")),
        ("\n", ("↵", "")),
        ("a\tb", ("a→b",)),
        ("\x1b[31mred\x07", ("␛[31mred␇",)),
        ("\x1b]0;title\x1b\\", ("␛]0;title␛\\",)),
        ("\x9b2J", ("⍰2J",)),  # C1 CSI
        ("\u202eevil\u2066", ("⇄evil⇄",)),
        ("zero\u200bwidth", ("zero⍰width",)),
        ("e\u0301", ("e\u0301",)),  # a combining mark on its base stays
        ("\u0301", ("◌\u0301",)),  # without a base it gets a dotted circle
        ("\u2764\ufe0f", ("\u2764",)),  # variation selectors are dropped
        ("\u2028", ("␤",)),
        ("中文", ("中文",)),
    ],
)
def test_inert_lines(text: str, expected: tuple[str, ...]) -> None:
    assert inert_lines(text) == expected


def test_inert_text_has_no_control_characters_and_known_width() -> None:
    every_control = "".join(chr(c) for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)])
    shown = inert_text(every_control + "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
    assert all(ord(c) >= 0xA0 and not 0x202A <= ord(c) <= 0x202E and not 0x2066 <= ord(c) <= 0x2069 for c in shown)
    assert cell_len(shown) == len(shown)  # one cell per mark


def shapes_of(texts: list[str]) -> tuple[list[tuple[str, ...]], list[bool]]:
    shapes = [inert_lines(t) for t in texts]
    starts = [starts_word(shapes[i - 1] if i else None, s, False) for i, s in enumerate(shapes)]
    return shapes, starts


def test_layout_wraps_at_words_and_strips_the_wrapped_space() -> None:
    shapes, starts = shapes_of(["The", " quick", " br", "own", " fox", " jumps"])
    layout = GridLayout(shapes, starts, 10)
    lines = ["".join(layout.texts(p.pos)[p.index] for p in layout.line_parts(y)) for y in range(layout.height)]
    assert lines == ["The quick", "brown fox", "jumps"]  # "brown" is not split between its tokens
    assert layout.stripped == {2, 5}
    assert all(cell_len(line) <= 10 for line in lines)


def test_layout_breaks_at_newlines_and_splits_long_tokens() -> None:
    shapes, starts = shapes_of(["ab\ncd", "x" * 25, "中文中文中文"])
    layout = GridLayout(shapes, starts, 10)
    lines = ["".join(layout.texts(p.pos)[p.index] for p in layout.line_parts(y)) for y in range(layout.height)]
    assert lines[0] == "ab↵"
    assert lines[1].startswith("cd")
    assert all(cell_len(line) <= 10 for line in lines)
    assert "".join(lines).replace("↵", "\n") == "ab\ncd" + "x" * 25 + "中文中文中文"
    assert list(layout.first_line) == [0, 1, 3]


def test_layout_keeps_wide_characters_aligned() -> None:
    shapes, starts = shapes_of(["中", "文", "a", " 中文字"])
    layout = GridLayout(shapes, starts, 7)
    lines = [layout.line_parts(y) for y in range(layout.height)]
    for line in lines:
        x = 0
        for part in line:
            assert part.x == x and part.width == cell_len(layout.texts(part.pos)[part.index])
            x += part.width
        assert x <= 7
    # a wide character never straddles the edge: it moves to the next line
    assert [[p.pos for p in line] for line in lines] == [[0, 1, 2], [3]]


def test_position_at_maps_cells_back_to_positions() -> None:
    shapes, starts = shapes_of(["ab", " cd", "\n", "e"])
    layout = GridLayout(shapes, starts, 20)
    assert [layout.position_at(x, 0) for x in range(7)] == [0, 0, 1, 1, 1, 2, None]
    assert layout.position_at(0, 1) == 3
    assert layout.position_at(0, 5) is None


def test_placeholder_and_fit() -> None:
    assert placeholder(" 中a") == " ···"
    assert fit("abcdef", (3, 4)) == ("abc", "def ")
    assert fit("abcdefghij", (3, 4)) == ("abc", "def…")
    assert fit("ab", (3,)) == ("ab ",)


@pytest.fixture
def recording(tmp_path: Path) -> RunIndex:
    trace = load_trace(write_trace(tmp_path / "run.trace"))
    recording = RunIndex()
    recording.start(trace.header)
    recording.add(trace.steps)
    recording.finish(trace.end, trace.warning)
    return recording


def test_recording_counts_masks_per_block(recording: RunIndex) -> None:
    assert recording.length == 16 and recording.n_blocks == 4
    assert recording.block_starts == [0, 4, 8, 12]
    assert recording.boundaries() == [0, 4, 8, 12]
    # two tokens per step, eight per block
    assert recording.block_masked_after == [8, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0, 6, 4, 2, 0]
    assert recording.block_at(0) == 0 and recording.block_at(5) == 1 and recording.block_at(16) == 3


def test_recording_candidates_follow_the_mask(recording: RunIndex) -> None:
    row = recording.candidates(1, 0)
    assert row is not None and recording.text(row[0][0]) == " answer"
    assert recording.candidates(3, 1) is None  # committed by step 1: no longer predicted
    assert recording.candidates(1, 16) is None  # no step after the last
    history = recording.top_candidate_history(1)
    first_commit = recording.history(1)[0].step
    assert [step for step, _ in history] == list(range(first_commit + 1))
    assert [p for _, p in history] == sorted(p for _, p in history)


def test_recording_with_remasking(tmp_path: Path) -> None:
    trace = load_trace(remasking_trace(tmp_path / "remask.trace"))
    recording = RunIndex()
    recording.start(trace.header)
    recording.add(trace.steps)
    assert [recording.text(c.token_id) for c in recording.history(1)] == [" the", " answer"]
    assert [c.token_id == MASK for c in recording.history(3)] == [False, True, False]
    assert [step for step, _ in recording.top_candidate_history(3)] == [0, 4]  # masked before steps 1 and 5
    assert recording.masked_after[-1] == 0


def test_find_text_reports_when_text_first_becomes_visible(recording: RunIndex) -> None:
    matches = find_text(recording, "72")
    assert [m.pos for m in sorted(matches, key=lambda m: m.pos)] == [3, 17, 24]
    for match in matches:  # visible at t, not before
        assert recording.token_at(match.pos, match.t) != MASK
        assert recording.token_at(match.pos, match.t - 1) == MASK
    assert [m.t for m in matches] == sorted(m.t for m in matches)


def test_find_text_across_tokens_and_case(recording: RunIndex) -> None:
    (match,) = find_text(recording, "48 + 24 =")
    assert match.pos == 13
    assert match.t == 1 + max(recording.history(p)[0].step for p in range(13, 17))
    assert find_text(recording, "the answer") == find_text(recording, "The answer")
    assert find_text(recording, "The Answer") == []  # upper case in the query: case matters
    assert find_text(recording, "72.\nSo")[0].pos == 17  # spans newline tokens too
    assert find_text(recording, "sum is 72.")[0].pos == 22
    assert find_text(recording, "") == []


def test_find_text_never_matches_across_masks_or_specials(recording: RunIndex) -> None:
    assert find_text(recording, "is 72.\n") != []
    assert find_text(recording, ".<|eot_id|>") == []


def test_charts() -> None:
    assert bar(0.5, 4) == "██  "
    assert bar(1.0, 3) == "███"
    assert bar(0.25, 1) == "▎"
    assert sparkline([0, 1, 2, 4], 10) == "▁▃▅█"
    assert len(sparkline(list(range(100)), 10)) == 10
    assert sparkline([0, 0], 5) == "▁▁"
    for count, width in ((10, 3), (100, 7), (5, 10)):
        cells = sparkline(list(range(count)), width)
        for index in range(count):
            assert 0 <= bucket_of(index, count, width) < len(cells)


def test_a_wrap_never_leaves_a_bare_combining_mark() -> None:
    # " \u0301" is a space carrying an accent: dropping the space at a wrap would leave a zero-width mark
    shapes, starts = shapes_of(["abcd", " \u0301x"])
    layout = GridLayout(shapes, starts, 5)
    assert layout.texts(1) == (" \u0301x",) and layout.stripped == set()
    assert all(cell_len(text) > 0 for pos in range(2) for text in layout.texts(pos))


# ---------------------------------------------------------------------- what a change repaints


class Parts(App[None]):
    CSS = "Timeline { height: 2; } TokenPanel { height: 4; }"

    def compose(self) -> ComposeResult:
        yield Timeline()
        yield TokenPanel()


def count_renders(monkeypatch: pytest.MonkeyPatch, widget_type: type) -> list[int]:
    calls: list[int] = []
    render = widget_type.render

    def counted(self):  # noqa: ANN001, ANN202
        calls.append(1)
        return render(self)

    monkeypatch.setattr(widget_type, "render", counted)
    return calls


async def test_a_step_that_moves_the_timeline_by_less_than_a_column_repaints_nothing(monkeypatch) -> None:  # noqa: ANN001
    renders = count_renders(monkeypatch, Timeline)
    async with Parts().run_test(size=(40, 10)) as pilot:
        timeline = pilot.app.query_one(Timeline)
        timeline.show(0, 1000, 1000, [250, 500, 750])
        await pilot.pause()
        before = len(renders)
        for t in range(1, 10):  # 1000 steps over 38 columns: these stay in the first
            timeline.show(t, 1000, 1000, [250, 500, 750])
            await pilot.pause()
        assert len(renders) == before
        timeline.show(500, 1000, 1000, [250, 500, 750])
        await pilot.pause()
        assert len(renders) == before + 1
        timeline.show(500, 1000, 1000, [250, 500])  # a boundary less: drawn again
        await pilot.pause()
        assert len(renders) == before + 2


async def test_a_panel_repaints_only_rows_that_look_different(monkeypatch) -> None:  # noqa: ANN001
    renders = count_renders(monkeypatch, TokenPanel)
    async with Parts().run_test(size=(40, 10)) as pilot:
        panel = pilot.app.query_one(TokenPanel)
        panel.show_rows([Text("a row"), Text("bold", style="bold")])
        await pilot.pause()
        before = len(renders)
        panel.show_rows([Text("a row"), Text("bold", style="bold")])
        await pilot.pause()
        assert len(renders) == before
        panel.show_rows([Text("a row"), Text("bold", style="italic")])  # the same text and spans, not the same look
        await pilot.pause()
        assert len(renders) == before + 1
