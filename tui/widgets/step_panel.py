"""The step panel: what the step just applied did, and tokens committed per step over the run.

For a run whose sampler decides its own steps (format 2) a step also says how many tokens it
committed, revised and re-masked, and in a run with a KV cache whether its forward was a full one
or a cached one (in the panel's title)."""

from __future__ import annotations

from rich.text import Text

from llada_tui.core.run_index import RunIndex
from llada_tui.tui.widgets.charts import bucket_of, sparkline
from llada_tui.tui.widgets.token_panel import Panel, quoted

FIXED_ROWS = 4  # rows other than the list of changed tokens
MIN_CHART_CELLS = 12  # the committed-per-step chart's least width before its label gets shorter


class StepPanel(Panel):
    # the committed-per-step chart, drawn again only when steps arrive or the panel changes size
    _chart: tuple[list[int], int, int, str] | None = None  # (counts, how many, cells, sparkline)
    _max_seen: tuple[list[int] | None, int, int] = (None, 0, 0)  # (counts, how many looked at, their max)

    def show(self, recording: RunIndex, t: int) -> None:
        self._asked = (recording, t)
        if not recording.ready:
            self.border_title = "Step"
            self.show_rows([])
            return
        width = max(10, self.content_region.width or 30)
        self.border_title = f"Step {t}" if t else "Start"
        if t and recording.header.approximate:
            self.border_title += f" · {recording.steps[t - 1].forward} forward"
        rows: list[Text] = []
        dim = self.look("dim")
        if t == 0:
            rows.append(Text("nothing committed yet", style=dim))
        else:
            step = recording.steps[t - 1]
            count = len(step.positions)
            heading = f"changed {count} · block {step.block + 1}/{recording.n_blocks}"
            rows.append(Text(heading, style=self.look("heading")))
            if step.forward is not None:
                rows.append(self._kinds(recording, t - 1, width))
            label_width = len(f"pos {max(step.positions, default=0)} ")
            order = sorted(range(count), key=lambda i: step.positions[i])
            room = self.content_region.height - FIXED_ROWS - (step.forward is not None)
            if count <= room:
                for i in order:  # one row per token: position, text, confidence
                    line = Text(f"pos {step.positions[i]} ".ljust(label_width), style=dim)
                    line.append(self._change(recording, step.ids[i], step.confidences[i], width - label_width, "conf "))
                    rows.append(line)
            elif count:  # no room: all of them on one row, cut at the panel's edge
                line = Text()
                for i in order[: width // 3]:
                    line.append(self._change(recording, step.ids[i], step.confidences[i], width // 2, ""))
                    line.append("  ")
                rows.append(line)
            if count:
                mean = sum(step.confidences) / count
                rows.append(Text(f"mean conf {mean:.2f} · {step.wall_ms:.1f} ms"))
            else:
                rows.append(Text(f"{step.wall_ms:.1f} ms"))
        in_block, in_all = recording.block_masked_after[t], recording.masked_after[t]
        masked = f"still masked: {in_block} in block · {in_all} in all"
        if len(masked) > width:
            masked = f"masked: block {in_block} · all {in_all}"
        rows.append(Text(masked, style=dim if t == 0 else ""))
        rows.extend(self._per_step(recording, t, width))
        self.show_rows(rows)

    def _kinds(self, recording: RunIndex, i: int, width: int) -> Text:
        """Step i's changes by kind: "3 new · 1 revised · 2 re-masked" (shorter in a narrow panel)."""
        counts = (recording.committed_per_step[i], recording.revised_per_step[i], recording.remasked_per_step[i])
        line = "{} new · {} revised · {} re-masked".format(*counts)
        if len(line) > width:
            line = "{} new · {} rev · {} remask".format(*counts)
        return Text(line)

    def _change(self, recording: RunIndex, token_id: int, confidence: float, width: int, label: str) -> Text:
        """A changed token, its text cut so that its confidence fits in `width` cells."""
        if recording.is_mask(token_id):
            return Text("masked again")
        text = quoted(recording, token_id, width - len(label) - 5)
        text.append(f" {label}{confidence:.2f}", self.look("dim"))
        return text

    def _per_step(self, recording: RunIndex, t: int, width: int) -> list[Text]:
        counts = recording.committed_per_step
        if not counts:
            return []
        label = f"committed/step (max {self._max_count(counts)}) "
        if width - len(label) < MIN_CHART_CELLS:  # a narrow panel: the chart before the most in one step
            label = "committed/step "
        cells = max(1, width - len(label))
        chart = self._chart
        if chart is None or chart[0] is not counts or chart[1:3] != (len(counts), cells):
            chart = self._chart = (counts, len(counts), cells, sparkline(counts, cells))  # new steps, new size
        line = Text(label, style=self.look("dim"))
        line.append(chart[3], self.look("chart"))
        if t > 0:
            at = len(label) + bucket_of(t - 1, len(counts), cells)
            line.stylize(self.look("now"), at, at + 1)
        return [line]

    def _max_count(self, counts: list[int]) -> int:
        """The most tokens one step committed, kept up to date as steps arrive (not a scan per frame)."""
        looked_at, seen, most = self._max_seen
        if looked_at is not counts or seen > len(counts):  # another run
            seen, most = 0, 0
        if seen < len(counts):
            most = max(most, max(counts[seen:]))
        self._max_seen = (counts, len(counts), most)
        return most
