"""The step panel: what the step just applied did, and tokens committed per step over the run."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

from llada_tui.tui.recording import Recording
from llada_tui.tui.widgets.charts import bucket_of, sparkline
from llada_tui.tui.widgets.token_panel import Panel, quoted

DIM = Style(dim=True)
SPARK = Style(color="cyan")
NOW = Style(color="yellow", bold=True)
FIXED_ROWS = 6  # rows other than the list of changed tokens


class StepPanel(Panel):
    def show(self, recording: Recording, t: int) -> None:
        if not recording.ready:
            self.border_title = "Step"
            self.show_rows([])
            return
        width = max(10, self.content_region.width or 30)
        self.border_title = f"Step {t}" if t else "Start"
        rows: list[Text] = []
        if t == 0:
            rows.append(Text("nothing committed yet", style=DIM))
        else:
            step = recording.index.steps[t - 1]
            count = len(step.positions)
            rows.append(Text(f"changed {count} · block {step.block + 1}/{recording.n_blocks}", style="bold"))
            order = sorted(range(count), key=lambda i: step.positions[i])
            listed = max(1, self.content_region.height - FIXED_ROWS)
            if count > listed:
                listed -= 1  # room for "… n more"
            for i in order[:listed]:
                line = Text(f"{step.positions[i]:>5} ", style=DIM, no_wrap=True)
                token_id = step.ids[i]
                if recording.is_mask(token_id):
                    line.append("masked again")
                else:
                    line.append(quoted(recording, token_id, width - 12))
                    line.append(f" {step.confidences[i]:.2f}")
                rows.append(line)
            if count > listed:
                rows.append(Text(f"   … {count - listed} more", style=DIM))
            if count:
                mean = sum(step.confidences) / count
                rows.append(Text(f"mean conf {mean:.2f} · {step.wall_ms:.1f} ms"))
            else:
                rows.append(Text(f"{step.wall_ms:.1f} ms"))
        rows.append(
            Text(
                f"masked: block {recording.block_masked_after[t]} · all {recording.index.masked_after[t]}",
                style=DIM if t == 0 else "",
            )
        )
        rows.extend(self._per_step(recording, t, width))
        self.show_rows(rows)

    def _per_step(self, recording: Recording, t: int, width: int) -> list[Text]:
        counts = recording.index.committed_per_step
        if not counts:
            return []
        line = Text(sparkline(counts, width), style=SPARK, no_wrap=True)
        if t > 0:
            at = bucket_of(t - 1, len(counts), width)
            line.stylize(NOW, at, at + 1)
        return [Text(f"tokens per step (max {max(counts)})", style=DIM), line]
