"""How long the player takes to show another step, on a synthetic run of 4096 tokens x 4096 steps.

    python benchmarks/render_step.py [--tokens 4096] [--steps 4096] [--size 120x40] [--repeat 200]

Builds the run in memory (one token committed per step, 8 blocks, top-k candidates on every
step for the positions on screen), opens the player headless, then jumps to random steps and
times, for each jump:
  grid     the token grid alone: every visible line drawn for the new step (no strip cached);
  jump     the whole change to a random step as the app does it: position set (header, panels,
           timeline and grid updated), Textual's repaint of what changed, encoded for the
           terminal (CPU time: the wait for Textual's next frame tick is not work);
  step     the same for one step forward (→), the common case while playing or scrubbing;
  repaint  an upper bound: the position set and the whole screen composed and encoded again.
For comparison it does the same on a run 16 times smaller: the cost should not grow with length.
Target: <= 20 ms per step change on a 2-core machine. Not a test: it only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import time
from array import array

from rich.console import Console
from textual._compositor import CompositorUpdate

from llada_tui.core.trace import Candidates, End, Header, Step
from llada_tui.tui.app import PlayerApp
from llada_tui.tui.sources import Deliver, HeaderArrived, RunEnded, Source, StepsArrived
from llada_tui.tui.widgets.grid import TokenGrid

MASK = 9
WORDS = 2000


def synthetic_run(tokens: int, steps: int, blocks: int = 8, k: int = 5, seed: int = 0) -> tuple[Header, list[Step]]:
    rng = random.Random(seed)
    texts = {MASK: "<|mdm_mask|>"}
    texts.update({1000 + i: (" " if i % 7 else "\n") + f"w{i}" for i in range(WORDS)})
    header = Header(
        prompt_text="a long synthetic run",
        prompt_ids=[],
        model={"name": "synthetic"},
        params={
            "steps": steps,
            "gen_length": tokens,
            "block_length": tokens // blocks,
            "temperature": 0.0,
            "cfg_scale": 0.0,
            "remasking": "low_confidence",
            "mask_id": MASK,
        },
        token_texts=texts,
    )
    block_length, per_block = tokens // blocks, steps // blocks
    per_step = block_length // per_block
    run = []
    for block in range(blocks):
        order = list(range(block * block_length, (block + 1) * block_length))
        rng.shuffle(order)
        for j in range(per_block):
            chosen = sorted(order[j * per_step : (j + 1) * per_step])
            shown = array("i", range(min(tokens, 200)))  # candidates for the positions a screen shows
            run.append(
                Step(
                    index=len(run),
                    block=block,
                    positions=array("i", chosen),
                    ids=array("i", [1000 + rng.randrange(WORDS) for _ in chosen]),
                    confidences=array("f", [rng.random() for _ in chosen]),
                    wall_ms=40.0,
                    candidates=Candidates(
                        shown,
                        array("i", [1000 + rng.randrange(WORDS) for _ in range(len(shown) * k)]),
                        array("f", [rng.random() for _ in range(len(shown) * k)]),
                        k,
                    ),
                )
            )
    return header, run


class MemorySource(Source):
    def __init__(self, header: Header, steps: list[Step]):
        self.header, self.steps = header, steps

    def run(self, deliver: Deliver, stop) -> None:
        deliver(HeaderArrived(self.header))
        deliver(StepsArrived(self.steps))
        deliver(RunEnded(End("complete", []), None))


async def measure(tokens: int, steps: int, size: tuple[int, int], repeat: int) -> dict[str, list[float]]:
    header, run = synthetic_run(tokens, steps)
    started = time.perf_counter()
    app = PlayerApp(MemorySource(header, run))
    timings: dict[str, list[float]] = {"grid": [], "jump": [], "step": [], "repaint": []}
    frames: list[float] = []
    display = app._display

    def display_and_encode(screen, renderable) -> None:
        # Headless apps skip encoding the update for a terminal; a real one pays for it.
        display(screen, renderable)
        if isinstance(renderable, CompositorUpdate):
            renderable.render_segments(app.console)
            frames.append(time.process_time())

    async with app.run_test(size=size) as pilot:
        while not app.recording.ended:
            await pilot.pause()
        load_ms = (time.perf_counter() - started) * 1000
        app._display = display_and_encode
        grid = app.query_one(TokenGrid)
        await pilot.press("tab")  # a token selected: its panel is redrawn on every step too
        await pilot.pause()
        screen = app.screen
        sink = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=size[0])
        rng = random.Random(1)
        for _ in range(repeat):
            t = rng.randrange(steps + 1)
            begin = time.perf_counter()
            grid.t = t
            grid._strips.clear()
            for y in range(grid.size.height):
                grid.render_line(y)
            timings["grid"].append(time.perf_counter() - begin)

            # What the app really does: set the position, let Textual repaint what changed.
            # CPU time, so that the wait for Textual's next frame tick (up to 1/60 s) is not counted.
            jump = rng.randrange(steps)
            for kind, t in (("jump", jump), ("step", jump + 1)):
                frames.clear()
                begin = time.process_time()
                app.position = t
                while not frames:
                    await asyncio.sleep(0)
                timings[kind].append(frames[0] - begin)
                await pilot.pause()

            # Upper bound: the whole screen composed and encoded again.
            t = rng.randrange(steps + 1)
            begin = time.perf_counter()
            app.position = t
            screen._refresh_layout()
            sink.print(screen._compositor.render_update(full=True), end="")
            timings["repaint"].append(time.perf_counter() - begin)
            sink.file = io.StringIO()
            await pilot.pause()
        await pilot.press("q")
    print(f"  {tokens} tokens x {steps} steps at {size[0]}x{size[1]}: loaded and indexed in {load_ms:.0f} ms")
    return timings


def report(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"{name}: median {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms, max {ms[-1]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--size", default="120x40", help="terminal size, WIDTHxHEIGHT")
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    for tokens, steps in ((args.tokens, args.steps), (args.tokens // 16, args.steps // 16)):
        timings = asyncio.run(measure(tokens, steps, (width, height), args.repeat))
        for name, values in timings.items():
            print("    " + report(name, values))


if __name__ == "__main__":
    main()
