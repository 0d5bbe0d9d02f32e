"""Text from outside made safe to show: every character either takes cells or is a visible mark.

Token texts, prompts, model names and messages come from trace files, checkpoints and command
lines that may be hostile. This is the one sanitizer for everything a person reads: the
player's widgets and notifications, and every line the CLI prints. Nothing in them may reach
the terminal as a control: C0 and C1 controls (ESC, CSI, OSC, BEL...), bidirectional overrides
and other invisible format characters are replaced by visible marks. Zero-width characters that would
break the grid's alignment are marked too, combining marks without a base get a dotted circle,
and variation selectors are dropped. After this, `rich.cells.cell_len` of a piece is exactly
the number of cells it takes on screen.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from rich.cells import cell_len

NEWLINE_MARK = "↵"
TAB_MARK = "→"
EMPTY_MARK = "∅"  # a token whose text is empty still needs a visible cell
BIDI_MARK = "⇄"
INVISIBLE_MARK = "⍰"  # C1 controls, zero-width and other format characters, unassigned code points
LINE_SEPARATOR_MARK = "␤"
COMBINING_BASE = "◌"

_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_variation_selector(code: int) -> bool:
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF


def _inert_char(char: str, after_base: bool) -> str:
    """The visible form of one character (not a newline); '' for characters dropped."""
    code = ord(char)
    if char == "\t":
        return TAB_MARK
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode control pictures: ␛ for ESC, ␇ for BEL...
    if code == 0x7F:
        return "␡"
    if char in _BIDI_CONTROLS:
        return BIDI_MARK
    if _is_variation_selector(code):
        return ""
    category = unicodedata.category(char)
    if category in ("Mn", "Me"):
        return char if after_base else COMBINING_BASE + char
    if category in ("Zl", "Zp"):
        return LINE_SEPARATOR_MARK
    if category in ("Cc", "Cf", "Cs", "Cn") or cell_len(char) == 0:
        return INVISIBLE_MARK
    return char


@lru_cache(maxsize=65536)
def inert_lines(text: str) -> tuple[str, ...]:
    """The text split at newlines, each line safe to draw; all but the last end in a newline mark.

    "a\\nb" -> ("a↵", "b"); "" -> ("∅",) so every token takes at least one cell.
    """
    lines = []
    for raw_line in text.split("\n"):
        out = []
        after_base = False
        for char in raw_line:
            shown = _inert_char(char, after_base)
            out.append(shown)
            after_base = bool(shown)
        lines.append("".join(out))
    if lines == [""]:
        return (EMPTY_MARK,)
    return tuple(line + NEWLINE_MARK for line in lines[:-1]) + (lines[-1],)


def inert_text(text: str) -> str:
    """The text on one line, safe to draw: newlines shown as marks."""
    return "".join(inert_lines(text))


def inert_block(text: str) -> str:
    """Text of several lines, safe to print: real newlines kept, everything else as in inert_text."""
    return "\n".join(inert_text(line) if line else "" for line in text.split("\n"))
