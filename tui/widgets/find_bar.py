"""The find bar: `/` opens it, Enter searches, Escape closes it."""

from __future__ import annotations

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class FindBar(Input):
    BINDINGS = [Binding("escape", "close", "Close find", id="find-close")]

    class Closed(Message):
        pass

    def __init__(self, *, id: str | None = None):
        super().__init__(placeholder="find text in the answer (Enter to search, Esc to close)", id=id)

    def open(self) -> None:
        self.display = True
        self.focus()

    def action_close(self) -> None:
        self.display = False
        self.post_message(self.Closed())
