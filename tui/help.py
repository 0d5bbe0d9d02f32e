"""The help screen: every key of the player, taken from the bindings themselves, then what the
marks and the words on screen mean (a newcomer's legend)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from llada_tui.core.inert import BIDI_MARK, EMPTY_MARK, INVISIBLE_MARK, NEWLINE_MARK, TAB_MARK
from llada_tui.core.records import Header
from llada_tui.tui.layout import PLACEHOLDER
from llada_tui.tui.palette import ANSWER_MARK, SPECIAL_MARK
from llada_tui.tui.widgets.timeline import REVISION_MARK

MARKS = [
    (PLACEHOLDER * 3, "masked: not decided yet. Plain dots by default; w gives each masked token the width of "
     "the token it becomes: a layout that stays put, but whose dots show the answer's word shapes before they "
     "are decided (live mode cannot know them)"),
    ("colour", "the step that committed the token, early → late; c: its confidence then, low (red) → high (green)"),
    ("dim plain bold", "the same without colour (NO_COLOR): the first, middle and last third of the scale"),
    ("bold underlined", "committed by the step just applied"),
    (SPECIAL_MARK, "a special token (end of text, end of turn...): picked (Tab), the Token panel names it"),
    (f"{NEWLINE_MARK} {TAB_MARK} {EMPTY_MARK}", "a newline, a tab, an empty token"),
    (f"{INVISIBLE_MARK} {BIDI_MARK}", "an invisible or control character; a text-direction control "
     "(shown, never applied)"),
    ("…", "a token cut to fit: picked, the Token panel shows its text (where the panels are hidden, the line "
     "under the answer)"),
]  # fmt: skip

WORDS = [
    ("step", "one forward pass of the model: it commits (unmasks) the masked positions it is surest of"),
    ("block", "the answer is filled block by block, left to right, each block with an equal share of the steps; "
     "b2 b3 … on the timeline mark where each block begins"),
    ("pos", "a position in the answer, counted from 0"),
    ("conf", "confidence: the probability the model gave the token when it committed it"),
    ("candidates", "for a masked position, the model's top guesses at the next step, with their probabilities"),
    ("top guess p", "the best candidate's probability at each step while the position was masked (a chart)"),
    ("committed/step", "the Step panel's chart: how many tokens each step committed (max: the most in one step)"),
    ("still masked", "positions left to decide after this step, in its block and in the whole answer"),
    ("temp", "temperature: 0 always takes the most likely token; above 0 samples (the seed then matters)"),
    ("cfg", "classifier-free guidance scale (0: off)"),
    ("remasking", "how a step picks what to commit: low_confidence (surest first) or random"),
    ("● following", "at the live edge of a run still being written: new steps show as they land; End catches up"),
]  # fmt: skip

# For a run whose sampler decides its own steps: the words it needs, and a revising sampler's marks.
VARIABLE_STEPS_WORDS = [
    (
        "step",
        "one forward pass of the model; this sampler commits as many tokens as it trusts (τ: the "
        "confidence it asks for), so blocks take as many steps as they need: b2 b3 … mark where each began",
    ),
    ("new revised re-masked", "the Step panel's counts: tokens a step committed, rewrote, and masked again"),
]
REVISING_MARKS = [
    ("underlined italic", "a revised token: the position held another token, or was masked again, before"),
    (f"{PLACEHOLDER * 3} (magenta, bold)", "re-masked: the position held a token the sampler stopped trusting"),
    (REVISION_MARK, "on the timeline: a step that revised or re-masked a token"),
    ("back", "WINO's τ_back: a decoded token whose confidence, re-checked, falls below it is masked again"),
    ("a second look", "the Token panel's candidates for a decoded token: what the model now thinks of it"),
]
CACHED_WORDS = [
    (
        "≈ approximate",
        "a KV cache: keys and values of the other positions are reused from a block's full "
        "forward, so this run approximates its sampler; the Step panel's title says which forward a step ran",
    ),
]


ORDER_ROWS = [
    ("colour", "the rank of the step at which the token took its final text, first → last (special tokens grey): "
     "the order the answer was written in"),
    ("bold underlined", "the answer span: by default what follows the last “the answer is”, as `llada-tui order` "
     "finds it"),
    ("underlined", "its lead-in, “The answer is”"),
    (ANSWER_MARK, "on the timeline: the step at which the last of the span's tokens took its final text"),
]  # fmt: skip


def sampler_rows(header: Header) -> list[tuple[str, str]]:
    """What this run's sampler puts on the screen beyond the reference's (none for the reference)."""
    rows = []
    if header.total_steps is None:
        rows += VARIABLE_STEPS_WORDS
    if header.revises:
        rows += REVISING_MARKS
    if header.approximate:
        rows += CACHED_WORDS
    return rows


NOTES = (
    "Find (/) jumps to the first step at which the text is fully visible; lower-case text matches any case. "
    "ctrl+p opens the command palette: every command by name, and a number goes to that step (12, or 40%). "
    "i or a click on the header shows the whole prompt and every parameter."
)


def help_table(bindings: Iterable[Binding], key_display, key_style: Style) -> Table:
    """One row per thing to do, its keys joined: '← h k ,  Step back'. The tooltip, if any, explains more."""
    rows: dict[str, tuple[list[str], str]] = {}
    for binding in bindings:
        keys, description = rows.setdefault(binding.description, ([], binding.tooltip or binding.description))
        for key in binding.key.split(","):
            shown = key_display(Binding(key.strip(), binding.action))
            if shown not in keys:
                keys.append(shown)
    table = Table.grid(padding=(0, 2))
    table.add_column(style=key_style, no_wrap=True)
    table.add_column()
    for keys, description in rows.values():
        table.add_row(Text(" ".join(keys)), Text(description))
    return table


def glossary(title: str, rows: list[tuple[str, str]], title_style: Style, mark_style: Style) -> Table:
    table = Table.grid(padding=(0, 2))
    table.title = title
    table.title_justify = "left"
    table.title_style = title_style
    table.add_column(style=mark_style, no_wrap=True)
    table.add_column()
    for mark, meaning in rows:
        table.add_row(Text(mark), Text(meaning))
    return table


class Section(NamedTuple):
    """A glossary of the help screen after the keys, marks and words (a run's sampler, compare)."""

    id: str  # the widget's id: "help-" + this
    title: str
    rows: list[tuple[str, str]]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help", id="help-close"),
    ]
    # styled in player.tcss: the keys, the glossaries' titles and marks, the notes
    COMPONENT_CLASSES = {"help-screen--key", "help-screen--title", "help-screen--mark", "help-screen--notes"}

    def __init__(self, title: str, bindings: list[Binding], key_display, sections: list[Section] | None = None) -> None:
        """sections: glossaries of their own after the words (what the run's sampler shows: sampler_rows)."""
        super().__init__()
        self._title = title
        self._listed = bindings
        self._key_display = key_display
        self._sections = [section for section in sections or [] if section.rows]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body") as body:
            body.border_title = f"{self._title} · keys"
            body.border_subtitle = "Esc, ? or q to close · ↑↓ to scroll"
            yield Static(id="help-keys")
            yield Static(id="help-marks", classes="help-section")
            yield Static(id="help-words", classes="help-section")
            for section in self._sections:
                yield Static(id=f"help-{section.id}", classes="help-section")
            yield Static(id="help-notes", classes="help-section")

    def on_mount(self) -> None:  # the looks are the screen's own, known once it is mounted
        title, mark = self._look("title"), self._look("mark")
        self.query_one("#help-keys", Static).update(help_table(self._listed, self._key_display, self._look("key")))
        self.query_one("#help-marks", Static).update(glossary("On the screen", MARKS, title, mark))
        self.query_one("#help-words", Static).update(glossary("Words", WORDS, title, mark))
        for section in self._sections:
            self.query_one(f"#help-{section.id}", Static).update(glossary(section.title, section.rows, title, mark))
        self.query_one("#help-notes", Static).update(Text(NOTES, style=self._look("notes")))

    def _look(self, part: str) -> Style:
        return self.get_component_rich_style(f"help-screen--{part}", partial=True)
